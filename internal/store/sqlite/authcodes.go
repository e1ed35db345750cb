package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/writ-dev/writ/internal/store"
)

const authCodeColumns = `hash, client_id, user_id, session_id, redirect_uri, scopes, audience,
	nonce, code_challenge, code_challenge_method, auth_time, amr, acr, claims,
	created_at, expires_at, used_at, issued_family_id, issued_access_jti,
	issued_access_hash, issued_access_expires_at, dpop_jkt`

const selectAuthCode = `SELECT ` + authCodeColumns + ` FROM auth_codes`

func scanAuthCode(row scanner) (store.AuthCode, error) {
	var (
		c                        store.AuthCode
		scopes, aud, amr         string
		auth, created, expiresAt int64
		used, accessExp          sql.NullInt64
		claims                   []byte
	)
	err := row.Scan(&c.Hash, &c.ClientID, &c.UserID, &c.SessionID, &c.RedirectURI, &scopes, &aud,
		&c.Nonce, &c.CodeChallenge, &c.CodeChallengeMethod, &auth, &amr, &c.ACR, &claims,
		&created, &expiresAt, &used, &c.IssuedFamilyID, &c.IssuedAccessJTI,
		&c.IssuedAccessHash, &accessExp, &c.DPoPJKT)
	if err != nil {
		return store.AuthCode{}, err
	}
	for _, l := range []struct {
		dst *[]string
		src string
	}{{&c.Scopes, scopes}, {&c.Audience, aud}, {&c.AMR, amr}} {
		if *l.dst, err = decodeList(l.src); err != nil {
			return store.AuthCode{}, err
		}
	}
	c.Claims = nonEmpty(claims)
	c.AuthTime, c.CreatedAt, c.ExpiresAt = decodeTime(auth), decodeTime(created), decodeTime(expiresAt)
	c.UsedAt, c.IssuedAccessExpiresAt = decodeOptionalTime(used), decodeOptionalTime(accessExp)
	c.IssuedAccessHash = nonEmpty(c.IssuedAccessHash)
	return c, nil
}

// CreateAuthCode stores a new authorization code; store.ErrAlreadyExists if
// the hash is taken, store.ErrNotFound if the client or user does not
// exist.
func (s *Store) CreateAuthCode(ctx context.Context, c store.AuthCode) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("store/sqlite: create authorization code: %w", err)
	}
	var lists [3]string
	for i, l := range [][]string{c.Scopes, c.Audience, c.AMR} {
		var err error
		if lists[i], err = encodeList(l); err != nil {
			return fmt.Errorf("store/sqlite: create authorization code: %w", err)
		}
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO auth_codes (`+authCodeColumns+`)
		VALUES (`+params(22)+`)`,
		c.Hash, c.ClientID, c.UserID, c.SessionID, c.RedirectURI, lists[0], lists[1],
		c.Nonce, c.CodeChallenge, c.CodeChallengeMethod, encodeTime(c.AuthTime), lists[2], c.ACR, nullBytes(c.Claims),
		encodeTime(c.CreatedAt), encodeTime(c.ExpiresAt), nil, "", "", nil, nil, c.DPoPJKT)
	if err != nil {
		return fmt.Errorf("store/sqlite: create authorization code: %w", classify(err))
	}
	return nil
}

// GetAuthCode returns the code with the given hash, or store.ErrNotFound.
//
// It reads on a reader connection. The writer's page cache would be warmer,
// but the writer is the one connection every redemption waits for: a read
// there holds up the commits queued behind it (groupCommit).
func (s *Store) GetAuthCode(ctx context.Context, hash []byte) (store.AuthCode, error) {
	if len(hash) != sha256.Size {
		return store.AuthCode{}, fmt.Errorf("store/sqlite: get authorization code: %w", store.ErrNotFound)
	}
	c, err := scanAuthCode(s.r.QueryRowContext(ctx, selectAuthCode+` WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return store.AuthCode{}, fmt.Errorf("store/sqlite: get authorization code: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.AuthCode{}, fmt.Errorf("store/sqlite: get authorization code: %w", classify(err))
	}
	return c, nil
}

// GetAuthCodeUser returns the code with the given hash and its user (a
// zero User if the user is gone), or store.ErrNotFound: two reads
// (withUser), which cost no round trip on an embedded database.
func (s *Store) GetAuthCodeUser(ctx context.Context, hash []byte) (store.AuthCode, store.User, error) {
	c, err := s.GetAuthCode(ctx, hash)
	return withUser(ctx, s, c, c.UserID, err)
}

// withUser returns rec, read with err, and its user userID (a zero User
// if the user is gone).
func withUser[T any](ctx context.Context, s *Store, rec T, userID string, err error) (T, store.User, error) {
	var zero T
	if err != nil {
		return zero, store.User{}, err
	}
	u, err := s.GetUser(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return rec, store.User{}, nil
	}
	if err != nil {
		return zero, store.User{}, err
	}
	return rec, u, nil
}

// RedeemAuthCode marks the code used at now and stores what it issued, in
// one BEGIN IMMEDIATE transaction; store.ErrReused (with the record) if it
// was redeemed before.
func (s *Store) RedeemAuthCode(ctx context.Context, hash []byte, now time.Time, issue store.Issue) (store.AuthCode, error) {
	if err := issue.Validate(); err != nil {
		return store.AuthCode{}, fmt.Errorf("store/sqlite: redeem authorization code: %w", err)
	}
	return s.RedeemAuthCodeWith(ctx, hash, now, func(*store.AuthCode, *store.User) (store.Issue, error) { return issue, nil })
}

// RedeemAuthCodeWith reads the code and its user, plans the issue and
// redeems the code, in one BEGIN IMMEDIATE transaction on the writer,
// whose page cache holds what the redemption reads.
func (s *Store) RedeemAuthCodeWith(ctx context.Context, hash []byte, now time.Time, plan store.CodePlan) (store.AuthCode, error) {
	const op = "store/sqlite: redeem authorization code"
	if err := store.CheckExpiry("use time", now); err != nil {
		return store.AuthCode{}, fmt.Errorf("%s: %w", op, err)
	}
	if len(hash) != sha256.Size {
		return store.AuthCode{}, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	var c store.AuthCode
	planned := false
	err := s.inTx(ctx, func(tx dbtx) error {
		var err error
		c, err = scanAuthCode(tx.QueryRowContext(ctx, selectAuthCode+` WHERE hash = ?`, hash))
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		u, err := scanUser(tx.QueryRowContext(ctx, selectUser+` WHERE id = ?`, c.UserID))
		if errors.Is(err, sql.ErrNoRows) {
			u, err = store.User{}, nil
		}
		if err != nil {
			return err
		}
		planned = true
		issue, err := plan(&c, &u)
		if err != nil {
			return err
		}
		if err := issue.Validate(); err != nil {
			return err
		}
		if err := store.CheckRedeemable(c, now, issue); err != nil {
			return err
		}
		var accessHash []byte
		if issue.Access.Opaque != nil {
			accessHash = issue.Access.Opaque.Hash
		}
		var familyID string
		if issue.Refresh != nil {
			familyID = issue.Refresh.FamilyID
		}
		if _, err := tx.ExecContext(ctx, `UPDATE auth_codes SET used_at = ?, issued_family_id = ?, issued_access_jti = ?,
			issued_access_hash = ?, issued_access_expires_at = ? WHERE hash = ?`,
			encodeTime(now), familyID, issue.Access.JTI, nullBytes(accessHash), encodeTime(issue.Access.ExpiresAt), hash); err != nil {
			return err
		}
		if err := writeIssue(ctx, tx, issue, true); err != nil {
			return err
		}
		c.UsedAt = decodeTime(encodeTime(now))
		c.IssuedFamilyID, c.IssuedAccessJTI, c.IssuedAccessHash = familyID, issue.Access.JTI, accessHash
		c.IssuedAccessExpiresAt = decodeTime(encodeTime(issue.Access.ExpiresAt))
		return nil
	})
	switch {
	case err == nil:
		return c, nil
	case planned:
		// The code as it was read: what plan judged, and for ErrReused
		// what its first redemption issued.
		return c, fmt.Errorf("%s: %w", op, err)
	}
	return store.AuthCode{}, fmt.Errorf("%s: %w", op, err)
}

// RevokeAuthCodeIssue revokes what the redemption of the code issued, in
// one BEGIN IMMEDIATE transaction.
func (s *Store) RevokeAuthCodeIssue(ctx context.Context, hash []byte) error {
	const op = "store/sqlite: revoke authorization code issue"
	if len(hash) != sha256.Size {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	err := s.inTx(ctx, func(tx dbtx) error {
		c, err := scanAuthCode(tx.QueryRowContext(ctx, selectAuthCode+` WHERE hash = ?`, hash))
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		if c.UsedAt.IsZero() || (c.IssuedAccessJTI == "" && c.IssuedAccessHash == nil) {
			return fmt.Errorf("%w: the code was not redeemed", store.ErrInvalid)
		}
		if c.IssuedFamilyID != "" {
			if _, err := revokeFamilies(ctx, tx, `id = ?`, c.IssuedFamilyID); err != nil {
				return err
			}
		}
		return revokeAccess(ctx, tx, c.IssuedAccessJTI, c.IssuedAccessHash, c.IssuedAccessExpiresAt)
	})
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

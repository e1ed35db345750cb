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
	created_at, expires_at, used_at, issued_family_id, issued_access_jti`

const selectAuthCode = `SELECT ` + authCodeColumns + ` FROM auth_codes`

func scanAuthCode(row scanner) (store.AuthCode, error) {
	var (
		c                        store.AuthCode
		scopes, aud, amr         string
		auth, created, expiresAt int64
		used                     sql.NullInt64
		claims                   []byte
	)
	err := row.Scan(&c.Hash, &c.ClientID, &c.UserID, &c.SessionID, &c.RedirectURI, &scopes, &aud,
		&c.Nonce, &c.CodeChallenge, &c.CodeChallengeMethod, &auth, &amr, &c.ACR, &claims,
		&created, &expiresAt, &used, &c.IssuedFamilyID, &c.IssuedAccessJTI)
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
	c.UsedAt = decodeOptionalTime(used)
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
		VALUES (`+params(19)+`)`,
		c.Hash, c.ClientID, c.UserID, c.SessionID, c.RedirectURI, lists[0], lists[1],
		c.Nonce, c.CodeChallenge, c.CodeChallengeMethod, encodeTime(c.AuthTime), lists[2], c.ACR, nullBytes(c.Claims),
		encodeTime(c.CreatedAt), encodeTime(c.ExpiresAt), nil, "", "")
	if err != nil {
		return fmt.Errorf("store/sqlite: create authorization code: %w", classify(err))
	}
	return nil
}

// ConsumeAuthCode marks the code used at now in one BEGIN IMMEDIATE
// transaction; store.ErrReused (with the record) if it was used before.
func (s *Store) ConsumeAuthCode(ctx context.Context, hash []byte, now time.Time) (store.AuthCode, error) {
	if len(hash) != sha256.Size {
		return store.AuthCode{}, fmt.Errorf("store/sqlite: consume authorization code: %w", store.ErrNotFound)
	}
	if err := store.CheckExpiry("use time", now); err != nil {
		return store.AuthCode{}, fmt.Errorf("store/sqlite: consume authorization code: %w", err)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return store.AuthCode{}, fmt.Errorf("store/sqlite: consume authorization code: %w", classify(err))
	}
	defer rollback(tx)
	c, err := scanAuthCode(tx.QueryRowContext(ctx, selectAuthCode+` WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return store.AuthCode{}, fmt.Errorf("store/sqlite: consume authorization code: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.AuthCode{}, fmt.Errorf("store/sqlite: consume authorization code: %w", classify(err))
	}
	if !c.UsedAt.IsZero() {
		return c, fmt.Errorf("store/sqlite: consume authorization code: %w", store.ErrReused)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE auth_codes SET used_at = ? WHERE hash = ?`, encodeTime(now), hash); err != nil {
		return store.AuthCode{}, fmt.Errorf("store/sqlite: consume authorization code: %w", classify(err))
	}
	if err := tx.Commit(); err != nil {
		return store.AuthCode{}, fmt.Errorf("store/sqlite: consume authorization code: %w", classify(err))
	}
	c.UsedAt = decodeTime(encodeTime(now))
	return c, nil
}

// SetAuthCodeIssued records what the redemption of a consumed code issued.
func (s *Store) SetAuthCodeIssued(ctx context.Context, hash []byte, familyID, accessJTI string) error {
	if len(hash) != sha256.Size {
		return fmt.Errorf("store/sqlite: set authorization code issued: %w", store.ErrNotFound)
	}
	if err := checkIssued(familyID, accessJTI); err != nil {
		return fmt.Errorf("store/sqlite: set authorization code issued: %w", err)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store/sqlite: set authorization code issued: %w", classify(err))
	}
	defer rollback(tx)
	var used sql.NullInt64
	err = tx.QueryRowContext(ctx, `SELECT used_at FROM auth_codes WHERE hash = ?`, hash).Scan(&used)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("store/sqlite: set authorization code issued: %w", store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("store/sqlite: set authorization code issued: %w", classify(err))
	}
	if !used.Valid {
		return fmt.Errorf("store/sqlite: set authorization code issued: %w: the code was not consumed", store.ErrInvalid)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE auth_codes SET issued_family_id = ?, issued_access_jti = ? WHERE hash = ?`,
		familyID, accessJTI, hash); err != nil {
		return fmt.Errorf("store/sqlite: set authorization code issued: %w", classify(err))
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store/sqlite: set authorization code issued: %w", classify(err))
	}
	return nil
}

// checkIssued accepts an empty or valid family ID and access token jti.
func checkIssued(familyID, accessJTI string) error {
	if familyID != "" {
		if err := store.CheckID("family ID", familyID); err != nil {
			return err
		}
	}
	if accessJTI != "" {
		if err := store.CheckID("access token jti", accessJTI); err != nil {
			return err
		}
	}
	return nil
}

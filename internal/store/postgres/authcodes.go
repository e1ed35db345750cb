package postgres

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/writ-dev/writ/internal/store"
)

const authCodeColumns = `hash, client_id, user_id, session_id, redirect_uri, scopes, audience,
	nonce, code_challenge, code_challenge_method, auth_time, amr, acr, claims,
	created_at, expires_at, used_at, issued_family_id, issued_access_jti,
	issued_access_hash, issued_access_expires_at, dpop_jkt`

const selectAuthCode = `SELECT ` + authCodeColumns + ` FROM auth_codes`

func scanAuthCode(row pgx.Row) (store.AuthCode, error) {
	var (
		c      store.AuthCode
		used   *time.Time
		access *time.Time
		claims []byte
	)
	err := row.Scan(&c.Hash, &c.ClientID, &c.UserID, &c.SessionID, &c.RedirectURI, &c.Scopes, &c.Audience,
		&c.Nonce, &c.CodeChallenge, &c.CodeChallengeMethod, &c.AuthTime, &c.AMR, &c.ACR, &claims,
		&c.CreatedAt, &c.ExpiresAt, &used, &c.IssuedFamilyID, &c.IssuedAccessJTI,
		&c.IssuedAccessHash, &access, &c.DPoPJKT)
	if err != nil {
		return store.AuthCode{}, err
	}
	c.Scopes, c.Audience, c.AMR = nonEmptyList(c.Scopes), nonEmptyList(c.Audience), nonEmptyList(c.AMR)
	c.Claims = nonEmpty(claims)
	c.AuthTime, c.CreatedAt, c.ExpiresAt = c.AuthTime.UTC(), c.CreatedAt.UTC(), c.ExpiresAt.UTC()
	c.UsedAt, c.IssuedAccessExpiresAt = fromOptionalTime(used), fromOptionalTime(access)
	c.IssuedAccessHash = nonEmpty(c.IssuedAccessHash)
	return c, nil
}

// CreateAuthCode stores a new authorization code; store.ErrAlreadyExists if
// the hash is taken, store.ErrNotFound if the client or user does not
// exist.
func (s *Store) CreateAuthCode(ctx context.Context, c store.AuthCode) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("store/postgres: create authorization code: %w", classify(err))
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO auth_codes (`+authCodeColumns+`)
		VALUES (`+params(1, 22)+`)`,
		c.Hash, c.ClientID, c.UserID, c.SessionID, c.RedirectURI, list(c.Scopes), list(c.Audience),
		c.Nonce, c.CodeChallenge, c.CodeChallengeMethod, c.AuthTime, list(c.AMR), c.ACR, nullBytes(c.Claims),
		c.CreatedAt, c.ExpiresAt, nil, "", "", nil, nil, c.DPoPJKT)
	if err != nil {
		return fmt.Errorf("store/postgres: create authorization code: %w", classify(err))
	}
	return nil
}

// GetAuthCode returns the code with the given hash, or store.ErrNotFound.
func (s *Store) GetAuthCode(ctx context.Context, hash []byte) (store.AuthCode, error) {
	if len(hash) != sha256.Size {
		return store.AuthCode{}, fmt.Errorf("store/postgres: get authorization code: %w", store.ErrNotFound)
	}
	c, err := scanAuthCode(s.reads.QueryRow(ctx, selectAuthCode+` WHERE hash = $1`, hash))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.AuthCode{}, fmt.Errorf("store/postgres: get authorization code: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.AuthCode{}, fmt.Errorf("store/postgres: get authorization code: %w", classify(err))
	}
	return c, nil
}

// GetAuthCodeUser returns the code with the given hash and its user (a
// zero User if the user is gone), or store.ErrNotFound, in one round trip
// (withUser) where GetAuthCode then GetUser take two.
func (s *Store) GetAuthCodeUser(ctx context.Context, hash []byte) (store.AuthCode, store.User, error) {
	return withUser(ctx, s, "store/postgres: get authorization code and user", hash,
		selectAuthCode+` WHERE hash = $1`, scanAuthCode, `SELECT user_id FROM auth_codes WHERE hash = $1`)
}

// withUser reads a record by its hash (query, scanned by scan) and the
// user it belongs to (the user whose id userOf selects by the same hash),
// both queries in one batch shared with other callers' reads (the read
// group): one round trip. A user that is gone is a zero User; an unknown
// or malformed hash is store.ErrNotFound. Each of more (a query by the
// same hash) joins the batch, and its outcome is given to it when the
// record was found.
func withUser[T any](ctx context.Context, s *Store, op string, hash []byte, query string, scan func(pgx.Row) (T, error), userOf string, more ...batchRead) (T, store.User, error) {
	var zero T
	if len(hash) != sha256.Size {
		return zero, store.User{}, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	var (
		rec T
		u   store.User
	)
	stmts := make([]*groupStmt, 0, 2+len(more))
	stmts = append(stmts,
		&groupStmt{sql: query, args: []any{hash}, scan: func(row pgx.Row) (err error) {
			rec, err = scan(row)
			return err
		}},
		&groupStmt{sql: selectUser + ` WHERE id = (` + userOf + `)`, args: []any{hash}, scan: func(row pgx.Row) (err error) {
			u, err = scanUser(row)
			return err
		}})
	for _, m := range more {
		stmts = append(stmts, &groupStmt{sql: m.query, args: []any{hash}, scan: m.scan})
	}
	s.reads.Read(ctx, stmts...)
	err := stmts[0].err
	if err == nil {
		if err = stmts[1].err; errors.Is(err, pgx.ErrNoRows) {
			u, err = store.User{}, nil
		}
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return zero, store.User{}, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	if err != nil {
		return zero, store.User{}, fmt.Errorf("%s: %w", op, classify(err))
	}
	for i, m := range more {
		m.done(stmts[2+i].err)
	}
	return rec, u, nil
}

// batchRead is one more query of withUser's batch: scan reads its row,
// and done gets its outcome (nil, pgx.ErrNoRows, or its error: its
// errors are its own, the record and user stand).
type batchRead struct {
	query string
	scan  func(pgx.Row) error
	done  func(error)
}

// RedeemAuthCode marks the code used at now and stores what it issued, in
// one transaction with the code's row locked (SELECT ... FOR UPDATE);
// store.ErrReused (with the record) if it was redeemed before.
func (s *Store) RedeemAuthCode(ctx context.Context, hash []byte, now time.Time, issue store.Issue) (store.AuthCode, error) {
	const op = "store/postgres: redeem authorization code"
	if err := issue.Validate(); err != nil {
		return store.AuthCode{}, fmt.Errorf("%s: %w", op, err)
	}
	if err := store.CheckExpiry("use time", now); err != nil {
		return store.AuthCode{}, fmt.Errorf("%s: %w", op, err)
	}
	if len(hash) != sha256.Size {
		return store.AuthCode{}, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	if c, ok, err := s.redeemFast(ctx, hash, now, issue); err != nil {
		return store.AuthCode{}, fmt.Errorf("%s: %w", op, err)
	} else if ok {
		return c, nil
	}
	// Nothing changed: find out why (or redeem after all), with the code
	// locked.
	var c store.AuthCode
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		c, err = scanAuthCode(tx.QueryRow(ctx, selectAuthCode+` WHERE hash = $1 FOR UPDATE`, hash))
		if errors.Is(err, pgx.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		if err := store.CheckRedeemable(c, now, issue); err != nil {
			return err
		}
		if err := writeIssue(ctx, tx, issue, true); err != nil {
			return err
		}
		c.UsedAt = now.Truncate(store.TimePrecision).UTC()
		c.IssuedAccessJTI = issue.Access.JTI
		c.IssuedAccessExpiresAt = issue.Access.ExpiresAt.Truncate(store.TimePrecision).UTC()
		if issue.Access.Opaque != nil {
			c.IssuedAccessHash = issue.Access.Opaque.Hash
		}
		if issue.Refresh != nil {
			c.IssuedFamilyID = issue.Refresh.FamilyID
		}
		_, err = tx.Exec(ctx, `UPDATE auth_codes SET used_at = $2, issued_family_id = $3, issued_access_jti = $4,
			issued_access_hash = $5, issued_access_expires_at = $6 WHERE hash = $1`,
			hash, now, c.IssuedFamilyID, c.IssuedAccessJTI, nullBytes(c.IssuedAccessHash), issue.Access.ExpiresAt)
		return err
	})
	switch {
	case errors.Is(err, store.ErrReused), errors.Is(err, store.ErrExpired):
		return c, fmt.Errorf("%s: %w", op, err)
	case err != nil:
		return store.AuthCode{}, fmt.Errorf("%s: %w", op, err)
	}
	return c, nil
}

// RedeemAuthCodeWith reads the code and its user in one round trip
// (GetAuthCodeUser), plans the issue, and redeems the code with it
// (RedeemAuthCode: one statement when nothing changed in between).
func (s *Store) RedeemAuthCodeWith(ctx context.Context, hash []byte, now time.Time, plan store.CodePlan) (store.AuthCode, error) {
	const op = "store/postgres: redeem authorization code"
	if err := store.CheckExpiry("use time", now); err != nil {
		return store.AuthCode{}, fmt.Errorf("%s: %w", op, err)
	}
	c, u, err := s.GetAuthCodeUser(ctx, hash)
	if err != nil {
		return store.AuthCode{}, err
	}
	issue, err := plan(&c, &u)
	if err != nil {
		return c, fmt.Errorf("%s: %w", op, err)
	}
	return s.RedeemAuthCode(ctx, hash, now, issue)
}

// RevokeAuthCodeIssue revokes what the redemption of the code issued, in
// one transaction with the code and then the family locked.
func (s *Store) RevokeAuthCodeIssue(ctx context.Context, hash []byte) error {
	const op = "store/postgres: revoke authorization code issue"
	if len(hash) != sha256.Size {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		c, err := scanAuthCode(tx.QueryRow(ctx, selectAuthCode+` WHERE hash = $1 FOR UPDATE`, hash))
		if errors.Is(err, pgx.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		if c.UsedAt.IsZero() || (c.IssuedAccessJTI == "" && c.IssuedAccessHash == nil) {
			return fmt.Errorf("%w: the code was not redeemed", store.ErrInvalid)
		}
		if c.IssuedFamilyID != "" {
			if _, err := revokeFamilies(ctx, tx, `id = $1`, c.IssuedFamilyID); err != nil {
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

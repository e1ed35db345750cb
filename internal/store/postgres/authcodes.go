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
	created_at, expires_at, used_at, issued_family_id, issued_access_jti`

const selectAuthCode = `SELECT ` + authCodeColumns + ` FROM auth_codes`

func scanAuthCode(row pgx.Row) (store.AuthCode, error) {
	var (
		c      store.AuthCode
		used   *time.Time
		claims []byte
	)
	err := row.Scan(&c.Hash, &c.ClientID, &c.UserID, &c.SessionID, &c.RedirectURI, &c.Scopes, &c.Audience,
		&c.Nonce, &c.CodeChallenge, &c.CodeChallengeMethod, &c.AuthTime, &c.AMR, &c.ACR, &claims,
		&c.CreatedAt, &c.ExpiresAt, &used, &c.IssuedFamilyID, &c.IssuedAccessJTI)
	if err != nil {
		return store.AuthCode{}, err
	}
	c.Scopes, c.Audience, c.AMR = nonEmptyList(c.Scopes), nonEmptyList(c.Audience), nonEmptyList(c.AMR)
	c.Claims = nonEmpty(claims)
	c.AuthTime, c.CreatedAt, c.ExpiresAt = c.AuthTime.UTC(), c.CreatedAt.UTC(), c.ExpiresAt.UTC()
	c.UsedAt = fromOptionalTime(used)
	return c, nil
}

// CreateAuthCode stores a new authorization code; store.ErrAlreadyExists if
// the hash is taken, store.ErrNotFound if the client or user does not
// exist.
func (s *Store) CreateAuthCode(ctx context.Context, c store.AuthCode) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("store/postgres: create authorization code: %w", err)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO auth_codes (`+authCodeColumns+`)
		VALUES (`+params(1, 19)+`)`,
		c.Hash, c.ClientID, c.UserID, c.SessionID, c.RedirectURI, list(c.Scopes), list(c.Audience),
		c.Nonce, c.CodeChallenge, c.CodeChallengeMethod, c.AuthTime, list(c.AMR), c.ACR, nullBytes(c.Claims),
		c.CreatedAt, c.ExpiresAt, nil, "", "")
	if err != nil {
		return fmt.Errorf("store/postgres: create authorization code: %w", classify(err))
	}
	return nil
}

// ConsumeAuthCode marks the code used at now, with its row locked by
// SELECT ... FOR UPDATE; store.ErrReused (with the record) if it was used
// before.
func (s *Store) ConsumeAuthCode(ctx context.Context, hash []byte, now time.Time) (store.AuthCode, error) {
	if len(hash) != sha256.Size {
		return store.AuthCode{}, fmt.Errorf("store/postgres: consume authorization code: %w", store.ErrNotFound)
	}
	if err := store.CheckExpiry("use time", now); err != nil {
		return store.AuthCode{}, fmt.Errorf("store/postgres: consume authorization code: %w", err)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return store.AuthCode{}, fmt.Errorf("store/postgres: consume authorization code: %w", classify(err))
	}
	defer rollback(ctx, tx)
	c, err := scanAuthCode(tx.QueryRow(ctx, selectAuthCode+` WHERE hash = $1 FOR UPDATE`, hash))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.AuthCode{}, fmt.Errorf("store/postgres: consume authorization code: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.AuthCode{}, fmt.Errorf("store/postgres: consume authorization code: %w", classify(err))
	}
	if !c.UsedAt.IsZero() {
		return c, fmt.Errorf("store/postgres: consume authorization code: %w", store.ErrReused)
	}
	var used time.Time
	if err := tx.QueryRow(ctx, `UPDATE auth_codes SET used_at = $2 WHERE hash = $1 RETURNING used_at`,
		hash, now).Scan(&used); err != nil {
		return store.AuthCode{}, fmt.Errorf("store/postgres: consume authorization code: %w", classify(err))
	}
	if err := tx.Commit(ctx); err != nil {
		return store.AuthCode{}, fmt.Errorf("store/postgres: consume authorization code: %w", classify(err))
	}
	c.UsedAt = used.UTC()
	return c, nil
}

// SetAuthCodeIssued records what the redemption of a consumed code issued.
func (s *Store) SetAuthCodeIssued(ctx context.Context, hash []byte, familyID, accessJTI string) error {
	if len(hash) != sha256.Size {
		return fmt.Errorf("store/postgres: set authorization code issued: %w", store.ErrNotFound)
	}
	if err := checkIssued(familyID, accessJTI); err != nil {
		return fmt.Errorf("store/postgres: set authorization code issued: %w", err)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("store/postgres: set authorization code issued: %w", classify(err))
	}
	defer rollback(ctx, tx)
	var used *time.Time
	err = tx.QueryRow(ctx, `SELECT used_at FROM auth_codes WHERE hash = $1 FOR UPDATE`, hash).Scan(&used)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("store/postgres: set authorization code issued: %w", store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("store/postgres: set authorization code issued: %w", classify(err))
	}
	if used == nil {
		return fmt.Errorf("store/postgres: set authorization code issued: %w: the code was not consumed", store.ErrInvalid)
	}
	if _, err := tx.Exec(ctx, `UPDATE auth_codes SET issued_family_id = $2, issued_access_jti = $3 WHERE hash = $1`,
		hash, familyID, accessJTI); err != nil {
		return fmt.Errorf("store/postgres: set authorization code issued: %w", classify(err))
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("store/postgres: set authorization code issued: %w", classify(err))
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

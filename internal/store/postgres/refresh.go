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

// Every change to a family's tokens (rotation, adding a token) locks the
// family row first, then the token row; revocations change only family
// rows, taking them in ID order. A revocation therefore cannot miss a token
// added concurrently, and the lock order rules out deadlocks between these
// operations.

// selectRefreshToken reads a token with its family's client, user, expiry
// and revocation.
const selectRefreshToken = `SELECT t.hash, t.family_id, f.client_id, f.user_id, t.session_id,
	t.scopes, t.audience, t.auth_time, t.amr, t.acr, t.created_at, t.expires_at,
	f.expires_at, t.rotated_at, f.revoked
	FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id`

func scanRefreshToken(row pgx.Row) (store.RefreshToken, error) {
	var (
		t       store.RefreshToken
		rotated *time.Time
	)
	err := row.Scan(&t.Hash, &t.FamilyID, &t.ClientID, &t.UserID, &t.SessionID,
		&t.Scopes, &t.Audience, &t.AuthTime, &t.AMR, &t.ACR, &t.CreatedAt, &t.ExpiresAt,
		&t.FamilyExpiresAt, &rotated, &t.Revoked)
	if err != nil {
		return store.RefreshToken{}, err
	}
	t.Scopes, t.Audience, t.AMR = nonEmptyList(t.Scopes), nonEmptyList(t.Audience), nonEmptyList(t.AMR)
	t.AuthTime, t.CreatedAt, t.ExpiresAt = t.AuthTime.UTC(), t.CreatedAt.UTC(), t.ExpiresAt.UTC()
	t.FamilyExpiresAt = t.FamilyExpiresAt.UTC()
	t.RotatedAt = fromOptionalTime(rotated)
	return t, nil
}

// family is a refresh_families row.
type family struct {
	clientID, userID string
	expiresAt        time.Time
	revoked          bool
}

// checkFamily reports whether t may join the family f.
func checkFamily(f family, t store.RefreshToken) error {
	if f.clientID != t.ClientID || f.userID != t.UserID ||
		!f.expiresAt.Equal(t.FamilyExpiresAt.Truncate(store.TimePrecision)) {
		return fmt.Errorf("%w: the token's client, user or family expiry differ from its family's", store.ErrInvalid)
	}
	if f.revoked {
		return fmt.Errorf("%w: the refresh token family is revoked", store.ErrNotFound)
	}
	return nil
}

// insertRefreshToken inserts t's row; t's family row must exist (and be
// locked by the transaction).
func insertRefreshToken(ctx context.Context, tx pgx.Tx, t store.RefreshToken) error {
	tag, err := tx.Exec(ctx, `INSERT INTO refresh_tokens
		(hash, family_id, session_id, scopes, audience, auth_time, amr, acr, created_at, expires_at, rotated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL)
		ON CONFLICT (hash) DO NOTHING`,
		t.Hash, t.FamilyID, t.SessionID, list(t.Scopes), list(t.Audience), t.AuthTime, list(t.AMR), t.ACR,
		t.CreatedAt, t.ExpiresAt)
	if err != nil {
		return classify(err)
	}
	if tag.RowsAffected() == 0 {
		return store.ErrAlreadyExists
	}
	return nil
}

// CreateRefreshToken stores a new refresh token, starting its family if
// the family does not exist yet, with the family row locked.
func (s *Store) CreateRefreshToken(ctx context.Context, t store.RefreshToken) error {
	if err := t.Validate(); err != nil {
		return fmt.Errorf("store/postgres: create refresh token: %w", err)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("store/postgres: create refresh token: %w", classify(err))
	}
	defer rollback(ctx, tx)
	// Start the family unless it exists; an unknown client or user is a
	// foreign-key violation, classified as ErrNotFound. Then lock it.
	if _, err := tx.Exec(ctx, `INSERT INTO refresh_families (id, client_id, user_id, expires_at, revoked)
		VALUES ($1, $2, $3, $4, false) ON CONFLICT (id) DO NOTHING`,
		t.FamilyID, t.ClientID, t.UserID, t.FamilyExpiresAt); err != nil {
		return fmt.Errorf("store/postgres: create refresh token: %w", classify(err))
	}
	var f family
	if err := tx.QueryRow(ctx, `SELECT client_id, user_id, expires_at, revoked FROM refresh_families
		WHERE id = $1 FOR UPDATE`, t.FamilyID).Scan(&f.clientID, &f.userID, &f.expiresAt, &f.revoked); err != nil {
		// ErrNoRows: the family was deleted (its client or user with it)
		// between the two statements.
		if errors.Is(err, pgx.ErrNoRows) {
			err = store.ErrNotFound
		}
		return fmt.Errorf("store/postgres: create refresh token: %w", classify(err))
	}
	if err := checkFamily(f, t); err != nil {
		return fmt.Errorf("store/postgres: create refresh token: %w", err)
	}
	if err := insertRefreshToken(ctx, tx, t); err != nil {
		return fmt.Errorf("store/postgres: create refresh token: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("store/postgres: create refresh token: %w", classify(err))
	}
	return nil
}

// GetRefreshToken returns the token with the given hash, or
// store.ErrNotFound.
func (s *Store) GetRefreshToken(ctx context.Context, hash []byte) (store.RefreshToken, error) {
	if len(hash) != sha256.Size {
		return store.RefreshToken{}, fmt.Errorf("store/postgres: get refresh token: %w", store.ErrNotFound)
	}
	t, err := scanRefreshToken(s.pool.QueryRow(ctx, selectRefreshToken+` WHERE t.hash = $1`, hash))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.RefreshToken{}, fmt.Errorf("store/postgres: get refresh token: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.RefreshToken{}, fmt.Errorf("store/postgres: get refresh token: %w", classify(err))
	}
	return t, nil
}

// RotateRefreshToken exchanges the old token for next with the family row
// and then the token row locked (SELECT ... FOR UPDATE); a reuse revokes
// the family (and commits that).
func (s *Store) RotateRefreshToken(ctx context.Context, oldHash []byte, next store.RefreshToken, now time.Time) (store.RefreshToken, error) {
	if err := next.Validate(); err != nil {
		return store.RefreshToken{}, fmt.Errorf("store/postgres: rotate refresh token: %w", err)
	}
	if err := store.CheckExpiry("rotation time", now); err != nil {
		return store.RefreshToken{}, fmt.Errorf("store/postgres: rotate refresh token: %w", err)
	}
	if len(oldHash) != sha256.Size {
		return store.RefreshToken{}, fmt.Errorf("store/postgres: rotate refresh token: %w", store.ErrNotFound)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return store.RefreshToken{}, fmt.Errorf("store/postgres: rotate refresh token: %w", classify(err))
	}
	defer rollback(ctx, tx)
	// Lock the family first (a token's family never changes), then the
	// token; no rows means the token (or its family) does not exist.
	var familyID string
	err = tx.QueryRow(ctx, `SELECT f.id FROM refresh_families f
		WHERE f.id = (SELECT family_id FROM refresh_tokens WHERE hash = $1) FOR UPDATE`, oldHash).Scan(&familyID)
	if err == nil {
		var old store.RefreshToken
		old, err = scanRefreshToken(tx.QueryRow(ctx, selectRefreshToken+` WHERE t.hash = $1 FOR UPDATE OF t`, oldHash))
		if err == nil {
			return s.rotateLocked(ctx, tx, old, next, now)
		}
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return store.RefreshToken{}, fmt.Errorf("store/postgres: rotate refresh token: %w", store.ErrNotFound)
	}
	return store.RefreshToken{}, fmt.Errorf("store/postgres: rotate refresh token: %w", classify(err))
}

// rotateLocked finishes RotateRefreshToken once the old token and its
// family are locked by tx.
func (s *Store) rotateLocked(ctx context.Context, tx pgx.Tx, old, next store.RefreshToken, now time.Time) (store.RefreshToken, error) {
	switch {
	case !old.RotatedAt.IsZero():
		// A reuse, even in a family revoked already (by an earlier reuse,
		// such as a concurrent rotation of the same token).
		if !old.Revoked {
			if _, err := tx.Exec(ctx, `UPDATE refresh_families SET revoked = true WHERE id = $1`, old.FamilyID); err != nil {
				return store.RefreshToken{}, fmt.Errorf("store/postgres: rotate refresh token: revoke family: %w", classify(err))
			}
			if err := tx.Commit(ctx); err != nil {
				return store.RefreshToken{}, fmt.Errorf("store/postgres: rotate refresh token: revoke family: %w", classify(err))
			}
			old.Revoked = true
		}
		return old, fmt.Errorf("store/postgres: rotate refresh token: %w: the family is revoked", store.ErrReused)
	case old.Revoked:
		return old, fmt.Errorf("store/postgres: rotate refresh token: %w: the refresh token is revoked", store.ErrNotFound)
	case !old.ExpiresAt.After(now) || !old.FamilyExpiresAt.After(now):
		return old, fmt.Errorf("store/postgres: rotate refresh token: %w", store.ErrExpired)
	}
	if next.FamilyID != old.FamilyID {
		return old, fmt.Errorf("store/postgres: rotate refresh token: %w: the new token is of another family", store.ErrInvalid)
	}
	f := family{clientID: old.ClientID, userID: old.UserID, expiresAt: old.FamilyExpiresAt}
	if err := checkFamily(f, next); err != nil {
		return old, fmt.Errorf("store/postgres: rotate refresh token: %w", err)
	}
	var rotated time.Time
	if err := tx.QueryRow(ctx, `UPDATE refresh_tokens SET rotated_at = $2 WHERE hash = $1 RETURNING rotated_at`,
		old.Hash, now).Scan(&rotated); err != nil {
		return store.RefreshToken{}, fmt.Errorf("store/postgres: rotate refresh token: %w", classify(err))
	}
	if err := insertRefreshToken(ctx, tx, next); err != nil {
		return store.RefreshToken{}, fmt.Errorf("store/postgres: rotate refresh token: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return store.RefreshToken{}, fmt.Errorf("store/postgres: rotate refresh token: %w", classify(err))
	}
	old.RotatedAt = rotated.UTC()
	return old, nil
}

// RevokeRefreshFamily revokes the family; idempotent; store.ErrNotFound
// for an unknown family.
func (s *Store) RevokeRefreshFamily(ctx context.Context, familyID string) error {
	if store.CheckID("family ID", familyID) != nil {
		return fmt.Errorf("store/postgres: revoke refresh family: %w", store.ErrNotFound)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE refresh_families SET revoked = true WHERE id = $1`, familyID)
	if err != nil {
		return fmt.Errorf("store/postgres: revoke refresh family: %w", classify(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("store/postgres: revoke refresh family %q: %w", familyID, store.ErrNotFound)
	}
	return nil
}

// RevokeUserRefreshTokens revokes every family of the user.
func (s *Store) RevokeUserRefreshTokens(ctx context.Context, userID string) error {
	if store.CheckID("user ID", userID) != nil {
		return nil
	}
	if _, err := s.pool.Exec(ctx, `UPDATE refresh_families SET revoked = true WHERE id IN
		(SELECT id FROM refresh_families WHERE user_id = $1 ORDER BY id FOR UPDATE)`, userID); err != nil {
		return fmt.Errorf("store/postgres: revoke user refresh tokens: %w", classify(err))
	}
	return nil
}

// RevokeClientUserRefreshTokens revokes the user's families at the client.
func (s *Store) RevokeClientUserRefreshTokens(ctx context.Context, clientID, userID string) error {
	if store.CheckID("client ID", clientID) != nil || store.CheckID("user ID", userID) != nil {
		return nil
	}
	if _, err := s.pool.Exec(ctx, `UPDATE refresh_families SET revoked = true WHERE id IN
		(SELECT id FROM refresh_families WHERE client_id = $1 AND user_id = $2 ORDER BY id FOR UPDATE)`,
		clientID, userID); err != nil {
		return fmt.Errorf("store/postgres: revoke client user refresh tokens: %w", classify(err))
	}
	return nil
}

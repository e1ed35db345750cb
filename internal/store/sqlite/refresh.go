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

// selectRefreshToken reads a token with its family's client, user, expiry
// and revocation.
const selectRefreshToken = `SELECT t.hash, t.family_id, f.client_id, f.user_id, t.session_id,
	t.scopes, t.audience, t.auth_time, t.amr, t.acr, t.created_at, t.expires_at,
	f.expires_at, t.rotated_at, f.revoked
	FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id`

func scanRefreshToken(row scanner) (store.RefreshToken, error) {
	var (
		t                                         store.RefreshToken
		scopes, aud, amr                          string
		auth, created, expiresAt, familyExpiresAt int64
		rotated                                   sql.NullInt64
		revoked                                   int64
	)
	err := row.Scan(&t.Hash, &t.FamilyID, &t.ClientID, &t.UserID, &t.SessionID,
		&scopes, &aud, &auth, &amr, &t.ACR, &created, &expiresAt,
		&familyExpiresAt, &rotated, &revoked)
	if err != nil {
		return store.RefreshToken{}, err
	}
	for _, l := range []struct {
		dst *[]string
		src string
	}{{&t.Scopes, scopes}, {&t.Audience, aud}, {&t.AMR, amr}} {
		if *l.dst, err = decodeList(l.src); err != nil {
			return store.RefreshToken{}, err
		}
	}
	t.AuthTime, t.CreatedAt, t.ExpiresAt = decodeTime(auth), decodeTime(created), decodeTime(expiresAt)
	t.FamilyExpiresAt = decodeTime(familyExpiresAt)
	t.RotatedAt = decodeOptionalTime(rotated)
	t.Revoked = revoked != 0
	return t, nil
}

// family is a refresh_families row.
type family struct {
	clientID, userID string
	expiresAt        int64
	revoked          bool
}

// checkFamily reports whether t may join the family f.
func checkFamily(f family, t store.RefreshToken) error {
	if f.clientID != t.ClientID || f.userID != t.UserID || f.expiresAt != encodeTime(t.FamilyExpiresAt) {
		return fmt.Errorf("%w: the token's client, user or family expiry differ from its family's", store.ErrInvalid)
	}
	if f.revoked {
		return fmt.Errorf("%w: the refresh token family is revoked", store.ErrNotFound)
	}
	return nil
}

// insertRefreshToken inserts t's row; t's family row must exist.
func insertRefreshToken(ctx context.Context, tx *sql.Tx, t store.RefreshToken) error {
	var lists [3]string
	for i, l := range [][]string{t.Scopes, t.Audience, t.AMR} {
		var err error
		if lists[i], err = encodeList(l); err != nil {
			return err
		}
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO refresh_tokens
		(hash, family_id, session_id, scopes, audience, auth_time, amr, acr, created_at, expires_at, rotated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)
		ON CONFLICT (hash) DO NOTHING`,
		t.Hash, t.FamilyID, t.SessionID, lists[0], lists[1], encodeTime(t.AuthTime), lists[2], t.ACR,
		encodeTime(t.CreatedAt), encodeTime(t.ExpiresAt))
	if err != nil {
		return classify(err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return store.ErrAlreadyExists
	}
	return nil
}

// CreateRefreshToken stores a new refresh token, starting its family if
// the family does not exist yet, in one BEGIN IMMEDIATE transaction.
func (s *Store) CreateRefreshToken(ctx context.Context, t store.RefreshToken) error {
	if err := t.Validate(); err != nil {
		return fmt.Errorf("store/sqlite: create refresh token: %w", err)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store/sqlite: create refresh token: %w", classify(err))
	}
	defer rollback(tx)
	var (
		f       family
		revoked int64
	)
	err = tx.QueryRowContext(ctx, `SELECT client_id, user_id, expires_at, revoked FROM refresh_families WHERE id = ?`,
		t.FamilyID).Scan(&f.clientID, &f.userID, &f.expiresAt, &revoked)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		// A new family; an unknown client or user is a foreign-key
		// violation, classified as ErrNotFound.
		if _, err := tx.ExecContext(ctx, `INSERT INTO refresh_families (id, client_id, user_id, expires_at, revoked)
			VALUES (?, ?, ?, ?, 0)`, t.FamilyID, t.ClientID, t.UserID, encodeTime(t.FamilyExpiresAt)); err != nil {
			return fmt.Errorf("store/sqlite: create refresh token: %w", classify(err))
		}
	case err != nil:
		return fmt.Errorf("store/sqlite: create refresh token: %w", classify(err))
	default:
		f.revoked = revoked != 0
		if err := checkFamily(f, t); err != nil {
			return fmt.Errorf("store/sqlite: create refresh token: %w", err)
		}
	}
	if err := insertRefreshToken(ctx, tx, t); err != nil {
		return fmt.Errorf("store/sqlite: create refresh token: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store/sqlite: create refresh token: %w", classify(err))
	}
	return nil
}

// GetRefreshToken returns the token with the given hash, or
// store.ErrNotFound.
func (s *Store) GetRefreshToken(ctx context.Context, hash []byte) (store.RefreshToken, error) {
	if len(hash) != sha256.Size {
		return store.RefreshToken{}, fmt.Errorf("store/sqlite: get refresh token: %w", store.ErrNotFound)
	}
	t, err := scanRefreshToken(s.r.QueryRowContext(ctx, selectRefreshToken+` WHERE t.hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return store.RefreshToken{}, fmt.Errorf("store/sqlite: get refresh token: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.RefreshToken{}, fmt.Errorf("store/sqlite: get refresh token: %w", classify(err))
	}
	return t, nil
}

// RotateRefreshToken exchanges the old token for next in one BEGIN
// IMMEDIATE transaction; a reuse revokes the family (and commits that).
func (s *Store) RotateRefreshToken(ctx context.Context, oldHash []byte, next store.RefreshToken, now time.Time) (store.RefreshToken, error) {
	if err := next.Validate(); err != nil {
		return store.RefreshToken{}, fmt.Errorf("store/sqlite: rotate refresh token: %w", err)
	}
	if err := store.CheckExpiry("rotation time", now); err != nil {
		return store.RefreshToken{}, fmt.Errorf("store/sqlite: rotate refresh token: %w", err)
	}
	if len(oldHash) != sha256.Size {
		return store.RefreshToken{}, fmt.Errorf("store/sqlite: rotate refresh token: %w", store.ErrNotFound)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return store.RefreshToken{}, fmt.Errorf("store/sqlite: rotate refresh token: %w", classify(err))
	}
	defer rollback(tx)
	old, err := scanRefreshToken(tx.QueryRowContext(ctx, selectRefreshToken+` WHERE t.hash = ?`, oldHash))
	if errors.Is(err, sql.ErrNoRows) {
		return store.RefreshToken{}, fmt.Errorf("store/sqlite: rotate refresh token: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.RefreshToken{}, fmt.Errorf("store/sqlite: rotate refresh token: %w", classify(err))
	}
	switch {
	case !old.RotatedAt.IsZero():
		// A reuse, even in a family revoked already (by an earlier reuse,
		// such as a concurrent rotation of the same token).
		if !old.Revoked {
			if _, err := tx.ExecContext(ctx, `UPDATE refresh_families SET revoked = 1 WHERE id = ?`, old.FamilyID); err != nil {
				return store.RefreshToken{}, fmt.Errorf("store/sqlite: rotate refresh token: revoke family: %w", classify(err))
			}
			if err := tx.Commit(); err != nil {
				return store.RefreshToken{}, fmt.Errorf("store/sqlite: rotate refresh token: revoke family: %w", classify(err))
			}
			old.Revoked = true
		}
		return old, fmt.Errorf("store/sqlite: rotate refresh token: %w: the family is revoked", store.ErrReused)
	case old.Revoked:
		return old, fmt.Errorf("store/sqlite: rotate refresh token: %w: the refresh token is revoked", store.ErrNotFound)
	case !old.ExpiresAt.After(now) || !old.FamilyExpiresAt.After(now):
		return old, fmt.Errorf("store/sqlite: rotate refresh token: %w", store.ErrExpired)
	}
	if next.FamilyID != old.FamilyID {
		return old, fmt.Errorf("store/sqlite: rotate refresh token: %w: the new token is of another family", store.ErrInvalid)
	}
	f := family{clientID: old.ClientID, userID: old.UserID, expiresAt: encodeTime(old.FamilyExpiresAt)}
	if err := checkFamily(f, next); err != nil {
		return old, fmt.Errorf("store/sqlite: rotate refresh token: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET rotated_at = ? WHERE hash = ?`, encodeTime(now), oldHash); err != nil {
		return store.RefreshToken{}, fmt.Errorf("store/sqlite: rotate refresh token: %w", classify(err))
	}
	if err := insertRefreshToken(ctx, tx, next); err != nil {
		return store.RefreshToken{}, fmt.Errorf("store/sqlite: rotate refresh token: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return store.RefreshToken{}, fmt.Errorf("store/sqlite: rotate refresh token: %w", classify(err))
	}
	old.RotatedAt = decodeTime(encodeTime(now))
	return old, nil
}

// RevokeRefreshFamily revokes the family; idempotent; store.ErrNotFound
// for an unknown family.
func (s *Store) RevokeRefreshFamily(ctx context.Context, familyID string) error {
	if store.CheckID("family ID", familyID) != nil {
		return fmt.Errorf("store/sqlite: revoke refresh family: %w", store.ErrNotFound)
	}
	res, err := s.w.ExecContext(ctx, `UPDATE refresh_families SET revoked = 1 WHERE id = ?`, familyID)
	if err != nil {
		return fmt.Errorf("store/sqlite: revoke refresh family: %w", classify(err))
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store/sqlite: revoke refresh family: %w", err)
	} else if n == 0 {
		return fmt.Errorf("store/sqlite: revoke refresh family %q: %w", familyID, store.ErrNotFound)
	}
	return nil
}

// RevokeUserRefreshTokens revokes every family of the user.
func (s *Store) RevokeUserRefreshTokens(ctx context.Context, userID string) error {
	if store.CheckID("user ID", userID) != nil {
		return nil
	}
	if _, err := s.w.ExecContext(ctx, `UPDATE refresh_families SET revoked = 1 WHERE user_id = ?`, userID); err != nil {
		return fmt.Errorf("store/sqlite: revoke user refresh tokens: %w", classify(err))
	}
	return nil
}

// RevokeClientUserRefreshTokens revokes the user's families at the client.
func (s *Store) RevokeClientUserRefreshTokens(ctx context.Context, clientID, userID string) error {
	if store.CheckID("client ID", clientID) != nil || store.CheckID("user ID", userID) != nil {
		return nil
	}
	if _, err := s.w.ExecContext(ctx, `UPDATE refresh_families SET revoked = 1 WHERE client_id = ? AND user_id = ?`,
		clientID, userID); err != nil {
		return fmt.Errorf("store/sqlite: revoke client user refresh tokens: %w", classify(err))
	}
	return nil
}

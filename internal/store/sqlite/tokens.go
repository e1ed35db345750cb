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

// CreateToken stores an opaque token record.
func (s *Store) CreateToken(ctx context.Context, r store.TokenRecord) error {
	if err := r.Validate(); err != nil {
		return fmt.Errorf("store/sqlite: create token: %w", err)
	}
	if err := insertToken(ctx, s.w, r); err != nil {
		return fmt.Errorf("store/sqlite: create token: %w", err)
	}
	return nil
}

// execer is a *sql.DB or a *sql.Tx.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// insertToken inserts a validated token record.
func insertToken(ctx context.Context, db execer, r store.TokenRecord) error {
	scopes, err := encodeList(r.Scopes)
	if err != nil {
		return err
	}
	aud, err := encodeList(r.Audience)
	if err != nil {
		return err
	}
	// A foreign-key violation (unknown client) aborts the statement and is
	// classified as ErrNotFound; a duplicate hash inserts nothing.
	res, err := db.ExecContext(ctx, `INSERT INTO tokens
		(hash, kind, client_id, subject, scopes, audience, issued_at, expires_at, revoked, extra)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (hash) DO NOTHING`,
		r.Hash, r.Kind, r.ClientID, r.Subject, scopes, aud,
		encodeTime(r.IssuedAt), encodeTime(r.ExpiresAt), boolInt(r.Revoked), nullBytes(r.Extra))
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

// GetToken returns the record with the given hash, or store.ErrNotFound.
func (s *Store) GetToken(ctx context.Context, hash []byte) (store.TokenRecord, error) {
	if len(hash) != sha256.Size {
		return store.TokenRecord{}, fmt.Errorf("store/sqlite: get token: %w", store.ErrNotFound)
	}
	var (
		r                   store.TokenRecord
		scopes, aud         string
		issued, expires, rv int64
		extra               []byte
	)
	err := s.r.QueryRowContext(ctx, `SELECT hash, kind, client_id, subject, scopes, audience,
		issued_at, expires_at, revoked, extra FROM tokens WHERE hash = ?`, hash).
		Scan(&r.Hash, &r.Kind, &r.ClientID, &r.Subject, &scopes, &aud, &issued, &expires, &rv, &extra)
	if errors.Is(err, sql.ErrNoRows) {
		return store.TokenRecord{}, fmt.Errorf("store/sqlite: get token: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.TokenRecord{}, fmt.Errorf("store/sqlite: get token: %w", classify(err))
	}
	if r.Scopes, err = decodeList(scopes); err != nil {
		return store.TokenRecord{}, fmt.Errorf("store/sqlite: get token: %w", err)
	}
	if r.Audience, err = decodeList(aud); err != nil {
		return store.TokenRecord{}, fmt.Errorf("store/sqlite: get token: %w", err)
	}
	r.IssuedAt, r.ExpiresAt = decodeTime(issued), decodeTime(expires)
	r.Revoked = rv != 0
	r.Extra = nonEmpty(extra)
	return r, nil
}

// RevokeToken marks the record revoked; idempotent; store.ErrNotFound for
// an unknown hash.
func (s *Store) RevokeToken(ctx context.Context, hash []byte) error {
	if len(hash) != sha256.Size {
		return fmt.Errorf("store/sqlite: revoke token: %w", store.ErrNotFound)
	}
	res, err := s.w.ExecContext(ctx, `UPDATE tokens SET revoked = 1 WHERE hash = ?`, hash)
	if err != nil {
		return fmt.Errorf("store/sqlite: revoke token: %w", classify(err))
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store/sqlite: revoke token: %w", err)
	} else if n == 0 {
		return fmt.Errorf("store/sqlite: revoke token: %w", store.ErrNotFound)
	}
	return nil
}

// RevokeJTI puts jti on the revocation list until expiresAt (keeping the
// later expiry if it is there already).
func (s *Store) RevokeJTI(ctx context.Context, jti string, expiresAt time.Time) error {
	if err := checkJTI(jti, expiresAt); err != nil {
		return fmt.Errorf("store/sqlite: revoke jti: %w", err)
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO revoked_jtis (jti, expires_at) VALUES (?, ?)
		ON CONFLICT (jti) DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)`,
		jti, encodeTime(expiresAt))
	if err != nil {
		return fmt.Errorf("store/sqlite: revoke jti: %w", classify(err))
	}
	return nil
}

// IsJTIRevoked reports whether jti is on the revocation list. A jti that
// could not be stored cannot be on it.
func (s *Store) IsJTIRevoked(ctx context.Context, jti string) (bool, error) {
	if store.CheckID("jti", jti) != nil {
		return false, nil
	}
	var one int
	err := s.r.QueryRowContext(ctx, `SELECT 1 FROM revoked_jtis WHERE jti = ?`, jti).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store/sqlite: check jti: %w", classify(err))
	}
	return true, nil
}

// UseJTI records the single use of (clientID, jti); store.ErrAlreadyExists
// if it was used before.
func (s *Store) UseJTI(ctx context.Context, clientID, jti string, expiresAt time.Time) error {
	if err := store.CheckID("client ID", clientID); err != nil {
		return fmt.Errorf("store/sqlite: use jti: %w", err)
	}
	if err := checkJTI(jti, expiresAt); err != nil {
		return fmt.Errorf("store/sqlite: use jti: %w", err)
	}
	res, err := s.w.ExecContext(ctx, `INSERT INTO used_jtis (client_id, jti, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (client_id, jti) DO NOTHING`, clientID, jti, encodeTime(expiresAt))
	if err != nil {
		return fmt.Errorf("store/sqlite: use jti: %w", classify(err))
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store/sqlite: use jti: %w", err)
	} else if n == 0 {
		return fmt.Errorf("store/sqlite: use jti: %w", store.ErrAlreadyExists)
	}
	return nil
}

// DeleteExpired removes the token records, revoked JTIs, used JTIs,
// sessions, authorization codes and refresh tokens that expired at or
// before now, and the refresh token families whose absolute expiry passed
// (with their tokens), in one transaction. Families are not counted; their
// tokens are.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time) (int64, error) {
	if err := store.CheckTime("now", now); err != nil {
		return 0, fmt.Errorf("store/sqlite: delete expired: %w", err)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("store/sqlite: delete expired: %w", classify(err))
	}
	defer rollback(tx)
	var total int64
	for _, q := range []string{
		`DELETE FROM tokens WHERE expires_at <= ?`,
		`DELETE FROM revoked_jtis WHERE expires_at <= ?`,
		`DELETE FROM used_jtis WHERE expires_at <= ?`,
		`DELETE FROM sessions WHERE expires_at <= ?`,
		`DELETE FROM auth_codes WHERE expires_at <= ?`,
		`DELETE FROM refresh_tokens WHERE expires_at <= ?1
			OR family_id IN (SELECT id FROM refresh_families WHERE expires_at <= ?1)`,
	} {
		res, err := tx.ExecContext(ctx, q, encodeTime(now))
		if err != nil {
			return 0, fmt.Errorf("store/sqlite: delete expired: %w", classify(err))
		}
		n, err := res.RowsAffected()
		if err != nil {
			return 0, fmt.Errorf("store/sqlite: delete expired: %w", err)
		}
		total += n
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM refresh_families WHERE expires_at <= ?`, encodeTime(now)); err != nil {
		return 0, fmt.Errorf("store/sqlite: delete expired: %w", classify(err))
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("store/sqlite: delete expired: %w", classify(err))
	}
	return total, nil
}

func checkJTI(jti string, expiresAt time.Time) error {
	if err := store.CheckID("jti", jti); err != nil {
		return err
	}
	return store.CheckExpiry("jti expiry", expiresAt)
}

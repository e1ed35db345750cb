package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/writ-dev/writ/internal/store"
)

// CreateToken stores an opaque token record.
func (s *Store) CreateToken(ctx context.Context, r store.TokenRecord) error {
	if err := r.Validate(); err != nil {
		return fmt.Errorf("store/sqlite: create token: %w", err)
	}
	if err := s.inTx(ctx, func(q dbtx) error { return insertToken(ctx, q, r) }); err != nil {
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
	return s.inTx(ctx, func(q dbtx) error {
		res, err := q.ExecContext(ctx, `UPDATE tokens SET revoked = 1 WHERE hash = ?`, hash)
		if err != nil {
			return fmt.Errorf("store/sqlite: revoke token: %w", classify(err))
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("store/sqlite: revoke token: %w", err)
		} else if n == 0 {
			return fmt.Errorf("store/sqlite: revoke token: %w", store.ErrNotFound)
		}
		return nil
	})
}

// RevokeJTI puts jti on the revocation list until expiresAt (keeping the
// later expiry if it is there already).
func (s *Store) RevokeJTI(ctx context.Context, jti string, expiresAt time.Time) error {
	if err := checkJTI(jti, expiresAt); err != nil {
		return fmt.Errorf("store/sqlite: revoke jti: %w", err)
	}
	return s.inTx(ctx, func(q dbtx) error {
		_, err := q.ExecContext(ctx, `INSERT INTO revoked_jtis (jti, expires_at) VALUES (?, ?)
			ON CONFLICT (jti) DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)`,
			jti, encodeTime(expiresAt))
		if err != nil {
			return fmt.Errorf("store/sqlite: revoke jti: %w", classify(err))
		}
		return nil
	})
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
	return s.inTx(ctx, func(q dbtx) error {
		res, err := q.ExecContext(ctx, `INSERT INTO used_jtis (client_id, jti, expires_at) VALUES (?, ?, ?)
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
	})
}

// purge runs the DELETE statements (each taking now as its only
// parameter) in one transaction and returns the rows they removed; the
// statements of uncounted run after them and are not counted.
func (s *Store) purge(ctx context.Context, op string, now time.Time, counted, uncounted []string) (int64, error) {
	if err := store.CheckTime("now", now); err != nil {
		return 0, fmt.Errorf("store/sqlite: %s: %w", op, err)
	}
	var total int64
	err := s.inTx(ctx, func(tx dbtx) error {
		for _, q := range counted {
			res, err := tx.ExecContext(ctx, q, encodeTime(now))
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			total += n
		}
		for _, q := range uncounted {
			if _, err := tx.ExecContext(ctx, q, encodeTime(now)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store/sqlite: %s: %w", op, err)
	}
	return total, nil
}

// DeleteExpiredTokens removes expired token records and revoked JTIs.
func (s *Store) DeleteExpiredTokens(ctx context.Context, now time.Time) (int64, error) {
	return s.purge(ctx, "delete expired tokens", now, []string{
		`DELETE FROM tokens WHERE expires_at <= ?`,
		`DELETE FROM revoked_jtis WHERE expires_at <= ?`,
	}, nil)
}

// DeleteExpiredReplays removes expired used JTIs.
func (s *Store) DeleteExpiredReplays(ctx context.Context, now time.Time) (int64, error) {
	return s.purge(ctx, "delete expired replays", now, []string{`DELETE FROM used_jtis WHERE expires_at <= ?`}, nil)
}

// DeleteExpiredSessions removes expired sessions.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error) {
	return s.purge(ctx, "delete expired sessions", now, []string{`DELETE FROM sessions WHERE expires_at <= ?`}, nil)
}

// DeleteExpiredAuthCodes removes expired authorization codes, redeemed
// ones store.UsedAuthCodeRetention after their expiry.
func (s *Store) DeleteExpiredAuthCodes(ctx context.Context, now time.Time) (int64, error) {
	return s.purge(ctx, "delete expired authorization codes", now, []string{`DELETE FROM auth_codes WHERE expires_at <= ?1 - CASE WHEN used_at IS NULL THEN 0 ELSE ` +
		strconv.FormatInt(store.UsedAuthCodeRetention.Microseconds(), 10) + ` END`}, nil)
}

// DeleteExpiredRefreshTokens removes expired refresh tokens and the
// families past their absolute expiry, with their tokens.
func (s *Store) DeleteExpiredRefreshTokens(ctx context.Context, now time.Time) (int64, error) {
	return s.purge(ctx, "delete expired refresh tokens", now, []string{
		`DELETE FROM refresh_tokens WHERE expires_at <= ?1
			OR family_id IN (SELECT id FROM refresh_families WHERE expires_at <= ?1)`,
	}, []string{`DELETE FROM refresh_families WHERE expires_at <= ?`})
}

// DeleteExpired runs every DeleteExpired method and returns the sum.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time) (int64, error) {
	return store.DeleteAllExpired(ctx, s, now)
}

func checkJTI(jti string, expiresAt time.Time) error {
	if err := store.CheckID("jti", jti); err != nil {
		return err
	}
	return store.CheckExpiry("jti expiry", expiresAt)
}

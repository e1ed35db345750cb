package postgres

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/writ-dev/writ/internal/store"
)

// CreateToken stores an opaque token record.
func (s *Store) CreateToken(ctx context.Context, r store.TokenRecord) error {
	if err := r.Validate(); err != nil {
		return fmt.Errorf("store/postgres: create token: %w", classify(err))
	}
	if err := s.write(ctx, func(q writer) error { return insertToken(ctx, q, r) }); err != nil {
		return fmt.Errorf("store/postgres: create token: %w", classify(err))
	}
	return nil
}

// execer is a pool, a connection or a transaction.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// insertToken inserts a validated token record.
func insertToken(ctx context.Context, db execer, r store.TokenRecord) error {
	// A foreign-key violation (unknown client) fails the statement and is
	// classified as ErrNotFound; a duplicate hash inserts nothing.
	tag, err := db.Exec(ctx, `INSERT INTO tokens
		(hash, kind, client_id, subject, scopes, audience, issued_at, expires_at, revoked, extra)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		ON CONFLICT (hash) DO NOTHING`,
		r.Hash, r.Kind, r.ClientID, r.Subject, list(r.Scopes), list(r.Audience),
		r.IssuedAt, r.ExpiresAt, r.Revoked, nullBytes(r.Extra))
	if err != nil {
		return classify(err)
	}
	if tag.RowsAffected() == 0 {
		return store.ErrAlreadyExists
	}
	return nil
}

// GetToken returns the record with the given hash, or store.ErrNotFound.
func (s *Store) GetToken(ctx context.Context, hash []byte) (store.TokenRecord, error) {
	if len(hash) != sha256.Size {
		return store.TokenRecord{}, fmt.Errorf("store/postgres: get token: %w", store.ErrNotFound)
	}
	var r store.TokenRecord
	var extra []byte
	err := s.reads.QueryRow(ctx, `SELECT hash, kind, client_id, subject, scopes, audience,
		issued_at, expires_at, revoked, extra FROM tokens WHERE hash = $1`, hash).
		Scan(&r.Hash, &r.Kind, &r.ClientID, &r.Subject, &r.Scopes, &r.Audience,
			&r.IssuedAt, &r.ExpiresAt, &r.Revoked, &extra)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.TokenRecord{}, fmt.Errorf("store/postgres: get token: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.TokenRecord{}, fmt.Errorf("store/postgres: get token: %w", classify(err))
	}
	r.Scopes, r.Audience = nonEmptyList(r.Scopes), nonEmptyList(r.Audience)
	r.IssuedAt, r.ExpiresAt = r.IssuedAt.UTC(), r.ExpiresAt.UTC()
	r.Extra = nonEmpty(extra)
	return r, nil
}

// RevokeToken marks the record revoked; idempotent; store.ErrNotFound for
// an unknown hash.
func (s *Store) RevokeToken(ctx context.Context, hash []byte) error {
	if len(hash) != sha256.Size {
		return fmt.Errorf("store/postgres: revoke token: %w", store.ErrNotFound)
	}
	return s.write(ctx, func(q writer) error {
		tag, err := q.Exec(ctx, `UPDATE tokens SET revoked = true WHERE hash = $1`, hash)
		if err != nil {
			return fmt.Errorf("store/postgres: revoke token: %w", classify(err))
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("store/postgres: revoke token: %w", store.ErrNotFound)
		}
		return nil
	})
}

// RevokeJTI puts jti on the revocation list until expiresAt (keeping the
// later expiry if it is there already).
func (s *Store) RevokeJTI(ctx context.Context, jti string, expiresAt time.Time) error {
	if err := checkJTI(jti, expiresAt); err != nil {
		return fmt.Errorf("store/postgres: revoke jti: %w", classify(err))
	}
	return s.write(ctx, func(q writer) error {
		_, err := q.Exec(ctx, `INSERT INTO revoked_jtis (jti, expires_at) VALUES ($1, $2)
			ON CONFLICT (jti) DO UPDATE SET expires_at = GREATEST(revoked_jtis.expires_at, excluded.expires_at)`,
			jti, expiresAt)
		if err != nil {
			return fmt.Errorf("store/postgres: revoke jti: %w", classify(err))
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
	var revoked bool
	err := s.reads.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM revoked_jtis WHERE jti = $1)`, jti).Scan(&revoked)
	if err != nil {
		return false, fmt.Errorf("store/postgres: check jti: %w", classify(err))
	}
	return revoked, nil
}

// UseJTI records the single use of (clientID, jti); store.ErrAlreadyExists
// if it was used before.
func (s *Store) UseJTI(ctx context.Context, clientID, jti string, expiresAt time.Time) error {
	if err := store.CheckID("client ID", clientID); err != nil {
		return fmt.Errorf("store/postgres: use jti: %w", classify(err))
	}
	if err := checkJTI(jti, expiresAt); err != nil {
		return fmt.Errorf("store/postgres: use jti: %w", classify(err))
	}
	return s.write(ctx, func(q writer) error {
		tag, err := q.Exec(ctx, `INSERT INTO used_jtis (client_id, jti, expires_at) VALUES ($1, $2, $3)
			ON CONFLICT (client_id, jti) DO NOTHING`, clientID, jti, expiresAt)
		if err != nil {
			return fmt.Errorf("store/postgres: use jti: %w", classify(err))
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("store/postgres: use jti: %w", store.ErrAlreadyExists)
		}
		return nil
	})
}

// purge runs the statements (each taking now as its only parameter) in
// one transaction and returns the rows the DELETE statements of counted
// removed; the statements of uncounted run after them and are not counted.
func (s *Store) purge(ctx context.Context, op string, now time.Time, counted, uncounted []string) (int64, error) {
	if err := store.CheckTime("now", now); err != nil {
		return 0, fmt.Errorf("store/postgres: %s: %w", op, err)
	}
	var total int64
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		for _, q := range counted {
			tag, err := tx.Exec(ctx, q, now)
			if err != nil {
				return err
			}
			if tag.Delete() {
				total += tag.RowsAffected()
			}
		}
		for _, q := range uncounted {
			if _, err := tx.Exec(ctx, q, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store/postgres: %s: %w", op, err)
	}
	return total, nil
}

// DeleteExpiredTokens removes expired token records and revoked JTIs.
func (s *Store) DeleteExpiredTokens(ctx context.Context, now time.Time) (int64, error) {
	return s.purge(ctx, "delete expired tokens", now, []string{
		`DELETE FROM tokens WHERE expires_at <= $1`,
		`DELETE FROM revoked_jtis WHERE expires_at <= $1`,
	}, nil)
}

// DeleteExpiredReplays removes expired used JTIs.
func (s *Store) DeleteExpiredReplays(ctx context.Context, now time.Time) (int64, error) {
	return s.purge(ctx, "delete expired replays", now, []string{`DELETE FROM used_jtis WHERE expires_at <= $1`}, nil)
}

// DeleteExpiredSessions removes expired sessions.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error) {
	return s.purge(ctx, "delete expired sessions", now, []string{`DELETE FROM sessions WHERE expires_at <= $1`}, nil)
}

// DeleteExpiredAuthCodes removes expired authorization codes.
func (s *Store) DeleteExpiredAuthCodes(ctx context.Context, now time.Time) (int64, error) {
	return s.purge(ctx, "delete expired authorization codes", now, []string{`DELETE FROM auth_codes WHERE expires_at <= $1::timestamptz - CASE WHEN used_at IS NULL THEN interval '0' ELSE make_interval(secs => ` +
		strconv.FormatInt(int64(store.UsedAuthCodeRetention.Seconds()), 10) + `) END`}, nil)
}

// DeleteExpiredRefreshTokens removes expired refresh tokens and the
// families past their absolute expiry, with their tokens. The expired
// families are locked before their tokens, in the order rotations lock
// them (see refresh.go); families are not counted.
func (s *Store) DeleteExpiredRefreshTokens(ctx context.Context, now time.Time) (int64, error) {
	return s.purge(ctx, "delete expired refresh tokens", now, []string{
		`SELECT id FROM refresh_families WHERE expires_at <= $1 ORDER BY id FOR UPDATE`,
		`DELETE FROM refresh_tokens WHERE expires_at <= $1
			OR family_id IN (SELECT id FROM refresh_families WHERE expires_at <= $1)`,
	}, []string{`DELETE FROM refresh_families WHERE expires_at <= $1`})
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

package postgres

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/writ-dev/writ/internal/store"
)

const sessionColumns = `hash, id, user_id, auth_time, amr, acr, created_at, last_seen_at, expires_at`

const selectSession = `SELECT ` + sessionColumns + ` FROM sessions`

func scanSession(row pgx.Row) (store.Session, error) {
	var s store.Session
	err := row.Scan(&s.Hash, &s.ID, &s.UserID, &s.AuthTime, &s.AMR, &s.ACR, &s.CreatedAt, &s.LastSeenAt, &s.ExpiresAt)
	if err != nil {
		return store.Session{}, err
	}
	s.AMR = nonEmptyList(s.AMR)
	s.AuthTime, s.CreatedAt, s.LastSeenAt, s.ExpiresAt = s.AuthTime.UTC(), s.CreatedAt.UTC(), s.LastSeenAt.UTC(), s.ExpiresAt.UTC()
	return s, nil
}

// CreateSession stores a new session; store.ErrAlreadyExists if the hash
// or the ID is taken, store.ErrNotFound if the user does not exist.
func (s *Store) CreateSession(ctx context.Context, sess store.Session) error {
	if err := sess.Validate(); err != nil {
		return fmt.Errorf("store/postgres: create session: %w", classify(err))
	}
	// A duplicate hash or ID, or an unknown user, fails the statement and
	// is classified.
	return s.write(ctx, func(q writer) error {
		_, err := q.Exec(ctx, `INSERT INTO sessions (`+sessionColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			sess.Hash, sess.ID, sess.UserID, sess.AuthTime, list(sess.AMR), sess.ACR,
			sess.CreatedAt, sess.LastSeenAt, sess.ExpiresAt)
		if err != nil {
			return fmt.Errorf("store/postgres: create session: %w", classify(err))
		}
		return nil
	})
}

// GetSession returns the session with the given cookie hash, or
// store.ErrNotFound.
func (s *Store) GetSession(ctx context.Context, hash []byte) (store.Session, error) {
	if len(hash) != sha256.Size {
		return store.Session{}, fmt.Errorf("store/postgres: get session: %w", store.ErrNotFound)
	}
	sess, err := scanSession(s.reads.QueryRow(ctx, selectSession+` WHERE hash = $1`, hash))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Session{}, fmt.Errorf("store/postgres: get session: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.Session{}, fmt.Errorf("store/postgres: get session: %w", classify(err))
	}
	return sess, nil
}

// GetSessionByID returns the session with the given sid, or
// store.ErrNotFound.
func (s *Store) GetSessionByID(ctx context.Context, id string) (store.Session, error) {
	if store.CheckID("session ID", id) != nil {
		return store.Session{}, fmt.Errorf("store/postgres: get session by ID: %w", store.ErrNotFound)
	}
	sess, err := scanSession(s.reads.QueryRow(ctx, selectSession+` WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Session{}, fmt.Errorf("store/postgres: get session %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Session{}, fmt.Errorf("store/postgres: get session by ID: %w", classify(err))
	}
	return sess, nil
}

// TouchSession moves the session's LastSeenAt forward to lastSeen.
func (s *Store) TouchSession(ctx context.Context, hash []byte, lastSeen time.Time) error {
	if len(hash) != sha256.Size {
		return fmt.Errorf("store/postgres: touch session: %w", store.ErrNotFound)
	}
	if err := store.CheckExpiry("last-seen time", lastSeen); err != nil {
		return fmt.Errorf("store/postgres: touch session: %w", classify(err))
	}
	tag, err := s.pool.Exec(ctx, `UPDATE sessions SET last_seen_at = GREATEST(last_seen_at, $2) WHERE hash = $1`,
		hash, lastSeen)
	if err != nil {
		return fmt.Errorf("store/postgres: touch session: %w", classify(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("store/postgres: touch session: %w", store.ErrNotFound)
	}
	return nil
}

// DeleteSession removes the session and returns it, or returns
// store.ErrNotFound.
func (s *Store) DeleteSession(ctx context.Context, hash []byte) (store.Session, error) {
	if len(hash) != sha256.Size {
		return store.Session{}, fmt.Errorf("store/postgres: delete session: %w", store.ErrNotFound)
	}
	sess, err := scanSession(s.pool.QueryRow(ctx, `DELETE FROM sessions WHERE hash = $1 RETURNING `+sessionColumns, hash))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Session{}, fmt.Errorf("store/postgres: delete session: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.Session{}, fmt.Errorf("store/postgres: delete session: %w", classify(err))
	}
	return sess, nil
}

// DeleteUserSessions removes the user's sessions and returns them ordered
// by ID. The deletion commits only once every row has been read, so the
// caller learns of every session it ended.
func (s *Store) DeleteUserSessions(ctx context.Context, userID string) ([]store.Session, error) {
	if store.CheckID("user ID", userID) != nil {
		return nil, nil
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("store/postgres: delete user sessions: %w", classify(err))
	}
	defer rollback(ctx, tx)
	rows, err := tx.Query(ctx, `DELETE FROM sessions WHERE user_id = $1 RETURNING `+sessionColumns, userID)
	if err != nil {
		return nil, fmt.Errorf("store/postgres: delete user sessions: %w", classify(err))
	}
	var out []store.Session
	for rows.Next() {
		sess, err := scanSession(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("store/postgres: delete user sessions: %w", classify(err))
		}
		out = append(out, sess)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store/postgres: delete user sessions: %w", classify(err))
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("store/postgres: delete user sessions: %w", classify(err))
	}
	slices.SortFunc(out, func(a, b store.Session) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

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

const sessionColumns = `hash, id, user_id, auth_time, amr, acr, created_at, last_seen_at, expires_at`

const selectSession = `SELECT ` + sessionColumns + ` FROM sessions`

func scanSession(row scanner) (store.Session, error) {
	var (
		s                                  store.Session
		amr                                string
		auth, created, lastSeen, expiresAt int64
	)
	err := row.Scan(&s.Hash, &s.ID, &s.UserID, &auth, &amr, &s.ACR, &created, &lastSeen, &expiresAt)
	if err != nil {
		return store.Session{}, err
	}
	if s.AMR, err = decodeList(amr); err != nil {
		return store.Session{}, err
	}
	s.AuthTime, s.CreatedAt, s.LastSeenAt, s.ExpiresAt = decodeTime(auth), decodeTime(created), decodeTime(lastSeen), decodeTime(expiresAt)
	return s, nil
}

// CreateSession stores a new session; store.ErrAlreadyExists if the hash
// or the ID is taken, store.ErrNotFound if the user does not exist.
func (s *Store) CreateSession(ctx context.Context, sess store.Session) error {
	if err := sess.Validate(); err != nil {
		return fmt.Errorf("store/sqlite: create session: %w", err)
	}
	amr, err := encodeList(sess.AMR)
	if err != nil {
		return fmt.Errorf("store/sqlite: create session: %w", err)
	}
	// A duplicate hash or ID, or an unknown user, aborts the statement and
	// is classified.
	return s.inTx(ctx, func(q dbtx) error {
		_, err := q.ExecContext(ctx, `INSERT INTO sessions (`+sessionColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			sess.Hash, sess.ID, sess.UserID, encodeTime(sess.AuthTime), amr, sess.ACR,
			encodeTime(sess.CreatedAt), encodeTime(sess.LastSeenAt), encodeTime(sess.ExpiresAt))
		if err != nil {
			return fmt.Errorf("store/sqlite: create session: %w", classify(err))
		}
		return nil
	})
}

// GetSession returns the session with the given cookie hash, or
// store.ErrNotFound.
func (s *Store) GetSession(ctx context.Context, hash []byte) (store.Session, error) {
	if len(hash) != sha256.Size {
		return store.Session{}, fmt.Errorf("store/sqlite: get session: %w", store.ErrNotFound)
	}
	sess, err := scanSession(s.r.QueryRowContext(ctx, selectSession+` WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Session{}, fmt.Errorf("store/sqlite: get session: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.Session{}, fmt.Errorf("store/sqlite: get session: %w", classify(err))
	}
	return sess, nil
}

// GetSessionByID returns the session with the given sid, or
// store.ErrNotFound.
func (s *Store) GetSessionByID(ctx context.Context, id string) (store.Session, error) {
	if store.CheckID("session ID", id) != nil {
		return store.Session{}, fmt.Errorf("store/sqlite: get session by ID: %w", store.ErrNotFound)
	}
	sess, err := scanSession(s.r.QueryRowContext(ctx, selectSession+` WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Session{}, fmt.Errorf("store/sqlite: get session %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Session{}, fmt.Errorf("store/sqlite: get session by ID: %w", classify(err))
	}
	return sess, nil
}

// TouchSession moves the session's LastSeenAt forward to lastSeen.
func (s *Store) TouchSession(ctx context.Context, hash []byte, lastSeen time.Time) error {
	if len(hash) != sha256.Size {
		return fmt.Errorf("store/sqlite: touch session: %w", store.ErrNotFound)
	}
	if err := store.CheckExpiry("last-seen time", lastSeen); err != nil {
		return fmt.Errorf("store/sqlite: touch session: %w", err)
	}
	res, err := s.w.ExecContext(ctx, `UPDATE sessions SET last_seen_at = max(last_seen_at, ?) WHERE hash = ?`,
		encodeTime(lastSeen), hash)
	if err != nil {
		return fmt.Errorf("store/sqlite: touch session: %w", classify(err))
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store/sqlite: touch session: %w", err)
	} else if n == 0 {
		return fmt.Errorf("store/sqlite: touch session: %w", store.ErrNotFound)
	}
	return nil
}

// DeleteSession removes the session and returns it, or returns
// store.ErrNotFound.
func (s *Store) DeleteSession(ctx context.Context, hash []byte) (store.Session, error) {
	if len(hash) != sha256.Size {
		return store.Session{}, fmt.Errorf("store/sqlite: delete session: %w", store.ErrNotFound)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return store.Session{}, fmt.Errorf("store/sqlite: delete session: %w", classify(err))
	}
	defer rollback(tx)
	sess, err := scanSession(tx.QueryRowContext(ctx, `DELETE FROM sessions WHERE hash = ? RETURNING `+sessionColumns, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Session{}, fmt.Errorf("store/sqlite: delete session: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.Session{}, fmt.Errorf("store/sqlite: delete session: %w", classify(err))
	}
	if err := tx.Commit(); err != nil {
		return store.Session{}, fmt.Errorf("store/sqlite: delete session: %w", classify(err))
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
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("store/sqlite: delete user sessions: %w", classify(err))
	}
	defer rollback(tx)
	out, err := collectSessions(tx.QueryContext(ctx, selectSession+` WHERE user_id = ? ORDER BY id`, userID))
	if err != nil {
		return nil, fmt.Errorf("store/sqlite: delete user sessions: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ?`, userID); err != nil {
		return nil, fmt.Errorf("store/sqlite: delete user sessions: %w", classify(err))
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("store/sqlite: delete user sessions: %w", classify(err))
	}
	return out, nil
}

func collectSessions(rows *sql.Rows, err error) ([]store.Session, error) {
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	var out []store.Session
	for rows.Next() {
		sess, err := scanSession(rows)
		if err != nil {
			return nil, classify(err)
		}
		out = append(out, sess)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(err)
	}
	return out, nil
}

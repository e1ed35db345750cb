package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/writ-dev/writ/internal/store"
)

const selectConsent = `SELECT user_id, client_id, scopes, granted_at, updated_at FROM consents`

func scanConsent(row scanner) (store.Consent, error) {
	var (
		c                store.Consent
		scopes           string
		granted, updated int64
	)
	if err := row.Scan(&c.UserID, &c.ClientID, &scopes, &granted, &updated); err != nil {
		return store.Consent{}, err
	}
	var err error
	if c.Scopes, err = decodeList(scopes); err != nil {
		return store.Consent{}, err
	}
	c.GrantedAt, c.UpdatedAt = decodeTime(granted), decodeTime(updated)
	return c, nil
}

// GetConsent returns the user's consent to the client, or
// store.ErrNotFound.
func (s *Store) GetConsent(ctx context.Context, userID, clientID string) (store.Consent, error) {
	if store.CheckID("user ID", userID) != nil || store.CheckID("client ID", clientID) != nil {
		return store.Consent{}, fmt.Errorf("store/sqlite: get consent: %w", store.ErrNotFound)
	}
	c, err := scanConsent(s.r.QueryRowContext(ctx, selectConsent+` WHERE user_id = ? AND client_id = ?`, userID, clientID))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Consent{}, fmt.Errorf("store/sqlite: get consent of user %q to client %q: %w", userID, clientID, store.ErrNotFound)
	}
	if err != nil {
		return store.Consent{}, fmt.Errorf("store/sqlite: get consent: %w", classify(err))
	}
	return c, nil
}

// PutConsent inserts the consent or replaces the scopes and update time of
// the existing one, keeping its grant time.
func (s *Store) PutConsent(ctx context.Context, c store.Consent) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("store/sqlite: put consent: %w", err)
	}
	scopes, err := encodeList(c.Scopes)
	if err != nil {
		return fmt.Errorf("store/sqlite: put consent: %w", err)
	}
	// An unknown user or client is a foreign-key violation, classified as
	// ErrNotFound.
	return s.inTx(ctx, func(q dbtx) error {
		_, err := q.ExecContext(ctx, `INSERT INTO consents (user_id, client_id, scopes, granted_at, updated_at)
			VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (user_id, client_id) DO UPDATE SET scopes = excluded.scopes, updated_at = excluded.updated_at`,
			c.UserID, c.ClientID, scopes, encodeTime(c.GrantedAt), encodeTime(c.UpdatedAt))
		if err != nil {
			return fmt.Errorf("store/sqlite: put consent: %w", classify(err))
		}
		return nil
	})
}

// UpdateConsent applies fn to the consent in one BEGIN IMMEDIATE
// transaction and stores the result.
func (s *Store) UpdateConsent(ctx context.Context, userID, clientID string, fn func(store.Consent, bool) (store.Consent, error)) (store.Consent, error) {
	const op = "store/sqlite: update consent"
	if store.CheckID("user ID", userID) != nil || store.CheckID("client ID", clientID) != nil {
		return store.Consent{}, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	var c store.Consent
	err := s.inTx(ctx, func(tx dbtx) error {
		old, err := scanConsent(tx.QueryRowContext(ctx, selectConsent+` WHERE user_id = ? AND client_id = ?`, userID, clientID))
		found := err == nil
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if c, err = fn(old, found); err != nil {
			return fmt.Errorf("%w", err)
		}
		if c.UserID != userID || c.ClientID != clientID {
			return fmt.Errorf("%w: the user and client of a consent cannot change", store.ErrInvalid)
		}
		if err := c.Validate(); err != nil {
			return err
		}
		scopes, err := encodeList(c.Scopes)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO consents (user_id, client_id, scopes, granted_at, updated_at)
			VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (user_id, client_id) DO UPDATE SET scopes = excluded.scopes,
				granted_at = excluded.granted_at, updated_at = excluded.updated_at`,
			c.UserID, c.ClientID, scopes, encodeTime(c.GrantedAt), encodeTime(c.UpdatedAt))
		return err
	})
	if err != nil {
		return store.Consent{}, fmt.Errorf("%s: %w", op, err)
	}
	return s.GetConsent(ctx, userID, clientID)
}

// DeleteConsent removes the user's consent to the client, or returns
// store.ErrNotFound.
func (s *Store) DeleteConsent(ctx context.Context, userID, clientID string) error {
	if store.CheckID("user ID", userID) != nil || store.CheckID("client ID", clientID) != nil {
		return fmt.Errorf("store/sqlite: delete consent: %w", store.ErrNotFound)
	}
	return s.inTx(ctx, func(q dbtx) error {
		res, err := q.ExecContext(ctx, `DELETE FROM consents WHERE user_id = ? AND client_id = ?`, userID, clientID)
		if err != nil {
			return fmt.Errorf("store/sqlite: delete consent: %w", classify(err))
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("store/sqlite: delete consent: %w", err)
		} else if n == 0 {
			return fmt.Errorf("store/sqlite: delete consent of user %q to client %q: %w", userID, clientID, store.ErrNotFound)
		}
		return nil
	})
}

// ListUserConsents returns the user's consents ordered by client ID.
func (s *Store) ListUserConsents(ctx context.Context, userID string) ([]store.Consent, error) {
	if store.CheckID("user ID", userID) != nil {
		return nil, nil
	}
	rows, err := s.r.QueryContext(ctx, selectConsent+` WHERE user_id = ? ORDER BY client_id`, userID)
	if err != nil {
		return nil, fmt.Errorf("store/sqlite: list user consents: %w", classify(err))
	}
	defer rows.Close()
	var out []store.Consent
	for rows.Next() {
		c, err := scanConsent(rows)
		if err != nil {
			return nil, fmt.Errorf("store/sqlite: list user consents: %w", classify(err))
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store/sqlite: list user consents: %w", classify(err))
	}
	return out, nil
}

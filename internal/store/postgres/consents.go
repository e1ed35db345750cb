package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/writ-dev/writ/internal/store"
)

const selectConsent = `SELECT user_id, client_id, scopes, granted_at, updated_at FROM consents`

func scanConsent(row pgx.Row) (store.Consent, error) {
	var c store.Consent
	if err := row.Scan(&c.UserID, &c.ClientID, &c.Scopes, &c.GrantedAt, &c.UpdatedAt); err != nil {
		return store.Consent{}, err
	}
	c.Scopes = nonEmptyList(c.Scopes)
	c.GrantedAt, c.UpdatedAt = c.GrantedAt.UTC(), c.UpdatedAt.UTC()
	return c, nil
}

// GetConsent returns the user's consent to the client, or
// store.ErrNotFound.
func (s *Store) GetConsent(ctx context.Context, userID, clientID string) (store.Consent, error) {
	if store.CheckID("user ID", userID) != nil || store.CheckID("client ID", clientID) != nil {
		return store.Consent{}, fmt.Errorf("store/postgres: get consent: %w", store.ErrNotFound)
	}
	c, err := scanConsent(s.reads.QueryRow(ctx, selectConsent+` WHERE user_id = $1 AND client_id = $2`, userID, clientID))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Consent{}, fmt.Errorf("store/postgres: get consent of user %q to client %q: %w", userID, clientID, store.ErrNotFound)
	}
	if err != nil {
		return store.Consent{}, fmt.Errorf("store/postgres: get consent: %w", classify(err))
	}
	return c, nil
}

// PutConsent inserts the consent or replaces the scopes and update time of
// the existing one, keeping its grant time.
func (s *Store) PutConsent(ctx context.Context, c store.Consent) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("store/postgres: put consent: %w", classify(err))
	}
	// An unknown user or client is a foreign-key violation, classified as
	// ErrNotFound.
	return s.write(ctx, func(q writer) error {
		_, err := q.Exec(ctx, `INSERT INTO consents (user_id, client_id, scopes, granted_at, updated_at)
			VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (user_id, client_id) DO UPDATE SET scopes = excluded.scopes, updated_at = excluded.updated_at`,
			c.UserID, c.ClientID, list(c.Scopes), c.GrantedAt, c.UpdatedAt)
		if err != nil {
			return fmt.Errorf("store/postgres: put consent: %w", classify(err))
		}
		return nil
	})
}

// UpdateConsent applies fn to the consent in one transaction with its row
// locked and stores the result. A consent not there yet is inserted empty
// first (ON CONFLICT DO NOTHING), so that concurrent first consents queue
// on its row too.
func (s *Store) UpdateConsent(ctx context.Context, userID, clientID string, fn func(store.Consent, bool) (store.Consent, error)) (store.Consent, error) {
	const op = "store/postgres: update consent"
	if store.CheckID("user ID", userID) != nil || store.CheckID("client ID", clientID) != nil {
		return store.Consent{}, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	var c store.Consent
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO consents (user_id, client_id, scopes, granted_at, updated_at)
			VALUES ($1, $2, '{}', 'epoch', 'epoch') ON CONFLICT (user_id, client_id) DO NOTHING`, userID, clientID)
		if err != nil {
			return err
		}
		found := tag.RowsAffected() == 0
		old, err := scanConsent(tx.QueryRow(ctx, selectConsent+` WHERE user_id = $1 AND client_id = $2 FOR UPDATE`, userID, clientID))
		if err != nil {
			return err
		}
		if !found {
			old = store.Consent{}
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
		_, err = tx.Exec(ctx, `UPDATE consents SET scopes = $3, granted_at = $4, updated_at = $5
			WHERE user_id = $1 AND client_id = $2`, userID, clientID, list(c.Scopes), c.GrantedAt, c.UpdatedAt)
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
		return fmt.Errorf("store/postgres: delete consent: %w", store.ErrNotFound)
	}
	return s.write(ctx, func(q writer) error {
		tag, err := q.Exec(ctx, `DELETE FROM consents WHERE user_id = $1 AND client_id = $2`, userID, clientID)
		if err != nil {
			return fmt.Errorf("store/postgres: delete consent: %w", classify(err))
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("store/postgres: delete consent of user %q to client %q: %w", userID, clientID, store.ErrNotFound)
		}
		return nil
	})
}

// ListUserConsents returns the user's consents ordered by client ID (byte
// order: the column is COLLATE "C").
func (s *Store) ListUserConsents(ctx context.Context, userID string) ([]store.Consent, error) {
	if store.CheckID("user ID", userID) != nil {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, selectConsent+` WHERE user_id = $1 ORDER BY client_id`, userID)
	if err != nil {
		return nil, fmt.Errorf("store/postgres: list user consents: %w", classify(err))
	}
	defer rows.Close()
	var out []store.Consent
	for rows.Next() {
		c, err := scanConsent(rows)
		if err != nil {
			return nil, fmt.Errorf("store/postgres: list user consents: %w", classify(err))
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store/postgres: list user consents: %w", classify(err))
	}
	return out, nil
}

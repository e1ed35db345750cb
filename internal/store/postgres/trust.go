package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/internal/recjson"
)

const trustColumns = `issuer, jwks, jwks_uri, uses, rules, created_at, updated_at`

func scanTrustedIssuer(row pgx.Row) (store.TrustedIssuer, error) {
	var (
		t     store.TrustedIssuer
		rules []byte
	)
	if err := row.Scan(&t.Issuer, &t.JWKS, &t.JWKSURI, &t.Uses, &rules, &t.CreatedAt, &t.UpdatedAt); err != nil {
		return store.TrustedIssuer{}, err
	}
	var err error
	if t.Rules, err = recjson.DecodeRules(rules); err != nil {
		return store.TrustedIssuer{}, err
	}
	t.JWKS, t.Uses = nonEmpty(t.JWKS), nonEmptyList(t.Uses)
	t.CreatedAt, t.UpdatedAt = t.CreatedAt.UTC(), t.UpdatedAt.UTC()
	return t, nil
}

// PutTrustedIssuer creates or replaces an issuer; a replacement keeps the
// stored CreatedAt.
func (s *Store) PutTrustedIssuer(ctx context.Context, t store.TrustedIssuer) error {
	if err := t.Validate(); err != nil {
		return fmt.Errorf("store/postgres: put trusted issuer: %w", classify(err))
	}
	rules, err := recjson.EncodeRules(t.Rules)
	if err != nil {
		return fmt.Errorf("store/postgres: put trusted issuer: %w", classify(err))
	}
	return s.write(ctx, func(q writer) error {
		if _, err := q.Exec(ctx, `INSERT INTO trusted_issuers (`+trustColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (issuer) DO UPDATE SET jwks = excluded.jwks, jwks_uri = excluded.jwks_uri,
			uses = excluded.uses, rules = excluded.rules, updated_at = excluded.updated_at`,
			t.Issuer, nullBytes(t.JWKS), t.JWKSURI, list(t.Uses), string(rules), t.CreatedAt, t.UpdatedAt); err != nil {
			return fmt.Errorf("store/postgres: put trusted issuer: %w", classify(err))
		}
		return nil
	})
}

// GetTrustedIssuer returns one issuer, or store.ErrNotFound.
func (s *Store) GetTrustedIssuer(ctx context.Context, issuer string) (store.TrustedIssuer, error) {
	if store.CheckIssuer(issuer) != nil {
		return store.TrustedIssuer{}, fmt.Errorf("store/postgres: get trusted issuer: %w", store.ErrNotFound)
	}
	t, err := scanTrustedIssuer(s.pool.QueryRow(ctx, `SELECT `+trustColumns+` FROM trusted_issuers WHERE issuer = $1`, issuer))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.TrustedIssuer{}, fmt.Errorf("store/postgres: get trusted issuer %q: %w", issuer, store.ErrNotFound)
	}
	if err != nil {
		return store.TrustedIssuer{}, fmt.Errorf("store/postgres: get trusted issuer: %w", classify(err))
	}
	return t, nil
}

// ListTrustedIssuers returns them all, ordered by Issuer (byte order: the
// column is COLLATE "C").
func (s *Store) ListTrustedIssuers(ctx context.Context) ([]store.TrustedIssuer, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+trustColumns+` FROM trusted_issuers ORDER BY issuer`)
	if err != nil {
		return nil, fmt.Errorf("store/postgres: list trusted issuers: %w", classify(err))
	}
	defer rows.Close()
	var out []store.TrustedIssuer
	for rows.Next() {
		t, err := scanTrustedIssuer(rows)
		if err != nil {
			return nil, fmt.Errorf("store/postgres: list trusted issuers: %w", classify(err))
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store/postgres: list trusted issuers: %w", classify(err))
	}
	return out, nil
}

// DeleteTrustedIssuer removes one, or returns store.ErrNotFound.
func (s *Store) DeleteTrustedIssuer(ctx context.Context, issuer string) error {
	if store.CheckIssuer(issuer) != nil {
		return fmt.Errorf("store/postgres: delete trusted issuer: %w", store.ErrNotFound)
	}
	return s.write(ctx, func(q writer) error {
		tag, err := q.Exec(ctx, `DELETE FROM trusted_issuers WHERE issuer = $1`, issuer)
		if err != nil {
			return fmt.Errorf("store/postgres: delete trusted issuer: %w", classify(err))
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("store/postgres: delete trusted issuer %q: %w", issuer, store.ErrNotFound)
		}
		return nil
	})
}

package postgres

import (
	"context"
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

// trustValues are an issuer's column values, in trustColumns' order.
func trustValues(t store.TrustedIssuer) ([]any, error) {
	rules, err := recjson.EncodeRules(t.Rules)
	if err != nil {
		return nil, err
	}
	return []any{t.Issuer, nullBytes(t.JWKS), t.JWKSURI, list(t.Uses), string(rules), t.CreatedAt, t.UpdatedAt}, nil
}

const (
	insertTrusted = `INSERT INTO trusted_issuers (` + trustColumns + `) VALUES ($1, $2, $3, $4, $5, $6, $7)`
	// upsertTrusted makes insertTrusted replace an existing issuer,
	// keeping its created_at.
	upsertTrusted = `
		ON CONFLICT (issuer) DO UPDATE SET jwks = excluded.jwks, jwks_uri = excluded.jwks_uri,
		uses = excluded.uses, rules = excluded.rules, updated_at = excluded.updated_at`
	selectTrusted = `SELECT ` + trustColumns + ` FROM trusted_issuers WHERE issuer = $1`
)

// trustTable is trusted_issuers, keyed by issuer.
func trustTable() keyedTable[store.TrustedIssuer] {
	return keyedTable[store.TrustedIssuer]{
		what: "trusted issuer", keyName: "issuer",
		checkKey: store.CheckIssuer,
		key:      func(r store.TrustedIssuer) string { return r.Issuer },
		scan:     scanTrustedIssuer, values: trustValues, columns: trustColumns,
		insert: insertTrusted, upsert: upsertTrusted, sel: selectTrusted,
	}
}

// PutTrustedIssuer creates or replaces an issuer; a replacement keeps the
// stored CreatedAt.
func (s *Store) PutTrustedIssuer(ctx context.Context, t store.TrustedIssuer) error {
	return trustTable().put(ctx, s, t)
}

// CreateTrustedIssuer stores a new issuer, or returns
// store.ErrAlreadyExists.
func (s *Store) CreateTrustedIssuer(ctx context.Context, t store.TrustedIssuer) error {
	return trustTable().create(ctx, s, t)
}

// UpdateTrustedIssuer replaces the issuer with fn's result in one
// transaction holding its row, keeping the stored CreatedAt.
func (s *Store) UpdateTrustedIssuer(ctx context.Context, issuer string, fn func(store.TrustedIssuer) (store.TrustedIssuer, error)) (store.TrustedIssuer, error) {
	return trustTable().update(ctx, s, issuer, fn)
}

// GetTrustedIssuer returns one issuer, or store.ErrNotFound.
func (s *Store) GetTrustedIssuer(ctx context.Context, issuer string) (store.TrustedIssuer, error) {
	return trustTable().get(ctx, s, issuer)
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

package sqlite

import (
	"context"
	"fmt"

	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/internal/recjson"
)

const trustColumns = `issuer, jwks, jwks_uri, uses, rules, created_at, updated_at`

func scanTrustedIssuer(row scanner) (store.TrustedIssuer, error) {
	var (
		t                store.TrustedIssuer
		jwks             []byte
		uses, rules      string
		created, updated int64
	)
	if err := row.Scan(&t.Issuer, &jwks, &t.JWKSURI, &uses, &rules, &created, &updated); err != nil {
		return store.TrustedIssuer{}, err
	}
	var err error
	if t.Uses, err = decodeList(uses); err != nil {
		return store.TrustedIssuer{}, err
	}
	if t.Rules, err = recjson.DecodeRules([]byte(rules)); err != nil {
		return store.TrustedIssuer{}, err
	}
	t.JWKS, t.CreatedAt, t.UpdatedAt = nonEmpty(jwks), decodeTime(created), decodeTime(updated)
	return t, nil
}

// trustValues are an issuer's column values, in trustColumns' order.
func trustValues(t store.TrustedIssuer) ([]any, error) {
	uses, err := encodeList(t.Uses)
	if err != nil {
		return nil, err
	}
	rules, err := recjson.EncodeRules(t.Rules)
	if err != nil {
		return nil, err
	}
	return []any{t.Issuer, nullBytes(t.JWKS), t.JWKSURI, uses, string(rules),
		encodeTime(t.CreatedAt), encodeTime(t.UpdatedAt)}, nil
}

const (
	insertTrusted = `INSERT INTO trusted_issuers (` + trustColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?)`
	// upsertTrusted makes insertTrusted replace an existing issuer,
	// keeping its created_at.
	upsertTrusted = `
		ON CONFLICT (issuer) DO UPDATE SET jwks = excluded.jwks, jwks_uri = excluded.jwks_uri,
		uses = excluded.uses, rules = excluded.rules, updated_at = excluded.updated_at`
	selectTrusted = `SELECT ` + trustColumns + ` FROM trusted_issuers WHERE issuer = ?`
)

// trustTable is trusted_issuers, keyed by issuer.
func trustTable() keyedTable[store.TrustedIssuer] {
	return keyedTable[store.TrustedIssuer]{
		what: "trusted issuer", keyName: "issuer",
		checkKey: store.CheckIssuer,
		key:      func(t store.TrustedIssuer) string { return t.Issuer },
		scan:     scanTrustedIssuer, values: trustValues,
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
// transaction on the writer, keeping the stored CreatedAt.
func (s *Store) UpdateTrustedIssuer(ctx context.Context, issuer string, fn func(store.TrustedIssuer) (store.TrustedIssuer, error)) (store.TrustedIssuer, error) {
	return trustTable().update(ctx, s, issuer, fn)
}

// GetTrustedIssuer returns one issuer, or store.ErrNotFound.
func (s *Store) GetTrustedIssuer(ctx context.Context, issuer string) (store.TrustedIssuer, error) {
	return trustTable().get(ctx, s, issuer)
}

// ListTrustedIssuers returns them all, ordered by Issuer (byte order).
func (s *Store) ListTrustedIssuers(ctx context.Context) ([]store.TrustedIssuer, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+trustColumns+` FROM trusted_issuers ORDER BY issuer`)
	if err != nil {
		return nil, fmt.Errorf("store/sqlite: list trusted issuers: %w", classify(err))
	}
	defer rows.Close()
	var out []store.TrustedIssuer
	for rows.Next() {
		t, err := scanTrustedIssuer(rows)
		if err != nil {
			return nil, fmt.Errorf("store/sqlite: list trusted issuers: %w", classify(err))
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store/sqlite: list trusted issuers: %w", classify(err))
	}
	return out, nil
}

// DeleteTrustedIssuer removes one, or returns store.ErrNotFound.
func (s *Store) DeleteTrustedIssuer(ctx context.Context, issuer string) error {
	if store.CheckIssuer(issuer) != nil {
		return fmt.Errorf("store/sqlite: delete trusted issuer: %w", store.ErrNotFound)
	}
	return s.inTx(ctx, func(q dbtx) error {
		res, err := q.ExecContext(ctx, `DELETE FROM trusted_issuers WHERE issuer = ?`, issuer)
		if err != nil {
			return fmt.Errorf("store/sqlite: delete trusted issuer: %w", classify(err))
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("store/sqlite: delete trusted issuer: %w", err)
		} else if n == 0 {
			return fmt.Errorf("store/sqlite: delete trusted issuer %q: %w", issuer, store.ErrNotFound)
		}
		return nil
	})
}

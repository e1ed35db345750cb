package sqlite

import (
	"context"
	"database/sql"
	"errors"
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

// PutTrustedIssuer creates or replaces an issuer; a replacement keeps the
// stored CreatedAt.
func (s *Store) PutTrustedIssuer(ctx context.Context, t store.TrustedIssuer) error {
	if err := t.Validate(); err != nil {
		return fmt.Errorf("store/sqlite: put trusted issuer: %w", err)
	}
	uses, err := encodeList(t.Uses)
	if err != nil {
		return fmt.Errorf("store/sqlite: put trusted issuer: %w", err)
	}
	rules, err := recjson.EncodeRules(t.Rules)
	if err != nil {
		return fmt.Errorf("store/sqlite: put trusted issuer: %w", err)
	}
	return s.write(ctx, func(q dbtx) error {
		if _, err := q.ExecContext(ctx, `INSERT INTO trusted_issuers (`+trustColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (issuer) DO UPDATE SET jwks = excluded.jwks, jwks_uri = excluded.jwks_uri,
			uses = excluded.uses, rules = excluded.rules, updated_at = excluded.updated_at`,
			t.Issuer, nullBytes(t.JWKS), t.JWKSURI, uses, string(rules),
			encodeTime(t.CreatedAt), encodeTime(t.UpdatedAt)); err != nil {
			return fmt.Errorf("store/sqlite: put trusted issuer: %w", classify(err))
		}
		return nil
	})
}

// GetTrustedIssuer returns one issuer, or store.ErrNotFound.
func (s *Store) GetTrustedIssuer(ctx context.Context, issuer string) (store.TrustedIssuer, error) {
	if store.CheckIssuer(issuer) != nil {
		return store.TrustedIssuer{}, fmt.Errorf("store/sqlite: get trusted issuer: %w", store.ErrNotFound)
	}
	t, err := scanTrustedIssuer(s.r.QueryRowContext(ctx, `SELECT `+trustColumns+` FROM trusted_issuers WHERE issuer = ?`, issuer))
	if errors.Is(err, sql.ErrNoRows) {
		return store.TrustedIssuer{}, fmt.Errorf("store/sqlite: get trusted issuer %q: %w", issuer, store.ErrNotFound)
	}
	if err != nil {
		return store.TrustedIssuer{}, fmt.Errorf("store/sqlite: get trusted issuer: %w", classify(err))
	}
	return t, nil
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
	return s.write(ctx, func(q dbtx) error {
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

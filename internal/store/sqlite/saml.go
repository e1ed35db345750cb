package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/internal/recjson"
)

const samlColumns = `entity_id, name, config, metadata, created_at, updated_at`

func scanSAMLServiceProvider(row scanner) (store.SAMLServiceProvider, error) {
	var (
		sp               store.SAMLServiceProvider
		config           string
		metadata         []byte
		created, updated int64
	)
	if err := row.Scan(&sp.EntityID, &sp.Name, &config, &metadata, &created, &updated); err != nil {
		return store.SAMLServiceProvider{}, err
	}
	if err := recjson.DecodeSAMLConfig([]byte(config), &sp); err != nil {
		return store.SAMLServiceProvider{}, err
	}
	sp.Metadata, sp.CreatedAt, sp.UpdatedAt = nonEmpty(metadata), decodeTime(created), decodeTime(updated)
	return sp, nil
}

// PutSAMLServiceProvider creates or replaces an SP; a replacement keeps
// the stored CreatedAt.
func (s *Store) PutSAMLServiceProvider(ctx context.Context, sp store.SAMLServiceProvider) error {
	if err := sp.Validate(); err != nil {
		return fmt.Errorf("store/sqlite: put saml service provider: %w", err)
	}
	config, err := recjson.EncodeSAMLConfig(sp)
	if err != nil {
		return fmt.Errorf("store/sqlite: put saml service provider: %w", err)
	}
	return s.write(ctx, func(q dbtx) error {
		if _, err := q.ExecContext(ctx, `INSERT INTO saml_service_providers (`+samlColumns+`)
			VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (entity_id) DO UPDATE SET name = excluded.name, config = excluded.config,
			metadata = excluded.metadata, updated_at = excluded.updated_at`,
			sp.EntityID, sp.Name, string(config), nullBytes(sp.Metadata),
			encodeTime(sp.CreatedAt), encodeTime(sp.UpdatedAt)); err != nil {
			return fmt.Errorf("store/sqlite: put saml service provider: %w", classify(err))
		}
		return nil
	})
}

// GetSAMLServiceProvider returns one SP, or store.ErrNotFound.
func (s *Store) GetSAMLServiceProvider(ctx context.Context, entityID string) (store.SAMLServiceProvider, error) {
	if store.CheckSAMLEntityID(entityID) != nil {
		return store.SAMLServiceProvider{}, fmt.Errorf("store/sqlite: get saml service provider: %w", store.ErrNotFound)
	}
	sp, err := scanSAMLServiceProvider(s.r.QueryRowContext(ctx, `SELECT `+samlColumns+` FROM saml_service_providers WHERE entity_id = ?`, entityID))
	if errors.Is(err, sql.ErrNoRows) {
		return store.SAMLServiceProvider{}, fmt.Errorf("store/sqlite: get saml service provider %q: %w", entityID, store.ErrNotFound)
	}
	if err != nil {
		return store.SAMLServiceProvider{}, fmt.Errorf("store/sqlite: get saml service provider: %w", classify(err))
	}
	return sp, nil
}

// ListSAMLServiceProviders returns them all, ordered by entity ID (byte
// order).
func (s *Store) ListSAMLServiceProviders(ctx context.Context) ([]store.SAMLServiceProvider, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+samlColumns+` FROM saml_service_providers ORDER BY entity_id`)
	if err != nil {
		return nil, fmt.Errorf("store/sqlite: list saml service providers: %w", classify(err))
	}
	defer rows.Close()
	var out []store.SAMLServiceProvider
	for rows.Next() {
		sp, err := scanSAMLServiceProvider(rows)
		if err != nil {
			return nil, fmt.Errorf("store/sqlite: list saml service providers: %w", classify(err))
		}
		out = append(out, sp)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store/sqlite: list saml service providers: %w", classify(err))
	}
	return out, nil
}

// DeleteSAMLServiceProvider removes one, or returns store.ErrNotFound.
func (s *Store) DeleteSAMLServiceProvider(ctx context.Context, entityID string) error {
	if store.CheckSAMLEntityID(entityID) != nil {
		return fmt.Errorf("store/sqlite: delete saml service provider: %w", store.ErrNotFound)
	}
	return s.write(ctx, func(q dbtx) error {
		res, err := q.ExecContext(ctx, `DELETE FROM saml_service_providers WHERE entity_id = ?`, entityID)
		if err != nil {
			return fmt.Errorf("store/sqlite: delete saml service provider: %w", classify(err))
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("store/sqlite: delete saml service provider: %w", err)
		} else if n == 0 {
			return fmt.Errorf("store/sqlite: delete saml service provider %q: %w", entityID, store.ErrNotFound)
		}
		return nil
	})
}

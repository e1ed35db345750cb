package sqlite

import (
	"context"
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

// samlValues are an SP's column values, in samlColumns' order.
func samlValues(sp store.SAMLServiceProvider) ([]any, error) {
	config, err := recjson.EncodeSAMLConfig(sp)
	if err != nil {
		return nil, err
	}
	return []any{sp.EntityID, sp.Name, string(config), nullBytes(sp.Metadata),
		encodeTime(sp.CreatedAt), encodeTime(sp.UpdatedAt)}, nil
}

const (
	insertSAML = `INSERT INTO saml_service_providers (` + samlColumns + `) VALUES (?, ?, ?, ?, ?, ?)`
	// upsertSAML makes insertSAML replace an existing SP, keeping its
	// created_at.
	upsertSAML = `
		ON CONFLICT (entity_id) DO UPDATE SET name = excluded.name, config = excluded.config,
		metadata = excluded.metadata, updated_at = excluded.updated_at`
	selectSAML = `SELECT ` + samlColumns + ` FROM saml_service_providers WHERE entity_id = ?`
)

// samlTable is saml_service_providers, keyed by entity ID.
func samlTable() keyedTable[store.SAMLServiceProvider] {
	return keyedTable[store.SAMLServiceProvider]{
		what: "saml service provider", keyName: "entity ID",
		checkKey: store.CheckSAMLEntityID,
		key:      func(sp store.SAMLServiceProvider) string { return sp.EntityID },
		scan:     scanSAMLServiceProvider, values: samlValues,
		insert: insertSAML, upsert: upsertSAML, sel: selectSAML,
	}
}

// PutSAMLServiceProvider creates or replaces an SP; a replacement keeps
// the stored CreatedAt.
func (s *Store) PutSAMLServiceProvider(ctx context.Context, sp store.SAMLServiceProvider) error {
	return samlTable().put(ctx, s, sp)
}

// CreateSAMLServiceProvider stores a new SP, or returns
// store.ErrAlreadyExists.
func (s *Store) CreateSAMLServiceProvider(ctx context.Context, sp store.SAMLServiceProvider) error {
	return samlTable().create(ctx, s, sp)
}

// UpdateSAMLServiceProvider replaces the SP entityID with fn's result in
// one transaction on the writer, keeping the stored CreatedAt.
func (s *Store) UpdateSAMLServiceProvider(ctx context.Context, entityID string, fn func(store.SAMLServiceProvider) (store.SAMLServiceProvider, error)) (store.SAMLServiceProvider, error) {
	return samlTable().update(ctx, s, entityID, fn)
}

// GetSAMLServiceProvider returns one SP, or store.ErrNotFound.
func (s *Store) GetSAMLServiceProvider(ctx context.Context, entityID string) (store.SAMLServiceProvider, error) {
	return samlTable().get(ctx, s, entityID)
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
	return s.inTx(ctx, func(q dbtx) error {
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

package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/internal/recjson"
	"github.com/writ-dev/writ/internal/store/internal/txn"
)

const samlColumns = `entity_id, name, config, metadata, created_at, updated_at`

func scanSAMLServiceProvider(row pgx.Row) (store.SAMLServiceProvider, error) {
	var (
		sp     store.SAMLServiceProvider
		config []byte
	)
	if err := row.Scan(&sp.EntityID, &sp.Name, &config, &sp.Metadata, &sp.CreatedAt, &sp.UpdatedAt); err != nil {
		return store.SAMLServiceProvider{}, err
	}
	if err := recjson.DecodeSAMLConfig(config, &sp); err != nil {
		return store.SAMLServiceProvider{}, err
	}
	sp.Metadata, sp.CreatedAt, sp.UpdatedAt = nonEmpty(sp.Metadata), sp.CreatedAt.UTC(), sp.UpdatedAt.UTC()
	return sp, nil
}

// samlValues are an SP's column values, in samlColumns' order.
func samlValues(sp store.SAMLServiceProvider) ([]any, error) {
	config, err := recjson.EncodeSAMLConfig(sp)
	if err != nil {
		return nil, err
	}
	return []any{sp.EntityID, sp.Name, string(config), nullBytes(sp.Metadata), sp.CreatedAt, sp.UpdatedAt}, nil
}

const (
	insertSAML = `INSERT INTO saml_service_providers (` + samlColumns + `) VALUES ($1, $2, $3, $4, $5, $6)`
	// upsertSAML makes insertSAML replace an existing SP, keeping its
	// created_at.
	upsertSAML = `
		ON CONFLICT (entity_id) DO UPDATE SET name = excluded.name, config = excluded.config,
		metadata = excluded.metadata, updated_at = excluded.updated_at`
	selectSAML = `SELECT ` + samlColumns + ` FROM saml_service_providers WHERE entity_id = $1`
)

// PutSAMLServiceProvider creates or replaces an SP; a replacement keeps
// the stored CreatedAt.
func (s *Store) PutSAMLServiceProvider(ctx context.Context, sp store.SAMLServiceProvider) error {
	return s.insertSAML(ctx, "put saml service provider", sp, upsertSAML)
}

// CreateSAMLServiceProvider stores a new SP, or returns
// store.ErrAlreadyExists.
func (s *Store) CreateSAMLServiceProvider(ctx context.Context, sp store.SAMLServiceProvider) error {
	return s.insertSAML(ctx, "create saml service provider", sp, "")
}

// insertSAML inserts sp with conflict, the statement's ON CONFLICT
// clause (none: a second SP of one entity ID is store.ErrAlreadyExists).
func (s *Store) insertSAML(ctx context.Context, op string, sp store.SAMLServiceProvider, conflict string) error {
	if err := sp.Validate(); err != nil {
		return fmt.Errorf("store/postgres: %s: %w", op, err)
	}
	vals, err := samlValues(sp)
	if err != nil {
		return fmt.Errorf("store/postgres: %s: %w", op, err)
	}
	return s.write(ctx, func(q writer) error {
		if _, err := q.Exec(ctx, insertSAML+conflict, vals...); err != nil {
			return fmt.Errorf("store/postgres: %s: %w", op, classify(err))
		}
		return nil
	})
}

// UpdateSAMLServiceProvider replaces the SP entityID with fn's result in
// one transaction holding its row, keeping the stored CreatedAt.
func (s *Store) UpdateSAMLServiceProvider(ctx context.Context, entityID string, fn func(store.SAMLServiceProvider) (store.SAMLServiceProvider, error)) (store.SAMLServiceProvider, error) {
	if store.CheckSAMLEntityID(entityID) != nil {
		return store.SAMLServiceProvider{}, fmt.Errorf("store/postgres: update saml service provider: %w", store.ErrNotFound)
	}
	read := func(tx pgx.Tx) (store.SAMLServiceProvider, error) {
		sp, err := scanSAMLServiceProvider(tx.QueryRow(ctx, selectSAML+` FOR UPDATE`, entityID))
		if errors.Is(err, pgx.ErrNoRows) {
			return sp, store.ErrNotFound
		}
		return sp, err
	}
	check := func(sp store.SAMLServiceProvider) error {
		if sp.EntityID != entityID {
			return fmt.Errorf("%w: the entity ID cannot change", store.ErrInvalid)
		}
		return sp.Validate()
	}
	write := func(tx pgx.Tx, sp store.SAMLServiceProvider) (store.SAMLServiceProvider, error) {
		vals, err := samlValues(sp)
		if err != nil {
			return store.SAMLServiceProvider{}, err
		}
		// The row exists and is locked (read): the upsert replaces it.
		return scanSAMLServiceProvider(tx.QueryRow(ctx, insertSAML+upsertSAML+` RETURNING `+samlColumns, vals...))
	}
	stored, err := txn.Update(ctx, s.inTx, read, fn, check, write)
	if err != nil {
		return store.SAMLServiceProvider{}, fmt.Errorf("store/postgres: update saml service provider %q: %w", entityID, err)
	}
	return stored, nil
}

// GetSAMLServiceProvider returns one SP, or store.ErrNotFound.
func (s *Store) GetSAMLServiceProvider(ctx context.Context, entityID string) (store.SAMLServiceProvider, error) {
	if store.CheckSAMLEntityID(entityID) != nil {
		return store.SAMLServiceProvider{}, fmt.Errorf("store/postgres: get saml service provider: %w", store.ErrNotFound)
	}
	sp, err := scanSAMLServiceProvider(s.pool.QueryRow(ctx, selectSAML, entityID))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.SAMLServiceProvider{}, fmt.Errorf("store/postgres: get saml service provider %q: %w", entityID, store.ErrNotFound)
	}
	if err != nil {
		return store.SAMLServiceProvider{}, fmt.Errorf("store/postgres: get saml service provider: %w", classify(err))
	}
	return sp, nil
}

// ListSAMLServiceProviders returns them all, ordered by entity ID (byte
// order: the column is COLLATE "C").
func (s *Store) ListSAMLServiceProviders(ctx context.Context) ([]store.SAMLServiceProvider, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+samlColumns+` FROM saml_service_providers ORDER BY entity_id`)
	if err != nil {
		return nil, fmt.Errorf("store/postgres: list saml service providers: %w", classify(err))
	}
	defer rows.Close()
	var out []store.SAMLServiceProvider
	for rows.Next() {
		sp, err := scanSAMLServiceProvider(rows)
		if err != nil {
			return nil, fmt.Errorf("store/postgres: list saml service providers: %w", classify(err))
		}
		out = append(out, sp)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store/postgres: list saml service providers: %w", classify(err))
	}
	return out, nil
}

// DeleteSAMLServiceProvider removes one, or returns store.ErrNotFound.
func (s *Store) DeleteSAMLServiceProvider(ctx context.Context, entityID string) error {
	if store.CheckSAMLEntityID(entityID) != nil {
		return fmt.Errorf("store/postgres: delete saml service provider: %w", store.ErrNotFound)
	}
	return s.write(ctx, func(q writer) error {
		tag, err := q.Exec(ctx, `DELETE FROM saml_service_providers WHERE entity_id = $1`, entityID)
		if err != nil {
			return fmt.Errorf("store/postgres: delete saml service provider: %w", classify(err))
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("store/postgres: delete saml service provider %q: %w", entityID, store.ErrNotFound)
		}
		return nil
	})
}

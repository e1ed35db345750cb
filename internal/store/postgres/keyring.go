package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/writ-dev/writ/internal/store"
)

// GetKeyRing returns the stored key ring and its version, or
// store.ErrNotFound when none was stored yet.
func (s *Store) GetKeyRing(ctx context.Context) ([]byte, int64, error) {
	var (
		data    []byte
		version int64
	)
	err := s.pool.QueryRow(ctx, `SELECT data, version FROM key_ring WHERE id = 1`).Scan(&data, &version)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && data == nil) {
		return nil, 0, fmt.Errorf("store/postgres: get key ring: %w", store.ErrNotFound)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("store/postgres: get key ring: %w", classify(err))
	}
	return data, version, nil
}

// UpdateKeyRing applies fn to the key ring row locked with SELECT ... FOR
// UPDATE, in one transaction, and increments its version.
func (s *Store) UpdateKeyRing(ctx context.Context, fn func(old []byte) ([]byte, error)) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("store/postgres: update key ring: %w", classify(err))
	}
	defer rollback(ctx, tx)
	var old []byte
	err = tx.QueryRow(ctx, `SELECT data FROM key_ring WHERE id = 1 FOR UPDATE`).Scan(&old)
	if errors.Is(err, pgx.ErrNoRows) {
		return errors.New("store/postgres: update key ring: the key_ring row is missing (was the database migrated?)")
	}
	if err != nil {
		return fmt.Errorf("store/postgres: update key ring: %w", classify(err))
	}
	data, err := fn(old)
	if err != nil {
		return fmt.Errorf("store/postgres: update key ring: %w", err)
	}
	if len(data) == 0 {
		return fmt.Errorf("store/postgres: update key ring: %w: the new key ring is empty", store.ErrInvalid)
	}
	if _, err := tx.Exec(ctx, `UPDATE key_ring SET data = $1, version = version + 1 WHERE id = 1`, data); err != nil {
		return fmt.Errorf("store/postgres: update key ring: %w", classify(err))
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("store/postgres: update key ring: %w", classify(err))
	}
	return nil
}

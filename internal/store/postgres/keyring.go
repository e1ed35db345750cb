package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/internal/txn"
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
	read := func(tx pgx.Tx) ([]byte, error) {
		var old []byte
		err := tx.QueryRow(ctx, `SELECT data FROM key_ring WHERE id = 1 FOR UPDATE`).Scan(&old)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, errors.New("the key_ring row is missing (was the database migrated?)")
		}
		return old, err
	}
	check := func(data []byte) error {
		if len(data) == 0 {
			return fmt.Errorf("%w: the new key ring is empty", store.ErrInvalid)
		}
		return nil
	}
	write := func(tx pgx.Tx, data []byte) ([]byte, error) {
		_, err := tx.Exec(ctx, `UPDATE key_ring SET data = $1, version = version + 1 WHERE id = 1`, data)
		return data, err
	}
	if _, err := txn.Update(ctx, s.inTx, read, fn, check, write); err != nil {
		return fmt.Errorf("store/postgres: update key ring: %w", classify(err))
	}
	return nil
}

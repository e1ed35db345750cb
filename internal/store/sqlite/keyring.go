package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

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
	err := s.r.QueryRowContext(ctx, `SELECT data, version FROM key_ring WHERE id = 1`).Scan(&data, &version)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && data == nil) {
		return nil, 0, fmt.Errorf("store/sqlite: get key ring: %w", store.ErrNotFound)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("store/sqlite: get key ring: %w", classify(err))
	}
	return data, version, nil
}

// UpdateKeyRing applies fn to the stored key ring in one BEGIN IMMEDIATE
// transaction and increments its version.
func (s *Store) UpdateKeyRing(ctx context.Context, fn func(old []byte) ([]byte, error)) error {
	read := func(tx dbtx) ([]byte, error) {
		var old []byte
		err := tx.QueryRowContext(ctx, `SELECT data FROM key_ring WHERE id = 1`).Scan(&old)
		if errors.Is(err, sql.ErrNoRows) {
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
	write := func(tx dbtx, data []byte) ([]byte, error) {
		_, err := tx.ExecContext(ctx, `UPDATE key_ring SET data = ?, version = version + 1 WHERE id = 1`, data)
		return data, err
	}
	if _, err := txn.Update(ctx, s.inTx, read, fn, check, write); err != nil {
		return fmt.Errorf("store/sqlite: update key ring: %w", err)
	}
	return nil
}

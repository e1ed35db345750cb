package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/internal/txn"
)

// keyedTable is a table of records of type T stored under one text key
// (SAML service providers by entity ID, trusted issuers by issuer): its
// create, put, update and get, written once.
type keyedTable[T interface{ Validate() error }] struct {
	// what names a record in errors ("saml service provider"), keyName
	// its key ("entity ID").
	what, keyName string
	// checkKey refuses a key no record can have; key returns a record's.
	checkKey func(string) error
	key      func(T) string
	scan     func(pgx.Row) (T, error)
	// values are a record's column values, in insert's order; columns
	// are the columns scan reads.
	values  func(T) ([]any, error)
	columns string
	// insert adds a row; upsert, appended to it, makes it replace an
	// existing one (keeping its created_at); sel reads one by key.
	insert, upsert, sel string
}

// create stores a new record, or returns store.ErrAlreadyExists.
func (k keyedTable[T]) create(ctx context.Context, s *Store, rec T) error {
	return k.insertWith(ctx, s, "create "+k.what, rec, "")
}

// put creates or replaces a record; a replacement keeps the stored
// CreatedAt.
func (k keyedTable[T]) put(ctx context.Context, s *Store, rec T) error {
	return k.insertWith(ctx, s, "put "+k.what, rec, k.upsert)
}

// insertWith inserts rec with conflict, the statement's ON CONFLICT
// clause (none: a second record of one key is store.ErrAlreadyExists).
func (k keyedTable[T]) insertWith(ctx context.Context, s *Store, op string, rec T, conflict string) error {
	if err := rec.Validate(); err != nil {
		return fmt.Errorf("store/postgres: %s: %w", op, err)
	}
	vals, err := k.values(rec)
	if err != nil {
		return fmt.Errorf("store/postgres: %s: %w", op, err)
	}
	return s.write(ctx, func(q writer) error {
		if _, err := q.Exec(ctx, k.insert+conflict, vals...); err != nil {
			return fmt.Errorf("store/postgres: %s: %w", op, classify(err))
		}
		return nil
	})
}

// update replaces the record of key with fn's result in one transaction
// holding its row, keeping the stored CreatedAt.
func (k keyedTable[T]) update(ctx context.Context, s *Store, key string, fn func(T) (T, error)) (T, error) {
	var zero T
	if k.checkKey(key) != nil {
		return zero, fmt.Errorf("store/postgres: update %s: %w", k.what, store.ErrNotFound)
	}
	read := func(tx pgx.Tx) (T, error) {
		rec, err := k.scan(tx.QueryRow(ctx, k.sel+` FOR UPDATE`, key))
		if errors.Is(err, pgx.ErrNoRows) {
			return rec, store.ErrNotFound
		}
		return rec, err
	}
	check := func(rec T) error {
		if k.key(rec) != key {
			return fmt.Errorf("%w: the %s cannot change", store.ErrInvalid, k.keyName)
		}
		return rec.Validate()
	}
	write := func(tx pgx.Tx, rec T) (T, error) {
		vals, err := k.values(rec)
		if err != nil {
			return zero, err
		}
		// The row exists and is locked (read): the upsert replaces it.
		return k.scan(tx.QueryRow(ctx, k.insert+k.upsert+` RETURNING `+k.columns, vals...))
	}
	stored, err := txn.Update(ctx, s.inTx, read, fn, check, write)
	if err != nil {
		return zero, fmt.Errorf("store/postgres: update %s %q: %w", k.what, key, err)
	}
	return stored, nil
}

// get returns the record of key, or store.ErrNotFound.
func (k keyedTable[T]) get(ctx context.Context, s *Store, key string) (T, error) {
	var zero T
	if k.checkKey(key) != nil {
		return zero, fmt.Errorf("store/postgres: get %s: %w", k.what, store.ErrNotFound)
	}
	rec, err := k.scan(s.reads.QueryRow(ctx, k.sel, key))
	if errors.Is(err, pgx.ErrNoRows) {
		return zero, fmt.Errorf("store/postgres: get %s %q: %w", k.what, key, store.ErrNotFound)
	}
	if err != nil {
		return zero, fmt.Errorf("store/postgres: get %s: %w", k.what, classify(err))
	}
	return rec, nil
}

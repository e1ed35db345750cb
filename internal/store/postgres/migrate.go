package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/internal/migrate"
)

// migrationLock is the key of the transaction-scoped advisory lock that
// serializes migrators across nodes ("writ" in ASCII).
const migrationLock int64 = 0x77726974

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    integer PRIMARY KEY,
	name       text        NOT NULL,
	applied_at timestamptz NOT NULL
)`

// Migrate applies the pending migrations, each in its own transaction
// together with its schema_migrations row. Every transaction first takes
// the advisory lock migrationLock, so concurrent migrators queue and each
// re-checks, under the lock, whether its version is applied already.
func (s *Store) Migrate(ctx context.Context) error {
	err := s.inLockedTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, createMigrationsTable)
		return err
	})
	if err != nil {
		return fmt.Errorf("store/postgres: migrate: %w", classify(err))
	}
	applied, err := s.applied(ctx)
	if err != nil {
		return fmt.Errorf("store/postgres: migrate: %w", classify(err))
	}
	if err := migrate.CheckKnown(s.migrations, applied); err != nil {
		return fmt.Errorf("store/postgres: %w", err)
	}
	for _, f := range s.migrations {
		err := s.inLockedTx(ctx, func(tx pgx.Tx) error {
			var done bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`,
				f.Version).Scan(&done); err != nil || done {
				return err
			}
			// No arguments: pgx sends the file with the simple protocol,
			// which accepts several statements.
			if _, err := tx.Exec(ctx, f.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
				f.Version, f.Name, time.Now())
			return err
		})
		if err != nil {
			return fmt.Errorf("store/postgres: migrate: version %d (%s): %w", f.Version, f.Name, classify(err))
		}
	}
	return nil
}

// inLockedTx runs fn in a transaction holding the migration advisory lock.
func (s *Store) inLockedTx(ctx context.Context, fn func(pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer rollback(ctx, tx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// MigrationStatus lists the known and applied migrations.
func (s *Store) MigrationStatus(ctx context.Context) ([]store.Migration, error) {
	applied, err := s.applied(ctx)
	if err != nil {
		return nil, fmt.Errorf("store/postgres: migration status: %w", err)
	}
	return migrate.Status(s.migrations, applied), nil
}

// applied reads schema_migrations; none if the table does not exist yet.
func (s *Store) applied(ctx context.Context) ([]migrate.Applied, error) {
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
		return nil, classify(err)
	}
	if !exists {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT version, name, applied_at FROM schema_migrations ORDER BY version`)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	var out []migrate.Applied
	for rows.Next() {
		var a migrate.Applied
		if err := rows.Scan(&a.Version, &a.Name, &a.AppliedAt); err != nil {
			return nil, classify(err)
		}
		a.AppliedAt = a.AppliedAt.UTC()
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(err)
	}
	return out, nil
}

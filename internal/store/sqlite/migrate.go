package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/internal/migrate"
)

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER NOT NULL PRIMARY KEY,
	name       TEXT    NOT NULL,
	applied_at INTEGER NOT NULL
) STRICT`

// Migrate applies the pending migrations, each in its own BEGIN IMMEDIATE
// transaction together with its schema_migrations row. The immediate lock
// serializes concurrent migrators (other processes wait up to the busy
// timeout) and each re-checks, under the lock, whether its version is
// applied already.
func (s *Store) Migrate(ctx context.Context) error {
	if _, err := s.w.ExecContext(ctx, createMigrationsTable); err != nil {
		return fmt.Errorf("store/sqlite: migrate: %w", classify(err))
	}
	applied, err := s.applied(ctx, s.w.DB)
	if err != nil {
		return fmt.Errorf("store/sqlite: migrate: %w", err)
	}
	if err := migrate.CheckKnown(s.migrations, applied); err != nil {
		return fmt.Errorf("store/sqlite: %w", err)
	}
	for _, f := range s.migrations {
		if err := s.apply(ctx, f); err != nil {
			return fmt.Errorf("store/sqlite: migrate: version %d (%s): %w", f.Version, f.Name, err)
		}
	}
	return nil
}

func (s *Store) apply(ctx context.Context, f migrate.File) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return classify(err)
	}
	defer rollback(tx)
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, f.Version).Scan(&n); err != nil {
		return classify(err)
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, f.SQL); err != nil {
		return classify(err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		f.Version, f.Name, encodeTime(time.Now())); err != nil {
		return classify(err)
	}
	return classify(tx.Commit())
}

// MigrationStatus lists the known and applied migrations.
func (s *Store) MigrationStatus(ctx context.Context) ([]store.Migration, error) {
	applied, err := s.applied(ctx, s.r.DB)
	if err != nil {
		return nil, fmt.Errorf("store/sqlite: migration status: %w", err)
	}
	return migrate.Status(s.migrations, applied), nil
}

// applied reads schema_migrations; none if the table does not exist yet.
func (s *Store) applied(ctx context.Context, db *sql.DB) ([]migrate.Applied, error) {
	var exists int
	if err := db.QueryRowContext(ctx,
		`SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&exists); err != nil {
		return nil, classify(err)
	}
	if exists == 0 {
		return nil, nil
	}
	rows, err := db.QueryContext(ctx, `SELECT version, name, applied_at FROM schema_migrations ORDER BY version`)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	var out []migrate.Applied
	for rows.Next() {
		var (
			a  migrate.Applied
			at int64
		)
		if err := rows.Scan(&a.Version, &a.Name, &at); err != nil {
			return nil, classify(err)
		}
		a.AppliedAt = decodeTime(at)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(err)
	}
	return out, nil
}

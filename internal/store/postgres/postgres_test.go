package postgres_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/postgres"
	"github.com/writ-dev/writ/internal/store/postgres/pgtest"
	"github.com/writ-dev/writ/internal/store/storetest"
)

func open(t *testing.T, dsn string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func migrated(t *testing.T, dsn string) *postgres.Store {
	t.Helper()
	s := open(t, dsn)
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	pgtest.Require(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		return migrated(t, pgtest.NewDatabase(t))
	})
}

func TestMigrate(t *testing.T) {
	ctx := t.Context()
	s := open(t, pgtest.NewDatabase(t))
	before, err := s.MigrationStatus(ctx)
	if err != nil {
		t.Fatalf("MigrationStatus before Migrate: %v", err)
	}
	if len(before) == 0 {
		t.Fatal("no migrations known")
	}
	for _, m := range before {
		if m.Applied {
			t.Errorf("fresh database: %+v applied", m)
		}
	}
	for range 2 {
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
	}
	after, err := s.MigrationStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Fatalf("status lists %d migrations after Migrate, %d before", len(after), len(before))
	}
	for i, m := range after {
		if !m.Applied || m.Version != before[i].Version || m.Name != before[i].Name {
			t.Errorf("after Migrate: %+v", m)
		}
		t.Logf("version %d %s applied at %s", m.Version, m.Name, m.AppliedAt)
	}
}

// Nodes starting together (separate pools on one database) apply every
// migration exactly once.
func TestMigrateConcurrent(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	stores := []*postgres.Store{open(t, dsn), open(t, dsn), open(t, dsn), open(t, dsn)}
	var wg sync.WaitGroup
	errs := make([]error, len(stores))
	for i, s := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Migrate(t.Context())
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Migrate %d: %v", i, err)
		}
	}
	status, err := stores[0].MigrationStatus(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range status {
		if !m.Applied {
			t.Errorf("%+v not applied", m)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	_, err := postgres.Open(t.Context(), "postgres://user:hunter2@127.0.0.1:badport/db")
	if err == nil {
		t.Fatal("Open with a malformed DSN succeeded")
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error reveals the password: %v", err)
	}
	_, err = postgres.Open(t.Context(), "postgres://user:hunter2@127.0.0.1:1/db?connect_timeout=2")
	if err == nil {
		t.Fatal("Open of an unreachable server succeeded")
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error reveals the password: %v", err)
	}
}

// A database migrated by a newer writ is refused, not half-migrated.
func TestMigrateRefusesNewerSchema(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	s := migrated(t, dsn)
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	if _, err := conn.Exec(t.Context(),
		`INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future', now())`); err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(t.Context()); err == nil {
		t.Error("Migrate accepted a database with an unknown version")
	}
	status, err := s.MigrationStatus(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	last := status[len(status)-1]
	if last.Version != 9999 || last.Name != "" || !last.Applied {
		t.Errorf("status does not report the unknown version: %+v", status)
	}
}

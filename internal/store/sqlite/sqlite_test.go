package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/sqlite"
	"github.com/writ-dev/writ/internal/store/storetest"
)

func open(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), path)
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

func migrated(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	s := open(t, path)
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return migrated(t, filepath.Join(t.TempDir(), "writ.db"))
	})
}

func TestConformanceInMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return migrated(t, sqlite.MemoryPath)
	})
}

func TestMigrate(t *testing.T) {
	ctx := t.Context()
	s := open(t, filepath.Join(t.TempDir(), "writ.db"))
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
	if _, err := s.ListClients(ctx, store.ListOptions{}); err == nil {
		t.Error("ListClients works before Migrate")
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

// Two stores on one file (two processes, in effect) migrating at once
// apply every migration exactly once.
func TestMigrateConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "writ.db")
	stores := []*sqlite.Store{open(t, path), open(t, path), open(t, path)}
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
	// The key ring row was inserted once: a first update sees no ring.
	err = stores[1].UpdateKeyRing(t.Context(), func(old []byte) ([]byte, error) {
		if old != nil {
			t.Errorf("fresh key ring holds %q", old)
		}
		return []byte("ring"), nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Writers in two processes (two Store values on one file) contend for the
// file lock; busy_timeout and BEGIN IMMEDIATE keep every update.
func TestTwoHandlesConcurrentUpdates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "writ.db")
	a := migrated(t, path)
	b := open(t, path)
	if err := a.CreateClient(t.Context(), store.Client{ID: "c", Metadata: map[string]string{"n": ""}}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	const per = 20
	for _, s := range []*sqlite.Store{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range per {
				_, err := s.UpdateClient(t.Context(), "c", func(c store.Client) (store.Client, error) {
					c.Metadata["n"] += "x"
					return c, nil
				})
				if err != nil {
					t.Errorf("UpdateClient: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	c, err := b.GetClient(t.Context(), "c")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Metadata["n"]) != 2*per {
		t.Errorf("%d updates kept of %d", len(c.Metadata["n"]), 2*per)
	}
}

func TestFileModeAndWAL(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "writ.db")
	s := migrated(t, path)
	if err := s.CreateClient(t.Context(), store.Client{ID: "c"}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"writ.db", "writ.db-wal", "writ.db-shm"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("%s: %v (is the database in WAL mode?)", name, err)
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("%s has mode %v, want no group or other access", name, perm)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := sqlite.Open(t.Context(), ""); err == nil {
		t.Error("Open(\"\") succeeded")
	}
	if _, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "missing", "writ.db")); err == nil {
		t.Error("Open in a missing directory succeeded")
	}
}

// A path with URI-special characters names that file; nothing after '?' is
// taken as a connection parameter.
func TestOpenOddPath(t *testing.T) {
	dir := t.TempDir()
	name := "a b?_pragma=query_only(1)&x=%41#frag.db"
	s := migrated(t, filepath.Join(dir, name))
	if err := s.CreateClient(t.Context(), store.Client{ID: "c"}); err != nil {
		t.Fatalf("CreateClient: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
		t.Errorf("the database is not at the literal path: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name() != name && e.Name() != name+"-wal" && e.Name() != name+"-shm" {
			t.Errorf("unexpected file %q", e.Name())
		}
	}
}

func TestCancelledContext(t *testing.T) {
	s := migrated(t, filepath.Join(t.TempDir(), "writ.db"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := s.CreateClient(ctx, store.Client{ID: "c"})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("CreateClient with a cancelled context: %v", err)
	}
	if _, err := s.GetClient(t.Context(), "c"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetClient: %v", err)
	}
}

// A database migrated by a newer writ is refused, not half-migrated.
func TestMigrateRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "writ.db")
	s := migrated(t, path)
	// Simulate a newer binary's migration through a separate raw connection.
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future', 0)`); err != nil {
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

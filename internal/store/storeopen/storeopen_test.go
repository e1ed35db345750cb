package storeopen_test

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/postgres"
	"github.com/writ-dev/writ/internal/store/postgres/pgtest"
	"github.com/writ-dev/writ/internal/store/sqlite"
	"github.com/writ-dev/writ/internal/store/storeopen"
)

func TestParse(t *testing.T) {
	cases := []struct {
		dsn     string
		backend storeopen.Backend
		target  string
	}{
		{"postgres://u@h/db?sslmode=disable", storeopen.Postgres, "postgres://u@h/db?sslmode=disable"},
		{"postgresql://u@h/db", storeopen.Postgres, "postgresql://u@h/db"},
		{"POSTGRES://u@h/db", storeopen.Postgres, "POSTGRES://u@h/db"},
		{"sqlite:data/writ.db", storeopen.SQLite, "data/writ.db"},
		{"sqlite:/var/lib/writ/writ.db", storeopen.SQLite, "/var/lib/writ/writ.db"},
		{"sqlite:///var/lib/writ/writ.db", storeopen.SQLite, "/var/lib/writ/writ.db"},
		{"sqlite://writ.db", storeopen.SQLite, "writ.db"},
		{"sqlite::memory:", storeopen.SQLite, ":memory:"},
		{"writ.db", storeopen.SQLite, "writ.db"},
		{"/var/lib/writ/writ.db", storeopen.SQLite, "/var/lib/writ/writ.db"},
		{"./data/writ.db", storeopen.SQLite, "./data/writ.db"},
		{"data/a=b.db", storeopen.SQLite, "data/a=b.db"},
	}
	for _, c := range cases {
		backend, target, err := storeopen.Parse(c.dsn)
		if err != nil || backend != c.backend || target != c.target {
			t.Errorf("Parse(%q) = %q, %q, %v; want %q, %q", c.dsn, backend, target, err, c.backend, c.target)
		}
	}
	for _, dsn := range []string{"", "sqlite:", "sqlite://", "mysql://u@h/db", "file:///tmp/x.db", "redis://h",
		"host=127.0.0.1 port=5432 user=writ password=pw sslmode=disable", "dbname=writ"} {
		if _, _, err := storeopen.Parse(dsn); !errors.Is(err, storeopen.ErrUnsupportedDSN) {
			t.Errorf("Parse(%q): %v, want ErrUnsupportedDSN", dsn, err)
		}
	}
}

func TestOpenUnsupported(t *testing.T) {
	_, err := storeopen.Open(t.Context(), "mysql://root:pw@localhost/writ")
	if !errors.Is(err, storeopen.ErrUnsupportedDSN) {
		t.Fatalf("Open(mysql://...): %v", err)
	}
	t.Log(err)
}

func TestOpenSQLite(t *testing.T) {
	dir := t.TempDir()
	for _, dsn := range []string{"sqlite:" + filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db"), "sqlite::memory:"} {
		s, err := storeopen.Open(t.Context(), dsn)
		if err != nil {
			t.Fatalf("Open(%q): %v", dsn, err)
		}
		if _, ok := s.(*sqlite.Store); !ok {
			t.Errorf("Open(%q) returned %T", dsn, s)
		}
		exercise(t, s)
	}
}

func TestOpenPostgres(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	s, err := storeopen.Open(t.Context(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if _, ok := s.(*postgres.Store); !ok {
		t.Errorf("Open returned %T", s)
	}
	exercise(t, s)
}

func exercise(t *testing.T, s store.Store) {
	t.Helper()
	defer s.Close()
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if err := s.CreateClient(t.Context(), store.Client{ID: "c"}); err != nil {
		t.Fatalf("CreateClient: %v", err)
	}
	if _, err := s.GetClient(t.Context(), "c"); err != nil {
		t.Fatalf("GetClient: %v", err)
	}
}

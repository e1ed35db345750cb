package app_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/writ-dev/writ/internal/app"
	"github.com/writ-dev/writ/internal/apptest"
	"github.com/writ-dev/writ/internal/backup"
	"github.com/writ-dev/writ/internal/config"
	"github.com/writ-dev/writ/internal/store/storeopen"
)

// TestStoreLock: a node on SQLite holds its store's shared lock, so a
// restore cannot take it, and a node cannot open a store a restore holds.
func TestStoreLock(t *testing.T) {
	env := func(dir string) map[string]string {
		return map[string]string{"WRIT_MODE": "development", "WRIT_DATA_DIR": dir, "WRIT_ADDR": "127.0.0.1:0", "WRIT_ADMIN_ADDR": "127.0.0.1:0"}
	}
	dbPath := func(cfg *config.Config) string {
		t.Helper()
		_, path, err := storeopen.Parse(cfg.DatabaseDSN())
		if err != nil {
			t.Fatal(err)
		}
		return path
	}

	a := apptest.Start(t, env(filepath.Join(t.TempDir(), "serving")), app.Options{Announce: io.Discard})
	if l, err := backup.LockExclusive(dbPath(a.Config)); !errors.Is(err, backup.ErrLive) {
		l.Close()
		t.Fatalf("a restore's lock on a served store: %v, want ErrLive", err)
	}

	dir := filepath.Join(t.TempDir(), "restoring")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	e := env(dir)
	getenv := func(k string) string { return e[k] }
	cfg, err := config.Load(nil, getenv)
	if err != nil {
		t.Fatal(err)
	}
	l, err := backup.LockExclusive(dbPath(cfg))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if b, err := app.Open(context.Background(), cfg, app.Options{Announce: io.Discard, Getenv: getenv}); !errors.Is(err, backup.ErrRestoring) {
		if b != nil {
			b.Close()
		}
		t.Fatalf("opening a store being restored: %v, want ErrRestoring", err)
	}
}

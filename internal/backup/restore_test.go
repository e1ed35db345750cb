package backup_test

import (
	"database/sql"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/app"
	"github.com/writ-dev/writ/internal/apptest"
	"github.com/writ-dev/writ/internal/backup"
)

// A backup restored over a store brings back exactly what the backup
// held; the previous database is kept aside, whole.
func TestRestoreRoundTrip(t *testing.T) {
	dir := t.TempDir()
	st, path := newStore(t, dir)
	createClients(t, st, 0, 10)
	bk := filepath.Join(t.TempDir(), "bk.db")
	if _, err := backup.Backup(t.Context(), path, bk, backup.Options{}); err != nil {
		t.Fatal(err)
	}
	createClients(t, st, 10, 15) // after the backup
	st.Close()

	res, err := backup.Restore(t.Context(), bk, path, backup.RestoreOptions{Now: func() time.Time { return base }})
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	if len(res.Aside) == 0 || res.Aside[0] != path+".before-restore-20260304T050607Z" {
		t.Fatalf("aside %v", res.Aside)
	}
	if ids := listIDs(t, openCopy(t, path)); len(ids) != 10 {
		t.Errorf("the restored store holds %d clients, want the backup's 10", len(ids))
	}
	if ids := listIDs(t, openCopy(t, res.Aside[0])); len(ids) != 15 {
		t.Errorf("the store kept aside holds %d clients, want 15", len(ids))
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("restored file: %v %v", fi, err)
	}
	// Into a new directory: nothing to keep aside.
	fresh := filepath.Join(t.TempDir(), "new", "writ.db")
	res, err = backup.Restore(t.Context(), bk, fresh, backup.RestoreOptions{})
	if err != nil || len(res.Aside) != 0 {
		t.Fatalf("restore into a new directory: %+v %v", res, err)
	}
	if ids := listIDs(t, openCopy(t, fresh)); len(ids) != 10 {
		t.Errorf("the new store holds %d clients", len(ids))
	}
}

// A store a running writ serves is refused, and left as it was; so is a
// bad backup. A server cannot start while a restore holds the lock.
func TestRestoreRefusesLiveStore(t *testing.T) {
	dir := t.TempDir()
	a := apptest.Start(t, map[string]string{
		"WRIT_MODE": "development", "WRIT_DATA_DIR": dir,
		"WRIT_ADDR": "127.0.0.1:0", "WRIT_ADMIN_ADDR": "127.0.0.1:0", "WRIT_LOG_LEVEL": "error",
	}, app.Options{Announce: io.Discard})
	path := filepath.Join(dir, "writ.db")
	createClients(t, a.Store, 0, 3)
	bk := filepath.Join(t.TempDir(), "bk.db")
	if _, err := backup.Backup(t.Context(), path, bk, backup.Options{}); err != nil {
		t.Fatalf("backup while serving: %v", err)
	}
	_, err := backup.Restore(t.Context(), bk, path, backup.RestoreOptions{})
	if !errors.Is(err, backup.ErrLive) {
		t.Fatalf("restore over a served store: %v, want ErrLive", err)
	}
	if _, err := a.Store.GetClient(t.Context(), clientID(2)); err != nil {
		t.Errorf("the served store after the refused restore: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), "before-restore") || strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("a refused restore left %s", e.Name())
		}
	}

	// The other way round: a restore's lock keeps a server out.
	other := filepath.Join(t.TempDir(), "writ.db")
	lk, err := backup.LockExclusive(other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := backup.LockServing(other); !errors.Is(err, backup.ErrRestoring) {
		t.Errorf("serving lock during a restore: %v, want ErrRestoring", err)
	}
	if _, err := backup.LockExclusive(other); !errors.Is(err, backup.ErrLive) {
		t.Errorf("second restore: %v, want ErrLive", err)
	}
	lk.Close()
	s1, err := backup.LockServing(other)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := backup.LockServing(other)
	if err != nil {
		t.Fatalf("two servers share the lock: %v", err)
	}
	s1.Close()
	if _, err := backup.LockExclusive(other); !errors.Is(err, backup.ErrLive) {
		t.Errorf("restore while one server remains: %v, want ErrLive", err)
	}
	s2.Close()
	if lk, err := backup.LockExclusive(other); err != nil {
		t.Errorf("restore once the servers are gone: %v", err)
	} else {
		lk.Close()
	}
}

// A bad backup leaves the store untouched.
func TestRestoreRefusesBadBackup(t *testing.T) {
	st, path := newStore(t, t.TempDir())
	createClients(t, st, 0, 3)
	st.Close()
	bad := filepath.Join(t.TempDir(), "bad.db")
	os.WriteFile(bad, []byte("not a database at all, not even close"), 0o600)
	if _, err := backup.Restore(t.Context(), bad, path, backup.RestoreOptions{}); !errors.Is(err, backup.ErrInvalidBackup) {
		t.Fatalf("restore of a bad file: %v", err)
	}
	if ids := listIDs(t, openCopy(t, path)); len(ids) != 3 {
		t.Errorf("the store after a refused restore holds %d clients", len(ids))
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	for _, e := range entries {
		if strings.Contains(e.Name(), "before-restore") || strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("a refused restore left %s", e.Name())
		}
	}
}

// A backup made by an older writ (a schema without this binary's last
// migration) is migrated when restored.
func TestRestoreMigratesOlderBackup(t *testing.T) {
	files, err := filepath.Glob("../store/sqlite/migrations/*.sql")
	if err != nil || len(files) < 2 {
		t.Fatalf("migrations: %v %v", files, err)
	}
	sort.Strings(files)
	old := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", "file:"+old)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE schema_migrations (version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT`); err != nil {
		t.Fatal(err)
	}
	for _, f := range files[:len(files)-1] {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(string(b)); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		name := strings.TrimSuffix(filepath.Base(f), ".sql")
		v, _ := strconv.Atoi(name[:4])
		if _, err := db.Exec(`INSERT INTO schema_migrations VALUES (?, ?, 0)`, v, name[5:]); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	check, err := backup.Verify(t.Context(), old)
	if err != nil || check.Pending != 1 {
		t.Fatalf("verify the old backup: %+v %v", check, err)
	}
	target := filepath.Join(t.TempDir(), "writ.db")
	res, err := backup.Restore(t.Context(), old, target, backup.RestoreOptions{})
	if err != nil || res.Migrated != 1 {
		t.Fatalf("restore: %+v %v", res, err)
	}
	st := openCopy(t, target)
	list, err := st.MigrationStatus(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range list {
		if !m.Applied {
			t.Errorf("migration %04d not applied after the restore", m.Version)
		}
	}
	createClients(t, st, 0, 1)
}

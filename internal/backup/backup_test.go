package backup_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/backup"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/sqlite"
)

var base = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// newStore is a migrated SQLite store at dir/writ.db.
func newStore(t testing.TB, dir string) (*sqlite.Store, string) {
	t.Helper()
	path := filepath.Join(dir, "writ.db")
	st, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return st, path
}

func clientID(i int) string { return fmt.Sprintf("client-%05d", i) }

func createClients(t *testing.T, st store.ClientStore, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if err := st.CreateClient(t.Context(), store.Client{ID: clientID(i), CreatedAt: base, UpdatedAt: base}); err != nil {
			t.Fatal(err)
		}
	}
}

func listIDs(t *testing.T, st store.ClientStore) []string {
	t.Helper()
	var ids []string
	for after := ""; ; {
		page, err := st.ListClients(t.Context(), store.ListOptions{Limit: store.MaxListLimit, After: after})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range page {
			ids = append(ids, c.ID)
		}
		if len(page) < store.MaxListLimit {
			return ids
		}
		after = page[len(page)-1].ID
	}
}

// openCopy opens a backup through the store, as a restored node would.
func openCopy(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// A backup taken while another connection keeps committing is one
// consistent snapshot: it passes the integrity check, holds every client
// committed before it started, and what it holds is a prefix of the
// commit order (no later write without the earlier ones).
func TestBackupWhileWriting(t *testing.T) {
	dir := t.TempDir()
	st, src := newStore(t, dir)
	const before = 200
	createClients(t, st, 0, before)

	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	committed := make(chan int, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		n := before
		for ctx.Err() == nil {
			if err := st.CreateClient(context.Background(), store.Client{ID: clientID(n), CreatedAt: base, UpdatedAt: base}); err != nil {
				t.Errorf("concurrent write: %v", err)
				break
			}
			n++
			if n == before+50 {
				committed <- n // the writer is well under way
			}
		}
		committed <- n
	}()
	<-committed
	dst := filepath.Join(t.TempDir(), "copy.db")
	res, err := backup.Backup(t.Context(), src, dst, backup.Options{})
	cancel()
	wg.Wait()
	total := <-committed
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	if res.Path != dst || res.Bytes <= 0 || res.Check.SchemaVersion == 0 || res.Check.Pending != 0 {
		t.Errorf("result %+v", res)
	}
	fi, err := os.Stat(dst)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("backup mode %v, want 0600", fi.Mode().Perm())
	}
	if _, err := backup.Verify(t.Context(), dst); err != nil {
		t.Fatalf("verify the backup: %v", err)
	}
	ids := listIDs(t, openCopy(t, dst))
	if len(ids) < before+50 || len(ids) > total {
		t.Fatalf("the backup holds %d clients; %d were committed before it started, %d in all", len(ids), before+50, total)
	}
	for i, id := range ids {
		if id != clientID(i) {
			t.Fatalf("the backup is not a prefix of the commits: client %d is %s", i, id)
		}
	}
	t.Logf("backup holds %d of %d clients", len(ids), total)
}

// An existing destination is kept unless Force; a directory receives a
// file named after the time.
func TestBackupDestination(t *testing.T) {
	st, src := newStore(t, t.TempDir())
	createClients(t, st, 0, 3)
	out := t.TempDir()
	now := func() time.Time { return base }
	res, err := backup.Backup(t.Context(), src, out, backup.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(out, "writ-20260304T050607Z.db")
	if res.Path != want {
		t.Fatalf("backup into a directory wrote %s, want %s", res.Path, want)
	}
	if _, err := backup.Backup(t.Context(), src, out, backup.Options{Now: now}); !errors.Is(err, backup.ErrExists) {
		t.Fatalf("second backup of the same name: %v, want ErrExists", err)
	}
	createClients(t, st, 3, 5)
	if _, err := backup.Backup(t.Context(), src, want, backup.Options{Force: true}); err != nil {
		t.Fatalf("with Force: %v", err)
	}
	if ids := listIDs(t, openCopy(t, want)); len(ids) != 5 {
		t.Errorf("the overwritten backup holds %d clients, want 5", len(ids))
	}
	entries, _ := os.ReadDir(out)
	for _, e := range entries {
		if e.Name() != filepath.Base(want) && e.Name() != filepath.Base(want)+"-wal" && e.Name() != filepath.Base(want)+"-shm" {
			t.Errorf("left behind: %s", e.Name())
		}
	}
	if _, err := backup.Backup(t.Context(), filepath.Join(t.TempDir(), "missing.db"), filepath.Join(out, "x.db"), backup.Options{}); err == nil {
		t.Error("a backup of a missing database succeeded")
	}
	if _, err := os.Stat(filepath.Join(out, "x.db")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed backup left its destination: %v", err)
	}
}

// Verify refuses files that are not sound writ databases, and schemas
// newer than this binary.
func TestVerifyRefuses(t *testing.T) {
	st, src := newStore(t, t.TempDir())
	createClients(t, st, 0, 500)
	good := filepath.Join(t.TempDir(), "good.db")
	if _, err := backup.Backup(t.Context(), src, good, backup.Options{}); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	corrupt := append([]byte(nil), raw...)
	for i := len(corrupt) / 2; i < len(corrupt)/2+4096; i++ {
		corrupt[i] ^= 0x5a
	}
	newer := write("newer.db", raw)
	db, err := sql.Open("sqlite", "file:"+newer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'from_the_future', 0)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	empty := write("empty-sqlite.db", nil)
	db, _ = sql.Open("sqlite", "file:"+empty)
	db.Exec(`CREATE TABLE t (x)`)
	db.Close()

	cases := map[string]string{
		"not SQLite":       write("text.db", []byte("hello, this is not a database")),
		"corrupt pages":    write("corrupt.db", corrupt),
		"truncated":        write("truncated.db", raw[:len(raw)/2]),
		"newer schema":     newer,
		"not writ's":       empty,
		"live, with a wal": src,
	}
	for name, path := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := backup.Verify(t.Context(), path); !errors.Is(err, backup.ErrInvalidBackup) {
				t.Errorf("Verify: %v, want ErrInvalidBackup", err)
			}
		})
	}
	if _, err := backup.Verify(t.Context(), good); err != nil {
		t.Errorf("the good backup: %v", err)
	}
}

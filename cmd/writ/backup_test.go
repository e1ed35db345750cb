package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/app"
	"github.com/writ-dev/writ/internal/store"
)

// The backup commands from the command line: backup, restore, export and
// import between data directories, and their refusals.
func TestBackupCommands(t *testing.T) {
	root := t.TempDir()
	dir := func(name string) string { return filepath.Join(root, name) }
	writ(t, "", "migrate", "--data-dir", dir("a")).mustSucceed(t)
	writ(t, "", "key", "master", "--out", dir("a/master.key")).mustSucceed(t)
	ctx := context.Background()
	st, err := app.OpenStore(ctx, "sqlite:"+dir("a/writ.db"), false)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	for _, id := range []string{"one", "two"} {
		if err := st.CreateClient(ctx, store.Client{ID: id, Name: id, CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()

	writ(t, "", "backup", "--data-dir", dir("a")).mustFail(t, exitUsage, "--out is required")
	writ(t, "", "backup", "--database", "postgres://writ@127.0.0.1:1/writ", "--out", dir("x.db")).mustFail(t, exitUsage, "pg_dump")
	r := writ(t, "", "backup", "--data-dir", dir("a"), "--out", dir("b.db")).mustSucceed(t)
	if strings.TrimSpace(r.stdout) != dir("b.db") || !strings.Contains(r.stderr, "integrity ok") {
		t.Errorf("backup output: %q %q", r.stdout, r.stderr)
	}
	if fi, err := os.Stat(dir("b.db")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v %v", fi, err)
	}
	r = writ(t, "", "backup", "--data-dir", dir("a"), "--out", dir("b.db"))
	if r.code != exitUsage || !strings.Contains(r.stderr, "--force") {
		t.Errorf("a second backup to the same file: %d %q", r.code, r.stderr)
	}
	writ(t, "", "backup", "--data-dir", dir("a"), "--out", dir("b.db"), "--force").mustSucceed(t)

	// Restore into a new directory, with the master key beside it.
	writ(t, "", "restore", "--data-dir", dir("r")).mustFail(t, exitUsage, "--from is required")
	os.MkdirAll(dir("r"), 0o700)
	copyBackupTestFile(t, dir("a/master.key"), dir("r/master.key"))
	r = writ(t, "", "restore", "--data-dir", dir("r"), "--from", dir("b.db")).mustSucceed(t)
	if !strings.Contains(r.stderr, "the master key opens the restored signing keys") || !strings.Contains(r.stderr, "restored "+dir("r/writ.db")) {
		t.Errorf("restore output: %q", r.stderr)
	}

	// Without a master key the restore succeeds and warns.
	r = writ(t, "", "restore", "--data-dir", dir("r2"), "--from", dir("b.db")).mustSucceed(t)
	if !strings.Contains(r.stderr, "warning: no master key to check the restored signing keys") {
		t.Errorf("restore without a master key: %q", r.stderr)
	}

	// Export, then import into another directory with the same key.
	writ(t, "", "export", "--data-dir", dir("r"), "--out", dir("e.json")).mustSucceed(t)
	if fi, err := os.Stat(dir("e.json")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("export file: %v %v", fi, err)
	}
	writ(t, "", "export", "--data-dir", dir("r"), "--out", dir("e.json")).mustFail(t, exitUsage, "exists")
	os.MkdirAll(dir("c"), 0o700)
	copyBackupTestFile(t, dir("a/master.key"), dir("c/master.key"))
	doc, _ := os.ReadFile(dir("e.json"))
	r = writ(t, string(doc), "import", "--data-dir", dir("c")).mustSucceed(t)
	if !strings.Contains(r.stderr, "created 2 clients") {
		t.Errorf("import output: %q", r.stderr)
	}
	writ(t, string(doc), "import", "--data-dir", dir("c")).mustFail(t, exitUsage, "client one", "--merge")
	writ(t, string(doc), "import", "--data-dir", dir("c"), "--merge", "--replace").mustFail(t, exitUsage, "exclude")
	r = writ(t, "", "import", "--data-dir", dir("c"), "--in", dir("e.json"), "--replace").mustSucceed(t)
	if !strings.Contains(r.stderr, "replaced 2 clients") {
		t.Errorf("import --replace output: %q", r.stderr)
	}

	// Another master key is refused, and nothing is written.
	os.MkdirAll(dir("d"), 0o700)
	writ(t, "", "key", "master", "--out", dir("d/master.key")).mustSucceed(t)
	writ(t, string(doc), "import", "--data-dir", dir("d")).mustFail(t, exitUsage, "master key differs")
	// No master key at all: never generated here.
	writ(t, string(doc), "import", "--data-dir", dir("none")).mustFail(t, exitUsage, "no master key")
	writ(t, "{}", "import", "--data-dir", dir("c")).mustFail(t, exitUsage, "invalid export document")
}

func copyBackupTestFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

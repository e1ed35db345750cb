// Package backup copies writ's embedded SQLite store while a server uses
// it, checks copies, and restores one in place of a store that no server
// is using.
//
// A backup is a consistent snapshot: SQLite's VACUUM INTO runs in one read
// transaction, which in WAL mode neither waits for nor blocks the server's
// writer, and sees every transaction committed before it began and none
// after. The copy is written to a temporary file of mode 0600 (it holds
// client secret hashes, password hashes and the sealed key ring), checked
// (PRAGMA integrity_check, schema version known to this binary), synced,
// and only then given its name, which an existing file keeps unless Force.
//
// A restore takes the store's exclusive advisory lock (see Lock: every
// `writ serve` on a SQLite store holds it shared), so it refuses while a
// server runs; it checks the backup, copies it beside the store, applies
// the migrations it lacks, and renames the previous database (with its
// -wal and -shm files) aside instead of deleting it.
//
// PostgreSQL is not handled here: use pg_dump, or `writ export`.
package backup

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	// The modernc.org/sqlite driver, registered as "sqlite".
	_ "modernc.org/sqlite"

	"github.com/writ-dev/writ/internal/store/sqlite"
)

// ErrExists reports that the backup's destination exists and Force was
// not set.
var ErrExists = errors.New("backup: destination exists (use --force to overwrite it)")

// ErrInvalidBackup reports a file that is not a sound writ database: not
// SQLite, failing the integrity check, without writ's schema, or with a
// schema newer than this binary.
var ErrInvalidBackup = errors.New("backup: not a valid writ backup")

// Options adjust Backup.
type Options struct {
	// Force overwrites an existing destination file.
	Force bool
	// Progress, when not nil, receives human-readable progress lines.
	Progress io.Writer
	// Now is the clock that names a backup written into a directory; nil
	// means time.Now.
	Now func() time.Time
	// ProgressInterval is how often the size written so far is reported;
	// zero means one second.
	ProgressInterval time.Duration
}

// Result describes a backup or a checked database file.
type Result struct {
	// Path is the file.
	Path string
	// Bytes is its size.
	Bytes int64
	// Check is the outcome of the check of the file.
	Check Check
}

// Check is what Verify found in a database file.
type Check struct {
	// SchemaVersion is the highest migration applied to it.
	SchemaVersion int
	// Applied is how many migrations are applied to it.
	Applied int
	// Pending is how many migrations this binary knows that it lacks; a
	// restore applies them.
	Pending int
}

// Backup writes a consistent copy of the SQLite database at src to dst: a
// file, or, when dst is an existing directory, a file named
// writ-YYYYMMDDTHHMMSSZ.db in it. The source is only read; a server may be
// writing to it. Nothing is left at dst unless the copy passed Verify.
func Backup(ctx context.Context, src, dst string, o Options) (Result, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ProgressInterval <= 0 {
		o.ProgressInterval = time.Second
	}
	src, err := filepath.Abs(src)
	if err != nil {
		return Result{}, fmt.Errorf("backup: source path: %w", err)
	}
	if fi, err := os.Stat(src); err != nil {
		return Result{}, fmt.Errorf("backup: source database: %w", err)
	} else if !fi.Mode().IsRegular() {
		return Result{}, fmt.Errorf("backup: source database %s is not a regular file", src)
	}
	if fi, err := os.Stat(dst); err == nil && fi.IsDir() {
		dst = filepath.Join(dst, "writ-"+o.Now().UTC().Format("20060102T150405Z")+".db")
	}
	if dst, err = filepath.Abs(dst); err != nil {
		return Result{}, fmt.Errorf("backup: destination path: %w", err)
	}
	if dst == src {
		return Result{}, errors.New("backup: the destination is the source database")
	}
	if fi, err := os.Lstat(dst); err == nil {
		if !fi.Mode().IsRegular() {
			return Result{}, fmt.Errorf("backup: destination %s exists and is not a regular file", dst)
		}
		if !o.Force {
			return Result{}, fmt.Errorf("%w: %s", ErrExists, dst)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return Result{}, fmt.Errorf("backup: destination: %w", err)
	}

	db, err := sql.Open("sqlite", fileURI(src, url.Values{"mode": {"rw"}, "_pragma": {"busy_timeout(5000)"}}))
	if err != nil {
		return Result{}, fmt.Errorf("backup: open source: %w", err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	var pages, pageSize int64
	if err := db.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
		return Result{}, fmt.Errorf("backup: read source %s: %w", src, err)
	}
	if err := db.QueryRowContext(ctx, "PRAGMA page_size").Scan(&pageSize); err != nil {
		return Result{}, fmt.Errorf("backup: read source %s: %w", src, err)
	}
	say(o.Progress, "backing up %s (%s) to %s", src, size(pages*pageSize), dst)

	tmp, err := createTemp(dst)
	if err != nil {
		return Result{}, err
	}
	keep := false
	defer func() {
		if !keep {
			os.Remove(tmp)
		}
	}()
	stop := watch(o.Progress, tmp, o.ProgressInterval)
	_, err = db.ExecContext(ctx, "VACUUM INTO ?", tmp)
	stop()
	if err != nil {
		return Result{}, fmt.Errorf("backup: copy %s: %w", src, err)
	}
	db.Close()
	if err := syncFile(tmp); err != nil {
		return Result{}, err
	}
	check, err := Verify(ctx, tmp)
	if err != nil {
		return Result{}, fmt.Errorf("backup: the copy failed its check: %w", err)
	}
	if o.Force {
		err = os.Rename(tmp, dst)
	} else {
		// A link does not replace a file that appeared meanwhile.
		if err = os.Link(tmp, dst); err == nil {
			os.Remove(tmp)
		} else if errors.Is(err, os.ErrExist) {
			err = fmt.Errorf("%w: %s", ErrExists, dst)
		}
	}
	if err != nil {
		return Result{}, fmt.Errorf("backup: %w", err)
	}
	keep = true
	syncDir(filepath.Dir(dst))
	fi, err := os.Stat(dst)
	if err != nil {
		return Result{}, fmt.Errorf("backup: %w", err)
	}
	return Result{Path: dst, Bytes: fi.Size(), Check: check}, nil
}

// Verify checks that the SQLite file at path is a sound writ database
// this binary can use: PRAGMA integrity_check answers ok, and every
// migration applied to it is one this binary knows (it may lack newer
// ones: Check.Pending). The file is opened read-only and immutable: it
// must not be a live database with a -wal file (ErrInvalidBackup).
func Verify(ctx context.Context, path string) (Check, error) {
	if _, err := os.Stat(path + "-wal"); err == nil {
		return Check{}, fmt.Errorf("%w: %s has a -wal file beside it: is it a live database? Make a backup of it with `writ backup`", ErrInvalidBackup, path)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return Check{}, fmt.Errorf("backup: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return Check{}, fmt.Errorf("%w: %s is not a regular file", ErrInvalidBackup, path)
	}
	db, err := sql.Open("sqlite", fileURI(path, url.Values{"mode": {"ro"}, "immutable": {"1"}}))
	if err != nil {
		return Check{}, fmt.Errorf("backup: open %s: %w", path, err)
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		return Check{}, fmt.Errorf("%w: %s: %w", ErrInvalidBackup, path, err)
	}
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			rows.Close()
			return Check{}, fmt.Errorf("%w: %s: %w", ErrInvalidBackup, path, err)
		}
		if line != "ok" && len(problems) < 5 {
			problems = append(problems, line)
		}
	}
	if err := rows.Err(); err != nil {
		return Check{}, fmt.Errorf("%w: %s: %w", ErrInvalidBackup, path, err)
	}
	rows.Close()
	if len(problems) > 0 {
		return Check{}, fmt.Errorf("%w: %s: integrity check: %s", ErrInvalidBackup, path, strings.Join(problems, "; "))
	}
	applied, err := appliedVersions(ctx, db)
	if err != nil {
		return Check{}, fmt.Errorf("%w: %s: %w", ErrInvalidBackup, path, err)
	}
	known, err := knownMigrations(ctx)
	if err != nil {
		return Check{}, err
	}
	c := Check{Applied: len(applied)}
	for _, v := range applied {
		if !known[v] {
			return Check{}, fmt.Errorf("%w: %s has schema migration %04d, which this binary does not know: restore it with a writ at least as new as the one that made it", ErrInvalidBackup, path, v)
		}
		c.SchemaVersion = max(c.SchemaVersion, v)
	}
	for v := range known {
		if !contains(applied, v) {
			c.Pending++
		}
	}
	return c, nil
}

// appliedVersions reads the schema_migrations table of a writ database.
func appliedVersions(ctx context.Context, db *sql.DB) ([]int, error) {
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&n); err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, errors.New("no schema_migrations table: not a writ database")
	}
	rows, err := db.QueryContext(ctx, `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, errors.New("no migration applied: not a writ database")
	}
	return out, nil
}

// knownMigrations lists the SQLite migrations embedded in this binary,
// read from an empty in-memory store.
func knownMigrations(ctx context.Context) (map[int]bool, error) {
	st, err := sqlite.Open(ctx, sqlite.MemoryPath)
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	defer st.Close()
	list, err := st.MigrationStatus(ctx)
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	known := make(map[int]bool, len(list))
	for _, m := range list {
		known[m.Version] = true
	}
	return known, nil
}

func contains(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// fileURI is the modernc.org/sqlite DSN of the file at an absolute path
// with query parameters q.
func fileURI(path string, q url.Values) string {
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// createTemp creates an empty file of mode 0600 beside dst, to be renamed
// to dst once complete.
func createTemp(dst string) (string, error) {
	b := make([]byte, 6)
	rand.Read(b)
	tmp := filepath.Join(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp-"+hex.EncodeToString(b))
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("backup: create %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("backup: create %s: %w", tmp, err)
	}
	return tmp, nil
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("backup: sync %s: %w", path, err)
	}
	return nil
}

// syncDir makes a rename in dir durable; it is best effort.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// watch reports the size of path every interval until stop is called.
func watch(w io.Writer, path string, interval time.Duration) (stop func()) {
	if w == nil {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if fi, err := os.Stat(path); err == nil {
					say(w, "  %s written", size(fi.Size()))
				}
			}
		}
	}()
	return func() { close(done); <-finished }
}

func say(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, "writ: "+format+"\n", args...)
	}
}

// size formats a byte count for people.
func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

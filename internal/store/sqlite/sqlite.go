// Package sqlite is writ's embedded store: a single SQLite database file
// through modernc.org/sqlite (pure Go, no cgo).
//
// # Connections and concurrency
//
// SQLite allows one writer at a time. Rather than letting writers race for
// the file lock and time out with SQLITE_BUSY, the store keeps two pools:
//
//   - a writer pool of exactly one connection (SetMaxOpenConns(1)); every
//     write and every read-modify-write transaction goes through it, so
//     writers in this process queue in database/sql instead of in SQLite.
//     Its transactions start with BEGIN IMMEDIATE (_txlock=immediate), so a
//     transaction holds the write lock from its first statement and cannot
//     fail halfway when it upgrades from reading to writing. Transactions
//     of concurrent callers are committed together (group commit, see
//     groupCommit): one caller runs the queued functions, each in a
//     savepoint, and commits them at once.
//   - a reader pool of several query_only connections for plain reads. In
//     WAL mode readers never block the writer and the writer never blocks
//     them.
//   - a checkpointer: one more connection on which a goroutine copies the
//     write-ahead log into the database file every second (a PASSIVE
//     checkpoint, which blocks neither), so that the writer's commits do
//     not (checkpoint.go).
//
// busy_timeout (5 s) covers the remaining contention: another process on the
// same file (a `writ migrate` next to a running server) and WAL checkpoints.
// A timeout still reported by SQLite becomes store.ErrConflict.
//
// Every connection runs with foreign_keys on; the writer also sets
// journal_mode WAL (checked at open) and synchronous NORMAL, which in WAL
// mode is durable against application crashes and keeps the database
// consistent on power loss (the last transactions may roll back).
//
// The path ":memory:" opens a private in-memory database on one connection
// (both pools are the same), for tests.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/internal/migrate"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// MemoryPath is the path that opens a private in-memory database.
const MemoryPath = ":memory:"

// busyTimeoutMillis is how long a connection waits for a lock held by
// another connection (normally another process) before giving up.
const busyTimeoutMillis = 5000

// Store is a store.Store on a SQLite database file.
type Store struct {
	w          *pool // the single writer connection
	r          *pool // read-only connections (the same as w in memory)
	group      groupCommit
	migrations []migrate.File
	// name is the database's "file:" URI (empty in memory); ckpt
	// checkpoints its write-ahead log (nil in memory).
	name string
	ckpt *checkpointer
}

var (
	_ store.Store          = (*Store)(nil)
	_ store.GroupCommitter = (*Store)(nil)
)

// GroupCommits reports how the write transactions shared commits
// (groupCommit); Reruns is always 0.
func (s *Store) GroupCommits() store.GroupCommitStats {
	return store.GroupCommitStats{Commits: s.group.commits.Load(), Writes: s.group.writes.Load()}
}

// Open opens (creating if needed, with mode 0600) the SQLite database at
// path and returns a store on it. The directory must exist. Open does not
// migrate: call Migrate.
func Open(ctx context.Context, path string) (*Store, error) {
	files, err := migrate.Load(migrationFS, "migrations")
	if err != nil {
		return nil, fmt.Errorf("store/sqlite: %w", err)
	}
	if path == "" {
		return nil, errors.New("store/sqlite: empty database path")
	}
	if path == MemoryPath {
		db, err := sql.Open("sqlite", dsn("file::memory:", true))
		if err != nil {
			return nil, fmt.Errorf("store/sqlite: open in-memory database: %w", err)
		}
		// One connection for ever: closing it would drop the database.
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
		db.SetConnMaxLifetime(0)
		db.SetConnMaxIdleTime(0)
		p := newPool(db)
		s := &Store{w: p, r: p, migrations: files}
		if err := s.Ping(ctx); err != nil {
			db.Close()
			return nil, err
		}
		return s, nil
	}

	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("store/sqlite: database path: %w", err)
	}
	// Create the file ourselves so that it (and the -wal and -shm files
	// SQLite derives from its mode) is readable by the owner only: it holds
	// secret hashes and the sealed key ring.
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store/sqlite: open database file: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("store/sqlite: open database file: %w", err)
	}
	name := "file:" + (&url.URL{Path: abs}).EscapedPath()

	w, err := sql.Open("sqlite", dsn(name, true))
	if err != nil {
		return nil, fmt.Errorf("store/sqlite: open writer: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	var mode string
	if err := w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		w.Close()
		return nil, fmt.Errorf("store/sqlite: open %s: %w", abs, classify(err))
	}
	if !strings.EqualFold(mode, "wal") {
		w.Close()
		return nil, fmt.Errorf("store/sqlite: %s: journal mode is %q, want WAL (is the file on a network file system?)", abs, mode)
	}

	r, err := sql.Open("sqlite", dsn(name, false))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("store/sqlite: open readers: %w", err)
	}
	readers := max(4, runtime.NumCPU())
	r.SetMaxOpenConns(readers)
	r.SetMaxIdleConns(readers)
	s := &Store{w: newPool(w), r: newPool(r), migrations: files, name: name}
	if err := s.Ping(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if s.ckpt, err = startCheckpointer(name); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// dsn builds a modernc.org/sqlite DSN for name (a "file:" URI) with the
// connection settings of a writer or a reader.
func dsn(name string, writer bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeoutMillis))
	q.Add("_pragma", "foreign_keys(1)")
	if writer {
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(NORMAL)")
		// The checkpointer checkpoints; the writer only past a large log
		// (checkpoint.go).
		q.Add("_pragma", fmt.Sprintf("wal_autocheckpoint(%d)", writerAutoCheckpoint))
		// Statement journals (the undo log of one statement inside a
		// transaction, and of each group-commit savepoint) in memory: they
		// hold the pages one transaction changes, and a temporary file
		// costs a pwrite(2) per page.
		q.Add("_pragma", "temp_store(MEMORY)")
		q.Set("_txlock", "immediate")
	} else {
		q.Add("_pragma", "query_only(1)")
	}
	return name + "?" + q.Encode()
}

// Ping checks that the database answers on both pools.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.w.PingContext(ctx); err != nil {
		return fmt.Errorf("store/sqlite: ping: %w", classify(err))
	}
	if err := s.r.PingContext(ctx); err != nil {
		return fmt.Errorf("store/sqlite: ping: %w", classify(err))
	}
	return nil
}

// Close closes every connection.
func (s *Store) Close() error {
	var err error
	if s.ckpt != nil {
		err = s.ckpt.close()
	}
	s.w.closeStmts()
	s.r.closeStmts()
	err = errors.Join(err, s.w.Close())
	if s.r != s.w {
		err = errors.Join(err, s.r.Close())
	}
	if err != nil {
		return fmt.Errorf("store/sqlite: close: %w", err)
	}
	return nil
}

// classify maps SQLite result codes onto the store sentinels, keeping the
// driver error in the chain. Driver messages name tables and columns, never
// values.
func classify(err error) error {
	var se *sqlite.Error
	if !errors.As(err, &se) || errors.Is(err, store.ErrAlreadyExists) || errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) {
		return err
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE:
		return fmt.Errorf("%w: %w", store.ErrAlreadyExists, err)
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return fmt.Errorf("%w: %w", store.ErrNotFound, err)
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return fmt.Errorf("%w: %w", store.ErrConflict, err)
	}
	return err
}

// rollback ends a transaction that was not committed; after a commit it is
// a no-op.
func rollback(tx *sql.Tx) {
	_ = tx.Rollback()
}

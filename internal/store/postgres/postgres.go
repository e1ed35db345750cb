// Package postgres is writ's PostgreSQL store, on jackc/pgx v5 through a
// pgxpool connection pool (not database/sql).
//
// Read-modify-write operations (UpdateClient, UpdateKeyRing) run in one
// READ COMMITTED transaction that locks the row first with SELECT ... FOR
// UPDATE, so concurrent updaters queue on the row instead of overwriting
// each other. Single-use and uniqueness rules are primary keys, written with
// INSERT ... ON CONFLICT DO NOTHING so that a duplicate is a result, not an
// error. Migrations take a transaction-scoped advisory lock, so nodes
// starting together apply each migration exactly once.
//
// Pool size and timeouts come from the DSN (pool_max_conns,
// pool_max_conn_lifetime, connect_timeout, ...), as pgxpool documents; the
// pool size defaults to DefaultMaxConns.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/internal/migrate"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Store is a store.Store on a PostgreSQL database.
type Store struct {
	pool       *pgxpool.Pool
	migrations []migrate.File
	// group carries the one-statement writes of concurrent callers
	// (redemptions, rotations, opaque tokens, sessions...) in shared
	// commits.
	group *groupCommit
	// reads carries the lookups made outside a transaction (a code or
	// refresh token with its user, a token, a user, a session, a
	// client...) in shared batches.
	reads *groupCommit
}

var (
	_ store.Store          = (*Store)(nil)
	_ store.GroupCommitter = (*Store)(nil)
)

// GroupCommits reports how the one-statement writes shared commits
// (groupCommit).
func (s *Store) GroupCommits() store.GroupCommitStats { return s.group.stats() }

// DefaultMaxConns is the pool size when the DSN sets no pool_max_conns.
// pgxpool's own default (the number of CPUs, at least 4) lets only that
// many requests use the database at once: the reads, the transactions
// (a replay's revocation, an admin change, the audit's batches) and the
// group commit's batch (one at a time, carrying the one-statement writes
// of every request waiting) share the pool, and PostgreSQL flushes the
// commits waiting together with one fsync, so a larger pool serves more
// of them per flush.
const DefaultMaxConns = 16

// Open connects to the PostgreSQL database named by dsn (a postgres:// URL
// or a key=value connection string) and checks that it answers. Open does
// not migrate: call Migrate.
func Open(ctx context.Context, dsn string) (*Store, error) {
	files, err := migrate.Load(migrationFS, "migrations")
	if err != nil {
		return nil, fmt.Errorf("store/postgres: %w", err)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// Parse errors may quote the DSN, password included: say only that
		// it did not parse.
		return nil, errors.New("store/postgres: the DSN does not parse as a PostgreSQL connection string (details withheld: it may contain a password)")
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		cfg.MaxConns = DefaultMaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store/postgres: %w", err)
	}
	s := &Store{pool: pool, migrations: files, group: &groupCommit{pool: pool},
		reads: &groupCommit{pool: pool, readOnly: true}}
	if err := s.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("store/postgres: ping: %w", classify(err))
	}
	return nil
}

// Close closes the pool, waiting for connections in use to be returned.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// SQLSTATE codes the store maps onto its sentinels.
const (
	uniqueViolation      = "23505"
	foreignKeyViolation  = "23503"
	serializationFailure = "40001"
	deadlockDetected     = "40P01"
	lockNotAvailable     = "55P03"
	// Class 08 (connection exception) and these mean the database is
	// not there for us: store.ErrUnavailable.
	adminShutdown      = "57P01"
	crashShutdown      = "57P02"
	cannotConnectNow   = "57P03"
	tooManyConnections = "53300"
)

// unreachable reports whether err (not a server error) means that the
// database could not be reached or the connection broke: a failed
// connect, a network error, a connection closed under the query.
func unreachable(err error) bool {
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || pgconn.SafeToRetry(err) || strings.Contains(err.Error(), "conn closed")
}

// sentinels are the store's sentinel errors: an error wrapping one is
// classified already (a record's validation, a refused rotation), and its
// message, which may name what was refused, is never matched.
var sentinels = []error{store.ErrNotFound, store.ErrAlreadyExists, store.ErrConflict, store.ErrInvalid,
	store.ErrReused, store.ErrExpired, store.ErrUnavailable}

// classify maps PostgreSQL errors onto the store sentinels, keeping the
// driver error in the chain. PgError.Error() carries the message and code,
// not the Detail field that may quote values.
func classify(err error) error {
	var pe *pgconn.PgError
	if err == nil || slices.ContainsFunc(sentinels, func(s error) bool { return errors.Is(err, s) }) {
		return err
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) || (!errors.As(err, &pe) && unreachable(err)) {
		return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	}
	if pe == nil {
		return err
	}
	if strings.HasPrefix(pe.Code, "08") || pe.Code == adminShutdown || pe.Code == crashShutdown || pe.Code == cannotConnectNow || pe.Code == tooManyConnections {
		return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	}
	switch pe.Code {
	case uniqueViolation:
		return fmt.Errorf("%w: %w", store.ErrAlreadyExists, err)
	case foreignKeyViolation:
		return fmt.Errorf("%w: %w", store.ErrNotFound, err)
	case serializationFailure, deadlockDetected, lockNotAvailable:
		return fmt.Errorf("%w: %w", store.ErrConflict, err)
	}
	return err
}

// inTx runs fn in one transaction and commits when fn returns nil.
// Errors, fn's included, are classified.
func (s *Store) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return classify(err)
	}
	defer rollback(ctx, tx)
	if err := fn(tx); err != nil {
		return classify(err)
	}
	// The audit events of the change (store.WithAudit) go in with it.
	intent, events, err := store.ClaimAudit(ctx)
	if err != nil {
		return err
	}
	if intent != nil {
		if _, err := appendAudits(ctx, tx, events); err != nil {
			intent.Release()
			return classify(err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		intent.Release()
		return classify(err)
	}
	intent.MarkCommitted()
	return nil
}

// writer is what a one-statement write runs on: the group commit, or a
// transaction.
type writer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// write runs fn, a one-statement write, in a commit shared with
// concurrent callers' (groupCommit: each statement commits on its own
// terms, as an autocommit would); when ctx carries a pending audit
// intent, in a transaction (inTx) that appends its events.
func (s *Store) write(ctx context.Context, fn func(q writer) error) error {
	if store.AuditPending(ctx) {
		return s.inTx(ctx, func(tx pgx.Tx) error { return fn(tx) })
	}
	return fn(s.group)
}

// rollback ends a transaction that was not committed; after a commit it is
// a no-op. It ignores ctx's cancellation (a cancelled request must still
// release its locks) but not for longer than rollbackTimeout.
func rollback(ctx context.Context, tx pgx.Tx) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
	defer cancel()
	_ = tx.Rollback(ctx)
}

const rollbackTimeout = 5 * time.Second

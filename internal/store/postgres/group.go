package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/writ-dev/writ/internal/store"
)

// maxGroup bounds how many callers' statements one grouped commit carries.
const maxGroup = 64

// maxLeaders is how many batches may be under way at once. One: a second
// batch sent while the first waits for its WAL flush does not share that
// flush, it waits for the next; at 16 connections on 2 cores, two leaders
// flushed twice as often (0.25 flushes per redemption against 0.13) for
// as many redemptions per second, and four for 15% fewer. Each node of a
// cluster has its own.
const maxLeaders = 1

// groupTimeout bounds a grouped batch's round trip: no caller's context
// governs a batch that carries other callers' statements.
const groupTimeout = 30 * time.Second

// groupLockTimeout bounds how long a grouped batch waits for a row lock
// (PostgreSQL's lock_timeout, set for the batch's transaction alone). A
// statement waiting for a lock holds the whole batch, every caller in it
// and every caller queued behind it; within the batch it is refused after
// this long, and it waits for its lock again on its own, without a bound,
// as it would have without the group. Locks between writ's own
// transactions are held for milliseconds.
const groupLockTimeout = "100ms"

// groupCommit lets the one-statement writes of concurrent callers (a
// redemption, a rotation, an opaque token's row, a session: each atomic on
// its own) share one transaction, and so one commit and one WAL flush.
// Alone, each is an autocommit whose commit waits for an fsync of the
// WAL: on a virtual machine's disk that flush costs PostgreSQL more CPU
// than executing the statement, and its own commit group (commits that
// arrive while a flush is under way share the next) held about two
// commits per flush at 16 connections.
//
// A caller queues its op (one statement for a write); the first caller
// that finds nobody leading sends everything queued as one pipelined
// batch (one round trip: pgx runs a batch as one implicit transaction,
// committed at its Sync), then hands the lead to the next caller waiting.
// The statements run in queue order, each seeing what the earlier ones
// wrote, as if they had committed one after the other.
//
// What a caller is told is true of the database. Its row is returned only
// once the batch committed. When PostgreSQL refused any statement of the
// batch, the implicit transaction rolled back and nothing of it happened:
// every op is run again on its own, so a statement fails only for its own
// reason. When the connection failed, whether the batch committed
// is unknown, as it is for a statement sent alone: every caller gets the
// error.
//
// The lookups made outside a transaction (a code or refresh token with
// its user and consent, a few statements: groupCommit.Read; a token, a
// user, a session, a client: QueryRow) are grouped the same way in a
// group of their own (readOnly), so that they never wait for a write's
// WAL flush. Alone, each is a round trip and a transaction of its own,
// and waking the backend costs PostgreSQL more than the lookup: grouped,
// it spent about 100 µs less CPU per code redemption, 200 µs less per
// rotation and 40 µs less per introspection, on 2 cores.
type groupCommit struct {
	pool *pgxpool.Pool
	// readOnly marks a group of reads: its batches set no lock_timeout.
	readOnly bool

	mu      sync.Mutex
	queue   []*groupOp
	leading int

	// commits, writes and reruns are GroupCommits' counts.
	commits, writes, reruns atomic.Uint64
}

// groupOp is one caller's statements, run one after the other in its
// batch, and their outcome.
type groupOp struct {
	ctx   context.Context
	stmts []*groupStmt
	// rerun is set when the batch rolled back: the statements must run
	// again on their own.
	rerun bool
	// panicked holds what scanning a row panicked with, to panic again on
	// the caller's goroutine.
	panicked any
	// lead receives the batch this caller is to send (its op first), or
	// nil once its batch ended.
	lead chan []*groupOp
}

// groupStmt is one statement of an op, what reads its row, and its
// outcome.
type groupStmt struct {
	sql  string
	args []any
	// scan reads the statement's row; nil marks a statement run for its
	// command tag (Exec).
	scan func(pgx.Row) error
	tag  pgconn.CommandTag
	// err is the statement's own outcome in the batch: nil (its row was
	// scanned, or tag set), pgx.ErrNoRows, or what refused it or its
	// scan.
	err error
}

// newOp returns an op of stmts for a caller.
func newOp(ctx context.Context, stmts ...*groupStmt) *groupOp {
	return &groupOp{ctx: ctx, stmts: stmts, lead: make(chan []*groupOp, 1)}
}

// QueryRow returns a row whose Scan runs the statement in the next
// grouped batch, for a one-statement write returning at most one row.
func (g *groupCommit) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return &groupRow{g: g, ctx: ctx, sql: sql, args: args}
}

// Exec runs the statement in the next grouped batch and returns its
// command tag: with QueryRow, a writer for one-statement writes.
func (g *groupCommit) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	st := &groupStmt{sql: sql, args: args}
	g.do(newOp(ctx, st))
	return st.tag, st.err
}

// Read runs stmts, one after the other, in the next grouped batch, and
// sets each one's outcome (err, pgx.ErrNoRows for no row).
func (g *groupCommit) Read(ctx context.Context, stmts ...*groupStmt) {
	g.do(newOp(ctx, stmts...))
}

// groupRow is the statement QueryRow deferred to its Scan.
type groupRow struct {
	g    *groupCommit
	ctx  context.Context
	sql  string
	args []any
}

// Scan runs the statement in a grouped batch and scans its one row into
// dest (pgx.ErrNoRows when it returned none).
func (r *groupRow) Scan(dest ...any) error {
	st := &groupStmt{sql: r.sql, args: r.args, scan: func(row pgx.Row) error { return row.Scan(dest...) }}
	r.g.do(newOp(r.ctx, st))
	return st.err
}

// do queues op and returns once its batch ended, with each statement's
// outcome set. A caller that finds fewer than maxLeaders batches under way
// sends one; otherwise it waits, and the leader whose batch ends first
// takes what is queued and hands it to the caller at its head to send: no
// caller waits for more than its own batch and the one before.
func (g *groupCommit) do(op *groupOp) {
	if err := op.ctx.Err(); err != nil {
		op.fail(err)
		return
	}
	var batch []*groupOp
	g.mu.Lock()
	g.queue = append(g.queue, op)
	if g.leading < maxLeaders {
		// Nothing is queued while a leader could take it: op is alone.
		g.leading++
		batch = g.take()
		g.mu.Unlock()
	} else {
		g.mu.Unlock()
		if batch = <-op.lead; batch == nil {
			g.outcome(op)
			return
		}
	}
	// op leads batch, whose first op it is.
	panicked := g.runGuarded(batch)
	for _, o := range batch[1:] {
		o.lead <- nil
	}
	g.mu.Lock()
	if len(g.queue) == 0 {
		g.leading--
		g.mu.Unlock()
	} else {
		next := g.take()
		g.mu.Unlock()
		next[0].lead <- next
	}
	if panicked != nil {
		panic(panicked)
	}
	g.outcome(op)
}

// fail sets err as the outcome of each of op's statements.
func (op *groupOp) fail(err error) {
	for _, st := range op.stmts {
		st.err = err
	}
}

// runGuarded runs batch; should run panic anyway (a bug outside the
// scans, which keep their panics to themselves), every statement of the
// batch gets an error and the panic is returned, for the leader to panic
// again once it has handed the lead on: no caller waits for ever and the
// group goes on.
func (g *groupCommit) runGuarded(batch []*groupOp) (panicked any) {
	defer func() {
		if v := recover(); v != nil {
			for _, o := range batch {
				o.fail(fmt.Errorf("%s failed: %v", g.what(), v))
				o.rerun = false
			}
			panicked = v
		}
	}()
	g.run(batch)
	return nil
}

// take removes up to maxGroup ops from the head of the queue; g.mu is
// held.
func (g *groupCommit) take() []*groupOp {
	n, queued := min(len(g.queue), maxGroup), len(g.queue)
	batch := make([]*groupOp, n)
	copy(batch, g.queue)
	g.queue = append(g.queue[:0], g.queue[n:]...)
	// The vacated tail keeps no op alive.
	clear(g.queue[len(g.queue):queued])
	return batch
}

// outcome completes op's result, running its statements again on their
// own when its batch rolled back; it panics with what the scan of a row
// of op's panicked with.
func (g *groupCommit) outcome(op *groupOp) {
	if op.panicked != nil {
		panic(op.panicked)
	}
	if op.rerun {
		g.alone(op)
	}
}

// batchRow is the current row of a batch's result as a pgx.Row. It
// scans with ScanRow, not rows.Scan: a row that does not scan is this
// statement's outcome alone, where rows.Scan would fail the batch's later
// statements with it (the batch committed all the same: its Sync is
// sent).
type batchRow struct{ rows pgx.Rows }

// Scan implements pgx.Row.
func (r batchRow) Scan(dest ...any) error {
	return pgx.ScanRow(r.rows.Conn().TypeMap(), r.rows.FieldDescriptions(), r.rows.RawValues(), dest...)
}

// scanIn scans the current row of rows for st. A panic of the scan (a
// destination's own Scan method) is kept for op's caller, so that pgx
// reads the rest of the batch and gives its connection back to the pool.
func (op *groupOp) scanIn(st *groupStmt, rows pgx.Rows) {
	defer func() {
		if v := recover(); v != nil {
			if op.panicked == nil {
				op.panicked = v
			}
			st.err = fmt.Errorf("scanning the row panicked: %v", v)
		}
	}()
	st.err = st.scan(batchRow{rows})
}

// alone runs op on its own, on its own context: one statement as an
// autocommit, several as a batch of their own.
func (g *groupCommit) alone(op *groupOp) {
	if len(op.stmts) == 1 {
		st := op.stmts[0]
		if st.scan == nil {
			st.tag, st.err = g.pool.Exec(op.ctx, st.sql, st.args...)
			return
		}
		st.err = st.scan(g.pool.QueryRow(op.ctx, st.sql, st.args...))
		return
	}
	b := &pgx.Batch{}
	for _, st := range op.stmts {
		b.Queue(st.sql, st.args...)
	}
	res := g.pool.SendBatch(op.ctx, b)
	for _, st := range op.stmts {
		if st.scan == nil {
			st.tag, st.err = res.Exec()
			continue
		}
		st.err = st.scan(res.QueryRow())
	}
	if err := res.Close(); err != nil {
		for _, st := range op.stmts {
			if st.err == nil || errors.Is(st.err, pgx.ErrNoRows) {
				st.err = err
			}
		}
	}
}

// run sends one batch and sets each op's outcome. A batch of one op runs
// alone, on the caller's context.
func (g *groupCommit) run(batch []*groupOp) {
	live := batch[:0:0]
	for _, op := range batch {
		if err := op.ctx.Err(); err != nil {
			op.fail(err)
			continue
		}
		live = append(live, op)
	}
	if len(live) > 0 {
		g.commits.Add(1)
		g.writes.Add(uint64(len(live)))
	}
	switch len(live) {
	case 0:
		return
	case 1:
		g.alone(live[0])
		return
	}
	b := &pgx.Batch{}
	if !g.readOnly {
		// For this transaction only: a statement that waits longer for a
		// row lock fails the batch, which then runs op by op, so that
		// the callers whose rows are free do not wait with it.
		b.Queue(`SELECT set_config('lock_timeout', $1, true)`, groupLockTimeout)
	}
	for _, op := range live {
		for _, st := range op.stmts {
			q := b.Queue(st.sql, st.args...)
			if st.scan == nil {
				// A refusal comes back from Exec, and ends the batch.
				q.Exec(func(tag pgconn.CommandTag) error {
					st.tag = tag
					return nil
				})
				continue
			}
			q.Query(func(rows pgx.Rows) error {
				if !rows.Next() {
					// A refusal comes back from Query (rows.Err), and
					// ends the batch; no row is the statement's own
					// outcome.
					st.err = pgx.ErrNoRows
					return nil
				}
				op.scanIn(st, rows)
				return nil
			})
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), groupTimeout)
	defer cancel()
	err := g.pool.SendBatch(ctx, b).Close()
	for _, op := range live {
		for _, st := range op.stmts {
			if err == nil && refused(st.err) {
				err = st.err
			}
		}
	}
	if err == nil {
		return
	}
	if refused(err) {
		// PostgreSQL refused a statement (or the commit): the implicit
		// transaction rolled back, nothing of the batch happened.
		for _, op := range live {
			op.fail(nil)
			op.rerun = true
		}
		g.reruns.Add(uint64(len(live)))
		return
	}
	// The connection failed: the batch may or may not have committed.
	for _, op := range live {
		op.fail(fmt.Errorf("%s: %w", g.what(), err))
	}
}

// what names the group's batches in errors.
func (g *groupCommit) what() string {
	if g.readOnly {
		return "grouped read"
	}
	return "grouped commit"
}

// stats returns the group's counts so far.
func (g *groupCommit) stats() store.GroupCommitStats {
	return store.GroupCommitStats{Commits: g.commits.Load(), Writes: g.writes.Load(), Reruns: g.reruns.Load()}
}

// refused reports whether err is PostgreSQL refusing a statement or the
// commit (an ERROR it sent: the transaction rolled back, the session goes
// on). A FATAL error (the session ending: an administrator's
// pg_terminate_backend, a shutdown) may come after the commit, so it
// counts as a failed connection, as does anything that is not the
// server's answer.
func refused(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	severity := pe.SeverityUnlocalized // PostgreSQL 9.6 and later
	if severity == "" {
		severity = pe.Severity
	}
	return severity == "ERROR"
}

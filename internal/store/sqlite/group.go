package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/writ-dev/writ/internal/store"
)

// maxGroup bounds how many callers' transactions one commit carries.
const maxGroup = 64

// groupCommit lets the write transactions of concurrent callers share one
// SQLite transaction (group commit). SQLite has one writer: a caller of
// inTx queues its function, and the first caller that finds nobody leading
// runs everything queued as one transaction, then hands the lead to the
// next one waiting. Each function runs in its own SAVEPOINT, so its error
// undoes only its own statements; the commit, which every caller waits
// for, makes them all durable at once. A redemption writes a dozen pages
// and commits with a write(2) per page: sharing the pages and the commit
// is most of what a busy server's transactions cost.
//
// The result is the serial execution of the functions in queue order:
// each sees what the earlier ones wrote. What a caller is told is true of
// the database: nil only after the commit of its statements, an error when
// they did not commit.
type groupCommit struct {
	mu      sync.Mutex
	queue   []*groupOp
	leading bool

	// commits and writes are GroupCommits' counts.
	commits, writes atomic.Uint64
}

// groupOp is one caller's transaction function and its outcome.
type groupOp struct {
	ctx context.Context
	fn  func(tx dbtx) error
	err error
	// panicked holds what fn panicked with, to panic again on the
	// caller's goroutine.
	panicked any
	// wake receives true when this caller is to lead the next batch, or
	// false once its function ran and err is set.
	wake chan bool
}

// do queues fn and returns once it ran in a committed (nil) or failed
// transaction. run executes one batch, setting each op's err.
func (g *groupCommit) do(ctx context.Context, fn func(tx dbtx) error, run func([]*groupOp)) error {
	op := &groupOp{ctx: ctx, fn: fn, wake: make(chan bool, 1)}
	g.mu.Lock()
	g.queue = append(g.queue, op)
	if g.leading {
		g.mu.Unlock()
		if lead := <-op.wake; !lead {
			return op.result()
		}
		g.mu.Lock()
	} else {
		g.leading = true
	}
	// This caller leads, and its op is first in the queue (it was queued
	// on an empty queue, or the lead was handed to the queue's head).
	n := min(len(g.queue), maxGroup)
	batch := make([]*groupOp, n)
	copy(batch, g.queue)
	g.queue = append(g.queue[:0], g.queue[n:]...)
	g.mu.Unlock()

	g.commits.Add(1)
	g.writes.Add(uint64(len(batch)))
	runGuarded(batch, op, run)

	for _, o := range batch[1:] {
		o.wake <- false
	}
	g.mu.Lock()
	if len(g.queue) == 0 {
		g.leading = false
	} else {
		g.queue[0].wake <- true
	}
	g.mu.Unlock()
	return op.result()
}

// runGuarded runs a batch; should run itself panic (a bug: functions'
// panics are caught one by one), the batch's callers get an error, and
// the leader, whose op is lead, panics once it has handed the lead on, so
// that no caller waits for ever and the writer stays usable.
func runGuarded(batch []*groupOp, lead *groupOp, run func([]*groupOp)) {
	defer func() {
		if v := recover(); v != nil {
			for _, o := range batch {
				if o.err == nil {
					o.err = fmt.Errorf("store/sqlite: group commit failed: %v", v)
				}
			}
			lead.panicked = v
		}
	}()
	run(batch)
}

// result returns the op's error, or panics with what its function
// panicked with.
func (o *groupOp) result() error {
	if o.panicked != nil {
		panic(o.panicked)
	}
	return o.err
}

// call runs the op's function on q, turning a panic into an error (and
// keeping it for the op's own goroutine).
func (o *groupOp) call(q dbtx) (err error) {
	defer func() {
		if v := recover(); v != nil {
			o.panicked = v
			err = fmt.Errorf("transaction function panicked: %v", v)
		}
	}()
	return o.fn(q)
}

// inTx runs fn in a transaction on the writer (BEGIN IMMEDIATE), shared
// with other callers' functions when they are queued together
// (groupCommit), and returns nil once it committed. Errors, fn's included,
// are classified. The audit events ctx carries (store.WithAudit) are
// appended with fn's statements. Every write goes through it, one-statement
// writes too: alone, a write costs a BEGIN and a COMMIT more than on its
// own, but concurrent writes share one commit instead of queueing for the
// writer one commit each (an opaque client credentials token's row: 15%
// more tokens per second at 16 connections).
func (s *Store) inTx(ctx context.Context, fn func(tx dbtx) error) error {
	return s.group.do(ctx, fn, s.runBatch)
}

// runBatch runs the ops of one batch in one transaction. A single op runs
// as a plain transaction on its own context; several run each in a
// savepoint, on a context no caller can cancel: a statement cancelled
// half-way would roll back the others' work with its own.
func (s *Store) runBatch(batch []*groupOp) {
	if len(batch) == 1 {
		op := batch[0]
		op.err = s.runTx(op)
		return
	}
	ctx := context.Background()
	tx, q, end, err := s.begin(ctx, true)
	if err != nil {
		for _, op := range batch {
			op.err = err
		}
		return
	}
	defer end()
	intents := make([]*store.AuditIntent, 0, len(batch))
	ran := false // some op's statements are in the transaction
	// fail ends the batch: the transaction rolls back, so no op that ran
	// (or was to run) committed anything.
	fail := func(err error) {
		for _, in := range intents {
			in.Release()
		}
		for _, op := range batch {
			if op.err == nil {
				op.err = err
			}
		}
	}
	for _, op := range batch {
		if err := op.ctx.Err(); err != nil {
			op.err = err
			continue
		}
		if _, err := q.ExecContext(ctx, `SAVEPOINT op`); err != nil {
			fail(classify(err))
			return
		}
		intent, err := s.runOp(ctx, q, op)
		if err != nil {
			op.err = classify(err)
			// An error such as SQLITE_FULL may have rolled back the whole
			// transaction; then the savepoint is gone and so is the batch.
			if _, rerr := q.ExecContext(ctx, `ROLLBACK TO op`); rerr != nil {
				fail(fmt.Errorf("the shared transaction ended with another caller's error: %w", classify(rerr)))
				return
			}
			if _, rerr := q.ExecContext(ctx, `RELEASE op`); rerr != nil {
				fail(classify(rerr))
				return
			}
			continue
		}
		if intent != nil {
			intents = append(intents, intent)
		}
		if _, err := q.ExecContext(ctx, `RELEASE op`); err != nil {
			// The savepoint is gone: something the function ran ended
			// the transaction.
			fail(fmt.Errorf("the shared transaction ended inside a transaction function: %w", classify(err)))
			return
		}
		ran = true
	}
	if !ran {
		return
	}
	if err := tx.Commit(); err != nil {
		fail(classify(err))
		return
	}
	for _, in := range intents {
		in.MarkCommitted()
	}
}

// runOp runs one op's function and appends its audit events, returning
// the claimed intent to mark once the transaction commits.
func (s *Store) runOp(ctx context.Context, q dbtx, op *groupOp) (*store.AuditIntent, error) {
	if err := op.call(q); err != nil {
		return nil, err
	}
	intent, events, err := store.ClaimAudit(op.ctx)
	if err != nil || intent == nil {
		return nil, err
	}
	if _, err := appendAudits(ctx, q, events); err != nil {
		intent.Release()
		return nil, err
	}
	return intent, nil
}

// begin starts a transaction on the writer and returns it with the
// statement runner for it; end rolls back what was not committed and
// then prepares the statements that ran plain (stmtTx). A shared
// transaction's statements run on ctx whatever context they are given.
func (s *Store) begin(ctx context.Context, shared bool) (tx *sql.Tx, q stmtTx, end func(), err error) {
	tx, err = s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, stmtTx{}, nil, classify(err)
	}
	missed := new([]string)
	q = stmtTx{tx: tx, p: s.w, missed: missed}
	if shared {
		q.ctx = ctx
	}
	return tx, q, func() {
		rollback(tx)
		if *missed != nil {
			s.w.prepareMissed(ctx, *missed)
		}
	}, nil
}

// runTx runs one op in a transaction of its own, on its own context.
func (s *Store) runTx(op *groupOp) error {
	ctx := op.ctx
	tx, q, end, err := s.begin(ctx, false)
	if err != nil {
		return err
	}
	defer end()
	intent, err := s.runOp(ctx, q, op)
	if err != nil {
		return classify(err)
	}
	if err := tx.Commit(); err != nil {
		intent.Release()
		return classify(err)
	}
	intent.MarkCommitted()
	return nil
}

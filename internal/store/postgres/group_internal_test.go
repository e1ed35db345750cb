package postgres

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/postgres/pgtest"
)

// groupFixture is a groupCommit on a database of its own with a table g
// (k text PRIMARY KEY, v int) holding the rows "gate" and "gate2", which a
// test locks to hold a batch at the server while more statements queue.
type groupFixture struct {
	dsn  string
	pool *pgxpool.Pool
	g    *groupCommit
}

func newGroupFixture(t *testing.T) *groupFixture {
	t.Helper()
	pgtest.Require(t)
	dsn := pgtest.NewDatabase(t)
	pool, err := pgxpool.New(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := pool.Exec(t.Context(), `CREATE TABLE g (k text PRIMARY KEY, v int NOT NULL);
		INSERT INTO g VALUES ('gate', 0), ('gate2', 0)`); err != nil {
		t.Fatal(err)
	}
	return &groupFixture{dsn: dsn, pool: pool, g: &groupCommit{pool: pool}}
}

// lock holds row k's lock in a transaction of its own until the returned
// function ends it.
func (f *groupFixture) lock(t *testing.T, k string) (release func()) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), f.dsn)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := conn.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(t.Context(), `SELECT 1 FROM g WHERE k = $1 FOR UPDATE`, k); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			if err := tx.Commit(context.Background()); err != nil {
				t.Error(err)
			}
			conn.Close(context.Background())
		})
	}
	t.Cleanup(release)
	return release
}

// waitQueued waits until n statements wait in the queue behind a batch
// under way. It polls the queue, yielding between looks: it orders the
// test's steps and has no deadline of its own (the test's timeout bounds
// it), as the SQLite store's group tests do.
func (f *groupFixture) waitQueued(t *testing.T, n int) {
	t.Helper()
	for {
		f.g.mu.Lock()
		queued := len(f.g.queue)
		f.g.mu.Unlock()
		if queued >= n {
			return
		}
		runtime.Gosched()
	}
}

// waitLockWait waits until a backend waits for a row lock in a statement
// containing text, and returns its process id (no deadline of its own:
// the test's timeout bounds it).
func (f *groupFixture) waitLockWait(t *testing.T, text string) int {
	t.Helper()
	return f.waitBackend(t, "Lock", text)
}

// waitBackend waits until a backend of the test's database waits on an
// event of type waitType (pg_stat_activity's wait_event_type) in a
// statement containing text, and returns its process id.
func (f *groupFixture) waitBackend(t *testing.T, waitType, text string) int {
	t.Helper()
	for {
		var pid int
		err := f.pool.QueryRow(t.Context(), `SELECT pid FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = $1 AND strpos(query, $2) > 0`, waitType, text).Scan(&pid)
		if err == nil {
			return pid
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			t.Fatalf("waiting for a statement to wait on %s: %v", waitType, err)
		}
		// The query's own round trip paces the polling.
	}
}

// stmt is a statement's outcome through the group.
type stmt struct {
	sql  string
	args []any
	ctx  context.Context
	v    int
	err  error
	dest []any
	// exec runs the statement by Exec; tag is its command tag.
	exec bool
	tag  pgconn.CommandTag
}

// start runs each statement through the group on a goroutine of its own;
// wait returns once all have their outcome.
func (f *groupFixture) start(stmts ...*stmt) (wait func()) {
	var wg sync.WaitGroup
	for _, s := range stmts {
		ctx := s.ctx
		if ctx == nil {
			ctx = context.Background()
		}
		dest := s.dest
		if dest == nil {
			dest = []any{&s.v}
		}
		wg.Go(func() {
			if s.exec {
				s.tag, s.err = f.g.Exec(ctx, s.sql, s.args...)
				return
			}
			s.err = f.g.QueryRow(ctx, s.sql, s.args...).Scan(dest...)
		})
	}
	return wg.Wait
}

// gatedBy holds a batch at the server with startLead (which sends
// something that waits for the locked row gate), then starts each of
// queue, one at a time so that the queue holds them in this order, and
// releases the lock once they are all queued: they go as one batch. It
// returns once every one of them has its outcome.
func (f *groupFixture) gatedBy(t *testing.T, startLead func() (wait func()), queue []func() (wait func())) {
	t.Helper()
	release := f.lock(t, "gate")
	waitLead := startLead()
	f.waitLockWait(t, "'gate'")
	var waits []func()
	for i, start := range queue {
		waits = append(waits, start())
		f.waitQueued(t, i+1)
	}
	release()
	waitLead()
	for _, wait := range waits {
		wait()
	}
}

// gated holds a batch with a statement updating the locked row gate (a
// batch of one that waits at the server) while stmts queue behind it:
// stmts go as one batch.
func (f *groupFixture) gated(t *testing.T, stmts ...*stmt) {
	t.Helper()
	lead := &stmt{sql: `UPDATE g SET v = v + 1 WHERE k = 'gate' RETURNING v`}
	queue := make([]func() func(), len(stmts))
	for i, st := range stmts {
		queue[i] = func() func() { return f.start(st) }
	}
	f.gatedBy(t, func() func() { return f.start(lead) }, queue)
	if lead.err != nil {
		t.Fatalf("the leading statement: %v", lead.err)
	}
}

func insert(k string, v int) *stmt {
	return &stmt{sql: `INSERT INTO g (k, v) VALUES ($1, $2) RETURNING v`, args: []any{k, v}}
}

// execInsert inserts by Exec, where insert reads the row back.
func execInsert(k string, v int) *stmt {
	return &stmt{sql: `INSERT INTO g (k, v) VALUES ($1, $2)`, args: []any{k, v}, exec: true}
}

// transactions returns how many transactions wrote the rows named keys
// (their distinct xmin), failing the test unless every row exists.
func (f *groupFixture) transactions(t *testing.T, keys ...string) int {
	t.Helper()
	var rows, xids int
	if err := f.pool.QueryRow(t.Context(), `SELECT count(*), count(DISTINCT xmin::text) FROM g WHERE k = ANY($1)`,
		keys).Scan(&rows, &xids); err != nil {
		t.Fatal(err)
	}
	if rows != len(keys) {
		t.Fatalf("%d of the rows %v exist", rows, keys)
	}
	return xids
}

// TestGroupCommitSharesOneTransaction: statements queued while a batch is
// under way go together as the next batch, in one transaction, in queue
// order, each with its own row.
func TestGroupCommitSharesOneTransaction(t *testing.T) {
	f := newGroupFixture(t)
	var stmts []*stmt
	var keys []string
	for i := range 10 {
		keys = append(keys, fmt.Sprint("k", i))
		if i%2 == 0 {
			stmts = append(stmts, insert(keys[i], i))
		} else {
			stmts = append(stmts, execInsert(keys[i], i))
		}
	}
	// Queue order: a later statement sees an earlier one's row.
	seen := &stmt{sql: `SELECT count(*) FROM g WHERE k LIKE 'k%'`}
	f.gated(t, append(stmts, seen)...)
	for i, s := range stmts {
		switch {
		case s.err != nil:
			t.Fatalf("statement %d: %v", i, s.err)
		case s.exec && s.tag.String() != "INSERT 0 1":
			t.Fatalf("statement %d: tag %q, want INSERT 0 1", i, s.tag)
		case !s.exec && s.v != i:
			t.Fatalf("statement %d: v %d, want %d", i, s.v, i)
		}
	}
	if seen.err != nil || seen.v != 10 {
		t.Fatalf("the last statement of the batch counted %d rows (%v), want the 10 before it", seen.v, seen.err)
	}
	if n := f.transactions(t, keys...); n != 1 {
		t.Fatalf("the 10 rows were written by %d transactions, want 1", n)
	}
	// The leader alone, then the eleven queued together.
	if got, want := f.g.stats(), (store.GroupCommitStats{Commits: 2, Writes: 12}); got != want {
		t.Fatalf("stats %+v, want %+v", got, want)
	}
}

// TestGroupCommitRefusalRunsEachAlone: when PostgreSQL refuses one
// statement of a batch, the batch rolls back and every statement runs
// again on its own: the others succeed, the refused one gets its own
// error, and a statement matching nothing gets pgx.ErrNoRows.
func TestGroupCommitRefusalRunsEachAlone(t *testing.T) {
	f := newGroupFixture(t)
	dup := insert("gate2", 7) // the key exists
	execDup := execInsert("gate", 8)
	none := &stmt{sql: `UPDATE g SET v = 1 WHERE k = 'missing' RETURNING v`}
	ok1, ok2, ok3 := insert("a", 1), execInsert("b", 2), insert("c", 3)
	f.gated(t, ok1, dup, none, ok2, execDup, ok3)
	for _, s := range []*stmt{ok1, ok2, ok3} {
		if s.err != nil {
			t.Fatalf("%v: %v", s.args, s.err)
		}
	}
	if ok2.tag.String() != "INSERT 0 1" {
		t.Fatalf("the Exec run again: tag %q, want INSERT 0 1", ok2.tag)
	}
	for _, s := range []*stmt{dup, execDup} {
		var pe *pgconn.PgError
		if !errors.As(s.err, &pe) || pe.Code != uniqueViolation {
			t.Fatalf("the duplicate %v: %v, want a unique violation", s.args, s.err)
		}
	}
	if !errors.Is(none.err, pgx.ErrNoRows) {
		t.Fatalf("the statement matching nothing: %v, want pgx.ErrNoRows", none.err)
	}
	// Run again one by one: three transactions, not the batch's one.
	if n := f.transactions(t, "a", "b", "c"); n != 3 {
		t.Fatalf("the rows were written by %d transactions, want 3", n)
	}
	if got, want := f.g.stats(), (store.GroupCommitStats{Commits: 2, Writes: 7, Reruns: 6}); got != want {
		t.Fatalf("stats %+v, want %+v", got, want)
	}
}

// TestGroupCommitScanErrorIsNotRerun: a statement whose row does not scan
// committed all the same; it is not run again (which would insert its row
// twice, or fail on the key), and the others are unaffected.
func TestGroupCommitScanErrorIsNotRerun(t *testing.T) {
	f := newGroupFixture(t)
	var a, b int
	bad := &stmt{sql: `INSERT INTO g (k, v) VALUES ('bad', 1) RETURNING v`, dest: []any{&a, &b}}
	good := insert("good", 2)
	f.gated(t, bad, good)
	if bad.err == nil || refused(bad.err) {
		t.Fatalf("the statement scanned into two destinations: %v, want a scan error", bad.err)
	}
	if good.err != nil {
		t.Fatal(good.err)
	}
	if n := f.transactions(t, "bad", "good"); n != 1 {
		t.Fatalf("the rows were written by %d transactions, want the batch's one", n)
	}
}

// TestGroupCommitCancelledWhileQueued: a statement whose context ends
// while it waits in the queue is not sent.
func TestGroupCommitCancelledWhileQueued(t *testing.T) {
	f := newGroupFixture(t)
	ctx, cancel := context.WithCancel(t.Context())
	gone := insert("gone", 1)
	gone.ctx = ctx
	kept := insert("kept", 2)
	release := f.lock(t, "gate")
	lead := &stmt{sql: `UPDATE g SET v = v + 1 WHERE k = 'gate' RETURNING v`}
	waitLead := f.start(lead)
	f.waitLockWait(t, "'gate'")
	wait := f.start(gone, kept)
	f.waitQueued(t, 2)
	cancel()
	release()
	waitLead()
	wait()
	if !errors.Is(gone.err, context.Canceled) {
		t.Fatalf("the cancelled statement: %v, want context.Canceled", gone.err)
	}
	if kept.err != nil {
		t.Fatal(kept.err)
	}
	var n int
	if err := f.pool.QueryRow(t.Context(), `SELECT count(*) FROM g WHERE k = 'gone'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("the cancelled statement's row: %d, %v; want none", n, err)
	}
}

// TestGroupCommitConnectionLost: when the batch's session ends under it
// (here an administrator's pg_terminate_backend while a statement of the
// batch sleeps, which no lock timeout ends), whether it committed is
// unknown to the callers, so none is run again: each gets the error. The
// server rolled the batch back.
func TestGroupCommitConnectionLost(t *testing.T) {
	f := newGroupFixture(t)
	releaseGate := f.lock(t, "gate")
	lead := &stmt{sql: `UPDATE g SET v = v + 1 WHERE k = 'gate' RETURNING v`}
	waitLead := f.start(lead)
	f.waitLockWait(t, "'gate'")
	// The next batch: one of its statements sleeps until terminated.
	held := &stmt{sql: `SELECT 1 FROM pg_sleep(600)`}
	x, y := insert("x", 1), insert("y", 2)
	// Were held run again, it would sleep until this ends.
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	held.ctx, x.ctx, y.ctx = ctx, ctx, ctx
	wait := f.start(held, x, y)
	f.waitQueued(t, 3)
	releaseGate()
	waitLead()
	pid := f.waitBackend(t, "Timeout", "pg_sleep(600)")
	if _, err := f.pool.Exec(t.Context(), `SELECT pg_terminate_backend($1)`, pid); err != nil {
		t.Fatal(err)
	}
	wait()
	for _, s := range []*stmt{held, x, y} {
		if s.err == nil || refused(s.err) {
			t.Fatalf("%s: %v, want the lost connection's error", s.sql, s.err)
		}
	}
	var n int
	if err := f.pool.QueryRow(t.Context(), `SELECT count(*) FROM g WHERE k IN ('x', 'y')`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("rows of the lost batch: %d, %v; want none (rolled back, not run again)", n, err)
	}
	// The group goes on.
	z := insert("z", 3)
	f.start(z)()
	if z.err != nil {
		t.Fatal(z.err)
	}
}

// TestGroupCommitLockWaitDoesNotHoldTheBatch: a statement that waits for
// a row lock held elsewhere (here by a transaction that stays open) does
// not hold the rest of its batch: past the batch's lock timeout the batch
// runs statement by statement, the others commit, and it waits for its
// lock on its own.
func TestGroupCommitLockWaitDoesNotHoldTheBatch(t *testing.T) {
	f := newGroupFixture(t)
	releaseGate2 := f.lock(t, "gate2")
	// Bounded, so that a batch held for ever fails the test instead of
	// hanging it.
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	x, y := insert("x", 1), execInsert("y", 2)
	held := &stmt{sql: `UPDATE g SET v = v + 1 WHERE k = 'gate2' RETURNING v`}
	x.ctx, y.ctx, held.ctx = ctx, ctx, ctx

	releaseGate := f.lock(t, "gate")
	lead := &stmt{sql: `UPDATE g SET v = v + 1 WHERE k = 'gate' RETURNING v`}
	waitLead := f.start(lead)
	f.waitLockWait(t, "'gate'")
	waitX := f.start(x)
	f.waitQueued(t, 1)
	waitHeld := f.start(held)
	f.waitQueued(t, 2)
	waitY := f.start(y)
	f.waitQueued(t, 3)
	releaseGate()
	waitLead()
	// gate2 is still locked: x and y commit all the same.
	waitX()
	waitY()
	if x.err != nil || y.err != nil {
		t.Fatalf("the statements whose rows are free: %v, %v", x.err, y.err)
	}
	f.transactions(t, "x", "y")
	// The held statement waits for its lock, alone, without a timeout.
	f.waitLockWait(t, "'gate2'")
	releaseGate2()
	waitHeld()
	if held.err != nil || held.v != 1 {
		t.Fatalf("the statement that waited for gate2: v %d, %v; want 1, nil", held.v, held.err)
	}
}

// TestGroupCommitScanPanic: a destination whose scan panics (a bug)
// panics its own caller, after the batch, which committed; the other
// statements of the batch are unaffected, the connection goes back to the
// pool (Close would wait for it for ever) and the group goes on.
func TestGroupCommitScanPanic(t *testing.T) {
	f := newGroupFixture(t)
	boom := &stmt{sql: `INSERT INTO g (k, v) VALUES ('boom', 1) RETURNING v`}
	other := insert("other", 2)
	release := f.lock(t, "gate")
	lead := &stmt{sql: `UPDATE g SET v = v + 1 WHERE k = 'gate' RETURNING v`}
	waitLead := f.start(lead)
	f.waitLockWait(t, "'gate'")
	panicked := make(chan any, 1)
	go func() {
		defer func() { panicked <- recover() }()
		boom.err = f.g.QueryRow(t.Context(), boom.sql).Scan(panicScanner{})
	}()
	f.waitQueued(t, 1)
	waitOther := f.start(other)
	f.waitQueued(t, 2)
	release()
	waitLead()
	if v := <-panicked; v != "scanner bug" {
		t.Fatalf("the caller whose row's scan panicked recovered %v, want the scan's panic", v)
	}
	waitOther()
	if other.err != nil || other.v != 2 {
		t.Fatalf("the other statement of the batch: %d, %v", other.v, other.err)
	}
	if n := f.transactions(t, "boom", "other"); n != 1 {
		t.Fatalf("the batch's rows were written by %d transactions, want 1", n)
	}
	after := insert("after", 3)
	f.start(after)()
	if after.err != nil {
		t.Fatalf("the group after a panic: %v", after.err)
	}
}

// panicScanner panics when pgx scans an integer into it.
type panicScanner struct{}

func (panicScanner) ScanInt64(pgtype.Int8) error { panic("scanner bug") }

// readOp is a read op through the group: its statements, each scanning
// one text column into its own value.
type readOp struct {
	stmts []*groupStmt
	vals  []string
}

func newReadOp(sqls ...string) *readOp {
	r := &readOp{vals: make([]string, len(sqls))}
	for i, q := range sqls {
		r.stmts = append(r.stmts, &groupStmt{sql: q, scan: func(row pgx.Row) error { return row.Scan(&r.vals[i]) }})
	}
	return r
}

// startRead runs r through the group on a goroutine; the returned
// function waits for its outcome.
func (f *groupFixture) startRead(r *readOp) (wait func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.g.Read(context.Background(), r.stmts...)
	}()
	return func() { <-done }
}

// gatedReads holds a read batch with a read of the locked row gate while
// ops queue behind it: ops go as one batch.
func (f *groupFixture) gatedReads(t *testing.T, ops ...*readOp) {
	t.Helper()
	lead := newReadOp(`SELECT v::text FROM g WHERE k = 'gate' FOR UPDATE`)
	queue := make([]func() func(), len(ops))
	for i, op := range ops {
		queue[i] = func() func() { return f.startRead(op) }
	}
	f.gatedBy(t, func() func() { return f.startRead(lead) }, queue)
	if err := lead.stmts[0].err; err != nil {
		t.Fatalf("the leading read: %v", err)
	}
}

// TestGroupReadOps: the statements of read ops queued together run in one
// batch (one transaction: one now()), each op's in its order, with no row
// as a statement's own outcome; a read group sets no lock_timeout.
func TestGroupReadOps(t *testing.T) {
	f := newGroupFixture(t)
	f.g.readOnly = true
	first := newReadOp(`SELECT v::text FROM g WHERE k = 'gate2'`, `SELECT v::text FROM g WHERE k = 'missing'`,
		`SELECT now()::text`, `SHOW lock_timeout`)
	second := newReadOp(`SELECT now()::text`, `SELECT 'two'`)
	f.gatedReads(t, first, second)
	for i, want := range []error{nil, pgx.ErrNoRows, nil, nil} {
		if err := first.stmts[i].err; !errors.Is(err, want) {
			t.Fatalf("first op, statement %d: %v, want %v", i, err, want)
		}
	}
	for i, st := range second.stmts {
		if st.err != nil {
			t.Fatalf("second op, statement %d: %v", i, st.err)
		}
	}
	if first.vals[0] != "0" || second.vals[1] != "two" {
		t.Fatalf("rows %q and %q, want 0 and two", first.vals[0], second.vals[1])
	}
	if first.vals[2] != second.vals[0] {
		t.Fatalf("the ops ran in transactions started at %s and %s, want one", first.vals[2], second.vals[0])
	}
	if first.vals[3] != "0" {
		t.Fatalf("a read batch ran with lock_timeout %s, want the default 0", first.vals[3])
	}
}

// TestGroupReadRefusalRunsEachAlone: when PostgreSQL refuses a statement
// of a read batch, each op runs again alone, its statements as a batch of
// their own: the other ops get their rows, and the refused op its error
// for that statement.
func TestGroupReadRefusalRunsEachAlone(t *testing.T) {
	f := newGroupFixture(t)
	f.g.readOnly = true
	bad := newReadOp(`SELECT 'fine'`, `SELECT (1 / (v - v))::text FROM g WHERE k = 'gate2'`)
	good := newReadOp(`SELECT 'good'`, `SELECT v::text FROM g WHERE k = 'gate2'`)
	f.gatedReads(t, bad, good)
	for i, st := range good.stmts {
		if st.err != nil {
			t.Fatalf("the other op's statement %d: %v", i, st.err)
		}
	}
	if good.vals[0] != "good" || good.vals[1] != "0" {
		t.Fatalf("the other op's rows: %q", good.vals)
	}
	var pe *pgconn.PgError
	if err := bad.stmts[1].err; !errors.As(err, &pe) || pe.Code != "22012" {
		t.Fatalf("the refused statement: %v, want division_by_zero", err)
	}
	if n := f.g.reruns.Load(); n != 2 {
		t.Fatalf("%d ops ran again, want 2", n)
	}
}

// TestGroupTake: a batch takes at most maxGroup ops from the head of the
// queue, in order, also when more than two batches' worth wait, and the
// queue's vacated tail holds no op.
func TestGroupTake(t *testing.T) {
	for _, queued := range []int{1, maxGroup, maxGroup + 1, 2*maxGroup + 5} {
		g := &groupCommit{}
		ops := make([]*groupOp, queued)
		for i := range ops {
			ops[i] = newOp(context.Background())
		}
		g.queue = append(g.queue, ops...)
		batch := g.take()
		n := min(queued, maxGroup)
		if len(batch) != n || len(g.queue) != queued-n {
			t.Fatalf("%d queued: took %d, left %d; want %d and %d", queued, len(batch), len(g.queue), n, queued-n)
		}
		for i, op := range batch {
			if op != ops[i] {
				t.Fatalf("%d queued: op %d of the batch is not the queue's op %d", queued, i, i)
			}
		}
		for i, op := range g.queue {
			if op != ops[n+i] {
				t.Fatalf("%d queued: op %d left is not the queue's op %d", queued, i, n+i)
			}
		}
		for i, op := range g.queue[len(g.queue):queued] {
			if op != nil {
				t.Fatalf("%d queued: the vacated slot %d still holds an op", queued, len(g.queue)+i)
			}
		}
	}
}

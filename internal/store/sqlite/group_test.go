package sqlite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/store"
)

// groupStore opens a migrated store on a file with a scratch table g.
func groupStore(t *testing.T) *Store {
	t.Helper()
	s := migrated(t, filepath.Join(t.TempDir(), "writ.db"))
	if _, err := s.w.ExecContext(t.Context(), `CREATE TABLE g (k TEXT NOT NULL PRIMARY KEY) STRICT`); err != nil {
		t.Fatal(err)
	}
	return s
}

func insertG(ctx context.Context, tx dbtx, k string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO g (k) VALUES (?)`, k)
	return err
}

// keys returns what table g holds, read on a reader connection.
func keys(t *testing.T, s *Store) []string {
	t.Helper()
	rows, err := s.r.QueryContext(t.Context(), `SELECT k FROM g ORDER BY k`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ks []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		ks = append(ks, k)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return ks
}

// groupRun is a batch runner that records the size of each batch.
type groupRun struct {
	s     *Store
	mu    sync.Mutex
	sizes []int
}

func (r *groupRun) run(batch []*groupOp) {
	r.mu.Lock()
	r.sizes = append(r.sizes, len(batch))
	r.mu.Unlock()
	r.s.runBatch(batch)
}

// queued waits until n callers wait in the queue behind the leader. It
// polls the queue, yielding between looks: it orders the test's steps and
// has no deadline of its own (the test's timeout bounds it).
func queued(s *Store, n int) {
	for {
		s.group.mu.Lock()
		l := len(s.group.queue)
		s.group.mu.Unlock()
		if l >= n {
			return
		}
		runtime.Gosched()
	}
}

// hold starts a leader whose transaction waits for release, so that the
// callers started next queue behind it and run as one batch.
func hold(t *testing.T, s *Store, r *groupRun) (release func(), done <-chan error) {
	t.Helper()
	started, unblock := make(chan struct{}), make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		errc <- s.group.do(t.Context(), func(tx dbtx) error {
			close(started)
			<-unblock
			return insertG(t.Context(), tx, "leader")
		}, r.run)
	}()
	<-started
	return func() { close(unblock) }, errc
}

func TestGroupCommitBatch(t *testing.T) {
	s := groupStore(t)
	r := &groupRun{s: s}
	release, leader := hold(t, s, r)

	boom := errors.New("boom")
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	auditCtx, intent, err := store.WithAudit(t.Context(), store.AuditEvent{Type: "test_event", Time: time.Unix(1_700_000_000, 0)})
	if err != nil {
		t.Fatal(err)
	}
	failedCtx, failedIntent, err := store.WithAudit(t.Context(), store.AuditEvent{Type: "test_event", Time: time.Unix(1_700_000_000, 0)})
	if err != nil {
		t.Fatal(err)
	}
	type call struct {
		name string
		ctx  context.Context
		fn   func(ctx context.Context, tx dbtx) error
		want error // nil, a sentinel, or boom
	}
	calls := []call{
		{"commits", t.Context(), func(ctx context.Context, tx dbtx) error { return insertG(ctx, tx, "a") }, nil},
		{"fails after a write", t.Context(), func(ctx context.Context, tx dbtx) error {
			if err := insertG(ctx, tx, "failed"); err != nil {
				return err
			}
			return boom
		}, boom},
		{"violates a constraint", t.Context(), func(ctx context.Context, tx dbtx) error {
			if err := insertG(ctx, tx, "dup-first"); err != nil {
				return err
			}
			return insertG(ctx, tx, "a") // the first call's key
		}, store.ErrAlreadyExists},
		{"sees earlier calls", t.Context(), func(ctx context.Context, tx dbtx) error {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM g WHERE k IN ('a', 'failed', 'dup-first')`).Scan(&n); err != nil {
				return err
			}
			if n != 1 {
				return errors.New("the batch's earlier calls are not seen as committed in queue order")
			}
			return insertG(ctx, tx, "b")
		}, nil},
		{"cancelled while queued", cancelled, func(ctx context.Context, tx dbtx) error { return insertG(ctx, tx, "cancelled") }, context.Canceled},
		{"audited", auditCtx, func(ctx context.Context, tx dbtx) error { return insertG(ctx, tx, "c") }, nil},
		{"audited, fails", failedCtx, func(ctx context.Context, tx dbtx) error { return boom }, boom},
	}
	errs := make([]error, len(calls))
	var wg sync.WaitGroup
	for i, c := range calls {
		wg.Go(func() {
			errs[i] = s.group.do(c.ctx, func(tx dbtx) error { return c.fn(c.ctx, tx) }, r.run)
		})
		// One at a time, so that the queue's order is the table's.
		queued(s, i+1)
	}
	release()
	if err := <-leader; err != nil {
		t.Fatalf("leader: %v", err)
	}
	wg.Wait()
	for i, c := range calls {
		if c.want == nil && errs[i] != nil || c.want != nil && !errors.Is(errs[i], c.want) {
			t.Errorf("%s: error %v, want %v", c.name, errs[i], c.want)
		}
	}
	if want := []int{1, len(calls)}; !slices.Equal(r.sizes, want) {
		t.Errorf("batch sizes %v, want %v (the leader alone, then every queued call together)", r.sizes, want)
	}
	if got, want := s.GroupCommits(), (store.GroupCommitStats{Commits: 2, Writes: 1 + uint64(len(calls))}); got != want {
		t.Errorf("GroupCommits %+v, want %+v", got, want)
	}
	if got, want := keys(t, s), []string{"a", "b", "c", "leader"}; !slices.Equal(got, want) {
		t.Errorf("table holds %q, want %q", got, want)
	}
	if !intent.Committed() {
		t.Error("the audited call's events are not marked committed")
	}
	if failedIntent.Committed() || !store.AuditPending(failedCtx) {
		t.Error("the failed call's audit intent is not pending again")
	}
	var pending int
	if err := s.r.QueryRowContext(t.Context(), `SELECT count(*) FROM audit_pending`).Scan(&pending); err != nil {
		t.Fatal(err)
	}
	if pending != 1 {
		t.Errorf("audit_pending holds %d events, want the audited call's 1", pending)
	}
}

// A function that ends the shared transaction itself takes the whole
// batch down: no caller is told its work committed.
func TestGroupCommitTransactionEndedInside(t *testing.T) {
	s := groupStore(t)
	r := &groupRun{s: s}
	release, leader := hold(t, s, r)
	fns := []func(ctx context.Context, tx dbtx) error{
		func(ctx context.Context, tx dbtx) error { return insertG(ctx, tx, "before") },
		func(ctx context.Context, tx dbtx) error {
			_, err := tx.ExecContext(ctx, `ROLLBACK`)
			return err
		},
		func(ctx context.Context, tx dbtx) error { return insertG(ctx, tx, "after") },
	}
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Go(func() {
			errs[i] = s.group.do(t.Context(), func(tx dbtx) error { return fn(t.Context(), tx) }, r.run)
		})
		queued(s, i+1)
	}
	release()
	if err := <-leader; err != nil {
		t.Fatalf("leader: %v", err)
	}
	wg.Wait()
	for i, err := range errs {
		if err == nil {
			t.Errorf("call %d succeeded in a transaction that was rolled back", i)
		}
	}
	if got, want := keys(t, s), []string{"leader"}; !slices.Equal(got, want) {
		t.Errorf("table holds %q, want %q", got, want)
	}
	// The writer works on.
	if err := s.inTx(t.Context(), func(tx dbtx) error { return insertG(t.Context(), tx, "later") }); err != nil {
		t.Fatalf("a transaction after the failed batch: %v", err)
	}
}

// A panic in a transaction function reaches its own caller; the others
// in the batch commit.
func TestGroupCommitPanic(t *testing.T) {
	s := groupStore(t)
	r := &groupRun{s: s}
	release, leader := hold(t, s, r)
	var wg sync.WaitGroup
	var panicked any
	var otherErr error
	wg.Add(2)
	go func() {
		defer wg.Done()
		defer func() { panicked = recover() }()
		_ = s.group.do(t.Context(), func(tx dbtx) error {
			if err := insertG(t.Context(), tx, "panicked"); err != nil {
				return err
			}
			panic("transaction function panic")
		}, r.run)
	}()
	queued(s, 1)
	go func() {
		defer wg.Done()
		otherErr = s.group.do(t.Context(), func(tx dbtx) error { return insertG(t.Context(), tx, "other") }, r.run)
	}()
	queued(s, 2)
	release()
	if err := <-leader; err != nil {
		t.Fatalf("leader: %v", err)
	}
	wg.Wait()
	if panicked != "transaction function panic" {
		t.Errorf("the panicking caller recovered %v", panicked)
	}
	if otherErr != nil {
		t.Errorf("the other caller: %v", otherErr)
	}
	if got, want := keys(t, s), []string{"leader", "other"}; !slices.Equal(got, want) {
		t.Errorf("table holds %q, want %q", got, want)
	}
}

// Many concurrent callers: every one that is told nil committed, and the
// lead passes on until the queue is empty.
func TestGroupCommitConcurrent(t *testing.T) {
	s := groupStore(t)
	const n = 200
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = s.inTx(t.Context(), func(tx dbtx) error {
				if i%7 == 0 {
					return errors.New("refused")
				}
				return insertG(t.Context(), tx, fmt.Sprintf("k%03d", i))
			})
		})
	}
	wg.Wait()
	ok := 0
	for i, err := range errs {
		if (i%7 == 0) != (err != nil) {
			t.Errorf("call %d: %v", i, err)
		}
		if err == nil {
			ok++
		}
	}
	if got := len(keys(t, s)); got != ok {
		t.Errorf("table holds %d rows, %d callers were told theirs committed", got, ok)
	}
	s.group.mu.Lock()
	defer s.group.mu.Unlock()
	if s.group.leading || len(s.group.queue) != 0 {
		t.Errorf("after the last caller: leading %v, %d queued", s.group.leading, len(s.group.queue))
	}
}

// A panic of the batch runner itself fails the batch's callers, panics
// in the leader once the lead is handed on, and leaves the writer usable.
func TestGroupCommitRunnerPanic(t *testing.T) {
	s := groupStore(t)
	r := &groupRun{s: s}
	release, leader := hold(t, s, r)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	var panicked any
	wg.Add(3)
	go func() {
		defer wg.Done()
		defer func() { panicked = recover() }()
		errs[0] = s.group.do(t.Context(), func(tx dbtx) error { return insertG(t.Context(), tx, "x") }, func(b []*groupOp) {
			panic("runner panic")
		})
	}()
	queued(s, 1)
	go func() {
		defer wg.Done()
		errs[1] = s.group.do(t.Context(), func(tx dbtx) error { return insertG(t.Context(), tx, "y") }, r.run)
	}()
	queued(s, 2)
	release()
	go func() {
		defer wg.Done()
		if err := <-leader; err != nil {
			t.Errorf("leader: %v", err)
		}
	}()
	wg.Wait()
	// The first queued caller led the second batch with the panicking
	// runner: it panics, the other caller of that batch gets an error.
	if panicked != "runner panic" {
		t.Errorf("the leading caller recovered %v", panicked)
	}
	if errs[1] == nil {
		t.Error("a caller of the panicked batch was told its transaction committed")
	}
	if err := s.inTx(t.Context(), func(tx dbtx) error { return insertG(t.Context(), tx, "later") }); err != nil {
		t.Fatalf("a transaction after the panicked batch: %v", err)
	}
	if got, want := keys(t, s), []string{"later", "leader"}; !slices.Equal(got, want) {
		t.Errorf("table holds %q, want %q", got, want)
	}
}

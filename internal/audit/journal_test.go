package audit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/store"
)

// memJournals is a JournalStore (and BatchStore) in memory: the events
// appended in order, each journal's position, and a switch that fails
// every append.
type memJournals struct {
	mu     sync.Mutex
	events []store.AuditEvent
	pos    map[string]int64
	fail   error
	// gate, when set, holds every AppendJournaled until it is closed.
	gate chan struct{}
}

func newMemJournals() *memJournals { return &memJournals{pos: map[string]int64{}} }

func (m *memJournals) AppendJournaled(ctx context.Context, journal string, pos int64, events []store.AuditEvent) (int64, error) {
	m.mu.Lock()
	gate := m.gate
	m.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return 0, m.fail
	}
	first := int64(len(m.events)) + 1
	m.events = append(m.events, events...)
	m.pos[journal] = max(m.pos[journal], pos)
	return first, nil
}

func (m *memJournals) AuditJournalPosition(_ context.Context, journal string) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pos[journal], nil
}

func (m *memJournals) ForgetAuditJournal(_ context.Context, journal string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.pos, journal)
	return nil
}

func (m *memJournals) AppendAudits(context.Context, []store.AuditEvent) (int64, error) {
	return 0, errors.New("not used")
}

func (m *memJournals) subjects() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, e := range m.events {
		out = append(out, e.Subject)
	}
	return out
}

func subs(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprint("u", i))
	}
	return out
}

func journalFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "audit-*.journal"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// writeJournal writes events u<from>..u<to-1>, one Write each, and
// returns the journal (open, locked) and each record's end.
func writeJournal(t *testing.T, dir string, from, to int) (*Journal, []int64) {
	t.Helper()
	j, err := OpenJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	var ends []int64
	for _, s := range subs(from, to) {
		e, err := j.Write([]store.AuditEvent{testEvent(s)})
		if err != nil {
			t.Fatal(err)
		}
		ends = append(ends, e...)
	}
	return j, ends
}

func TestJournalRecover(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		// damage is applied to the closed file of 5 records; pos is the
		// store's position for it, as a record index (0: none applied).
		damage func(t *testing.T, path string, ends []int64)
		pos    int
		want   []string
	}{
		{"intact", nil, 0, subs(0, 5)},
		{"position skips what the store holds", nil, 3, subs(3, 5)},
		{"wholly applied", nil, 5, nil},
		{"torn tail: the last record half written", func(t *testing.T, path string, ends []int64) {
			truncate(t, path, ends[3]+5)
		}, 0, subs(0, 4)},
		{"torn header", func(t *testing.T, path string, ends []int64) {
			truncate(t, path, ends[2]+3)
		}, 0, subs(0, 3)},
		{"corrupt record ends the journal", func(t *testing.T, path string, ends []int64) {
			flip(t, path, ends[1]+journalHeader+2)
		}, 0, subs(0, 2)},
		{"zero length record", func(t *testing.T, path string, ends []int64) {
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteAt(make([]byte, 8), ends[0]); err != nil {
				t.Fatal(err)
			}
		}, 0, subs(0, 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			j, ends := writeJournal(t, dir, 0, 5)
			path := filepath.Join(dir, j.Name()+journalExt)
			j.Close()
			if tc.damage != nil {
				tc.damage(t, path, ends)
			}
			st := newMemJournals()
			if tc.pos > 0 {
				st.pos[j.Name()] = ends[tc.pos-1]
			}
			n, err := Recover(ctx, dir, st, 2, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := st.subjects(); n != len(tc.want) || !slices.Equal(got, tc.want) {
				t.Fatalf("Recover replayed %d: %v, want %v", n, got, tc.want)
			}
			if f := journalFiles(t, dir); len(f) != 0 {
				t.Errorf("journal files left after Recover: %v", f)
			}
			if _, ok := st.pos[j.Name()]; ok {
				t.Errorf("the journal's position was not forgotten")
			}
		})
	}
}

func truncate(t *testing.T, path string, size int64) {
	t.Helper()
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
}

func flip(t *testing.T, path string, at int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[at] ^= 0x20
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestJournalRecoverLeavesLiveJournals: a journal another open Journal
// holds (a running node) is not replayed; a failing store keeps the file
// for the next try, which then replays it once.
func TestJournalRecoverLeavesLiveJournals(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	live, _ := writeJournal(t, dir, 0, 2)
	defer live.Close()
	st := newMemJournals()
	if n, err := Recover(ctx, dir, st, 0, nil); err != nil || n != 0 {
		t.Fatalf("Recover of a live journal = %d, %v", n, err)
	}
	if len(journalFiles(t, dir)) != 1 {
		t.Fatal("the live journal was removed")
	}
	live.Close()
	st.fail = errors.New("database down")
	if _, err := Recover(ctx, dir, st, 0, nil); err == nil {
		t.Fatal("Recover with a failing store succeeded")
	}
	if len(journalFiles(t, dir)) != 1 {
		t.Fatal("a journal not replayed was removed")
	}
	st.fail = nil
	if n, err := Recover(ctx, dir, st, 0, nil); err != nil || n != 2 {
		t.Fatalf("Recover = %d, %v; want 2", n, err)
	}
	if _, err := Recover(ctx, t.TempDir()+"/missing", st, 0, nil); err != nil {
		t.Fatalf("Recover of a missing directory: %v", err)
	}
}

func runAppender(t *testing.T, a *Appender) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

// TestAppenderJournal: Append returns once its event is in the journal,
// even while the store is held; the events then reach the store in order,
// Flush waits for them, and a clean stop removes the journal.
func TestAppenderJournal(t *testing.T) {
	dir := t.TempDir()
	j, err := OpenJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	st := newMemJournals()
	gate := make(chan struct{})
	st.gate = gate
	a := NewAppender(st, AppenderOptions{Journal: j, MaxBatch: 3})
	stop := runAppender(t, a)
	ctx := context.Background()
	for _, s := range subs(0, 7) {
		if err := a.Append(ctx, testEvent(s)); err != nil {
			t.Fatal(err)
		}
	}
	if got := st.subjects(); len(got) != 0 {
		t.Fatalf("events reached a held store: %v", got)
	}
	// Flush cannot finish while the store is held.
	fctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := a.Flush(fctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Flush with the store held = %v", err)
	}
	close(gate)
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := st.subjects(); !slices.Equal(got, subs(0, 7)) {
		t.Fatalf("store holds %v", got)
	}
	if pos := st.pos[j.Name()]; pos == 0 {
		t.Error("the journal's position was not recorded")
	}
	stop()
	if f := journalFiles(t, dir); len(f) != 0 {
		t.Errorf("journal left after a clean stop: %v", f)
	}
	if err := a.Append(ctx, testEvent("late")); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after stop = %v, want ErrClosed", err)
	}
}

// TestAppenderJournalFlushCutsLinger: a batch that lingers (an hour
// here) is written at once when Flush waits for it, and events appended
// later still wait for their own batch.
func TestAppenderJournalFlushCutsLinger(t *testing.T) {
	j, err := OpenJournal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	st := newMemJournals()
	a := NewAppender(st, AppenderOptions{Journal: j, DrainLinger: time.Hour})
	runAppender(t, a)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for round, want := range [][]string{subs(0, 3), subs(0, 5)} {
		for _, s := range want[len(st.subjects()):] {
			if err := a.Append(ctx, testEvent(s)); err != nil {
				t.Fatal(err)
			}
		}
		if err := a.Flush(ctx); err != nil {
			t.Fatalf("round %d: Flush behind a lingering batch: %v", round, err)
		}
		if got := st.subjects(); !slices.Equal(got, want) {
			t.Fatalf("round %d: store holds %v, want %v", round, got, want)
		}
	}
}

// TestAppenderJournalStoreDown: with the store failing, appends still
// succeed (the journal holds them); stopping keeps the journal, and
// Recover at the next start puts each event in the store exactly once.
func TestAppenderJournalStoreDown(t *testing.T) {
	dir := t.TempDir()
	j, err := OpenJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	st := newMemJournals()
	a := NewAppender(st, AppenderOptions{Journal: j, WriteTimeout: 50 * time.Millisecond})
	stop := runAppender(t, a)
	ctx := context.Background()
	if err := a.Append(ctx, testEvent("u0"), testEvent("u1")); err != nil {
		t.Fatal(err)
	}
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	st.mu.Lock()
	st.fail = errors.New("database down")
	st.mu.Unlock()
	for _, s := range subs(2, 5) {
		if err := a.Append(ctx, testEvent(s)); err != nil {
			t.Fatal(err)
		}
	}
	stop()
	if f := journalFiles(t, dir); len(f) != 1 {
		t.Fatalf("journal files after a stop with the store down: %v", f)
	}
	st.mu.Lock()
	st.fail = nil
	st.mu.Unlock()
	if n, err := Recover(ctx, dir, st, 0, nil); err != nil || n != 3 {
		t.Fatalf("Recover = %d, %v; want 3", n, err)
	}
	if got := st.subjects(); !slices.Equal(got, subs(0, 5)) {
		t.Fatalf("store holds %v, want each event once", got)
	}
}

// TestAppenderJournalRotates: a small RotateSize starts new journal files
// as the old ones are applied; every event reaches the store once, in
// order, and no file is left after the stop.
func TestAppenderJournalRotates(t *testing.T) {
	dir := t.TempDir()
	j, err := OpenJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	st := newMemJournals()
	a := NewAppender(st, AppenderOptions{Journal: j, RotateSize: 200, DrainLinger: time.Microsecond})
	stop := runAppender(t, a)
	ctx := context.Background()
	names := map[string]bool{}
	for _, s := range subs(0, 40) {
		if err := a.Append(ctx, testEvent(s)); err != nil {
			t.Fatal(err)
		}
		if err := a.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		a.j.mu.Lock()
		names[a.j.j.Name()] = true
		a.j.mu.Unlock()
		if f := journalFiles(t, dir); len(f) != 1 {
			t.Fatalf("%d journal files while running", len(f))
		}
	}
	if len(names) < 5 {
		t.Errorf("%d journals for 40 events of a 200-byte rotation size", len(names))
	}
	stop()
	if got := st.subjects(); !slices.Equal(got, subs(0, 40)) {
		t.Fatalf("store holds %v", got)
	}
	if len(journalFiles(t, dir)) != 0 || len(st.pos) != 0 {
		t.Errorf("left: files %v, positions %v", journalFiles(t, dir), st.pos)
	}
}

// TestAppenderJournalBackPressure: with MaxPending events waiting for a
// held store, the writer has no room for more until the store takes them.
func TestAppenderJournalBackPressure(t *testing.T) {
	j, err := OpenJournal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	st := newMemJournals()
	gate := make(chan struct{})
	st.gate = gate
	a := NewAppender(st, AppenderOptions{Journal: j, MaxPending: 2})
	runAppender(t, a)
	ctx := context.Background()
	if err := a.Append(ctx, testEvent("u0"), testEvent("u1")); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if a.j.room(cancelled, 1) {
		t.Fatal("room for a third event with MaxPending 2 and the store held")
	}
	close(gate)
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if !a.j.room(cancelled, 2) {
		t.Fatal("no room once the store took the pending events")
	}
	// A batch larger than MaxPending still goes when nothing is pending.
	if !a.j.room(cancelled, 5) {
		t.Fatal("no room for a large batch with nothing pending")
	}
}

// TestJournalWriteFailure: a write that fails and cannot be undone breaks
// the journal: later writes are refused rather than appended after an
// unknown end; the records written before stay replayable.
func TestJournalWriteFailure(t *testing.T) {
	dir := t.TempDir()
	j, _ := writeJournal(t, dir, 0, 2)
	j.f.Close() // the write and the truncate both fail now
	if _, err := j.Write([]store.AuditEvent{testEvent("u2")}); err == nil || errors.Is(err, ErrJournalBroken) {
		t.Fatalf("Write on a failing file = %v, want the write's error", err)
	}
	if _, err := j.Write([]store.AuditEvent{testEvent("u3")}); !errors.Is(err, ErrJournalBroken) {
		t.Fatalf("Write after a failure that could not be undone = %v, want ErrJournalBroken", err)
	}
	st := newMemJournals()
	if n, err := Recover(context.Background(), dir, st, 0, nil); err != nil || n != 2 {
		t.Fatalf("Recover = %d, %v; want the 2 records written before", n, err)
	}
}

// TestAppenderJournalQueue: the pending queue, whose arrays the drainer
// reuses (it hands batches to the store without copying them and moves
// the rest to the front as batches commit), delivers every event once and
// in order, through a backlog that grows its arrays past their reuse
// bound, back to small batches, and with appends racing the drainer.
func TestAppenderJournalQueue(t *testing.T) {
	j, err := OpenJournal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	st := newMemJournals()
	const maxBatch = 4
	a := NewAppender(st, AppenderOptions{Journal: j, MaxBatch: maxBatch, DrainLinger: time.Millisecond})
	runAppender(t, a)
	ctx := context.Background()
	var want []string
	appendSubs := func(from, to int) {
		for _, s := range subs(from, to) {
			if err := a.Append(ctx, testEvent(s)); err != nil {
				t.Fatal(err)
			}
		}
		want = append(want, subs(from, to)...)
	}
	// A backlog of 25 batches behind a held store.
	gate := make(chan struct{})
	st.mu.Lock()
	st.gate = gate
	st.mu.Unlock()
	appendSubs(0, 100)
	st.mu.Lock()
	st.gate = nil
	st.mu.Unlock()
	close(gate)
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// Then batches smaller and larger than one at a time.
	for i, n := 100, 1; i < 200; i, n = i+n, n%7+1 {
		appendSubs(i, min(i+n, 200))
		if n%3 == 0 {
			if err := a.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := st.subjects(); !slices.Equal(got, want) {
		t.Fatalf("store holds %d events %v,\nwant %d %v", len(got), got, len(want), want)
	}
	// Appends from several goroutines while the drainer runs: each
	// event once, each goroutine's in its order.
	const workers, each = 4, 300
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				if err := a.Append(ctx, testEvent(fmt.Sprintf("w%d-%d", w, i))); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got := st.subjects()[len(want):]
	if len(got) != workers*each {
		t.Fatalf("store holds %d of the goroutines' %d events", len(got), workers*each)
	}
	next := make(map[int]int) // goroutine → its next event
	for _, s := range got {
		var w, i int
		if _, err := fmt.Sscanf(s, "w%d-%d", &w, &i); err != nil {
			t.Fatalf("unexpected subject %q", s)
		}
		if i != next[w] {
			t.Fatalf("goroutine %d: event %d after %d", w, i, next[w]-1)
		}
		next[w]++
	}
}

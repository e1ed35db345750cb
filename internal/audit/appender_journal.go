package audit

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/writ-dev/writ/internal/store"
)

// journaling is the journal side of an Appender: Append writes its events
// to the journal itself (one write(2), under wmu: no goroutine hand-off
// on the request's path), and a drainer goroutine moves written events
// into the store.
type journaling struct {
	a *Appender
	// wmu serialises the writes to the journal, its rotation and its
	// closing; closed is set, under wmu, when Run has ended.
	wmu    sync.Mutex
	closed bool

	mu sync.Mutex
	// j is the journal being written; pending[head:] the events written
	// to it (or to the journal before it) that the store does not hold
	// yet, oldest first, and pos[head:] where each is journaled. The
	// drainer hands a prefix of them to the store as it is (no copy)
	// while appends go on after it, and moves head past it once it is
	// committed (release).
	j       *Journal
	pending []store.AuditEvent
	pos     []journalPos
	head    int
	// applied is how far j is in the store; progress is closed and
	// replaced whenever the drainer commits a batch or the journal
	// changes (Flush and the writer's back-pressure wait on it).
	applied  int64
	progress chan struct{}
	// written is j's size (j.Size, which only the writer may read).
	written int64
	// wake tells the drainer that pending grew; hurry, that someone waits
	// (Flush), so the batch should not linger.
	wake  chan struct{}
	hurry chan struct{}
	// forgets counts the goroutines removing a rotated journal's position,
	// which run waits for before it returns.
	forgets sync.WaitGroup
}

// journalPos is where an event is journaled: in journal, ending at
// offset end.
type journalPos struct {
	journal string
	end     int64
}

func newJournaling(a *Appender) *journaling {
	o := &a.opts
	if o.DrainLinger <= 0 {
		// Nothing waits on a batch, and a batch's transaction costs about
		// as much as a hundred rows: on SQLite an event costs 26 µs in
		// batches of 32 and 14–18 µs in batches of 128 or more
		// (BenchmarkAppendJournaled). 5 ms gathered 30-event batches at
		// 5,500 events/s; 50 ms lets them fill.
		o.DrainLinger = 50 * time.Millisecond
	}
	if o.RotateSize <= 0 {
		o.RotateSize = 64 << 20
	}
	if o.MaxPending <= 0 {
		o.MaxPending = 1 << 16
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &journaling{a: a, j: o.Journal, progress: make(chan struct{}), wake: make(chan struct{}, 1),
		hurry: make(chan struct{}, 1)}
}

// run drains until ctx ends; then it refuses further appends, drains
// what it can within WriteTimeout and removes the journal when the store
// holds all of it (otherwise the next start replays it).
func (g *journaling) run(ctx context.Context) {
	ddone := make(chan struct{})
	dctx, stopDrain := context.WithCancel(context.WithoutCancel(ctx))
	go func() { g.drain(dctx); close(ddone) }()
	<-ctx.Done()
	g.wmu.Lock()
	g.closed = true
	g.wmu.Unlock()
	// A last drain, bounded, then the drainer stops.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.a.opts.WriteTimeout)
	err := g.Flush(fctx)
	cancel()
	stopDrain()
	<-ddone
	g.forgets.Wait()
	g.mu.Lock()
	defer g.mu.Unlock()
	if err == nil && len(g.pending) == g.head && g.applied == g.written {
		if err := g.j.Remove(); err == nil {
			g.forget(g.j.Name())
		}
		return
	}
	g.a.opts.Logger.Warn("audit journal left for replay at the next start", "journal", g.j.Name(), "pending", len(g.pending)-g.head)
	g.j.Close()
}

// room waits until n more events may be pending (false when ctx ends).
func (g *journaling) room(ctx context.Context, n int) bool {
	for {
		g.mu.Lock()
		queued := len(g.pending) - g.head
		ok, ch := queued == 0 || queued+n <= g.a.opts.MaxPending, g.progress
		g.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		}
	}
}

// append writes validated events to the journal and hands them to the
// drainer: they are durable when it returns nil. It waits while MaxPending
// events are not in the store yet (ErrBusy when ctx ends first). A new
// journal is started first when the current one is long and wholly in the
// store.
func (g *journaling) append(ctx context.Context, events []store.AuditEvent) error {
	if !g.room(ctx, len(events)) {
		return fmt.Errorf("%w: %w", ErrBusy, ctx.Err())
	}
	g.wmu.Lock()
	defer g.wmu.Unlock()
	if g.closed {
		return ErrClosed
	}
	g.mu.Lock()
	j := g.j
	rotate := j.Size() >= g.a.opts.RotateSize && len(g.pending) == g.head && g.applied == j.Size()
	g.mu.Unlock()
	if rotate {
		if nj, err := OpenJournal(j.dir); err == nil {
			g.mu.Lock()
			g.j, g.applied, g.written = nj, 0, 0
			g.signal()
			g.mu.Unlock()
			if err := j.Remove(); err == nil {
				name := j.Name()
				g.forgets.Go(func() { g.forget(name) })
			}
			j = nj
		} else {
			g.a.opts.Logger.Warn("audit journal not rotated", "error", err)
		}
	}
	ends, err := j.Write(events)
	if err != nil {
		return err
	}
	g.mu.Lock()
	g.written = j.Size()
	g.pending = append(g.pending, events...)
	for _, end := range ends {
		g.pos = append(g.pos, journalPos{journal: j.Name(), end: end})
	}
	g.mu.Unlock()
	select {
	case g.wake <- struct{}{}:
	default:
	}
	return nil
}

// forget removes a deleted journal's position (a failure leaves a
// position for nothing, which does no harm).
func (g *journaling) forget(name string) {
	ctx, cancel := context.WithTimeout(context.Background(), g.a.opts.WriteTimeout)
	defer cancel()
	if err := g.a.st.ForgetAuditJournal(ctx, name); err != nil {
		g.a.opts.Logger.Debug("audit journal position not removed", "journal", name, "error", err)
	}
}

// signal wakes every waiter on progress; g.mu is held.
func (g *journaling) signal() {
	close(g.progress)
	g.progress = make(chan struct{})
}

// drain is the drainer goroutine: it moves pending events into the store,
// one journal's events per batch, retrying a failed batch with backoff
// until it is committed or ctx ends.
func (g *journaling) drain(ctx context.Context) {
	o := &g.a.opts
	backoff := time.Duration(0)
	var lastWarn time.Time
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	for {
		g.mu.Lock()
		n := len(g.pending) - g.head
		g.mu.Unlock()
		if n == 0 {
			select {
			case <-g.wake:
			case <-ctx.Done():
				return
			}
		}
		if n < o.MaxBatch {
			// Let a batch gather: nothing waits on it.
			linger.Reset(o.DrainLinger)
			select {
			case <-linger.C:
			case <-g.hurry:
				linger.Stop()
			case <-ctx.Done():
				linger.Stop()
				return
			}
		}
		g.mu.Lock()
		n = g.take(o.MaxBatch)
		if n == 0 {
			g.mu.Unlock()
			continue
		}
		// Appends only add after pending's end (or move it to a new
		// array), so this prefix stays as it is until the drainer itself
		// compacts it.
		h := g.head
		batch, last := g.pending[h:h+n:h+n], g.pos[h+n-1]
		g.mu.Unlock()
		wctx, cancel := context.WithTimeout(ctx, o.WriteTimeout)
		_, err := g.a.st.AppendJournaled(wctx, last.journal, last.end, batch)
		cancel()
		if err != nil {
			if now := time.Now(); now.Sub(lastWarn) > 10*time.Second {
				lastWarn = now
				o.Logger.Warn("audit journal: events not moved into the store yet; retrying", "events", len(batch), "error", err)
			}
			backoff = min(max(2*backoff, 50*time.Millisecond), 5*time.Second)
			linger.Reset(backoff)
			select {
			case <-linger.C:
			case <-ctx.Done():
				linger.Stop()
				return
			}
			continue
		}
		backoff = 0
		g.a.batches.Add(1)
		g.a.events.Add(int64(len(batch)))
		g.mu.Lock()
		g.release(n)
		if last.journal == g.j.Name() {
			g.applied = last.end
		}
		g.signal()
		g.mu.Unlock()
	}
}

// take returns how many of the oldest pending events, at most max, are
// of the oldest journal; g.mu is held.
func (g *journaling) take(max int) int {
	pos := g.pos[g.head:]
	n := min(max, len(pos))
	for i := 1; i < n; i++ {
		if pos[i].journal != pos[0].journal {
			return i
		}
	}
	return n
}

// release drops the n oldest pending events (committed). The arrays are
// reused rather than regrown: emptied, they start again from the front;
// once half of them is released, the rest moves to the front (so that
// each event is moved at most once on average). After a backlog (a store
// outage) larger arrays are let go. g.mu is held.
func (g *journaling) release(n int) {
	clear(g.pending[g.head : g.head+n]) // the events' strings and slices
	g.head += n
	rest := len(g.pending) - g.head
	switch {
	case cap(g.pending) > 8*g.a.opts.MaxBatch && rest <= g.a.opts.MaxBatch:
		g.pending = append(make([]store.AuditEvent, 0, 2*g.a.opts.MaxBatch), g.pending[g.head:]...)
		g.pos = append(make([]journalPos, 0, 2*g.a.opts.MaxBatch), g.pos[g.head:]...)
	case rest == 0 || g.head >= cap(g.pending)/2:
		copy(g.pending, g.pending[g.head:])
		copy(g.pos, g.pos[g.head:])
		clear(g.pending[rest:])
		clear(g.pos[rest:])
		g.pending, g.pos = g.pending[:rest], g.pos[:rest]
	default:
		return
	}
	g.head = 0
}

// Flush returns once every event written to the journal before the call
// is in the store, or with ctx's error.
func (g *journaling) Flush(ctx context.Context) error {
	g.mu.Lock()
	name, target := g.j.Name(), g.written
	g.mu.Unlock()
	for {
		g.mu.Lock()
		done := g.j.Name() != name || g.applied >= target
		ch := g.progress
		g.mu.Unlock()
		if done {
			return nil
		}
		select {
		case g.hurry <- struct{}{}:
		default:
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("audit: flush: %w", ctx.Err())
		}
	}
}

// Flush returns once every event Append has acknowledged so far is in the
// store (so that reading the trail shows it), or with ctx's error. Without
// a journal, Append returns only after the commit and Flush returns at
// once.
func (a *Appender) Flush(ctx context.Context) error {
	if a.j == nil {
		return nil
	}
	return a.j.Flush(ctx)
}

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
	// j is the journal being written; pending the events written to it
	// (or to the journal before it) that the store does not hold yet,
	// oldest first.
	j       *Journal
	pending []journaled
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

// journaled is an event written to journal, ending at offset end.
type journaled struct {
	journal string
	end     int64
	e       store.AuditEvent
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
	if err == nil && len(g.pending) == 0 && g.applied == g.written {
		if err := g.j.Remove(); err == nil {
			g.forget(g.j.Name())
		}
		return
	}
	g.a.opts.Logger.Warn("audit journal left for replay at the next start", "journal", g.j.Name(), "pending", len(g.pending))
	g.j.Close()
}

// room waits until n more events may be pending (false when ctx ends).
func (g *journaling) room(ctx context.Context, n int) bool {
	for {
		g.mu.Lock()
		ok, ch := len(g.pending) == 0 || len(g.pending)+n <= g.a.opts.MaxPending, g.progress
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
	rotate := j.Size() >= g.a.opts.RotateSize && len(g.pending) == 0 && g.applied == j.Size()
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
	for i, e := range events {
		g.pending = append(g.pending, journaled{journal: j.Name(), end: ends[i], e: e})
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
		n := len(g.pending)
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
		batch := g.take(o.MaxBatch)
		g.mu.Unlock()
		if len(batch) == 0 {
			continue
		}
		events := make([]store.AuditEvent, len(batch))
		for i, p := range batch {
			events[i] = p.e
		}
		last := batch[len(batch)-1]
		wctx, cancel := context.WithTimeout(ctx, o.WriteTimeout)
		_, err := g.a.st.AppendJournaled(wctx, last.journal, last.end, events)
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
		g.pending = g.pending[len(batch):]
		if len(g.pending) == 0 {
			g.pending = nil // let the backing array go
		}
		if last.journal == g.j.Name() {
			g.applied = last.end
		}
		g.signal()
		g.mu.Unlock()
	}
}

// take returns up to max pending events of the oldest journal, without
// removing them; g.mu is held.
func (g *journaling) take(max int) []journaled {
	n := min(max, len(g.pending))
	for i := 1; i < n; i++ {
		if g.pending[i].journal != g.pending[0].journal {
			n = i
			break
		}
	}
	return g.pending[:n:n]
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

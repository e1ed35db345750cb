package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/jose"
)

// ErrClosed is returned by Append once the appender has stopped.
var ErrClosed = errors.New("audit: appender stopped")

// ErrBusy is returned by Append when the queue is full and ctx ends
// before there is room.
var ErrBusy = errors.New("audit: appender queue full")

// BatchStore is what the appender writes to.
type BatchStore interface {
	// AppendAudits is store.AuditChainStore's.
	AppendAudits(ctx context.Context, events []store.AuditEvent) (int64, error)
	// AppendJournaled is store.AuditChainStore's: what the appender
	// moves from its journal (AppenderOptions.Journal) into the store.
	AppendJournaled(ctx context.Context, journal string, pos int64, events []store.AuditEvent) (int64, error)
	// ForgetAuditJournal is store.AuditChainStore's (a journal whose
	// file is gone).
	ForgetAuditJournal(ctx context.Context, journal string) error
}

// AppenderOptions tunes an Appender; zero values take the defaults.
type AppenderOptions struct {
	// Queue bounds the number of waiting Append calls (default 4096).
	Queue int
	// MaxBatch bounds the events written in one transaction (default 512).
	MaxBatch int
	// WriteTimeout bounds one batch's transaction (default 10s).
	WriteTimeout time.Duration
	// Gap is how long the appender waits for one more request before it
	// writes the batch it has (default 200µs), and Linger the longest it
	// gathers a batch (default 2ms): a transaction's commit costs far more
	// than a row, so a batch of many requests is much cheaper per request.
	// A negative Gap writes at once.
	Gap    time.Duration
	Linger time.Duration
	// Journal, when set, takes the events of Append: an event is
	// durable once written to the journal, and the caller
	// returns then; the appender moves journaled events into the store
	// in batches of up to MaxBatch, at most DrainLinger (default 50ms)
	// apart, and starts a new journal file once the current one is
	// RotateSize (default 64 MiB) long and wholly in the store. The
	// appender owns the journal from then on.
	Journal     *Journal
	DrainLinger time.Duration
	RotateSize  int64
	// MaxPending bounds the journaled events not yet in the store
	// (default 65536); beyond it Append waits (ErrBusy when ctx ends),
	// so that a store outage cannot grow memory without bound.
	MaxPending int
	// Logger receives the drain's failures (throttled); nil discards.
	Logger *slog.Logger
}

// Appender records audit events that have no store transaction of their
// own (a client credentials token, a failed sign-in) with group commit: a
// single goroutine (Run) takes every Append waiting, writes them in one
// transaction, and releases each caller when its batch has committed. One
// commit then carries many events, so the audit write costs a fraction of
// a transaction per request; a caller still returns only once its event
// is durable.
type Appender struct {
	st      BatchStore
	opts    AppenderOptions
	reqs    chan *appendReq
	stopped chan struct{}
	// batches and events count what Run wrote (Stats).
	batches, events atomic.Int64
	// j is the journal side, nil without AppenderOptions.Journal.
	j *journaling
}

// Stats returns the number of transactions the appender wrote and of the
// events in them: their ratio is the mean batch size.
func (a *Appender) Stats() (batches, events int64) { return a.batches.Load(), a.events.Load() }

type appendReq struct {
	events []store.AuditEvent
	done   chan error
}

// NewAppender returns an appender writing to st; call Run to start it.
func NewAppender(st BatchStore, opts AppenderOptions) *Appender {
	if opts.Queue <= 0 {
		opts.Queue = 4096
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 512
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 10 * time.Second
	}
	if opts.Gap == 0 {
		opts.Gap = 200 * time.Microsecond
	}
	if opts.Linger <= 0 {
		opts.Linger = 2 * time.Millisecond
	}
	a := &Appender{st: st, opts: opts, reqs: make(chan *appendReq, opts.Queue), stopped: make(chan struct{})}
	if opts.Journal != nil {
		a.j = newJournaling(a)
	}
	return a
}

// Append records the events and returns once they are committed (nil) —
// with a journal (AppenderOptions.Journal), once they are written to it —
// or with the store's or journal's error, ctx's error, ErrBusy or
// ErrClosed. The events are validated first, so that one bad event fails
// only its caller.
func (a *Appender) Append(ctx context.Context, events ...store.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	for _, e := range events {
		if err := e.Validate(); err != nil {
			return fmt.Errorf("audit: append: %w", err)
		}
	}
	if a.j != nil {
		return a.j.append(ctx, events)
	}
	r := &appendReq{events: events, done: make(chan error, 1)}
	select {
	case <-a.stopped:
		return ErrClosed
	default:
	}
	select {
	case a.reqs <- r:
	case <-a.stopped:
		return ErrClosed
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrBusy, ctx.Err())
	}
	select {
	case err := <-r.done:
		return err
	case <-a.stopped:
		// Run has ended: it answered r on its way out, or never saw it.
		select {
		case err := <-r.done:
			return err
		default:
			return ErrClosed
		}
	case <-ctx.Done():
		// The event may still be committed; the caller gives up on it.
		return ctx.Err()
	}
}

// Run writes batches until ctx ends, then fails the calls still queued
// with ErrClosed and returns.
func (a *Appender) Run(ctx context.Context) {
	if a.j != nil {
		jdone := make(chan struct{})
		go func() { a.j.run(ctx); close(jdone) }()
		defer func() { <-jdone }()
	}
	defer func() {
		close(a.stopped)
		for {
			select {
			case r := <-a.reqs:
				r.done <- ErrClosed
			default:
				return
			}
		}
	}()
	batch := make([]*appendReq, 0, 64)
	events := make([]store.AuditEvent, 0, a.opts.MaxBatch)
	add := func(r *appendReq) {
		batch, events = append(batch, r), append(events, r.events...)
	}
	// gap is stopped whenever it is not being waited on (since Go 1.23 a
	// stopped or reset timer delivers no stale tick).
	gap := time.NewTimer(time.Hour)
	gap.Stop()
	for {
		batch, events = batch[:0], events[:0]
		select {
		case r := <-a.reqs:
			add(r)
		case <-ctx.Done():
			return
		}
		deadline := time.Now().Add(a.opts.Linger)
	fill:
		for len(events) < a.opts.MaxBatch {
			select {
			case r := <-a.reqs:
				add(r)
				continue
			default:
			}
			wait := min(a.opts.Gap, time.Until(deadline))
			if wait <= 0 {
				break
			}
			gap.Reset(wait)
			select {
			case r := <-a.reqs:
				gap.Stop()
				add(r)
			case <-gap.C:
				break fill
			}
		}
		err := a.write(ctx, events)
		a.batches.Add(1)
		a.events.Add(int64(len(events)))
		for _, r := range batch {
			r.done <- err
		}
	}
}

// write commits one batch.
func (a *Appender) write(ctx context.Context, events []store.AuditEvent) error {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.opts.WriteTimeout)
	defer cancel()
	_, err := a.st.AppendAudits(wctx, events)
	return err
}

// AnchorStore is what Anchor reads and writes.
type AnchorStore interface {
	// AuditHead and PutAuditAnchor are store.AuditChainStore's.
	AuditHead(ctx context.Context) (int64, []byte, error)
	PutAuditAnchor(ctx context.Context, a store.AuditAnchor) error
}

// Signer gives the key anchors are signed with (keys.Ring's active key).
type Signer interface {
	Signer() (*jose.Key, error)
}

// Anchor signs the current chain head and stores it, unless it is at or
// before last (already anchored) or the trail is empty or unchained. It
// returns the sequence number anchored (last when nothing was). Another
// node anchoring the same head first is not an error.
func Anchor(ctx context.Context, st AnchorStore, signer Signer, now time.Time, last int64) (int64, error) {
	seq, hash, err := st.AuditHead(ctx)
	if err != nil {
		return last, err
	}
	if seq <= last || hash == nil {
		return last, nil
	}
	key, err := signer.Signer()
	if err != nil {
		return last, fmt.Errorf("audit: anchor: %w", err)
	}
	a, err := SignAnchor(key, seq, hash, now)
	if err != nil {
		return last, err
	}
	if err := st.PutAuditAnchor(ctx, a); err != nil && !errors.Is(err, store.ErrAlreadyExists) {
		return last, fmt.Errorf("audit: anchor: %w", err)
	}
	return seq, nil
}

// RunAnchors anchors the chain head every interval until ctx ends, and
// once more on the way out; failures are logged and retried at the next
// tick.
func RunAnchors(ctx context.Context, st AnchorStore, signer Signer, interval time.Duration, now func() time.Time, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var last int64
	anchor := func(ctx context.Context) {
		var err error
		if last, err = Anchor(ctx, st, signer, now(), last); err != nil {
			log.Warn("audit anchor failed", "error", err)
		}
	}
	for {
		select {
		case <-t.C:
			anchor(ctx)
		case <-ctx.Done():
			c, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			anchor(c)
			cancel()
			return
		}
	}
}

package audit

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/store"
)

// fakeBatches records the batches written.
type fakeBatches struct {
	mu      sync.Mutex
	batches [][]store.AuditEvent
}

func (f *fakeBatches) AppendAudits(_ context.Context, events []store.AuditEvent) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.batches = append(f.batches, append([]store.AuditEvent(nil), events...))
	return 1, nil
}

func (f *fakeBatches) AppendJournaled(ctx context.Context, _ string, _ int64, events []store.AuditEvent) (int64, error) {
	return f.AppendAudits(ctx, events)
}

func (f *fakeBatches) ForgetAuditJournal(context.Context, string) error { return nil }

func testEvent(sub string) store.AuditEvent {
	return store.AuditEvent{Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Type: store.AuditTokenIssued, Subject: sub}
}

// TestAppenderBatches: concurrent requests share one batch; an invalid
// event fails its caller only, before the queue.
func TestAppenderBatches(t *testing.T) {
	f := &fakeBatches{}
	// A long gap and linger: every request below joins one batch.
	a := NewAppender(f, AppenderOptions{Gap: time.Hour, Linger: time.Hour, MaxBatch: 4})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	subjects := []string{"a", "b", "c", "d"}
	errs := make([]error, len(subjects))
	var wg sync.WaitGroup
	for i, sub := range subjects {
		wg.Go(func() { errs[i] = a.Append(context.Background(), testEvent(sub)) })
	}
	wg.Wait()
	for i, sub := range subjects {
		if errs[i] != nil {
			t.Errorf("request of %s: %v", sub, errs[i])
		}
	}
	f.mu.Lock()
	if len(f.batches) != 1 || len(f.batches[0]) != len(subjects) {
		t.Fatalf("batches written = %d, want one of %d events", len(f.batches), len(subjects))
	}
	f.mu.Unlock()
	if err := a.Append(context.Background(), store.AuditEvent{Type: "x"}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("Append of an invalid event = %v", err)
	}
}

// TestAppenderContext: a caller whose context ends while it waits for
// room in the queue gets ErrBusy with the context's error; the call
// queued before it is answered when Run ends.
func TestAppenderContext(t *testing.T) {
	a := NewAppender(&fakeBatches{}, AppenderOptions{Queue: 1})
	// Run not started: the queue fills, the next caller waits for room.
	first := make(chan error, 1)
	go func() { first <- a.Append(context.Background(), testEvent("first")) }()
	for deadline := time.Now().Add(10 * time.Second); len(a.reqs) == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the first call was never queued")
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := a.Append(ctx, testEvent("second")); !errors.Is(err, context.Canceled) || !errors.Is(err, ErrBusy) {
		t.Fatalf("Append with an ended context = %v, want ErrBusy and context.Canceled", err)
	}
	// Run on an ended context writes the queued call or fails it.
	a.Run(ctx)
	if err := <-first; err != nil && !errors.Is(err, ErrClosed) {
		t.Fatalf("the queued call = %v, want nil or ErrClosed", err)
	}
}

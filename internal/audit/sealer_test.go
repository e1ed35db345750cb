package audit_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/audit"
)

// countingSealer counts SealAudit calls, failing the first, and signals
// each call on calls; final counts the calls with a deadline (the one on
// the way out: the ticks' context has none).
type countingSealer struct {
	n, final atomic.Int64
	calls    chan struct{}
}

func (c *countingSealer) SealAudit(ctx context.Context) (int, error) {
	if _, ok := ctx.Deadline(); ok {
		c.final.Add(1)
	}
	n := c.n.Add(1)
	select {
	case c.calls <- struct{}{}:
	default:
	}
	if n == 1 {
		return 0, errors.New("unavailable")
	}
	return 1, nil
}

// TestRunSealer: the sealer seals on every tick, goes on after a failure,
// and seals once more when its context ends.
func TestRunSealer(t *testing.T) {
	st := &countingSealer{calls: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		audit.RunSealer(ctx, st, time.Millisecond, slog.New(slog.NewTextHandler(io.Discard, nil)))
		close(done)
	}()
	for range 3 {
		<-st.calls
	}
	cancel()
	<-done
	before := st.n.Load()
	if before < 3 || st.final.Load() != 1 {
		t.Fatalf("%d seals, %d on the way out; want at least 3, and 1", before, st.final.Load())
	}
	select {
	case <-st.calls:
	default:
	}
	if st.n.Load() != before {
		t.Errorf("sealed after RunSealer returned")
	}
}

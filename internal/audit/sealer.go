package audit

import (
	"context"
	"log/slog"
	"time"
)

// SealInterval is how often RunSealer chains the queued events: with the
// time a sealing transaction takes, an event appended inside a
// redemption's or rotation's transaction is chained within about a second
// of its commit (readers of the trail seal first, so they never miss it).
const SealInterval = 200 * time.Millisecond

// SealStore is what RunSealer seals.
type SealStore interface {
	// SealAudit is store.AuditChainStore's.
	SealAudit(ctx context.Context) (int, error)
}

// RunSealer chains the store's queued audit events every interval until
// ctx ends, and once more on the way out; failures are logged and retried
// at the next tick. Every node runs one: sealers of several nodes take
// turns on the chain head's lock, and finding the queue empty takes no
// lock (on SQLite, one read on the writer's connection and no
// transaction).
func RunSealer(ctx context.Context, st SealStore, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	seal := func(ctx context.Context) {
		if _, err := st.SealAudit(ctx); err != nil && ctx.Err() == nil {
			log.Warn("audit seal failed", "error", err)
		}
	}
	for {
		select {
		case <-t.C:
			seal(ctx)
		case <-ctx.Done():
			c, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			seal(c)
			cancel()
			return
		}
	}
}

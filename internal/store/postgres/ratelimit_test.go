package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/ratelimit"
	"github.com/writ-dev/writ/internal/ratelimit/ratelimittest"
	"github.com/writ-dev/writ/internal/store/postgres"
	"github.com/writ-dev/writ/internal/store/postgres/pgtest"
)

// TestRateLimitConformance runs the rate limit backends' suite on the
// store's rate_limits table, one database for all cases (their keys
// differ).
func TestRateLimitConformance(t *testing.T) {
	pgtest.Require(t)
	s := migrated(t, pgtest.NewDatabase(t))
	n := 0
	ratelimittest.Run(t, func(t *testing.T) ratelimit.Backend {
		n++
		prefix := string(rune('a'+n)) + ":"
		return prefixed{s, prefix}
	})
	t.Run("purge", func(t *testing.T) {
		now := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
		if _, _, err := s.TakeRate(t.Context(), "purge-me", now, time.Second, time.Second); err != nil {
			t.Fatal(err)
		}
		got, err := s.PurgeRates(t.Context(), now.Add(2*time.Second))
		if err != nil || got < 1 {
			t.Fatalf("PurgeRates = %d, %v; want at least the one row", got, err)
		}
	})
}

// prefixed is the store as a ratelimit.Backend and Resetter, its keys
// prefixed.
type prefixed struct {
	s      *postgres.Store
	prefix string
}

func (p prefixed) Take(ctx context.Context, key string, now time.Time, e, tol time.Duration) (bool, time.Duration, error) {
	return p.s.TakeRate(ctx, p.prefix+key, now, e, tol)
}

func (p prefixed) Reset(ctx context.Context, key string) error {
	return p.s.ResetRate(ctx, p.prefix+key)
}

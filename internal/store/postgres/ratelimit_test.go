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

// BenchmarkTakeRate is one shared GCRA step: one upsert round trip.
func BenchmarkTakeRate(b *testing.B) {
	pgtest.Require(b)
	s, err := postgres.Open(b.Context(), pgtest.NewDatabase(b))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(b.Context()); err != nil {
		b.Fatal(err)
	}
	now := time.Unix(1e9, 0)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			if _, _, err := s.TakeRate(context.Background(), "bench|"+time.Duration(i%256).String(), now, time.Millisecond, time.Second); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

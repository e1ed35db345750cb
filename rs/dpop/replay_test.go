package dpop_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/clocktest"
	"github.com/writ-dev/writ/rs"
	"github.com/writ-dev/writ/rs/dpop"
)

// replayContract runs what every ReplayCache must do against c, with keys
// that start with prefix and expiries an hour ahead of the real time.
func replayContract(t *testing.T, c dpop.ReplayCache, prefix string) {
	ctx := context.Background()
	until := time.Now().Add(time.Hour)
	fresh, err := c.Use(ctx, prefix+"a", until)
	if err != nil || !fresh {
		t.Fatalf("first Use = %v, %v, want fresh", fresh, err)
	}
	fresh, err = c.Use(ctx, prefix+"a", until)
	if err != nil || fresh {
		t.Fatalf("second Use = %v, %v, want a replay", fresh, err)
	}
	fresh, err = c.Use(ctx, prefix+"b", until)
	if err != nil || !fresh {
		t.Fatalf("other key = %v, %v, want fresh", fresh, err)
	}
	// Concurrent uses of one key: exactly one is fresh.
	var wg sync.WaitGroup
	var freshCount, errCount atomic.Int32
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, err := c.Use(ctx, prefix+"race", until)
			if err != nil {
				errCount.Add(1)
			}
			if f {
				freshCount.Add(1)
			}
		}()
	}
	wg.Wait()
	if freshCount.Load() != 1 || errCount.Load() != 0 {
		t.Fatalf("16 concurrent uses: %d fresh, %d errors; want 1 fresh", freshCount.Load(), errCount.Load())
	}
}

func TestMemoryReplayCacheContract(t *testing.T) {
	replayContract(t, dpop.NewMemoryReplayCache(0, nil), "")
}

func TestMemoryReplayCacheExpiry(t *testing.T) {
	clock := clocktest.New(t0)
	c := dpop.NewMemoryReplayCache(100, clock.Now)
	ctx := context.Background()
	if f, _ := c.Use(ctx, "k", t0.Add(time.Minute)); !f {
		t.Fatal("first use not fresh")
	}
	clock.Advance(time.Minute - time.Nanosecond)
	if f, _ := c.Use(ctx, "k", t0.Add(2*time.Minute)); f {
		t.Fatal("fresh before its expiry")
	}
	clock.Advance(time.Nanosecond)
	if f, _ := c.Use(ctx, "k", t0.Add(2*time.Minute)); !f {
		t.Fatal("not fresh after its expiry")
	}
	if f, _ := c.Use(ctx, "k", t0.Add(2*time.Minute)); f {
		t.Fatal("the key used again after its expiry was not recorded")
	}
	// Already expired: fresh, and nothing kept.
	n := c.Len()
	if f, _ := c.Use(ctx, "old", clock.Now()); !f || c.Len() != n {
		t.Fatalf("expired entry: fresh %v, Len %d → %d", f, n, c.Len())
	}
	// Expired entries are dropped as time passes.
	clock.Advance(time.Hour)
	_, _ = c.Use(ctx, "x", clock.Now().Add(time.Second))
	if c.Len() != 1 {
		t.Fatalf("Len = %d after everything else expired, want 1", c.Len())
	}
}

// TestMemoryReplayCacheFull: full of unexpired entries, the cache refuses
// (unavailable) instead of forgetting one; room comes back as they expire.
func TestMemoryReplayCacheFull(t *testing.T) {
	clock := clocktest.New(t0)
	c := dpop.NewMemoryReplayCache(3, clock.Now)
	ctx := context.Background()
	for i, exp := range []time.Duration{3 * time.Second, time.Second, 2 * time.Second} {
		if f, err := c.Use(ctx, fmt.Sprint(i), t0.Add(exp)); !f || err != nil {
			t.Fatalf("Use(%d) = %v, %v", i, f, err)
		}
	}
	f, err := c.Use(ctx, "new", t0.Add(time.Minute))
	if f || !errors.Is(err, dpop.ErrReplayCacheFull) || !errors.Is(err, rs.ErrUnavailable) {
		t.Fatalf("Use on a full cache = %v, %v; want ErrReplayCacheFull and rs.ErrUnavailable", f, err)
	}
	// Every recorded key is still a replay, none forgotten.
	for i := range 3 {
		if f, err := c.Use(ctx, fmt.Sprint(i), t0.Add(time.Minute)); f || err != nil {
			t.Fatalf("Use(%d) on a full cache = %v, %v, want a replay", i, f, err)
		}
	}
	clock.Advance(time.Second) // entry 1 expires, the earliest
	if f, err := c.Use(ctx, "new", t0.Add(time.Minute)); !f || err != nil {
		t.Fatalf("after an expiry: %v, %v", f, err)
	}
	if f, _ := c.Use(ctx, "0", t0.Add(time.Minute)); f {
		t.Fatal("entry 0 was forgotten")
	}
	if f, _ := c.Use(ctx, "2", t0.Add(time.Minute)); f {
		t.Fatal("entry 2 was forgotten")
	}
}

// TestMemoryReplayCacheShards: a large cache spreads keys over its shards
// and still holds its maximum.
func TestMemoryReplayCacheShards(t *testing.T) {
	clock := clocktest.New(t0)
	const max = 1 << 14
	c := dpop.NewMemoryReplayCache(max, clock.Now)
	ctx := context.Background()
	accepted := 0
	var wg sync.WaitGroup
	var mu sync.Mutex
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 0
			for i := range max / 4 {
				if f, err := c.Use(ctx, fmt.Sprintf("%d-%d", g, i), t0.Add(time.Minute)); f && err == nil {
					n++
				}
			}
			mu.Lock()
			accepted += n
			mu.Unlock()
		}()
	}
	wg.Wait()
	// 2*max keys offered, about twice each shard's share: every shard
	// fills, none goes over.
	if accepted != max || c.Len() != max {
		t.Fatalf("accepted %d of %d offered, Len %d, max %d", accepted, 2*max, c.Len(), max)
	}
}

// Package ratelimittest is the conformance suite every ratelimit.Backend
// passes: the same table of GCRA steps on a fake clock, and concurrent
// takers that must together get exactly the burst.
package ratelimittest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/ratelimit"
)

// start is the fake clock's first instant.
var start = time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)

// step is one event of a table case: at offset from start, expect allowed
// (or refused with retry after).
type step struct {
	at      time.Duration
	allowed bool
	retry   time.Duration
}

// Run runs the suite against the backends newBackend returns; each call
// must give a backend whose keys are not shared with any other call's.
func Run(t *testing.T, newBackend func(t *testing.T) ratelimit.Backend) {
	t.Helper()
	ctx := context.Background()
	tenPerSecond := ratelimit.Limit{Rate: 10, Per: time.Second, Burst: 3}
	onePerMinute := ratelimit.Limit{Rate: 1, Per: time.Minute, Burst: 1}
	cases := []struct {
		name  string
		limit ratelimit.Limit
		steps []step
	}{
		{"burst then refused", tenPerSecond, []step{
			{0, true, 0}, {0, true, 0}, {0, true, 0}, {0, false, 100 * time.Millisecond},
		}},
		{"refusal costs nothing", tenPerSecond, []step{
			{0, true, 0}, {0, true, 0}, {0, true, 0}, {0, false, 100 * time.Millisecond}, {0, false, 100 * time.Millisecond},
			{100 * time.Millisecond, true, 0}, {100 * time.Millisecond, false, 100 * time.Millisecond},
		}},
		{"steady rate allowed", tenPerSecond, []step{
			{0, true, 0}, {100 * time.Millisecond, true, 0}, {200 * time.Millisecond, true, 0}, {300 * time.Millisecond, true, 0},
			{400 * time.Millisecond, true, 0}, {500 * time.Millisecond, true, 0},
		}},
		{"quiet period restores the burst", tenPerSecond, []step{
			{0, true, 0}, {0, true, 0}, {0, true, 0}, {0, false, 100 * time.Millisecond},
			{time.Hour, true, 0}, {time.Hour, true, 0}, {time.Hour, true, 0}, {time.Hour, false, 100 * time.Millisecond},
		}},
		{"partial refill", tenPerSecond, []step{
			{0, true, 0}, {0, true, 0}, {0, true, 0},
			{250 * time.Millisecond, true, 0}, {250 * time.Millisecond, true, 0}, {250 * time.Millisecond, false, 50 * time.Millisecond},
		}},
		{"one per minute", onePerMinute, []step{
			{0, true, 0}, {time.Second, false, 59 * time.Second}, {time.Minute, true, 0}, {time.Minute, false, time.Minute},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := newBackend(t)
			key := "rule|" + c.name
			for i, s := range c.steps {
				ok, retry, err := b.Take(ctx, key, start.Add(s.at), c.limit.Emission(), c.limit.Tolerance())
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if ok != s.allowed || retry != s.retry {
					t.Fatalf("step %d at +%v: got allowed=%v retry=%v, want allowed=%v retry=%v", i, s.at, ok, retry, s.allowed, s.retry)
				}
			}
		})
	}
	t.Run("keys are independent", func(t *testing.T) {
		b := newBackend(t)
		for _, k := range []string{"a", "b", "c"} {
			if ok, _, err := b.Take(ctx, k, start, onePerMinute.Emission(), onePerMinute.Tolerance()); err != nil || !ok {
				t.Fatalf("first event of %s: allowed=%v err=%v", k, ok, err)
			}
		}
		if ok, _, _ := b.Take(ctx, "a", start, onePerMinute.Emission(), onePerMinute.Tolerance()); ok {
			t.Fatal("second event of a allowed")
		}
	})
	t.Run("asking changes nothing", func(t *testing.T) {
		b := newBackend(t)
		e, tol := onePerMinute.Emission(), onePerMinute.Tolerance()
		for range 3 {
			// emission 0, tolerance tol-e: would one more event pass?
			if ok, _, err := b.Take(ctx, "k", start, 0, tol-e); err != nil || !ok {
				t.Fatalf("ask before any event: allowed=%v err=%v", ok, err)
			}
		}
		if ok, _, _ := b.Take(ctx, "k", start, e, tol); !ok {
			t.Fatal("first event refused after asking")
		}
		ok, retry, _ := b.Take(ctx, "k", start.Add(10*time.Second), 0, tol-e)
		if ok || retry != 50*time.Second {
			t.Fatalf("ask after the event: allowed=%v retry=%v, want refused 50s", ok, retry)
		}
	})
	t.Run("reset forgets a key", func(t *testing.T) {
		b := newBackend(t)
		r, ok := b.(ratelimit.Resetter)
		if !ok {
			t.Skip("the backend cannot reset")
		}
		e, tol := onePerMinute.Emission(), onePerMinute.Tolerance()
		b.Take(ctx, "k", start, e, tol)
		if ok, _, _ := b.Take(ctx, "k", start, e, tol); ok {
			t.Fatal("second event allowed")
		}
		if err := r.Reset(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		if ok, _, _ := b.Take(ctx, "k", start, e, tol); !ok {
			t.Fatal("event refused after Reset")
		}
	})
	t.Run("concurrent takers get exactly the burst", func(t *testing.T) {
		b := newBackend(t)
		lim := ratelimit.Limit{Rate: 1, Per: time.Hour, Burst: 7}
		var allowed atomic.Int32
		var wg sync.WaitGroup
		for range 40 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, _, err := b.Take(ctx, "race", start, lim.Emission(), lim.Tolerance())
				if err != nil {
					t.Error(err)
				}
				if ok {
					allowed.Add(1)
				}
			}()
		}
		wg.Wait()
		if n := allowed.Load(); n != 7 {
			t.Fatalf("%d of 40 concurrent events allowed, want the burst 7", n)
		}
	})
}

// Prefix returns a random key prefix, for backends shared between tests
// (Redis).
func Prefix(name string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return name + ":" + hex.EncodeToString(b) + ":"
}

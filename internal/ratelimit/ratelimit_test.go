package ratelimit_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/writ-dev/writ/internal/clocktest"
	"github.com/writ-dev/writ/internal/ratelimit"
	"github.com/writ-dev/writ/internal/ratelimit/ratelimittest"
)

func TestMemoryConformance(t *testing.T) {
	ratelimittest.Run(t, func(*testing.T) ratelimit.Backend { return &ratelimit.Memory{} })
}

func TestRedisConformance(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", DialTimeout: time.Second, MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	if err := c.Ping(context.Background()).Err(); err != nil {
		if testingCI() {
			t.Fatalf("Redis at 127.0.0.1:6379: %v", err)
		}
		t.Skipf("no Redis at 127.0.0.1:6379: %v", err)
	}
	ratelimittest.Run(t, func(t *testing.T) ratelimit.Backend {
		prefix := ratelimittest.Prefix("writ-test-rl")
		t.Cleanup(func() {
			ctx := context.Background()
			keys, _ := c.Keys(ctx, prefix+"*").Result()
			if len(keys) > 0 {
				c.Del(ctx, keys...)
			}
		})
		return ratelimit.NewRedis(c, prefix)
	})
}

func TestParseLimit(t *testing.T) {
	for _, c := range []struct {
		in   string
		want ratelimit.Limit
		err  bool
	}{
		{"0", ratelimit.Limit{}, false},
		{"off", ratelimit.Limit{}, false},
		{"10/s", ratelimit.Limit{Rate: 10, Per: time.Second, Burst: 10}, false},
		{"10/s:20", ratelimit.Limit{Rate: 10, Per: time.Second, Burst: 20}, false},
		{"30/m:5", ratelimit.Limit{Rate: 30, Per: time.Minute, Burst: 5}, false},
		{"100/h", ratelimit.Limit{Rate: 100, Per: time.Hour, Burst: 100}, false},
		{" 1/s:1 ", ratelimit.Limit{Rate: 1, Per: time.Second, Burst: 1}, false},
		{"0/s:5", ratelimit.Limit{}, false},
		{"10", ratelimit.Limit{}, true},
		{"10/d", ratelimit.Limit{}, true},
		{"-1/s", ratelimit.Limit{}, true},
		{"10/s:0", ratelimit.Limit{}, true},
		{"10/s:x", ratelimit.Limit{}, true},
		{"99999999/s", ratelimit.Limit{}, true},
		{"", ratelimit.Limit{}, true},
	} {
		got, err := ratelimit.ParseLimit(c.in)
		if (err != nil) != c.err || got != c.want {
			t.Errorf("ParseLimit(%q) = %+v, %v; want %+v, error %v", c.in, got, err, c.want, c.err)
		}
		if err == nil {
			back, err := ratelimit.ParseLimit(got.String())
			if err != nil || back != got {
				t.Errorf("ParseLimit(%q).String() = %q does not read back: %+v, %v", c.in, got.String(), back, err)
			}
		}
	}
}

func TestLimiter(t *testing.T) {
	clock := clocktest.Default()
	var refused atomic.Int32
	l := ratelimit.New(ratelimit.Options{
		Limits: map[string]ratelimit.Limit{"token": {Rate: 1, Per: time.Second, Burst: 2}},
		Now:    clock.Now,
		Hooks:  ratelimit.Hooks{Refused: func(rule string) { refused.Add(1) }},
	})
	ctx := context.Background()
	for i, want := range []bool{true, true, false} {
		if d := l.Allow(ctx, "token", "c1"); d.Allowed != want {
			t.Fatalf("event %d: allowed=%v, want %v", i, d.Allowed, want)
		}
	}
	if d := l.Allow(ctx, "token", "c1"); d.RetryAfter != time.Second {
		t.Fatalf("retry after %v, want 1s", d.RetryAfter)
	}
	if refused.Load() != 2 {
		t.Fatalf("Refused hook called %d times, want 2", refused.Load())
	}
	if d := l.Allow(ctx, "other", "c1"); !d.Allowed {
		t.Fatal("a rule without a limit refused")
	}
	if d := l.Allow(ctx, "token", ""); !d.Allowed {
		t.Fatal("an empty value refused")
	}
	clock.Advance(time.Second)
	if d := l.Allow(ctx, "token", "c1"); !d.Allowed {
		t.Fatal("refused after the emission interval")
	}
	// A reload turns the rule off.
	l.SetLimits(map[string]ratelimit.Limit{"token": {}})
	for range 5 {
		if d := l.Allow(ctx, "token", "c1"); !d.Allowed {
			t.Fatal("refused with the rule turned off")
		}
	}
	var nilLimiter *ratelimit.Limiter
	if d := nilLimiter.Allow(ctx, "token", "c1"); !d.Allowed {
		t.Fatal("a nil Limiter refused")
	}
}

type failing struct{}

func (failing) Take(context.Context, string, time.Time, time.Duration, time.Duration) (bool, time.Duration, error) {
	return false, 0, errors.New("connection refused")
}

func TestLimiterFailsOpen(t *testing.T) {
	var logs strings.Builder
	var errs atomic.Int32
	l := ratelimit.New(ratelimit.Options{
		Backend: failing{},
		Limits:  map[string]ratelimit.Limit{"token": {Rate: 1, Per: time.Hour, Burst: 1}},
		Logger:  slog.New(slog.NewTextHandler(&logs, nil)),
		Hooks:   ratelimit.Hooks{BackendError: func(string, error) { errs.Add(1) }},
	})
	for range 5 {
		if d := l.Allow(context.Background(), "token", "c1"); !d.Allowed {
			t.Fatal("a failing backend refused")
		}
	}
	if errs.Load() != 5 {
		t.Fatalf("BackendError called %d times, want 5", errs.Load())
	}
	if n := strings.Count(logs.String(), "fail open"); n != 1 {
		t.Fatalf("%d warnings logged, want 1 (at most one per interval):\n%s", n, logs.String())
	}
}

func TestMemoryBounded(t *testing.T) {
	m := &ratelimit.Memory{MaxKeys: 64}
	now := time.Unix(1e9, 0)
	for i := range 1000 {
		m.Take(context.Background(), ratelimit.Key("r", string(rune('a'+i%26))+strings.Repeat("x", i)), now, time.Hour, time.Hour)
	}
	if n := m.Len(); n > 64 {
		t.Fatalf("%d keys kept, bound 64", n)
	}
}

func TestKeyBounded(t *testing.T) {
	long := strings.Repeat("x", 1000)
	k := ratelimit.Key("token", long)
	if len(k) > ratelimit.MaxKeyLength || !strings.HasPrefix(k, "token|sha256:") {
		t.Fatalf("Key of a long value = %q", k)
	}
	if ratelimit.Key("token", "c1") != "token|c1" {
		t.Fatal("short key changed")
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	for d, want := range map[time.Duration]int64{0: 1, time.Millisecond: 1, time.Second: 1, 1001 * time.Millisecond: 2, time.Minute: 60} {
		if got := ratelimit.RetryAfterSeconds(d); got != want {
			t.Errorf("RetryAfterSeconds(%v) = %d, want %d", d, got, want)
		}
	}
}

func testingCI() bool { return strings.EqualFold(os.Getenv("CI"), "true") }

// BenchmarkMemory is one GCRA step in memory, on many keys in parallel.
func BenchmarkMemory(b *testing.B) {
	m := &ratelimit.Memory{}
	l := ratelimit.Limit{Rate: 1000, Per: time.Second, Burst: 1000}
	now := time.Unix(1e9, 0)
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			m.Take(context.Background(), ratelimit.Key("token", strconv.Itoa(i%1024)), now, l.Emission(), l.Tolerance())
		}
	})
}

// BenchmarkMemoryFull is a flood of new keys on a full table of live
// ones: each new key must make room.
func BenchmarkMemoryFull(b *testing.B) {
	m := &ratelimit.Memory{}
	now := time.Unix(1e9, 0)
	for i := range ratelimit.DefaultMaxKeys {
		m.Take(context.Background(), "k"+strconv.Itoa(i), now, time.Hour, time.Hour)
	}
	i := 0
	for b.Loop() {
		i++
		m.Take(context.Background(), "new"+strconv.Itoa(i), now, time.Hour, time.Hour)
	}
}

// TestWarner: the first failure is logged, then at most one per
// WarnInterval.
func TestWarner(t *testing.T) {
	var w ratelimit.Warner
	t0 := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		at   time.Duration
		want bool
	}{
		{0, true},
		{time.Second, false},
		{ratelimit.WarnInterval - 1, false},
		{ratelimit.WarnInterval, true},
		{ratelimit.WarnInterval + time.Second, false},
		{3 * ratelimit.WarnInterval, true},
	} {
		if got := w.Due(t0.Add(tc.at)); got != tc.want {
			t.Errorf("Due at +%v = %v, want %v", tc.at, got, tc.want)
		}
	}
}

// blocking is a backend that answers only when its call is given up.
type blocking struct{}

func (blocking) Take(ctx context.Context, _ string, _ time.Time, _, _ time.Duration) (bool, time.Duration, error) {
	<-ctx.Done()
	return false, 0, ctx.Err()
}

// TestLimiterTimeout: a backend that does not answer within Timeout lets
// the event through and is reported as failing.
func TestLimiterTimeout(t *testing.T) {
	var errs atomic.Int32
	l := ratelimit.New(ratelimit.Options{
		Backend: blocking{},
		Limits:  map[string]ratelimit.Limit{"token": {Rate: 1, Per: time.Hour, Burst: 1}},
		Timeout: time.Millisecond,
		Hooks: ratelimit.Hooks{BackendError: func(_ string, err error) {
			if errors.Is(err, context.DeadlineExceeded) {
				errs.Add(1)
			}
		}},
	})
	if d := l.Allow(context.Background(), "token", "c1"); !d.Allowed {
		t.Fatal("a backend past its timeout refused")
	}
	if errs.Load() != 1 {
		t.Fatalf("BackendError heard %d timeouts, want 1", errs.Load())
	}
}

package introspect

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/writ-dev/writ/rs"
)

// verifyN verifies raw and fails the test unless it is accepted and the
// endpoint has then received want requests in all.
func verifyN(t *testing.T, c *Client, f *fakeAS, raw string, want int) *rs.Token {
	t.Helper()
	tok, err := c.Verify(t.Context(), raw)
	if err != nil {
		t.Fatalf("Verify(%s): %v", raw, err)
	}
	if got := len(f.requests()); got != want {
		t.Fatalf("after Verify(%s): %d requests, want %d", raw, got, want)
	}
	return tok
}

func TestCacheHit(t *testing.T) {
	f := newFakeAS(t)
	f.set("tok", activeMembers())
	c := f.client(f.config())
	first := verifyN(t, c, f, "tok", 1)
	second := verifyN(t, c, f, "tok", 1)
	if first != second {
		t.Error("a hit returned another Token")
	}
	if s := c.Stats(); s.Hits != 1 || s.Misses != 1 || s.Requests != 1 || s.Entries != 1 {
		t.Errorf("Stats = %+v", s)
	}
	// The cache is keyed by the token's SHA-256 hash.
	if _, ok := c.cache.m[key(sha256.Sum256([]byte("tok")))]; !ok || len(c.cache.m) != 1 {
		t.Errorf("cache keys: %v", c.cache.m)
	}
}

// TestCacheLifetime: an entry lives until min(exp, start of the request +
// CacheTTL), and not a moment longer.
func TestCacheLifetime(t *testing.T) {
	tests := []struct {
		name string
		exp  time.Duration // from start; 0 = no exp
		ttl  time.Duration
		life time.Duration // how long the entry must live
	}{
		{"exp before TTL", 30 * time.Second, time.Minute, 30 * time.Second},
		{"TTL before exp", time.Hour, time.Minute, time.Minute},
		{"no exp", 0, time.Minute, time.Minute},
		{"default TTL", time.Hour, 0, DefaultCacheTTL},
		{"short TTL", time.Hour, time.Second, time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeAS(t)
			m := activeMembers()
			delete(m, "exp")
			if tc.exp != 0 {
				m["exp"] = start.Add(tc.exp).Unix()
			}
			f.set("tok", m)
			cfg := f.config()
			cfg.CacheTTL = tc.ttl
			c := f.client(cfg)
			verifyN(t, c, f, "tok", 1)
			f.clock.Advance(tc.life - time.Nanosecond)
			verifyN(t, c, f, "tok", 1) // still cached
			f.clock.Advance(time.Nanosecond)
			if tc.exp == tc.life {
				// At exp the token is expired: asked again, and refused.
				if _, err := c.Verify(t.Context(), "tok"); !errors.Is(err, rs.ErrInvalidToken) {
					t.Fatalf("Verify at exp: %v", err)
				}
				if n := len(f.requests()); n != 2 {
					t.Fatalf("%d requests, want 2", n)
				}
				return
			}
			verifyN(t, c, f, "tok", 2) // expired from the cache: asked again
		})
	}
}

// TestRevocation: a revoked token is accepted from the cache until its
// entry ends, and refused after.
func TestRevocation(t *testing.T) {
	f := newFakeAS(t)
	f.set("tok", activeMembers())
	cfg := f.config()
	cfg.CacheTTL = 10 * time.Second
	c := f.client(cfg)
	verifyN(t, c, f, "tok", 1)
	f.revoke("tok")
	f.clock.Advance(9 * time.Second)
	verifyN(t, c, f, "tok", 1)
	f.clock.Advance(time.Second)
	if _, err := c.Verify(t.Context(), "tok"); !errors.Is(err, rs.ErrInvalidToken) {
		t.Fatalf("revoked token after the cache entry ended: %v", err)
	}
}

func TestInactiveNotCached(t *testing.T) {
	f := newFakeAS(t)
	c := f.client(f.config())
	for i := 1; i <= 3; i++ {
		if _, err := c.Verify(t.Context(), "unknown"); !errors.Is(err, rs.ErrInvalidToken) {
			t.Fatalf("Verify: %v", err)
		}
		if n := len(f.requests()); n != i {
			t.Fatalf("after %d verifications of an inactive token: %d requests", i, n)
		}
	}
	if n := c.Stats().Entries; n != 0 {
		t.Errorf("%d entries", n)
	}
}

func TestFailuresNotCached(t *testing.T) {
	f := newFakeAS(t)
	f.set("tok", activeMembers())
	f.respond = answer(http.StatusServiceUnavailable, "", "")
	c := f.client(f.config())
	if _, err := c.Verify(t.Context(), "tok"); !errors.Is(err, rs.ErrUnavailable) {
		t.Fatalf("Verify during an outage: %v", err)
	}
	f.mu.Lock()
	f.respond = nil
	f.mu.Unlock()
	verifyN(t, c, f, "tok", 2) // asked again at once, no waiting out a TTL
	verifyN(t, c, f, "tok", 2)
}

func TestCacheBound(t *testing.T) {
	f := newFakeAS(t)
	for _, tok := range []string{"a", "b", "c"} {
		f.set(tok, activeMembers())
	}
	cfg := f.config()
	cfg.CacheSize = 2
	c := f.client(cfg)
	verifyN(t, c, f, "a", 1)
	verifyN(t, c, f, "b", 2)
	verifyN(t, c, f, "a", 2) // a is now the most recently used
	verifyN(t, c, f, "c", 3) // evicts b
	if n := c.Stats().Entries; n != 2 {
		t.Fatalf("%d entries, want 2", n)
	}
	verifyN(t, c, f, "a", 3)
	verifyN(t, c, f, "c", 3)
	verifyN(t, c, f, "b", 4)
}

func TestCacheOff(t *testing.T) {
	for _, cfg := range []struct {
		size int
		ttl  time.Duration
	}{{-1, 0}, {0, -1}} {
		t.Run(fmt.Sprintf("size %d ttl %v", cfg.size, cfg.ttl), func(t *testing.T) {
			f := newFakeAS(t)
			f.set("tok", activeMembers())
			c := f.client(func() Config { x := f.config(); x.CacheSize, x.CacheTTL = cfg.size, cfg.ttl; return x }())
			verifyN(t, c, f, "tok", 1)
			verifyN(t, c, f, "tok", 2)
		})
	}
}

// requireScope is the check a handler or the gateway runs on every
// request, on the Token Verify returns.
func requireScope(v rs.TokenVerifier, scope string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, err := v.Verify(r.Context(), r.Header.Get("X-Token"))
		switch {
		case errors.Is(err, rs.ErrInvalidToken):
			w.WriteHeader(http.StatusUnauthorized)
		case err != nil:
			w.WriteHeader(http.StatusServiceUnavailable)
		case !tok.HasScope(scope):
			w.WriteHeader(http.StatusForbidden)
		default:
			w.WriteHeader(http.StatusOK)
		}
	})
}

// TestCacheNeverSkipsScopeChecks (Oathkeeper #743): a token cached with
// scope a passes a route that needs a and fails one that needs b, on a hit
// exactly as on the miss, in either order.
func TestCacheNeverSkipsScopeChecks(t *testing.T) {
	f := newFakeAS(t)
	m := activeMembers()
	m["scope"] = "a"
	f.set("tok", m)
	c := f.client(f.config())
	routeA, routeB := requireScope(c, "a"), requireScope(c, "b")
	steps := []struct {
		route    http.Handler
		name     string
		want     int
		requests int
	}{
		{routeB, "b (miss)", http.StatusForbidden, 1},
		{routeB, "b (hit)", http.StatusForbidden, 1},
		{routeA, "a (hit)", http.StatusOK, 1},
		{routeB, "b after a (hit)", http.StatusForbidden, 1},
	}
	for _, s := range steps {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("X-Token", "tok")
		s.route.ServeHTTP(rec, req)
		if rec.Code != s.want {
			t.Errorf("route %s: %d, want %d", s.name, rec.Code, s.want)
		}
		if n := len(f.requests()); n != s.requests {
			t.Errorf("route %s: %d requests, want %d", s.name, n, s.requests)
		}
	}
	tok, err := c.Verify(t.Context(), "tok")
	if err != nil || tok.HasScope("b") || !tok.HasScope("a") || len(tok.Scopes) != 1 {
		t.Errorf("cached token: %v, %v", tok, err)
	}
}

// TestSingleFlight: concurrent misses for one token share one request; a
// waiter that gives up does not fail the others, not even when it is the
// one that started the request.
func TestSingleFlight(t *testing.T) {
	for _, cacheSize := range []int{0, -1} {
		t.Run(fmt.Sprintf("cache size %d", cacheSize), func(t *testing.T) {
			const n = 8
			f := newFakeAS(t)
			f.set("tok", activeMembers())
			f.entered, f.release = make(chan struct{}, 1), make(chan struct{})
			cfg := f.config()
			cfg.CacheSize = cacheSize
			c := f.client(cfg)
			var waiting sync.WaitGroup
			waiting.Add(n - 1)
			c.waiting = waiting.Done

			leaderCtx, cancelLeader := context.WithCancel(t.Context())
			leaderErr := make(chan error, 1)
			go func() {
				_, err := c.Verify(leaderCtx, "tok")
				leaderErr <- err
			}()
			<-f.entered // the leader's request is under way

			type out struct {
				tok *rs.Token
				err error
			}
			outs := make(chan out, n-1)
			for range n - 1 {
				go func() {
					tok, err := c.Verify(t.Context(), "tok")
					outs <- out{tok, err}
				}()
			}
			waiting.Wait() // all n-1 wait for the leader's call
			cancelLeader()
			if err := <-leaderErr; !errors.Is(err, context.Canceled) || !errors.Is(err, rs.ErrUnavailable) {
				t.Errorf("the leader who gave up: %v", err)
			}
			close(f.release)
			var first *rs.Token
			for range n - 1 {
				o := <-outs
				if o.err != nil {
					t.Fatalf("waiter: %v", o.err)
				}
				if first == nil {
					first = o.tok
				} else if o.tok != first {
					t.Error("waiters got different Tokens")
				}
			}
			if r := len(f.requests()); r != 1 {
				t.Errorf("%d requests for %d concurrent misses", r, n)
			}
			if s := c.Stats(); s.Misses != n || s.Requests != 1 {
				t.Errorf("Stats = %+v", s)
			}
		})
	}
}

// TestSingleFlightDistinctTokens: misses for different tokens do not wait
// for each other.
func TestSingleFlightDistinctTokens(t *testing.T) {
	f := newFakeAS(t)
	f.set("slow", activeMembers())
	f.set("fast", activeMembers())
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	f.respond = nil
	var once sync.Once
	entered := make(chan struct{})
	base := f.serve
	f.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		if r.PostForm.Get("token") == "slow" {
			once.Do(func() { close(entered) })
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
		}
		base(w, r)
	})
	c := f.client(f.config())
	go func() { _, _ = c.Verify(context.WithoutCancel(t.Context()), "slow") }()
	<-entered
	if _, err := c.Verify(t.Context(), "fast"); err != nil {
		t.Fatalf("Verify(fast) while slow is under way: %v", err)
	}
}

// TestMaxConcurrent: with every request slot taken, a miss fails as
// unavailable after Timeout instead of adding a request; once a slot is
// free it goes through.
func TestMaxConcurrent(t *testing.T) {
	f := newFakeAS(t)
	f.set("tok", activeMembers())
	cfg := f.config()
	cfg.MaxConcurrent, cfg.Timeout = 2, time.Millisecond
	c := f.client(cfg)
	if cap(c.slots) != 2 {
		t.Fatalf("%d slots", cap(c.slots))
	}
	c.slots <- struct{}{} // two requests under way
	c.slots <- struct{}{}
	if _, err := c.Verify(t.Context(), "tok"); !errors.Is(err, rs.ErrUnavailable) {
		t.Fatalf("Verify with no free slot: %v", err)
	}
	if n := len(f.requests()); n != 0 {
		t.Fatalf("%d requests, want 0", n)
	}
	<-c.slots
	c.timeout = DefaultTimeout
	verifyN(t, c, f, "tok", 1)
	if len(c.slots) != 1 {
		t.Errorf("the request did not give its slot back")
	}
}

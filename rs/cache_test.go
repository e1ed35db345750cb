package rs

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/cputime"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
)

func TestVerifierCachesVerifiedTokens(t *testing.T) {
	clk := newClock()
	is := newJWKSIssuer(t)
	v := newClockedVerifier(t, clk, []IssuerConfig{{Issuer: vIssuer, JWKSURI: is.srv.URL, Audiences: []string{vAudience}, Leeway: -1}},
		WithCacheMaxAge(time.Hour))
	ctx := context.Background()
	now := clk.Now()
	raw := signJWT(t, is.key, jwt.TypeAccessToken, withClaims(validClaims(now), "exp", now.Add(2*time.Minute).Unix()))
	first, err := v.Verify(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	// A hit is the same token, not verified again: it is served even
	// while the keys are unavailable.
	is.srv.respond(http.StatusInternalServerError, nil)
	clk.Advance(2*time.Minute - time.Second)
	if tok, err := v.Verify(ctx, raw); err != nil || tok != first {
		t.Fatalf("Verify before exp = %p, %v; want the cached %p", tok, err, first)
	}
	// At exp, never served: verified again, and refused.
	clk.Advance(time.Second)
	if tok, err := v.Verify(ctx, raw); !errors.Is(err, jwt.ErrExpired) {
		t.Fatalf("Verify at exp = %v, %v; want ErrExpired", tok, err)
	}
	if st := v.CacheStats(); st.Hits != 1 || st.Misses != 2 || st.Entries != 1 || st.Capacity != DefaultTokenCacheSize-DefaultTokenCacheSize%maxCacheShards {
		t.Fatalf("CacheStats = %+v", st)
	}
}

func TestVerifierCacheMaxAge(t *testing.T) {
	clk := newClock()
	key := genKey(t)
	v := newClockedVerifier(t, clk, []IssuerConfig{{Issuer: vIssuer, Keys: jose.NewKeySet(key.Public()), Audiences: []string{vAudience}}},
		WithCacheMaxAge(time.Minute))
	ctx := context.Background()
	raw := signJWT(t, key, jwt.TypeAccessToken, validClaims(clk.Now())) // exp in 10 min
	first, err := v.Verify(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute - time.Nanosecond)
	if tok, _ := v.Verify(ctx, raw); tok != first {
		t.Fatal("not cached within the max age")
	}
	clk.Advance(time.Nanosecond)
	second, err := v.Verify(ctx, raw)
	if err != nil || second == first {
		t.Fatalf("served past the max age: %v", err)
	}
	// Re-verified, and cached again.
	if tok, _ := v.Verify(ctx, raw); tok != second {
		t.Fatal("the re-verified token was not cached")
	}
}

func TestVerifierNeverCachesFailures(t *testing.T) {
	clk := newClock()
	is := newJWKSIssuer(t)
	v := newClockedVerifier(t, clk, []IssuerConfig{{Issuer: vIssuer, JWKSURI: is.srv.URL, Audiences: []string{vAudience}}})
	ctx := context.Background()
	is.srv.respond(http.StatusServiceUnavailable, nil)
	raw := signJWT(t, is.key, jwt.TypeAccessToken, validClaims(clk.Now()))
	if _, err := v.Verify(ctx, raw); !errors.Is(err, ErrKeySetUnavailable) {
		t.Fatalf("Verify during the outage: %v", err)
	}
	bad := signJWT(t, genKey(t), jwt.TypeAccessToken, validClaims(clk.Now()))
	if _, err := v.Verify(ctx, bad); !errors.Is(err, ErrKeySetUnavailable) {
		t.Fatalf("Verify during the outage: %v", err)
	}
	if n := v.cache.len(); n != 0 {
		t.Fatalf("%d failures cached", n)
	}
	is.srv.serve(t, is.key)
	clk.Advance(DefaultMinRefreshInterval)
	if _, err := v.Verify(ctx, raw); err != nil {
		t.Fatalf("Verify after the outage: %v", err)
	}
	for range 2 {
		if _, err := v.Verify(ctx, bad); !errors.Is(err, jwt.ErrKeyNotFound) {
			t.Fatalf("forged token: %v", err)
		}
	}
	if n := v.cache.len(); n != 1 {
		t.Fatalf("cache holds %d tokens, want 1", n)
	}
}

func TestVerifierWithoutCache(t *testing.T) {
	clk := newClock()
	key := genKey(t)
	for _, opt := range []VerifierOption{WithoutCache(), WithCache(0), WithCacheMaxAge(0)} {
		v := newClockedVerifier(t, clk, []IssuerConfig{{Issuer: vIssuer, Keys: jose.NewKeySet(key.Public()), Audiences: []string{vAudience}}}, opt)
		raw := signJWT(t, key, jwt.TypeAccessToken, validClaims(clk.Now()))
		a, err := v.Verify(context.Background(), raw)
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := v.Verify(context.Background(), raw); a == b || v.cache != nil {
			t.Fatal("cached although the cache is off")
		}
		if st := v.CacheStats(); st != (CacheStats{}) {
			t.Fatalf("CacheStats without a cache = %+v", st)
		}
	}
}

func TestTokenCacheCollisionNeverReturnsAnotherToken(t *testing.T) {
	c := newTokenCache(16, time.Hour)
	now := time.Unix(1000, 0)
	a := &Token{Raw: "token-a", Expiry: now.Add(time.Hour)}
	c.put(a.Raw, a, now)
	if c.get("token-a", now) != a {
		t.Fatal("miss on the cached token")
	}
	// Make "token-b" collide with token-a's entry: its hash slot holds a.
	hb := c.key("token-b")
	s := &c.shards[hb%uint64(len(c.shards))]
	s.m[hb] = cacheEntry{tok: a, until: now.Add(time.Hour).UnixNano()}
	if got := c.get("token-b", now); got != nil {
		t.Fatalf("a colliding raw token got %q", got.Raw)
	}
}

func TestTokenCacheBounds(t *testing.T) {
	now := time.Unix(1000, 0)
	for _, size := range []int{1, 5, 64, 100, 1000} {
		c := newTokenCache(size, time.Hour)
		for i := range 5 * size {
			raw := fmt.Sprint("t", i)
			c.put(raw, &Token{Raw: raw, Expiry: now.Add(time.Hour)}, now)
		}
		if n := c.len(); n > size || n < size/2 {
			t.Errorf("size %d: cache holds %d", size, n)
		}
	}
	// Not cached: no exp, exp passed, exp now.
	c := newTokenCache(8, time.Hour)
	for i, exp := range []time.Time{{}, now.Add(-time.Second), now} {
		raw := fmt.Sprint("t", i)
		c.put(raw, &Token{Raw: raw, Expiry: exp}, now)
	}
	if n := c.len(); n != 0 {
		t.Fatalf("%d tokens cached that must not be", n)
	}
}

func TestTokenCacheEvictsExpiredFirst(t *testing.T) {
	now := time.Unix(1000, 0)
	c := newTokenCache(4, time.Hour)
	c.shards, c.perShard = c.shards[:1], 4 // one shard of four entries
	live := func(i int) string { return fmt.Sprint("live", i) }
	for i := range 3 {
		c.put(live(i), &Token{Raw: live(i), Expiry: now.Add(time.Hour)}, now)
	}
	c.put("short", &Token{Raw: "short", Expiry: now.Add(time.Minute)}, now)
	later := now.Add(2 * time.Minute)
	c.put("new", &Token{Raw: "new", Expiry: later.Add(time.Hour)}, later)
	for i := range 3 {
		if c.get(live(i), later) == nil {
			t.Errorf("live token %d evicted before the expired one", i)
		}
	}
	if c.get("new", later) == nil {
		t.Error("the new token is not cached")
	}
	// Full of live tokens: the one closest to its end goes.
	c.put("soonest", &Token{Raw: "soonest", Expiry: later.Add(time.Minute)}, later)
	if c.get("soonest", later) == nil {
		t.Fatal("the new token is not cached")
	}
	c.put("newer", &Token{Raw: "newer", Expiry: later.Add(time.Hour)}, later)
	if c.len() != 4 || c.get("newer", later) == nil || c.get("soonest", later) != nil {
		t.Fatalf("len %d; the token closest to its end was not the one evicted", c.len())
	}
}

func TestTokenCacheConcurrent(t *testing.T) {
	now := time.Unix(1000, 0)
	c := newTokenCache(128, time.Hour)
	toks := make([]*Token, 512)
	for i := range toks {
		toks[i] = &Token{Raw: fmt.Sprint("t", i), Expiry: now.Add(time.Hour)}
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				tok := toks[(i*7+g)%len(toks)]
				if got := c.get(tok.Raw, now); got != nil && got != tok {
					t.Errorf("get(%q) returned %q", tok.Raw, got.Raw)
					return
				}
				c.put(tok.Raw, tok, now)
			}
		}()
	}
	wg.Wait()
	if n := c.len(); n > 128 {
		t.Fatalf("cache holds %d, bound 128", n)
	}
}

// benchMultiVerifier returns a Verifier with static keys of alg and n tokens.
func benchMultiVerifier(b *testing.B, alg jose.Algorithm, n int, opts ...VerifierOption) (*Verifier, []string) {
	b.Helper()
	key, err := jose.GenerateKey(alg, jose.WithKeyID("k1"))
	if err != nil {
		b.Fatal(err)
	}
	v, err := NewVerifier(context.Background(), []IssuerConfig{
		{Issuer: "https://other.example", Keys: jose.NewKeySet(key.Public()), Audiences: []string{vAudience}},
		{Issuer: vIssuer, Keys: jose.NewKeySet(key.Public()), Audiences: []string{vAudience}, ClaimMapping: map[string]string{"roles": "realm_access.roles"}},
	}, opts...)
	if err != nil {
		b.Fatal(err)
	}
	raws := make([]string, n)
	for i := range raws {
		claims := withClaims(validClaims(time.Now()), "exp", time.Now().Add(time.Hour).Unix(), "jti", fmt.Sprint("jti-", i),
			"realm_access", map[string]any{"roles": []string{"admin"}}, "cnf", map[string]any{"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"})
		raws[i] = signJWT(b, key, jwt.TypeAccessToken, claims)
	}
	return v, raws
}

// BenchmarkVerifyCached is a token presented again: a cache hit. serial
// repeats one token; parallel spreads 1024 tokens over all CPUs.
func BenchmarkVerifyCached(b *testing.B) {
	v, raws := benchMultiVerifier(b, jose.ES256, 1024)
	ctx := context.Background()
	for _, raw := range raws {
		if _, err := v.Verify(ctx, raw); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			if _, err := v.Verify(ctx, raws[0]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		defer reportCPU(b)()
		var next atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			i := int(next.Add(97))
			for pb.Next() {
				i = (i + 1) % len(raws)
				if _, err := v.Verify(ctx, raws[i]); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkVerifyCold is a token verified in full: iss extraction,
// signature, claims, the Token built.
func BenchmarkVerifyCold(b *testing.B) {
	for _, alg := range []jose.Algorithm{jose.ES256, jose.RS256, jose.EdDSA} {
		b.Run(string(alg), func(b *testing.B) {
			v, raws := benchMultiVerifier(b, alg, 1, WithoutCache())
			ctx := context.Background()
			b.ReportAllocs()
			defer reportCPU(b)()
			for b.Loop() {
				if _, err := v.Verify(ctx, raws[0]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// reportCPU starts measuring the process's CPU time; the function it
// returns, deferred, reports it per operation as cpu-ns/op.
func reportCPU(b *testing.B) func() {
	cpu := cputime.Start()
	return func() { cpu.Report(b, b.N) }
}

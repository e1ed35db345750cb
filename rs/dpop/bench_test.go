package dpop_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/clocktest"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/rs/dpop"
)

// BenchmarkCheckDPoP is the full check of one request's proof, as the
// middleware runs it: header, parse, jwk, signature, claims, URL, ath,
// jkt, and the memory replay cache. Signing the b.N proofs is not timed.
func BenchmarkCheckDPoP(b *testing.B) {
	for _, alg := range []jose.Algorithm{jose.ES256, jose.EdDSA, jose.PS256} {
		b.Run(string(alg), func(b *testing.B) {
			clock := clocktest.New(t0)
			v := newVerifier(b, clock, func(c *dpop.Config) { c.Replay = dpop.NewMemoryReplayCache(4*b.N+1<<16, clock.Now) })
			k := genKey(b, alg)
			jkt := k.ThumbprintSHA256()
			reqs := make([]*http.Request, b.N)
			for i := range reqs {
				reqs[i] = request(newProof(b, k, http.MethodGet, testURL, testToken, "", t0))
			}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if err := v.CheckDPoP(ctx, reqs[i], testToken, jkt); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkReplayCacheUse is one Use of a fresh key in the memory cache,
// from all Ps at once.
func BenchmarkReplayCacheUse(b *testing.B) {
	clock := clocktest.New(t0)
	c := dpop.NewMemoryReplayCache(1<<22, clock.Now)
	until := t0.Add(time.Minute)
	keys := make([]string, 1<<20)
	for i := range keys {
		keys[i] = fmt.Sprintf("%043d", i)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			_, _ = c.Use(ctx, keys[i&(len(keys)-1)], until)
			i++
		}
	})
}

func BenchmarkNormalizeURL(b *testing.B) {
	for _, tc := range []struct{ name, url string }{
		{"normal", "https://api.example.com/orders/7?page=2"},
		{"to normalise", "https://API.example.com:443/orders/%7e7/./items?page=2"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := dpop.NormalizeURL(tc.url); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

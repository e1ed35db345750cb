package introspect

import (
	"testing"
)

// BenchmarkVerifyCached is a cache hit: hashing the token and one map
// lookup under a lock.
func BenchmarkVerifyCached(b *testing.B) {
	f := newFakeAS(b)
	const raw = "writ_at_3q2-7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	f.set(raw, activeMembers())
	c := f.client(f.config())
	ctx := b.Context()
	if _, err := c.Verify(ctx, raw); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Verify(ctx, raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyCachedParallel is a cache hit from all Ps at once.
func BenchmarkVerifyCachedParallel(b *testing.B) {
	f := newFakeAS(b)
	const raw = "writ_at_3q2-7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	f.set(raw, activeMembers())
	c := f.client(f.config())
	ctx := b.Context()
	if _, err := c.Verify(ctx, raw); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Verify(ctx, raw); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkVerifyMiss is a full introspection against a loopback
// httptest endpoint (cache off): request, response, parse, checks.
func BenchmarkVerifyMiss(b *testing.B) {
	for _, mode := range []string{"json", "jwt"} {
		b.Run(mode, func(b *testing.B) {
			f := newFakeAS(b)
			const raw = "writ_at_3q2-7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
			f.set(raw, activeMembers())
			cfg := f.config()
			if mode == "jwt" {
				cfg = f.jwtConfig()
			}
			cfg.CacheSize = -1
			c := f.client(cfg)
			ctx := b.Context()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Verify(ctx, raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkParseResponse is the parser alone on a typical response.
func BenchmarkParseResponse(b *testing.B) {
	body := `{"active":true,"scope":"orders:read orders:write","client_id":"billing","sub":"alice",` +
		`"aud":["https://api.example.test/orders"],"iss":"https://as.example.test","exp":1930370767,` +
		`"iat":1930367167,"token_type":"Bearer","cnf":{"jkt":"0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}}`
	b.ReportAllocs()
	for b.Loop() {
		if _, active, err := parseResponse(body); err != nil || !active {
			b.Fatal(err)
		}
	}
}

package grant_test

import (
	"path/filepath"
	"testing"

	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/oauth/grant"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/sqlite"
)

// BenchmarkCodeRedemption measures a redemption (look-up, validation,
// minting, one store transaction) on a SQLite file, in parallel.
func BenchmarkCodeRedemption(b *testing.B) {
	f := benchFixture(b)
	codes := make(chan string, b.N)
	for range b.N {
		codes <- f.newCode(b)
	}
	close(codes)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := f.redeem(b.Context(), f.client, <-codes); err != nil {
				b.Error(err)
			}
		}
	})
}

// BenchmarkRefreshRotation measures a rotation on a SQLite file.
func BenchmarkRefreshRotation(b *testing.B) {
	f := benchFixture(b)
	rts := make(chan string, b.N)
	for range b.N {
		resp, err := f.redeem(b.Context(), f.client, f.newCode(b))
		if err != nil {
			b.Fatal(err)
		}
		rts <- resp.RefreshToken
	}
	close(rts)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_, err := f.refresh.Handle(b.Context(), &grant.Request{Form: form("refresh_token", <-rts),
				Client: &oauth.Authenticated{Client: f.client, Method: oauth.AuthSecretBasic}})
			if err != nil {
				b.Error(err)
			}
		}
	})
}

// benchFixture is a grant fixture on a migrated SQLite file, closed with b.
func benchFixture(b *testing.B) *fixture {
	b.Helper()
	s, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "writ.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	if err := s.Migrate(b.Context()); err != nil {
		b.Fatal(err)
	}
	return newFixture(b, s, store.AccessTokenJWT)
}

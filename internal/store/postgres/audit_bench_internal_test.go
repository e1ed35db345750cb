package postgres

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/postgres/pgtest"
)

// BenchmarkRedeemAudited redeems authorization codes carrying an audit
// event from 32 goroutines (the one-statement fast path with its event):
// with the event queued, redemptions no longer take turns on the chain
// head's lock through their commits. A quick in-process check, not a load
// test:
//
//	go test ./internal/store/postgres/ -run '^$' -bench RedeemAudited -benchtime 3000x
func BenchmarkRedeemAudited(b *testing.B) {
	ctx := context.Background()
	s, now := benchCodes(b, b.N)
	var next atomic.Int64
	b.ResetTimer()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1) - 1
			issue := store.Issue{Access: store.IssuedAccess{JTI: fmt.Sprint("jti-", i), ExpiresAt: now.Add(time.Hour)},
				Audit: []store.AuditEvent{{Time: now, Type: store.AuditTokenIssued, ClientID: "c", Subject: "u",
					Details: []byte(`{"grant_type":"authorization_code"}`)}}}
			if _, err := s.RedeemAuthCode(ctx, h(fmt.Sprint("code-", i)), now, issue); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	if _, err := s.SealAudit(ctx); err != nil {
		b.Fatal(err)
	}
}

// benchCodes opens a migrated store on a new database with client c, user
// u and n unused codes of theirs, hashed from "code-0", "code-1", …
func benchCodes(b *testing.B, n int) (*Store, time.Time) {
	b.Helper()
	pgtest.Require(b)
	ctx := context.Background()
	s, err := Open(ctx, pgtest.NewDatabase(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	now := time.Now().UTC()
	must := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	must(s.CreateClient(ctx, store.Client{ID: "c", CreatedAt: now, UpdatedAt: now}))
	must(s.CreateUser(ctx, store.User{ID: "u", Username: "u", CreatedAt: now, UpdatedAt: now}))
	for i := range n {
		must(s.CreateAuthCode(ctx, store.AuthCode{Hash: h(fmt.Sprint("code-", i)), ClientID: "c", UserID: "u",
			CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))
	}
	return s, now
}

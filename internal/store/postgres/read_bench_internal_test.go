package postgres

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/postgres/pgtest"
)

// BenchmarkCodeAndUser reads a code and its user, as the code grant does:
// two queries (GetAuthCode, then GetUser) against one batch
// (GetAuthCodeUser), one after the other, so that the figure is the
// latency of the round trips:
//
//	go test ./internal/store/postgres/ -run '^$' -bench CodeAndUser -benchtime 3000x
func BenchmarkCodeAndUser(b *testing.B) {
	pgtest.Require(b)
	ctx := context.Background()
	s, err := Open(ctx, pgtest.NewDatabase(b))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
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
	const codes = 100
	for i := range codes {
		must(s.CreateAuthCode(ctx, store.AuthCode{Hash: h(fmt.Sprint("code-", i)), ClientID: "c", UserID: "u",
			CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))
	}
	b.Run("two queries", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			c, err := s.GetAuthCode(ctx, h(fmt.Sprint("code-", i%codes)))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := s.GetUser(ctx, c.UserID); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("one batch", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, u, err := s.GetAuthCodeUser(ctx, h(fmt.Sprint("code-", i%codes))); err != nil || u.ID != "u" {
				b.Fatal(u.ID, err)
			}
		}
	})
}

package postgres

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkCodeAndUser reads a code and its user, as the code grant does:
// two queries (GetAuthCode, then GetUser) against one batch
// (GetAuthCodeUser), one after the other, so that the figure is the
// latency of the round trips:
//
//	go test ./internal/store/postgres/ -run '^$' -bench CodeAndUser -benchtime 3000x
func BenchmarkCodeAndUser(b *testing.B) {
	ctx := context.Background()
	const codes = 100
	s, _ := benchCodes(b, codes)
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

package app

import (
	"errors"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/sqlite"
)

func TestPurgeOnceDeletesExpiredDelegations(t *testing.T) {
	ctx := t.Context()
	st, err := sqlite.Open(ctx, sqlite.MemoryPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := st.CreateClient(ctx, store.Client{ID: "c", CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	for _, d := range []store.Delegation{
		{ID: "old", RootID: "old", ClientID: "c", Subject: "u", CreatedAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(-time.Hour)},
		{ID: "live", RootID: "live", ClientID: "c", Subject: "u", CreatedAt: now, ExpiresAt: now.Add(time.Hour)},
	} {
		if err := st.CreateDelegation(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.RevokeJTI(ctx, "jti", now.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	n, err := purgeOnce(ctx, st, now)
	if err != nil || n != 2 {
		t.Fatalf("purgeOnce = %d, %v; want 2 (a revoked jti and a delegation)", n, err)
	}
	if _, err := st.GetDelegation(ctx, "old"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("expired delegation: %v, want ErrNotFound", err)
	}
	if _, err := st.GetDelegation(ctx, "live"); err != nil {
		t.Errorf("live delegation: %v", err)
	}
}

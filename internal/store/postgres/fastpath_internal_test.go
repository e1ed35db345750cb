package postgres

import (
	"crypto/sha256"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/postgres/pgtest"
)

func h(s string) []byte { x := sha256.Sum256([]byte(s)); return x[:] }

// openWithCode opens and migrates the database at dsn (closed when the
// test ends) and stores client "c", user "u" and an unused code "code" of
// theirs, created at the returned time.
func openWithCode(t *testing.T, dsn string) (*Store, time.Time) {
	t.Helper()
	ctx := t.Context()
	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2031, 1, 1, 0, 0, 0, 123456789, time.UTC)
	for _, err := range []error{
		s.CreateClient(ctx, store.Client{ID: "c", CreatedAt: now, UpdatedAt: now}),
		s.CreateUser(ctx, store.User{ID: "u", Username: "u", CreatedAt: now, UpdatedAt: now}),
		s.CreateAuthCode(ctx, store.AuthCode{Hash: h("code"), ClientID: "c", UserID: "u", CreatedAt: now, ExpiresAt: now.Add(time.Minute)}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return s, now
}

// TestFastPaths checks that the common redemption and rotation take the
// one-statement path (the conformance suite passes either way).
func TestFastPaths(t *testing.T) {
	pgtest.Require(t)
	ctx := t.Context()
	s, now := openWithCode(t, pgtest.NewDatabase(t))
	rt := func(name string, famExp time.Time) *store.RefreshToken {
		return &store.RefreshToken{Hash: h(name), FamilyID: "f", ClientID: "c", UserID: "u", CreatedAt: now,
			ExpiresAt: now.Add(time.Hour), FamilyExpiresAt: famExp,
			JKT: "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I", DelegationID: "d", Extra: []byte(`{"act": {"sub": "a"}}`)}
	}
	famExp := now.Add(24 * time.Hour)
	opaque := &store.TokenRecord{Hash: h("at"), Kind: store.KindAccessToken, ClientID: "c", Subject: "u", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
	issue := store.Issue{Access: store.IssuedAccess{Opaque: opaque, ExpiresAt: now.Add(time.Hour)}, Refresh: rt("rt1", famExp)}
	c, ok, err := s.redeemFast(ctx, h("code"), now, issue)
	if err != nil || !ok || c.IssuedFamilyID != "f" {
		t.Fatalf("redeemFast = %+v, %v, %v", c, ok, err)
	}
	old, err := s.GetRefreshToken(ctx, h("rt1"))
	if err != nil {
		t.Fatal(err)
	}
	next := store.Issue{Access: store.IssuedAccess{JTI: "j2", ExpiresAt: now.Add(time.Hour)}, Refresh: rt("rt2", old.FamilyExpiresAt)}
	o, ok, err := s.rotateFast(ctx, h("rt1"), now.Add(time.Second), next)
	if err != nil || !ok {
		t.Fatalf("rotateFast = %+v, %v, %v", o, ok, err)
	}
	// Once more from the seeded-style expiry with nanoseconds.
	next = store.Issue{Access: store.IssuedAccess{JTI: "j3", ExpiresAt: now.Add(time.Hour)}, Refresh: rt("rt3", famExp)}
	if _, ok, err := s.rotateFast(ctx, h("rt2"), now.Add(2*time.Second), next); err != nil || !ok {
		t.Fatalf("rotateFast with a nanosecond family expiry = %v, %v", ok, err)
	}
}

package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/store"
)

// testJTIList: ListRevokedJTIs returns the unexpired entries by jti (byte
// order), with the later expiry of a jti revoked twice, page by page.
func testJTIList(t *testing.T, s store.Store) {
	l, ok := s.(store.RevokedJTILister)
	if u, wraps := s.(interface{ Unwrap() store.Store }); !ok && wraps {
		// A decorator (storeobs) serves store.Store; the backend under it
		// lists.
		l, ok = u.Unwrap().(store.RevokedJTILister)
	}
	if !ok {
		t.Fatal("the store does not implement store.RevokedJTILister")
	}
	base := baseTime()
	ctx := t.Context()
	var want []store.RevokedJTI
	for i := range 7 {
		jti := fmt.Sprintf("jti-%d", i)
		exp := base.Add(time.Duration(i+1) * time.Hour)
		must(t, "RevokeJTI", s.RevokeJTI(ctx, jti, exp))
		want = append(want, store.RevokedJTI{JTI: jti, ExpiresAt: exp.UTC().Truncate(store.TimePrecision)})
	}
	must(t, "RevokeJTI later", s.RevokeJTI(ctx, "jti-0", base.Add(24*time.Hour)))
	want[0].ExpiresAt = base.Add(24 * time.Hour).UTC().Truncate(store.TimePrecision)
	must(t, "RevokeJTI expired", s.RevokeJTI(ctx, "A-expired", base.Add(-time.Hour)))
	must(t, "RevokeJTI uppercase", s.RevokeJTI(ctx, "Z", base.Add(time.Hour)))
	want = append([]store.RevokedJTI{{JTI: "Z", ExpiresAt: base.Add(time.Hour).UTC().Truncate(store.TimePrecision)}}, want...)

	var got []store.RevokedJTI
	for after := ""; ; {
		page, err := l.ListRevokedJTIs(ctx, base, store.ListOptions{Limit: 3, After: after})
		must(t, "ListRevokedJTIs", err)
		got = append(got, page...)
		if len(page) < 3 {
			break
		}
		after = page[len(page)-1].JTI
	}
	if len(got) != len(want) {
		t.Fatalf("ListRevokedJTIs: %d entries %v, want %d %v", len(got), got, len(want), want)
	}
	for i := range want {
		if got[i].JTI != want[i].JTI || !got[i].ExpiresAt.Equal(want[i].ExpiresAt) || got[i].ExpiresAt.Location() != time.UTC {
			t.Errorf("entry %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if _, err := l.ListRevokedJTIs(ctx, base, store.ListOptions{After: "bad\x00cursor"}); err == nil {
		t.Error("ListRevokedJTIs with an invalid cursor succeeded")
	}
}

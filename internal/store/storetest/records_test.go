package storetest

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/store"
)

func TestRecordDiff(t *testing.T) {
	// The fixtures' times are in UTC+1 with nanoseconds; a store returns
	// them in UTC at its precision.
	stored := func(t time.Time) time.Time { return t.UTC().Truncate(store.TimePrecision) }
	want := fullUser("u", "U")
	got := want
	got.CreatedAt, got.UpdatedAt, got.PasswordChangedAt = stored(want.CreatedAt), stored(want.UpdatedAt), stored(want.PasswordChangedAt)
	if d := recordDiff(want, got); len(d) != 0 {
		t.Fatalf("a record differs from itself in %q", d)
	}
	if d := recordDiff(want, want); !slices.Equal(d, []string{"CreatedAt", "UpdatedAt", "PasswordChangedAt"}) {
		t.Errorf("times not in UTC: recordDiff = %q", d)
	}
	got.Address.Locality = "Uppsala"
	got.Attributes = map[string]json.RawMessage{"roles": json.RawMessage(`["admin"]`)}
	got.UpdatedAt = got.UpdatedAt.Add(time.Second)
	got.Email = ""
	d := recordDiff(want, got)
	for _, f := range []string{"Address.Locality", "Attributes", "UpdatedAt", "Email"} {
		if !slices.Contains(d, f) {
			t.Errorf("recordDiff missed %s: %q", f, d)
		}
	}
	// Nil and empty compare equal; times at the stored precision.
	a, b := fullRefresh("c", "u", "f", "t"), fullRefresh("c", "u", "f", "t")
	a.AMR, b.AMR = nil, []string{}
	b.Hash = a.Hash
	for _, r := range []*store.RefreshToken{&b} {
		r.AuthTime, r.CreatedAt, r.ExpiresAt, r.FamilyExpiresAt = stored(r.AuthTime), stored(r.CreatedAt), stored(r.ExpiresAt), stored(r.FamilyExpiresAt)
	}
	if d := recordDiff(a, b); len(d) != 0 {
		t.Errorf("nil vs empty or a sub-precision difference reported: %q", d)
	}
}

func TestUnsetFields(t *testing.T) {
	c := fullClient("c")
	c.JWKSURI = ""
	c.Metadata = map[string]string{}
	got := unsetFields(c)
	if !slices.Equal(got, []string{"JWKSURI", "Metadata"}) {
		t.Errorf("unsetFields = %q", got)
	}
	u := fullUser("u", "U")
	u.Address.Country = ""
	if got := unsetFields(u); !slices.Equal(got, []string{"Address.Country"}) {
		t.Errorf("unsetFields = %q", got)
	}
	if got := unsetFields(u, "Address.Country"); len(got) != 0 {
		t.Errorf("unsetFields with an exception = %q", got)
	}
}

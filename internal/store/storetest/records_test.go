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

func TestRecordDiffPointers(t *testing.T) {
	want := fullClient("c")
	tests := []struct {
		name   string
		mutate func(c *store.Client)
		diff   []string
	}{
		{"same", func(*store.Client) {}, nil},
		{"nil agent", func(c *store.Client) { c.Agent = nil }, []string{"Agent"}},
		{"agent field", func(c *store.Client) { a := *c.Agent; a.RequireDPoP = false; c.Agent = &a }, []string{"Agent.RequireDPoP"}},
		{"exchange list", func(c *store.Client) { e := *c.Exchange; e.Actors = nil; c.Exchange = &e }, []string{"Exchange.Actors"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := fullClient("c")
			got.SecretRotatedAt, got.CreatedAt, got.UpdatedAt = want.SecretRotatedAt.UTC(), want.CreatedAt.UTC(), want.UpdatedAt.UTC()
			got.TokensRevokedBefore = want.TokensRevokedBefore.UTC()
			tt.mutate(&got)
			// Times are compared at the stored precision.
			w := want
			w.SecretRotatedAt, w.CreatedAt, w.UpdatedAt = w.SecretRotatedAt.Truncate(store.TimePrecision), w.CreatedAt.Truncate(store.TimePrecision), w.UpdatedAt.Truncate(store.TimePrecision)
			w.TokensRevokedBefore = w.TokensRevokedBefore.Truncate(store.TimePrecision)
			got.SecretRotatedAt, got.CreatedAt, got.UpdatedAt = w.SecretRotatedAt.UTC(), w.CreatedAt.UTC(), w.UpdatedAt.UTC()
			got.TokensRevokedBefore = w.TokensRevokedBefore.UTC()
			if d := recordDiff(w, got); !slices.Equal(d, tt.diff) {
				t.Errorf("recordDiff = %q, want %q", d, tt.diff)
			}
		})
	}
	c := fullClient("c")
	c.Exchange = &store.ExchangePolicy{Actors: []string{"a"}}
	got := unsetFields(c)
	if !slices.Contains(got, "Exchange.MaxChain") || !slices.Contains(got, "Exchange.SubjectIssuers") || slices.Contains(got, "Exchange.Actors") {
		t.Errorf("unsetFields behind a pointer = %q", got)
	}
}

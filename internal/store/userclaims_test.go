package store_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/store"
)

// TestUserClaims: the table of user claims is consistent (one accessor of
// the right kind each, distinct names and fields) and drives validation.
func TestUserClaims(t *testing.T) {
	claims := store.UserClaims()
	seen := map[string]bool{}
	var u store.User
	for i, c := range claims {
		if c.Name == "" || seen[c.Name] || c.Scope == "" {
			t.Fatalf("claim %d: %+v", i, c)
		}
		seen[c.Name] = true
		accessors := 0
		for _, set := range []bool{c.Text != nil, c.Bool != nil, c.Address != nil, c.Time != nil} {
			if set {
				accessors++
			}
		}
		wantKind := map[store.ClaimFormat]bool{
			store.FormatBool: c.Bool != nil, store.FormatAddress: c.Address != nil, store.FormatTime: c.Time != nil,
		}
		if ok, special := wantKind[c.Format]; accessors != 1 || special && !ok || !special && (c.Text == nil || c.MaxLen <= 0) {
			t.Errorf("%s: format %d with the wrong accessor or bound", c.Name, c.Format)
		}
		if c.Requires != "" {
			if r, ok := store.LookupUserClaim(c.Requires); !ok || r.Text == nil {
				t.Errorf("%s requires %q, not a text claim", c.Name, c.Requires)
			}
		}
		// Each text accessor reaches a field of its own.
		if c.Text != nil {
			if *c.Text(&u) != "" {
				t.Errorf("%s shares its field with another claim", c.Name)
			}
			*c.Text(&u) = c.Name
		}
	}
	for _, c := range claims {
		if c.Text != nil && *c.Text(&u) != c.Name {
			t.Errorf("%s: field holds %q", c.Name, *c.Text(&u))
		}
	}

	// Validation covers every text claim.
	base := store.User{ID: "u1", Username: "ada", CreatedAt: time.Unix(1, 0), UpdatedAt: time.Unix(1, 0)}
	if err := base.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range claims {
		if c.Text == nil {
			continue
		}
		bad := base
		*c.Text(&bad) = "a\x00b"
		if err := bad.Validate(); !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), c.Name) {
			t.Errorf("%s with a NUL: %v", c.Name, err)
		}
	}
	if _, ok := store.LookupUserClaim("sub"); ok {
		t.Error("sub is not a user claim of the table")
	}
}

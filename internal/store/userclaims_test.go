package store_test

import (
	"errors"
	"reflect"
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

// TestAddressComponents: every field of store.Address has exactly one row
// in store.AddressComponents and every row reaches a field of its own, so
// a component added to Address without a row (and so never decoded,
// validated nor released) fails here.
func TestAddressComponents(t *testing.T) {
	var a store.Address
	v := reflect.ValueOf(&a).Elem()
	fields := map[*string]string{}
	for i := range v.NumField() {
		f := v.Type().Field(i)
		p, ok := v.Field(i).Addr().Interface().(*string)
		if !ok {
			t.Fatalf("Address.%s is a %s; the components are strings", f.Name, f.Type)
		}
		fields[p] = f.Name
	}
	components := store.AddressComponents()
	rows := map[string]string{}
	names := map[string]bool{}
	for _, c := range components {
		if c.Name == "" || names[c.Name] || c.Field == nil || c.MaxLen <= 0 {
			t.Fatalf("component %+v: empty or repeated name, no field or no bound", c)
		}
		names[c.Name] = true
		field, ok := fields[c.Field(&a)]
		if !ok {
			t.Fatalf("%s reaches no field of Address", c.Name)
		}
		if other, dup := rows[field]; dup {
			t.Errorf("Address.%s is reached by %s and %s", field, other, c.Name)
		}
		rows[field] = c.Name
	}
	for _, name := range fields {
		if _, ok := rows[name]; !ok {
			t.Errorf("Address.%s has no row in store.AddressComponents", name)
		}
	}

	// Validation covers every component, under its claim name.
	base := store.User{ID: "u1", Username: "ada", CreatedAt: time.Unix(1, 0), UpdatedAt: time.Unix(1, 0)}
	for _, c := range components {
		bad := base
		*c.Field(&bad.Address) = "a\x00b"
		if err := bad.Validate(); !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "address "+c.Name) {
			t.Errorf("address %s with a NUL: %v", c.Name, err)
		}
	}
}

package storetest

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/store"
)

var timeType = reflect.TypeFor[time.Time]()

// recordDiff lists the fields in which got differs from want, for any
// record type: every exported field is compared, nested structs (also
// behind pointers: both nil, or both set and equal) and map values field
// by field, so that a field added to a record is compared
// without a change here. Times compare at store.TimePrecision and got's
// must be in UTC; nil and empty slices, maps and byte strings are equal;
// byte strings (json.RawMessage included) compare byte for byte.
func recordDiff(want, got any) []string {
	var d []string
	diffValue("", reflect.ValueOf(want), reflect.ValueOf(got), &d)
	return d
}

func diffValue(path string, w, g reflect.Value, d *[]string) {
	differ := func() { *d = append(*d, path) }
	switch {
	case w.Type() == timeType:
		if !sameTime(w.Interface().(time.Time), g.Interface().(time.Time)) {
			differ()
		}
	case w.Kind() == reflect.Pointer:
		switch {
		case w.IsNil() && g.IsNil():
		case w.IsNil() || g.IsNil():
			differ()
		default:
			diffValue(path, w.Elem(), g.Elem(), d)
		}
	case w.Kind() == reflect.Struct:
		for i := range w.NumField() {
			f := w.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			name := f.Name
			if path != "" {
				name = path + "." + name
			}
			diffValue(name, w.Field(i), g.Field(i), d)
		}
	case w.Kind() == reflect.Slice && w.Type().Elem().Kind() == reflect.Uint8:
		if !bytes.Equal(w.Bytes(), g.Bytes()) {
			differ()
		}
	case w.Kind() == reflect.Slice:
		if w.Len() != g.Len() {
			differ()
			return
		}
		for i := range w.Len() {
			diffValue(fmt.Sprintf("%s[%d]", path, i), w.Index(i), g.Index(i), d)
		}
	case w.Kind() == reflect.Map:
		if w.Len() != g.Len() {
			differ()
			return
		}
		for _, k := range w.MapKeys() {
			gv := g.MapIndex(k)
			if !gv.IsValid() {
				differ()
				return
			}
			diffValue(fmt.Sprintf("%s[%v]", path, k), w.MapIndex(k), gv, d)
		}
	default:
		if !reflect.DeepEqual(w.Interface(), g.Interface()) {
			differ()
		}
	}
}

// unsetFields lists the exported fields of the fixture v (nested structs,
// and structs behind non-nil pointers, field by field) left at their zero value, but those named in except.
func unsetFields(v any, except ...string) []string {
	var out []string
	var walk func(path string, rv reflect.Value)
	walk = func(path string, rv reflect.Value) {
		for i := range rv.NumField() {
			f := rv.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			name := f.Name
			if path != "" {
				name = path + "." + name
			}
			fv := rv.Field(i)
			switch {
			case slices.Contains(except, name):
			case fv.Kind() == reflect.Struct && fv.Type() != timeType:
				walk(name, fv)
			case fv.Kind() == reflect.Pointer && !fv.IsNil() && fv.Elem().Kind() == reflect.Struct:
				walk(name, fv.Elem())
			case fv.IsZero() || (fv.Kind() == reflect.Slice || fv.Kind() == reflect.Map) && fv.Len() == 0:
				out = append(out, name)
			}
		}
	}
	walk("", reflect.ValueOf(v))
	return out
}

// testFixturesComplete fails when a full fixture leaves a field unset: the
// round-trip tests compare whole records (recordDiff), and only a set
// field shows that a backend stores it. A field that must be unset on a
// new record (set by the store later) is listed as an exception.
func testFixturesComplete(t *testing.T, _ store.Store) {
	base := baseTime()
	issue := opaqueIssue("c", "u", "at", "fam", "rt")
	fixtures := []struct {
		name   string
		v      any
		except []string
	}{
		{"Client", fullClient("c"), nil},
		{"TokenRecord", fullToken("c", "t"), []string{"Revoked"}},
		{"User", fullUser("u", "U"), nil},
		{"Session", fullSession("u", "cookie", "sid"), nil},
		{"AuthCode", fullAuthCode("c", "u", "code"), []string{"UsedAt", "IssuedFamilyID", "IssuedAccessJTI", "IssuedAccessHash", "IssuedAccessExpiresAt"}},
		// Redeemed: the issued fields are set too (an opaque access token,
		// so no jti).
		{"AuthCode redeemed", redeemed(fullAuthCode("c", "u", "code"), base, issue), []string{"IssuedAccessJTI"}},
		{"RefreshToken", fullRefresh("c", "u", "fam", "rt"), []string{"RotatedAt", "Revoked"}},
		{"Consent", fullConsent("u", "c"), nil},
		{"AuditEvent", fullAudit(store.AuditTokenExchange, "c", "u"), []string{"Seq", "PrevHash", "Hash"}},
		{"Delegation", fullDelegation("d2", "d1", "d1", "c"), []string{"RevokedAt"}},
		{"TrustedIssuer", fullTrustedIssuer("https://idp.example"), nil},
		{"DeviceCode", fullDeviceCode("c", "u", "dc", "BCDFGHJK"), nil},
		{"SAMLServiceProvider", fullSAMLServiceProvider("https://sp.example"), nil},
	}
	for _, f := range fixtures {
		if unset := unsetFields(f.v, f.except...); len(unset) > 0 {
			t.Errorf("the full %s fixture leaves %q unset: set them, so that the round trip shows a backend stores them", f.name, unset)
		}
	}
}

// fullConsent sets every field of a consent.
func fullConsent(userID, clientID string) store.Consent {
	base := baseTime()
	return store.Consent{UserID: userID, ClientID: clientID, Scopes: []string{"profile", "email"},
		GrantedAt: base.Add(-time.Hour), UpdatedAt: base}
}

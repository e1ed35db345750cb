package grant

import (
	"encoding/json"
	"reflect"
	"testing"
	"unicode/utf8"
)

// TestIssuedDetailsJSON checks the hand-written encoding against
// encoding/json's: the same object, field for field, valid UTF-8 always.
func TestIssuedDetailsJSON(t *testing.T) {
	for _, d := range []issuedDetails{
		{GrantType: "client_credentials"},
		{GrantType: "client_credentials", Scope: "orders:read orders:write", Audience: []string{"https://api.example.com"},
			JTI: "0123456789abcdef", Source: "127.0.0.1"},
		{GrantType: "authorization_code", Scope: "openid", Audience: []string{"a", "b\"c", "d\\e"}, JTI: "j",
			Format: "opaque", Family: "f-1", DPoP: true, Source: "::1"},
		{GrantType: "refresh_token", Scope: "ctl\x01\n\t", Audience: []string{}, Family: "é ü <&>"},
		{GrantType: "x", Scope: "bad \xff utf-8", Audience: []string{"\xc3"}},
	} {
		got := d.appendJSON([]byte("prefix"))
		if string(got[:6]) != "prefix" {
			t.Fatalf("the prefix was overwritten: %q", got)
		}
		got = got[6:]
		if !utf8.Valid(got) || !json.Valid(got) {
			t.Fatalf("%+v: %q is not valid UTF-8 JSON", d, got)
		}
		want, _ := json.Marshal(d)
		var g, w map[string]any
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(want, &w); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%+v:\n got %s\nwant %s", d, got, want)
		}
	}
}

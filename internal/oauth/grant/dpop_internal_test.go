package grant

import (
	"testing"

	"github.com/writ-dev/writ/internal/oauth"
)

func TestPresentedBinding(t *testing.T) {
	const a, b = "key-a", "key-b"
	tests := []struct {
		name           string
		presented, jkt string
		want           string
		code           string
	}{
		{"unbound, no proof: bearer", "", "", "", ""},
		{"unbound, proof: bound to the proof", "", b, b, ""},
		{"bound, same key", a, a, a, ""},
		{"bound, no proof", a, "", "", oauth.CodeInvalidGrant},
		{"bound, another key", a, b, "", oauth.CodeInvalidGrant},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := presentedBinding(tc.presented, &Request{DPoPKey: tc.jkt})
			if tc.code != "" {
				if oauth.AsError(err).Code != tc.code {
					t.Fatalf("err = %v, want %s", err, tc.code)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestCnfJKT(t *testing.T) {
	tests := []struct {
		raw, want string
		bad       bool
	}{
		{"", "", false},
		{`{"jkt":"abc"}`, "abc", false},
		{`{"jkt":"abc","x":1}`, "abc", false},
		{`{"x5t#S256":"abc"}`, "", true},
		{`{}`, "", true},
		{`{"jkt":""}`, "", true},
		{`{"jkt":1}`, "", true},
		{`"abc"`, "", true},
		{`[`, "", true},
	}
	for _, tc := range tests {
		got, err := cnfJKT(tc.raw)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("cnfJKT(%q) = %q, %v", tc.raw, got, err)
		}
	}
}

func FuzzCnfJKT(f *testing.F) {
	for _, s := range []string{"", `{"jkt":"abc"}`, `{"x5t#S256":"a"}`, `{"jkt":{"a":1}}`, `null`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		jkt, err := cnfJKT(raw)
		if err == nil && raw != "" && jkt == "" {
			t.Fatalf("cnf %q taken as unbound", raw)
		}
	})
}

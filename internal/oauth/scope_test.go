package oauth

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseScope(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr bool
	}{
		{"empty", "", nil, false},
		{"one", "read", []string{"read"}, false},
		{"two", "read write", []string{"read", "write"}, false},
		{"order kept", "write read", []string{"write", "read"}, false},
		{"all NQCHAR edges", "! # [ ] ~ :/?=&", []string{"!", "#", "[", "]", "~", ":/?=&"}, false},
		{"urn", "urn:example:scope openid", []string{"urn:example:scope", "openid"}, false},
		{"double space", "read  write", nil, true},
		{"leading space", " read", nil, true},
		{"trailing space", "read ", nil, true},
		{"only a space", " ", nil, true},
		{"quote", `re"ad`, nil, true},
		{"backslash", `re\ad`, nil, true},
		{"tab", "read\twrite", nil, true},
		{"newline", "read\nwrite", nil, true},
		{"NUL", "read\x00", nil, true},
		{"DEL", "read\x7f", nil, true},
		{"non-ASCII", "lés", nil, true},
		{"invalid UTF-8", "read\xff", nil, true},
		{"repeated", "read write read", nil, true},
		{"case differs is not repeated", "read READ", []string{"read", "READ"}, false},
		{"at the limit", scopes(MaxScopes), splitN(MaxScopes), false},
		{"over the limit", scopes(MaxScopes + 1), nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseScope(tc.in)
			if tc.wantErr {
				var e *Error
				if !errors.As(err, &e) || e.Code != CodeInvalidScope || e.Status != 400 {
					t.Fatalf("ParseScope(%q) = %v, %v; want invalid_scope 400", tc.in, got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseScope(%q): %v", tc.in, err)
			}
			if !slices.Equal(got, tc.want) || (tc.want == nil) != (got == nil) {
				t.Errorf("ParseScope(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if JoinScope(got) != tc.in {
				t.Errorf("JoinScope(ParseScope(%q)) = %q", tc.in, JoinScope(got))
			}
		})
	}
}

func splitN(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "s" + strings.Repeat("x", i)
	}
	return out
}

func scopes(n int) string { return strings.Join(splitN(n), " ") }

func TestSubset(t *testing.T) {
	tests := []struct {
		want, have []string
		ok         bool
	}{
		{nil, nil, true},
		{nil, []string{"a"}, true},
		{[]string{"a"}, nil, false},
		{[]string{"a"}, []string{"a", "b"}, true},
		{[]string{"b", "a"}, []string{"a", "b"}, true},
		{[]string{"a", "c"}, []string{"a", "b"}, false},
		{[]string{"A"}, []string{"a"}, false},
		{[]string{"a"}, []string{"ab"}, false},
		{[]string{"ab"}, []string{"a", "b"}, false},
		{[]string{""}, []string{"a"}, false},
	}
	for _, tc := range tests {
		if got := Subset(tc.want, tc.have); got != tc.ok {
			t.Errorf("Subset(%q, %q) = %v, want %v", tc.want, tc.have, got, tc.ok)
		}
	}
}

package main

import (
	"strings"
	"testing"
)

// FuzzParseRule: a --rule value parses to a rule with a client, or is a
// usage error; never a panic.
func FuzzParseRule(f *testing.F) {
	f.Add("client=agent;aud=https://a.example,https://b.example;scope=read write")
	f.Add("client=*")
	f.Add(";;client=x;;")
	f.Add("aud=x")
	f.Fuzz(func(t *testing.T, v string) {
		r, err := parseRule(v)
		if err != nil {
			return
		}
		if r.ClientID == "" {
			t.Fatalf("%q parsed without a client", v)
		}
		for _, s := range r.Scopes {
			if s == "" || strings.ContainsAny(s, " \t\n") {
				t.Fatalf("%q gave scope %q", v, s)
			}
		}
	})
}

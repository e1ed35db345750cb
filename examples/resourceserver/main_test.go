package main

import (
	"context"
	"io"
	"strings"
	"testing"
)

func TestParseFlags(t *testing.T) {
	def := options{issuer: "http://127.0.0.1:8080", audience: "http://127.0.0.1:9300", listen: "127.0.0.1:9300", logLevel: "info"}
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    func(o *options)
		wantErr string
	}{
		{name: "defaults", want: func(*options) {}},
		{name: "environment", env: map[string]string{"ORDERS_ISSUER": "https://id.example", "ORDERS_AUDIENCE": "https://api.example", "ORDERS_INTROSPECT": "true",
			"ORDERS_CLIENT_ID": "api", "ORDERS_CLIENT_SECRET": "s"},
			want: func(o *options) {
				o.issuer, o.audience, o.introspect, o.clientID, o.clientSecret = "https://id.example", "https://api.example", true, "api", "s"
			}},
		{name: "flags win over the environment", args: []string{"-issuer", "https://b", "-listen", "127.0.0.1:0", "-public-url", "https://api.example"},
			env:  map[string]string{"ORDERS_ISSUER": "https://a"},
			want: func(o *options) { o.issuer, o.listen, o.publicURL = "https://b", "127.0.0.1:0", "https://api.example" }},
		{name: "introspection without credentials", args: []string{"-introspect"}, wantErr: "-client-id"},
		{name: "bad boolean in the environment", env: map[string]string{"ORDERS_INTROSPECT": "yes please"}, wantErr: "true or false"},
		{name: "stray argument", args: []string{"serve"}, wantErr: "unexpected argument"},
		{name: "unknown flag", args: []string{"-nope"}, wantErr: "not defined"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseFlags(tc.args, func(k string) string { return tc.env[k] })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			want := def
			tc.want(&want)
			if err != nil || got != want {
				t.Fatalf("got %+v, %v; want %+v", got, err, want)
			}
		})
	}
}

func TestRunRefusesBadConfiguration(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"-log-level", "loud"}, "-log-level"},
		{[]string{"-dpop-nonce-secret", "%%%"}, "not base64"},
		{[]string{"-dpop-nonce-secret", "c2hvcnQ"}, "DPoP nonces"},
		{[]string{"-audience", "not a url"}, "resource"},
		{[]string{"-issuer", ""}, "required"},
		{[]string{"-listen", "127.0.0.1:0", "-issuer", "http://127.0.0.1:1", "-introspect", "-client-id", "c", "-client-secret", "s"}, "issuer metadata"},
	} {
		err := run(context.Background(), tc.args, func(string) string { return "" }, io.Discard, nil, nil)
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("run(%q) = %v, want %q", tc.args, err, tc.wantErr)
		}
	}
}

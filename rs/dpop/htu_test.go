package dpop_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/writ-dev/writ/rs/dpop"
)

func TestNormalizeURL(t *testing.T) {
	for _, tc := range []struct {
		in, want string // want "": refused
	}{
		{"https://server.example.com/token", "https://server.example.com/token"},
		{"HTTPS://Server.Example.COM/token", "https://server.example.com/token"},
		{"https://server.example.com:443/token", "https://server.example.com/token"},
		{"https://server.example.com:/token", "https://server.example.com/token"},
		{"https://server.example.com:0443/token", "https://server.example.com/token"},
		{"https://server.example.com:80/token", "https://server.example.com:80/token"},
		{"http://server.example.com:80/token", "http://server.example.com/token"},
		{"http://server.example.com:443/token", "http://server.example.com:443/token"},
		{"http://127.0.0.1:8080/x", "http://127.0.0.1:8080/x"},
		{"https://[::1]:443/x", "https://[::1]/x"},
		{"https://[2001:DB8::1]:8443/x", "https://[2001:db8::1]:8443/x"},
		{"https://server.example.com", "https://server.example.com/"},
		{"https://server.example.com?q", "https://server.example.com/"},
		{"https://server.example.com/token?x=1&y=2", "https://server.example.com/token"},
		{"https://server.example.com/token#frag", "https://server.example.com/token"},
		{"https://server.example.com/token#f?x", "https://server.example.com/token"},
		{"https://server.example.com/Token", "https://server.example.com/Token"},
		{"https://server.example.com/%7euser/%7Efile", "https://server.example.com/~user/~file"},
		{"https://server.example.com/%41%2d%5f%2E", "https://server.example.com/A-_."},
		{"https://server.example.com/a%2fb%3F", "https://server.example.com/a%2Fb%3F"},
		{"https://server.example.com/a b", "https://server.example.com/a%20b"},
		{"https://server.example.com/caf\u00e9", "https://server.example.com/caf%C3%A9"},
		{"https://server.example.com/caf%c3%a9", "https://server.example.com/caf%C3%A9"},
		{"https://server.example.com/a:b@c;d=e,f", "https://server.example.com/a:b@c;d=e,f"},
		{"https://server.example.com/a/./b/../c", "https://server.example.com/a/c"},
		{"https://server.example.com/a/%2E%2E/c", "https://server.example.com/c"},
		{"https://server.example.com/../../c", "https://server.example.com/c"},
		{"https://server.example.com/a/..", "https://server.example.com/"},
		{"https://server.example.com/a/.", "https://server.example.com/a/"},
		{"https://server.example.com/a/.b/..c", "https://server.example.com/a/.b/..c"},
		{"https://server.example.com//a", "https://server.example.com//a"},
		{"ftp://server.example.com/x", ""},
		{"server.example.com/x", ""},
		{"/token", ""},
		{"", ""},
		{"https://", ""},
		{"https:///token", ""},
		{"https://user:pw@server.example.com/", ""},
		{"https://server.example.com:99999/", ""},
		{"https://server.example.com:65536/", ""},
		{"https://server.example.com:8a/", ""},
		{"https://server.example.com:+80/", ""},
		{"https://server.example.com:-1/", ""},
		{"https://server.ex%41mple.com/", ""},
		{"https://server example.com/", ""},
		{"https://[::1/", ""},
		{"https://[::1]x/", ""},
		{"https://[zz]/", ""},
		{"https://server.example.com/%zz", ""},
		{"https://server.example.com/%4", ""},
		{"https://server.example.com/" + strings.Repeat("a", dpop.MaxURLLength), ""},
	} {
		got, err := dpop.NormalizeURL(tc.in)
		if tc.want == "" {
			if err == nil {
				t.Errorf("NormalizeURL(%q) = %q, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("NormalizeURL(%q) = %q, %v, want %q", tc.in, got, err, tc.want)
		}
		if again, err := dpop.NormalizeURL(got); err != nil || again != got {
			t.Errorf("NormalizeURL is not idempotent on %q: %q, %v", got, again, err)
		}
	}
}

func TestNormalizeURLErrorQuotesNothing(t *testing.T) {
	const in = "https://secret-host.example.com:99999/private-path"
	_, err := dpop.NormalizeURL(in)
	if err == nil || strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "private") {
		t.Fatalf("err = %v", err)
	}
	if errors.Unwrap(err) != nil {
		t.Fatalf("err wraps %v", errors.Unwrap(err))
	}
}

package authz

import (
	"errors"
	"testing"

	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/store"
)

// TestMatchRedirect: a redirect URI is used only when it equals a
// registered one byte for byte (RFC 9700 §4.1.3); the any-port rule of RFC
// 8252 §7.3 holds only for loopback IP literals of public clients.
func TestMatchRedirect(t *testing.T) {
	const web = "https://app.example.com/callback"
	public := func(uris ...string) store.Client {
		return store.Client{ID: "native", RedirectURIs: uris, TokenEndpointAuthMethod: oauth.AuthNone}
	}
	confidential := func(uris ...string) store.Client {
		return store.Client{ID: "web", RedirectURIs: uris, TokenEndpointAuthMethod: oauth.AuthSecretBasic}
	}
	for _, tc := range []struct {
		name   string
		client store.Client
		given  string
		want   string // "" means refused
	}{
		{"exact", confidential(web), web, web},
		{"second of two", confidential("https://other.example/cb", web), web, web},
		{"omitted, one registered", confidential(web), "", web},
		{"omitted, two registered", confidential(web, "https://other.example/cb"), "", ""},
		{"empty fragment", confidential(web), web + "#", ""},
		{"fragment", confidential(web), web + "#x", ""},
		{"empty query", confidential(web), web + "?", ""},
		{"added query", confidential(web), web + "?a=b", ""},
		{"trailing slash", confidential(web), web + "/", ""},
		{"scheme case", confidential(web), "HTTPS://app.example.com/callback", ""},
		{"host case", confidential(web), "https://APP.example.com/callback", ""},
		{"percent-encoded path", confidential(web), "https://app.example.com/%63allback", ""},
		{"percent-encoded slash", confidential(web), "https://app.example.com%2Fcallback", ""},
		{"default port added", confidential(web), "https://app.example.com:443/callback", ""},
		{"dot segment", confidential(web), "https://app.example.com/x/../callback", ""},
		{"user info", confidential(web), "https://app.example.com@evil.example/callback", ""},
		{"prefix", confidential(web), "https://app.example.com/callbac", ""},

		{"loopback v4, any port", public("http://127.0.0.1/cb"), "http://127.0.0.1:51004/cb", "http://127.0.0.1:51004/cb"},
		{"loopback v4, other port", public("http://127.0.0.1:8080/cb"), "http://127.0.0.1:51004/cb", "http://127.0.0.1:51004/cb"},
		{"loopback v4, port dropped", public("http://127.0.0.1:8080/cb"), "http://127.0.0.1/cb", "http://127.0.0.1/cb"},
		{"loopback v4, no path", public("http://127.0.0.1"), "http://127.0.0.1:9000", "http://127.0.0.1:9000"},
		{"loopback v6, any port", public("http://[::1]/cb"), "http://[::1]:51004/cb", "http://[::1]:51004/cb"},
		{"loopback, query kept", public("http://127.0.0.1/cb?x=1"), "http://127.0.0.1:5/cb?x=1", "http://127.0.0.1:5/cb?x=1"},
		{"loopback, empty fragment", public("http://127.0.0.1/cb"), "http://127.0.0.1:5/cb#", ""},
		{"loopback, empty query", public("http://127.0.0.1/cb"), "http://127.0.0.1:5/cb?", ""},
		{"loopback, other path", public("http://127.0.0.1/cb"), "http://127.0.0.1:5/cb2", ""},
		{"loopback, percent-encoded", public("http://127.0.0.1/cb"), "http://127.0.0.1:5/%63b", ""},
		{"loopback, scheme case", public("http://127.0.0.1/cb"), "HTTP://127.0.0.1:5/cb", ""},
		{"loopback, https", public("http://127.0.0.1/cb"), "https://127.0.0.1:5/cb", ""},
		{"loopback, other loopback address", public("http://127.0.0.1/cb"), "http://127.0.0.2:5/cb", ""},
		{"loopback, v6 spelt long", public("http://[::1]/cb"), "http://[0:0:0:0:0:0:0:1]:5/cb", ""},
		{"loopback, v4 for v6", public("http://[::1]/cb"), "http://127.0.0.1:5/cb", ""},
		{"loopback, port 0", public("http://127.0.0.1/cb"), "http://127.0.0.1:0/cb", ""},
		{"loopback, port too large", public("http://127.0.0.1/cb"), "http://127.0.0.1:65536/cb", ""},
		{"loopback, leading zero", public("http://127.0.0.1/cb"), "http://127.0.0.1:08080/cb", ""},
		{"loopback, empty port", public("http://127.0.0.1/cb"), "http://127.0.0.1:/cb", ""},
		{"loopback, user info", public("http://127.0.0.1/cb"), "http://127.0.0.1:5@evil.example/cb", ""},
		{"loopback, host suffix", public("http://127.0.0.1/cb"), "http://127.0.0.1.evil.example/cb", ""},
		{"registered host suffix", public("http://127.0.0.1.example/cb"), "http://127.0.0.1.example:5/cb", ""},
		{"localhost is exact only", public("http://localhost/cb"), "http://localhost:5/cb", ""},
		{"localhost exact", public("http://localhost:5/cb"), "http://localhost:5/cb", "http://localhost:5/cb"},
		{"confidential client, loopback", confidential("http://127.0.0.1/cb"), "http://127.0.0.1:5/cb", ""},
		{"confidential client, loopback exact", confidential("http://127.0.0.1/cb"), "http://127.0.0.1/cb", "http://127.0.0.1/cb"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := matchRedirect(&tc.client, tc.given)
			if tc.want == "" {
				var pe *PageError
				if err == nil || !errors.As(err, &pe) {
					t.Fatalf("matchRedirect(%q) = %q, %v; want a PageError", tc.given, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("matchRedirect(%q) = %q, %v; want %q", tc.given, got, err, tc.want)
			}
		})
	}
}

package server

import (
	"net/http/httptest"
	"testing"

	"github.com/writ-dev/writ/internal/authn"
	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/store"
)

// TestRateLimitKeys: a public client, which anyone can name, is counted
// per client and address, so that a stranger's flood does not lock out
// its users; a confidential client per client; IPv6 addresses per /64.
func TestRateLimitKeys(t *testing.T) {
	r := httptest.NewRequest("POST", "/oauth2/token", nil)
	r.RemoteAddr = "203.0.113.9:5555"
	public := &oauth.Authenticated{Client: store.Client{ID: "tv-app"}, Method: oauth.AuthNone}
	secret := &oauth.Authenticated{Client: store.Client{ID: "billing"}, Method: "client_secret_basic"}
	if got := clientKey(r, public); got != "tv-app 203.0.113.9" {
		t.Errorf("public client key = %q", got)
	}
	if got := clientKey(r, secret); got != "billing" {
		t.Errorf("confidential client key = %q", got)
	}
	for _, tc := range []struct{ a, b string }{
		{"2001:db8:1:2:aaaa::1", "2001:db8:1:2:bbbb::2"},
		{"203.0.113.9", "203.0.113.9"},
	} {
		if authn.AddressKey(tc.a) != authn.AddressKey(tc.b) {
			t.Errorf("%s and %s are counted apart", tc.a, tc.b)
		}
	}
	if authn.AddressKey("2001:db8:1:2::1") == authn.AddressKey("2001:db8:1:3::1") {
		t.Error("two /64 networks are counted together")
	}
}

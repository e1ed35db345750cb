package oauth_test

import (
	"errors"
	"testing"

	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/store"
)

// TestCheckFAPI2Client: each registration rule of the FAPI 2.0 profile
// refuses what contradicts it, and a conforming registration passes.
func TestCheckFAPI2Client(t *testing.T) {
	ok := func() store.Client {
		return store.Client{
			ID: "bank", TokenEndpointAuthMethod: oauth.AuthPrivateKeyJWT, ResponseTypes: []string{"code"},
			IDTokenSignedResponseAlg: "ES256", RedirectURIs: []string{"https://rp.example/cb", "http://127.0.0.1:9/cb", "http://[::1]/cb"},
		}
	}
	for _, tc := range []struct {
		name   string
		change func(c *store.Client)
		want   bool
	}{
		{"conforming", func(*store.Client) {}, true},
		{"tls_client_auth", func(c *store.Client) { c.TokenEndpointAuthMethod = "tls_client_auth" }, true},
		{"self_signed_tls_client_auth", func(c *store.Client) { c.TokenEndpointAuthMethod = "self_signed_tls_client_auth" }, true},
		{"PS256 ID tokens, EdDSA UserInfo", func(c *store.Client) { c.IDTokenSignedResponseAlg, c.UserinfoSignedResponseAlg = "PS256", "EdDSA" }, true},
		{"client_secret_basic", func(c *store.Client) { c.TokenEndpointAuthMethod = oauth.AuthSecretBasic }, false},
		{"client_secret_post", func(c *store.Client) { c.TokenEndpointAuthMethod = oauth.AuthSecretPost }, false},
		{"public", func(c *store.Client) { c.TokenEndpointAuthMethod = oauth.AuthNone }, false},
		{"hybrid response type", func(c *store.Client) { c.ResponseTypes = []string{"code id_token"} }, false},
		{"RS256 ID tokens", func(c *store.Client) { c.IDTokenSignedResponseAlg = "RS256" }, false},
		{"default ID token alg", func(c *store.Client) { c.IDTokenSignedResponseAlg = "" }, false},
		{"RS256 UserInfo", func(c *store.Client) { c.UserinfoSignedResponseAlg = "RS256" }, false},
		{"HS256 UserInfo", func(c *store.Client) { c.UserinfoSignedResponseAlg = "HS256" }, false},
		{"http redirect", func(c *store.Client) { c.RedirectURIs = []string{"http://rp.example/cb"} }, false},
		{"http localhost redirect", func(c *store.Client) { c.RedirectURIs = []string{"http://localhost/cb"} }, false},
		{"custom scheme redirect", func(c *store.Client) { c.RedirectURIs = []string{"com.example.app:/cb"} }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok()
			tc.change(&c)
			err := oauth.CheckFAPI2Client(&c)
			if (err == nil) != tc.want {
				t.Fatalf("CheckFAPI2Client = %v, want ok %v", err, tc.want)
			}
			if err != nil && !errors.Is(err, oauth.ErrFAPI2) {
				t.Errorf("%v does not wrap ErrFAPI2", err)
			}
		})
	}
}

// TestFAPI2Algorithms: PS256, ES256 and EdDSA only.
func TestFAPI2Algorithms(t *testing.T) {
	for alg, want := range map[string]bool{"PS256": true, "ES256": true, "EdDSA": true, "RS256": false, "HS256": false, "ES384": false, "PS512": false, "none": false, "": false} {
		if got := oauth.FAPI2Algorithm(alg); got != want {
			t.Errorf("FAPI2Algorithm(%q) = %v", alg, got)
		}
	}
}

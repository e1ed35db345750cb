package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/rs/dpop"
)

// A DPoP-bound token issued by writ goes through the gateway under the DPoP
// scheme with a proof by its key, and is refused as a Bearer token or with
// a proof by another key.
func TestGatewayWritDPoPToken(t *testing.T) {
	e := setup(t)
	w := e.writ
	key, err := jose.GenerateKey(jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	thief, err := jose.GenerateKey(jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	tokenProof, err := dpop.NewProof(key, "POST", w.Discovery.Token, "", "", e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"orders:read"}}
	resp := w.do(http.MethodPost, w.Discovery.Token, strings.NewReader(form.Encode()), func(r *http.Request) {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("DPoP", tokenProof)
		r.SetBasicAuth(url.QueryEscape(e.reader.ID), url.QueryEscape(e.reader.Secret))
	})
	var tr struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	if resp.status != http.StatusOK || json.Unmarshal(resp.body, &tr) != nil || tr.TokenType != "DPoP" {
		t.Fatalf("DPoP token: %s", resp)
	}
	proof := func(k *jose.Key) func(*http.Request) {
		p, err := dpop.NewProof(k, "GET", e.gw+"/orders/7", tr.AccessToken, "", e.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		return func(r *http.Request) { r.Header.Set("DPoP", p) }
	}
	saw := upstreamSaw(t, e.request(t, "GET", "/orders/7", "DPoP "+tr.AccessToken, "", proof(key)))
	if saw.Header["Dpop"] != nil || saw.Header["Authorization"] != nil {
		t.Errorf("the upstream got the token or the proof: %v", saw.Header)
	}
	r := e.request(t, "GET", "/orders/7", "Bearer "+tr.AccessToken, "", nil)
	wantStatus(t, r, http.StatusUnauthorized)
	if c := challenge(r); !strings.Contains(c, `error="invalid_token"`) {
		t.Errorf("as Bearer: WWW-Authenticate %q", c)
	}
	r = e.request(t, "GET", "/orders/7", "DPoP "+tr.AccessToken, "", proof(thief))
	wantStatus(t, r, http.StatusUnauthorized)
	if c := challenge(r); !strings.Contains(c, `error="invalid_dpop_proof"`) {
		t.Errorf("a thief's proof: WWW-Authenticate %q", c)
	}
}

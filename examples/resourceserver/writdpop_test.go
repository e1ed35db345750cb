package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/rs/dpop"
)

// dpopToken gets a DPoP-bound access token for c from writ with the client
// credentials grant and a proof by key, and returns it with its
// token_type.
func (w *writNode) dpopToken(t *testing.T, c client, key *jose.Key, scope string) (string, string) {
	t.Helper()
	proof, err := dpop.NewProof(key, "POST", w.issuer+"/oauth2/token", "", "", w.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}
	req, err := http.NewRequest(http.MethodPost, w.issuer+"/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set(dpop.Header, proof)
	resp, err := w.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var tr struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &tr) != nil || tr.AccessToken == "" {
		t.Fatalf("DPoP token request for %s: %d %s", c.ID, resp.StatusCode, body)
	}
	return tr.AccessToken, tr.TokenType
}

// A client gets a DPoP-bound token from writ (JWT, and opaque through
// introspection) and calls the API, which checks the binding with rs and
// rs/dpop: with a proof by the key it works; as a Bearer token, or with a
// proof by another key (a thief's), it is refused.
func TestOrdersAPIWithWritDPoPTokens(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a writ node")
	}
	w := startWrit(t)
	self := w.createClient(t, "orders api", "orders:read", testAudience, nil)
	jwtClient := w.createClient(t, "dpop agent", "orders:read orders:write", testAudience, nil)
	opaqueClient := w.createClient(t, "dpop opaque agent", "orders:read", testAudience, map[string]any{"access_token_format": "opaque"})
	base, logs := startAPI(t, w, []string{"-public-url", testAudience, "-introspect"}, map[string]string{
		"ORDERS_ISSUER": w.issuer, "ORDERS_AUDIENCE": testAudience,
		"ORDERS_CLIENT_ID": self.ID, "ORDERS_CLIENT_SECRET": self.Secret,
	}, nil)
	key, err := jose.GenerateKey(jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	thief, err := jose.GenerateKey(jose.EdDSA)
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name   string
		c      client
		scope  string
		method string
		body   string
		want   int
	}{
		{"JWT", jwtClient, "orders:read orders:write", "POST", `{"item":"ink","quantity":2}`, http.StatusCreated},
		{"opaque", opaqueClient, "orders:read", "GET", "", http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, typ := w.dpopToken(t, tc.c, key, tc.scope)
			if typ != "DPoP" {
				t.Fatalf("token_type = %q, want DPoP", typ)
			}
			u := testAudience + "/orders"
			proof := func(k *jose.Key, nonce string) string {
				p, err := dpop.NewProof(k, tc.method, u, tok, nonce, w.clock.Now())
				if err != nil {
					t.Fatal(err)
				}
				return p
			}
			// The API asks for its nonce first.
			a := call(t, tc.method, base+"/orders", "DPoP "+tok, proof(key, ""), tc.body)
			if a.status != http.StatusUnauthorized || a.nonce == "" {
				t.Fatalf("first call: %d %q", a.status, a.challenge)
			}
			nonce := a.nonce
			if a := call(t, tc.method, base+"/orders", "DPoP "+tok, proof(key, nonce), tc.body); a.status != tc.want {
				t.Fatalf("bound token with a proof: %d %q %v", a.status, a.challenge, a.body)
			}
			if a := call(t, tc.method, base+"/orders", "Bearer "+tok, "", tc.body); a.status != http.StatusUnauthorized ||
				!strings.Contains(a.challengeOf("Bearer"), `error="invalid_token"`) {
				t.Errorf("bound token as Bearer: %d %q", a.status, a.challenge)
			}
			if a := call(t, tc.method, base+"/orders", "DPoP "+tok, proof(thief, nonce), tc.body); a.status != http.StatusUnauthorized ||
				!strings.Contains(a.challengeOf("DPoP"), `error="invalid_dpop_proof"`) {
				t.Errorf("proof by another key: %d %q", a.status, a.challenge)
			}
			if strings.Contains(logs.String(), tok) {
				t.Fatal("a token is in the API's log")
			}
		})
	}
}

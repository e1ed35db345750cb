package server_test

import (
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/oauth/grant"
	"github.com/writ-dev/writ/internal/server"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/rs/dpop"
)

// TestTokenExchangeDPoP: a DPoP-bound subject token is exchanged only with
// a proof by its key, and the new token is bound to that key; it never
// becomes a bearer token.
func TestTokenExchangeDPoP(t *testing.T) {
	e := newEnv(t, envOptions{})
	var md map[string]any
	decodeJSON(t, e.get(t, server.PathASMetadata).Body, &md)
	if _, ok := md["dpop_signing_alg_values_supported"]; !ok {
		t.Skip("this build's token endpoint does not check DPoP proofs")
	}
	frontSecret := e.addConfidential(t, "front", withScopes(scopeRead), withAudiences(audServiceA))
	aSecret := e.addConfidential(t, "svc-a", withGrants(grant.TypeTokenExchange), withScopes(scopeRead), withAudiences(audServiceA, audServiceB))
	key, err := jose.GenerateKey(jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	other, err := jose.GenerateKey(jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	tokenURL := e.url(server.PathToken)
	proof := func(k *jose.Key) func(*http.Request) {
		p, err := dpop.NewProof(k, http.MethodPost, tokenURL, "", "", e.Clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		return func(r *http.Request) { r.Header.Set("DPoP", p) }
	}
	resp := e.post(t, server.PathToken, url.Values{"grant_type": {"client_credentials"}}, basic("front", frontSecret), proof(key))
	var bound exchangeResponse
	if resp.Status != http.StatusOK {
		t.Fatalf("bound token: %s", resp)
	}
	decodeJSON(t, resp.Body, &bound)
	if bound.TokenType != "DPoP" {
		t.Fatalf("the subject token is not bound: %+v", bound)
	}
	form := func() url.Values {
		return url.Values{"grant_type": {grant.TypeTokenExchange}, "subject_token": {bound.AccessToken},
			"subject_token_type": {grant.TokenTypeAccessToken}, "audience": {audServiceB}}
	}
	wantOAuthError(t, e.post(t, server.PathToken, form(), basic("svc-a", aSecret)), http.StatusBadRequest, oauth.CodeInvalidRequest)
	wantOAuthError(t, e.post(t, server.PathToken, form(), basic("svc-a", aSecret), proof(other)), http.StatusBadRequest, oauth.CodeInvalidRequest)

	resp = e.post(t, server.PathToken, form(), basic("svc-a", aSecret), proof(key))
	if resp.Status != http.StatusOK {
		t.Fatalf("exchange with the key's proof: %s", resp)
	}
	var xr exchangeResponse
	decodeJSON(t, resp.Body, &xr)
	claims := payloadOf(t, xr.AccessToken)
	if xr.TokenType != "DPoP" || string(claims["cnf"]) != `{"jkt":"`+key.ThumbprintSHA256()+`"}` {
		t.Fatalf("token_type %q cnf %s", xr.TokenType, claims["cnf"])
	}
	if !slices.Contains([]string{grant.TokenTypeAccessToken}, xr.IssuedTokenType) {
		t.Fatalf("issued_token_type %q", xr.IssuedTokenType)
	}
}

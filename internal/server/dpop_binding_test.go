package server_test

import (
	"net/http"
	"net/url"
	"testing"

	"golang.org/x/oauth2"

	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/server"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/jose"
)

// codeTokens is a code or refresh token response.
type codeTokens struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	RefreshToken string `json:"refresh_token"`
}

// TestDPoPJKTSignIn: dpop_jkt at the authorization endpoint (RFC 9449
// §10) binds the code: a malformed one is invalid_request at the redirect
// URI; a bound code is refused without a proof and with another key's
// proof, and stays redeemable with the right key, whose tokens are bound.
func TestDPoPJKTSignIn(t *testing.T) {
	e := newSignInEnv(t, envOptions{})
	e.addUser(t, "u-alice", "alice", alicePassword)
	cb := newCallbackServer(t)
	redirect := cb.URL + "/callback"
	e.addPublic(t, "spa", webApp(redirect), firstParty())
	rp := e.newRP(t, "spa", "", redirect, webScopes...)
	key, thief := newDPoPKey(t), newDPoPKey(t)
	jkt := key.ThumbprintSHA256()
	tokenURL := e.url(server.PathToken)

	t.Run("malformed dpop_jkt", func(t *testing.T) {
		for _, bad := range []string{"", "not-a-thumbprint", jkt + "A", jkt[:42] + "+"} {
			ar := rp.authorize(oauth2.SetAuthURLParam("dpop_jkt", bad))
			q := e.redirectedTo(t, e.newBrowser(t).get(t, ar.URL), redirect)
			if q.Get("error") != oauth.CodeInvalidRequest || q.Get("state") != ar.State || q.Has("code") {
				t.Errorf("dpop_jkt %q: redirected with %v", bad, q)
			}
		}
	})

	b := e.newBrowser(t)
	ar := rp.authorize(oauth2.SetAuthURLParam("dpop_jkt", jkt))
	_, p := b.run(t, ar.URL, user{Username: "alice", Password: alicePassword})
	code := e.callback(t, p, redirect, ar.State)
	redeem := func(proofs ...string) *response {
		return e.post(t, server.PathToken, url.Values{
			"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect},
			"code_verifier": {ar.Verifier}, "client_id": {"spa"},
		}, withDPoP(proofs...))
	}
	wantOAuthError(t, redeem(), http.StatusBadRequest, oauth.CodeInvalidGrant)
	wantOAuthError(t, redeem(e.proofAt(t, thief, "POST", tokenURL, "")), http.StatusBadRequest, oauth.CodeInvalidGrant)
	r := redeem(e.proofAt(t, key, "POST", tokenURL, ""))
	if r.Status != http.StatusOK {
		t.Fatalf("redemption with the bound key, after the refusals: %s", r)
	}
	var tr codeTokens
	decodeJSON(t, r.Body, &tr)
	if cnf, _ := jwtPayload(t, tr.AccessToken)["cnf"].(map[string]any); tr.TokenType != "DPoP" || cnf["jkt"] != jkt {
		t.Fatalf("token_type %q, cnf %v", tr.TokenType, cnf)
	}
	// Spent now: even the right key cannot redeem it again.
	wantOAuthError(t, redeem(e.proofAt(t, key, "POST", tokenURL, "")), http.StatusBadRequest, oauth.CodeInvalidGrant)
}

// TestDPoPBoundAccessTokensClient: a client registered with
// dpop_bound_access_tokens (RFC 9449 §5.2) gets invalid_dpop_proof from
// every grant without a proof; being confidential, its refresh tokens are
// bound too (§5), and stay bound through refresh.
func TestDPoPBoundAccessTokensClient(t *testing.T) {
	e := newSignInEnv(t, envOptions{})
	e.addUser(t, "u-alice", "alice", alicePassword)
	cb := newCallbackServer(t)
	redirect := cb.URL + "/callback"
	secret := e.addConfidential(t, "web", webApp(redirect), firstParty(), func(c *store.Client) {
		c.GrantTypes = append(c.GrantTypes, "client_credentials")
		c.DPoPBoundAccessTokens = true
	})
	key, other := newDPoPKey(t), newDPoPKey(t)
	jkt := key.ThumbprintSHA256()
	tokenURL := e.url(server.PathToken)
	proof := func(k *jose.Key) func(*http.Request) { return withDPoP(e.proofAt(t, k, "POST", tokenURL, "")) }

	t.Run("client_credentials", func(t *testing.T) {
		cc := url.Values{"grant_type": {"client_credentials"}}
		wantOAuthError(t, e.post(t, server.PathToken, cc, basic("web", secret)), http.StatusBadRequest, oauth.CodeInvalidDPoPProof)
		r := e.post(t, server.PathToken, cc, basic("web", secret), proof(key))
		var tr codeTokens
		decodeJSON(t, r.Body, &tr)
		if r.Status != http.StatusOK || tr.TokenType != "DPoP" {
			t.Fatalf("with a proof: %s", r)
		}
	})

	rp := e.newRP(t, "web", secret, redirect, webScopes...)
	ar := rp.authorize()
	_, p := e.newBrowser(t).run(t, ar.URL, user{Username: "alice", Password: alicePassword})
	code := e.callback(t, p, redirect, ar.State)
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}, "code_verifier": {ar.Verifier}}
	wantOAuthError(t, e.post(t, server.PathToken, form, basic("web", secret)), http.StatusBadRequest, oauth.CodeInvalidDPoPProof)
	r := e.post(t, server.PathToken, form, basic("web", secret), proof(key))
	if r.Status != http.StatusOK {
		t.Fatalf("code with a proof, after the refusal: %s", r)
	}
	var tr codeTokens
	decodeJSON(t, r.Body, &tr)
	if tr.TokenType != "DPoP" || tr.RefreshToken == "" {
		t.Fatalf("token response %s", r.Body)
	}
	_, in := e.introspect(t, tr.RefreshToken, basic("web", secret))
	if cnf, _ := in["cnf"].(map[string]any); cnf["jkt"] != jkt {
		t.Fatalf("refresh token introspection: %v", in)
	}
	rt := tr.RefreshToken
	for i := range 2 {
		refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
		wantOAuthError(t, e.post(t, server.PathToken, refresh, basic("web", secret)), http.StatusBadRequest, oauth.CodeInvalidDPoPProof)
		wantOAuthError(t, e.post(t, server.PathToken, refresh, basic("web", secret), proof(other)), http.StatusBadRequest, oauth.CodeInvalidGrant)
		r := e.post(t, server.PathToken, refresh, basic("web", secret), proof(key))
		var next codeTokens
		decodeJSON(t, r.Body, &next)
		if r.Status != http.StatusOK || next.TokenType != "DPoP" {
			t.Fatalf("refresh %d: %s", i, r)
		}
		if cnf, _ := jwtPayload(t, next.AccessToken)["cnf"].(map[string]any); cnf["jkt"] != jkt {
			t.Fatalf("refresh %d: cnf %v", i, cnf)
		}
		rt = next.RefreshToken
	}
}

// TestDPoPJKTDisabled: with DPoP off, dpop_jkt is an unknown parameter,
// ignored: the code is not bound, and redeems without a proof.
func TestDPoPJKTDisabled(t *testing.T) {
	e := newSignInEnv(t, envOptions{DPoP: &server.DPoPOptions{Disabled: true}})
	e.addUser(t, "u-alice", "alice", alicePassword)
	cb := newCallbackServer(t)
	redirect := cb.URL + "/callback"
	e.addPublic(t, "spa", webApp(redirect), firstParty())
	rp := e.newRP(t, "spa", "", redirect, webScopes...)
	for _, jkt := range []string{newDPoPKey(t).ThumbprintSHA256(), "not-a-thumbprint"} {
		ar := rp.authorize(oauth2.SetAuthURLParam("dpop_jkt", jkt))
		_, p := e.newBrowser(t).run(t, ar.URL, user{Username: "alice", Password: alicePassword})
		code := e.callback(t, p, redirect, ar.State)
		r := e.post(t, server.PathToken, url.Values{
			"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect},
			"code_verifier": {ar.Verifier}, "client_id": {"spa"},
		})
		var tr codeTokens
		decodeJSON(t, r.Body, &tr)
		if r.Status != http.StatusOK || tr.TokenType != "Bearer" {
			t.Fatalf("dpop_jkt %q with DPoP off: %s", jkt, r)
		}
	}
}

package server_test

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/writ-dev/writ/internal/authz"
	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/server"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/rs/dpop"
)

// newFAPIEnv is newSignInEnv with the server-wide FAPI 2.0 mode set as
// serverWide says (a server of its own on the same store, as
// newSignInEnv builds one).
func newFAPIEnv(t testing.TB, o envOptions, serverWide bool) *testEnv {
	t.Helper()
	base := newEnv(t, o)
	base.HTTP.Close()
	ts := httptest.NewUnstartedServer(nil) // listens on 127.0.0.1:0
	issuer := "http://" + ts.Listener.Addr().String()
	srv, err := server.New(server.Options{
		Issuer: issuer, Store: base.Store, Ring: base.Ring, Hasher: base.Hasher, Now: base.Clock.Now,
		FAPI2: serverWide,
		SignIn: &server.SignInOptions{
			CSRFKey: randomBytes(t, 32), SealKey: randomBytes(t, 32),
			Passwords: testPasswordParams, Sleep: base.Clock.Sleep,
		},
	})
	if err != nil {
		ts.Close()
		t.Fatalf("server.New: %v", err)
	}
	ts.Config.Handler = srv.Handler()
	ts.Start()
	t.Cleanup(ts.Close)
	client := ts.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	e := *base
	e.Issuer, e.Server, e.HTTP, e.Client = issuer, srv, ts, client
	return &e
}

// fapiClient is a FAPI 2.0 client's registration and keys: ES256 for
// everything, and an RS256 key in its JWKS too, so that the profile's
// algorithm rule (not a missing key) is what refuses RS256.
type fapiClient struct {
	id       string
	redirect string
	key, rsa *jose.Key
	now      func() time.Time
}

// addFAPIClient registers a private_key_jwt web client with profile fapi2
// (unless profile is false: the server-wide mode must then apply), grants
// authorization_code, refresh_token and client_credentials.
func (e *testEnv) addFAPIClient(t testing.TB, id, redirect string, profile bool) *fapiClient {
	t.Helper()
	key, err := jose.GenerateKey(jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	rsa, err := jose.GenerateKey(jose.RS256)
	if err != nil {
		t.Fatal(err)
	}
	jwks, err := jose.NewKeySet(key.Public(), rsa.Public()).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	c := e.baseClient(id)
	webApp(redirect)(&c)
	firstParty()(&c)
	c.GrantTypes = append(c.GrantTypes, "client_credentials")
	c.Scopes = append(slices.Clone(webScopes), scopeRead, scopeWrite)
	c.TokenEndpointAuthMethod = oauth.AuthPrivateKeyJWT
	c.JWKS = jwks
	c.IDTokenSignedResponseAlg = "ES256"
	if profile {
		c.Profile = store.ProfileFAPI2
	}
	e.create(t, c)
	return &fapiClient{id: id, redirect: redirect, key: key, rsa: rsa, now: e.Clock.Now}
}

// auth adds a client assertion for aud (the issuer, as FAPI 2.0 wants),
// signed with key.
func (f *fapiClient) auth(t testing.TB, key *jose.Key, aud any, form url.Values) url.Values {
	t.Helper()
	claims := assertionClaims(f.id, f.id, "", f.now().Add(time.Minute))
	claims["aud"], claims["iat"] = aud, f.now().Unix()
	form.Set("client_assertion_type", oauth.AssertionTypeJWTBearer)
	form.Set("client_assertion", assertion(t, key, claims))
	return form
}

// pushForm is a valid FAPI 2.0 pushed request of f: PKCE S256,
// redirect_uri, response_type code.
func (f *fapiClient) pushForm(verifier string) url.Values {
	return url.Values{
		"response_type": {"code"}, "redirect_uri": {f.redirect}, "scope": {"openid profile offline_access"},
		"state": {"f-state"}, "nonce": {"f-nonce"},
		"code_challenge": {challenge(verifier)}, "code_challenge_method": {"S256"},
	}
}

// TestFAPI2EndToEnd is the FAPI 2.0 flow against the real server: a
// pushed request with private_key_jwt (aud = the issuer) and a signed
// request object, PKCE, the user signing in, the code redeemed with a
// DPoP proof, the DPoP-bound access token used at UserInfo, and refreshes
// without rotation: the same refresh token works again (a lost response
// costs nothing), and each access token is bound.
func TestFAPI2EndToEnd(t *testing.T) {
	e := newFAPIEnv(t, envOptions{}, false)
	e.addUser(t, "u-alice", "alice", alicePassword, named("Alice", "alice@example.test"))
	redirect := newCallbackServer(t).URL + "/callback"
	c := e.addFAPIClient(t, "bank-app", redirect, true)
	dk := newDPoPKey(t)
	jkt := dk.ThumbprintSHA256()
	tokenURL := e.url(server.PathToken)

	verifier := oauth2.GenerateVerifier()
	claims := e.objectClaims(c.id, redirect, verifier)
	claims["scope"] = "openid profile offline_access"
	obj := signObject(t, c.key, authz.RequestObjectType, claims)
	uri := e.push(t, c.auth(t, c.key, e.Issuer, url.Values{"request": {obj}}))

	_, p := e.newBrowser(t).run(t, e.authorizeURI(c.id, uri, nil), user{Username: "alice", Password: alicePassword})
	code := e.callback(t, p, redirect, "o-state") // checks iss (RFC 9207) too

	r := e.post(t, server.PathToken, c.auth(t, c.key, e.Issuer, url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}, "code_verifier": {verifier},
	}), withDPoP(e.proofAt(t, dk, "POST", tokenURL, "")))
	if r.Status != http.StatusOK {
		t.Fatalf("code redemption: %s", r)
	}
	var tr struct {
		codeTokens
		IDToken string `json:"id_token"`
	}
	decodeJSON(t, r.Body, &tr)
	if cnf, _ := jwtPayload(t, tr.AccessToken)["cnf"].(map[string]any); tr.TokenType != "DPoP" || cnf["jkt"] != jkt {
		t.Fatalf("token_type %q cnf %v: want a DPoP-bound access token", tr.TokenType, cnf)
	}
	if tr.RefreshToken == "" || tr.IDToken == "" {
		t.Fatalf("token response %s", r.Body)
	}
	if alg := jwtHeaderAlg(t, tr.IDToken); alg != "ES256" {
		t.Errorf("ID token alg %q, want ES256", alg)
	}

	userinfo := func(at string) *response {
		proof, err := dpop.NewProof(dk, "GET", e.url(server.PathUserInfo), at, "", e.Clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		return e.get(t, server.PathUserInfo, header("Authorization", "DPoP "+at), withDPoP(proof))
	}
	if u := userinfo(tr.AccessToken); u.Status != http.StatusOK || !strings.Contains(string(u.Body), `"sub":"u-alice"`) {
		t.Fatalf("UserInfo with the DPoP-bound token: %s", u)
	}
	if u := e.get(t, server.PathUserInfo, header("Authorization", "Bearer "+tr.AccessToken)); u.Status != http.StatusUnauthorized {
		t.Fatalf("UserInfo with the bound token as Bearer: %s", u)
	}

	for i := range 2 {
		r := e.post(t, server.PathToken, c.auth(t, c.key, e.Issuer, url.Values{
			"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken},
		}), withDPoP(e.proofAt(t, dk, "POST", tokenURL, "")))
		if r.Status != http.StatusOK {
			t.Fatalf("refresh %d with the same refresh token: %s", i, r)
		}
		var next codeTokens
		decodeJSON(t, r.Body, &next)
		if next.RefreshToken != "" {
			t.Errorf("refresh %d returned a new refresh token: FAPI 2.0 clients' are not rotated", i)
		}
		if cnf, _ := jwtPayload(t, next.AccessToken)["cnf"].(map[string]any); next.TokenType != "DPoP" || cnf["jkt"] != jkt {
			t.Fatalf("refresh %d: token_type %q cnf %v", i, next.TokenType, cnf)
		}
		if u := userinfo(next.AccessToken); u.Status != http.StatusOK {
			t.Fatalf("UserInfo with refresh %d's token: %s", i, u)
		}
	}
}

// jwtHeaderAlg is the alg of a compact JWS's header.
func jwtHeaderAlg(t testing.TB, tok string) string {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Alg string `json:"alg"`
	}
	decodeJSON(t, raw, &h)
	return h.Alg
}

// TestFAPI2Refusals: each rule of the profile refuses with its OAuth
// error, for a request that writ accepts from a client without the
// profile (so that the rule, and nothing else, is what refuses).
func TestFAPI2Refusals(t *testing.T) {
	e := newFAPIEnv(t, envOptions{}, false)
	e.addUser(t, "u-alice", "alice", alicePassword)
	redirect := newCallbackServer(t).URL + "/callback"
	c := e.addFAPIClient(t, "bank-app", redirect, true)
	plain := e.addFAPIClient(t, "plain-app", redirect, false) // the same registration, no profile
	dk := newDPoPKey(t)
	tokenURL := e.url(server.PathToken)
	verifier := oauth2.GenerateVerifier()

	par := func(f *fapiClient, key *jose.Key, aud any, change func(url.Values)) *response {
		form := f.pushForm(verifier)
		if change != nil {
			change(form)
		}
		return e.post(t, server.PathPAR, f.auth(t, key, aud, form))
	}
	cc := func(f *fapiClient, key *jose.Key, aud any, proofs ...string) *response {
		return e.post(t, server.PathToken, f.auth(t, key, aud, url.Values{"grant_type": {"client_credentials"}, "scope": {scopeRead}}), withDPoP(proofs...))
	}
	rsaProof := func() string {
		k, err := jose.GenerateKey(jose.RS256)
		if err != nil {
			t.Fatal(err)
		}
		return e.proofAt(t, k, "POST", tokenURL, "")
	}

	for _, tc := range []struct {
		name   string
		do     func(f *fapiClient) *response
		status int
		code   string
	}{
		{"PKCE required", func(f *fapiClient) *response {
			return par(f, f.key, e.Issuer, func(v url.Values) { v.Del("code_challenge"); v.Del("code_challenge_method") })
		}, 400, oauth.CodeInvalidRequest},
		{"redirect_uri required in PAR", func(f *fapiClient) *response {
			return par(f, f.key, e.Issuer, func(v url.Values) { v.Del("redirect_uri") })
		}, 400, oauth.CodeInvalidRequest},
		{"request object signed RS256", func(f *fapiClient) *response {
			claims := e.objectClaims(f.id, redirect, verifier)
			return par(f, f.key, e.Issuer, func(v url.Values) {
				v.Set("request", signObject(t, f.rsa, authz.RequestObjectType, claims))
			})
		}, 400, authz.CodeInvalidRequestObject},
		{"client assertion aud is the PAR endpoint", func(f *fapiClient) *response {
			return par(f, f.key, e.url(server.PathPAR), nil)
		}, 401, oauth.CodeInvalidClient},
		{"client assertion aud is an array", func(f *fapiClient) *response {
			return par(f, f.key, []string{e.Issuer}, nil)
		}, 401, oauth.CodeInvalidClient},
		{"client assertion signed RS256", func(f *fapiClient) *response {
			return cc(f, f.rsa, e.Issuer, e.proofAt(t, dk, "POST", tokenURL, ""))
		}, 401, oauth.CodeInvalidClient},
		{"token request without DPoP or mTLS", func(f *fapiClient) *response {
			return cc(f, f.key, e.Issuer)
		}, 400, oauth.CodeInvalidDPoPProof},
		{"DPoP proof signed RS256", func(f *fapiClient) *response {
			return cc(f, f.key, e.Issuer, rsaProof())
		}, 400, oauth.CodeInvalidDPoPProof},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantOAuthError(t, tc.do(c), tc.status, tc.code)
			if r := tc.do(plain); r.Status >= 300 {
				t.Fatalf("the same request from a client without the profile: %s", r)
			}
		})
	}

	t.Run("PAR required", func(t *testing.T) {
		q := c.pushForm(verifier)
		q.Set("client_id", c.id)
		p := e.newBrowser(t).get(t, e.url(server.PathAuthorize)+"?"+q.Encode())
		wantRedirectError(t, e, p, redirect, oauth.CodeInvalidRequest, "f-state")
	})
	t.Run("response_type code only", func(t *testing.T) {
		r := par(c, c.key, e.Issuer, func(v url.Values) { v.Set("response_type", "code id_token") })
		wantOAuthError(t, r, http.StatusBadRequest, oauth.CodeUnsupportedResponseType)
	})
	t.Run("registration contradicting the profile", func(t *testing.T) {
		secret := e.addConfidential(t, "secret-app", func(c *store.Client) { c.Profile = store.ProfileFAPI2 })
		r := e.post(t, server.PathToken, url.Values{"grant_type": {"client_credentials"}}, basic("secret-app", secret), withDPoP(e.proofAt(t, dk, "POST", tokenURL, "")))
		wantOAuthError(t, r, http.StatusBadRequest, oauth.CodeUnauthorizedClient)
	})
	t.Run("client_credentials with DPoP", func(t *testing.T) {
		r := cc(c, c.key, e.Issuer, e.proofAt(t, dk, "POST", tokenURL, ""))
		var tr codeTokens
		decodeJSON(t, r.Body, &tr)
		if r.Status != http.StatusOK || tr.TokenType != "DPoP" {
			t.Fatalf("a conforming token request: %s", r)
		}
	})
}

// TestFAPI2CodeLifetime: a FAPI 2.0 client's code lives at most 60
// seconds (§5.3.2.1): redeemed 61 seconds after it was issued, it is
// invalid_grant.
func TestFAPI2CodeLifetime(t *testing.T) {
	clock := fixedClock()
	e := newFAPIEnv(t, envOptions{Clock: clock}, false)
	e.addUser(t, "u-alice", "alice", alicePassword)
	redirect := newCallbackServer(t).URL + "/callback"
	c := e.addFAPIClient(t, "bank-app", redirect, true)
	dk := newDPoPKey(t)
	verifier := oauth2.GenerateVerifier()
	uri := e.push(t, c.auth(t, c.key, e.Issuer, c.pushForm(verifier)))
	_, p := e.newBrowser(t).run(t, e.authorizeURI(c.id, uri, nil), user{Username: "alice", Password: alicePassword})
	code := e.callback(t, p, redirect, "f-state")
	clock.Advance(61 * time.Second)
	r := e.post(t, server.PathToken, c.auth(t, c.key, e.Issuer, url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}, "code_verifier": {verifier},
	}), withDPoP(e.proofAt(t, dk, "POST", e.url(server.PathToken), "")))
	wantOAuthError(t, r, http.StatusBadRequest, oauth.CodeInvalidGrant)
}

// TestFAPI2ServerWide: with the server-wide mode, a client without the
// profile is held to it, and discovery lists only what the profile
// allows.
func TestFAPI2ServerWide(t *testing.T) {
	e := newFAPIEnv(t, envOptions{}, true)
	var m map[string]any
	r := e.get(t, server.PathOIDCMetadata)
	decodeJSON(t, r.Body, &m)
	strs := func(name string) []string {
		var out []string
		vs, _ := m[name].([]any)
		for _, v := range vs {
			out = append(out, v.(string))
		}
		return out
	}
	if m["require_pushed_authorization_requests"] != true {
		t.Errorf("require_pushed_authorization_requests = %v", m["require_pushed_authorization_requests"])
	}
	if got := strs("token_endpoint_auth_methods_supported"); !slices.Contains(got, "private_key_jwt") || slices.ContainsFunc(got, func(a string) bool { return !oauth.FAPI2AuthMethod(a) }) {
		t.Errorf("token_endpoint_auth_methods_supported = %v", got)
	}
	for _, name := range []string{"token_endpoint_auth_signing_alg_values_supported", "id_token_signing_alg_values_supported",
		"userinfo_signing_alg_values_supported", "request_object_signing_alg_values_supported", "dpop_signing_alg_values_supported"} {
		got := strs(name)
		if len(got) == 0 || slices.ContainsFunc(got, func(a string) bool { return !oauth.FAPI2Algorithm(a) }) {
			t.Errorf("%s = %v: want PS256, ES256, EdDSA only", name, got)
		}
	}
	if m["authorization_response_iss_parameter_supported"] != true || !slices.Equal(strs("code_challenge_methods_supported"), []string{"S256"}) {
		t.Errorf("iss parameter / PKCE methods: %v %v", m["authorization_response_iss_parameter_supported"], m["code_challenge_methods_supported"])
	}

	redirect := newCallbackServer(t).URL + "/callback"
	c := e.addFAPIClient(t, "no-profile", redirect, false)
	dk := newDPoPKey(t)
	wantOAuthError(t, e.post(t, server.PathToken, c.auth(t, c.key, e.Issuer, url.Values{"grant_type": {"client_credentials"}})),
		http.StatusBadRequest, oauth.CodeInvalidDPoPProof)
	r = e.post(t, server.PathToken, c.auth(t, c.key, e.Issuer, url.Values{"grant_type": {"client_credentials"}}),
		withDPoP(e.proofAt(t, dk, "POST", e.url(server.PathToken), "")))
	if r.Status != http.StatusOK {
		t.Fatalf("a conforming request: %s", r)
	}
	secret := e.addConfidential(t, "secret-app")
	wantOAuthError(t, e.post(t, server.PathToken, url.Values{"grant_type": {"client_credentials"}}, basic("secret-app", secret),
		withDPoP(e.proofAt(t, dk, "POST", e.url(server.PathToken), ""))), http.StatusBadRequest, oauth.CodeUnauthorizedClient)
}

// TestPARDPoPJKT: dpop_jkt in a pushed authorization request (RFC 9449
// §10) binds the code as at the authorization endpoint: refused without a
// proof and with another key's, redeemed with the bound key into bound
// tokens.
func TestPARDPoPJKT(t *testing.T) {
	e := newSignInEnv(t, envOptions{})
	e.addUser(t, "u-alice", "alice", alicePassword)
	redirect := newCallbackServer(t).URL + "/callback"
	e.addPublic(t, "spa", webApp(redirect), firstParty())
	key, thief := newDPoPKey(t), newDPoPKey(t)
	jkt := key.ThumbprintSHA256()
	tokenURL := e.url(server.PathToken)
	verifier := oauth2.GenerateVerifier()
	uri := e.push(t, url.Values{
		"client_id": {"spa"}, "response_type": {"code"}, "redirect_uri": {redirect}, "scope": {"openid"},
		"state": {"s"}, "code_challenge": {challenge(verifier)}, "code_challenge_method": {"S256"}, "dpop_jkt": {jkt},
	})
	_, p := e.newBrowser(t).run(t, e.authorizeURI("spa", uri, nil), user{Username: "alice", Password: alicePassword})
	code := e.callback(t, p, redirect, "s")
	redeem := func(proofs ...string) *response {
		return e.post(t, server.PathToken, url.Values{
			"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect},
			"code_verifier": {verifier}, "client_id": {"spa"},
		}, withDPoP(proofs...))
	}
	wantOAuthError(t, redeem(), http.StatusBadRequest, oauth.CodeInvalidGrant)
	wantOAuthError(t, redeem(e.proofAt(t, thief, "POST", tokenURL, "")), http.StatusBadRequest, oauth.CodeInvalidGrant)
	r := redeem(e.proofAt(t, key, "POST", tokenURL, ""))
	if r.Status != http.StatusOK {
		t.Fatalf("redemption with the key named in the pushed request: %s", r)
	}
	var tr codeTokens
	decodeJSON(t, r.Body, &tr)
	if cnf, _ := jwtPayload(t, tr.AccessToken)["cnf"].(map[string]any); tr.TokenType != "DPoP" || cnf["jkt"] != jkt {
		t.Fatalf("token_type %q cnf %v", tr.TokenType, cnf)
	}
}

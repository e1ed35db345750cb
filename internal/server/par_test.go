package server_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/authz"
	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/server"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/jose"
	"golang.org/x/oauth2"
)

// parResponse is the answer of the pushed authorization request endpoint.
type parResponse struct {
	RequestURI string `json:"request_uri"`
	ExpiresIn  int    `json:"expires_in"`
}

// signObject signs claims as a request object with key and typ.
func signObject(t testing.TB, key *jose.Key, typ string, claims map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jose.Sign(key, payload, &jose.SignOptions{Type: typ})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// unsignedObject is claims as an unsecured JWT (alg none).
func unsignedObject(t testing.TB, claims map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none","typ":"oauth-authz-req+jwt"}`)) + "." + enc(payload) + "."
}

// challenge is the S256 PKCE challenge of verifier.
func challenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// objectClaims are the claims of a valid request object of client id
// for redirect, with state, nonce and a PKCE challenge of verifier.
func (e *testEnv) objectClaims(id, redirect, verifier string) map[string]any {
	now := e.Clock.Now()
	return map[string]any{
		"iss": id, "aud": e.Issuer, "client_id": id,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
		"jti":           fmt.Sprintf("ro-%d", jtiSeq.Add(1)),
		"response_type": "code", "redirect_uri": redirect, "scope": "openid profile",
		"state": "o-state", "nonce": "o-nonce",
		"code_challenge": challenge(verifier), "code_challenge_method": "S256",
	}
}

// keyAuth authenticates a private_key_jwt client at the PAR endpoint.
func (e *testEnv) keyAuth(t testing.TB, id string, key *jose.Key, form url.Values) url.Values {
	t.Helper()
	form.Set("client_assertion_type", oauth.AssertionTypeJWTBearer)
	form.Set("client_assertion", assertion(t, key, assertionClaims(id, id, e.url(server.PathPAR), e.Clock.Now().Add(time.Minute))))
	return form
}

// push posts form to the PAR endpoint and returns the request_uri.
func (e *testEnv) push(t testing.TB, form url.Values, mods ...func(*http.Request)) string {
	t.Helper()
	resp := e.post(t, server.PathPAR, form, mods...)
	if resp.Status != http.StatusCreated {
		t.Fatalf("PAR: %s", resp)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q", cc)
	}
	var pr parResponse
	decodeJSON(t, resp.Body, &pr)
	if !strings.HasPrefix(pr.RequestURI, server.RequestURIPrefix) || len(pr.RequestURI) < len(server.RequestURIPrefix)+40 || pr.ExpiresIn != 60 {
		t.Fatalf("PAR answer %+v", pr)
	}
	return pr.RequestURI
}

// authorizeURI is the authorization request naming a pushed request.
func (e *testEnv) authorizeURI(clientID, requestURI string, extra url.Values) string {
	q := url.Values{"client_id": {clientID}, "request_uri": {requestURI}}
	maps.Copy(q, extra)
	return e.url(server.PathAuthorize) + "?" + q.Encode()
}

// TestPARWithRequestObjectEndToEnd: a private_key_jwt client pushes a
// signed request object, the browser brings the request_uri (with a scope
// and state in the query that do not count), the user signs in and
// consents, and the code is redeemed with PKCE; the request_uri is spent.
func TestPARWithRequestObjectEndToEnd(t *testing.T) {
	e := newSignInEnv(t, envOptions{})
	e.addUser(t, "u-alice", "alice", alicePassword, named("Alice", "alice@example.test"))
	redirect := newCallbackServer(t).URL + "/callback"
	key := e.addKeyJWT(t, "par-app", webApp(redirect))

	verifier := oauth2.GenerateVerifier()
	obj := signObject(t, key, authz.RequestObjectType, e.objectClaims("par-app", redirect, verifier))
	uri := e.push(t, e.keyAuth(t, "par-app", key, url.Values{"request": {obj}, "scope": {"openid email"}}))

	b := e.newBrowser(t)
	seen, p := b.run(t, e.authorizeURI("par-app", uri, url.Values{"scope": {"openid email offline_access"}, "state": {"q-state"}}), user{Username: "alice", Password: alicePassword})
	if len(seen) != 2 || seen[0] != pageLogin || seen[1] != pageConsent {
		t.Errorf("pages %v, want [login consent]", seen)
	}
	code := e.callback(t, p, redirect, "o-state")

	tok := e.post(t, server.PathToken, e.keyAuthToken(t, "par-app", key, url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}, "code_verifier": {verifier},
	}))
	if tok.Status != http.StatusOK {
		t.Fatalf("token: %s", tok)
	}
	var tr struct {
		AccessToken string `json:"access_token"`
		IDToken     string `json:"id_token"`
		Scope       string `json:"scope"`
	}
	decodeJSON(t, tok.Body, &tr)
	if tr.AccessToken == "" || tr.IDToken == "" || tr.Scope != "openid profile" {
		t.Fatalf("token response %s: want the request object's scope openid profile", tok.Body)
	}
	var idc struct {
		Nonce string `json:"nonce"`
		Sub   string `json:"sub"`
	}
	parts := strings.Split(tr.IDToken, ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	decodeJSON(t, raw, &idc)
	if idc.Nonce != "o-nonce" || idc.Sub != "u-alice" {
		t.Errorf("ID token nonce %q sub %q, want the request object's nonce for alice", idc.Nonce, idc.Sub)
	}

	// The request_uri was spent.
	again := b.get(t, e.authorizeURI("par-app", uri, nil))
	wantRedirectError(t, e, again, redirect, authz.CodeInvalidRequestURI, "")
}

// keyAuthToken authenticates a private_key_jwt client at the token
// endpoint.
func (e *testEnv) keyAuthToken(t testing.TB, id string, key *jose.Key, form url.Values) url.Values {
	t.Helper()
	form.Set("client_assertion_type", oauth.AssertionTypeJWTBearer)
	form.Set("client_assertion", assertion(t, key, assertionClaims(id, id, e.url(server.PathToken), e.Clock.Now().Add(time.Minute))))
	return form
}

// TestPARPublicClientPlainParameters: a public client pushes plain
// parameters (no request object, no authentication but its client_id) and
// signs in with the request_uri.
func TestPARPublicClientPlainParameters(t *testing.T) {
	e := newSignInEnv(t, envOptions{RequirePAR: true})
	e.addUser(t, "u-alice", "alice", alicePassword)
	redirect := newCallbackServer(t).URL + "/callback"
	e.addPublic(t, "spa", webApp(redirect))
	verifier := oauth2.GenerateVerifier()
	params := url.Values{
		"client_id": {"spa"}, "response_type": {"code"}, "redirect_uri": {redirect}, "scope": {"openid"},
		"state": {"s-1"}, "code_challenge": {challenge(verifier)}, "code_challenge_method": {"S256"},
	}

	// Required server-wide: a request that was not pushed is refused,
	// and discovery says so.
	direct := e.url(server.PathAuthorize) + "?" + params.Encode()
	wantRedirectError(t, e, e.newBrowser(t).get(t, direct), redirect, oauth.CodeInvalidRequest, "s-1")
	var md map[string]any
	decodeJSON(t, e.get(t, server.PathOIDCMetadata).Body, &md)
	if md["require_pushed_authorization_requests"] != true || md["pushed_authorization_request_endpoint"] != e.url(server.PathPAR) {
		t.Errorf("discovery: require %v endpoint %v", md["require_pushed_authorization_requests"], md["pushed_authorization_request_endpoint"])
	}

	uri := e.push(t, params)
	_, p := e.newBrowser(t).run(t, e.authorizeURI("spa", uri, nil), user{Username: "alice", Password: alicePassword})
	code := e.callback(t, p, redirect, "s-1")
	tok := e.post(t, server.PathToken, url.Values{
		"grant_type": {"authorization_code"}, "client_id": {"spa"}, "code": {code}, "redirect_uri": {redirect}, "code_verifier": {verifier},
	})
	if tok.Status != http.StatusOK {
		t.Fatalf("token: %s", tok)
	}
}

// TestPARRefusals: every request the PAR endpoint refuses, with the JSON
// error of RFC 9126 §2.3 (and RFC 9101 for request objects).
func TestPARRefusals(t *testing.T) {
	e := newSignInEnv(t, envOptions{})
	redirect := newCallbackServer(t).URL + "/callback"
	key := e.addKeyJWT(t, "par-app", webApp(redirect))
	secret := e.addConfidential(t, "web", webApp(redirect))
	e.addPublic(t, "spa", webApp(redirect))
	other, err := jose.GenerateKey(jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	// The registered key's kid, other key material.
	impostor, err := jose.GenerateKey(jose.ES256, jose.WithKeyID(key.KeyID()))
	if err != nil {
		t.Fatal(err)
	}
	verifier := oauth2.GenerateVerifier()
	plain := func(id string) url.Values {
		return url.Values{
			"client_id": {id}, "response_type": {"code"}, "redirect_uri": {redirect}, "scope": {"openid"},
			"code_challenge": {challenge(verifier)}, "code_challenge_method": {"S256"},
		}
	}
	object := func(change func(map[string]any)) url.Values {
		c := e.objectClaims("par-app", redirect, verifier)
		change(c)
		return e.keyAuth(t, "par-app", key, url.Values{"request": {signObject(t, key, authz.RequestObjectType, c)}})
	}
	replayed := e.objectClaims("par-app", redirect, verifier)
	replayedObj := signObject(t, key, authz.RequestObjectType, replayed)
	e.push(t, e.keyAuth(t, "par-app", key, url.Values{"request": {replayedObj}}))

	tests := []struct {
		name   string
		form   url.Values
		mods   []func(*http.Request)
		status int
		code   string
	}{
		{name: "unknown client", form: plain("nobody"), status: 401, code: oauth.CodeInvalidClient},
		{name: "wrong secret", form: plain("web"), mods: []func(*http.Request){basic("web", "wrong")}, status: 401, code: oauth.CodeInvalidClient},
		{name: "client_id of another client", form: plain("spa"), mods: []func(*http.Request){basic("web", secret)}, status: 400, code: oauth.CodeInvalidRequest},
		{name: "request_uri pushed", form: func() url.Values {
			f := plain("spa")
			f.Set("request_uri", server.RequestURIPrefix+"x")
			return f
		}(), status: 400, code: oauth.CodeInvalidRequest},
		{name: "redirect_uri not registered", form: func() url.Values {
			f := plain("spa")
			f.Set("redirect_uri", redirect+"/x")
			return f
		}(), status: 400, code: oauth.CodeInvalidRequest},
		{name: "public client without PKCE", form: func() url.Values {
			f := plain("spa")
			f.Del("code_challenge")
			f.Del("code_challenge_method")
			return f
		}(), status: 400, code: oauth.CodeInvalidRequest},
		{name: "scope beyond the client's", form: func() url.Values {
			f := plain("spa")
			f.Set("scope", "openid admin")
			return f
		}(), status: 400, code: oauth.CodeInvalidScope},
		{name: "resource not registered", form: func() url.Values {
			f := plain("spa")
			f.Set("resource", "https://other.example/")
			return f
		}(), status: 400, code: oauth.CodeInvalidTarget},
		{name: "unknown prompt", form: func() url.Values {
			f := plain("spa")
			f.Set("prompt", "maybe")
			return f
		}(), status: 400, code: oauth.CodeInvalidRequest},
		{name: "repeated parameter", form: nil, status: 400, code: oauth.CodeInvalidRequest},
		{name: "request object: unknown key", form: e.keyAuth(t, "par-app", key, url.Values{
			"request": {signObject(t, other, authz.RequestObjectType, e.objectClaims("par-app", redirect, verifier))},
		}), status: 400, code: authz.CodeInvalidRequestObject},
		{name: "request object: signed by an impostor", form: e.keyAuth(t, "par-app", key, url.Values{
			"request": {signObject(t, impostor, authz.RequestObjectType, e.objectClaims("par-app", redirect, verifier))},
		}), status: 400, code: authz.CodeInvalidRequestObject},
		{name: "request object: alg none", form: e.keyAuth(t, "par-app", key, url.Values{
			"request": {unsignedObject(t, e.objectClaims("par-app", redirect, verifier))},
		}), status: 400, code: authz.CodeInvalidRequestObject},
		{name: "request object: HS256 with a client's secret", form: func() url.Values {
			hs, err := jose.NewKey(jose.HS256, []byte(secret+secret))
			if err != nil {
				t.Fatal(err)
			}
			c := e.objectClaims("web", redirect, verifier)
			f := url.Values{"request": {signObject(t, hs, authz.RequestObjectType, c)}}
			return f
		}(), mods: []func(*http.Request){basic("web", secret)}, status: 400, code: authz.CodeInvalidRequestObject},
		{name: "request object: client_id differs", form: object(func(c map[string]any) { c["client_id"] = "spa" }), status: 400, code: authz.CodeInvalidRequestObject},
		{name: "request object: iss differs", form: object(func(c map[string]any) { c["iss"] = "spa" }), status: 400, code: authz.CodeInvalidRequestObject},
		{name: "request object: aud differs", form: object(func(c map[string]any) { c["aud"] = "https://elsewhere.example" }), status: 400, code: authz.CodeInvalidRequestObject},
		{name: "request object: no exp", form: object(func(c map[string]any) { delete(c, "exp") }), status: 400, code: authz.CodeInvalidRequestObject},
		{name: "request object: expired", form: object(func(c map[string]any) { c["exp"] = e.Clock.Now().Add(-time.Hour).Unix() }), status: 400, code: authz.CodeInvalidRequestObject},
		{name: "request object: exp too far", form: object(func(c map[string]any) { c["exp"] = e.Clock.Now().Add(2 * time.Hour).Unix() }), status: 400, code: authz.CodeInvalidRequestObject},
		{name: "request object: nbf ahead", form: object(func(c map[string]any) { c["nbf"] = e.Clock.Now().Add(time.Hour).Unix() }), status: 400, code: authz.CodeInvalidRequestObject},
		{name: "request object: nested request_uri", form: object(func(c map[string]any) { c["request_uri"] = server.RequestURIPrefix + "x" }), status: 400, code: authz.CodeInvalidRequestObject},
		{name: "request object: max_age not a number", form: object(func(c map[string]any) { c["max_age"] = true }), status: 400, code: authz.CodeInvalidRequestObject},
		{name: "request object: jti used before", form: e.keyAuth(t, "par-app", key, url.Values{"request": {replayedObj}}), status: 400, code: authz.CodeInvalidRequestObject},
		{name: "request object: invalid content", form: object(func(c map[string]any) { c["scope"] = "openid admin" }), status: 400, code: oauth.CodeInvalidScope},
		{name: "request object of a client without keys", form: url.Values{
			"client_id": {"spa"}, "request": {signObject(t, key, authz.RequestObjectType, e.objectClaims("spa", redirect, verifier))},
		}, status: 400, code: authz.CodeInvalidRequestObject},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var resp *response
			if tc.form == nil {
				req := e.request(t, http.MethodPost, server.PathPAR, formType, plain("spa").Encode()+"&scope=openid")
				resp = e.do(t, req)
			} else {
				resp = e.post(t, server.PathPAR, tc.form, tc.mods...)
			}
			wantOAuthError(t, resp, tc.status, tc.code)
		})
	}

	t.Run("GET", func(t *testing.T) {
		if resp := e.get(t, server.PathPAR); resp.Status != http.StatusMethodNotAllowed {
			t.Errorf("GET: %s", resp)
		}
	})
}

// TestRequestURIRefusals: request_uri values the authorization endpoint
// refuses. With the client's only redirect URI known, the refusal goes
// back to it (state from the query); otherwise it is a page.
func TestRequestURIRefusals(t *testing.T) {
	clock := realClock()
	e := newSignInEnv(t, envOptions{Clock: clock})
	redirect := newCallbackServer(t).URL + "/callback"
	e.addPublic(t, "spa", webApp(redirect))
	e.addPublic(t, "other", webApp(redirect))
	e.addPublic(t, "two-uris", webApp(redirect, redirect+"/2"))
	verifier := oauth2.GenerateVerifier()
	push := func(id string) string {
		return e.push(t, url.Values{
			"client_id": {id}, "response_type": {"code"}, "redirect_uri": {redirect}, "scope": {"openid"},
			"code_challenge": {challenge(verifier)}, "code_challenge_method": {"S256"},
		})
	}
	used := push("spa")
	if p := e.newBrowser(t).get(t, e.authorizeURI("spa", used, nil)); p.Kind() != pageLogin {
		t.Fatalf("first use: %s", p)
	}
	st := url.Values{"state": {"q-1"}}

	tests := []struct {
		name, clientID, uri string
		extra               url.Values
		page                int
		code                string
	}{
		{name: "used before", clientID: "spa", uri: used, extra: st, code: authz.CodeInvalidRequestURI},
		{name: "unknown", clientID: "spa", uri: server.RequestURIPrefix + "nothing-was-pushed-under-this", extra: st, code: authz.CodeInvalidRequestURI},
		{name: "another client's", clientID: "other", uri: push("spa"), extra: st, code: authz.CodeInvalidRequestURI},
		{name: "not from PAR", clientID: "spa", uri: "https://client.example/req/1", extra: st, code: authz.CodeRequestURINotSupported},
		{name: "with a request object too", clientID: "spa", uri: push("spa"), extra: url.Values{"state": {"q-1"}, "request": {"x.y.z"}}, code: oauth.CodeInvalidRequest},
		{name: "unknown client", clientID: "nobody", uri: push("spa"), page: 400},
		{name: "no client_id", clientID: "", uri: push("spa"), page: 400},
		{name: "redirect_uri unknown, several registered", clientID: "two-uris", uri: push("spa"), page: 400},
		{name: "redirect_uri not registered", clientID: "spa", uri: server.RequestURIPrefix + "x", extra: url.Values{"redirect_uri": {"https://evil.example/cb"}}, page: 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := e.newBrowser(t).get(t, e.authorizeURI(tc.clientID, tc.uri, tc.extra))
			if tc.page != 0 {
				wantErrorPage(t, p, tc.page)
				return
			}
			wantRedirectError(t, e, p, redirect, tc.code, "q-1")
		})
	}

	t.Run("expired", func(t *testing.T) {
		uri := push("spa")
		clock.Advance(server.RequestURITTL)
		wantRedirectError(t, e, e.newBrowser(t).get(t, e.authorizeURI("spa", uri, st)), redirect, authz.CodeInvalidRequestURI, "q-1")
	})
}

// TestRequestObjectAtAuthorizationEndpoint: a request object in request
// replaces the query's parameters (RFC 9101 §6.3), and a refused one goes
// back to the client as invalid_request_object.
func TestRequestObjectAtAuthorizationEndpoint(t *testing.T) {
	e := newSignInEnv(t, envOptions{})
	e.addUser(t, "u-alice", "alice", alicePassword)
	redirect := newCallbackServer(t).URL + "/callback"
	key := e.addKeyJWT(t, "jar-app", webApp(redirect))
	pub, err := key.Public().MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	e.addPublic(t, "jar-spa", webApp(redirect), func(c *store.Client) { c.JWKS = []byte(`{"keys":[` + string(pub) + `]}`) })
	verifier := oauth2.GenerateVerifier()

	for _, typ := range []string{authz.RequestObjectType, "JWT"} {
		t.Run("typ "+typ, func(t *testing.T) {
			obj := signObject(t, key, typ, e.objectClaims("jar-spa", redirect, verifier))
			q := url.Values{"client_id": {"jar-spa"}, "request": {obj}, "state": {"q-state"}, "scope": {"openid email"}, "response_type": {"token"}}
			_, p := e.newBrowser(t).run(t, e.url(server.PathAuthorize)+"?"+q.Encode(), user{Username: "alice", Password: alicePassword})
			code := e.callback(t, p, redirect, "o-state")
			tok := e.post(t, server.PathToken, url.Values{
				"grant_type": {"authorization_code"}, "client_id": {"jar-spa"}, "code": {code}, "redirect_uri": {redirect}, "code_verifier": {verifier},
			})
			if tok.Status != http.StatusOK || !strings.Contains(string(tok.Body), `"scope":"openid profile"`) {
				t.Fatalf("token: %s", tok)
			}
		})
	}

	for _, tc := range []struct {
		name string
		obj  string
	}{
		{"alg none", unsignedObject(t, e.objectClaims("jar-spa", redirect, verifier))},
		{"typ of an access token", signObject(t, key, "at+jwt", e.objectClaims("jar-spa", redirect, verifier))},
		{"client_id differs", signObject(t, key, authz.RequestObjectType, func() map[string]any {
			c := e.objectClaims("jar-spa", redirect, verifier)
			c["client_id"] = "jar-app"
			return c
		}())},
		{"not a JWT", "x.y.z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := url.Values{"client_id": {"jar-spa"}, "request": {tc.obj}, "state": {"q-state"}}
			wantRedirectError(t, e, e.newBrowser(t).get(t, e.url(server.PathAuthorize)+"?"+q.Encode()), redirect, authz.CodeInvalidRequestObject, "q-state")
		})
	}
}

// TestRequirePARPerClient: a client registered with
// require_pushed_authorization_requests gets nothing from the
// authorization endpoint but through a request_uri (plain parameters and
// request objects refused); other clients are unaffected.
func TestRequirePARPerClient(t *testing.T) {
	e := newSignInEnv(t, envOptions{})
	redirect := newCallbackServer(t).URL + "/callback"
	key := e.addKeyJWT(t, "strict", webApp(redirect), func(c *store.Client) { c.RequirePushedAuthorizationRequests = true })
	e.addPublic(t, "relaxed", webApp(redirect))
	verifier := oauth2.GenerateVerifier()
	plain := func(id string) url.Values {
		return url.Values{
			"client_id": {id}, "response_type": {"code"}, "redirect_uri": {redirect}, "scope": {"openid"},
			"state": {"s-1"}, "code_challenge": {challenge(verifier)}, "code_challenge_method": {"S256"},
		}
	}
	authorize := func(q url.Values) *page {
		return e.newBrowser(t).get(t, e.url(server.PathAuthorize)+"?"+q.Encode())
	}
	wantRedirectError(t, e, authorize(plain("strict")), redirect, oauth.CodeInvalidRequest, "s-1")
	obj := plain("strict")
	obj.Set("request", signObject(t, key, authz.RequestObjectType, e.objectClaims("strict", redirect, verifier)))
	wantRedirectError(t, e, authorize(obj), redirect, oauth.CodeInvalidRequest, "s-1")
	if p := authorize(plain("relaxed")); p.Kind() != pageLogin {
		t.Errorf("a client without the requirement: %s", p)
	}
	uri := e.push(t, e.keyAuth(t, "strict", key, plain("strict")))
	if p := e.newBrowser(t).get(t, e.authorizeURI("strict", uri, nil)); p.Kind() != pageLogin {
		t.Errorf("pushed: %s", p)
	}
}

// TestRequestObjectKeysFromJWKSURI: a client that publishes its keys at a
// jwks_uri signs request objects with them, through the key source of
// private_key_jwt (fetched and cached); an object signed by another key is
// refused.
func TestRequestObjectKeysFromJWKSURI(t *testing.T) {
	e := newSignInEnv(t, envOptions{})
	e.addUser(t, "u-alice", "alice", alicePassword)
	redirect := newCallbackServer(t).URL + "/callback"
	key, err := jose.GenerateKey(jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	jwks, err := jose.NewKeySet(key.Public()).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	keys := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(jwks)
	}))
	t.Cleanup(keys.Close)
	e.addPublic(t, "remote-keys", webApp(redirect), func(c *store.Client) { c.JWKSURI = keys.URL + "/jwks.json" })
	verifier := oauth2.GenerateVerifier()

	uri := e.push(t, url.Values{"client_id": {"remote-keys"}, "request": {signObject(t, key, authz.RequestObjectType, e.objectClaims("remote-keys", redirect, verifier))}})
	_, p := e.newBrowser(t).run(t, e.authorizeURI("remote-keys", uri, nil), user{Username: "alice", Password: alicePassword})
	e.callback(t, p, redirect, "o-state")

	other, err := jose.GenerateKey(jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	resp := e.post(t, server.PathPAR, url.Values{"client_id": {"remote-keys"}, "request": {signObject(t, other, authz.RequestObjectType, e.objectClaims("remote-keys", redirect, verifier))}})
	wantOAuthError(t, resp, http.StatusBadRequest, authz.CodeInvalidRequestObject)
}

package server_test

// End-to-end tests: the real server on a loopback port, driven by
// golang.org/x/oauth2's clientcredentials package and checked with
// coreos/go-oidc's remote key set and writ's own verifier.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/writ-dev/writ/internal/keys"
	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/opaque"
	"github.com/writ-dev/writ/internal/server"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
)

// accessClaims are the RFC 9068 claims of a writ access token.
type accessClaims struct {
	Iss      string       `json:"iss"`
	Sub      string       `json:"sub"`
	Aud      jwt.Audience `json:"aud"`
	ClientID string       `json:"client_id"`
	Scope    string       `json:"scope"`
	Iat      int64        `json:"iat"`
	Exp      int64        `json:"exp"`
	Jti      string       `json:"jti"`
}

// verifyAccessToken checks tok three ways: go-oidc's remote key set against
// the JWKS endpoint, jose.ParseKeySet of a freshly fetched JWKS, and writ's
// jwt.Verifier with the RFC 9068 policy for audience aud. It returns the
// claims and the kid.
func verifyAccessToken(t testing.TB, e *testEnv, tok, aud string) (accessClaims, string) {
	t.Helper()
	ctx := context.Background()
	remote := oidc.NewRemoteKeySet(ctx, e.url(server.PathJWKS))
	payload, err := remote.VerifySignature(ctx, tok)
	if err != nil {
		t.Fatalf("go-oidc remote key set rejects the token: %v", err)
	}
	ks, err := jose.ParseKeySet(e.get(t, server.PathJWKS).Body)
	if err != nil {
		t.Fatalf("parse JWKS: %v", err)
	}
	v, err := jwt.NewVerifier(jwt.StaticKeys(ks), jwt.Config{
		Issuer:         e.Issuer,
		Audience:       aud,
		Type:           jwt.TypeAccessToken,
		Algorithms:     []jose.Algorithm{jose.ES256},
		RequiredClaims: []string{"iss", "sub", "aud", "exp", "iat", "jti", "client_id"},
		Now:            e.Clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	vt, err := v.Verify(ctx, tok)
	if err != nil {
		t.Fatalf("writ verifier rejects the token: %v", err)
	}
	if vt.Header().Type != "at+jwt" {
		t.Errorf("typ = %q, want at+jwt", vt.Header().Type)
	}
	if string(payload) != vt.Payload() {
		t.Errorf("go-oidc and writ disagree on the payload")
	}
	var c accessClaims
	if err := vt.DecodeClaims(&c); err != nil {
		t.Fatalf("decode claims: %v", err)
	}
	return c, vt.Header().KeyID
}

func TestClientCredentialsWithXOAuth2(t *testing.T) {
	e := newEnv(t, envOptions{})
	basicSecret := e.addConfidential(t, "billing", withAudiences(audOrders, audBilling))
	postSecret := e.addConfidential(t, "billing-post", withMethod(oauth.AuthSecretPost), withTTL(5*time.Minute))
	// A client id and secret with characters that RFC 6749 §2.3.1 encoding
	// changes; x/oauth2 encodes them as the RFC says.
	oddSecret := "s3cr:et%20+/=&?"
	e.addWithSecret(t, "odd:client%id é", oddSecret)

	tests := []struct {
		name     string
		id       string
		secret   string
		style    oauth2.AuthStyle
		scopes   []string
		resource []string
		wantAud  []string
		wantScp  string
		wantTTL  time.Duration
	}{
		{
			name: "header/resource", id: "billing", secret: basicSecret, style: oauth2.AuthStyleInHeader,
			scopes: []string{scopeRead}, resource: []string{audBilling},
			wantAud: []string{audBilling}, wantScp: scopeRead, wantTTL: 15 * time.Minute,
		},
		{
			name: "header/two resources", id: "billing", secret: basicSecret, style: oauth2.AuthStyleInHeader,
			resource: []string{audOrders, audBilling},
			wantAud:  []string{audOrders, audBilling}, wantScp: scopeRead + " " + scopeWrite, wantTTL: 15 * time.Minute,
		},
		{
			name: "header/client default audience", id: "billing", secret: basicSecret, style: oauth2.AuthStyleInHeader,
			scopes:  []string{scopeWrite},
			wantAud: []string{audOrders}, wantScp: scopeWrite, wantTTL: 15 * time.Minute,
		},
		{
			name: "params/issuer audience", id: "billing-post", secret: postSecret, style: oauth2.AuthStyleInParams,
			scopes:  []string{scopeWrite, scopeRead},
			wantAud: nil /* the issuer */, wantScp: scopeWrite + " " + scopeRead, wantTTL: 5 * time.Minute,
		},
		{
			name: "header/encoded credentials", id: "odd:client%id é", secret: oddSecret, style: oauth2.AuthStyleInHeader,
			wantAud: nil, wantScp: scopeRead + " " + scopeWrite, wantTTL: 15 * time.Minute,
		},
	}
	jtis := map[string]bool{}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := clientcredentials.Config{
				ClientID:     tc.id,
				ClientSecret: tc.secret,
				TokenURL:     e.url(server.PathToken),
				Scopes:       tc.scopes,
				AuthStyle:    tc.style,
			}
			if tc.resource != nil {
				cfg.EndpointParams = url.Values{"resource": tc.resource}
			}
			ctx := context.WithValue(context.Background(), oauth2.HTTPClient, e.Client)
			before := time.Now().Truncate(time.Second)
			tok, err := cfg.Token(ctx)
			if err != nil {
				t.Fatalf("clientcredentials: %v", err)
			}
			if tok.TokenType != "Bearer" {
				t.Errorf("token_type = %q, want Bearer", tok.TokenType)
			}
			if got := tok.Extra("scope"); got != tc.wantScp {
				t.Errorf("scope in the response = %v, want %q", got, tc.wantScp)
			}
			if got, _ := tok.Extra("expires_in").(float64); time.Duration(got)*time.Second != tc.wantTTL {
				t.Errorf("expires_in = %v, want %v", got, tc.wantTTL.Seconds())
			}
			wantAud := tc.wantAud
			if wantAud == nil {
				wantAud = []string{e.Issuer}
			}
			c, kid := verifyAccessToken(t, e, tok.AccessToken, wantAud[0])
			if active := ringKids(e.Ring, keys.Active); !slices.Equal(active, []string{kid}) {
				t.Errorf("kid = %q, want the active key %v", kid, active)
			}
			if c.Iss != e.Issuer {
				t.Errorf("iss = %q, want %q", c.Iss, e.Issuer)
			}
			if c.Sub != tc.id || c.ClientID != tc.id {
				t.Errorf("sub = %q, client_id = %q, want both %q", c.Sub, c.ClientID, tc.id)
			}
			if !slices.Equal([]string(c.Aud), wantAud) {
				t.Errorf("aud = %q, want %q", c.Aud, wantAud)
			}
			if c.Scope != tc.wantScp {
				t.Errorf("scope = %q, want %q", c.Scope, tc.wantScp)
			}
			if c.Iat < before.Unix() || c.Iat > time.Now().Unix() {
				t.Errorf("iat = %d, not between the request's start and end", c.Iat)
			}
			if got := time.Duration(c.Exp-c.Iat) * time.Second; got != tc.wantTTL {
				t.Errorf("exp - iat = %v, want %v", got, tc.wantTTL)
			}
			if len(c.Jti) < 16 || jtis[c.Jti] {
				t.Errorf("jti %q is short or repeated", c.Jti)
			}
			jtis[c.Jti] = true
		})
	}

	t.Run("wrong secret", func(t *testing.T) {
		cfg := clientcredentials.Config{ClientID: "billing", ClientSecret: "nope", TokenURL: e.url(server.PathToken), AuthStyle: oauth2.AuthStyleInHeader}
		_, err := cfg.Token(context.WithValue(context.Background(), oauth2.HTTPClient, e.Client))
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) {
			t.Fatalf("err = %v, want a *oauth2.RetrieveError", err)
		}
		if re.ErrorCode != oauth.CodeInvalidClient || re.Response.StatusCode != http.StatusUnauthorized {
			t.Errorf("error %q status %d, want invalid_client 401", re.ErrorCode, re.Response.StatusCode)
		}
	})
}

// TestTokenResponseHeaders checks the raw token response: RFC 6749 §5.1
// fixes no-store caching and the JSON members.
func TestTokenResponseHeaders(t *testing.T) {
	e := newEnv(t, envOptions{})
	secret := e.addConfidential(t, "billing")
	opaqueSecret := e.addConfidential(t, "billing-opaque", opaqueFormat(), withTTL(time.Hour))

	tests := []struct {
		name, id, secret string
		wantPrefix       string
		wantTTL          int64
		wantParts        int
	}{
		{"jwt", "billing", secret, "eyJ", 900, 3},
		{"opaque", "billing-opaque", opaqueSecret, opaque.AccessTokenPrefix, 3600, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := e.post(t, server.PathToken, url.Values{"grant_type": {"client_credentials"}, "scope": {scopeRead}}, basic(tc.id, tc.secret))
			if resp.Status != http.StatusOK {
				t.Fatalf("token: %s", resp)
			}
			for name, want := range map[string]string{
				"Cache-Control": "no-store",
				"Pragma":        "no-cache",
				"Content-Type":  "application/json",
			} {
				if got := resp.Header.Get(name); got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
			var body map[string]any
			decodeJSON(t, resp.Body, &body)
			want := map[string]bool{"access_token": true, "token_type": true, "expires_in": true, "scope": true}
			for k := range body {
				if !want[k] {
					t.Errorf("unexpected member %q", k)
				}
			}
			if body["token_type"] != "Bearer" {
				t.Errorf("token_type = %v, want Bearer", body["token_type"])
			}
			if body["expires_in"] != json.Number(strconv.FormatInt(tc.wantTTL, 10)) {
				t.Errorf("expires_in = %v, want %d", body["expires_in"], tc.wantTTL)
			}
			at, _ := body["access_token"].(string)
			if !strings.HasPrefix(at, tc.wantPrefix) || len(strings.Split(at, ".")) != tc.wantParts {
				t.Errorf("access_token %q: want prefix %q and %d dot-separated parts", at, tc.wantPrefix, tc.wantParts)
			}
			if tc.name == "opaque" && len(at) < len(opaque.AccessTokenPrefix)+43 {
				t.Errorf("opaque token %q is shorter than 256 bits of randomness", at)
			}
		})
	}
}

func TestDiscovery(t *testing.T) {
	e := newEnv(t, envOptions{})
	secret := e.addConfidential(t, "billing")
	for _, path := range []string{server.PathASMetadata, server.PathOIDCMetadata} {
		t.Run(path, func(t *testing.T) {
			resp := e.get(t, path)
			if resp.Status != http.StatusOK {
				t.Fatalf("GET %s: %s", path, resp)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			var md server.Metadata
			decodeJSON(t, resp.Body, &md)
			if md.Issuer != e.Issuer || md.Issuer != e.HTTP.URL {
				t.Errorf("issuer = %q, want the server URL %q", md.Issuer, e.HTTP.URL)
			}
			if !slices.Contains(md.GrantTypesSupported, "client_credentials") {
				t.Errorf("grant_types_supported = %v lacks client_credentials", md.GrantTypesSupported)
			}
			for _, m := range []string{oauth.AuthSecretBasic, oauth.AuthSecretPost, oauth.AuthPrivateKeyJWT} {
				if !slices.Contains(md.TokenEndpointAuthMethodsSupported, m) {
					t.Errorf("token_endpoint_auth_methods_supported = %v lacks %s", md.TokenEndpointAuthMethodsSupported, m)
				}
			}
			if !slices.Contains(md.IntrospectionSigningAlgValuesSupported, "ES256") {
				t.Errorf("introspection_signing_alg_values_supported = %v", md.IntrospectionSigningAlgValuesSupported)
			}
			for _, ep := range []string{md.TokenEndpoint, md.JWKSURI, md.IntrospectionEndpoint, md.RevocationEndpoint} {
				if !strings.HasPrefix(ep, e.Issuer+"/") {
					t.Errorf("endpoint %q is not under the issuer", ep)
				}
			}

			if path == server.PathOIDCMetadata {
				// go-oidc's discovery accepts the document (it checks that
				// issuer equals the URL it was asked for).
				p, err := oidc.NewProvider(oidc.ClientContext(context.Background(), e.Client), e.Issuer)
				if err != nil {
					t.Fatalf("oidc.NewProvider: %v", err)
				}
				if p.Endpoint().TokenURL != md.TokenEndpoint {
					t.Errorf("go-oidc token URL %q, want %q", p.Endpoint().TokenURL, md.TokenEndpoint)
				}
			}

			// The advertised endpoints work, used exactly as advertised.
			cfg := clientcredentials.Config{ClientID: "billing", ClientSecret: secret, TokenURL: md.TokenEndpoint, AuthStyle: oauth2.AuthStyleInHeader}
			tok, err := cfg.Token(context.WithValue(context.Background(), oauth2.HTTPClient, e.Client))
			if err != nil {
				t.Fatalf("token from %s: %v", md.TokenEndpoint, err)
			}
			remote := oidc.NewRemoteKeySet(context.Background(), md.JWKSURI)
			if _, err := remote.VerifySignature(context.Background(), tok.AccessToken); err != nil {
				t.Errorf("verify with %s: %v", md.JWKSURI, err)
			}
			for _, ep := range []string{md.IntrospectionEndpoint, md.RevocationEndpoint} {
				req := e.request(t, http.MethodPost, "", formType, url.Values{"token": {tok.AccessToken}}.Encode())
				req.URL, _ = url.Parse(ep)
				basic("billing", secret)(req)
				if r := e.do(t, req); r.Status != http.StatusOK {
					t.Errorf("POST %s: %s", ep, r)
				}
			}
		})
	}
}

func TestJWKSEndpoint(t *testing.T) {
	e := newEnv(t, envOptions{AccessOnly: true})
	resp := e.get(t, server.PathJWKS)
	if resp.Status != http.StatusOK {
		t.Fatalf("GET jwks: %s", resp)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/jwk-set+json" {
		t.Errorf("Content-Type = %q, want application/jwk-set+json", ct)
	}
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age=") || strings.Contains(cc, "no-store") {
		t.Errorf("Cache-Control = %q, want a max-age", cc)
	}
	etag := resp.Header.Get("ETag")
	if len(etag) < 3 || etag[0] != '"' || etag[len(etag)-1] != '"' {
		t.Fatalf("ETag = %q, want a strong entity tag", etag)
	}

	// No private members, in any key.
	var doc struct {
		Keys []map[string]any `json:"keys"`
	}
	decodeJSON(t, resp.Body, &doc)
	for i, k := range doc.Keys {
		for _, m := range []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"} {
			if _, ok := k[m]; ok {
				t.Errorf("key %d has the private member %q", i, m)
			}
		}
		if k["kid"] == "" || k["alg"] != "ES256" || k["kty"] != "EC" {
			t.Errorf("key %d: kid %v alg %v kty %v", i, k["kid"], k["alg"], k["kty"])
		}
	}
	// Both the active and the next key are published.
	want := append(ringKids(e.Ring, keys.Active), ringKids(e.Ring, keys.Next)...)
	slices.Sort(want)
	if got := jwksKids(t, resp.Body); !slices.Equal(got, want) || len(got) != 2 {
		t.Errorf("JWKS kids = %v, want active and next %v", got, want)
	}

	tests := []struct {
		name       string
		inm        string
		wantStatus int
	}{
		{"same etag", etag, http.StatusNotModified},
		{"etag in a list", `"nope", ` + etag, http.StatusNotModified},
		{"weak form of the etag", "W/" + etag, http.StatusNotModified},
		{"star", "*", http.StatusNotModified},
		{"other etag", `"not-it"`, http.StatusOK},
		{"unquoted etag", strings.Trim(etag, `"`), http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.get(t, server.PathJWKS, header("If-None-Match", tc.inm))
			if r.Status != tc.wantStatus {
				t.Fatalf("status = %d, want %d", r.Status, tc.wantStatus)
			}
			if r.Header.Get("ETag") != etag {
				t.Errorf("ETag = %q, want %q", r.Header.Get("ETag"), etag)
			}
			if tc.wantStatus == http.StatusNotModified && len(r.Body) != 0 {
				t.Errorf("304 with a body: %q", r.Body)
			}
			if tc.wantStatus == http.StatusOK && string(r.Body) != string(resp.Body) {
				t.Errorf("body changed without a rotation")
			}
		})
	}

	// Another node (another ring at the same point of its history) publishes
	// other keys: its entity tag must not validate this node's set, or a
	// cache behind a load balancer keeps the wrong keys.
	t.Run("etag of another node", func(t *testing.T) {
		other := newEnv(t, envOptions{}).get(t, server.PathJWKS)
		if string(other.Body) == string(resp.Body) {
			t.Fatal("two rings published the same keys")
		}
		r := e.get(t, server.PathJWKS, header("If-None-Match", other.Header.Get("ETag")))
		if r.Status != http.StatusOK || string(r.Body) != string(resp.Body) {
			t.Errorf("status %d with the other node's ETag %s, want 200 and this node's set", r.Status, other.Header.Get("ETag"))
		}
	})

	// A rotation changes the entity tag, so a revalidating cache gets the
	// new set.
	e.Clock.Advance(time.Second)
	if err := e.Ring.Rotate(); err != nil {
		t.Fatal(err)
	}
	r := e.get(t, server.PathJWKS, header("If-None-Match", etag))
	if r.Status != http.StatusOK || r.Header.Get("ETag") == etag {
		t.Fatalf("after a rotation: status %d ETag %q (old %q)", r.Status, r.Header.Get("ETag"), etag)
	}
	if got := jwksKids(t, r.Body); len(got) != 3 {
		t.Errorf("after a rotation the JWKS has %v, want active, next and retired", got)
	}

	t.Run("POST is not allowed", func(t *testing.T) {
		r := e.do(t, e.request(t, http.MethodPost, server.PathJWKS, formType, ""))
		if r.Status != http.StatusMethodNotAllowed {
			t.Errorf("POST jwks: status %d", r.Status)
		}
	})
}

// assertion builds an RFC 7523 client assertion signed with key.
func assertion(t testing.TB, key *jose.Key, claims map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jose.Sign(key, payload, &jose.SignOptions{Type: "JWT"})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

var jtiSeq atomic.Int64

// assertionClaims are the claims of a client assertion with a fresh jti.
func assertionClaims(iss, sub, aud string, exp time.Time) map[string]any {
	return map[string]any{
		"iss": iss, "sub": sub, "aud": aud,
		"iat": time.Now().Unix(), "exp": exp.Unix(),
		"jti": fmt.Sprintf("assertion-%d", jtiSeq.Add(1)),
	}
}

func TestPrivateKeyJWT(t *testing.T) {
	e := newEnv(t, envOptions{})
	key := e.addKeyJWT(t, "signer")
	otherKey, err := jose.GenerateKey(jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	// The same kid as the registered key, other key material.
	impostor, err := jose.GenerateKey(jose.ES256, jose.WithKeyID(key.KeyID()))
	if err != nil {
		t.Fatal(err)
	}
	e.addConfidential(t, "secret-client")

	now := time.Now()
	good := assertion(t, key, assertionClaims("signer", "signer", e.Issuer, now.Add(time.Minute)))

	tests := []struct {
		name      string
		assertion string
		clientID  string
		typ       string
		wantCode  string // "" for success
	}{
		{name: "aud issuer", assertion: good},
		{name: "replay", assertion: good, wantCode: oauth.CodeInvalidClient},
		{name: "aud token endpoint", assertion: assertion(t, key, assertionClaims("signer", "signer", e.url(server.PathToken), now.Add(time.Minute)))},
		{name: "aud array", assertion: assertion(t, key, map[string]any{"iss": "signer", "sub": "signer", "aud": []string{"https://elsewhere.test", e.Issuer}, "exp": now.Add(time.Minute).Unix(), "jti": "array-aud"})},
		{name: "with matching client_id", clientID: "signer", assertion: assertion(t, key, assertionClaims("signer", "signer", e.Issuer, now.Add(time.Minute)))},
		{name: "exp too far", assertion: assertion(t, key, assertionClaims("signer", "signer", e.Issuer, now.Add(10*time.Minute))), wantCode: oauth.CodeInvalidClient},
		{name: "expired", assertion: assertion(t, key, assertionClaims("signer", "signer", e.Issuer, now.Add(-2*time.Minute))), wantCode: oauth.CodeInvalidClient},
		{name: "wrong key", assertion: assertion(t, otherKey, assertionClaims("signer", "signer", e.Issuer, now.Add(time.Minute))), wantCode: oauth.CodeInvalidClient},
		{name: "wrong key same kid", assertion: assertion(t, impostor, assertionClaims("signer", "signer", e.Issuer, now.Add(time.Minute))), wantCode: oauth.CodeInvalidClient},
		{name: "foreign audience", assertion: assertion(t, key, assertionClaims("signer", "signer", "https://elsewhere.test", now.Add(time.Minute))), wantCode: oauth.CodeInvalidClient},
		{name: "iss differs from sub", assertion: assertion(t, key, assertionClaims("someone", "signer", e.Issuer, now.Add(time.Minute))), wantCode: oauth.CodeInvalidClient},
		{name: "no jti", assertion: assertion(t, key, map[string]any{"iss": "signer", "sub": "signer", "aud": e.Issuer, "exp": now.Add(time.Minute).Unix()}), wantCode: oauth.CodeInvalidClient},
		{name: "no exp", assertion: assertion(t, key, map[string]any{"iss": "signer", "sub": "signer", "aud": e.Issuer, "jti": "no-exp"}), wantCode: oauth.CodeInvalidClient},
		{name: "client_id differs", clientID: "secret-client", assertion: assertion(t, key, assertionClaims("signer", "signer", e.Issuer, now.Add(time.Minute))), wantCode: oauth.CodeInvalidClient},
		{name: "wrong assertion type", typ: "urn:example:other", assertion: assertion(t, key, assertionClaims("signer", "signer", e.Issuer, now.Add(time.Minute))), wantCode: oauth.CodeInvalidClient},
		{name: "not a JWS", assertion: "not.a.jws", wantCode: oauth.CodeInvalidClient},
		{name: "HS256 with a guessed secret", assertion: func() string {
			k, err := jose.NewKey(jose.HS256, []byte("0123456789abcdef0123456789abcdef"))
			if err != nil {
				t.Fatal(err)
			}
			return assertion(t, k, assertionClaims("signer", "signer", e.Issuer, now.Add(time.Minute)))
		}(), wantCode: oauth.CodeInvalidClient},
		{name: "secret client cannot use an assertion", assertion: assertion(t, key, assertionClaims("secret-client", "secret-client", e.Issuer, now.Add(time.Minute))), wantCode: oauth.CodeInvalidClient},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			typ := tc.typ
			if typ == "" {
				typ = oauth.AssertionTypeJWTBearer
			}
			form := url.Values{
				"grant_type":            {"client_credentials"},
				"client_assertion_type": {typ},
				"client_assertion":      {tc.assertion},
			}
			if tc.clientID != "" {
				form.Set("client_id", tc.clientID)
			}
			resp := e.post(t, server.PathToken, form)
			if tc.wantCode != "" {
				wantOAuthError(t, resp, http.StatusUnauthorized, tc.wantCode)
				return
			}
			if resp.Status != http.StatusOK {
				t.Fatalf("token: %s", resp)
			}
			var tr tokenResponse
			decodeJSON(t, resp.Body, &tr)
			c, _ := verifyAccessToken(t, e, tr.AccessToken, e.Issuer)
			if c.Sub != "signer" || c.ClientID != "signer" {
				t.Errorf("sub %q client_id %q, want signer", c.Sub, c.ClientID)
			}
		})
	}

	// x/oauth2 sends an assertion as endpoint parameters, with client_id in
	// the body (AuthStyleInParams, no secret).
	t.Run("x/oauth2 with endpoint params", func(t *testing.T) {
		cfg := clientcredentials.Config{
			ClientID:  "signer",
			TokenURL:  e.url(server.PathToken),
			AuthStyle: oauth2.AuthStyleInParams,
			Scopes:    []string{scopeRead},
			EndpointParams: url.Values{
				"client_assertion_type": {oauth.AssertionTypeJWTBearer},
				"client_assertion":      {assertion(t, key, assertionClaims("signer", "signer", e.Issuer, time.Now().Add(time.Minute)))},
			},
		}
		tok, err := cfg.Token(context.WithValue(context.Background(), oauth2.HTTPClient, e.Client))
		if err != nil {
			t.Fatalf("token: %v", err)
		}
		if c, _ := verifyAccessToken(t, e, tok.AccessToken, e.Issuer); c.Scope != scopeRead {
			t.Errorf("scope = %q", c.Scope)
		}
	})

	// Two concurrent uses of one assertion: exactly one succeeds.
	t.Run("concurrent replay", func(t *testing.T) {
		a := assertion(t, key, assertionClaims("signer", "signer", e.Issuer, time.Now().Add(time.Minute)))
		form := url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {oauth.AssertionTypeJWTBearer}, "client_assertion": {a}}
		const n = 8
		statuses := make(chan int, n)
		for range n {
			go func() {
				resp, err := e.Client.PostForm(e.url(server.PathToken), form)
				if err != nil {
					statuses <- -1
					return
				}
				resp.Body.Close()
				statuses <- resp.StatusCode
			}()
		}
		counts := map[int]int{}
		for range n {
			counts[<-statuses]++
		}
		if counts[http.StatusOK] != 1 || counts[http.StatusUnauthorized] != n-1 {
			t.Errorf("statuses %v, want one 200 and %d 401", counts, n-1)
		}
	})
}

// introspection is a decoded RFC 7662 response.
type introspection map[string]any

func (e *testEnv) introspect(t testing.TB, token string, mods ...func(*http.Request)) (*response, introspection) {
	t.Helper()
	resp := e.post(t, server.PathIntrospect, url.Values{"token": {token}}, mods...)
	if resp.Status != http.StatusOK {
		return resp, nil
	}
	var in introspection
	decodeJSON(t, resp.Body, &in)
	return resp, in
}

func wantInactive(t testing.TB, resp *response, in introspection) {
	t.Helper()
	if resp.Status != http.StatusOK {
		t.Fatalf("introspect: %s", resp)
	}
	if len(in) != 1 || in["active"] != false {
		t.Errorf("introspection = %s, want exactly {\"active\":false}", resp.Body)
	}
}

func wantActive(t testing.TB, e *testEnv, resp *response, in introspection, clientID, scope string, aud []string) {
	t.Helper()
	if resp.Status != http.StatusOK {
		t.Fatalf("introspect: %s", resp)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q", cc)
	}
	if in["active"] != true {
		t.Fatalf("introspection = %s, want active", resp.Body)
	}
	for k, want := range map[string]any{"client_id": clientID, "sub": clientID, "scope": scope, "iss": e.Issuer, "token_type": "Bearer"} {
		if in[k] != want {
			t.Errorf("%s = %v, want %v", k, in[k], want)
		}
	}
	exp, err := in["exp"].(json.Number).Int64()
	if err != nil || time.Until(time.Unix(exp, 0)) <= 0 || time.Until(time.Unix(exp, 0)) > time.Hour+time.Minute {
		t.Errorf("exp = %v, want a near future time", in["exp"])
	}
	var gotAud []string
	switch a := in["aud"].(type) {
	case string:
		gotAud = []string{a}
	case []any:
		for _, v := range a {
			s, _ := v.(string)
			gotAud = append(gotAud, s)
		}
	}
	if !slices.Equal(gotAud, aud) {
		t.Errorf("aud = %v, want %v", in["aud"], aud)
	}
}

func TestIntrospection(t *testing.T) {
	e := newEnv(t, envOptions{})
	rsSecret := e.addConfidential(t, "resource-server", withGrants(), withAudiences(audOrders))
	jwtSecret := e.addConfidential(t, "billing", withAudiences(audOrders))
	opqSecret := e.addConfidential(t, "billing-opaque", opaqueFormat(), withAudiences(audOrders, audBilling))
	e.addPublic(t, "spa")
	keyClient := e.addKeyJWT(t, "rs-keyjwt", withGrants(), withAudiences(audOrders))

	jwtTok := e.token(t, "billing", jwtSecret, url.Values{"scope": {scopeRead}}).AccessToken
	opqTok := e.token(t, "billing-opaque", opqSecret, url.Values{"resource": {audOrders, audBilling}}).AccessToken
	rs := basic("resource-server", rsSecret)

	// A JWT from another issuer with the same kid: not ours, so inactive.
	foreignKey, _ := jose.GenerateKey(jose.ES256, jose.WithKeyID(ringKids(e.Ring, keys.Active)[0]))
	foreign, _ := jose.Sign(foreignKey, []byte(`{"iss":"`+e.Issuer+`","sub":"billing","client_id":"billing","aud":"x","exp":`+strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)+`,"jti":"j"}`), &jose.SignOptions{Type: "at+jwt"})

	t.Run("active", func(t *testing.T) {
		tests := []struct {
			name, token, client, scope string
			aud                        []string
		}{
			{"jwt", jwtTok, "billing", scopeRead, []string{audOrders}},
			{"opaque", opqTok, "billing-opaque", scopeRead + " " + scopeWrite, []string{audOrders, audBilling}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				resp, in := e.introspect(t, tc.token, rs)
				wantActive(t, e, resp, in, tc.client, tc.scope, tc.aud)
			})
		}
	})

	t.Run("private_key_jwt caller", func(t *testing.T) {
		form := url.Values{
			"token":                 {jwtTok},
			"client_assertion_type": {oauth.AssertionTypeJWTBearer},
			"client_assertion":      {assertion(t, keyClient, assertionClaims("rs-keyjwt", "rs-keyjwt", e.url(server.PathIntrospect), time.Now().Add(time.Minute)))},
		}
		resp := e.post(t, server.PathIntrospect, form)
		var in introspection
		decodeJSON(t, resp.Body, &in)
		wantActive(t, e, resp, in, "billing", scopeRead, []string{audOrders})
	})

	t.Run("inactive", func(t *testing.T) {
		for name, tok := range map[string]string{
			"unknown opaque":  opaque.AccessTokenPrefix + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
			"garbage":         "definitely not a token",
			"truncated jwt":   jwtTok[:len(jwtTok)-10],
			"tampered jwt":    strings.Replace(jwtTok, ".", ".e30", 1),
			"foreign jwt":     foreign,
			"huge":            strings.Repeat("A", 20000),
			"prefix only":     opaque.AccessTokenPrefix,
			"jwt as opaque":   opaque.AccessTokenPrefix + jwtTok,
			"opaque suffixed": opqTok + "x",
		} {
			t.Run(name, func(t *testing.T) {
				resp, in := e.introspect(t, tok, rs)
				wantInactive(t, resp, in)
			})
		}
	})

	t.Run("caller errors", func(t *testing.T) {
		tests := []struct {
			name   string
			form   url.Values
			mods   []func(*http.Request)
			status int
			code   string
		}{
			{"unauthenticated", url.Values{"token": {jwtTok}}, nil, http.StatusUnauthorized, oauth.CodeInvalidClient},
			{"public client", url.Values{"token": {jwtTok}, "client_id": {"spa"}}, nil, http.StatusUnauthorized, oauth.CodeInvalidClient},
			{"wrong secret", url.Values{"token": {jwtTok}}, []func(*http.Request){basic("resource-server", "wrong")}, http.StatusUnauthorized, oauth.CodeInvalidClient},
			{"missing token", url.Values{}, []func(*http.Request){rs}, http.StatusBadRequest, oauth.CodeInvalidRequest},
			{"repeated token", url.Values{"token": {jwtTok, opqTok}}, []func(*http.Request){rs}, http.StatusBadRequest, oauth.CodeInvalidRequest},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				wantOAuthError(t, e.post(t, server.PathIntrospect, tc.form, tc.mods...), tc.status, tc.code)
			})
		}
		t.Run("GET", func(t *testing.T) {
			r := e.get(t, server.PathIntrospect)
			wantOAuthError(t, r, http.StatusMethodNotAllowed, oauth.CodeInvalidRequest)
			if r.Header.Get("Allow") != http.MethodPost {
				t.Errorf("Allow = %q", r.Header.Get("Allow"))
			}
		})
	})

	t.Run("jwt response", func(t *testing.T) {
		tests := []struct {
			name, token, accept string
			active              bool
		}{
			{"active jwt", jwtTok, "application/token-introspection+jwt", true},
			{"active opaque, accept list", opqTok, "application/json;q=0.5, application/token-introspection+jwt", true},
			{"inactive", "garbage", "application/token-introspection+jwt", false},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				resp := e.post(t, server.PathIntrospect, url.Values{"token": {tc.token}}, rs, header("Accept", tc.accept))
				if resp.Status != http.StatusOK {
					t.Fatalf("introspect: %s", resp)
				}
				if ct := resp.Header.Get("Content-Type"); ct != "application/token-introspection+jwt" {
					t.Errorf("Content-Type = %q", ct)
				}
				if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
					t.Errorf("Cache-Control = %q", cc)
				}
				raw := string(resp.Body)
				// Verified with go-oidc against the JWKS endpoint...
				remote := oidc.NewRemoteKeySet(context.Background(), e.url(server.PathJWKS))
				if _, err := remote.VerifySignature(context.Background(), raw); err != nil {
					t.Fatalf("go-oidc: %v", err)
				}
				// ...and with writ's verifier, which checks typ and aud.
				ks, err := jose.ParseKeySet(e.get(t, server.PathJWKS).Body)
				if err != nil {
					t.Fatal(err)
				}
				v, err := jwt.NewVerifier(jwt.StaticKeys(ks), jwt.Config{
					Issuer: e.Issuer, Audience: "resource-server", Type: "token-introspection+jwt",
					AllowMissingExpiry: true, RequiredClaims: []string{"iat", "token_introspection"},
				})
				if err != nil {
					t.Fatal(err)
				}
				vt, err := v.Verify(context.Background(), raw)
				if err != nil {
					t.Fatalf("writ verifier: %v", err)
				}
				if vt.Header().Type != "token-introspection+jwt" {
					t.Errorf("typ = %q", vt.Header().Type)
				}
				var claims struct {
					TI map[string]any `json:"token_introspection"`
				}
				if err := vt.DecodeClaims(&claims); err != nil {
					t.Fatal(err)
				}
				if claims.TI["active"] != tc.active {
					t.Errorf("token_introspection = %v, want active %v", claims.TI, tc.active)
				}
				if tc.active && claims.TI["client_id"] == nil {
					t.Errorf("token_introspection lacks client_id: %v", claims.TI)
				}
				if !tc.active && len(claims.TI) != 1 {
					t.Errorf("inactive token_introspection = %v, want only active", claims.TI)
				}
			})
		}
	})
}

// TestIntrospectionExpired moves the server clock past the tokens' expiry.
func TestIntrospectionExpired(t *testing.T) {
	clock := realClock()
	e := newEnv(t, envOptions{Clock: clock})
	rsSecret := e.addConfidential(t, "resource-server", withGrants(), withAudiences(audOrders))
	jwtSecret := e.addConfidential(t, "billing", withTTL(time.Minute), withAudiences(audOrders))
	opqSecret := e.addConfidential(t, "billing-opaque", opaqueFormat(), withTTL(time.Minute), withAudiences(audOrders))
	jwtTok := e.token(t, "billing", jwtSecret, nil).AccessToken
	opqTok := e.token(t, "billing-opaque", opqSecret, nil).AccessToken
	rs := basic("resource-server", rsSecret)

	for _, tok := range []string{jwtTok, opqTok} {
		if _, in := e.introspect(t, tok, rs); in["active"] != true {
			t.Fatalf("fresh token inactive: %v", in)
		}
	}
	clock.Advance(time.Minute + time.Second)
	for name, tok := range map[string]string{"jwt": jwtTok, "opaque": opqTok} {
		t.Run(name, func(t *testing.T) {
			resp, in := e.introspect(t, tok, rs)
			wantInactive(t, resp, in)
		})
	}
}

func TestRevocation(t *testing.T) {
	e := newEnv(t, envOptions{})
	rsSecret := e.addConfidential(t, "resource-server", withGrants(), withAudiences(e.Issuer))
	aSecret := e.addConfidential(t, "alice")
	aoSecret := e.addConfidential(t, "alice-opaque", opaqueFormat())
	bSecret := e.addConfidential(t, "bob")
	e.addPublic(t, "spa")
	rs := basic("resource-server", rsSecret)
	alice := basic("alice", aSecret)
	aliceOpaque := basic("alice-opaque", aoSecret)
	bob := basic("bob", bSecret)

	revoke := func(t *testing.T, form url.Values, mods ...func(*http.Request)) *response {
		t.Helper()
		return e.post(t, server.PathRevoke, form, mods...)
	}
	want200 := func(t *testing.T, r *response) {
		t.Helper()
		if r.Status != http.StatusOK {
			t.Fatalf("revoke: %s", r)
		}
		if r.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("Cache-Control = %q", r.Header.Get("Cache-Control"))
		}
	}

	t.Run("own opaque token", func(t *testing.T) {
		tok := e.token(t, "alice-opaque", aoSecret, nil).AccessToken
		want200(t, revoke(t, url.Values{"token": {tok}, "token_type_hint": {"access_token"}}, aliceOpaque))
		resp, in := e.introspect(t, tok, rs)
		wantInactive(t, resp, in)
		// Revoking again is fine.
		want200(t, revoke(t, url.Values{"token": {tok}}, aliceOpaque))
	})
	t.Run("own jwt", func(t *testing.T) {
		tok := e.token(t, "alice", aSecret, nil).AccessToken
		other := e.token(t, "alice", aSecret, nil).AccessToken
		want200(t, revoke(t, url.Values{"token": {tok}}, alice))
		resp, in := e.introspect(t, tok, rs)
		wantInactive(t, resp, in)
		// Only that jti: another token of the same client stays active.
		if _, in := e.introspect(t, other, rs); in["active"] != true {
			t.Errorf("a second token of the client was revoked too: %v", in)
		}
		// The signature still verifies: revocation is seen by introspection.
		verifyAccessToken(t, e, tok, e.Issuer)
	})
	t.Run("another client's tokens", func(t *testing.T) {
		jwtTok := e.token(t, "alice", aSecret, nil).AccessToken
		opqTok := e.token(t, "alice-opaque", aoSecret, nil).AccessToken
		for _, tok := range []string{jwtTok, opqTok} {
			want200(t, revoke(t, url.Values{"token": {tok}}, bob))
			want200(t, revoke(t, url.Values{"token": {tok}, "client_id": {"spa"}}))
			if _, in := e.introspect(t, tok, rs); in["active"] != true {
				t.Errorf("bob revoked alice's token: %v", in)
			}
		}
	})
	t.Run("unknown token", func(t *testing.T) {
		for _, tok := range []string{"garbage", opaque.AccessTokenPrefix + "unknown", "a.b.c", strings.Repeat("x", 20000)} {
			want200(t, revoke(t, url.Values{"token": {tok}}, alice))
		}
	})
	t.Run("errors", func(t *testing.T) {
		tests := []struct {
			name   string
			form   url.Values
			mods   []func(*http.Request)
			status int
			code   string
		}{
			{"missing token", url.Values{}, []func(*http.Request){alice}, http.StatusBadRequest, oauth.CodeInvalidRequest},
			{"empty token", url.Values{"token": {""}}, []func(*http.Request){alice}, http.StatusBadRequest, oauth.CodeInvalidRequest},
			{"unauthenticated", url.Values{"token": {"x"}}, nil, http.StatusUnauthorized, oauth.CodeInvalidClient},
			{"wrong secret", url.Values{"token": {"x"}}, []func(*http.Request){basic("alice", "nope")}, http.StatusUnauthorized, oauth.CodeInvalidClient},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				wantOAuthError(t, revoke(t, tc.form, tc.mods...), tc.status, tc.code)
			})
		}
	})
}

func TestHealth(t *testing.T) {
	e := newEnv(t, envOptions{})
	tests := []struct {
		path string
		want map[string]any
	}{
		{server.PathHealth, map[string]any{"status": "ok"}},
		{server.PathReady, map[string]any{"database": "ok", "signing_key": "ok"}},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			r := e.get(t, tc.path)
			if r.Status != http.StatusOK {
				t.Fatalf("GET %s: %s", tc.path, r)
			}
			var got map[string]any
			decodeJSON(t, r.Body, &got)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("GET %s = %v, want %v", tc.path, got, tc.want)
			}
			if r.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control = %q", r.Header.Get("Cache-Control"))
			}
		})
	}

	t.Run("not ready without an active key", func(t *testing.T) {
		e := newEnv(t, envOptions{Rotations: 1}) // a next key only
		r := e.get(t, server.PathReady)
		var got map[string]any
		decodeJSON(t, r.Body, &got)
		if r.Status != http.StatusServiceUnavailable || got["signing_key"] == "ok" || got["database"] != "ok" {
			t.Errorf("readyz = %d %s, want 503 with signing_key not ok", r.Status, r.Body)
		}
		if r := e.get(t, server.PathHealth); r.Status != http.StatusOK {
			t.Errorf("healthz = %d, want 200 (liveness does not depend on keys)", r.Status)
		}
	})
	t.Run("not ready without the database", func(t *testing.T) {
		e := newEnv(t, envOptions{})
		if err := e.Store.Close(); err != nil {
			t.Fatal(err)
		}
		r := e.get(t, server.PathReady)
		var got map[string]any
		decodeJSON(t, r.Body, &got)
		if r.Status != http.StatusServiceUnavailable || got["database"] == "ok" || got["signing_key"] != "ok" {
			t.Errorf("readyz = %d %s, want 503 with database not ok", r.Status, r.Body)
		}
	})
}

// TestIntrospectionJSON: further claims never repeat or replace the
// members of RFC 7662, and an inactive response says nothing else.
func TestIntrospectionJSON(t *testing.T) {
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	tests := []struct {
		name string
		in   server.Introspection
		want string
	}{
		{"inactive", server.Introspection{}, `{"active":false}`},
		{"inactive with extras", server.Introspection{Extra: map[string]json.RawMessage{"active": raw("true"), "act": raw(`{"sub":"x"}`)}}, `{"active":false}`},
		{"active with extras", server.Introspection{Active: true, Scope: "read", Extra: map[string]json.RawMessage{"act": raw(`{"sub":"x"}`)}}, `{"active":true,"scope":"read","act":{"sub":"x"}}`},
		{"extras cannot override", server.Introspection{Active: true, Scope: "read", ClientID: "c", Extra: map[string]json.RawMessage{
			"active": raw("false"), "scope": raw(`"admin"`), "client_id": raw(`"other"`), "sub": raw(`"root"`), "aud": raw(`"x"`),
			"iss": raw(`"x"`), "exp": raw("1"), "iat": raw("1"), "jti": raw(`"x"`), "token_type": raw(`"x"`), "cnf": raw(`{"jkt":"t"}`),
		}}, `{"active":true,"scope":"read","client_id":"c","cnf":{"jkt":"t"}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tc.want {
				t.Errorf("got  %s\nwant %s", b, tc.want)
			}
		})
	}
}

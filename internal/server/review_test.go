package server_test

// Regression tests for defects found in a security review of the
// authorization server and browser sign-in. Each test names the rule it
// holds the server to.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/writ-dev/writ/internal/authn"
	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/server"
	"github.com/writ-dev/writ/internal/store"
)

// jwtPayload decodes the payload of a compact JWS without verifying it.
func jwtPayload(t testing.TB, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %q", token)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("JWS payload: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("JWS payload: %v", err)
	}
	return m
}

// TestReviewRevokeRefreshToken: RFC 7009 §2 — the revocation endpoint MUST
// support refresh tokens. Before the fix a refresh token sent to the
// revocation endpoint was answered 200 and stayed usable.
func TestReviewRevokeRefreshToken(t *testing.T) {
	ce := newCodeEnv(t)
	for _, hint := range []string{"", "refresh_token"} {
		t.Run("hint="+hint, func(t *testing.T) {
			tok := ce.tokens(t, "")
			if tok.RefreshToken == "" {
				t.Fatal("no refresh token")
			}
			// Another client cannot revoke it.
			form := url.Values{"token": {tok.RefreshToken}}
			if hint != "" {
				form.Set("token_type_hint", hint)
			}
			if resp := ce.post(t, server.PathRevoke, form, basic("otherapp", ce.secrets["otherapp"])); resp.Status != http.StatusOK {
				t.Fatalf("revoke by another client: %s", resp)
			}
			next := decodeTokens(t, ce.refreshAs(t, "webapp", tok.RefreshToken, nil))
			// Its own client can.
			form.Set("token", next.RefreshToken)
			resp := ce.post(t, server.PathRevoke, form, basic("webapp", ce.secrets["webapp"]))
			if resp.Status != http.StatusOK {
				t.Fatalf("revoke: %s", resp)
			}
			if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", cc)
			}
			wantOAuthError(t, ce.refreshAs(t, "webapp", next.RefreshToken, nil), http.StatusBadRequest, oauth.CodeInvalidGrant)
		})
	}
	t.Run("public client", func(t *testing.T) {
		e := newSignInEnv(t, envOptions{})
		e.addUser(t, "u-alice", "alice", alicePassword)
		cb := newCallbackServer(t)
		redirect := cb.URL + "/callback"
		e.addPublic(t, "native", webApp(redirect))
		rp := e.newRP(t, "native", "", redirect, webScopes...)
		_, tok, _ := rp.signIn(t, e, e.newBrowser(t), user{Username: "alice", Password: alicePassword})
		resp := e.post(t, server.PathRevoke, url.Values{"token": {tok.RefreshToken}, "client_id": {"native"}})
		if resp.Status != http.StatusOK {
			t.Fatalf("revoke: %s", resp)
		}
		if _, err := rp.refresh(tok.RefreshToken); err == nil {
			t.Fatal("the revoked refresh token still refreshes")
		}
	})
}

// TestReviewCodeReuseRevokesOpaqueAccessToken: RFC 6749 §4.1.2 / RFC 9700
// §4.5 — a second use of a code revokes the tokens the first use issued;
// that held for JWT access tokens only, not for opaque ones.
func TestReviewCodeReuseRevokesOpaqueAccessToken(t *testing.T) {
	e := newSignInEnv(t, envOptions{})
	e.addUser(t, "u-alice", "alice", alicePassword)
	cb := newCallbackServer(t)
	redirect := cb.URL + "/callback"
	secret := e.addConfidential(t, "opaqueapp", webApp(redirect), opaqueFormat())
	introspector := e.addConfidential(t, "rs", withAudiences(e.Issuer))
	rp := e.newRP(t, "opaqueapp", secret, redirect, webScopes...)
	b := e.newBrowser(t)
	rp.signIn(t, e, b, user{Username: "alice", Password: alicePassword})

	for _, scope := range []string{"openid profile", "openid offline_access"} {
		t.Run(scope, func(t *testing.T) {
			r := rp.authorize(oauth2.SetAuthURLParam("scope", scope))
			_, p := b.run(t, r.URL, user{})
			code := e.callback(t, p, redirect, r.State)
			form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}, "code_verifier": {r.Verifier}}
			first := decodeTokens(t, e.post(t, server.PathToken, form, basic("opaqueapp", secret)))
			if !strings.HasPrefix(first.AccessToken, "writ_at_") {
				t.Fatalf("access token %q is not opaque", first.AccessToken)
			}
			resp, in := e.introspect(t, first.AccessToken, basic("rs", introspector))
			if in["active"] != true {
				t.Fatalf("the first access token is not active: %s", resp)
			}
			wantOAuthError(t, e.post(t, server.PathToken, form, basic("opaqueapp", secret)), http.StatusBadRequest, oauth.CodeInvalidGrant)
			resp, in = e.introspect(t, first.AccessToken, basic("rs", introspector))
			wantInactive(t, resp, in)
			info := e.get(t, server.PathUserInfo, header("Authorization", "Bearer "+first.AccessToken))
			if info.Status != http.StatusUnauthorized {
				t.Errorf("UserInfo with the revoked token: %s", info)
			}
		})
	}
}

// TestReviewClaimsBeyondConsent: the claims parameter (OIDC Core §5.5) can
// release claims no requested scope covers. The user must see and approve
// them (RFC 6749 §10.2 / OIDC Core §3.1.2.4); before the fix a client that
// held a consent for "openid" alone got the user's phone number, address
// and custom attributes without any consent page, even with prompt=none.
func TestReviewClaimsBeyondConsent(t *testing.T) {
	e := newSignInEnv(t, envOptions{})
	e.addUser(t, "u-alice", "alice", alicePassword, named("Alice", "alice@example.test"), func(u *store.User) {
		u.PhoneNumber = "+1 555 0100"
		u.Attributes = map[string]json.RawMessage{"salary": json.RawMessage(`120000`)}
	})
	cb := newCallbackServer(t)
	redirect := cb.URL + "/callback"
	secret := e.addConfidential(t, "webapp", webApp(redirect))
	fpSecret := e.addConfidential(t, "portal", webApp(redirect), firstParty())
	rp := e.newRP(t, "webapp", secret, redirect, scopeOpenID)
	portal := e.newRP(t, "portal", fpSecret, redirect, scopeOpenID)
	b := e.newBrowser(t)
	alice := user{Username: "alice", Password: alicePassword}

	// Consent to "openid" only.
	_, _, seen := rp.signIn(t, e, b, alice)
	if len(seen) != 2 || seen[1] != pageConsent {
		t.Fatalf("first sign-in showed %v, want [login consent]", seen)
	}
	consent, err := e.Store.GetConsent(context.Background(), "u-alice", "webapp")
	if err != nil {
		t.Fatal(err)
	}

	extra := `{"id_token":{"phone_number":null,"salary":null},"userinfo":{"address":null}}`
	t.Run("prompt=none", func(t *testing.T) {
		r := rp.authorize(oauth2.SetAuthURLParam("claims", extra), oauth2.SetAuthURLParam("prompt", "none"))
		wantRedirectError(t, e, b.get(t, r.URL), redirect, "consent_required", r.State)
	})
	t.Run("consent page lists the claims", func(t *testing.T) {
		r := rp.authorize(oauth2.SetAuthURLParam("claims", extra))
		p := b.get(t, r.URL)
		p.want(t, pageConsent)
		for _, c := range []string{"phone_number", "salary", "address"} {
			if !strings.Contains(p.Body, `<code class="scope-name">`+c+`</code>`) {
				t.Errorf("consent page does not list the claim %s", c)
			}
		}
		p = b.consent(t, p, "approve")
		code := e.callback(t, p, redirect, r.State)
		tok := rp.exchange(t, code, r)
		claims := jwtPayload(t, tok.Extra("id_token").(string))
		if claims["phone_number"] != "+1 555 0100" || claims["salary"] == nil {
			t.Errorf("approved claims not in the ID token: %v", claims)
		}
		// The remembered consent is unchanged: it covers scopes.
		now, err := e.Store.GetConsent(context.Background(), "u-alice", "webapp")
		if err != nil || strings.Join(now.Scopes, " ") != strings.Join(consent.Scopes, " ") {
			t.Errorf("consent scopes %v, want %v (%v)", now.Scopes, consent.Scopes, err)
		}
	})
	t.Run("deny", func(t *testing.T) {
		r := rp.authorize(oauth2.SetAuthURLParam("claims", extra))
		p := b.consent(t, b.get(t, r.URL), "deny")
		wantRedirectError(t, e, p, redirect, oauth.CodeAccessDenied, r.State)
	})
	// Claims that ask nothing beyond the consent need no page.
	for name, claims := range map[string]string{
		"protocol claims":             `{"id_token":{"auth_time":{"essential":true},"acr":null,"sub":null}}`,
		"claims of a consented scope": `{"id_token":{"email":null,"email_verified":null}}`,
		"empty request":               `{}`,
		"claims for unknown targets":  `{"other":{"phone_number":null}}`,
		"null targets":                `{"id_token":null,"userinfo":null}`,
		"claim named like a scope":    `{"userinfo":{"openid":null}}`,
	} {
		t.Run("no page/"+name, func(t *testing.T) {
			scope := "openid"
			if strings.Contains(claims, "email") {
				scope = "openid email"
				// Consent to email first.
				r := rp.authorize(oauth2.SetAuthURLParam("scope", scope))
				_, p := b.run(t, r.URL, alice)
				e.callback(t, p, redirect, r.State)
			}
			r := rp.authorize(oauth2.SetAuthURLParam("claims", claims), oauth2.SetAuthURLParam("scope", scope), oauth2.SetAuthURLParam("prompt", "none"))
			code := e.callback(t, b.get(t, r.URL), redirect, r.State)
			rp.exchange(t, code, r)
		})
	}
	t.Run("first-party client", func(t *testing.T) {
		r := portal.authorize(oauth2.SetAuthURLParam("claims", extra), oauth2.SetAuthURLParam("prompt", "none"))
		code := e.callback(t, b.get(t, r.URL), redirect, r.State)
		tok := portal.exchange(t, code, r)
		if claims := jwtPayload(t, tok.Extra("id_token").(string)); claims["phone_number"] != "+1 555 0100" {
			t.Errorf("first-party client: phone_number not released: %v", claims)
		}
	})
}

// TestReviewMalformedAuthorizeInput: input the store cannot keep (a claims
// parameter that is not a claims request, a nonce that is not UTF-8 text)
// must be refused at the authorization endpoint with invalid_request
// (OIDC Core §5.5, RFC 6749 §4.1.2.1), not end in a 500 page once the code
// is stored.
func TestReviewMalformedAuthorizeInput(t *testing.T) {
	e := newSignInEnv(t, envOptions{})
	e.addUser(t, "u-alice", "alice", alicePassword)
	cb := newCallbackServer(t)
	redirect := cb.URL + "/callback"
	secret := e.addConfidential(t, "webapp", webApp(redirect))
	rp := e.newRP(t, "webapp", secret, redirect, webScopes...)
	b := e.newBrowser(t)
	rp.signIn(t, e, b, user{Username: "alice", Password: alicePassword})

	for name, param := range map[string][2]string{
		"claims not JSON":            {"claims", "not json"},
		"claims not an object":       {"claims", `[1,2]`},
		"claims target not object":   {"claims", `{"id_token":[1]}`},
		"claims duplicate members":   {"claims", `{"id_token":{"email":null,"email":null}}`},
		"claims with invalid UTF-8":  {"claims", "{\"id_token\":{\"\xff\":null}}"},
		"nonce with NUL":             {"nonce", "a\x00b"},
		"nonce with invalid UTF-8":   {"nonce", "\xff\xfe"},
		"login_hint with NUL":        {"login_hint", "alice\x00"},
		"state with invalid UTF-8":   {"state", "s\xff"},
		"ui_locales with bad UTF-8":  {"ui_locales", "\xc3"},
		"claims at the size limit+1": {"claims", `{"id_token":{"x":"` + strings.Repeat("a", 4096) + `"}}`},
	} {
		t.Run(name, func(t *testing.T) {
			r := rp.authorize(oauth2.SetAuthURLParam(param[0], param[1]))
			p := b.get(t, r.URL)
			if p.Status >= 500 {
				t.Fatalf("got %s", p)
			}
			state := r.State
			if param[0] == "state" {
				state = param[1]
			}
			wantRedirectError(t, e, p, redirect, oauth.CodeInvalidRequest, state)
		})
	}
}

// TestReviewConsentKeepsLoginRequirement: prompt=login and max_age (OIDC
// Core §3.1.2.1) demand a fresh sign-in. The consent form must not issue a
// code for a request that still needs one: before the fix, posting the
// sealed request of the login page to /consent skipped the sign-in and
// returned a code with the old auth_time.
func TestReviewConsentKeepsLoginRequirement(t *testing.T) {
	e := newSignInEnv(t, envOptions{})
	e.addUser(t, "u-alice", "alice", alicePassword)
	cb := newCallbackServer(t)
	redirect := cb.URL + "/callback"
	secret := e.addConfidential(t, "webapp", webApp(redirect))
	rp := e.newRP(t, "webapp", secret, redirect, webScopes...)
	b := e.newBrowser(t)
	alice := user{Username: "alice", Password: alicePassword}
	rp.signIn(t, e, b, alice)
	e.Clock.Advance(10 * time.Minute)

	for name, params := range map[string]map[string]string{
		"prompt=login":  {"prompt": "login"},
		"max_age=0":     {"max_age": "0"},
		"max_age=60":    {"max_age": "60"},
		"prompt=login2": {"prompt": "login consent"},
	} {
		t.Run("bypass/"+name, func(t *testing.T) {
			var opts []oauth2.AuthCodeOption
			for k, v := range params {
				opts = append(opts, oauth2.SetAuthURLParam(k, v))
			}
			r := rp.authorize(opts...)
			p := b.get(t, r.URL)
			p.want(t, pageLogin)
			form := url.Values{}
			for k, v := range p.Hidden {
				form[k] = v
			}
			form.Set("decision", "approve")
			p = b.postForm(t, server.PathConsent, form)
			if p.Kind() == pageRedirect {
				t.Fatalf("the consent form issued a code without the sign-in the request demands: %s", p)
			}
			p.want(t, pageLogin)
		})
		t.Run("honest/"+name, func(t *testing.T) {
			var opts []oauth2.AuthCodeOption
			for k, v := range params {
				opts = append(opts, oauth2.SetAuthURLParam(k, v))
			}
			before := e.Clock.Now().Truncate(time.Second)
			r := rp.authorize(opts...)
			seen, p := b.run(t, r.URL, alice)
			if len(seen) == 0 || seen[0] != pageLogin {
				t.Errorf("pages %v, want a sign-in first", seen)
			}
			code := e.callback(t, p, redirect, r.State)
			_, c := rp.verifyIDToken(t, rp.exchange(t, code, r), r.Nonce)
			if c.AuthTime < before.Unix() {
				t.Errorf("auth_time %d is before the request (%d)", c.AuthTime, before.Unix())
			}
			e.Clock.Advance(10 * time.Minute)
		})
	}
}

// TestReviewIDTokenHintType: id_token_hint must be an ID token (OIDC
// RP-Initiated Logout 1.0 §2, RFC 8725 §3.11): other JWTs the server signs
// (introspection responses, logout tokens) were accepted as well.
func TestReviewIDTokenHintType(t *testing.T) {
	ce := newCodeEnv(t)
	tok := ce.tokens(t, "")
	req := ce.request(t, http.MethodPost, server.PathIntrospect, formType, url.Values{"token": {tok.AccessToken}}.Encode())
	basic("otherapp", ce.secrets["otherapp"])(req)
	req.Header.Set("Accept", "application/token-introspection+jwt")
	resp := ce.do(t, req)
	if resp.Status != http.StatusOK {
		t.Fatalf("introspect: %s", resp)
	}
	p := ce.b.get(t, server.PathEndSession+"?"+url.Values{"id_token_hint": {string(resp.Body)}}.Encode())
	wantErrorPage(t, p, http.StatusBadRequest)
	if ce.b.cookie(authn.DefaultSessionCookie) == "" {
		t.Error("a refused logout request ended the session")
	}
	// A real ID token still works.
	p = ce.b.get(t, server.PathEndSession+"?"+url.Values{"id_token_hint": {tok.IDToken}}.Encode())
	if p.Status != http.StatusOK {
		t.Errorf("logout with an ID token: %s", p)
	}
}

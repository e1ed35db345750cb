package server_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"golang.org/x/oauth2"

	"github.com/writ-dev/writ/internal/server"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
)

// TestIntrospectionPolicy: RFC 7662 §4 — a client sees an access token as
// active only when it is the token's client or is registered for one of
// the token's audiences (it is that resource server); anything else gets
// {"active":false}, in JSON and in the signed response of RFC 9701.
func TestIntrospectionPolicy(t *testing.T) {
	e := newEnv(t, envOptions{})
	ordersSecret := e.addConfidential(t, "orders-api", withGrants(), withAudiences(audOrders))
	billingSecret := e.addConfidential(t, "billing-api", withGrants(), withAudiences(audBilling))
	plainSecret := e.addConfidential(t, "bystander")
	jwtSecret := e.addConfidential(t, "app", withAudiences(audOrders, audBilling))
	opqSecret := e.addConfidential(t, "app-opaque", opaqueFormat(), withAudiences(audOrders, audBilling))

	toOrders := url.Values{"resource": {audOrders}}
	toBoth := url.Values{"resource": {audOrders, audBilling}}
	tokens := map[string]struct {
		token, client string
		aud           []string
	}{
		"jwt for orders":     {e.token(t, "app", jwtSecret, toOrders).AccessToken, "app", []string{audOrders}},
		"jwt for both":       {e.token(t, "app", jwtSecret, toBoth).AccessToken, "app", []string{audOrders, audBilling}},
		"opaque for orders":  {e.token(t, "app-opaque", opqSecret, toOrders).AccessToken, "app-opaque", []string{audOrders}},
		"opaque for both":    {e.token(t, "app-opaque", opqSecret, toBoth).AccessToken, "app-opaque", []string{audOrders, audBilling}},
		"jwt for the issuer": {e.token(t, "bystander", plainSecret, nil).AccessToken, "bystander", []string{e.Issuer}},
	}
	callers := map[string]func(*http.Request){
		"app":         basic("app", jwtSecret),
		"app-opaque":  basic("app-opaque", opqSecret),
		"orders-api":  basic("orders-api", ordersSecret),
		"billing-api": basic("billing-api", billingSecret),
		"bystander":   basic("bystander", plainSecret),
	}
	// Who may see what: the token's own client, and every client registered
	// for one of its audiences (app and app-opaque are registered for both
	// APIs, so they see each other's tokens; bystander is registered for
	// none and sees only its own).
	visible := map[string]map[string]bool{
		"jwt for orders":     {"app": true, "app-opaque": true, "orders-api": true},
		"jwt for both":       {"app": true, "app-opaque": true, "orders-api": true, "billing-api": true},
		"opaque for orders":  {"app": true, "app-opaque": true, "orders-api": true},
		"opaque for both":    {"app": true, "app-opaque": true, "orders-api": true, "billing-api": true},
		"jwt for the issuer": {"bystander": true},
	}
	for tn, tok := range tokens {
		for cn, auth := range callers {
			t.Run(tn+" by "+cn, func(t *testing.T) {
				resp, in := e.introspect(t, tok.token, auth)
				if !visible[tn][cn] {
					wantInactive(t, resp, in)
					if active := introspectJWT(t, e, tok.token, cn, auth); active {
						t.Error("the RFC 9701 response shows the token as active")
					}
					return
				}
				wantActive(t, e, resp, in, tok.client, scopeRead+" "+scopeWrite, tok.aud)
				if active := introspectJWT(t, e, tok.token, cn, auth); !active {
					t.Error("the RFC 9701 response shows the token as inactive")
				}
			})
		}
	}
}

// introspectJWT asks for the RFC 9701 response and returns its active.
func introspectJWT(t testing.TB, e *testEnv, token, caller string, auth func(*http.Request)) bool {
	t.Helper()
	resp := e.post(t, server.PathIntrospect, url.Values{"token": {token}}, auth, header("Accept", "application/token-introspection+jwt"))
	if resp.Status != http.StatusOK {
		t.Fatalf("introspect: %s", resp)
	}
	ks, err := jose.ParseKeySet(e.get(t, server.PathJWKS).Body)
	if err != nil {
		t.Fatal(err)
	}
	v, err := jwt.NewVerifier(jwt.StaticKeys(ks), jwt.Config{
		Issuer: e.Issuer, Audience: caller, Type: "token-introspection+jwt",
		AllowMissingExpiry: true, RequiredClaims: []string{"token_introspection"},
	})
	if err != nil {
		t.Fatal(err)
	}
	vt, err := v.Verify(context.Background(), string(resp.Body))
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	var claims struct {
		TI map[string]any `json:"token_introspection"`
	}
	if err := vt.DecodeClaims(&claims); err != nil {
		t.Fatal(err)
	}
	if claims.TI["active"] != true && len(claims.TI) != 1 {
		t.Errorf("inactive token_introspection carries more: %v", claims.TI)
	}
	return claims.TI["active"] == true
}

// TestIntrospectionRefreshTokens: a refresh token introspects, with
// token_type_hint=refresh_token or without, for its own client only; a
// rotated or revoked one is inactive.
func TestIntrospectionRefreshTokens(t *testing.T) {
	ce := newCodeEnv(t)
	// A resource server registered for the audience of webapp's access
	// tokens (the issuer): it sees the access token, never the refresh token.
	rsSecret := ce.addConfidential(t, "rs", withGrants(), withAudiences(ce.Issuer))
	web := basic("webapp", ce.secrets["webapp"])
	others := map[string]func(*http.Request){
		"another web client":      basic("otherapp", ce.secrets["otherapp"]),
		"resource server for aud": basic("rs", rsSecret),
	}
	tok := ce.tokens(t, "openid offline_access")
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token")
	}
	hints := map[string]url.Values{
		"no hint":                       {},
		"hint refresh_token":            {"token_type_hint": {"refresh_token"}},
		"hint access_token (a mistake)": {"token_type_hint": {"access_token"}},
	}
	for hn, hint := range hints {
		t.Run("own client, "+hn, func(t *testing.T) {
			form := url.Values{"token": {tok.RefreshToken}}
			for k, v := range hint {
				form[k] = v
			}
			resp := ce.post(t, server.PathIntrospect, form, web)
			var in introspection
			decodeJSON(t, resp.Body, &in)
			if in["active"] != true {
				t.Fatalf("refresh token introspected by its client: %s", resp.Body)
			}
			for k, want := range map[string]any{"client_id": "webapp", "sub": "u-alice", "scope": "openid offline_access", "iss": ce.Issuer} {
				if in[k] != want {
					t.Errorf("%s = %v, want %v", k, in[k], want)
				}
			}
			if _, ok := in["exp"]; !ok {
				t.Error("no exp")
			}
			if tt, ok := in["token_type"]; ok {
				t.Errorf("token_type = %v; a refresh token is no bearer access token", tt)
			}
		})
		for on, auth := range others {
			t.Run(on+", "+hn, func(t *testing.T) {
				form := url.Values{"token": {tok.RefreshToken}}
				for k, v := range hint {
					form[k] = v
				}
				resp := ce.post(t, server.PathIntrospect, form, auth)
				var in introspection
				decodeJSON(t, resp.Body, &in)
				wantInactive(t, resp, in)
			})
		}
	}
	t.Run("the access token is the resource server's to see", func(t *testing.T) {
		resp, in := ce.introspect(t, tok.AccessToken, basic("rs", rsSecret))
		if in["active"] != true {
			t.Fatalf("access token for the rs audience: %s", resp.Body)
		}
		resp, in = ce.introspect(t, tok.AccessToken, others["another web client"])
		wantInactive(t, resp, in)
	})
	t.Run("rotated", func(t *testing.T) {
		next := decodeTokens(t, ce.refreshAs(t, "webapp", tok.RefreshToken, nil))
		resp, in := ce.introspect(t, tok.RefreshToken, web)
		wantInactive(t, resp, in)
		if _, in := ce.introspect(t, next.RefreshToken, web); in["active"] != true {
			t.Fatalf("the new refresh token is inactive: %v", in)
		}
		if r := ce.post(t, server.PathRevoke, url.Values{"token": {next.RefreshToken}}, web); r.Status != http.StatusOK {
			t.Fatalf("revoke: %s", r)
		}
		resp, in = ce.introspect(t, next.RefreshToken, web)
		wantInactive(t, resp, in)
	})
}

// TestIntrospectionHolders: a token is inactive once its client is
// deleted, or the user it acts for is disabled or deleted — JWT and opaque
// access tokens and refresh tokens alike, also when they are not revoked.
func TestIntrospectionHolders(t *testing.T) {
	ctx := context.Background()

	t.Run("deleted client", func(t *testing.T) {
		e := newEnv(t, envOptions{})
		rsSecret := e.addConfidential(t, "rs", withGrants(), withAudiences(audOrders))
		rs := basic("rs", rsSecret)
		jwtSecret := e.addConfidential(t, "app", withAudiences(audOrders))
		opqSecret := e.addConfidential(t, "app-opaque", opaqueFormat(), withAudiences(audOrders))
		toks := map[string]string{
			"jwt":    e.token(t, "app", jwtSecret, nil).AccessToken,
			"opaque": e.token(t, "app-opaque", opqSecret, nil).AccessToken,
		}
		for name, tok := range toks {
			if _, in := e.introspect(t, tok, rs); in["active"] != true {
				t.Fatalf("%s token inactive before the deletion: %v", name, in)
			}
		}
		for _, id := range []string{"app", "app-opaque"} {
			if err := e.Store.DeleteClient(ctx, id); err != nil {
				t.Fatal(err)
			}
			e.Server.Clients().Invalidate(id) // as the admin API does
		}
		for name, tok := range toks {
			t.Run(name, func(t *testing.T) {
				resp, in := e.introspect(t, tok, rs)
				wantInactive(t, resp, in)
			})
		}
	})

	t.Run("disabled or deleted user", func(t *testing.T) {
		ce := newCodeEnv(t)
		redirect := ce.redirect
		ce.secrets["opaqueweb"] = ce.addConfidential(t, "opaqueweb", webApp(redirect), opaqueFormat())
		opaqueRP := ce.newRP(t, "opaqueweb", ce.secrets["opaqueweb"], redirect, webScopes...)
		opaqueRP.signIn(t, ce.testEnv, ce.b, user{Username: "alice", Password: alicePassword})

		jwtToks := ce.tokens(t, "openid offline_access")
		code, r := ce.code(t, opaqueRP, oauth2.SetAuthURLParam("scope", "openid offline_access"))
		form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}, "code_verifier": {r.Verifier}}
		opqToks := decodeTokens(t, ce.post(t, server.PathToken, form, basic("opaqueweb", ce.secrets["opaqueweb"])))

		web := basic("webapp", ce.secrets["webapp"])
		opq := basic("opaqueweb", ce.secrets["opaqueweb"])
		cases := []struct {
			name, token string
			auth        func(*http.Request)
		}{
			{"jwt access token", jwtToks.AccessToken, web},
			{"jwt client's refresh token", jwtToks.RefreshToken, web},
			{"opaque access token", opqToks.AccessToken, opq},
			{"opaque client's refresh token", opqToks.RefreshToken, opq},
		}
		wantAll := func(t *testing.T, active bool) {
			t.Helper()
			for _, tc := range cases {
				resp, in := ce.introspect(t, tc.token, tc.auth)
				if active && in["active"] != true {
					t.Errorf("%s: inactive: %s", tc.name, resp.Body)
				}
				if !active {
					wantInactive(t, resp, in)
				}
			}
		}
		setDisabled := func(t *testing.T, disabled bool) {
			t.Helper()
			if _, err := ce.Store.UpdateUser(ctx, "u-alice", func(u store.User) (store.User, error) {
				u.Disabled = disabled
				return u, nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		wantAll(t, true)
		setDisabled(t, true)
		wantAll(t, false)
		// Nothing was revoked: the tokens are inactive because the user is.
		setDisabled(t, false)
		wantAll(t, true)
		if err := ce.Store.DeleteUser(ctx, "u-alice"); err != nil {
			t.Fatal(err)
		}
		wantAll(t, false)
	})
}

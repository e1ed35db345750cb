package interop_test

// coreos/go-oidc v3 with golang.org/x/oauth2 on their default settings: the
// endpoint and its auth style from discovery (AuthStyleAutoDetect), the
// verifier's signing algorithms from discovery (no SupportedSigningAlgs), no
// clock or issuer overrides. Only the HTTP client is set, to trust the test
// CA.

import (
	"context"
	"crypto/rand"
	"slices"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

const goRedirectURI = "http://127.0.0.1:9/go-oidc/callback"

func TestGoOIDCDefaults(t *testing.T) {
	w := startWrit(t)
	alice := w.createUser(t, "alice")

	// A web application as docs/signin.md registers one: the default
	// token_endpoint_auth_method (client_secret_basic). A second one asks
	// for client_secret_post, which x/oauth2's auto-detection also finds.
	for _, method := range []string{"", "client_secret_post"} {
		name := method
		if name == "" {
			name = "registered_by_default"
		}
		t.Run(name, func(t *testing.T) {
			md := map[string]any{
				"client_name":   "go-oidc " + name,
				"redirect_uris": []string{goRedirectURI},
				"grant_types":   []string{"authorization_code", "refresh_token"},
				"scope":         "openid profile email offline_access",
			}
			if method != "" {
				md["token_endpoint_auth_method"] = method
			}
			c := w.createClient(t, md)
			runGoOIDC(t, w, c, alice)
		})
	}
}

func runGoOIDC(t *testing.T, w *writNode, c client, u person) {
	ctx := oidc.ClientContext(context.Background(), w.HTTPClient())
	provider, err := oidc.NewProvider(ctx, w.Issuer)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	conf := oauth2.Config{
		ClientID:     c.ID,
		ClientSecret: c.Secret,
		Endpoint:     provider.Endpoint(),
		RedirectURL:  goRedirectURI,
		Scopes:       []string{oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess},
	}
	if conf.Endpoint.AuthStyle != oauth2.AuthStyleAutoDetect {
		t.Fatalf("AuthStyle = %v, want the default (auto-detect)", conf.Endpoint.AuthStyle)
	}
	verifier := provider.Verifier(&oidc.Config{ClientID: c.ID})

	state, nonce, pkce := rand.Text(), rand.Text(), oauth2.GenerateVerifier()
	authURL := conf.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(pkce))
	cb := w.newBrowser(t, u).callback(t, authURL, goRedirectURI)
	q := cb.Query()
	if q.Get("state") != state {
		t.Fatalf("state = %q, want %q", q.Get("state"), state)
	}
	if q.Get("iss") != w.Issuer {
		t.Errorf("iss = %q, want %q (RFC 9207)", q.Get("iss"), w.Issuer)
	}

	tok, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(pkce))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	idt, err := verifier.Verify(ctx, rawID)
	if err != nil {
		t.Fatalf("go-oidc rejects the ID token: %v", err)
	}
	if idt.Nonce != nonce {
		t.Errorf("nonce = %q, want %q", idt.Nonce, nonce)
	}
	if idt.Subject != u.ID {
		t.Errorf("sub = %q, want the user id %q", idt.Subject, u.ID)
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		t.Errorf("at_hash: %v", err)
	}
	var claims struct {
		Email         string `json:"email"`
		EmailVerified bool   `json:"email_verified"`
		Name          string `json:"name"`
	}
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	t.Logf("ID token verified by go-oidc: sub %s", idt.Subject)

	ui, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	if ui.Subject != u.ID || ui.Email != u.Email || !ui.EmailVerified {
		t.Errorf("userinfo sub %q email %q verified %v, want %q %q true", ui.Subject, ui.Email, ui.EmailVerified, u.ID, u.Email)
	}
	var uiClaims struct {
		Name string `json:"name"`
	}
	if err := ui.Claims(&uiClaims); err != nil || uiClaims.Name != u.Name {
		t.Errorf("userinfo name = %q (%v), want %q", uiClaims.Name, err, u.Name)
	}

	if tok.RefreshToken == "" {
		t.Fatal("no refresh token for offline_access")
	}
	fresh, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if fresh.AccessToken == "" || fresh.RefreshToken == "" || fresh.RefreshToken == tok.RefreshToken {
		t.Errorf("refresh: access token %t, refresh token rotated %t", fresh.AccessToken != "", fresh.RefreshToken != tok.RefreshToken)
	}
	if raw, _ := fresh.Extra("id_token").(string); raw != "" {
		idt2, err := verifier.Verify(ctx, raw)
		if err != nil {
			t.Fatalf("go-oidc rejects the refreshed ID token: %v", err)
		}
		if idt2.Subject != idt.Subject {
			t.Errorf("refreshed ID token sub = %q, want %q", idt2.Subject, idt.Subject)
		}
	}
	// The old refresh token is spent: x/oauth2 sees the refusal.
	if _, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err == nil {
		t.Error("a rotated refresh token was accepted again")
	}

	// The defaults accept what the server signs with: an algorithm that
	// discovery lists, and RS256 (the OIDC Registration default) for these
	// clients, registered without id_token_signed_response_alg, once the
	// server has item 14.
	algs := w.discoveryList("id_token_signing_alg_values_supported")
	alg := idAlg(t, rawID)
	if !slices.Contains(algs, alg) {
		t.Errorf("ID token alg %s not in discovery's %v", alg, algs)
	}
	if w.hasRS256IDTokens() && alg != "RS256" {
		t.Errorf("ID token alg = %s, want RS256 for a client registered without id_token_signed_response_alg", alg)
	}
}

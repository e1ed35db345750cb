package server_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/writ-dev/writ/internal/server"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/jose"
)

// TestIDTokenAlgorithm: a relying party that knows nothing of writ (go-oidc
// with its default settings, which accept RS256 alone) verifies the ID token
// of a client registered without id_token_signed_response_alg; a client
// that registered ES256 gets ES256 (OIDC Discovery §3, Registration §2).
// Discovery lists what the ring signs with, RS256 first.
func TestIDTokenAlgorithm(t *testing.T) {
	e := newSignInEnv(t, envOptions{})
	e.addUser(t, "u-alice", "alice", alicePassword, named("Alice", "alice@example.test"))
	cb := newCallbackServer(t)
	redirect := cb.URL + "/callback"

	r := e.get(t, server.PathOIDCMetadata)
	var md struct {
		Algs []string `json:"id_token_signing_alg_values_supported"`
	}
	if err := json.Unmarshal(r.Body, &md); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(md.Algs, []string{"RS256", "ES256"}) {
		t.Fatalf("id_token_signing_alg_values_supported = %v, want [RS256 ES256]", md.Algs)
	}

	for _, tc := range []struct {
		name       string
		registered string
		want       jose.Algorithm
	}{
		{"unregistered", "", jose.RS256},
		{"RS256", "RS256", jose.RS256},
		{"ES256", "ES256", jose.ES256},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := "rp-" + tc.name
			secret := e.addConfidential(t, id, webApp(redirect), func(c *store.Client) { c.IDTokenSignedResponseAlg = tc.registered })
			rp := e.newRP(t, id, secret, redirect, webScopes...)
			// go-oidc on its defaults: RS256 only, keys from the JWKS.
			keySet := oidc.NewRemoteKeySet(rp.Ctx, e.url(server.PathJWKS))
			defaults := oidc.NewVerifier(e.Issuer, keySet, &oidc.Config{ClientID: id, Now: e.Clock.Now})
			// One that accepts what the client registered.
			chosen := oidc.NewVerifier(e.Issuer, keySet, &oidc.Config{ClientID: id, Now: e.Clock.Now, SupportedSigningAlgs: []string{string(tc.want)}})

			b := e.newBrowser(t)
			req, tok, _ := rp.signIn(t, e, b, user{Username: "alice", Password: alicePassword})
			raw, _ := tok.Extra("id_token").(string)
			j, err := jose.ParseCompact(raw, 0)
			if err != nil {
				t.Fatal(err)
			}
			if j.Header.Algorithm != tc.want {
				t.Fatalf("ID token alg %s, want %s", j.Header.Algorithm, tc.want)
			}
			idt, err := chosen.Verify(rp.Ctx, raw)
			if err != nil {
				t.Fatalf("go-oidc (%s) rejects the ID token: %v", tc.want, err)
			}
			if idt.Subject != "u-alice" || idt.Nonce != req.Nonce {
				t.Errorf("sub %q nonce %q", idt.Subject, idt.Nonce)
			}
			if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
				t.Errorf("at_hash: %v", err)
			}
			_, err = defaults.Verify(rp.Ctx, raw)
			if tc.want == jose.RS256 && err != nil {
				t.Fatalf("go-oidc on its defaults rejects the ID token: %v", err)
			}
			if tc.want != jose.RS256 && err == nil {
				t.Fatal("go-oidc on its defaults (RS256 only) accepted an ES256 token: the test proves nothing")
			}
		})
	}
}

package server_test

import (
	"net/http"
	"net/url"
	"testing"

	"golang.org/x/oauth2"

	"github.com/writ-dev/writ/internal/server"
)

// TestRevokeRefreshRevokesAccess: revoking a refresh token (RFC 7009 §2.1)
// revokes the access tokens of its grant too — the one the code issued
// and the one each rotation issued — so UserInfo refuses them.
func TestRevokeRefreshRevokesAccess(t *testing.T) {
	e := newSignInEnv(t, envOptions{})
	cb := newCallbackServer(t)
	redirect := cb.URL + "/callback"
	secret := e.addConfidential(t, "webapp", webApp(redirect))
	rp := e.newRP(t, "webapp", secret, redirect, webScopes...)
	e.addUser(t, "u-r", "revoker", bobPassword, named("Re Voker", "revoker@example.test"))
	b := e.newBrowser(t)
	_, tok, _ := rp.signIn(t, e, b, user{Username: "revoker", Password: bobPassword})
	next, err := rp.refresh(tok.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range []*oauth2.Token{tok, next} {
		if _, err := rp.Provider.UserInfo(rp.Ctx, oauth2.StaticTokenSource(at)); err != nil {
			t.Fatalf("UserInfo before the revocation: %v", err)
		}
	}
	resp := e.post(t, server.PathRevoke, url.Values{"token": {next.RefreshToken}, "token_type_hint": {"refresh_token"}}, basic("webapp", secret))
	if resp.Status != http.StatusOK {
		t.Fatalf("revoke: %d %s", resp.Status, resp.Body)
	}
	for i, at := range []*oauth2.Token{tok, next} {
		if info, err := rp.Provider.UserInfo(rp.Ctx, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: at.AccessToken, TokenType: "Bearer"})); err == nil {
			t.Errorf("access token %d of the revoked grant still works at UserInfo (sub %q)", i, info.Subject)
		}
	}
}

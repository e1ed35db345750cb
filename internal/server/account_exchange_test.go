package server_test

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/writ-dev/writ/internal/oauth/grant"
	"github.com/writ-dev/writ/internal/server"
	"github.com/writ-dev/writ/internal/store"
)

// TestAccountRevokesExchange: end to end with a real exchange. A user
// signs in to an application; a service exchanges the user's token (RFC
// 8693); the user sees that service acting for them on the account page,
// revokes it there, and introspection then says the exchanged token is
// inactive; the audit trail has the exchange and the revocation by the
// user.
func TestAccountRevokesExchange(t *testing.T) {
	e := newSignInEnv(t, envOptions{})
	var md server.Metadata
	decodeJSON(t, e.get(t, server.PathASMetadata).Body, &md)
	if !slices.Contains(md.GrantTypesSupported, grant.TypeTokenExchange) {
		t.Skip("this build does not serve token exchange")
	}
	e.addUser(t, "u-alice", "alice", alicePassword)
	cb := newCallbackServer(t)
	redirect := cb.URL + "/callback"
	webSecret := e.addConfidential(t, "webapp", webApp(redirect), firstParty(),
		withScopes(append(slices.Clone(webScopes), scopeRead)...), withAudiences(audOrders))
	svcSecret := e.addConfidential(t, "svc", withGrants(grant.TypeTokenExchange), withScopes(scopeRead), withAudiences(audOrders, audBilling))
	svc := basic("svc", svcSecret)

	b := e.newBrowser(t)
	rp := e.newRP(t, "webapp", webSecret, redirect, scopeOpenID, scopeRead)
	_, tok, _ := rp.signIn(t, e, b, user{Username: "alice", Password: alicePassword})
	r := e.post(t, server.PathToken, url.Values{
		"grant_type": {grant.TypeTokenExchange}, "subject_token": {tok.AccessToken},
		"subject_token_type": {grant.TokenTypeAccessToken}, "audience": {audBilling}, "scope": {scopeRead},
	}, svc)
	if r.Status != http.StatusOK {
		t.Fatalf("exchange: %s", r)
	}
	var x tokenResponse
	decodeJSON(t, r.Body, &x)
	if !introspectActive(t, e, x.AccessToken, svc) {
		t.Fatal("the exchanged token is inactive")
	}

	p := b.get(t, server.PathAccount)
	m := regexp.MustCompile(`name="delegation_id" value="([^"]+)"`).FindStringSubmatch(p.Body)
	if p.Status != http.StatusOK || m == nil || !strings.Contains(p.Body, "Acting for you") || !strings.Contains(p.Body, audBilling) {
		t.Fatalf("account page lists no delegation:\n%s", p.Body)
	}
	csrf := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindStringSubmatch(p.Body)
	if csrf == nil {
		t.Fatal("no CSRF token on the account page")
	}
	done := b.postForm(t, server.PathAccountDelegationRevoke, url.Values{"csrf_token": {csrf[1]}, "delegation_id": {m[1]}})
	// The browser follows the 303 back to the account page.
	if done.Status != http.StatusOK || !strings.Contains(done.Body, "Revoked.") || strings.Contains(done.Body, m[1]) {
		t.Fatalf("revoke: %s", done)
	}
	if introspectActive(t, e, x.AccessToken, svc) {
		t.Fatal("the exchanged token is active after the user revoked its delegation")
	}
	ev, err := e.Store.ListAudit(t.Context(), store.AuditQuery{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, a := range ev {
		types = append(types, a.Type+" by "+a.By)
	}
	if got := strings.Join(types, ", "); got != "token_exchange by , delegation_revoked by user:u-alice" {
		t.Fatalf("audit: %s", got)
	}
}

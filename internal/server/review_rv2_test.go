package server_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/server"
	"github.com/writ-dev/writ/internal/store"
)

// TestIntrospectionRevokedAgentAsSubject: a token another client got by
// exchange to act for an agent (the agent is its subject) is inactive once
// the agent is revoked or its owner disabled.
func TestIntrospectionRevokedAgentAsSubject(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, envOptions{})
	var d delegations = e.Store
	e.addStoreUser(t, "u-alice")
	secret := e.addConfidential(t, "svc", withAudiences(audOrders))
	e.addConfidential(t, "ag", asAgentOf("user:u-alice"))
	auth := basic("svc", secret)
	newDelegation(t, d, e.Clock.Now(), "d-ag", "", "svc", "ag", "svc")
	tok := signAccessToken(t, e, "svc", "ag", map[string]any{"delegation_id": "d-ag"})
	if !introspectActive(t, e, tok, auth) {
		t.Fatal("inactive before the agent was revoked")
	}
	if err := d.RevokeClientGrants(ctx, "ag", e.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	e.Server.Clients().Invalidate("ag")
	if introspectActive(t, e, tok, auth) {
		t.Error("a token acting for a revoked agent is active")
	}
}

// TestTokenForAgentWithoutOwner: an agent whose owner is disabled gets no
// token (introspection would call it inactive; a gateway verifying JWTs
// alone would not).
func TestTokenForAgentWithoutOwner(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, envOptions{})
	e.addStoreUser(t, "u-alice")
	secret := e.addConfidential(t, "ag", asAgentOf("user:u-alice"))
	e.token(t, "ag", secret, nil)
	if _, err := e.Store.UpdateUser(ctx, "u-alice", func(u store.User) (store.User, error) {
		u.Disabled = true
		return u, nil
	}); err != nil {
		t.Fatal(err)
	}
	resp := e.post(t, server.PathToken, url.Values{"grant_type": {"client_credentials"}}, basic("ag", secret))
	wantOAuthError(t, resp, http.StatusBadRequest, oauth.CodeUnauthorizedClient)
}

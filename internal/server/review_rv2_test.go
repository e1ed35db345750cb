package server_test

import (
	"context"
	"testing"
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

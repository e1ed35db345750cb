package main

import (
	"context"
	"strings"
	"testing"
)

// TestClientDPoPBoundAccessTokens: --dpop-bound-access-tokens registers
// the client metadata of RFC 9449 §5.2, shown in the table;
// --dpop-bound-access-tokens=false on update clears it.
func TestClientDPoPBoundAccessTokens(t *testing.T) {
	e := newAdminEnv(t)
	c := e.createJSON(t, "--id", "svc", "--grant-type", "client_credentials", "--dpop-bound-access-tokens")
	if !c.DPoPBoundAccessTokens {
		t.Fatalf("created %+v", c)
	}
	stored, err := e.store.GetClient(context.Background(), "svc")
	if err != nil || !stored.DPoPBoundAccessTokens {
		t.Fatalf("stored %+v %v", stored, err)
	}
	r := writAdmin(t, "", "client", "get", "svc", "--endpoint", e.url).mustSucceed(t)
	if !strings.Contains(r.stdout, "DPOP-BOUND TOKENS") {
		t.Fatalf("get:\n%s", r.stdout)
	}
	writAdmin(t, "", "client", "update", "svc", "--endpoint", e.url, "--dpop-bound-access-tokens=false").mustSucceed(t)
	stored, err = e.store.GetClient(context.Background(), "svc")
	if err != nil || stored.DPoPBoundAccessTokens {
		t.Fatalf("after update %+v %v", stored, err)
	}
	r = writAdmin(t, "", "client", "get", "svc", "--endpoint", e.url).mustSucceed(t)
	if strings.Contains(r.stdout, "DPOP-BOUND TOKENS") {
		t.Fatalf("get after update:\n%s", r.stdout)
	}
}

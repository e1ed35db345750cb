package admin_test

import (
	"context"
	"net/http"
	"testing"
)

// TestAdminDPoPBoundAccessTokens: the client metadata
// dpop_bound_access_tokens (RFC 9449 §5.2) is set on create, shown,
// changed by PATCH and reset by null.
func TestAdminDPoPBoundAccessTokens(t *testing.T) {
	e := newEnv(t)
	created := e.create(t, m2m(map[string]any{"client_id": "svc", "dpop_bound_access_tokens": true}))
	if created["dpop_bound_access_tokens"] != true {
		t.Fatalf("create: %v", created)
	}
	for _, tc := range []struct {
		body string
		want bool
	}{{`{"dpop_bound_access_tokens":false}`, false}, {`{"dpop_bound_access_tokens":true}`, true}, {`{"dpop_bound_access_tokens":null}`, false}} {
		r := e.call(t, http.MethodPatch, "/admin/clients/svc", tc.body)
		if r.status != http.StatusOK {
			t.Fatalf("%s: %d %s", tc.body, r.status, r.body)
		}
		got, _ := r.json(t)["dpop_bound_access_tokens"].(bool)
		c, err := e.store.GetClient(context.Background(), "svc")
		if err != nil || got != tc.want || c.DPoPBoundAccessTokens != tc.want {
			t.Fatalf("%s: shown %v, stored %v (%v)", tc.body, got, c.DPoPBoundAccessTokens, err)
		}
	}
	e.call(t, http.MethodPatch, "/admin/clients/svc", `{"dpop_bound_access_tokens":"yes"}`).
		wantError(t, http.StatusBadRequest, "invalid_client_metadata", "dpop_bound_access_tokens must be true or false")
}

package introspect_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/writ-dev/writ/rs"
	"github.com/writ-dev/writ/rs/introspect"
)

// TestWritAgentRevocation: the bound docs/agents.md gives for a resource
// server that introspects. Once an admin revokes an agent, the agent's
// tokens are inactive at writ at once; a resource server that caches
// introspection answers sees it when its cached answer ends (CacheTTL),
// never later. A JWT verified locally lives at most the agent's
// max_token_ttl.
func TestWritAgentRevocation(t *testing.T) {
	w, rsClient, _ := setup(t)
	owner := w.createClient(map[string]any{"client_name": "owner service", "grant_types": []string{"client_credentials"}})
	agent := w.createClient(map[string]any{
		"client_name": "agent", "grant_types": []string{"client_credentials"}, "scope": "orders:read",
		"audiences": []string{e2eAudience}, "access_token_format": "opaque",
		"agent": map[string]any{"owner": "client:" + owner.ID, "max_token_ttl": 300},
	})
	const cacheTTL = 10 * time.Second
	c, err := introspect.New(introspect.Config{
		Endpoint: w.Discovery.Introspection, ClientID: rsClient.ID, ClientSecret: rsClient.Secret,
		Issuer: w.Issuer, Audience: e2eAudience, CacheTTL: cacheTTL, Now: w.Clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	raw := w.accessToken(agent, "orders:read")
	tok, err := c.Verify(ctx, raw)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if life := tok.Expiry.Sub(tok.IssuedAt); life != 300*time.Second {
		t.Fatalf("the agent's token lives %s, want its max_token_ttl 5m", life)
	}

	status, body := w.do(http.MethodPost, w.Admin+"/admin/clients/"+url.PathEscape(agent.ID)+"/revoke-grants", nil, func(r *http.Request) {
		r.Header.Set("Authorization", "Bearer "+w.token)
	})
	if status != http.StatusOK {
		t.Fatalf("revoke-grants: %d %s", status, body)
	}
	// writ says inactive at once: a resource server without a cache entry
	// refuses the token.
	fresh, err := introspect.New(introspect.Config{
		Endpoint: w.Discovery.Introspection, ClientID: rsClient.ID, ClientSecret: rsClient.Secret,
		Issuer: w.Issuer, Audience: e2eAudience, Now: w.Clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fresh.Verify(ctx, raw); !errors.Is(err, rs.ErrInvalidToken) {
		t.Fatalf("Verify at once, uncached: %v", err)
	}
	// The caching one accepts it until its entry ends, and not a moment
	// longer.
	w.Clock.Advance(cacheTTL - time.Second)
	if _, err := c.Verify(ctx, raw); err != nil {
		t.Fatalf("Verify within the cache lifetime: %v", err)
	}
	w.Clock.Advance(time.Second)
	if _, err := c.Verify(ctx, raw); !errors.Is(err, rs.ErrInvalidToken) {
		t.Fatalf("Verify after the cache lifetime: %v", err)
	}

	// The revocation is in the audit trail.
	status, body = w.do(http.MethodGet, w.Admin+"/admin/audit?type=agent_revoked&client_id="+url.QueryEscape(agent.ID), nil, func(r *http.Request) {
		r.Header.Set("Authorization", "Bearer "+w.token)
	})
	var page struct {
		Events []struct {
			By string `json:"by"`
		} `json:"events"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &page) != nil || len(page.Events) != 1 || page.Events[0].By != "admin" {
		t.Fatalf("audit: %d %s", status, body)
	}
}

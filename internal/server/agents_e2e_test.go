package server_test

// End to end: a real writ node (internal/apptest, as "writ serve" starts
// it) with agents registered through the admin API; a revocation by an
// admin and by the owning service is seen by introspection at once, and
// recorded in the audit trail.

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/app"
	"github.com/writ-dev/writ/internal/apptest"
	"github.com/writ-dev/writ/internal/clocktest"
	"github.com/writ-dev/writ/internal/server"
)

// agentNode is a running writ node and a client of its APIs.
type agentNode struct {
	t      *testing.T
	issuer string
	admin  string
	token  string
	clock  *clocktest.Clock
	http   *http.Client
}

func startAgentNode(t *testing.T) *agentNode {
	t.Helper()
	clock := clocktest.Real()
	a := apptest.Start(t, map[string]string{
		"WRIT_MODE":       "development",
		"WRIT_DATA_DIR":   filepath.Join(t.TempDir(), "data"),
		"WRIT_ADDR":       "127.0.0.1:0",
		"WRIT_ADMIN_ADDR": "127.0.0.1:0",
		"WRIT_LOG_LEVEL":  "warn",
	}, app.Options{Announce: io.Discard, Now: clock.Now})
	n := &agentNode{t: t, issuer: a.Issuer, admin: "http://" + a.AdminAddr().String(), token: a.AdminToken, clock: clock,
		http: &http.Client{Timeout: 30 * time.Second}}
	t.Cleanup(n.http.CloseIdleConnections)
	return n
}

func (n *agentNode) do(req *http.Request) (int, []byte) {
	n.t.Helper()
	resp, err := n.http.Do(req)
	if err != nil {
		n.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		n.t.Fatal(err)
	}
	return resp.StatusCode, b
}

// adminCall calls the admin API and decodes a 2xx answer into out.
func (n *agentNode) adminCall(method, path string, body any, out any) {
	n.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, n.admin+path, rd)
	req.Header.Set("Authorization", "Bearer "+n.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	status, b := n.do(req)
	if status/100 != 2 {
		n.t.Fatalf("%s %s: %d %s", method, path, status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			n.t.Fatalf("%s %s: %v %s", method, path, err, b)
		}
	}
}

// post sends a form to the public listener with Basic credentials.
func (n *agentNode) post(path, id, secret string, form url.Values) (int, map[string]any) {
	n.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, n.issuer+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	status, b := n.do(req)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		n.t.Fatalf("POST %s: %d %s", path, status, b)
	}
	return status, m
}

type e2eClient struct {
	ID     string `json:"client_id"`
	Secret string `json:"client_secret"`
}

func (n *agentNode) tokenFor(c e2eClient) string {
	n.t.Helper()
	status, m := n.post(server.PathToken, c.ID, c.Secret, url.Values{"grant_type": {"client_credentials"}})
	tok, _ := m["access_token"].(string)
	if status != http.StatusOK || tok == "" {
		n.t.Fatalf("token for %s: %d %v", c.ID, status, m)
	}
	return tok
}

func (n *agentNode) active(c e2eClient, token string) bool {
	n.t.Helper()
	status, m := n.post(server.PathIntrospect, c.ID, c.Secret, url.Values{"token": {token}})
	if status != http.StatusOK {
		n.t.Fatalf("introspect: %d %v", status, m)
	}
	return m["active"] == true
}

func (n *agentNode) auditBy(typ, clientID string) []string {
	n.t.Helper()
	var page struct {
		Events []struct {
			By       string `json:"by"`
			ClientID string `json:"client_id"`
		} `json:"events"`
	}
	n.adminCall(http.MethodGet, "/admin/audit?type="+typ+"&client_id="+url.QueryEscape(clientID), nil, &page)
	var by []string
	for _, e := range page.Events {
		by = append(by, e.By)
	}
	return by
}

func TestAgentRevocationEndToEnd(t *testing.T) {
	n := startAgentNode(t)
	var owner struct {
		ID string `json:"id"`
	}
	n.adminCall(http.MethodPost, "/admin/users", map[string]any{"username": "olivia"}, &owner)
	var agent, opaqueAgent, svc, svcAgent e2eClient
	n.adminCall(http.MethodPost, "/admin/clients", map[string]any{
		"client_name": "trip planner", "grant_types": []string{"client_credentials"}, "scope": "trips:read",
		"agent": map[string]any{"owner": "user:" + owner.ID, "max_token_ttl": 600},
	}, &agent)
	n.adminCall(http.MethodPost, "/admin/clients", map[string]any{
		"grant_types": []string{"client_credentials"}, "access_token_format": "opaque",
		"agent": map[string]any{"owner": "user:" + owner.ID},
	}, &opaqueAgent)
	n.adminCall(http.MethodPost, "/admin/clients", map[string]any{"grant_types": []string{"client_credentials"}}, &svc)
	n.adminCall(http.MethodPost, "/admin/clients", map[string]any{
		"grant_types": []string{"client_credentials"}, "agent": map[string]any{"owner": "client:" + svc.ID},
	}, &svcAgent)

	// The admin revokes the user's agents.
	jwtTok, opqTok := n.tokenFor(agent), n.tokenFor(opaqueAgent)
	if !n.active(agent, jwtTok) || !n.active(opaqueAgent, opqTok) {
		t.Fatal("fresh tokens are inactive")
	}
	for _, c := range []e2eClient{agent, opaqueAgent} {
		var r struct {
			TokensRevokedBefore time.Time `json:"tokens_revoked_before"`
		}
		n.adminCall(http.MethodPost, "/admin/clients/"+c.ID+"/revoke-grants", nil, &r)
		if r.TokensRevokedBefore.IsZero() {
			t.Fatalf("revoke-grants of %s answered no instant", c.ID)
		}
	}
	if n.active(agent, jwtTok) || n.active(opaqueAgent, opqTok) {
		t.Fatal("introspection sees the tokens of a revoked agent as active")
	}
	if by := n.auditBy("agent_revoked", agent.ID); len(by) != 1 || by[0] != "admin" {
		t.Fatalf("audit of %s: %v", agent.ID, by)
	}

	// The owning service revokes its agent.
	svcTok := n.tokenFor(svcAgent)
	if status, m := n.post(server.PathAgentRevoke, agent.ID, agent.Secret, url.Values{"agent_id": {svcAgent.ID}}); status != http.StatusBadRequest || m["error"] != "invalid_request" {
		t.Fatalf("another client revoked the agent: %d %v", status, m)
	}
	if !n.active(svcAgent, svcTok) {
		t.Fatal("a refused revocation revoked")
	}
	if status, m := n.post(server.PathAgentRevoke, svc.ID, svc.Secret, url.Values{"agent_id": {svcAgent.ID}}); status != http.StatusOK || m["agent_id"] != svcAgent.ID {
		t.Fatalf("owner revocation: %d %v", status, m)
	}
	if n.active(svcAgent, svcTok) {
		t.Fatal("introspection sees the token of an agent its owner revoked as active")
	}
	if by := n.auditBy("agent_revoked", svcAgent.ID); len(by) != 1 || by[0] != "client:"+svc.ID {
		t.Fatalf("audit of %s: %v", svcAgent.ID, by)
	}

	// A token issued after the revocation, in a later second, is active:
	// revocation ends what the agent held, not the agent.
	n.clock.Advance(2 * time.Second)
	if tok := n.tokenFor(agent); !n.active(agent, tok) {
		t.Fatal("a token issued after the revocation is inactive")
	}
}

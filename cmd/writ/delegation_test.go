package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/admin"
)

func TestClientCreateAgent(t *testing.T) {
	e := newAdminEnv(t)
	e.createJSON(t, "--id", "svc", "--grant-type", "client_credentials")
	c := e.createJSON(t, "--id", "agent-1", "--grant-type", "client_credentials", "--scope", "trips:read",
		"--agent-owner", "client:svc", "--agent-max-token-ttl", "10m", "--agent-require-dpop",
		"--exchange-actor", "agent-1", "--exchange-max-chain", "2", "--exchange-subject-issuer", "https://idp.example.com",
		"--exchange-id-jag-audience", "https://as.example.net")
	if c.Agent == nil || c.Agent.Owner != "client:svc" || c.Agent.MaxTokenTTL != 600 || !c.Agent.RequireDPoP || c.Agent.AllowRefresh {
		t.Fatalf("agent = %+v", c.Agent)
	}
	if c.AccessTokenTTL != 600 {
		t.Fatalf("access_token_ttl = %d, want the agent's 600", c.AccessTokenTTL)
	}
	x := c.TokenExchange
	if x == nil || x.MaxChain != 2 || len(x.Actors) != 1 || x.SubjectIssuers[0] != "https://idp.example.com" || x.IDJAGAudiences[0] != "https://as.example.net" {
		t.Fatalf("token_exchange = %+v", x)
	}
	r := writAdmin(t, "", "client", "create", "--endpoint", e.url, "--id", "agent-2", "--grant-type", "client_credentials",
		"--agent-owner", "client:svc", "--exchange-impersonation").mustSucceed(t)
	for _, want := range []string{"AGENT OWNER", "client:svc", "AGENT MAX TOKEN TTL", "15m0s", "AGENT DPOP", "EXCHANGE IMPERSONATION", "yes"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, r.stdout)
		}
	}
	// Usage errors are caught before the call; the server judges the rest.
	base := []string{"client", "create", "--endpoint", e.url, "--grant-type", "client_credentials"}
	writAdmin(t, "", append(base, "--agent-owner", "svc")...).mustFail(t, exitUsage, "want user:USER_ID or client:CLIENT_ID")
	writAdmin(t, "", append(base, "--agent-owner", "")...).mustFail(t, exitUsage, "--agent-owner must not be empty")
	writAdmin(t, "", append(base, "--agent-owner", "client:svc", "--agent-max-token-ttl", "25h")...).mustFail(t, exitUsage, "--agent-max-token-ttl")
	writAdmin(t, "", append(base, "--exchange-max-chain", "17")...).mustFail(t, exitUsage, "--exchange-max-chain 17")
	writAdmin(t, "", append(base, "--agent-owner", "client:nosuch")...).mustFail(t, exitUsage, "is not a registered client", "invalid_client_metadata")
	writAdmin(t, "", append(base, "--agent-owner", "client:svc", "--agent-max-token-ttl", "30s")...).mustFail(t, exitUsage, "agent.max_token_ttl must be from 60")

	// update: "" removes the agent policy, and cannot come with other agent flags.
	writAdmin(t, "", "client", "update", "agent-2", "--endpoint", e.url, "--agent-owner", "", "--agent-require-dpop").mustFail(t, exitUsage, "removes the agent policy")
	r = writAdmin(t, "", "client", "update", "agent-2", "--endpoint", e.url, "--agent-owner", "", "--exchange-impersonation=false", "-o", "json").mustSucceed(t)
	var u admin.ClientResponse
	if err := json.Unmarshal([]byte(r.stdout), &u); err != nil || u.Agent != nil || u.TokenExchange == nil || u.TokenExchange.Impersonation {
		t.Fatalf("update: %v %s", err, r.stdout)
	}
}

// recordingAdmin is an admin API double that records each request and
// answers with a canned body per path.
type recordingAdmin struct {
	mu       sync.Mutex
	requests []string // "METHOD path?query body"
	answers  map[string]string
}

func newRecordingAdmin(t *testing.T, answers map[string]string) (*recordingAdmin, string) {
	t.Helper()
	ra := &recordingAdmin{answers: answers}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ra.mu.Lock()
		ra.requests = append(ra.requests, strings.TrimSpace(r.Method+" "+r.URL.RequestURI()+" "+string(body)))
		ra.mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer "+cliAdminToken {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		a, ok := answers[r.Method+" "+r.URL.Path]
		if !ok {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"error":"not_found","error_description":"no delegation with id \"x\""}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, a)
	}))
	t.Cleanup(srv.Close)
	t.Setenv(envAdminToken, cliAdminToken)
	t.Setenv(envAdminEndpoint, "")
	return ra, srv.URL
}

func (ra *recordingAdmin) last(t *testing.T) string {
	t.Helper()
	ra.mu.Lock()
	defer ra.mu.Unlock()
	if len(ra.requests) == 0 {
		t.Fatal("no request")
	}
	return ra.requests[len(ra.requests)-1]
}

func TestDelegationCommands(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	revoked, _ := json.Marshal(admin.RevokeGrantsResponse{ClientID: "agent-1", TokensRevokedBefore: at})
	dels, _ := json.Marshal(admin.DelegationListResponse{Delegations: []admin.DelegationJSON{
		{ID: "d1", RootID: "d1", ClientID: "svc", Subject: "u-alice", Actors: []string{"agent-1", "svc"}, Scope: "trips:read",
			Audience: []string{"https://trips.example.com"}, CreatedAt: at, ExpiresAt: at.Add(time.Hour), Active: true},
		{ID: "d2", RootID: "d2", ClientID: "svc", Subject: "u-bob", Actors: []string{"svc"}, CreatedAt: at, ExpiresAt: at.Add(time.Hour), RevokedAt: at},
	}})
	events, _ := json.Marshal(admin.AuditListResponse{Events: []admin.AuditEventJSON{
		{Seq: 7, Time: at, Type: "agent_revoked", ClientID: "agent-1", Subject: "u-alice", By: "admin", Details: json.RawMessage(`{"owner":"user:u-alice"}`)},
	}, Next: 7})
	ra, url := newRecordingAdmin(t, map[string]string{
		"POST /admin/clients/agent-1/revoke-grants": string(revoked),
		"GET /admin/delegations":                    string(dels),
		"POST /admin/delegations/d1/revoke":         `{"delegation_id":"d1","revoked":3}`,
		"GET /admin/audit":                          string(events),
	})

	r := writAdmin(t, "", "agent", "revoke", "agent-1", "--endpoint", url).mustSucceed(t)
	if r.stdout != "revoked every token of agent-1 issued at or before 2026-03-01T12:00:00Z\n" {
		t.Fatalf("agent revoke printed %q", r.stdout)
	}
	if got := ra.last(t); got != "POST /admin/clients/agent-1/revoke-grants" {
		t.Fatalf("request %q", got)
	}
	r = writAdmin(t, "", "agent", "revoke", "agent-1", "--endpoint", url, "-o", "json").mustSucceed(t)
	if !strings.Contains(r.stdout, `"tokens_revoked_before"`) {
		t.Fatalf("-o json printed %q", r.stdout)
	}
	writAdmin(t, "", "agent", "revoke", "--endpoint", url).mustFail(t, exitUsage, "needs the client_id")

	r = writAdmin(t, "", "delegation", "list", "--endpoint", url, "--subject", "u-alice", "--client", "svc", "--actor", "agent-1", "--active", "--limit", "5").mustSucceed(t)
	if got := ra.last(t); got != "GET /admin/delegations?active=true&actor=agent-1&client_id=svc&limit=5&subject=u-alice" {
		t.Fatalf("request %q", got)
	}
	for _, want := range []string{"ID", "ACTORS", "d1", "agent-1 <- svc", "trips:read", "active", "d2", "revoked"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, r.stdout)
		}
	}
	writAdmin(t, "", "delegation", "list", "--endpoint", url, "--limit", "0").mustFail(t, exitUsage, "--limit 0")

	r = writAdmin(t, "", "delegation", "revoke", "d1", "--endpoint", url).mustSucceed(t)
	if r.stdout != "revoked delegation d1 (3 in its chain)\n" || ra.last(t) != "POST /admin/delegations/d1/revoke" {
		t.Fatalf("delegation revoke printed %q after %q", r.stdout, ra.last(t))
	}
	writAdmin(t, "", "delegation", "revoke", "x", "--endpoint", url).mustFail(t, exitUsage, `no delegation with id "x"`, "not_found")
	writAdmin(t, "", "delegation", "revoke", "--endpoint", url).mustFail(t, exitUsage, "needs the delegation id")

	r = writAdmin(t, "", "audit", "list", "--endpoint", url, "--after", "6", "--type", "agent_revoked", "--client", "agent-1", "--subject", "u-alice", "--limit", "10").mustSucceed(t)
	if got := ra.last(t); got != "GET /admin/audit?after=6&client_id=agent-1&limit=10&subject=u-alice&type=agent_revoked" {
		t.Fatalf("request %q", got)
	}
	for _, want := range []string{"SEQ", "7", "agent_revoked", "agent-1", "admin", `{"owner":"user:u-alice"}`} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, r.stdout)
		}
	}
	r = writAdmin(t, "", "audit", "list", "--endpoint", url, "-o", "json").mustSucceed(t)
	var a admin.AuditListResponse
	if err := json.Unmarshal([]byte(r.stdout), &a); err != nil || a.Next != 7 || len(a.Events) != 1 {
		t.Fatalf("-o json: %v %s", err, r.stdout)
	}
	writAdmin(t, "", "audit", "list", "--endpoint", url, "--after", "-1").mustFail(t, exitUsage, "--after -1")
}

package admin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/admin"
	"github.com/writ-dev/writ/internal/store"
)

// agentStore is the test store with an audit trail that fails on demand.
type agentStore struct {
	store.Store
	failAudit atomic.Bool
}

func (s *agentStore) AppendAudit(ctx context.Context, e store.AuditEvent) (int64, error) {
	if s.failAudit.Load() {
		return 0, context.DeadlineExceeded
	}
	return s.Store.AppendAudit(ctx, e)
}

// failInTx stands for the append of a change's audit events (a pending
// store.WithAudit intent) failing inside the change's transaction: the
// change is not made.
func (s *agentStore) failInTx(ctx context.Context) error {
	if s.failAudit.Load() && store.AuditPending(ctx) {
		return fmt.Errorf("append audit events: %w", context.DeadlineExceeded)
	}
	return nil
}

func (s *agentStore) CreateUser(ctx context.Context, u store.User) error {
	if err := s.failInTx(ctx); err != nil {
		return err
	}
	return s.Store.CreateUser(ctx, u)
}

func (s *agentStore) RevokeClientGrants(ctx context.Context, clientID string, at time.Time) error {
	if err := s.failInTx(ctx); err != nil {
		return err
	}
	return s.Store.RevokeClientGrants(ctx, clientID, at)
}

// auditEvents lists the whole audit trail.
func (s *agentStore) auditEvents(t *testing.T) []store.AuditEvent {
	t.Helper()
	ev, err := s.ListAudit(context.Background(), store.AuditQuery{Limit: store.MaxListLimit})
	if err != nil {
		t.Fatal(err)
	}
	// The generic admin_change events (of the users the tests create)
	// are checked by TestAdminChangeAudited.
	return slices.DeleteFunc(ev, func(e store.AuditEvent) bool { return e.Type == store.AuditAdminChange })
}

// newAgentEnv is an admin API with users, delegations and an audit trail,
// all the store's.
func newAgentEnv(t *testing.T) (*env, *agentStore) {
	t.Helper()
	var as *agentStore
	e, _ := newUserEnv(t, func(o *admin.Options) {
		as = &agentStore{Store: o.Store.(store.Store)}
		o.Delegations, o.Audit, o.Users = as, as, as
	})
	return e, as
}

func agentBody(owner string, extra map[string]any) map[string]any {
	agent := map[string]any{"owner": owner}
	for k, v := range extra {
		agent[k] = v
	}
	return m2m(map[string]any{"client_name": "travel agent", "agent": agent})
}

func TestAdminAgentCreate(t *testing.T) {
	e, _ := newAgentEnv(t)
	u := e.createUser(t, map[string]any{"username": "alice"})
	uid := u["id"].(string)
	c := e.create(t, agentBody("user:"+uid, nil))
	agent, ok := c["agent"].(map[string]any)
	if !ok {
		t.Fatalf("no agent in %v", c)
	}
	if agent["owner"] != "user:"+uid || agent["max_token_ttl"] != float64(900) || agent["allow_refresh"] != false || agent["require_dpop"] != false {
		t.Fatalf("agent = %v", agent)
	}
	// The server default could outlive max_token_ttl: the agent's tokens
	// live max_token_ttl.
	if c["access_token_ttl"] != float64(900) {
		t.Fatalf("access_token_ttl = %v, want 900", c["access_token_ttl"])
	}
	if _, ok := c["token_exchange"]; ok {
		t.Fatalf("token_exchange present without a policy: %v", c)
	}

	// A service owns another agent, with a shorter TTL and DPoP.
	svc := e.create(t, m2m(map[string]any{"client_id": "svc"}))
	c = e.create(t, agentBody("client:"+svc["client_id"].(string), map[string]any{"max_token_ttl": 120, "require_dpop": true}))
	agent = c["agent"].(map[string]any)
	if agent["max_token_ttl"] != float64(120) || agent["require_dpop"] != true || c["access_token_ttl"] != float64(120) {
		t.Fatalf("service agent = %v", c)
	}
	x := e.create(t, m2m(map[string]any{"token_exchange": map[string]any{
		"subject_issuers": []string{"https://idp.example.com"}, "subject_audiences": []string{"https://a.example.com"},
		"actors": []string{"agent-1"}, "max_chain": 2, "impersonation": true, "refresh_tokens": true,
		"id_jag_audiences": []string{"https://as.example.net"},
	}}))
	want := `{"subject_issuers":["https://idp.example.com"],"subject_audiences":["https://a.example.com"],"actors":["agent-1"],"max_chain":2,"impersonation":true,"refresh_tokens":true,"id_jag_audiences":["https://as.example.net"]}`
	if got, _ := json.Marshal(x["token_exchange"]); !jsonEqual(t, got, want) {
		t.Fatalf("token_exchange = %s, want %s", got, want)
	}
}

func jsonEqual(t *testing.T, a []byte, b string) bool {
	t.Helper()
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		t.Fatalf("not JSON: %s / %s", a, b)
	}
	ja, _ := json.Marshal(x)
	jb, _ := json.Marshal(y)
	return string(ja) == string(jb)
}

func TestAdminAgentValidation(t *testing.T) {
	e, _ := newAgentEnv(t)
	uid := e.createUser(t, map[string]any{"username": "bob"})["id"].(string)
	owner := "user:" + uid
	for _, tc := range []struct {
		name string
		body map[string]any
		desc string
	}{
		{"no owner", m2m(map[string]any{"agent": map[string]any{"max_token_ttl": 60}}), "agent.owner is required"},
		{"owner form", agentBody("alice", nil), `agent.owner must be "user:<user id>"`},
		{"empty owner id", agentBody("user:", nil), `agent.owner must be`},
		{"unknown user", agentBody("user:nobody", nil), `agent.owner "user:nobody" is not a registered user`},
		{"unknown client", agentBody("client:nosuch", nil), `is not a registered client`},
		{"bad client id", agentBody("client:a b", nil), "no client can have"},
		{"owns itself", func() map[string]any { b := agentBody("client:me", nil); b["client_id"] = "me"; return b }(), "cannot own itself"},
		{"ttl too short", agentBody(owner, map[string]any{"max_token_ttl": 30}), "agent.max_token_ttl must be from 60 to 86400"},
		{"ttl too long", agentBody(owner, map[string]any{"max_token_ttl": 86401}), "agent.max_token_ttl must be a whole number"},
		{"ttl string", agentBody(owner, map[string]any{"max_token_ttl": "10m"}), "agent.max_token_ttl must be a number of seconds"},
		{"access ttl above", func() map[string]any {
			b := agentBody(owner, map[string]any{"max_token_ttl": 300})
			b["access_token_ttl"] = 600
			return b
		}(), "access_token_ttl (600 s) is longer than agent.max_token_ttl (300 s)"},
		{"refresh not allowed", func() map[string]any {
			b := agentBody(owner, nil)
			b["grant_types"] = []string{"authorization_code", "refresh_token"}
			b["redirect_uris"] = []string{"https://agent.example.com/cb"}
			return b
		}(), "agent.allow_refresh is false"},
		{"exchange refresh not allowed", func() map[string]any {
			b := agentBody(owner, nil)
			b["token_exchange"] = map[string]any{"refresh_tokens": true}
			return b
		}(), "token_exchange.refresh_tokens cannot be true"},
		{"unknown agent member", agentBody(owner, map[string]any{"colour": "red"}), `unknown member "colour" of agent`},
		{"agent not object", m2m(map[string]any{"agent": "user:x"}), "agent: the request body must be a JSON object"},
		{"allow_refresh type", agentBody(owner, map[string]any{"allow_refresh": "yes"}), "agent.allow_refresh must be true or false"},
		{"max_chain", m2m(map[string]any{"token_exchange": map[string]any{"max_chain": 17}}), "token_exchange.max_chain must be a whole number from 1 to 16"},
		{"max_chain negative", m2m(map[string]any{"token_exchange": map[string]any{"max_chain": -1}}), "token_exchange.max_chain"},
		{"issuer not URI", m2m(map[string]any{"token_exchange": map[string]any{"subject_issuers": []string{"idp"}}}), "token_exchange.subject_issuers[0] must be an absolute URI"},
		{"id-jag audience", m2m(map[string]any{"token_exchange": map[string]any{"id_jag_audiences": []string{"https://x#f"}}}), "token_exchange.id_jag_audiences[0]"},
		{"empty actor", m2m(map[string]any{"token_exchange": map[string]any{"actors": []string{""}}}), "empty audience or actor"},
		{"repeated actor", m2m(map[string]any{"token_exchange": map[string]any{"actors": []string{"a", "a"}}}), "lists \"a\" twice"},
		{"revocation is read-only", m2m(map[string]any{"tokens_revoked_before": "2026-01-01T00:00:00Z"}), "tokens_revoked_before cannot be set: it is set by POST /admin/clients/{id}/revoke-grants"},
		{"unknown exchange member", m2m(map[string]any{"token_exchange": map[string]any{"audiences": []string{}}}), `unknown member "audiences" of token_exchange`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.call(t, http.MethodPost, "/admin/clients", tc.body)
			r.wantError(t, http.StatusBadRequest, admin.CodeInvalidClientMetadata, tc.desc)
		})
	}
}

func TestAdminAgentNeedsUserStore(t *testing.T) {
	e := newEnv(t)
	r := e.call(t, http.MethodPost, "/admin/clients", agentBody("user:x", nil))
	r.wantError(t, http.StatusServiceUnavailable, admin.CodeServerError, "no user store")
}

// TestAdminAgentPatch: agent and token_exchange merge member by member;
// null removes them.
func TestAdminAgentPatch(t *testing.T) {
	e, fake := newAgentEnv(t)
	uid := e.createUser(t, map[string]any{"username": "carol"})["id"].(string)
	c := e.create(t, agentBody("user:"+uid, map[string]any{"max_token_ttl": 600}))
	id := c["client_id"].(string)
	path := "/admin/clients/" + id
	r := e.call(t, http.MethodPatch, path, map[string]any{"agent": map[string]any{"require_dpop": true}})
	if r.status != http.StatusOK {
		t.Fatalf("patch: %d %s", r.status, r.body)
	}
	got := e.call(t, http.MethodGet, path, nil).json(t)
	agent, _ := got["agent"].(map[string]any)
	if agent["owner"] != "user:"+uid || agent["require_dpop"] != true || agent["max_token_ttl"] != float64(600) {
		t.Fatalf("after merge: %v", got)
	}
	r = e.call(t, http.MethodPatch, path, map[string]any{"agent": map[string]any{"owner": "user:ghost"}})
	r.wantError(t, http.StatusBadRequest, admin.CodeInvalidClientMetadata, "is not a registered user")
	r = e.call(t, http.MethodPatch, path, map[string]any{"agent": map[string]any{"max_token_ttl": 300}})
	r.wantError(t, http.StatusBadRequest, admin.CodeInvalidClientMetadata, "access_token_ttl (600 s) is longer than agent.max_token_ttl (300 s)")
	r = e.call(t, http.MethodPatch, path, map[string]any{"agent": map[string]any{"max_token_ttl": 300}, "access_token_ttl": nil})
	if r.status != http.StatusOK || r.json(t)["access_token_ttl"] != float64(300) {
		t.Fatalf("lower both: %d %s", r.status, r.body)
	}
	r = e.call(t, http.MethodPatch, path, map[string]any{"token_exchange": map[string]any{"max_chain": 2}})
	if r.status != http.StatusOK {
		t.Fatalf("patch exchange: %d %s", r.status, r.body)
	}
	r = e.call(t, http.MethodPatch, path, map[string]any{"token_exchange": map[string]any{"actors": []string{"x"}}})
	x, _ := r.json(t)["token_exchange"].(map[string]any)
	if x["max_chain"] != float64(2) || len(x["actors"].([]any)) != 1 {
		t.Fatalf("exchange merge: %s", r.body)
	}
	r = e.call(t, http.MethodPatch, path, map[string]any{"agent": nil, "token_exchange": nil})
	m := r.json(t)
	if _, ok := m["agent"]; ok {
		t.Fatalf("agent not removed: %s", r.body)
	}
	if _, ok := m["token_exchange"]; ok {
		t.Fatalf("token_exchange not removed: %s", r.body)
	}
	e.call(t, http.MethodDelete, path, nil)
	var types []string
	for _, ev := range fake.auditEvents(t) {
		if ev.ClientID == id && ev.By == "admin" {
			types = append(types, ev.Type)
		}
	}
	// Registered, five changes (two refused ones are not), deleted.
	want := "client_registered client_updated client_updated client_updated client_updated client_updated client_deleted"
	if got := strings.Join(types, " "); got != want {
		t.Fatalf("audit types = %s, want %s", got, want)
	}
}

func TestAdminRevokeGrants(t *testing.T) {
	e, fake := newAgentEnv(t)
	uid := e.createUser(t, map[string]any{"username": "dave"})["id"].(string)
	id := e.create(t, agentBody("user:"+uid, nil))["client_id"].(string)
	before := e.cache.count(id)
	r := e.call(t, http.MethodPost, "/admin/clients/"+id+"/revoke-grants", nil)
	if r.status != http.StatusOK {
		t.Fatalf("revoke-grants: %d %s", r.status, r.body)
	}
	m := r.json(t)
	now := e.clock().UTC().Truncate(store.TimePrecision)
	if m["client_id"] != id || m["tokens_revoked_before"] != now.Format(time.RFC3339Nano) {
		t.Fatalf("response %v, want at %s", m, now.Format(time.RFC3339Nano))
	}
	if c, err := e.store.GetClient(context.Background(), id); err != nil || !c.TokensRevokedBefore.Equal(now) {
		t.Fatalf("store revoked at %v (%v)", c.TokensRevokedBefore, err)
	}
	if e.cache.count(id) != before+1 {
		t.Fatalf("cache not invalidated")
	}
	ev := fake.auditEvents(t)
	if len(ev) != 2 || ev[0].Type != store.AuditClientRegistered || ev[0].ClientID != id || ev[0].Subject != uid ||
		!strings.Contains(string(ev[0].Details), `"agent_owner":"user:`+uid+`"`) {
		t.Fatalf("registration audit = %+v", ev)
	}
	ev = ev[1:]
	if len(ev) != 1 || ev[0].Type != store.AuditAgentRevoked || ev[0].ClientID != id || ev[0].By != "admin" || ev[0].Subject != uid {
		t.Fatalf("audit = %+v", ev)
	}
	if !strings.Contains(string(ev[0].Details), `"owner":"user:`+uid+`"`) {
		t.Fatalf("details = %s", ev[0].Details)
	}
	e.call(t, http.MethodPost, "/admin/clients/nosuch/revoke-grants", nil).wantError(t, http.StatusNotFound, admin.CodeNotFound, "no client")
	e.call(t, http.MethodGet, "/admin/clients/"+id+"/revoke-grants", nil).wantError(t, http.StatusMethodNotAllowed, admin.CodeMethodNotAllowed, "POST")
	e.call(t, http.MethodPost, "/admin/clients/"+id+"/revoke-grants", map[string]any{"x": 1}).wantError(t, http.StatusBadRequest, admin.CodeInvalidRequest, "no body")
	// The audit event failing in the revocation's transaction: nothing is
	// revoked, nothing recorded.
	fake.failAudit.Store(true)
	events := len(fake.auditEvents(t))
	e.call(t, http.MethodPost, "/admin/clients/"+id+"/revoke-grants", nil).wantError(t, http.StatusInternalServerError, admin.CodeServerError, "")
	fake.failAudit.Store(false)
	if n := len(fake.auditEvents(t)); n != events {
		t.Fatalf("a revocation whose event failed left %d events, want %d", n, events)
	}
}

func TestAdminDelegationRoutesUnavailable(t *testing.T) {
	e := newEnv(t)
	for _, p := range []struct{ method, path string }{
		{http.MethodPost, "/admin/clients/x/revoke-grants"},
		{http.MethodGet, "/admin/delegations"},
		{http.MethodPost, "/admin/delegations/d1/revoke"},
		{http.MethodGet, "/admin/audit"},
	} {
		e.call(t, p.method, p.path, nil).wantError(t, http.StatusServiceUnavailable, admin.CodeServerError, "delegation management is not available")
	}
}

func TestAdminDelegations(t *testing.T) {
	e, fake := newAgentEnv(t)
	ctx := context.Background()
	now := e.clock()
	e.create(t, m2m(map[string]any{"client_id": "svc"}))
	e.create(t, m2m(map[string]any{"client_id": "agent"}))
	for _, d := range []store.Delegation{
		{ID: "d1", RootID: "d1", ClientID: "svc", Subject: "alice", Actors: []string{"svc"}, Audience: []string{"https://b.example.com"}, Scopes: []string{"read"}, CreatedAt: now, ExpiresAt: now.Add(time.Hour)},
		{ID: "d2", RootID: "d1", ParentID: "d1", ClientID: "agent", Subject: "alice", Actors: []string{"agent", "svc"}, CreatedAt: now.Add(time.Second), ExpiresAt: now.Add(time.Hour)},
		{ID: "d3", RootID: "d3", ClientID: "svc", Subject: "bob", Actors: []string{"svc"}, CreatedAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(-time.Hour)},
	} {
		if err := fake.CreateDelegation(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	list := func(q string) []string {
		t.Helper()
		r := e.call(t, http.MethodGet, "/admin/delegations"+q, nil)
		if r.status != http.StatusOK {
			t.Fatalf("list %s: %d %s", q, r.status, r.body)
		}
		var resp admin.DelegationListResponse
		if err := json.Unmarshal(r.body, &resp); err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, d := range resp.Delegations {
			ids = append(ids, d.ID)
		}
		return ids
	}
	for q, want := range map[string]string{
		"":                         "d2 d1 d3", // newest first
		"?subject=alice":           "d2 d1",
		"?client_id=svc":           "d1 d3",
		"?actor=agent":             "d2",
		"?active=true":             "d2 d1",
		"?active=true&subject=bob": "",
		"?active=false&limit=5":    "d2 d1 d3",
		"?limit=1":                 "d2",
	} {
		if got := strings.Join(list(q), " "); got != want {
			t.Errorf("list %q = %q, want %q", q, got, want)
		}
	}
	for _, q := range []string{"?active=yes", "?limit=0", "?limit=1001", "?colour=red", "?subject=a&subject=b"} {
		e.call(t, http.MethodGet, "/admin/delegations"+q, nil).wantError(t, http.StatusBadRequest, admin.CodeInvalidRequest, "")
	}
	r := e.call(t, http.MethodPost, "/admin/delegations/d1/revoke", nil)
	if r.status != http.StatusOK || !jsonEqual(t, r.body, `{"delegation_id":"d1","revoked":2}`) {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	if got := strings.Join(list("?active=true"), " "); got != "" {
		t.Fatalf("active after revoke: %q", got)
	}
	ev, _ := fake.ListAudit(ctx, store.AuditQuery{Type: store.AuditDelegationRevoked, Limit: 10})
	if len(ev) != 1 || ev[0].Type != store.AuditDelegationRevoked || ev[0].DelegationID != "d1" || ev[0].Subject != "alice" || ev[0].By != "admin" || ev[0].ClientID != "svc" {
		t.Fatalf("audit = %+v", ev)
	}
	e.call(t, http.MethodPost, "/admin/delegations/nope/revoke", nil).wantError(t, http.StatusNotFound, admin.CodeNotFound, `no delegation with id "nope"`)

	// The audit trail, filtered and paged.
	// Two registrations and a revocation so far; then an exchange.
	if _, err := fake.AppendAudit(ctx, store.AuditEvent{Time: now, Type: store.AuditTokenExchange, ClientID: "svc", Subject: "bob", Actors: []string{"svc"}, Details: json.RawMessage(`{"aud":["x"]}`)}); err != nil {
		t.Fatal(err)
	}
	audit := func(q string) admin.AuditListResponse {
		t.Helper()
		r := e.call(t, http.MethodGet, "/admin/audit"+q, nil)
		if r.status != http.StatusOK {
			t.Fatalf("audit %s: %d %s", q, r.status, r.body)
		}
		var resp admin.AuditListResponse
		if err := json.Unmarshal(r.body, &resp); err != nil {
			t.Fatal(err)
		}
		return resp
	}
	all := audit("")
	if len(all.Events) != 4 || all.Next != all.Events[3].Seq || string(all.Events[3].Details) != `{"aud":["x"]}` {
		t.Fatalf("audit = %+v", all)
	}
	types := []string{}
	for _, ev := range all.Events {
		types = append(types, ev.Type)
	}
	if got := strings.Join(types, " "); got != "client_registered client_registered delegation_revoked token_exchange" {
		t.Fatalf("audit types = %s", got)
	}
	first, last := all.Events[0].Seq, all.Events[3].Seq
	if a := audit("?limit=1"); len(a.Events) != 1 || a.Next != first {
		t.Fatalf("audit page 1 = %+v", a)
	}
	if a := audit(fmt.Sprintf("?after=%d", all.Events[2].Seq)); len(a.Events) != 1 || a.Events[0].Seq != last {
		t.Fatalf("audit after the third = %+v", a)
	}
	if a := audit(fmt.Sprintf("?after=%d", last)); len(a.Events) != 0 || a.Next != last {
		t.Fatalf("audit after the last = %+v", a)
	}
	if a := audit("?type=delegation_revoked&client_id=svc&subject=alice"); len(a.Events) != 1 {
		t.Fatalf("audit filtered = %+v", a)
	}
	for _, q := range []string{"?after=-1", "?after=x", "?limit=abc", "?who=me"} {
		e.call(t, http.MethodGet, "/admin/audit"+q, nil).wantError(t, http.StatusBadRequest, admin.CodeInvalidRequest, "")
	}
}

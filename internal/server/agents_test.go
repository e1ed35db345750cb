package server_test

// Tests of agents and delegations at the server: introspection of tokens
// whose client's grants or whose delegation were revoked, the revocation
// of an agent by the service that owns it (PathAgentRevoke), and by the
// user who owns it on the account page, with the audit events of each.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/opaque"
	"github.com/writ-dev/writ/internal/server"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/jose"
)

// delegations is what the tests use of the store: its delegations and
// audit trail.
type delegations interface {
	store.DelegationStore
	store.AuditStore
}

// auditOf returns the events of one type.
func auditOf(t testing.TB, d delegations, typ string) []store.AuditEvent {
	t.Helper()
	ev, err := d.ListAudit(context.Background(), store.AuditQuery{Type: typ, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// asAgentOf makes a client an agent of owner.
func asAgentOf(owner string) clientOption {
	return func(c *store.Client) {
		c.Agent = &store.AgentPolicy{Owner: owner, MaxTokenTTL: 10 * time.Minute}
	}
}

// newDelegation stores a delegation of client for subject.
func newDelegation(t testing.TB, d delegations, now time.Time, id, parent, client, subject string, actors ...string) {
	t.Helper()
	root := id
	if parent != "" {
		p, err := d.GetDelegation(context.Background(), parent)
		if err != nil {
			t.Fatal(err)
		}
		root = p.RootID
	}
	if err := d.CreateDelegation(context.Background(), store.Delegation{
		ID: id, RootID: root, ParentID: parent, ClientID: client, Subject: subject, Actors: actors,
		Audience: []string{audOrders}, Scopes: []string{scopeRead},
		CreatedAt: now.UTC().Truncate(store.TimePrecision), ExpiresAt: now.Add(time.Hour).UTC().Truncate(store.TimePrecision),
	}); err != nil {
		t.Fatalf("create delegation %s: %v", id, err)
	}
}

// signAccessToken signs an access token as the server would, with extra
// claims.
func signAccessToken(t testing.TB, e *testEnv, clientID, sub string, extra map[string]any) string {
	t.Helper()
	now := e.Clock.Now().Unix()
	claims := map[string]any{
		"iss": e.Issuer, "sub": sub, "aud": audOrders, "client_id": clientID, "scope": scopeRead,
		"iat": now, "exp": now + 600, "jti": fmt.Sprintf("jti-%d-%s", time.Now().UnixNano(), clientID),
	}
	for k, v := range extra {
		claims[k] = v
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	key, err := e.Ring.Signer()
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jose.Sign(key, payload, &jose.SignOptions{Type: "at+jwt"})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// storeOpaque stores an opaque access token of client with extra claims.
func storeOpaque(t testing.TB, e *testEnv, clientID, sub string, extra json.RawMessage) string {
	t.Helper()
	v, hash := opaque.New(opaque.AccessTokenPrefix)
	now := e.Clock.Now().UTC().Truncate(store.TimePrecision)
	if err := e.Store.CreateToken(context.Background(), store.TokenRecord{
		Hash: hash, Kind: store.KindAccessToken, ClientID: clientID, Subject: sub, Scopes: []string{scopeRead},
		Audience: []string{audOrders}, IssuedAt: now, ExpiresAt: now.Add(10 * time.Minute), Extra: extra,
	}); err != nil {
		t.Fatal(err)
	}
	return v
}

// storeRefresh stores a refresh token of client for user.
func storeRefresh(t testing.TB, e *testEnv, family, clientID, userID, delegationID string) string {
	t.Helper()
	v, hash := opaque.New(opaque.RefreshTokenPrefix)
	now := e.Clock.Now().UTC().Truncate(store.TimePrecision)
	if err := e.Store.CreateRefreshToken(context.Background(), store.RefreshToken{
		Hash: hash, FamilyID: family, ClientID: clientID, UserID: userID, Scopes: []string{scopeRead},
		AuthTime: now, AMR: []string{"pwd"}, DelegationID: delegationID,
		CreatedAt: now, ExpiresAt: now.Add(time.Hour), FamilyExpiresAt: now.Add(24 * time.Hour),
	}); err != nil {
		t.Fatalf("create refresh token: %v", err)
	}
	return v
}

func (e *testEnv) addStoreUser(t testing.TB, id string) {
	t.Helper()
	now := e.Clock.Now().UTC()
	if err := e.Store.CreateUser(context.Background(), store.User{ID: id, Username: id, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
}

func introspectActive(t testing.TB, e *testEnv, token string, auth func(*http.Request)) bool {
	t.Helper()
	resp, in := e.introspect(t, token, auth)
	if in["active"] != true {
		wantInactive(t, resp, in)
		return false
	}
	return true
}

// TestIntrospectionClientGrantsRevoked: once a client's grants are
// revoked (TokensRevokedBefore), its JWT, opaque and refresh tokens issued
// at or before then are inactive; tokens issued later are active.
func TestIntrospectionClientGrantsRevoked(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, envOptions{})
	var d delegations = e.Store
	e.addStoreUser(t, "u-alice")
	secret := e.addConfidential(t, "svc")
	agentSecret := e.addConfidential(t, "agent", asAgentOf("client:svc"))
	opqSecret := e.addConfidential(t, "agent-opq", asAgentOf("client:svc"), opaqueFormat())
	agent, opq := basic("agent", agentSecret), basic("agent-opq", opqSecret)

	tokens := map[string]struct {
		token string
		auth  func(*http.Request)
	}{
		"jwt":     {e.token(t, "agent", agentSecret, nil).AccessToken, agent},
		"opaque":  {e.token(t, "agent-opq", opqSecret, nil).AccessToken, opq},
		"refresh": {storeRefresh(t, e, "fam-1", "agent", "u-alice", ""), agent},
		"other":   {e.token(t, "svc", secret, nil).AccessToken, basic("svc", secret)},
	}
	for name, tok := range tokens {
		if !introspectActive(t, e, tok.token, tok.auth) {
			t.Fatalf("%s inactive before the revocation", name)
		}
	}
	for _, id := range []string{"agent", "agent-opq"} {
		if err := d.RevokeClientGrants(ctx, id, e.Clock.Now()); err != nil {
			t.Fatal(err)
		}
		e.Server.Clients().Invalidate(id) // as the admin API and the owner routes do
	}
	for name, tok := range tokens {
		if got := introspectActive(t, e, tok.token, tok.auth); got != (name == "other") {
			t.Errorf("%s: active = %v after the revocation", name, got)
		}
	}
	// iat has whole seconds: a token of a later second is active.
	e.Clock.Advance(2 * time.Second)
	if !introspectActive(t, e, e.token(t, "agent", agentSecret, nil).AccessToken, agent) {
		t.Error("a token issued after the revocation is inactive")
	}
	if !introspectActive(t, e, e.token(t, "agent-opq", opqSecret, nil).AccessToken, opq) {
		t.Error("an opaque token issued after the revocation is inactive")
	}
}

// TestIntrospectionAgentOwner: an agent's tokens are inactive while its
// owner is gone: a user deleted or disabled (active again once enabled),
// a service deleted.
func TestIntrospectionAgentOwner(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, envOptions{})
	e.addStoreUser(t, "u-alice")
	e.addConfidential(t, "svc")
	userAgent := e.addConfidential(t, "user-agent", asAgentOf("user:u-alice"))
	svcAgent := e.addConfidential(t, "svc-agent", asAgentOf("client:svc"))
	ua, sa := basic("user-agent", userAgent), basic("svc-agent", svcAgent)
	uTok, sTok := e.token(t, "user-agent", userAgent, nil).AccessToken, e.token(t, "svc-agent", svcAgent, nil).AccessToken
	if !introspectActive(t, e, uTok, ua) || !introspectActive(t, e, sTok, sa) {
		t.Fatal("inactive while the owners are there")
	}
	setDisabled := func(disabled bool) {
		t.Helper()
		if _, err := e.Store.UpdateUser(ctx, "u-alice", func(u store.User) (store.User, error) {
			u.Disabled = disabled
			return u, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	setDisabled(true)
	if introspectActive(t, e, uTok, ua) {
		t.Error("active while its owner is disabled")
	}
	setDisabled(false)
	if !introspectActive(t, e, uTok, ua) {
		t.Error("inactive once its owner is enabled again")
	}
	if err := e.Store.DeleteUser(ctx, "u-alice"); err != nil {
		t.Fatal(err)
	}
	if introspectActive(t, e, uTok, ua) {
		t.Error("active after its owner was deleted")
	}
	if err := e.Store.DeleteClient(ctx, "svc"); err != nil {
		t.Fatal(err)
	}
	e.Server.Clients().Invalidate("svc")
	if introspectActive(t, e, sTok, sa) {
		t.Error("active after its owning service was deleted")
	}
}

// TestIntrospectionDelegationRevoked: a token that names a delegation
// (delegation_id: a JWT claim, an opaque token's extra claims, a refresh
// token's family) is inactive once the delegation, or one it descends
// from, is revoked, or when the delegation is unknown or the claim
// malformed.
func TestIntrospectionDelegationRevoked(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, envOptions{})
	var d delegations = e.Store
	e.addStoreUser(t, "u-alice")
	secret := e.addConfidential(t, "svc", withAudiences(audOrders))
	auth := basic("svc", secret)
	now := e.Clock.Now()
	newDelegation(t, d, now, "d-root", "", "svc", "u-alice", "svc")
	newDelegation(t, d, now, "d-child", "d-root", "svc", "u-alice", "agent", "svc")
	newDelegation(t, d, now, "d-other", "", "svc", "u-alice", "svc")

	jwtOf := func(id any) string {
		return signAccessToken(t, e, "svc", "u-alice", map[string]any{"delegation_id": id})
	}
	opqOf := func(id string) string {
		return storeOpaque(t, e, "svc", "u-alice", json.RawMessage(`{"delegation_id":"`+id+`"}`))
	}
	root, child, other := jwtOf("d-root"), jwtOf("d-child"), jwtOf("d-other")
	opqChild := opqOf("d-child")
	rtChild := storeRefresh(t, e, "fam-child", "svc", "u-alice", "d-child")
	for name, tok := range map[string]string{"root": root, "child": child, "other": other, "opaque child": opqChild, "refresh child": rtChild} {
		if !introspectActive(t, e, tok, auth) {
			t.Fatalf("%s inactive before any revocation", name)
		}
	}
	// The delegation_id is part of the answer.
	if _, in := e.introspect(t, child, auth); in["delegation_id"] != "d-child" {
		t.Errorf("delegation_id = %v", in["delegation_id"])
	}
	for name, tok := range map[string]string{
		"unknown delegation": jwtOf("d-nope"),
		"numeric claim":      jwtOf(42),
		"empty claim":        jwtOf(""),
		"unknown (opaque)":   opqOf("d-nope"),
	} {
		if introspectActive(t, e, tok, auth) {
			t.Errorf("%s: active", name)
		}
	}
	// The subject of an exchanged token may be a service (a client), or
	// another issuer's principal; a subject that is neither is inactive.
	e.addConfidential(t, "svc2")
	newDelegation(t, d, now, "d-svc", "", "svc", "svc2", "svc")
	newDelegation(t, d, now, "d-ghost", "", "svc", "ghost", "svc")
	if err := d.CreateDelegation(ctx, store.Delegation{ID: "d-ext", RootID: "d-ext", ClientID: "svc", Subject: "ext-user",
		SubjectIssuer: "https://idp.example.com", Actors: []string{"svc"}, CreatedAt: now.UTC().Truncate(store.TimePrecision),
		ExpiresAt: now.Add(time.Hour).UTC().Truncate(store.TimePrecision)}); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		tok  string
		want bool
	}{
		"service subject":                     {signAccessToken(t, e, "svc", "svc2", map[string]any{"delegation_id": "d-svc"}), true},
		"external subject":                    {signAccessToken(t, e, "svc", "ext-user", map[string]any{"delegation_id": "d-ext"}), true},
		"unknown subject":                     {signAccessToken(t, e, "svc", "ghost", map[string]any{"delegation_id": "d-ghost"}), false},
		"client subject without a delegation": {signAccessToken(t, e, "svc", "svc2", nil), false},
	} {
		if got := introspectActive(t, e, c.tok, auth); got != c.want {
			t.Errorf("%s: active = %v, want %v", name, got, c.want)
		}
	}
	if n, err := d.RevokeDelegation(ctx, "d-root", e.Clock.Now()); err != nil || n < 2 {
		t.Fatalf("revoke: %d %v", n, err)
	}
	for name, tok := range map[string]string{"root": root, "child": child, "opaque child": opqChild, "refresh child": rtChild} {
		if introspectActive(t, e, tok, auth) {
			t.Errorf("%s: active after its chain was revoked", name)
		}
	}
	if !introspectActive(t, e, other, auth) {
		t.Error("a token of another delegation is inactive")
	}
}

// TestAgentRevokeByService: a confidential client revokes an agent it
// owns at PathAgentRevoke; nothing else can, and every refusal looks the
// same.
func TestAgentRevokeByService(t *testing.T) {
	e := newEnv(t, envOptions{})
	var d delegations = e.Store
	svcSecret := e.addConfidential(t, "svc")
	otherSecret := e.addConfidential(t, "other")
	agentSecret := e.addConfidential(t, "agent", asAgentOf("client:svc"))
	e.addConfidential(t, "user-agent", asAgentOf("user:u-alice"))
	e.addPublic(t, "pub", withGrants("authorization_code"))
	tok := e.token(t, "agent", agentSecret, nil).AccessToken

	revoke := func(auth func(*http.Request), form url.Values) *response {
		t.Helper()
		return e.post(t, server.PathAgentRevoke, form, auth)
	}
	for name, c := range map[string]struct {
		auth func(*http.Request)
		form url.Values
		code string
	}{
		"another client":        {basic("other", otherSecret), url.Values{"agent_id": {"agent"}}, "invalid_request"},
		"an agent of a user":    {basic("svc", svcSecret), url.Values{"agent_id": {"user-agent"}}, "invalid_request"},
		"not an agent":          {basic("svc", svcSecret), url.Values{"agent_id": {"other"}}, "invalid_request"},
		"unknown":               {basic("svc", svcSecret), url.Values{"agent_id": {"nobody"}}, "invalid_request"},
		"no agent_id":           {basic("svc", svcSecret), url.Values{}, "invalid_request"},
		"wrong secret":          {basic("svc", "wrong"), url.Values{"agent_id": {"agent"}}, "invalid_client"},
		"a public client":       {nil, url.Values{"client_id": {"pub"}, "agent_id": {"agent"}}, "invalid_client"},
		"the agent revokes own": {basic("agent", agentSecret), url.Values{"agent_id": {"agent"}}, "invalid_request"},
	} {
		t.Run(name, func(t *testing.T) {
			auth := c.auth
			if auth == nil {
				auth = func(*http.Request) {}
			}
			r := revoke(auth, c.form)
			var body map[string]any
			decodeJSON(t, r.Body, &body)
			if r.Status < 400 || body["error"] != c.code {
				t.Fatalf("got %s, want %s", r, c.code)
			}
			if c.code == "invalid_request" && c.form.Get("agent_id") != "" && body["error_description"] != "agent_id names no agent this client owns" {
				t.Errorf("description %q", body["error_description"])
			}
		})
	}
	if !introspectActive(t, e, tok, basic("agent", agentSecret)) {
		t.Fatal("a refused revocation revoked")
	}
	r := revoke(basic("svc", svcSecret), url.Values{"agent_id": {"agent"}})
	if r.Status != http.StatusOK {
		t.Fatalf("revoke: %s", r)
	}
	var got server.AgentRevokeResponse
	decodeJSON(t, r.Body, &got)
	if got.AgentID != "agent" || got.TokensRevokedBefore.IsZero() {
		t.Fatalf("answer %s", r.Body)
	}
	if introspectActive(t, e, tok, basic("agent", agentSecret)) {
		t.Error("the agent's token is active after its owner revoked it")
	}
	ev := auditOf(t, d, store.AuditAgentRevoked)
	if len(ev) != 1 || ev[0].ClientID != "agent" || ev[0].By != "client:svc" || ev[0].RequestID == "" {
		t.Fatalf("audit = %+v", ev)
	}
}

// TestAccountAgents: the account page lists the agents the user owns and
// the delegations acting for them, each with a revoke form; revoking one
// needs the CSRF token, is refused for what is not the user's, and is
// audited with By "user:<id>".
func TestAccountAgents(t *testing.T) {
	ctx := context.Background()
	e := newAcctEnv(t)
	ds, d := e.Store, delegations(e.Store)
	alice := e.addUser(t, "u-alice", "alice", "Alice", "alice@example.com")
	bob := e.addUser(t, "u-bob", "bob", "Bob", "bob@example.com")
	e.addClient(t, "svc", "Booking Service")
	for id, owner := range map[string]string{"trip-agent": "user:u-alice", "bob-agent": "user:u-bob"} {
		c := e.addClient(t, id, "Agent "+id)
		if _, err := e.Store.UpdateClient(ctx, id, func(c store.Client) (store.Client, error) {
			c.Agent = &store.AgentPolicy{Owner: owner, MaxTokenTTL: 10 * time.Minute, RequireDPoP: true}
			return c, nil
		}); err != nil {
			t.Fatal(err)
		}
		_ = c
	}
	now := time.Now()
	newDelegation(t, d, now, "d-alice", "", "svc", alice.ID, "trip-agent", "svc")
	newDelegation(t, d, now, "d-bob", "", "svc", bob.ID, "svc")
	if err := d.CreateDelegation(ctx, store.Delegation{ID: "d-foreign", RootID: "d-foreign", ClientID: "svc", Subject: alice.ID,
		SubjectIssuer: "https://elsewhere.example", Actors: []string{"svc"}, CreatedAt: now.UTC(), ExpiresAt: now.Add(time.Hour).UTC()}); err != nil {
		t.Fatal(err)
	}
	b := e.signIn(t, alice)
	page := e.getAccount(b, server.PathAccount)
	if page.Status != http.StatusOK {
		t.Fatalf("account page: %d", page.Status)
	}
	for _, want := range []string{
		"Your agents", "Agent trip-agent", `action="/account/agents/revoke"`, `name="client_id" value="trip-agent"`, "DPoP",
		"Acting for you", "Booking Service", "trip-agent ← svc", `action="/account/delegations/revoke"`, `name="delegation_id" value="d-alice"`,
	} {
		if !strings.Contains(page.Body, want) {
			t.Errorf("account page lacks %q", want)
		}
	}
	for _, leak := range []string{"bob-agent", "d-bob", "d-foreign"} {
		if strings.Contains(page.Body, leak) {
			t.Errorf("account page shows %q", leak)
		}
	}
	token := e.csrfToken(t, b)
	post := func(path string, form url.Values) acctResp {
		req, _ := http.NewRequest(http.MethodPost, acctIssuer+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return e.send(b, req)
	}
	if r := post(server.PathAccountAgentRevoke, url.Values{"client_id": {"trip-agent"}}); r.Status != http.StatusForbidden {
		t.Fatalf("without CSRF token: %d", r.Status)
	}
	for _, id := range []string{"bob-agent", "svc", "nobody"} {
		if r := post(server.PathAccountAgentRevoke, url.Values{"csrf_token": {token}, "client_id": {id}}); r.Status != http.StatusNotFound {
			t.Errorf("revoke %s: %d, want 404", id, r.Status)
		}
	}
	for _, id := range []string{"d-bob", "d-foreign", "d-nope"} {
		if r := post(server.PathAccountDelegationRevoke, url.Values{"csrf_token": {token}, "delegation_id": {id}}); r.Status != http.StatusNotFound {
			t.Errorf("revoke %s: %d, want 404", id, r.Status)
		}
	}
	if len(auditOf(t, d, "")) != 0 {
		t.Fatal("a refused revocation was audited")
	}
	r := post(server.PathAccountAgentRevoke, url.Values{"csrf_token": {token}, "client_id": {"trip-agent"}})
	if r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/account?revoked=1" {
		t.Fatalf("revoke agent: %d %q", r.Status, r.Header.Get("Location"))
	}
	if c, err := ds.GetClient(ctx, "trip-agent"); err != nil || c.TokensRevokedBefore.IsZero() {
		t.Fatalf("trip-agent not revoked: %v %v", c.TokensRevokedBefore, err)
	}
	ev := auditOf(t, d, store.AuditAgentRevoked)
	if len(ev) != 1 || ev[0].ClientID != "trip-agent" || ev[0].By != "user:u-alice" || ev[0].Subject != "u-alice" {
		t.Fatalf("audit = %+v", ev)
	}
	if c, _ := ds.GetClient(ctx, "bob-agent"); !c.TokensRevokedBefore.IsZero() {
		t.Fatal("bob's agent was revoked")
	}

	// d-alice was revoked with the agent it names as an actor: a fresh one.
	newDelegation(t, d, now, "d-alice-2", "", "svc", alice.ID, "svc")
	page = e.getAccount(b, server.PathAccount+"?revoked=1")
	if !strings.Contains(page.Body, "Revoked.") || !strings.Contains(page.Body, `value="d-alice-2"`) || strings.Contains(page.Body, `value="d-alice"`) {
		t.Fatalf("account page after revoking:\n%s", page.Body)
	}
	r = post(server.PathAccountDelegationRevoke, url.Values{"csrf_token": {token}, "delegation_id": {"d-alice-2"}})
	if r.Status != http.StatusSeeOther {
		t.Fatalf("revoke delegation: %d", r.Status)
	}
	if revoked, _ := d.DelegationRevoked(ctx, "d-alice-2"); !revoked {
		t.Fatal("d-alice-2 not revoked")
	}
	ev = auditOf(t, d, store.AuditDelegationRevoked)
	if len(ev) != 1 || ev[0].DelegationID != "d-alice-2" || ev[0].By != "user:u-alice" || ev[0].Subject != "u-alice" {
		t.Fatalf("audit = %+v", ev)
	}
	if revoked, _ := d.DelegationRevoked(ctx, "d-bob"); revoked {
		t.Fatal("bob's delegation was revoked")
	}
}

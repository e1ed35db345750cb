package server_test

// Token exchange (RFC 8693) end to end: a user signs in at a web app whose
// token is for service A; A exchanges it for service B (on-behalf-of); an
// agent exchanges A's token for service C with its own token as actor
// token (two hops, nested act); and the policy's refusals, each with its
// RFC error code.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/delegation"
	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/oauth/grant"
	"github.com/writ-dev/writ/internal/server"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/jose"
)

const (
	audServiceA = "https://a.example.test"
	audServiceB = "https://b.example.test"
	audServiceC = "https://c.example.test"
)

// exchangeResponse is an RFC 8693 §2.2.1 response.
type exchangeResponse struct {
	AccessToken     string `json:"access_token"`
	IssuedTokenType string `json:"issued_token_type"`
	TokenType       string `json:"token_type"`
	ExpiresIn       int64  `json:"expires_in"`
	Scope           string `json:"scope"`
	RefreshToken    string `json:"refresh_token"`
}

// payloadOf decodes the (already verified) claims of a compact JWT.
func payloadOf(t testing.TB, tok string) map[string]json.RawMessage {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %q", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func withExchange(p *store.ExchangePolicy) clientOption {
	return func(c *store.Client) { c.Exchange = p }
}

func withAgent(a *store.AgentPolicy) clientOption { return func(c *store.Client) { c.Agent = a } }

// xClient registers a client that may exchange tokens addressed to its
// first audience, and returns its secret.
func xClient(e *testEnv, t *testing.T, id string, audiences ...string) string {
	t.Helper()
	return e.addConfidential(t, id, withGrants(grant.TypeTokenExchange), withScopes(scopeRead), withAudiences(audiences...))
}

func TestTokenExchangeEndToEnd(t *testing.T) {
	e := newSignInEnv(t, envOptions{})
	ctx := context.Background()

	// Discovery lists the grant.
	var md server.Metadata
	decodeJSON(t, e.get(t, server.PathASMetadata).Body, &md)
	if !slices.Contains(md.GrantTypesSupported, grant.TypeTokenExchange) {
		t.Fatalf("grant_types_supported = %q: no token exchange", md.GrantTypesSupported)
	}

	e.addUser(t, "u-alice", "alice", alicePassword)
	cb := newCallbackServer(t)
	redirect := cb.URL + "/callback"
	webSecret := e.addConfidential(t, "webapp", webApp(redirect), firstParty(),
		withScopes(append(slices.Clone(webScopes), scopeRead, scopeWrite)...), withAudiences(audServiceA))
	aSecret := e.addConfidential(t, "svc-a", withGrants(grant.TypeTokenExchange),
		withScopes(scopeRead, scopeWrite), withAudiences(audServiceA, audServiceB))
	agentSecret := e.addConfidential(t, "agent-7", withGrants(grant.TypeTokenExchange, "client_credentials"),
		withScopes(scopeRead), withAudiences(audServiceB, audServiceC),
		withAgent(&store.AgentPolicy{Owner: store.OwnerUser + "u-alice", MaxTokenTTL: 2 * time.Minute}))
	rSecret := e.addConfidential(t, "svc-r", withGrants(grant.TypeTokenExchange, "refresh_token"),
		withScopes(scopeRead), withAudiences(audServiceA, audServiceB), withExchange(&store.ExchangePolicy{RefreshTokens: true}))
	shortSecret := e.addConfidential(t, "agent-short", withGrants(grant.TypeTokenExchange),
		withScopes(scopeRead), withAudiences(audServiceB, audServiceC), withExchange(&store.ExchangePolicy{MaxChain: 1}))

	rp := e.newRP(t, "webapp", webSecret, redirect, scopeOpenID, scopeRead, scopeWrite)
	_, tok, _ := rp.signIn(t, e, e.newBrowser(t), user{Username: "alice", Password: alicePassword})
	userToken := tok.AccessToken
	if c, _ := verifyAccessToken(t, e, userToken, audServiceA); c.Sub != "u-alice" {
		t.Fatalf("user token sub %q", c.Sub)
	}

	exchange := func(id, secret string, form url.Values) *response {
		form.Set("grant_type", grant.TypeTokenExchange)
		return e.post(t, server.PathToken, form, basic(id, secret))
	}
	ok := func(r *response) exchangeResponse {
		t.Helper()
		if r.Status != http.StatusOK {
			t.Fatalf("exchange: %s", r)
		}
		var xr exchangeResponse
		decodeJSON(t, r.Body, &xr)
		return xr
	}

	// On behalf of: A exchanges the user's token for B.
	b := ok(exchange("svc-a", aSecret, url.Values{
		"subject_token": {userToken}, "subject_token_type": {grant.TokenTypeAccessToken},
		"audience": {audServiceB}, "scope": {scopeRead},
	}))
	if b.IssuedTokenType != grant.TokenTypeAccessToken || b.TokenType != "Bearer" || b.Scope != scopeRead || b.RefreshToken != "" {
		t.Fatalf("response %+v", b)
	}
	if c, _ := verifyAccessToken(t, e, b.AccessToken, audServiceB); c.Sub != "u-alice" || c.ClientID != "svc-a" {
		t.Fatalf("B's token: sub %q client_id %q", c.Sub, c.ClientID)
	}
	bClaims := payloadOf(t, b.AccessToken)
	if string(bClaims["act"]) != `{"sub":"svc-a","client_id":"svc-a"}` {
		t.Fatalf("act = %s", bClaims["act"])
	}

	// Two hops: the agent, with its own token as actor token, acts on
	// A's token for C.
	agentTok := e.token(t, "agent-7", agentSecret, url.Values{"resource": {audServiceB}})
	c := ok(exchange("agent-7", agentSecret, url.Values{
		"subject_token": {b.AccessToken}, "subject_token_type": {grant.TokenTypeAccessToken},
		"actor_token": {agentTok.AccessToken}, "actor_token_type": {grant.TokenTypeAccessToken},
		"resource": {audServiceC},
	}))
	if c.ExpiresIn > 120 {
		t.Fatalf("the agent's token lives %d s, more than its 120", c.ExpiresIn)
	}
	verifyAccessToken(t, e, c.AccessToken, audServiceC)
	cClaims := payloadOf(t, c.AccessToken)
	chain, err := delegation.ParseAct(cClaims["act"], 0)
	if err != nil || !slices.Equal(chain.Subjects(), []string{"agent-7", "svc-a"}) {
		t.Fatalf("act = %s (%v)", cClaims["act"], err)
	}
	var bID, cID string
	_ = json.Unmarshal(bClaims["delegation_id"], &bID)
	_ = json.Unmarshal(cClaims["delegation_id"], &cID)

	// The delegations and the audit trail record both hops.
	d, err := e.Store.GetDelegation(ctx, cID)
	if err != nil || d.ParentID != bID || d.RootID != bID || !slices.Equal(d.Actors, []string{"agent-7", "svc-a"}) || d.Subject != "u-alice" {
		t.Fatalf("delegation %+v (%v)", d, err)
	}
	events, err := e.Store.ListAudit(ctx, store.AuditQuery{Type: store.AuditTokenExchange})
	if err != nil || len(events) != 2 || !slices.Equal(events[1].Actors, []string{"agent-7", "svc-a"}) || events[1].DelegationID != cID {
		t.Fatalf("audit %+v (%v)", events, err)
	}

	// Introspection shows the chain to the token's client.
	intr := e.post(t, server.PathIntrospect, url.Values{"token": {c.AccessToken}}, basic("agent-7", agentSecret))
	if intr.Status != http.StatusOK || !strings.Contains(string(intr.Body), `"act":{"sub":"agent-7"`) {
		t.Fatalf("introspection: %s", intr)
	}

	// A policy with refresh tokens: every access token of the family
	// carries the act chain and the delegation.
	r := ok(exchange("svc-r", rSecret, url.Values{
		"subject_token": {userToken}, "subject_token_type": {grant.TokenTypeAccessToken}, "audience": {audServiceB},
	}))
	if r.RefreshToken == "" {
		t.Fatal("no refresh token under a policy with refresh_tokens")
	}
	refreshed := e.post(t, server.PathToken, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r.RefreshToken}}, basic("svc-r", rSecret))
	var rr exchangeResponse
	if refreshed.Status != http.StatusOK {
		t.Fatalf("refresh: %s", refreshed)
	}
	decodeJSON(t, refreshed.Body, &rr)
	first, again := payloadOf(t, r.AccessToken), payloadOf(t, rr.AccessToken)
	if string(again["act"]) != `{"sub":"svc-r","client_id":"svc-r"}` || string(again["delegation_id"]) != string(first["delegation_id"]) {
		t.Fatalf("refreshed token: act %s delegation_id %s (first %s)", again["act"], again["delegation_id"], first["delegation_id"])
	}

	// Refusals, each with its error code.
	stranger, err := jose.GenerateKey(jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	foreignPayload, _ := json.Marshal(map[string]any{"iss": "https://stranger.example.test", "sub": "eve", "aud": audServiceA,
		"exp": e.Clock.Now().Add(time.Hour).Unix()})
	foreign, err := jose.Sign(stranger, foreignPayload, &jose.SignOptions{Type: "JWT"})
	if err != nil {
		t.Fatal(err)
	}
	subject := func(tok string, kv ...string) url.Values {
		v := url.Values{"subject_token": {tok}, "subject_token_type": {grant.TokenTypeAccessToken}}
		for i := 0; i < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1])
		}
		return v
	}
	for _, tc := range []struct {
		name, id, secret string
		form             url.Values
		code             string
	}{
		{"wrong target audience", "svc-a", aSecret, subject(userToken, "audience", audServiceC), oauth.CodeInvalidTarget},
		{"scope widening", "agent-7", agentSecret, subject(b.AccessToken, "scope", scopeWrite), oauth.CodeInvalidScope},
		{"subject not for the client", "agent-7", agentSecret, subject(userToken), oauth.CodeInvalidRequest},
		{"unknown issuer", "svc-a", aSecret, subject(foreign), oauth.CodeInvalidRequest},
		{"chain too long", "agent-short", shortSecret, subject(b.AccessToken), oauth.CodeInvalidRequest},
		{"impersonation not allowed", "svc-a", aSecret, subject(userToken, grant.ParamImpersonate, "true"), oauth.CodeInvalidRequest},
		{"grant not registered", "webapp", webSecret, subject(userToken), oauth.CodeUnauthorizedClient},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantOAuthError(t, exchange(tc.id, tc.secret, tc.form), http.StatusBadRequest, tc.code)
		})
	}
	if events, err := e.Store.ListAudit(ctx, store.AuditQuery{}); err != nil || len(events) != 3 {
		t.Fatalf("refusals were audited as exchanges: %d events (%v)", len(events), err)
	}

	// Revoking A's delegation revokes the agent's below it: neither token
	// can be exchanged any more.
	if n, err := e.Store.RevokeDelegation(ctx, bID, e.Clock.Now()); err != nil || n != 2 {
		t.Fatalf("revoke delegation: %d, %v", n, err)
	}
	wantOAuthError(t, exchange("agent-7", agentSecret, subject(b.AccessToken)), http.StatusBadRequest, oauth.CodeInvalidRequest)
	cr := xClient(e, t, "svc-c", audServiceC, audServiceA)
	wantOAuthError(t, exchange("svc-c", cr, subject(c.AccessToken)), http.StatusBadRequest, oauth.CodeInvalidRequest)
}

package grant_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/delegation"
	"github.com/writ-dev/writ/internal/mint"
	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/oauth/grant"
	"github.com/writ-dev/writ/internal/opaque"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
)

const (
	xIssuer   = "https://as.test"
	xExternal = "https://partner.test"
)

// xStore is an in-memory ExchangeStores and client getter.
type xStore struct {
	mu          sync.Mutex
	tokens      map[string]store.TokenRecord
	revokedJTI  map[string]bool
	users       map[string]store.User
	clients     map[string]store.Client
	delegations map[string]store.Delegation
	refresh     []store.RefreshToken
	audit       []store.AuditEvent
	failAudit   bool
}

func newXStore() *xStore {
	return &xStore{
		tokens: map[string]store.TokenRecord{}, revokedJTI: map[string]bool{},
		users:       map[string]store.User{"alice": {ID: "alice"}, "mallory": {ID: "mallory", Disabled: true}},
		clients:     map[string]store.Client{},
		delegations: map[string]store.Delegation{},
	}
}

func (s *xStore) GetToken(_ context.Context, hash []byte) (store.TokenRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.tokens[string(hash)]
	if !ok {
		return r, store.ErrNotFound
	}
	return r, nil
}

func (s *xStore) CreateToken(_ context.Context, r store.TokenRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[string(r.Hash)] = r
	return nil
}

func (s *xStore) IsJTIRevoked(_ context.Context, jti string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.revokedJTI[jti], nil
}

func (s *xStore) GetUser(_ context.Context, id string) (store.User, error) {
	u, ok := s.users[id]
	if !ok {
		return u, store.ErrNotFound
	}
	return u, nil
}

func (s *xStore) GetClient(_ context.Context, id string) (store.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[id]
	if !ok {
		return c, store.ErrNotFound
	}
	return c, nil
}

func (s *xStore) CreateRefreshToken(_ context.Context, t store.RefreshToken) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refresh = append(s.refresh, t)
	return nil
}

func (s *xStore) GetDelegation(_ context.Context, id string) (store.Delegation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.delegations[id]
	if !ok {
		return d, store.ErrNotFound
	}
	return d, nil
}

func (s *xStore) DelegationRevoked(_ context.Context, id string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id != "" {
		d, ok := s.delegations[id]
		if !ok || !d.RevokedAt.IsZero() {
			return true, nil
		}
		id = d.ParentID
	}
	return false, nil
}

func (s *xStore) CreateDelegation(_ context.Context, d store.Delegation) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.delegations[d.ID]; ok {
		return store.ErrAlreadyExists
	}
	s.delegations[d.ID] = d
	return nil
}

func (s *xStore) RevokeDelegation(_ context.Context, id string, at time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.delegations[id]
	if !ok {
		return 0, store.ErrNotFound
	}
	d.RevokedAt = at
	s.delegations[id] = d
	return 1, nil
}

func (s *xStore) AppendAudit(_ context.Context, e store.AuditEvent) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failAudit {
		return 0, errors.New("audit down")
	}
	s.audit = append(s.audit, e)
	e.Seq = int64(len(s.audit))
	return e.Seq, nil
}

// writes counts what the store holds that an exchange writes.
func (s *xStore) writes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.delegations) + len(s.refresh) + len(s.audit)
}

// fakeExternal trusts one partner issuer for token exchange.
type fakeExternal struct{ v *jwt.Verifier }

func (f fakeExternal) Verify(ctx context.Context, raw, use string, _ []string) (*jwt.Token, *store.TrustedIssuer, error) {
	if use != store.TrustSubjectToken {
		return nil, nil, grant.ErrUntrustedIssuer
	}
	tok, err := f.v.Verify(ctx, raw)
	if errors.Is(err, jwt.ErrIssuer) {
		return nil, nil, grant.ErrUntrustedIssuer
	}
	if err != nil {
		return nil, nil, err
	}
	return tok, &store.TrustedIssuer{Issuer: xExternal, Uses: []string{store.TrustSubjectToken}}, nil
}

type fakeIDJAG struct{ got *grant.IDJAGRequest }

func (f *fakeIDJAG) IssueIDJAG(_ context.Context, req grant.IDJAGRequest) (string, int64, error) {
	f.got = &req
	return "idjag.jwt.value", 300, nil
}

type xFixture struct {
	s        *xStore
	g        *grant.TokenExchange
	minter   *mint.Minter
	key      *jose.Key
	partner  *jose.Key
	now      time.Time
	verifier *jwt.Verifier
}

func newXFixture(t *testing.T) *xFixture {
	t.Helper()
	key, err := jose.GenerateKey(jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	partner, err := jose.GenerateKey(jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	f := &xFixture{s: newXStore(), key: key, partner: partner, now: testNow}
	now := func() time.Time { return f.now }
	f.minter = mint.New(xIssuer, staticSigner{key}, f.s, now)
	own := jose.NewKeySet(key.Public())
	if f.verifier, err = jwt.NewVerifier(jwt.StaticKeys(own), jwt.Config{
		Issuer: xIssuer, SkipAudienceCheck: true, Type: jwt.TypeAccessToken, Leeway: -1, Now: now,
	}); err != nil {
		t.Fatal(err)
	}
	idv, err := jwt.NewVerifier(jwt.StaticKeys(own), jwt.Config{
		Issuer: xIssuer, SkipAudienceCheck: true, Type: jwt.TypeJWT, Leeway: -1, Now: now,
	})
	if err != nil {
		t.Fatal(err)
	}
	ext, err := jwt.NewVerifier(jwt.StaticKeys(jose.NewKeySet(partner.Public())), jwt.Config{
		Issuer: xExternal, SkipAudienceCheck: true, Leeway: -1, Now: now,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.g = &grant.TokenExchange{
		Tokens: &grant.Tokens{
			Minter: f.minter, AccessTTL: 10 * time.Minute, RefreshTTL: time.Hour, RefreshMaxTTL: 24 * time.Hour, Now: now,
		},
		Store: f.s, Clients: f.s, Issuer: xIssuer, OwnAccessTokens: f.verifier, OwnIDTokens: idv,
		External: fakeExternal{ext}, DefaultAudience: xIssuer,
	}
	for _, c := range []store.Client{
		{ID: "web", GrantTypes: []string{grant.TypeAuthorizationCode}, Audiences: []string{"https://a.test"}},
		xClientA(), xAgent(),
	} {
		f.s.clients[c.ID] = c
	}
	return f
}

// xClientA is service A: it may exchange tokens addressed to it for B.
func xClientA() store.Client {
	return store.Client{
		ID: "svc-a", GrantTypes: []string{grant.TypeTokenExchange, grant.TypeRefreshToken}, Scopes: []string{"read", "write", "orders"},
		Audiences: []string{"https://a.test", "https://b.test"}, AccessTokenFormat: store.AccessTokenJWT,
	}
}

// xAgent acts for tokens addressed to B and calls C.
func xAgent() store.Client {
	return store.Client{
		ID: "agent-7", GrantTypes: []string{grant.TypeTokenExchange}, Scopes: []string{"read"},
		Audiences: []string{"https://b.test", "https://c.test"}, AccessTokenFormat: store.AccessTokenJWT,
		Agent: &store.AgentPolicy{Owner: store.OwnerUser + "alice", MaxTokenTTL: 5 * time.Minute},
	}
}

// userToken mints an access token of alice issued to web for aud, with
// extra claims.
func (f *xFixture) userToken(t *testing.T, aud string, scopes []string, ttl time.Duration, extra map[string]any) string {
	t.Helper()
	at, err := f.minter.Access(t.Context(), mint.AccessToken{
		ClientID: "web", Subject: "alice", Scopes: scopes, Audience: []string{aud}, TTL: ttl,
		Format: store.AccessTokenJWT, Extra: extra,
	})
	if err != nil {
		t.Fatal(err)
	}
	return at.Value
}

// signed signs claims with key and typ.
func signed(t *testing.T, key *jose.Key, typ string, claims map[string]any) string {
	t.Helper()
	b, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jose.Sign(key, b, &jose.SignOptions{Type: typ})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (f *xFixture) exchange(c store.Client, dpop string, kv ...string) (*grant.Response, error) {
	return f.g.Handle(context.Background(), &grant.Request{
		Form: form(append([]string{"grant_type", grant.TypeTokenExchange}, kv...)...), DPoPKey: dpop,
		Client: &oauth.Authenticated{Client: c, Method: oauth.AuthSecretBasic}, RequestID: "req-1",
	})
}

// claimsOf verifies an issued JWT access token and decodes its claims.
func (f *xFixture) claimsOf(t *testing.T, tok string) map[string]json.RawMessage {
	t.Helper()
	v, err := f.verifier.Verify(t.Context(), tok)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(v.Payload()), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestTokenExchangeOnBehalfOfAndTwoHops(t *testing.T) {
	f := newXFixture(t)
	user := f.userToken(t, "https://a.test", []string{"read", "write"}, 10*time.Minute, nil)
	resp, err := f.exchange(xClientA(), "", "subject_token", user, "subject_token_type", grant.TokenTypeAccessToken,
		"audience", "https://b.test", "scope", "read")
	if err != nil {
		t.Fatal(err)
	}
	if resp.IssuedTokenType != grant.TokenTypeAccessToken || resp.TokenType != "Bearer" || resp.Scope != "read" || resp.ExpiresIn != 600 || resp.RefreshToken != "" {
		t.Fatalf("response = %+v", resp)
	}
	m := f.claimsOf(t, resp.AccessToken)
	if string(m["sub"]) != `"alice"` || string(m["aud"]) != `"https://b.test"` || string(m["client_id"]) != `"svc-a"` {
		t.Fatalf("claims = %s %s %s", m["sub"], m["aud"], m["client_id"])
	}
	if string(m["act"]) != `{"sub":"svc-a","client_id":"svc-a"}` {
		t.Fatalf("act = %s", m["act"])
	}
	var first string
	_ = json.Unmarshal(m["delegation_id"], &first)
	d, ok := f.s.delegations[first]
	if !ok || d.RootID != first || d.ParentID != "" || d.Subject != "alice" || d.SubjectIssuer != xIssuer ||
		!slices.Equal(d.Actors, []string{"svc-a"}) || !slices.Equal(d.Audience, []string{"https://b.test"}) {
		t.Fatalf("delegation = %+v", d)
	}
	if len(f.s.audit) != 1 || f.s.audit[0].Type != store.AuditTokenExchange || f.s.audit[0].DelegationID != first ||
		!slices.Equal(f.s.audit[0].Actors, []string{"svc-a"}) || f.s.audit[0].RequestID != "req-1" {
		t.Fatalf("audit = %+v", f.s.audit)
	}
	if strings.Contains(string(f.s.audit[0].Details), user) || strings.Contains(string(f.s.audit[0].Details), resp.AccessToken) {
		t.Fatal("the audit event holds a token")
	}

	// Second hop: the agent acts on the token addressed to B, for C.
	resp2, err := f.exchange(xAgent(), "", "subject_token", resp.AccessToken, "subject_token_type", grant.TokenTypeAccessToken,
		"resource", "https://c.test")
	if err != nil {
		t.Fatal(err)
	}
	m2 := f.claimsOf(t, resp2.AccessToken)
	chain, err := delegation.ParseAct(m2["act"], 0)
	if err != nil || !slices.Equal(chain.Subjects(), []string{"agent-7", "svc-a"}) {
		t.Fatalf("act = %s (%v)", m2["act"], err)
	}
	if resp2.ExpiresIn != 300 || resp2.Scope != "read" {
		t.Fatalf("agent token: expires_in %d (want the agent's 300), scope %q", resp2.ExpiresIn, resp2.Scope)
	}
	var second string
	_ = json.Unmarshal(m2["delegation_id"], &second)
	if d2 := f.s.delegations[second]; d2.ParentID != first || d2.RootID != first || !slices.Equal(d2.Actors, []string{"agent-7", "svc-a"}) {
		t.Fatalf("second delegation = %+v", d2)
	}

	// Revoking the first delegation makes the second token unusable for
	// a further exchange.
	if _, err := f.s.RevokeDelegation(t.Context(), first, f.now); err != nil {
		t.Fatal(err)
	}
	c := xAgent()
	c.Audiences = append(c.Audiences, "https://d.test")
	c.ID = "agent-8"
	f.s.clients[c.ID] = c
	c.Audiences = []string{"https://c.test", "https://d.test"}
	_, err = f.exchange(c, "", "subject_token", resp2.AccessToken, "subject_token_type", grant.TokenTypeAccessToken, "audience", "https://d.test")
	wantOAuthCode(t, err, oauth.CodeInvalidRequest)
}

func TestTokenExchangeRefusals(t *testing.T) {
	f := newXFixture(t)
	dpopKey := "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
	userA := f.userToken(t, "https://a.test", []string{"read"}, 10*time.Minute, nil)
	withAct := f.userToken(t, "https://a.test", []string{"read"}, 10*time.Minute, map[string]any{"act": map[string]any{"sub": "svc-0"}})
	mayAct := f.userToken(t, "https://a.test", []string{"read"}, 10*time.Minute, map[string]any{"may_act": map[string]any{"sub": "svc-z"}})
	mayActA := f.userToken(t, "https://a.test", []string{"read"}, 10*time.Minute, map[string]any{"may_act": map[string]any{"sub": "svc-a", "client_id": "svc-a"}})
	partnerActor := signed(t, f.partner, "JWT", map[string]any{"iss": xExternal, "sub": "partner-bot", "exp": f.now.Add(time.Hour).Unix()})
	bound := f.userToken(t, "https://a.test", []string{"read"}, 10*time.Minute, map[string]any{"cnf": map[string]any{"jkt": dpopKey}})
	mtls := f.userToken(t, "https://a.test", []string{"read"}, 10*time.Minute, map[string]any{"cnf": map[string]any{"x5t#S256": "abc"}})
	forOther := f.userToken(t, "https://other.test", []string{"read"}, 10*time.Minute, nil)
	revokedTok := f.userToken(t, "https://a.test", []string{"read"}, 10*time.Minute, nil)
	rv, _ := f.verifier.Verify(t.Context(), revokedTok)
	f.s.revokedJTI[rv.Claims().ID] = true
	disabled, err := f.minter.Access(t.Context(), mint.AccessToken{ClientID: "web", Subject: "mallory", Scopes: []string{"read"},
		Audience: []string{"https://a.test"}, TTL: time.Minute, Format: store.AccessTokenJWT})
	if err != nil {
		t.Fatal(err)
	}
	unknownDelegation := f.userToken(t, "https://a.test", []string{"read"}, 10*time.Minute, map[string]any{"delegation_id": "gone"})
	partnerTok := signed(t, f.partner, "JWT", map[string]any{"iss": xExternal, "sub": "bob", "aud": "https://a.test", "exp": f.now.Add(time.Hour).Unix()})
	strangerKey, _ := jose.GenerateKey(jose.ES256)
	strangerTok := signed(t, strangerKey, "JWT", map[string]any{"iss": "https://stranger.test", "sub": "eve", "aud": "https://a.test", "exp": f.now.Add(time.Hour).Unix()})
	forged := signed(t, strangerKey, "at+jwt", map[string]any{"iss": xIssuer, "sub": "alice", "aud": "https://a.test", "exp": f.now.Add(time.Hour).Unix(), "jti": "x", "client_id": "web"})
	idTok := signed(t, f.key, "JWT", map[string]any{"iss": xIssuer, "sub": "alice", "aud": "web", "exp": f.now.Add(time.Hour).Unix(), "iat": f.now.Unix()})

	a := xClientA()
	noGrant := xClientA()
	noGrant.GrantTypes = []string{grant.TypeClientCredentials}
	chain1 := xClientA()
	chain1.Exchange = &store.ExchangePolicy{MaxChain: 1}
	actors := xClientA()
	actors.Exchange = &store.ExchangePolicy{Actors: []string{"svc-z"}}
	partnerOK := xClientA()
	partnerOK.Exchange = &store.ExchangePolicy{SubjectIssuers: []string{xExternal}}
	dpopAgent := xAgent()
	dpopAgent.Agent.RequireDPoP = true
	dpopAgent.Audiences = append(dpopAgent.Audiences, "https://a.test")

	sub := func(tok string) []string {
		return []string{"subject_token", tok, "subject_token_type", grant.TokenTypeAccessToken, "audience", "https://b.test"}
	}
	cases := []struct {
		name   string
		client store.Client
		dpop   string
		kv     []string
		code   string
	}{
		{"grant not registered", noGrant, "", sub(userA), oauth.CodeUnauthorizedClient},
		{"no subject token", a, "", []string{"subject_token_type", grant.TokenTypeAccessToken}, oauth.CodeInvalidRequest},
		{"no subject token type", a, "", []string{"subject_token", userA}, oauth.CodeInvalidRequest},
		{"unsupported subject token type", a, "", []string{"subject_token", userA, "subject_token_type", grant.TokenTypeRefreshToken}, oauth.CodeInvalidRequest},
		{"unsupported requested type", a, "", append(sub(userA), "requested_token_type", grant.TokenTypeRefreshToken), oauth.CodeInvalidRequest},
		{"id-jag without issuer", a, "", append(sub(userA), "requested_token_type", grant.TokenTypeIDJAG), oauth.CodeInvalidRequest},
		{"actor token without type", a, "", append(sub(userA), "actor_token", userA), oauth.CodeInvalidRequest},
		{"actor type without token", a, "", append(sub(userA), "actor_token_type", grant.TokenTypeAccessToken), oauth.CodeInvalidRequest},
		{"garbage subject", a, "", sub("not-a-token"), oauth.CodeInvalidRequest},
		{"forged subject", a, "", sub(forged), oauth.CodeInvalidRequest},
		{"unknown opaque subject", a, "", sub("writ_at_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), oauth.CodeInvalidRequest},
		{"revoked subject", a, "", sub(revokedTok), oauth.CodeInvalidRequest},
		{"disabled user", a, "", sub(disabled.Value), oauth.CodeInvalidRequest},
		{"revoked delegation", a, "", sub(unknownDelegation), oauth.CodeInvalidRequest},
		{"subject for another audience", a, "", sub(forOther), oauth.CodeInvalidRequest},
		{"id token for another client", a, "", []string{"subject_token", idTok, "subject_token_type", grant.TokenTypeIDToken, "audience", "https://b.test"}, oauth.CodeInvalidRequest},
		{"wrong target audience", a, "", []string{"subject_token", userA, "subject_token_type", grant.TokenTypeAccessToken, "audience", "https://c.test"}, oauth.CodeInvalidTarget},
		{"wrong target resource", a, "", []string{"subject_token", userA, "subject_token_type", grant.TokenTypeAccessToken, "resource", "https://c.test"}, oauth.CodeInvalidTarget},
		{"scope widening beyond subject", a, "", append(sub(userA), "scope", "read write"), oauth.CodeInvalidScope},
		{"scope widening beyond client", a, "", append(sub(userA), "scope", "admin"), oauth.CodeInvalidScope},
		{"unknown issuer", a, "", sub(strangerTok), oauth.CodeInvalidRequest},
		{"trusted issuer not in policy", a, "", sub(partnerTok), oauth.CodeInvalidRequest},
		{"chain too long", chain1, "", sub(withAct), oauth.CodeInvalidRequest},
		{"impersonation not allowed", a, "", append(sub(userA), grant.ParamImpersonate, "true"), oauth.CodeInvalidRequest},
		{"impersonation malformed", a, "", append(sub(userA), grant.ParamImpersonate, "yes"), oauth.CodeInvalidRequest},
		{"may_act mismatch", a, "", sub(mayAct), oauth.CodeInvalidRequest},
		{"actor not allowed", actors, "", sub(userA), oauth.CodeInvalidRequest},
		{"dpop-bound subject without proof", a, "", sub(bound), oauth.CodeInvalidRequest},
		{"dpop-bound subject, another key", a, "other-thumbprint", sub(bound), oauth.CodeInvalidRequest},
		{"mtls-bound subject", a, "", sub(mtls), oauth.CodeInvalidRequest},
		{"agent requires dpop", dpopAgent, "", sub(userA), oauth.CodeInvalidRequest},
		{"actor token dpop-bound", a, "", append(sub(userA), "actor_token", bound, "actor_token_type", grant.TokenTypeAccessToken), oauth.CodeInvalidRequest},
		{"external actor, issuer not in policy", a, "", append(sub(userA), "actor_token", partnerActor, "actor_token_type", grant.TokenTypeJWT), oauth.CodeInvalidRequest},
		{"impersonation with actor token", a, "", append(sub(userA), grant.ParamImpersonate, "true", "actor_token", userA, "actor_token_type", grant.TokenTypeAccessToken), oauth.CodeInvalidRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := f.s.writes()
			_, err := f.exchange(tc.client, tc.dpop, tc.kv...)
			t.Log(err)
			wantOAuthCode(t, err, tc.code)
			if f.s.writes() != before {
				t.Fatal("a refused exchange wrote something")
			}
		})
	}

	// The same requests that the policy allows succeed.
	for _, tc := range []struct {
		name   string
		client store.Client
		dpop   string
		kv     []string
	}{
		{"trusted partner", partnerOK, "", sub(partnerTok)},
		{"dpop-bound subject with its key", a, dpopKey, sub(bound)},
		{"chain within default", a, "", sub(withAct)},
		{"may_act names the actor", a, "", sub(mayActA)},
		{"external actor of a trusted issuer", partnerOK, "", append(sub(userA), "actor_token", partnerActor, "actor_token_type", grant.TokenTypeJWT)},
		{"id token for this client", func() store.Client { c := xClientA(); c.ID = "web"; return c }(), "", []string{"subject_token", idTok, "subject_token_type", grant.TokenTypeIDToken, "audience", "https://b.test"}},
	} {
		t.Run("allowed/"+tc.name, func(t *testing.T) {
			if _, err := f.exchange(tc.client, tc.dpop, tc.kv...); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestTokenExchangeTerms(t *testing.T) {
	f := newXFixture(t)
	dpopKey := "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"

	t.Run("lifetime never past the subject's", func(t *testing.T) {
		tok := f.userToken(t, "https://a.test", []string{"read"}, 90*time.Second, nil)
		resp, err := f.exchange(xClientA(), "", "subject_token", tok, "subject_token_type", grant.TokenTypeAccessToken)
		if err != nil {
			t.Fatal(err)
		}
		if resp.ExpiresIn != 90 {
			t.Fatalf("expires_in = %d, want 90", resp.ExpiresIn)
		}
		f.now = f.now.Add(90 * time.Second)
		defer func() { f.now = testNow }()
		_, err = f.exchange(xClientA(), "", "subject_token", tok, "subject_token_type", grant.TokenTypeAccessToken)
		wantOAuthCode(t, err, oauth.CodeInvalidRequest)
	})

	t.Run("dpop binding carried", func(t *testing.T) {
		tok := f.userToken(t, "https://a.test", []string{"read"}, time.Hour, map[string]any{"cnf": map[string]any{"jkt": dpopKey}})
		resp, err := f.exchange(xClientA(), dpopKey, "subject_token", tok, "subject_token_type", grant.TokenTypeAccessToken)
		if err != nil {
			t.Fatal(err)
		}
		m := f.claimsOf(t, resp.AccessToken)
		if resp.TokenType != "DPoP" || string(m["cnf"]) != `{"jkt":"`+dpopKey+`"}` {
			t.Fatalf("token_type %s cnf %s", resp.TokenType, m["cnf"])
		}
	})

	t.Run("actor token names the actor", func(t *testing.T) {
		user := f.userToken(t, "https://a.test", []string{"read"}, time.Hour, nil)
		actorTok, err := f.minter.Access(t.Context(), mint.AccessToken{ClientID: "agent-7", Subject: "agent-7", Audience: []string{xIssuer},
			TTL: 2 * time.Minute, Format: store.AccessTokenJWT})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := f.exchange(xClientA(), "", "subject_token", user, "subject_token_type", grant.TokenTypeAccessToken,
			"actor_token", actorTok.Value, "actor_token_type", grant.TokenTypeAccessToken)
		if err != nil {
			t.Fatal(err)
		}
		m := f.claimsOf(t, resp.AccessToken)
		if string(m["act"]) != `{"sub":"agent-7","client_id":"agent-7"}` || resp.ExpiresIn != 120 {
			t.Fatalf("act = %s, expires_in %d", m["act"], resp.ExpiresIn)
		}
	})

	t.Run("an external actor is named with its issuer", func(t *testing.T) {
		c := xClientA()
		c.Exchange = &store.ExchangePolicy{SubjectIssuers: []string{xExternal}}
		user := f.userToken(t, "https://a.test", []string{"read"}, time.Hour, nil)
		actor := signed(t, f.partner, "JWT", map[string]any{"iss": xExternal, "sub": "partner-bot", "client_id": "bot", "exp": f.now.Add(time.Hour).Unix()})
		resp, err := f.exchange(c, "", "subject_token", user, "subject_token_type", grant.TokenTypeAccessToken,
			"actor_token", actor, "actor_token_type", grant.TokenTypeJWT)
		if err != nil {
			t.Fatal(err)
		}
		if act := string(f.claimsOf(t, resp.AccessToken)["act"]); act != `{"sub":"partner-bot","client_id":"bot","iss":"https://partner.test"}` {
			t.Fatalf("act = %s", act)
		}
	})

	t.Run("impersonation when allowed", func(t *testing.T) {
		c := xClientA()
		c.Exchange = &store.ExchangePolicy{Impersonation: true}
		user := f.userToken(t, "https://a.test", []string{"read"}, time.Hour, nil)
		n := len(f.s.audit)
		resp, err := f.exchange(c, "", "subject_token", user, "subject_token_type", grant.TokenTypeAccessToken, grant.ParamImpersonate, "true")
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := f.claimsOf(t, resp.AccessToken)["act"]; ok {
			t.Fatal("an impersonation token carries act")
		}
		if len(f.s.audit) != n+1 || f.s.audit[n].Type != store.AuditImpersonation {
			t.Fatalf("audit = %+v", f.s.audit[n:])
		}
	})

	t.Run("refresh tokens only by policy", func(t *testing.T) {
		user := f.userToken(t, "https://a.test", []string{"read"}, time.Hour, nil)
		resp, err := f.exchange(xClientA(), "", "subject_token", user, "subject_token_type", grant.TokenTypeAccessToken)
		if err != nil || resp.RefreshToken != "" {
			t.Fatalf("default policy: %v, refresh %q", err, resp.RefreshToken)
		}
		c := xClientA()
		c.Exchange = &store.ExchangePolicy{RefreshTokens: true}
		resp, err = f.exchange(c, dpopKey, "subject_token", user, "subject_token_type", grant.TokenTypeAccessToken)
		if err != nil || !opaque.IsRefreshToken(resp.RefreshToken) {
			t.Fatalf("refresh policy: %v, refresh %q", err, resp.RefreshToken)
		}
		rt := f.s.refresh[len(f.s.refresh)-1]
		var extra map[string]json.RawMessage
		if err := json.Unmarshal(rt.Extra, &extra); err != nil || rt.DelegationID == "" || rt.JKT != dpopKey || rt.UserID != "alice" ||
			string(extra["act"]) != `{"sub":"svc-a","client_id":"svc-a"}` || string(extra["delegation_id"]) != `"`+rt.DelegationID+`"` {
			t.Fatalf("refresh record = %+v (%s)", rt, rt.Extra)
		}
		agent := xAgent()
		agent.GrantTypes = append(agent.GrantTypes, grant.TypeRefreshToken)
		agent.Exchange = &store.ExchangePolicy{RefreshTokens: true}
		agent.Audiences = append(agent.Audiences, "https://a.test")
		resp, err = f.exchange(agent, "", "subject_token", user, "subject_token_type", grant.TokenTypeAccessToken)
		if err != nil || resp.RefreshToken != "" {
			t.Fatalf("agent without AllowRefresh: %v, refresh %q", err, resp.RefreshToken)
		}
	})

	t.Run("opaque subject and jwt requested", func(t *testing.T) {
		at, err := f.minter.Access(t.Context(), mint.AccessToken{ClientID: "web", Subject: "alice", Scopes: []string{"read", "orders"},
			Audience: []string{"https://a.test"}, TTL: time.Hour, Format: store.AccessTokenOpaque})
		if err != nil {
			t.Fatal(err)
		}
		c := xClientA()
		c.AccessTokenFormat = store.AccessTokenOpaque
		resp, err := f.exchange(c, "", "subject_token", at.Value, "subject_token_type", grant.TokenTypeAccessToken,
			"requested_token_type", grant.TokenTypeJWT, "scope", "orders")
		if err != nil {
			t.Fatal(err)
		}
		if resp.IssuedTokenType != grant.TokenTypeJWT || opaque.IsAccessToken(resp.AccessToken) || resp.Scope != "orders" {
			t.Fatalf("response = %+v", resp)
		}
		// The opaque format of the client is kept for access_token.
		resp, err = f.exchange(c, "", "subject_token", at.Value, "subject_token_type", grant.TokenTypeAccessToken)
		if err != nil || !opaque.IsAccessToken(resp.AccessToken) {
			t.Fatalf("opaque result: %v %+v", err, resp)
		}
		rec, err := f.s.GetToken(t.Context(), opaque.Hash(resp.AccessToken))
		if err != nil || !strings.Contains(string(rec.Extra), `"act":{"sub":"svc-a"`) {
			t.Fatalf("opaque record: %v %s", err, rec.Extra)
		}
	})

	t.Run("id-jag", func(t *testing.T) {
		jag := &fakeIDJAG{}
		g := *f.g
		g.IDJAG = jag
		c := xClientA()
		c.ID = "web"
		c.Exchange = &store.ExchangePolicy{IDJAGAudiences: []string{"https://as.partner.test"}}
		idTok := signed(t, f.key, "JWT", map[string]any{"iss": xIssuer, "sub": "alice", "aud": "web", "exp": f.now.Add(time.Hour).Unix()})
		do := func(kv ...string) (*grant.Response, error) {
			return g.Handle(t.Context(), &grant.Request{
				Form:   form(append([]string{"subject_token", idTok, "subject_token_type", grant.TokenTypeIDToken, "requested_token_type", grant.TokenTypeIDJAG}, kv...)...),
				Client: &oauth.Authenticated{Client: c, Method: oauth.AuthSecretBasic},
			})
		}
		_, err := do("audience", "https://elsewhere.test")
		wantOAuthCode(t, err, oauth.CodeInvalidTarget)
		resp, err := do("audience", "https://as.partner.test", "scope", "read")
		if err != nil {
			t.Fatal(err)
		}
		if resp.TokenType != "N_A" || resp.IssuedTokenType != grant.TokenTypeIDJAG || jag.got.Subject != "alice" || jag.got.Audience != "https://as.partner.test" {
			t.Fatalf("response %+v, request %+v", resp, jag.got)
		}
	})

	t.Run("a failed commit leaves the delegation revoked", func(t *testing.T) {
		f.s.failAudit = true
		defer func() { f.s.failAudit = false }()
		user := f.userToken(t, "https://a.test", []string{"read"}, time.Hour, nil)
		_, err := f.exchange(xClientA(), "", "subject_token", user, "subject_token_type", grant.TokenTypeAccessToken)
		var e *oauth.Error
		if !errors.As(err, &e) || e.Status != 500 {
			t.Fatalf("err = %v", err)
		}
		revoked := 0
		for _, d := range f.s.delegations {
			if !d.RevokedAt.IsZero() {
				revoked++
			}
		}
		if revoked == 0 {
			t.Fatal("no delegation revoked after the failed commit")
		}
	})
}

func TestAgentTTL(t *testing.T) {
	c := &store.Client{}
	if got := grant.AgentTTL(c, time.Hour); got != time.Hour {
		t.Fatalf("not an agent: %v", got)
	}
	c.Agent = &store.AgentPolicy{MaxTokenTTL: time.Minute}
	if got := grant.AgentTTL(c, time.Hour); got != time.Minute {
		t.Fatalf("agent: %v", got)
	}
	if got := grant.AgentTTL(c, time.Second); got != time.Second {
		t.Fatalf("shorter: %v", got)
	}
	if grant.AgentMayRefresh(c) {
		t.Fatal("agent may refresh by default")
	}
	c.Agent.AllowRefresh = true
	if !grant.AgentMayRefresh(c) {
		t.Fatal("AllowRefresh ignored")
	}
}

// TestTokenExchangeSubjectKinds: the subject of an exchanged token may be
// a writ user, a service (a client), or another issuer's principal; each
// stays what it is through further hops.
func TestTokenExchangeSubjectKinds(t *testing.T) {
	f := newXFixture(t)
	hop := func(t *testing.T, c store.Client, subject string) map[string]json.RawMessage {
		t.Helper()
		resp, err := f.exchange(c, "", "subject_token", subject, "subject_token_type", grant.TokenTypeAccessToken, "audience", "https://b.test")
		if err != nil {
			t.Fatal(err)
		}
		m := f.claimsOf(t, resp.AccessToken)
		m["_raw"] = json.RawMessage(strconv.Quote(resp.AccessToken))
		m["_refresh"] = json.RawMessage(strconv.Quote(resp.RefreshToken))
		return m
	}
	raw := func(m map[string]json.RawMessage, k string) string {
		var s string
		_ = json.Unmarshal(m[k], &s)
		return s
	}
	agent := xAgent()
	agent.Audiences = []string{"https://b.test"}

	t.Run("service", func(t *testing.T) {
		svc, err := f.minter.Access(t.Context(), mint.AccessToken{ClientID: "web", Subject: "web", Audience: []string{"https://a.test"},
			TTL: time.Hour, Format: store.AccessTokenJWT})
		if err != nil {
			t.Fatal(err)
		}
		first := hop(t, xClientA(), svc.Value)
		second := hop(t, agent, raw(first, "_raw"))
		if raw(second, "sub") != "web" {
			t.Fatalf("sub = %s", second["sub"])
		}
		// The service is deleted: its tokens, and those acting for it, go.
		delete(f.s.clients, "web")
		defer func() { f.s.clients["web"] = store.Client{ID: "web"} }()
		_, err = f.exchange(agent, "", "subject_token", raw(first, "_raw"), "subject_token_type", grant.TokenTypeAccessToken)
		wantOAuthCode(t, err, oauth.CodeInvalidRequest)
	})

	t.Run("another issuer's principal", func(t *testing.T) {
		c := xClientA()
		c.Exchange = &store.ExchangePolicy{SubjectIssuers: []string{xExternal}, RefreshTokens: true}
		// A partner's "alice" is not writ's alice.
		partner := signed(t, f.partner, "JWT", map[string]any{"iss": xExternal, "sub": "alice", "aud": "https://a.test", "exp": f.now.Add(time.Hour).Unix()})
		first := hop(t, c, partner)
		if raw(first, "_refresh") != "" {
			t.Fatal("a refresh token for another issuer's principal")
		}
		second := hop(t, agent, raw(first, "_raw"))
		d := f.s.delegations[raw(second, "delegation_id")]
		if d.Subject != "alice" || d.SubjectIssuer != xExternal || d.ParentID != raw(first, "delegation_id") {
			t.Fatalf("second delegation %+v", d)
		}
		agentR := agent
		agentR.Exchange = &store.ExchangePolicy{RefreshTokens: true}
		agentR.GrantTypes = append(agentR.GrantTypes, grant.TypeRefreshToken)
		agentR.Agent = nil
		if third := hop(t, agentR, raw(first, "_raw")); raw(third, "_refresh") != "" {
			t.Fatal("a later hop took another issuer's alice for writ's")
		}
	})
}

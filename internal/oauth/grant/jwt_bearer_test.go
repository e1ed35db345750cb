package grant_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/clocktest"
	"github.com/writ-dev/writ/internal/mint"
	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/oauth/grant"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/trust"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
)

// memTrust is an in-memory store.TrustStore getter.
type memTrust struct {
	m map[string]store.TrustedIssuer
}

func (s *memTrust) GetTrustedIssuer(_ context.Context, iss string) (store.TrustedIssuer, error) {
	t, ok := s.m[iss]
	if !ok {
		return store.TrustedIssuer{}, store.ErrNotFound
	}
	return t, nil
}

// memReplay is an in-memory store.ReplayStore.
type memReplay struct {
	mu   sync.Mutex
	used map[string]bool
}

func (r *memReplay) UseJTI(_ context.Context, client, jti string, _ time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.used == nil {
		r.used = map[string]bool{}
	}
	k := client + "\x00" + jti
	if r.used[k] {
		return store.ErrAlreadyExists
	}
	r.used[k] = true
	return nil
}

// memAudit is an in-memory store.AuditStore.
type memAudit struct {
	mu     sync.Mutex
	events []store.AuditEvent
}

func (a *memAudit) AppendAudit(_ context.Context, e store.AuditEvent) (int64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	e.Seq = int64(len(a.events) + 1)
	a.events = append(a.events, e)
	return e.Seq, nil
}

func (a *memAudit) ListAudit(context.Context, store.AuditQuery) ([]store.AuditEvent, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.events), nil
}

const (
	asIssuer = "https://as.example.test"
	idp      = "https://idp.example.test"
	jwtOnly  = "https://jwt-only.example.test"
	svcOnly  = "https://svc-only.example.test"
	apiA     = "https://api.example.test/a"
	apiB     = "https://api.example.test/b"
	apiC     = "https://api.example.test/c"
)

type bearerFixture struct {
	clock    *clocktest.Clock
	idpKey   *jose.Key
	g        *grant.JWTBearer
	audit    *memAudit
	verifier *jwt.Verifier
	svc      store.Client
	other    store.Client
}

func newBearerFixture(t testing.TB) *bearerFixture {
	t.Helper()
	clock := clocktest.Default()
	idpKey, err := jose.GenerateKey(jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	asKey, err := jose.GenerateKey(jose.EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	jwks, err := json.Marshal(jose.NewKeySet(idpKey.Public()))
	if err != nil {
		t.Fatal(err)
	}
	uses := []string{store.TrustJWTBearer, store.TrustIDJAG}
	ts := &memTrust{m: map[string]store.TrustedIssuer{
		idp: {Issuer: idp, JWKS: jwks, Uses: uses, Rules: []store.TrustRule{
			{ClientID: "svc", Audiences: []string{apiA, apiB}, Scopes: []string{"read", "write"}},
			{ClientID: "*", Audiences: []string{apiA}, Scopes: []string{"read"}},
		}},
		jwtOnly: {Issuer: jwtOnly, JWKS: jwks, Uses: []string{store.TrustJWTBearer}, Rules: []store.TrustRule{{ClientID: "*"}}},
		svcOnly: {Issuer: svcOnly, JWKS: jwks, Uses: uses, Rules: []store.TrustRule{{ClientID: "svc"}}},
	}}
	audit := &memAudit{}
	g := &grant.JWTBearer{
		Minter:          mint.New(asIssuer, staticSigner{asKey}, &memTokens{}, clock.Now),
		External:        trust.New(context.Background(), ts, trust.Options{Now: clock.Now}),
		Replay:          &memReplay{},
		Audit:           audit,
		Issuer:          asIssuer,
		TokenEndpoint:   asIssuer + "/oauth2/token",
		DefaultAudience: asIssuer,
		DefaultTTL:      10 * time.Minute,
		Now:             clock.Now,
	}
	v, err := jwt.NewVerifier(jwt.StaticKeys(jose.NewKeySet(asKey.Public())), jwt.Config{
		Issuer: asIssuer, SkipAudienceCheck: true, Type: jwt.TypeAccessToken, Now: clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &bearerFixture{
		clock: clock, idpKey: idpKey, g: g, audit: audit, verifier: v,
		svc: store.Client{ID: "svc", GrantTypes: []string{grant.TypeJWTBearer}, Scopes: []string{"read", "write", "admin"},
			Audiences: []string{apiA, apiB, apiC}, TokenEndpointAuthMethod: oauth.AuthSecretBasic},
		other: store.Client{ID: "other", GrantTypes: []string{grant.TypeJWTBearer}, Scopes: []string{"read", "write"},
			Audiences: []string{apiA, apiB}, TokenEndpointAuthMethod: oauth.AuthSecretBasic},
	}
}

var jtiSeq struct {
	sync.Mutex
	n int
}

func nextJTI() string {
	jtiSeq.Lock()
	defer jtiSeq.Unlock()
	jtiSeq.n++
	return "jti-" + strings.Repeat("x", jtiSeq.n%3) + string(rune('a'+jtiSeq.n%26)) + time.Duration(jtiSeq.n).String()
}

// assertion signs claims (a fresh jti, iat/exp around now, aud writ's
// issuer) changed by over; a nil value removes the claim.
func (f *bearerFixture) assertion(t testing.TB, typ string, over map[string]any) string {
	t.Helper()
	now := f.clock.Now()
	c := map[string]any{"iss": idp, "sub": "alice", "aud": asIssuer, "iat": now.Unix(),
		"exp": now.Add(5 * time.Minute).Unix(), "jti": nextJTI()}
	if typ == grant.IDJAGType {
		c["client_id"] = "svc"
	}
	for k, v := range over {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	s, err := jwt.NewSigner(f.idpKey, typ)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (f *bearerFixture) handle(c store.Client, method string, kv ...string) (*grant.Response, error) {
	return f.handleDPoP(c, method, "", kv...)
}

func (f *bearerFixture) handleDPoP(c store.Client, method, jkt string, kv ...string) (*grant.Response, error) {
	return f.g.Handle(context.Background(), &grant.Request{
		Form: form(append([]string{"grant_type", grant.TypeJWTBearer}, kv...)...), Client: &oauth.Authenticated{Client: c, Method: method},
		RequestID: "req-1", DPoPKey: jkt,
	})
}

func TestJWTBearer(t *testing.T) {
	f := newBearerFixture(t)
	basic := oauth.AuthSecretBasic
	plain := func(over map[string]any) string { return f.assertion(t, "JWT", over) }
	jag := func(over map[string]any) string { return f.assertion(t, grant.IDJAGType, over) }
	noGrant := f.svc
	noGrant.GrantTypes = []string{grant.TypeClientCredentials}
	public := f.svc
	public.TokenEndpointAuthMethod = oauth.AuthNone

	tests := []struct {
		name      string
		client    store.Client
		method    string
		kv        []string
		code      string
		wantAud   []string
		wantScope string
		idjag     bool
	}{
		{name: "plain, defaults", client: f.svc, kv: []string{"assertion", plain(nil)}, wantAud: []string{apiA}, wantScope: "read write"},
		{name: "plain, aud is the token endpoint", client: f.svc, kv: []string{"assertion", plain(map[string]any{"aud": asIssuer + "/oauth2/token"})}, wantAud: []string{apiA}, wantScope: "read write"},
		{name: "plain, resource and scope", client: f.svc, kv: []string{"assertion", plain(nil), "resource", apiB, "scope", "write"}, wantAud: []string{apiB}, wantScope: "write"},
		{name: "plain, other client by the * rule", client: f.other, kv: []string{"assertion", plain(nil)}, wantAud: []string{apiA}, wantScope: "read"},
		{name: "plain, rule without lists leaves the client's", client: f.svc, kv: []string{"assertion", plain(map[string]any{"iss": svcOnly}), "resource", apiC, "scope", "admin"}, wantAud: []string{apiC}, wantScope: "admin"},
		{name: "ID-JAG", client: f.svc, kv: []string{"assertion", jag(map[string]any{"resource": apiB, "scope": "read"})}, wantAud: []string{apiB}, wantScope: "read", idjag: true},
		{name: "ID-JAG scope narrowed by the rule", client: f.svc, kv: []string{"assertion", jag(map[string]any{"resource": []string{apiA, apiB}, "scope": "read admin"})}, wantAud: []string{apiA, apiB}, wantScope: "read", idjag: true},
		{name: "ID-JAG without resource or scope", client: f.svc, kv: []string{"assertion", jag(nil)}, wantAud: []string{apiA}, wantScope: "read write", idjag: true},
		{name: "ID-JAG, request narrows", client: f.svc, kv: []string{"assertion", jag(map[string]any{"resource": []string{apiA, apiB}, "scope": "read write"}), "resource", apiA, "scope", "write"}, wantAud: []string{apiA}, wantScope: "write", idjag: true},
		{name: "ID-JAG typ with application/", client: f.svc, kv: []string{"assertion", f.assertion(t, "application/oauth-id-jag+jwt", map[string]any{"client_id": "svc"})}, wantAud: []string{apiA}, wantScope: "read write", idjag: true},

		{name: "no assertion", client: f.svc, kv: nil, code: oauth.CodeInvalidRequest},
		{name: "not a JWT", client: f.svc, kv: []string{"assertion", "abc"}, code: oauth.CodeInvalidGrant},
		{name: "too large", client: f.svc, kv: []string{"assertion", strings.Repeat("a", grant.MaxAssertionSize+1)}, code: oauth.CodeInvalidGrant},
		{name: "grant not registered", client: noGrant, kv: []string{"assertion", plain(nil)}, code: oauth.CodeUnauthorizedClient},
		{name: "public client", client: public, method: oauth.AuthNone, kv: []string{"assertion", plain(nil)}, code: oauth.CodeUnauthorizedClient},
		{name: "unknown issuer", client: f.svc, kv: []string{"assertion", plain(map[string]any{"iss": "https://evil.example.test"})}, code: oauth.CodeInvalidGrant},
		{name: "wrong aud", client: f.svc, kv: []string{"assertion", plain(map[string]any{"aud": apiA})}, code: oauth.CodeInvalidGrant},
		{name: "expired", client: f.svc, kv: []string{"assertion", plain(map[string]any{"exp": f.clock.Now().Add(-time.Hour).Unix()})}, code: oauth.CodeInvalidGrant},
		{name: "exp too far", client: f.svc, kv: []string{"assertion", plain(map[string]any{"exp": f.clock.Now().Add(2 * time.Hour).Unix()})}, code: oauth.CodeInvalidGrant},
		{name: "no jti", client: f.svc, kv: []string{"assertion", plain(map[string]any{"jti": nil})}, code: oauth.CodeInvalidGrant},
		{name: "no sub", client: f.svc, kv: []string{"assertion", plain(map[string]any{"sub": nil})}, code: oauth.CodeInvalidGrant},
		{name: "scope widening (client has it, rule not)", client: f.svc, kv: []string{"assertion", plain(nil), "scope", "admin"}, code: oauth.CodeInvalidScope},
		{name: "scope widening by the * rule", client: f.other, kv: []string{"assertion", plain(nil), "scope", "write"}, code: oauth.CodeInvalidScope},
		{name: "resource outside the rule", client: f.svc, kv: []string{"assertion", plain(nil), "resource", apiC}, code: oauth.CodeInvalidTarget},
		{name: "resource with a fragment", client: f.svc, kv: []string{"assertion", plain(nil), "resource", apiA + "#x"}, code: oauth.CodeInvalidTarget},
		{name: "rule does not admit the client", client: f.other, kv: []string{"assertion", plain(map[string]any{"iss": svcOnly})}, code: oauth.CodeInvalidGrant},
		{name: "ID-JAG from an issuer trusted for jwt-bearer only", client: f.svc, kv: []string{"assertion", jag(map[string]any{"iss": jwtOnly})}, code: oauth.CodeInvalidGrant},
		{name: "ID-JAG aud is the token endpoint", client: f.svc, kv: []string{"assertion", jag(map[string]any{"aud": asIssuer + "/oauth2/token"})}, code: oauth.CodeInvalidGrant},
		{name: "ID-JAG for another client", client: f.svc, kv: []string{"assertion", jag(map[string]any{"client_id": "other"})}, code: oauth.CodeInvalidGrant},
		{name: "ID-JAG without client_id", client: f.svc, kv: []string{"assertion", jag(map[string]any{"client_id": nil})}, code: oauth.CodeInvalidGrant},
		{name: "ID-JAG resource outside the rule", client: f.svc, kv: []string{"assertion", jag(map[string]any{"resource": apiC})}, code: oauth.CodeInvalidTarget},
		{name: "ID-JAG resource not a string", client: f.svc, kv: []string{"assertion", jag(map[string]any{"resource": 7})}, code: oauth.CodeInvalidGrant},
		{name: "ID-JAG no allowed scope", client: f.svc, kv: []string{"assertion", jag(map[string]any{"scope": "admin"})}, code: oauth.CodeInvalidScope},
		{name: "ID-JAG request widens its scope", client: f.svc, kv: []string{"assertion", jag(map[string]any{"scope": "read"}), "scope", "read write"}, code: oauth.CodeInvalidScope},
		{name: "ID-JAG request widens its resource", client: f.svc, kv: []string{"assertion", jag(map[string]any{"resource": apiA}), "resource", apiB}, code: oauth.CodeInvalidTarget},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = basic
			}
			before := len(f.audit.events)
			resp, err := f.handle(tc.client, method, tc.kv...)
			if tc.code != "" {
				wantOAuthCode(t, err, tc.code)
				if e := err.(*oauth.Error); strings.Contains(e.Description, "eyJ") {
					t.Errorf("description echoes the token: %q", e.Description)
				}
				if len(f.audit.events) != before {
					t.Error("a refusal was audited as a grant")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if resp.TokenType != "Bearer" || resp.RefreshToken != "" || resp.Scope != tc.wantScope || resp.ExpiresIn != 600 {
				t.Errorf("response %+v", resp)
			}
			tok, err := f.verifier.Verify(context.Background(), resp.AccessToken)
			if err != nil {
				t.Fatal(err)
			}
			cid, _ := tok.StringClaim("client_id")
			if tok.Claims().Subject != "alice" || cid != tc.client.ID || !slices.Equal(tok.Claims().Audience, tc.wantAud) {
				t.Errorf("sub %q client_id %q aud %q", tok.Claims().Subject, cid, tok.Claims().Audience)
			}
			ev := f.audit.events[len(f.audit.events)-1]
			wantType := store.AuditJWTBearer
			if tc.idjag {
				wantType = store.AuditIDJAGRedeemed
			}
			if ev.Type != wantType || ev.ClientID != tc.client.ID || ev.Subject != "alice" || ev.RequestID != "req-1" {
				t.Errorf("audit event %+v", ev)
			}
			if strings.Contains(string(ev.Details), "eyJ") {
				t.Errorf("audit details hold a token: %s", ev.Details)
			}
		})
	}
}

func TestJWTBearerReplay(t *testing.T) {
	f := newBearerFixture(t)
	a := f.assertion(t, "JWT", nil)
	// A refused request consumes nothing.
	if _, err := f.handle(f.svc, oauth.AuthSecretBasic, "assertion", a, "scope", "admin"); err == nil {
		t.Fatal("scope widening accepted")
	}
	if _, err := f.handle(f.svc, oauth.AuthSecretBasic, "assertion", a); err != nil {
		t.Fatalf("first use: %v", err)
	}
	_, err := f.handle(f.svc, oauth.AuthSecretBasic, "assertion", a)
	wantOAuthCode(t, err, oauth.CodeInvalidGrant)
	// The same jti from another issuer is another assertion.
	b := f.assertion(t, "JWT", map[string]any{"iss": svcOnly, "jti": "shared"})
	c := f.assertion(t, "JWT", map[string]any{"jti": "shared"})
	for _, x := range []string{b, c} {
		if _, err := f.handle(f.svc, oauth.AuthSecretBasic, "assertion", x); err != nil {
			t.Fatalf("same jti, other issuer: %v", err)
		}
	}
}

func TestJWTBearerDPoP(t *testing.T) {
	f := newBearerFixture(t)
	resp, err := f.handleDPoP(f.svc, oauth.AuthSecretBasic, "thumbprint-1", "assertion", f.assertion(t, "JWT", nil))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := f.verifier.Verify(context.Background(), resp.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	cnf, _ := tok.Claim("cnf")
	if resp.TokenType != "DPoP" || cnf != `{"jkt":"thumbprint-1"}` {
		t.Fatalf("token_type %q cnf %s", resp.TokenType, cnf)
	}
	agent := f.svc
	agent.Agent = &store.AgentPolicy{Owner: "user:u1", RequireDPoP: true, MaxTokenTTL: time.Minute}
	_, err = f.handle(agent, oauth.AuthSecretBasic, "assertion", f.assertion(t, "JWT", nil))
	wantOAuthCode(t, err, oauth.CodeInvalidRequest)
	resp, err = f.handleDPoP(agent, oauth.AuthSecretBasic, "thumbprint-1", "assertion", f.assertion(t, "JWT", nil))
	if err != nil || resp.ExpiresIn != 60 {
		t.Fatalf("agent: %v %+v", err, resp)
	}
}

// TestIDJAGRoundTrip: an ID-JAG minted by IDJAGMinter (writ as the IdP) is
// accepted by JWTBearer (writ as the resource AS) that trusts the IdP.
func TestIDJAGRoundTrip(t *testing.T) {
	f := newBearerFixture(t)
	idpAudit := &memAudit{}
	m := &grant.IDJAGMinter{Issuer: idp, Keys: staticSigner{f.idpKey}, Audit: idpAudit, TTL: time.Hour, Now: f.clock.Now}
	// The subject token, for auth_time, acr and amr.
	userTok := f.assertion(t, "JWT", map[string]any{"auth_time": 1234, "acr": "urn:x:mfa", "amr": []string{"pwd", "otp"}})
	v, err := jwt.NewVerifier(jwt.StaticKeys(jose.NewKeySet(f.idpKey.Public())), jwt.Config{Issuer: idp, SkipAudienceCheck: true, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	subject, err := v.Verify(context.Background(), userTok)
	if err != nil {
		t.Fatal(err)
	}
	raw, exp, err := m.IssueIDJAG(context.Background(), grant.IDJAGRequest{
		Client: &f.svc, Subject: "alice", SubjectToken: subject, Audience: asIssuer,
		Resources: []string{apiB}, Scopes: []string{"read", "admin"}, RequestID: "r-9",
	})
	if err != nil {
		t.Fatal(err)
	}
	if exp != int64(grant.MaxIDJAGTTL/time.Second) {
		t.Errorf("expires_in %d, want the 5 min cap", exp)
	}
	jv, err := jwt.NewVerifier(jwt.StaticKeys(jose.NewKeySet(f.idpKey.Public())), jwt.Config{
		Issuer: idp, Audience: asIssuer, Type: grant.IDJAGType, Now: f.clock.Now,
		RequiredClaims: []string{"sub", "client_id", "jti", "iat", "exp"},
	})
	if err != nil {
		t.Fatal(err)
	}
	jagTok, err := jv.Verify(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		ClientID string   `json:"client_id"`
		Resource string   `json:"resource"`
		Scope    string   `json:"scope"`
		AuthTime int64    `json:"auth_time"`
		ACR      string   `json:"acr"`
		AMR      []string `json:"amr"`
		Exp      int64    `json:"exp"`
		Iat      int64    `json:"iat"`
	}
	if err := jagTok.DecodeClaims(&got); err != nil {
		t.Fatal(err)
	}
	if got.ClientID != "svc" || got.Resource != apiB || got.Scope != "read admin" || got.AuthTime != 1234 ||
		got.ACR != "urn:x:mfa" || !slices.Equal(got.AMR, []string{"pwd", "otp"}) || got.Exp-got.Iat != 300 {
		t.Errorf("ID-JAG claims %+v", got)
	}
	if len(idpAudit.events) != 1 || idpAudit.events[0].Type != store.AuditIDJAGIssued || idpAudit.events[0].ClientID != "svc" || idpAudit.events[0].RequestID != "r-9" {
		t.Errorf("IdP audit %+v", idpAudit.events)
	}
	resp, err := f.handle(f.svc, oauth.AuthSecretBasic, "assertion", raw)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Scope != "read" {
		t.Errorf("scope %q, want read (admin narrowed away by the rule)", resp.Scope)
	}
	_, err = f.handle(f.svc, oauth.AuthSecretBasic, "assertion", raw)
	wantOAuthCode(t, err, oauth.CodeInvalidGrant)

	if _, _, err := m.IssueIDJAG(context.Background(), grant.IDJAGRequest{Client: &f.svc, Subject: "alice"}); err == nil {
		t.Error("an ID-JAG without an audience was issued")
	}
	m.Keys = staticSigner{}
	if _, _, err := m.IssueIDJAG(context.Background(), grant.IDJAGRequest{Client: &f.svc, Subject: "alice", Audience: asIssuer}); err == nil {
		t.Error("an ID-JAG was issued without a signing key")
	}
}

// FuzzJWTBearerAssertion: whatever the assertion, the grant answers with
// a token or an OAuth error of status 400 or 503, never a panic, and a
// description never holds the assertion.
func FuzzJWTBearerAssertion(f *testing.F) {
	fx := newBearerFixture(f)
	f.Add(fx.assertion(f, "JWT", nil))
	f.Add(fx.assertion(f, grant.IDJAGType, map[string]any{"resource": []string{apiA}, "scope": "read"}))
	f.Add("a.b.c")
	f.Add("")
	f.Fuzz(func(t *testing.T, raw string) {
		resp, err := fx.handle(fx.svc, oauth.AuthSecretBasic, "assertion", raw)
		if err == nil {
			if resp.AccessToken == "" {
				t.Fatal("success without a token")
			}
			return
		}
		e, ok := err.(*oauth.Error)
		if !ok || (e.Status != 400 && e.Status != 503) {
			t.Fatalf("error %v", err)
		}
		if len(raw) > 8 && strings.Contains(e.Description, raw) {
			t.Fatalf("description echoes the assertion")
		}
	})
}

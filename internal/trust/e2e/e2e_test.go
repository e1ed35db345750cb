// Package e2e tests the jwt-bearer grant and ID-JAG across two real writ
// nodes started in-process (internal/apptest): node A is the identity
// provider (SQLite), node B (PostgreSQL) the authorization server of a
// resource that trusts A
// (use id_jag and jwt_bearer, A's JWKS URI), registered through B's admin
// API. ID-JAGs are minted by A's grant.IDJAGMinter over A's key ring, as
// token exchange at A mints them; B fetches A's keys over HTTP.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/app"
	"github.com/writ-dev/writ/internal/apptest"
	"github.com/writ-dev/writ/internal/clocktest"
	"github.com/writ-dev/writ/internal/oauth/grant"
	"github.com/writ-dev/writ/internal/opaque"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/postgres/pgtest"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
	"github.com/writ-dev/writ/rs"
)

const (
	apiX = "https://api.example.test/x"
	apiY = "https://api.example.test/y"
)

// node is a running writ.
type node struct {
	t     *testing.T
	app   *app.App
	admin string
	http  *http.Client
}

// start runs a development node on loopback ports; dsn, when not empty,
// is its database (else SQLite in a temporary directory).
func start(t *testing.T, clock *clocktest.Clock, dsn string) *node {
	t.Helper()
	dir := t.TempDir()
	env := map[string]string{
		"WRIT_MODE":       "development",
		"WRIT_DATA_DIR":   filepath.Join(dir, "data"),
		"WRIT_ADDR":       "127.0.0.1:0",
		"WRIT_ADMIN_ADDR": "127.0.0.1:0",
		"WRIT_LOG_LEVEL":  "warn",
	}
	if dsn != "" {
		env["WRIT_DATABASE"] = dsn
	}
	a := apptest.Start(t, env, app.Options{Announce: io.Discard, Now: clock.Now})
	n := &node{t: t, app: a, admin: "http://" + a.AdminAddr().String(), http: &http.Client{Timeout: 30 * time.Second}}
	t.Cleanup(n.http.CloseIdleConnections)
	return n
}

func (n *node) do(method, u string, body io.Reader, mod func(*http.Request)) (int, []byte) {
	n.t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		n.t.Fatal(err)
	}
	if mod != nil {
		mod(req)
	}
	resp, err := n.http.Do(req)
	if err != nil {
		n.t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		n.t.Fatal(err)
	}
	return resp.StatusCode, b
}

// adminCall sends a JSON request to the admin API.
func (n *node) adminCall(method, path string, v any) (int, []byte) {
	n.t.Helper()
	var body io.Reader
	if v != nil {
		b, err := json.Marshal(v)
		if err != nil {
			n.t.Fatal(err)
		}
		body = bytes.NewReader(b)
	}
	return n.do(method, n.admin+path, body, func(r *http.Request) {
		r.Header.Set("Authorization", "Bearer "+n.app.AdminToken)
		if v != nil {
			r.Header.Set("Content-Type", "application/json")
		}
	})
}

type client struct {
	ID     string `json:"client_id"`
	Secret string `json:"client_secret"`
}

func (n *node) createClient(metadata map[string]any) client {
	n.t.Helper()
	status, body := n.adminCall(http.MethodPost, "/admin/clients", metadata)
	var c client
	if status != http.StatusCreated || json.Unmarshal(body, &c) != nil || c.ID == "" || c.Secret == "" {
		n.t.Fatalf("create client: %d %s", status, body)
	}
	return c
}

// tokenResponse is a token endpoint answer, success or error.
type tokenResponse struct {
	status      int
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	Scope       string `json:"scope"`
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// bearer presents assertion at n's token endpoint as client c.
func (n *node) bearer(c client, assertion string, extra ...string) tokenResponse {
	n.t.Helper()
	form := url.Values{"grant_type": {grant.TypeJWTBearer}, "assertion": {assertion}}
	for i := 0; i+1 < len(extra); i += 2 {
		form.Add(extra[i], extra[i+1])
	}
	status, body := n.do(http.MethodPost, n.app.Issuer+"/oauth2/token", strings.NewReader(form.Encode()), func(r *http.Request) {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret))
	})
	var out tokenResponse
	if err := json.Unmarshal(body, &out); err != nil {
		n.t.Fatalf("token response: %v %s", err, body)
	}
	out.status = status
	if strings.Contains(out.Description, assertion[:min(len(assertion), 20)]) {
		n.t.Errorf("error_description echoes the assertion: %q", out.Description)
	}
	return out
}

// signAt signs claims with node a's active key (writ's ring), as a plain
// JWT assertion or, with typ grant.IDJAGType, a hand-made ID-JAG.
func signAt(t *testing.T, a *node, typ string, claims map[string]any) string {
	t.Helper()
	key, err := a.app.Ring.Signer()
	if err != nil {
		t.Fatal(err)
	}
	p, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jose.Sign(key, p, &jose.SignOptions{Type: typ})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestIDJAGAcrossTwoNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two writ nodes")
	}
	// A keeps its records in SQLite, B in PostgreSQL: the trusted
	// issuers, the used jti and the audit trail of both backends.
	pgtest.Require(t)
	clock := clocktest.Real()
	a, b := start(t, clock, ""), start(t, clock, pgtest.NewDatabase(t))
	ctx := context.Background()

	// B trusts A: ID-JAGs and plain assertions, keys from A's JWKS URI;
	// the client "agent" may get tokens for apiX and apiY, scopes read and
	// write at most.
	status, body := b.adminCall(http.MethodPost, "/admin/trusted-issuers", map[string]any{
		"issuer": a.app.Issuer, "jwks_uri": a.app.Issuer + "/.well-known/jwks.json",
		"uses":  []string{"id_jag", "jwt_bearer"},
		"rules": []map[string]any{{"client_id": "agent", "audiences": []string{apiX, apiY}, "scopes": []string{"read", "write"}}},
	})
	if status != http.StatusCreated {
		t.Fatalf("trust A at B: %d %s", status, body)
	}
	reg := func(id string) map[string]any {
		return map[string]any{"client_id": id, "grant_types": []string{grant.TypeJWTBearer},
			"scope": "read write admin", "audiences": []string{apiX, apiY}}
	}
	agent := b.createClient(reg("agent"))
	other := b.createClient(reg("other"))

	// Discovery at B lists the grant.
	status, body = b.do(http.MethodGet, b.app.Issuer+"/.well-known/oauth-authorization-server", nil, nil)
	var meta struct {
		GrantTypes []string `json:"grant_types_supported"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &meta) != nil || !slices.Contains(meta.GrantTypes, grant.TypeJWTBearer) {
		t.Fatalf("discovery at B: %d %s", status, body)
	}

	// A, the IdP, mints the ID-JAG for the user alice and the client
	// agent, for B (aud) and apiX.
	minter := &grant.IDJAGMinter{Issuer: a.app.Issuer, Keys: a.app.Ring, Audit: a.app.Store, Now: clock.Now}
	issue := func(sub, clientID, aud string, scopes ...string) string {
		t.Helper()
		raw, exp, err := minter.IssueIDJAG(ctx, grant.IDJAGRequest{
			Client: &store.Client{ID: clientID}, Subject: sub, Audience: aud,
			Resources: []string{apiX}, Scopes: scopes, RequestID: "e2e",
		})
		if err != nil || exp <= 0 || exp > 300 {
			t.Fatalf("IssueIDJAG: %v (expires_in %d)", err, exp)
		}
		return raw
	}
	jag := issue("alice", "agent", b.app.Issuer, "read", "admin")
	got := b.bearer(agent, jag)
	if got.status != http.StatusOK || got.TokenType != "Bearer" || got.Scope != "read" {
		t.Fatalf("ID-JAG at B: %+v", got)
	}
	// B's token: iss B, sub alice, client_id agent, aud apiX.
	v, err := rs.NewVerifier(ctx, []rs.IssuerConfig{{Issuer: b.app.Issuer, Audiences: []string{apiX}}}, rs.WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := v.Verify(ctx, got.AccessToken)
	if err != nil {
		t.Fatalf("verify B's token: %v", err)
	}
	if tok.Subject != "alice" || tok.ClientID != "agent" {
		t.Fatalf("B's token: %+v", tok)
	}
	evs, err := a.app.Store.ListAudit(ctx, store.AuditQuery{Type: store.AuditIDJAGIssued})
	if err != nil || len(evs) != 1 || evs[0].ClientID != "agent" || evs[0].Subject != "alice" || evs[0].RequestID != "e2e" {
		t.Errorf("audit at A: %v %+v", err, evs)
	}
	evs, err = b.app.Store.ListAudit(ctx, store.AuditQuery{Type: store.AuditIDJAGRedeemed})
	if err != nil || len(evs) != 1 || evs[0].ClientID != "agent" || evs[0].Subject != "alice" ||
		!strings.Contains(string(evs[0].Details), a.app.Issuer) || strings.Contains(string(evs[0].Details), jag) {
		t.Errorf("audit at B: %v %+v", err, evs)
	}

	// A plain jwt-bearer assertion signed by A, for apiY.
	now := clock.Now()
	plain := func(over map[string]any) string {
		c := map[string]any{"iss": a.app.Issuer, "sub": "svc-7", "aud": b.app.Issuer + "/oauth2/token",
			"iat": now.Unix(), "exp": now.Add(2 * time.Minute).Unix(), "jti": opaque.Random(16)}
		for k, v := range over {
			c[k] = v
		}
		return signAt(t, a, "JWT", c)
	}
	got = b.bearer(agent, plain(nil), "resource", apiY, "scope", "write")
	if got.status != http.StatusOK || got.Scope != "write" {
		t.Fatalf("plain assertion at B: %+v", got)
	}
	vy, err := rs.NewVerifier(ctx, []rs.IssuerConfig{{Issuer: b.app.Issuer, Audiences: []string{apiY}}}, rs.WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	if tok, err := vy.Verify(ctx, got.AccessToken); err != nil || tok.Subject != "svc-7" {
		t.Fatalf("plain assertion token: %v %+v", err, tok)
	}

	// Refusals.
	replayed := issue("alice", "agent", b.app.Issuer, "read")
	if got := b.bearer(agent, replayed); got.status != http.StatusOK {
		t.Fatalf("first use: %+v", got)
	}
	tests := []struct {
		name      string
		c         client
		assertion string
		extra     []string
		code      string
	}{
		{"unknown issuer", agent, plain(map[string]any{"iss": "https://unknown.example.test"}), nil, "invalid_grant"},
		{"wrong aud", agent, issue("alice", "agent", "https://elsewhere.example.test", "read"), nil, "invalid_grant"},
		{"ID-JAG aud is the token endpoint", agent, issue("alice", "agent", b.app.Issuer+"/oauth2/token", "read"), nil, "invalid_grant"},
		{"replayed jti", agent, replayed, nil, "invalid_grant"},
		{"rule does not admit the client", other, issue("alice", "other", b.app.Issuer, "read"), nil, "invalid_grant"},
		{"scope widening", agent, plain(nil), []string{"scope", "admin"}, "invalid_scope"},
		{"ID-JAG of another client", agent, issue("alice", "other", b.app.Issuer, "read"), nil, "invalid_grant"},
		{"ID-JAG scope only outside the rule", agent, issue("alice", "agent", b.app.Issuer, "admin"), nil, "invalid_scope"},
		{"resource outside the rule", agent, plain(nil), []string{"resource", "https://api.example.test/z"}, "invalid_target"},
		{"ID-JAG signed by another key", agent, forged(t, a.app.Issuer, b.app.Issuer), nil, "invalid_grant"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := b.bearer(tc.c, tc.assertion, tc.extra...)
			if got.status != http.StatusBadRequest || got.Error != tc.code || got.AccessToken != "" {
				t.Fatalf("got %+v, want 400 %s", got, tc.code)
			}
		})
	}

	// Once B stops trusting A, A's ID-JAGs are refused at once.
	status, _ = b.adminCall(http.MethodDelete, "/admin/trusted-issuers/"+url.PathEscape(a.app.Issuer), nil)
	if status != http.StatusNoContent {
		t.Fatalf("delete trusted issuer: %d", status)
	}
	if got := b.bearer(agent, issue("alice", "agent", b.app.Issuer, "read")); got.Error != "invalid_grant" {
		t.Fatalf("after delete: %+v", got)
	}
}

// forged is an ID-JAG claiming A's issuer, signed by a key A never
// published.
func forged(t *testing.T, iss, aud string) string {
	t.Helper()
	k, err := jose.GenerateKey(jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jwt.NewSigner(k, grant.IDJAGType)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tok, err := s.Sign(map[string]any{"iss": iss, "sub": "alice", "aud": aud, "client_id": "agent",
		"jti": opaque.Random(16), "iat": now.Unix(), "exp": now.Add(time.Minute).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

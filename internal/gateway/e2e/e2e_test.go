// Package e2e is the end-to-end test of `writ gateway` (issue 8): a real
// writ node as the issuer, the gateway started from a route file as
// `writ gateway --config FILE` starts it, and an upstream that echoes what
// reaches it, all on loopback.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/app"
	"github.com/writ-dev/writ/internal/apptest"
	"github.com/writ-dev/writ/internal/clocktest"
	"github.com/writ-dev/writ/internal/gateway"
	"github.com/writ-dev/writ/internal/gateway/config"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
	"github.com/writ-dev/writ/rs"
	"github.com/writ-dev/writ/rs/dpop"
)

const (
	apiAudience = "https://api.example.test"
	mcpResource = "https://mcp.example.test/mcp"
	partnerIss  = "https://partner.example"
)

// writNode is a running writ, started in-process as `writ serve` starts it
// (development mode, SQLite in a temporary directory, plain HTTP on
// loopback), on the test's clock.
type writNode struct {
	t         *testing.T
	Issuer    string
	Admin     string
	token     string
	Discovery struct {
		Introspection string `json:"introspection_endpoint"`
		Token         string `json:"token_endpoint"`
		JWKS          string `json:"jwks_uri"`
	}
	http *http.Client
}

func startWrit(t *testing.T, clock *clocktest.Clock) *writNode {
	t.Helper()
	dir := t.TempDir()
	env := map[string]string{
		"WRIT_MODE":       "development",
		"WRIT_DATA_DIR":   filepath.Join(dir, "data"),
		"WRIT_ADDR":       "127.0.0.1:0",
		"WRIT_ADMIN_ADDR": "127.0.0.1:0",
		"WRIT_LOG_LEVEL":  "warn",
	}
	a := apptest.Start(t, env, app.Options{
		Announce: io.Discard,
		Now:      clock.Now,
	})
	w := &writNode{t: t, Issuer: a.Issuer, Admin: "http://" + a.AdminAddr().String(), token: a.AdminToken, http: &http.Client{Timeout: 30 * time.Second}}
	t.Cleanup(w.http.CloseIdleConnections)
	if !strings.HasPrefix(w.Issuer, "http://127.0.0.1:") {
		t.Fatalf("issuer %q is not on loopback", w.Issuer)
	}
	resp := w.do(http.MethodGet, w.Issuer+"/.well-known/openid-configuration", nil, nil)
	if resp.status != http.StatusOK {
		t.Fatalf("discovery: %s", resp)
	}
	if err := json.Unmarshal(resp.body, &w.Discovery); err != nil || w.Discovery.JWKS == "" || w.Discovery.Introspection == "" {
		t.Fatalf("discovery: %v %s", err, resp.body)
	}
	return w
}

// response is a fully read answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r *response) String() string { return fmt.Sprintf("%d %s", r.status, r.body) }

func (w *writNode) do(method, u string, body io.Reader, mod func(*http.Request)) *response {
	w.t.Helper()
	return send(w.t, w.http, method, u, body, mod)
}

func send(t *testing.T, c *http.Client, method, u string, body io.Reader, mod func(*http.Request)) *response {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if mod != nil {
		mod(req)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: b}
}

// admin calls writ's admin API; any status but want fails the test.
func (w *writNode) admin(method, path string, in, out any, want int) {
	w.t.Helper()
	var rd io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			w.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	resp := w.do(method, w.Admin+path, rd, func(r *http.Request) {
		r.Header.Set("Authorization", "Bearer "+w.token)
		if in != nil {
			r.Header.Set("Content-Type", "application/json")
		}
	})
	if resp.status != want {
		w.t.Fatalf("admin %s %s: %s, want %d", method, path, resp, want)
	}
	if out != nil {
		if err := json.Unmarshal(resp.body, out); err != nil {
			w.t.Fatalf("admin %s %s: %v", method, path, err)
		}
	}
}

// client is a registered client.
type client struct {
	ID     string `json:"client_id"`
	Secret string `json:"client_secret"`
}

func (w *writNode) createClient(metadata map[string]any) client {
	w.t.Helper()
	var c client
	w.admin(http.MethodPost, "/admin/clients", metadata, &c, http.StatusCreated)
	if c.ID == "" || c.Secret == "" {
		w.t.Fatalf("create client: no id or secret")
	}
	return c
}

// accessToken gets a token for c by client_credentials.
func (w *writNode) accessToken(c client, scope string) string {
	w.t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}
	resp := w.do(http.MethodPost, w.Discovery.Token, strings.NewReader(form.Encode()), func(r *http.Request) {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret))
	})
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if resp.status != http.StatusOK || json.Unmarshal(resp.body, &out) != nil || out.AccessToken == "" {
		w.t.Fatalf("token: %s", resp)
	}
	return out.AccessToken
}

// jwksKids returns the kids writ publishes now.
func (w *writNode) jwksKids() []string {
	w.t.Helper()
	resp := w.do(http.MethodGet, w.Discovery.JWKS, nil, nil)
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if resp.status != http.StatusOK || json.Unmarshal(resp.body, &set) != nil {
		w.t.Fatalf("jwks: %s", resp)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.Kid)
	}
	return kids
}

// kidOf reads the kid of a JWT without verifying it.
func kidOf(t *testing.T, tok string) string {
	t.Helper()
	jws, err := jose.ParseCompact(tok, 0)
	if err != nil {
		t.Fatalf("token is not a JWS: %v", err)
	}
	return jws.Header.KeyID
}

// echo is what the upstream saw of a request; it answers it as JSON.
type echo struct {
	Method  string              `json:"method"`
	Path    string              `json:"path"`
	RawPath string              `json:"raw_path"`
	Header  map[string][]string `json:"header"`
	Body    string              `json:"body"`
}

func startUpstream(t *testing.T) *httptest.Server {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(echo{Method: r.Method, Path: r.URL.Path, RawPath: r.RequestURI, Header: r.Header, Body: string(b)})
	}))
	t.Cleanup(up.Close)
	return up
}

// partner is an issuer the test controls: its keys are published on a
// JWKS server named by jwks_uri in the route file (explicit keys, no
// discovery). writ does not issue DPoP-bound tokens; the partner does.
type partner struct {
	key    *jose.Key
	signer *jwt.Signer
	jwks   *httptest.Server
	now    func() time.Time
}

func startPartner(t *testing.T, now func() time.Time) *partner {
	t.Helper()
	k, err := jose.GenerateKey(jose.ES256, jose.WithKeyID("partner-1"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := jwt.NewSigner(k, "at+jwt")
	if err != nil {
		t.Fatal(err)
	}
	set, err := json.Marshal(jose.NewKeySet(k.Public()))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(set)
	}))
	t.Cleanup(srv.Close)
	return &partner{key: k, signer: s, jwks: srv, now: now}
}

// token mints an access token; jkt, when set, binds it to a DPoP key.
func (p *partner) token(t *testing.T, sub, jkt string) string {
	t.Helper()
	now := p.now()
	c := map[string]any{
		"iss": partnerIss, "sub": sub, "aud": apiAudience, "client_id": "partner-app",
		"iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(), "jti": fmt.Sprint(now.UnixNano()), "scope": "orders:read",
	}
	if jkt != "" {
		c["cnf"] = map[string]any{"jkt": jkt}
	}
	tok, err := p.signer.Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// logBuffer collects the gateway's JSON log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// decisions returns the decision log lines.
func (l *logBuffer) decisions(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(l.buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if m["msg"] == "decision" {
			out = append(out, m)
		}
	}
	return out
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// startGateway starts the gateway on the route file at path as
// `writ gateway --config FILE` does (config.Load, gateway.New,
// gateway.Server.Run), with the test's clock and no reload ticker.
func startGateway(t *testing.T, path string, deps gateway.Deps, logs io.Writer) string {
	t.Helper()
	f, err := config.Load(path)
	if err != nil {
		t.Fatalf("route file: %v", err)
	}
	deps.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	gw, err := gateway.New(ctx, f, deps)
	if err != nil {
		cancel()
		t.Fatalf("gateway: %v", err)
	}
	ready := make(chan string, 1)
	srv := &gateway.Server{Gateway: gw, Path: path, Logger: deps.Logger, Tick: make(chan time.Time), Ready: func(addr, _ string) { ready <- addr }}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("gateway run: %v", err)
		}
	})
	select {
	case addr := <-ready:
		return "http://" + addr
	case err := <-done:
		t.Fatalf("gateway stopped: %v", err)
	}
	return ""
}

const routeFile = `listen: 127.0.0.1:0
issuers:
  - name: writ
    issuer: {{writ}}
    audiences: [https://api.example.test]
  - name: partner
    issuer: https://partner.example
    jwks_uri: {{partner_jwks}}
    audiences: [https://api.example.test]
introspection:
  endpoint: {{introspection}}
  client_id: {{rs_id}}
  client_secret_file: {{rs_secret_file}}
  jwt_response: true
  issuer: {{writ}}
  jwks_uri: {{writ_jwks}}
routes:
  - path: /orders/{id}
    methods: [GET]
    upstream: {{upstream}}
    issuers: [writ]
    allow: '"orders:read" in claims.scope.split(" ") && request.params.id != "0"'
    headers: {X-User: sub, X-Client: client_id}
  - path: /dpop/
    upstream: {{upstream}}
    issuers: [partner]
    dpop: required
    allow: 'true'
  - path: /partner/
    upstream: {{upstream}}
    issuers: [partner]
    allow: 'true'
    headers: {X-User: sub}
  - path: /public/
    upstream: {{upstream}}
    anonymous: true
  - path: /phantom/
    upstream: {{upstream}}
    token: opaque
    phantom: true
    scopes: {all: [orders:read]}
  - name: mcp
    path: /mcp
    methods: [POST]
    upstream: {{upstream}}
    issuers: [writ]
    mcp:
      resource: https://mcp.example.test/mcp
      scopes: [mcp:tools, orders:read]
    allow: 'request.mcp.method != "tools/call" || request.mcp.tool in ["list_orders", "get_order"]'
tests:
  - name: reader may read
    request: {method: GET, path: /orders/7}
    claims: {scope: "orders:read", sub: alice, iss: "{{writ}}", aud: "https://api.example.test"}
    expect: allow
`

// env is the whole setup: writ, an upstream, the partner issuer and the
// gateway in front, on one clock.
type env struct {
	clock   *clocktest.Clock
	writ    *writNode
	partner *partner
	up      *httptest.Server
	gw      string
	logs    *logBuffer
	fetches *countingTransport
	http    *http.Client

	reader, writer, mcp, opaque client
}

func setup(t *testing.T) *env {
	clock := clocktest.Real()
	e := &env{clock: clock, writ: startWrit(t, clock), up: startUpstream(t), partner: startPartner(t, clock.Now), logs: &logBuffer{}}
	w := e.writ
	e.reader = w.createClient(map[string]any{"client_name": "reader", "grant_types": []string{"client_credentials"}, "scope": "orders:read", "audiences": []string{apiAudience}})
	e.writer = w.createClient(map[string]any{"client_name": "writer", "grant_types": []string{"client_credentials"}, "scope": "orders:write", "audiences": []string{apiAudience}})
	e.mcp = w.createClient(map[string]any{"client_name": "agent", "grant_types": []string{"client_credentials"}, "scope": "mcp:tools orders:read", "audiences": []string{mcpResource}})
	e.opaque = w.createClient(map[string]any{"client_name": "opaque", "grant_types": []string{"client_credentials"}, "scope": "orders:read", "audiences": []string{apiAudience}, "access_token_format": "opaque"})
	rsClient := w.createClient(map[string]any{"client_name": "gateway", "grant_types": []string{"client_credentials"}, "scope": "orders:read", "audiences": []string{apiAudience}})

	dir := t.TempDir()
	secretFile := filepath.Join(dir, "introspection.secret")
	if err := os.WriteFile(secretFile, []byte(rsClient.Secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	file := strings.NewReplacer(
		"{{writ}}", w.Issuer, "{{writ_jwks}}", w.Discovery.JWKS, "{{partner_jwks}}", e.partner.jwks.URL,
		"{{introspection}}", w.Discovery.Introspection, "{{rs_id}}", rsClient.ID, "{{rs_secret_file}}", secretFile,
		"{{upstream}}", e.up.URL,
	).Replace(routeFile)
	path := filepath.Join(dir, "gateway.yaml")
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	e.fetches = &countingTransport{base: http.DefaultTransport}
	e.gw = startGateway(t, path, gatewayDeps(clock.Now, e.fetches), e.logs)
	e.http = &http.Client{Timeout: 30 * time.Second}
	t.Cleanup(e.http.CloseIdleConnections)
	return e
}

// get sends a request to the gateway; path is sent as it is written
// (escapes and dot segments included).
func (e *env) request(t *testing.T, method, path, auth string, body string, mod func(*http.Request)) *response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.gw, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.URL.Opaque = path // the request line carries path untouched
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if mod != nil {
		mod(req)
	}
	resp, err := e.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: b}
}

// upstreamSaw decodes the upstream's echo; the request must have reached it.
func upstreamSaw(t *testing.T, r *response) echo {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %s, want 200 from the upstream", r)
	}
	var e echo
	if err := json.Unmarshal(r.body, &e); err != nil || e.Method == "" {
		t.Fatalf("not the upstream's echo: %s", r.body)
	}
	return e
}

// challenge returns the WWW-Authenticate values, one string.
func challenge(r *response) string { return strings.Join(r.header.Values("WWW-Authenticate"), ", ") }

func wantStatus(t *testing.T, r *response, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %s, want %d", r, status)
	}
}

func TestGateway(t *testing.T) {
	e := setup(t)
	w := e.writ
	readerTok := w.accessToken(e.reader, "orders:read")

	t.Run("allowed", func(t *testing.T) {
		saw := upstreamSaw(t, e.request(t, "GET", "/orders/7", "Bearer "+readerTok, "", nil))
		if saw.Path != "/orders/7" {
			t.Errorf("upstream path %q", saw.Path)
		}
		if got := saw.Header["X-Client"]; !slices.Equal(got, []string{e.reader.ID}) {
			t.Errorf("X-Client = %q, want %q", got, e.reader.ID)
		}
		if got := saw.Header["Authorization"]; got != nil {
			t.Errorf("the upstream got Authorization %q; the token is not forwarded by default", got)
		}
	})

	t.Run("denied by rule", func(t *testing.T) {
		// The rule refuses id 0; a token without orders:read is refused too.
		wantStatus(t, e.request(t, "GET", "/orders/0", "Bearer "+readerTok, "", nil), http.StatusForbidden)
		writerTok := w.accessToken(e.writer, "orders:write")
		wantStatus(t, e.request(t, "GET", "/orders/7", "Bearer "+writerTok, "", nil), http.StatusForbidden)
		// The route accepts GET only.
		r := e.request(t, "DELETE", "/orders/7", "Bearer "+readerTok, "", nil)
		if r.status != http.StatusMethodNotAllowed {
			t.Errorf("DELETE: %s, want 405", r)
		}
	})

	t.Run("no token", func(t *testing.T) {
		r := e.request(t, "GET", "/orders/7", "", "", nil)
		wantStatus(t, r, http.StatusUnauthorized)
		c := challenge(r)
		if !strings.HasPrefix(c, "Bearer") || strings.Contains(c, "error=") {
			t.Errorf("WWW-Authenticate %q: want a Bearer challenge without an error code (RFC 6750 §3.1)", c)
		}
		r = e.request(t, "GET", "/orders/7", "Bearer not-a-token", "", nil)
		wantStatus(t, r, http.StatusUnauthorized)
		if c := challenge(r); !strings.Contains(c, `error="invalid_token"`) {
			t.Errorf("WWW-Authenticate %q, want invalid_token", c)
		}
	})

	t.Run("wrong audience", func(t *testing.T) {
		// The agent's token is for the MCP resource, not for the API.
		mcpTok := w.accessToken(e.mcp, "mcp:tools orders:read")
		r := e.request(t, "GET", "/orders/7", "Bearer "+mcpTok, "", nil)
		wantStatus(t, r, http.StatusUnauthorized)
		if c := challenge(r); !strings.Contains(c, `error="invalid_token"`) {
			t.Errorf("WWW-Authenticate %q, want invalid_token", c)
		}
	})

	t.Run("spoofed identity headers", func(t *testing.T) {
		spoof := func(r *http.Request) {
			r.Header.Set("X-User", "root")
			r.Header.Add("X-User", "admin")
			r.Header.Set("X-Client", "trusted-client")
			r.Header.Set("X-Forwarded-For", "10.0.0.1")
		}
		saw := upstreamSaw(t, e.request(t, "GET", "/orders/7", "Bearer "+readerTok, "", spoof))
		if got := saw.Header["X-Client"]; !slices.Equal(got, []string{e.reader.ID}) {
			t.Errorf("X-Client = %q, want the gateway's %q only", got, e.reader.ID)
		}
		if got := saw.Header["X-User"]; slices.Contains(got, "root") || slices.Contains(got, "admin") {
			t.Errorf("X-User = %q: the client's value reached the upstream", got)
		}
		if got := saw.Header["X-Forwarded-For"]; slices.Contains(got, "10.0.0.1") || len(got) > 0 && strings.Contains(got[0], "10.0.0.1") {
			t.Errorf("X-Forwarded-For = %q: the client's value reached the upstream", got)
		}
		// Stripped on a refused request and on an anonymous route too.
		saw = upstreamSaw(t, e.request(t, "GET", "/public/spoof", "", "", spoof))
		if got := saw.Header["X-User"]; got != nil {
			t.Errorf("anonymous route: X-User = %q reached the upstream", got)
		}
		// The partner token has a sub; X-User is the gateway's value only.
		pt := e.partner.token(t, "carol", "")
		saw = upstreamSaw(t, e.request(t, "GET", "/partner/x", "Bearer "+pt, "", spoof))
		if got := saw.Header["X-User"]; !slices.Equal(got, []string{"carol"}) {
			t.Errorf("X-User = %q, want [carol]", got)
		}
	})

	t.Run("path confusion", func(t *testing.T) {
		for _, p := range []string{"/public/../orders/7", "/public/%2e%2e/orders/7", "/%6frders/7", "/public/..%2forders/7", "/public//../orders/7"} {
			// Without a token: /orders/7 is never reached anonymously
			// through /public/, whatever the spelling.
			r := e.request(t, "GET", p, "", "", nil)
			if r.status == http.StatusOK {
				t.Errorf("%s without a token: %s; the orders route was reached anonymously", p, r)
				continue
			}
			if r.status != http.StatusUnauthorized && r.status != http.StatusBadRequest {
				t.Errorf("%s without a token: %s, want 401 (resolved to /orders/7) or 400 (refused)", p, r)
			}
		}
		// With a token, a resolved spelling reaches /orders/7 and the
		// upstream sees the normalised path.
		for _, p := range []string{"/%6frders/7", "/public/../orders/7"} {
			r := e.request(t, "GET", p, "Bearer "+readerTok, "", nil)
			if r.status == http.StatusBadRequest {
				continue // refusing is fine too
			}
			if saw := upstreamSaw(t, r); saw.Path != "/orders/7" || saw.RawPath != "/orders/7" {
				t.Errorf("%s: the upstream saw %q (%q), want /orders/7", p, saw.Path, saw.RawPath)
			}
		}
	})

	t.Run("bearer-downgraded DPoP token", func(t *testing.T) {
		k, err := jose.GenerateKey(jose.ES256)
		if err != nil {
			t.Fatal(err)
		}
		bound := e.partner.token(t, "dave", k.ThumbprintSHA256())
		r := e.request(t, "GET", "/partner/x", "Bearer "+bound, "", nil)
		wantStatus(t, r, http.StatusUnauthorized)
		if c := challenge(r); !strings.Contains(c, `error="invalid_token"`) {
			t.Errorf("WWW-Authenticate %q, want invalid_token", c)
		}
		// The same token under DPoP with its proof passes.
		u := e.gw + "/partner/x"
		proof, err := dpop.NewProof(k, "GET", u, bound, "", e.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		upstreamSaw(t, e.request(t, "GET", "/partner/x", "DPoP "+bound, "", func(r *http.Request) { r.Header.Set("DPoP", proof) }))
	})

	t.Run("replayed DPoP proof", func(t *testing.T) {
		k, err := jose.GenerateKey(jose.ES256)
		if err != nil {
			t.Fatal(err)
		}
		bound := e.partner.token(t, "erin", k.ThumbprintSHA256())
		proof, err := dpop.NewProof(k, "GET", e.gw+"/dpop/orders", bound, "", e.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		withProof := func(r *http.Request) { r.Header.Set("DPoP", proof) }
		saw := upstreamSaw(t, e.request(t, "GET", "/dpop/orders", "DPoP "+bound, "", withProof))
		if saw.Header["Dpop"] != nil || saw.Header["Authorization"] != nil {
			t.Errorf("the upstream got the token or the proof: %v", saw.Header)
		}
		r := e.request(t, "GET", "/dpop/orders", "DPoP "+bound, "", withProof)
		wantStatus(t, r, http.StatusUnauthorized)
		if c := challenge(r); !strings.Contains(c, `error="invalid_dpop_proof"`) {
			t.Errorf("WWW-Authenticate %q, want invalid_dpop_proof", c)
		}
		// A DPoP route refuses a Bearer token, bound or not.
		plain := e.partner.token(t, "erin", "")
		wantStatus(t, e.request(t, "GET", "/dpop/orders", "Bearer "+plain, "", nil), http.StatusUnauthorized)
	})

	t.Run("phantom token", func(t *testing.T) {
		opaque := w.accessToken(e.opaque, "orders:read")
		if strings.Count(opaque, ".") == 2 {
			t.Fatalf("writ issued a JWT, want an opaque token")
		}
		saw := upstreamSaw(t, e.request(t, "GET", "/phantom/orders", "Bearer "+opaque, "", nil))
		auth := saw.Header["Authorization"]
		if len(auth) != 1 || !strings.HasPrefix(auth[0], "Bearer ") {
			t.Fatalf("upstream Authorization = %q, want the phantom JWT", auth)
		}
		phantom := strings.TrimPrefix(auth[0], "Bearer ")
		if strings.Contains(phantom, opaque) {
			t.Fatal("the upstream received the opaque token")
		}
		// The upstream can verify the JWT with writ's published keys.
		jws, err := jose.ParseCompact(phantom, 0)
		if err != nil {
			t.Fatalf("the phantom is not a JWS: %v", err)
		}
		keys, err := rs.NewRemoteKeySet(t.Context(), w.Discovery.JWKS).KeySet(t.Context(), &jws.Header)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := jws.Verify(keys); err != nil {
			t.Fatalf("phantom signature: %v", err)
		}
		var claims struct {
			Iss string `json:"iss"`
			TI  struct {
				Active   bool   `json:"active"`
				ClientID string `json:"client_id"`
			} `json:"token_introspection"`
		}
		if err := json.Unmarshal([]byte(jws.Payload()), &claims); err != nil || claims.Iss != w.Issuer || !claims.TI.Active || claims.TI.ClientID != e.opaque.ID {
			t.Errorf("phantom claims %s (%v)", jws.Payload(), err)
		}
		// An opaque token without the route's scope: 403 insufficient_scope.
		noScope := w.createClient(map[string]any{"client_name": "opaque writer", "grant_types": []string{"client_credentials"}, "scope": "orders:write", "audiences": []string{apiAudience}, "access_token_format": "opaque"})
		r := e.request(t, "GET", "/phantom/orders", "Bearer "+w.accessToken(noScope, "orders:write"), "", nil)
		wantStatus(t, r, http.StatusForbidden)
		if c := challenge(r); !strings.Contains(c, `error="insufficient_scope"`) {
			t.Errorf("WWW-Authenticate %q, want insufficient_scope", c)
		}
		// A made-up opaque token: 401.
		wantStatus(t, e.request(t, "GET", "/phantom/orders", "Bearer made-up-opaque-token", "", nil), http.StatusUnauthorized)
	})

	t.Run("MCP", func(t *testing.T) {
		call := func(tool string) string {
			return `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"` + tool + `","arguments":{}}}`
		}
		r := e.request(t, "POST", "/mcp", "", call("list_orders"), nil)
		wantStatus(t, r, http.StatusUnauthorized)
		c := challenge(r)
		md := "https://mcp.example.test/.well-known/oauth-protected-resource/mcp"
		if !strings.Contains(c, `resource_metadata="`+md+`"`) {
			t.Errorf("WWW-Authenticate %q, want resource_metadata=%q", c, md)
		}
		// The metadata itself (RFC 9728).
		mr := e.request(t, "GET", "/.well-known/oauth-protected-resource/mcp", "", "", nil)
		var meta struct {
			Resource string   `json:"resource"`
			AS       []string `json:"authorization_servers"`
			Scopes   []string `json:"scopes_supported"`
		}
		if mr.status != http.StatusOK || json.Unmarshal(mr.body, &meta) != nil || meta.Resource != mcpResource || !slices.Contains(meta.AS, w.Issuer) {
			t.Errorf("metadata: %s", mr)
		}

		// A token for the API, not for the MCP resource: the audience is
		// the route's resource (RFC 8707).
		wantStatus(t, e.request(t, "POST", "/mcp", "Bearer "+readerTok, call("list_orders"), nil), http.StatusUnauthorized)

		// A token of the resource lacking a scope: 403 naming all scopes.
		partial := w.createClient(map[string]any{"client_name": "agent without tools", "grant_types": []string{"client_credentials"}, "scope": "orders:read", "audiences": []string{mcpResource}})
		r = e.request(t, "POST", "/mcp", "Bearer "+w.accessToken(partial, "orders:read"), call("list_orders"), nil)
		wantStatus(t, r, http.StatusForbidden)
		c = challenge(r)
		if !strings.Contains(c, `error="insufficient_scope"`) || !strings.Contains(c, `scope="mcp:tools orders:read"`) {
			t.Errorf("WWW-Authenticate %q, want insufficient_scope with scope=\"mcp:tools orders:read\"", c)
		}

		agent := w.accessToken(e.mcp, "mcp:tools orders:read")
		saw := upstreamSaw(t, e.request(t, "POST", "/mcp", "Bearer "+agent, call("list_orders"), nil))
		if saw.Header["Authorization"] != nil {
			t.Errorf("the MCP upstream got Authorization %q; the client's token must never pass", saw.Header["Authorization"])
		}
		if saw.Body != call("list_orders") {
			t.Errorf("the upstream got body %q", saw.Body)
		}
		// The tool rule reads the JSON-RPC body.
		r = e.request(t, "POST", "/mcp", "Bearer "+agent, call("delete_order"), nil)
		wantStatus(t, r, http.StatusForbidden)
		// Other methods than tools/call pass the rule.
		upstreamSaw(t, e.request(t, "POST", "/mcp", "Bearer "+agent, `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`, nil))
		// Even with forward_token unset, an MCP route never forwards it:
		// checked above; a batch is refused.
		wantStatus(t, e.request(t, "POST", "/mcp", "Bearer "+agent, "["+call("list_orders")+"]", nil), http.StatusBadRequest)
	})

	t.Run("unknown kid after rotation", func(t *testing.T) {
		// The gateway has writ's keys cached (the tests above). Rotate
		// twice, so that the new current key was never in a set the
		// gateway fetched.
		before := w.jwksKids()
		w.admin(http.MethodPost, "/admin/keys/rotate", map[string]any{"force": true}, nil, http.StatusOK)
		w.admin(http.MethodPost, "/admin/keys/rotate", map[string]any{"force": true}, nil, http.StatusOK)
		tok := w.accessToken(e.reader, "orders:read")
		kid := kidOf(t, tok)
		if slices.Contains(before, kid) {
			t.Fatalf("kid %q was published before the rotation; the case proves nothing", kid)
		}
		// Past the rate limit of refetches (rs.DefaultMinRefreshInterval)
		// since the gateway's last fetch, the unknown kid is fetched at once.
		e.clock.Advance(rs.DefaultMinRefreshInterval)
		fetches := e.fetches.jwks.Load()
		upstreamSaw(t, e.request(t, "GET", "/orders/7", "Bearer "+tok, "", nil))
		if e.fetches.jwks.Load() == fetches {
			t.Error("accepted without fetching the JWKS again")
		}
		// A token of the old key still verifies (writ keeps publishing it).
		upstreamSaw(t, e.request(t, "GET", "/orders/7", "Bearer "+readerTok, "", nil))
	})

	t.Run("expired token", func(t *testing.T) {
		// Minted now; moved past its exp (and the default leeway) on the
		// clock that writ and the gateway share.
		tok := w.accessToken(e.reader, "orders:read")
		upstreamSaw(t, e.request(t, "GET", "/orders/7", "Bearer "+tok, "", nil))
		var claims struct {
			Exp int64 `json:"exp"`
		}
		jws, err := jose.ParseCompact(tok, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(jws.Payload()), &claims); err != nil || claims.Exp == 0 {
			t.Fatalf("exp: %v", err)
		}
		e.clock.Advance(time.Unix(claims.Exp, 0).Sub(e.clock.Now()) + 10*time.Minute)
		r := e.request(t, "GET", "/orders/7", "Bearer "+tok, "", nil)
		wantStatus(t, r, http.StatusUnauthorized)
		if c := challenge(r); !strings.Contains(c, `error="invalid_token"`) {
			t.Errorf("WWW-Authenticate %q, want invalid_token", c)
		}
	})

	t.Run("decision log", func(t *testing.T) {
		lines := e.logs.decisions(t)
		if len(lines) == 0 {
			t.Fatal("no decision log lines")
		}
		var allow, deny bool
		for _, l := range lines {
			for _, k := range []string{"decision_id", "route", "decision", "status"} {
				if _, ok := l[k]; !ok {
					t.Errorf("decision line without %s: %v", k, l)
				}
			}
			if p, _ := l["path"].(string); strings.Contains(p, "%") || strings.Contains(p, "..") {
				t.Errorf("decision line with a path that is not normalised: %v", l)
			}
			allow = allow || l["decision"] == "allow"
			deny = deny || l["decision"] == "deny"
		}
		if !allow || !deny {
			t.Errorf("want allow and deny lines, got %v", lines)
		}
		if logs := e.logs.String(); strings.Contains(logs, readerTok) || strings.Contains(logs, readerTok[strings.LastIndexByte(readerTok, '.')+1:]) {
			t.Error("a token is in the gateway's log")
		}
	})
}

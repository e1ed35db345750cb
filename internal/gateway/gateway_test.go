package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/writ-dev/writ/internal/gateway/config"
	"github.com/writ-dev/writ/internal/gateway/policy"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
	"github.com/writ-dev/writ/rs"
)

// fakeVerifier maps raw tokens to tokens or errors.
type fakeVerifier struct {
	tokens map[string]*rs.Token
	errs   map[string]error
}

func (f *fakeVerifier) Verify(_ context.Context, raw string) (*rs.Token, error) {
	if err, ok := f.errs[raw]; ok {
		return nil, err
	}
	if t, ok := f.tokens[raw]; ok {
		return t, nil
	}
	return nil, fmt.Errorf("%w: unknown test token", rs.ErrInvalidToken)
}

type fakeIntrospector struct {
	fakeVerifier
	phantoms map[string]string
}

func (f *fakeIntrospector) Phantom(ctx context.Context, raw string) (string, *rs.Token, error) {
	t, err := f.Verify(ctx, raw)
	if err != nil {
		return "", nil, err
	}
	return f.phantoms[raw], t, nil
}

// fakeDPoP accepts the proof "good", asks for a nonce on "nonce", and
// refuses everything else.
type fakeDPoP struct {
	mu   sync.Mutex
	seen []string // jkt values checked
}

func (f *fakeDPoP) CheckDPoP(_ context.Context, r *http.Request, token, jkt string) error {
	f.mu.Lock()
	f.seen = append(f.seen, jkt)
	f.mu.Unlock()
	switch r.Header.Get("DPoP") {
	case "good":
		return nil
	case "nonce":
		return &rs.NonceError{Nonce: "n-1"}
	case "down":
		return fmt.Errorf("replay store: %w", rs.ErrUnavailable)
	}
	return fmt.Errorf("%w: bad proof", rs.ErrInvalidDPoPProof)
}

// testPolicies compiles `allow: NAME` to the function of that name.
func testPolicies(funcs map[string]func(*Input) Decision) PolicyCompiler {
	c, err := policy.NewCompiler()
	if err != nil {
		panic(err)
	}
	real := CompilerFor(c)
	return func(name string, s config.PolicySpec) (Decider, error) {
		if s.Allow == "" && s.Deny == "" {
			return real(name, s)
		}
		key := s.Allow
		if key == "" {
			key = s.Deny
		}
		f, ok := funcs[key]
		if !ok {
			return real(name, s)
		}
		return funcDecider(f), nil
	}
}

type funcDecider func(*Input) Decision

func (f funcDecider) Decide(_ context.Context, in *Input) Decision { return f(in) }

// upstream records what reached it.
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []seen
}

type seen struct {
	method, path, rawPath, query string
	header                       http.Header
	body                         string
}

func newUpstream(t testing.TB) *upstream {
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.reqs = append(u.reqs, seen{r.Method, r.URL.Path, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Clone(), string(body)})
		u.mu.Unlock()
		w.Header().Set("X-Upstream", "yes")
		_, _ = io.WriteString(w, "upstream "+r.URL.EscapedPath())
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) last(t testing.TB) seen {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.reqs) == 0 {
		t.Fatal("the upstream got no request")
	}
	return u.reqs[len(u.reqs)-1]
}

func (u *upstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.reqs)
}

const testFile = `
listen: 127.0.0.1:0
issuers:
  - name: writ
    issuer: https://id.example
    audiences: [https://api.example]
  - name: partner
    issuer: https://partner.example
    audiences: [https://api.example]
introspection:
  endpoint: https://id.example/introspect
  client_id: gw
  client_secret_file: secret.txt
  jwt_response: true
  issuer: https://id.example
identity_assertion: {ttl: 20s}
routes:
  - path: /orders/{id}
    methods: [GET]
    upstream: UPSTREAM
    allow: orders
    headers: {X-User: sub, X-Roles: realm_access.roles, X-Level: level}
  - path: /orders/
    methods: [POST]
    upstream: UPSTREAM/base
    scopes: {all: [orders:write]}
    forward_token: true
    identity_assertion: false
  - path: /partner/
    upstream: UPSTREAM
    issuers: [partner]
    allow: 'true'
  - path: /dpop/
    upstream: UPSTREAM
    dpop: required
    allow: 'true'
  - path: /phantom/
    upstream: UPSTREAM
    token: opaque
    phantom: true
    allow: 'true'
  - path: /mcp
    upstream: UPSTREAM
    mcp: {resource: https://gw.example/mcp, scopes: [mcp:tools, mcp:read]}
    allow: mcp
  - path: /public/
    upstream: UPSTREAM
    anonymous: true
  - path: /open/
    upstream: UPSTREAM
    anonymous: true
    deny: opendeny
  - path: /slow
    upstream: SLOW
    anonymous: true
    timeout: 50ms
  - path: /down
    upstream: http://127.0.0.1:1
    anonymous: true
  - path: /small
    upstream: UPSTREAM
    anonymous: true
    max_body_bytes: 10
`

type fixture struct {
	gw       *Gateway
	srv      *httptest.Server
	up       *upstream
	logs     *bytes.Buffer
	lines    chan string
	reg      *prometheus.Registry
	dpop     *fakeDPoP
	key      *jose.Key
	release  chan struct{}
	verifier *fakeVerifier
}

func tok(iss, sub string, aud []string, scopes []string, claims map[string]any) *rs.Token {
	c := map[string]any{"iss": iss, "sub": sub, "scope": strings.Join(scopes, " ")}
	for k, v := range claims {
		c[k] = v
	}
	return &rs.Token{Issuer: iss, Subject: sub, Audience: aud, Scopes: scopes, Claims: c, ClientID: "app"}
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	fx := &fixture{up: newUpstream(t), logs: &bytes.Buffer{}, lines: make(chan string, 1000), reg: prometheus.NewRegistry(), dpop: &fakeDPoP{}, release: make(chan struct{})}
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-fx.release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(fx.release); slow.Close() })
	api := []string{"https://api.example"}
	fx.verifier = &fakeVerifier{
		tokens: map[string]*rs.Token{
			"alice":     tok("https://id.example", "alice", api, []string{"orders:read"}, map[string]any{"realm_access": map[string]any{"roles": []any{"a", "b"}}, "level": 3.0}),
			"bob":       tok("https://id.example", "bob", api, []string{"orders:write"}, nil),
			"partner":   tok("https://partner.example", "p", api, nil, nil),
			"other-aud": tok("https://id.example", "alice", []string{"https://elsewhere"}, []string{"orders:read"}, nil),
			"bound": func() *rs.Token {
				t := tok("https://id.example", "carol", api, nil, nil)
				t.JKT = "thumb"
				return t
			}(),
			"mcp":     tok("https://id.example", "agent", []string{"https://gw.example/mcp"}, []string{"mcp:tools", "mcp:read"}, nil),
			"mcp-low": tok("https://id.example", "agent", []string{"https://gw.example/mcp"}, []string{"mcp:tools"}, nil),
		},
		errs: map[string]error{
			"outage":  fmt.Errorf("fetch: %w", rs.ErrKeySetUnavailable),
			"expired": fmt.Errorf("%w: %w", rs.ErrInvalidToken, jwt.ErrExpired),
		},
	}
	intro := &fakeIntrospector{
		fakeVerifier: fakeVerifier{tokens: map[string]*rs.Token{"opaque-1": tok("https://id.example", "dave", nil, nil, nil)}, errs: map[string]error{"opaque-down": rs.ErrUnavailable}},
		phantoms:     map[string]string{"opaque-1": "phantom.jwt.value"},
	}
	var err error
	if fx.key, err = jose.GenerateKey(jose.ES256); err != nil {
		t.Fatal(err)
	}
	data := strings.ReplaceAll(strings.ReplaceAll(testFile, "UPSTREAM", fx.up.URL), "SLOW", slow.URL)
	f, err := config.Parse([]byte(data), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	deps := Deps{
		Logger:          slog.New(slog.NewJSONHandler(syncWriter{fx.logs, &sync.Mutex{}, fx.lines}, nil)),
		NewVerifier:     func(context.Context, []config.Issuer) (rs.TokenVerifier, error) { return fx.verifier, nil },
		NewIntrospector: func(context.Context, config.Introspection) (Introspector, error) { return intro, nil },
		NewDPoP:         func(context.Context, config.DPoP) (rs.DPoPChecker, error) { return fx.dpop, nil },
		CompilePolicy: testPolicies(map[string]func(*Input) Decision{
			"orders": func(in *Input) Decision {
				ok := slices.Contains(scopesOf(in.Claims), "orders:read") && in.Request.Params["id"] != "0"
				return Decision{Allow: ok, Rule: "orders", Reason: "orders rule"}
			},
			"opendeny": func(in *Input) Decision {
				if strings.Contains(in.Request.Path, "secret") {
					return Decision{Rule: "deny", Reason: "secret"}
				}
				return Decision{Allow: true, Rule: "anonymous"}
			},
			"mcp": func(in *Input) Decision {
				if in.Request.MCP != nil && in.Request.MCP.Tool == "delete_everything" {
					return Decision{Rule: "no-delete", Reason: "tool refused"}
				}
				return Decision{Allow: true, Rule: "mcp"}
			},
		}),
		Registerer:   fx.reg,
		AssertionKey: fx.key,
	}
	fx.gw, err = New(context.Background(), f, deps)
	if err != nil {
		t.Fatal(err)
	}
	fx.srv = httptest.NewServer(fx.gw)
	t.Cleanup(fx.srv.Close)
	return fx
}

type syncWriter struct {
	w     io.Writer
	mu    *sync.Mutex
	lines chan string
}

func (s syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case s.lines <- string(b):
	default:
	}
	return s.w.Write(b)
}

// do sends a raw request line so that paths reach the gateway unchanged.
func (fx *fixture) do(t testing.TB, method, path string, header map[string]string, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, fx.srv.URL+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.URL.Opaque = path // sent as is
	if body == "" {
		req.Body = nil
		req.ContentLength = 0
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := fx.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestGatewayMethodNotAllowedNamesTheMethods(t *testing.T) {
	fx := newFixture(t)
	resp := fx.do(t, "DELETE", "/orders/7", bearer("alice"), "")
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("status %d, want 405", resp.StatusCode)
	}
	allow := resp.Header.Get("Allow")
	if !strings.Contains(allow, "GET") || !strings.Contains(allow, "HEAD") || strings.Contains(allow, "DELETE") {
		t.Fatalf("Allow %q, want the route's methods with HEAD for GET", allow)
	}
	// HEAD is accepted where GET is.
	if resp := fx.do(t, "HEAD", "/orders/7", bearer("alice"), ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("HEAD on a GET route: status %d, want 200", resp.StatusCode)
	}
}

func TestGatewayRequestFlow(t *testing.T) {
	fx := newFixture(t)
	for _, c := range []struct {
		name, method, path string
		header             map[string]string
		body               string
		status             int
		challenge          string // substring of WWW-Authenticate
		upstreamPath       string // "" when the upstream must not be reached
	}{
		{"anonymous", "GET", "/public/a?x=1", nil, "", 200, "", "/public/a"},
		{"no route", "GET", "/nowhere", nil, "", 404, "", ""},
		{"anonymous with deny: allowed", "GET", "/open/x", nil, "", 200, "", "/open/x"},
		{"anonymous with deny: denied", "GET", "/open/secret", nil, "", 403, "", ""},
		{"method not allowed", "DELETE", "/orders/7", bearer("alice"), "", 405, "", ""},
		{"no token", "GET", "/orders/7", nil, "", 401, `Bearer realm="writ-gateway"`, ""},
		{"no token has no error code", "GET", "/orders/7", nil, "", 401, `DPoP realm="writ-gateway", algs=`, ""},
		{"other scheme is no token", "GET", "/orders/7", map[string]string{"Authorization": "Basic YTpi"}, "", 401, `Bearer realm="writ-gateway"`, ""},
		{"token in bad syntax", "GET", "/orders/7", map[string]string{"Authorization": "Bearer a b"}, "", 401, `error="invalid_token"`, ""},
		{"invalid token", "GET", "/orders/7", bearer("forged"), "", 401, `error="invalid_token"`, ""},
		{"expired token", "GET", "/orders/7", bearer("expired"), "", 401, `error="invalid_token"`, ""},
		{"JWKS outage is 503", "GET", "/orders/7", bearer("outage"), "", 503, "", ""},
		{"rule denies", "GET", "/orders/0", bearer("alice"), "", 403, "", ""},
		{"rule allows", "GET", "/orders/7", bearer("alice"), "", 200, "", "/orders/7"},
		{"scope missing", "POST", "/orders/", bearer("alice"), "x", 403, `error="insufficient_scope", error_description="the token lacks a scope this resource requires", scope="orders:write"`, ""},
		{"scope present", "POST", "/orders/", bearer("bob"), "x", 200, "", "/base/orders/"},
		{"wrong audience", "GET", "/orders/7", bearer("other-aud"), "", 401, `error="invalid_token"`, ""},
		{"issuer not accepted on route", "GET", "/partner/x", bearer("alice"), "", 401, `error="invalid_token"`, ""},
		{"issuer accepted on route", "GET", "/partner/x", bearer("partner"), "", 200, "", "/partner/x"},
		{"dot segments resolved", "GET", "/public/../orders/7", bearer("alice"), "", 200, "", "/orders/7"},
		{"encoded unreserved decoded", "GET", "/%6Frders/7", bearer("alice"), "", 200, "", "/orders/7"},
		{"dot segments cannot dodge the rule", "GET", "/public/../orders/7", nil, "", 401, "", ""},
		{"encoded dots refused", "GET", "/public/%2e%2e/orders/7", nil, "", 400, "", ""},
		{"encoded slash refused", "GET", "/public%2f..%2forders/7", nil, "", 400, "", ""},
		{"double slash collapsed", "GET", "/public//a//", nil, "", 200, "", "/public/a/"},
		{"bound token under Bearer", "GET", "/dpop/x", bearer("bound"), "", 401, `error="invalid_token"`, ""},
		{"bearer on DPoP route", "GET", "/dpop/x", bearer("alice"), "", 401, `DPoP realm`, ""},
		{"unbound token under DPoP", "GET", "/dpop/x", map[string]string{"Authorization": "DPoP alice", "DPoP": "good"}, "", 401, `error="invalid_token"`, ""},
		{"DPoP proof good", "GET", "/dpop/x", map[string]string{"Authorization": "DPoP bound", "DPoP": "good"}, "", 200, "", "/dpop/x"},
		{"DPoP proof bad", "GET", "/dpop/x", map[string]string{"Authorization": "DPoP bound", "DPoP": "replayed"}, "", 401, `DPoP realm="writ-gateway", error="invalid_dpop_proof"`, ""},
		{"DPoP nonce", "GET", "/dpop/x", map[string]string{"Authorization": "DPoP bound", "DPoP": "nonce"}, "", 401, `error="use_dpop_nonce"`, ""},
		{"DPoP replay store down", "GET", "/dpop/x", map[string]string{"Authorization": "DPoP bound", "DPoP": "down"}, "", 503, "", ""},
		{"bound token on allowed route", "GET", "/partner/x", map[string]string{"Authorization": "DPoP bound", "DPoP": "good"}, "", 401, `error="invalid_token"`, ""},
		{"introspection down", "GET", "/phantom/x", bearer("opaque-down"), "", 503, "", ""},
		{"upstream down", "GET", "/down", nil, "", 502, "", ""},
		{"upstream slow", "GET", "/slow", nil, "", 504, "", ""},
		{"body too large by length", "POST", "/small", nil, strings.Repeat("x", 11), 413, "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := fx.up.count()
			resp := fx.do(t, c.method, c.path, c.header, c.body)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d (%s)", resp.StatusCode, c.status, body)
			}
			www := strings.Join(resp.Header.Values("WWW-Authenticate"), " | ")
			if c.challenge != "" && !strings.Contains(www, c.challenge) {
				t.Errorf("WWW-Authenticate %q lacks %q", www, c.challenge)
			}
			if c.status == 401 && www == "" {
				t.Error("401 without WWW-Authenticate")
			}
			if c.upstreamPath == "" {
				if fx.up.count() != before {
					t.Errorf("the upstream was reached: %+v", fx.up.last(t))
				}
				if resp.Header.Get("Content-Type") != "application/json" {
					t.Errorf("content type %q", resp.Header.Get("Content-Type"))
				}
				var e map[string]string
				if err := json.Unmarshal(body, &e); err != nil || e["error"] == "" {
					t.Errorf("body %q is not a JSON error", body)
				}
				return
			}
			if got := fx.up.last(t); got.rawPath != c.upstreamPath {
				t.Errorf("upstream path %q, want %q", got.rawPath, c.upstreamPath)
			}
		})
	}
	if r := fx.do(t, "GET", "/dpop/x", map[string]string{"Authorization": "DPoP bound", "DPoP": "nonce"}, ""); r.Header.Get("DPoP-Nonce") != "n-1" {
		t.Errorf("DPoP-Nonce = %q", r.Header.Get("DPoP-Nonce"))
	}
	if !slices.Contains(fx.dpop.seen, "thumb") {
		t.Errorf("the DPoP checker was not given the token's jkt: %v", fx.dpop.seen)
	}
}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

// Headers the gateway sets can never come from the client, whatever the
// route and the outcome.
func TestGatewayStripsSpoofedHeaders(t *testing.T) {
	fx := newFixture(t)
	spoof := map[string]string{
		"X-User": "admin", "x-roles": "root", "X-Level": "99", "X-Writ-Assertion": "forged",
		"X-Forwarded-For": "10.9.9.9", "X-Forwarded-Host": "evil", "Forwarded": "for=10.9.9.9", "X-Real-IP": "10.9.9.9",
		// other client-address and original-URL headers that frameworks
		// and CDNs trust
		"True-Client-IP": "10.9.9.9", "X-Client-IP": "10.9.9.9", "CF-Connecting-IP": "10.9.9.9", "X-Cluster-Client-IP": "10.9.9.9",
		"X-Original-Forwarded-For": "10.9.9.9", "X-Forwarded-Server": "evil", "X-Forwarded-Ssl": "on-evil",
		"X-Forwarded-Scheme": "evil", "X-Forwarded-Uri": "/evil", "X-Original-URI": "/evil", "X-Original-Host": "evil",
	}
	check := func(t *testing.T, got seen, allowed map[string]string) {
		t.Helper()
		for h, v := range spoof {
			for _, have := range got.header.Values(h) {
				if strings.Contains(have, v) {
					t.Errorf("spoofed %s: %q reached the upstream", h, have)
				}
			}
		}
		for h, v := range allowed {
			if got.header.Get(h) != v {
				t.Errorf("%s = %q, want %q", h, got.header.Get(h), v)
			}
		}
		if xff := got.header.Get("X-Forwarded-For"); xff != "127.0.0.1" {
			t.Errorf("X-Forwarded-For = %q, want only this hop", xff)
		}
	}
	t.Run("anonymous route", func(t *testing.T) {
		h := map[string]string{"Authorization": "Bearer alice"}
		for k, v := range spoof {
			h[k] = v
		}
		if r := fx.do(t, "GET", "/public/x", h, ""); r.StatusCode != 200 {
			t.Fatal(r.Status)
		}
		got := fx.up.last(t)
		check(t, got, nil)
		if got.header.Get("Authorization") != "" {
			t.Error("Authorization reached an anonymous upstream")
		}
	})
	t.Run("authorized route", func(t *testing.T) {
		h := map[string]string{"Authorization": "Bearer alice", "DPoP": "x"}
		for k, v := range spoof {
			h[k] = v
		}
		if r := fx.do(t, "GET", "/orders/7", h, ""); r.StatusCode != 200 {
			t.Fatal(r.Status)
		}
		got := fx.up.last(t)
		check(t, got, map[string]string{"X-User": "alice", "X-Roles": "a,b", "X-Level": "3"})
		if got.header.Get("Authorization") != "" || got.header.Get("DPoP") != "" {
			t.Error("the client's credentials reached the upstream")
		}
		if got.header.Get("X-Writ-Assertion") == "" {
			t.Error("no identity assertion")
		}
	})
	t.Run("forward_token keeps Authorization only", func(t *testing.T) {
		h := map[string]string{"Authorization": "Bearer bob"}
		for k, v := range spoof {
			h[k] = v
		}
		if r := fx.do(t, "POST", "/orders/", h, "{}"); r.StatusCode != 200 {
			t.Fatal(r.Status)
		}
		got := fx.up.last(t)
		check(t, got, nil)
		if got.header.Get("Authorization") != "Bearer bob" || got.header.Get("X-Writ-Assertion") != "" {
			t.Errorf("Authorization %q, assertion %q", got.header.Get("Authorization"), got.header.Get("X-Writ-Assertion"))
		}
	})
	t.Run("underscore spellings", func(t *testing.T) {
		h := map[string]string{"Authorization": "Bearer partner", "X_User": "admin", "x_roles": "root", "X_Forwarded_For": "10.9.9.9"}
		if r := fx.do(t, "GET", "/partner/x", h, ""); r.StatusCode != 200 {
			t.Fatal(r.Status)
		}
		got := fx.up.last(t)
		for k := range got.header {
			if strings.Contains(k, "_") {
				t.Errorf("%s: %q reached the upstream", k, got.header[k])
			}
		}
	})
	t.Run("Connection cannot drop identity headers", func(t *testing.T) {
		h := map[string]string{"Authorization": "Bearer alice", "Connection": "X-User, X-Writ-Assertion, X-Forwarded-For"}
		if r := fx.do(t, "GET", "/orders/7", h, ""); r.StatusCode != 200 {
			t.Fatal(r.Status)
		}
		got := fx.up.last(t)
		if got.header.Get("X-User") != "alice" || got.header.Get("X-Writ-Assertion") == "" || got.header.Get("X-Forwarded-For") == "" {
			t.Errorf("headers dropped: %v", got.header)
		}
	})
	t.Run("claim missing leaves the header out", func(t *testing.T) {
		h := map[string]string{"Authorization": "Bearer partner", "X-User": "admin"}
		if r := fx.do(t, "GET", "/partner/x", h, ""); r.StatusCode != 200 {
			t.Fatal(r.Status)
		}
		if got := fx.up.last(t); got.header.Get("X-User") != "" {
			t.Errorf("X-User = %q", got.header.Get("X-User"))
		}
	})
}

func TestGatewayIdentityAssertion(t *testing.T) {
	fx := newFixture(t)
	if r := fx.do(t, "GET", "/orders/7", bearer("alice"), ""); r.StatusCode != 200 {
		t.Fatal(r.Status)
	}
	raw := fx.up.last(t).header.Get("X-Writ-Assertion")
	resp := fx.do(t, "GET", config.DefaultAssertionJWKSPath, nil, "")
	data, _ := io.ReadAll(resp.Body)
	ks, err := jose.ParseKeySet(data)
	if err != nil {
		t.Fatalf("JWKS %s: %v", data, err)
	}
	v, err := jwt.NewVerifier(jwt.StaticKeys(ks), jwt.Config{Issuer: config.DefaultAssertionIssuer, Audience: fx.up.URL, Type: AssertionType})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := v.Verify(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	var c assertionClaims
	if err := tok.DecodeClaims(&c); err != nil {
		t.Fatal(err)
	}
	if c.Subject != "alice" || c.Route != "GET /orders/{id}" || c.Method != "GET" || c.Path != "/orders/7" || c.Headers["X-User"] != "alice" || c.Headers["X-Roles"] != "a,b" || c.Expiry-c.IssuedAt != 20 {
		t.Fatalf("claims = %+v", c)
	}
}

func TestGatewayPhantomToken(t *testing.T) {
	fx := newFixture(t)
	if r := fx.do(t, "GET", "/phantom/x", bearer("opaque-1"), ""); r.StatusCode != 200 {
		t.Fatal(r.Status)
	}
	if got := fx.up.last(t).header.Get("Authorization"); got != "Bearer phantom.jwt.value" {
		t.Fatalf("upstream Authorization = %q", got)
	}
	if r := fx.do(t, "GET", "/phantom/x", bearer("opaque-unknown"), ""); r.StatusCode != 401 {
		t.Fatal(r.Status)
	}
}

func TestGatewayMCP(t *testing.T) {
	fx := newFixture(t)
	t.Run("metadata", func(t *testing.T) {
		resp := fx.do(t, "GET", "/.well-known/oauth-protected-resource/mcp", nil, "")
		var md resourceMetadata
		if err := json.NewDecoder(resp.Body).Decode(&md); err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %v", resp.Status, err)
		}
		if md.Resource != "https://gw.example/mcp" || !slices.Equal(md.AuthorizationServers, []string{"https://id.example", "https://partner.example"}) || !slices.Equal(md.ScopesSupported, []string{"mcp:tools", "mcp:read"}) {
			t.Fatalf("metadata = %+v", md)
		}
	})
	call := func(tool string) string {
		return `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"` + tool + `","arguments":{}}}`
	}
	t.Run("401 names the metadata", func(t *testing.T) {
		resp := fx.do(t, "POST", "/mcp", nil, call("echo"))
		if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `resource_metadata="https://gw.example/.well-known/oauth-protected-resource/mcp"`) {
			t.Fatalf("%s %q", resp.Status, resp.Header.Values("WWW-Authenticate"))
		}
	})
	t.Run("403 names every required scope", func(t *testing.T) {
		resp := fx.do(t, "POST", "/mcp", bearer("mcp-low"), call("echo"))
		if resp.StatusCode != 403 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `scope="mcp:tools mcp:read"`) {
			t.Fatalf("%s %q", resp.Status, resp.Header.Values("WWW-Authenticate"))
		}
	})
	t.Run("audience is the resource", func(t *testing.T) {
		if resp := fx.do(t, "POST", "/mcp", bearer("alice"), call("echo")); resp.StatusCode != 401 {
			t.Fatal(resp.Status)
		}
	})
	t.Run("tool allowed, body replayed, token not passed", func(t *testing.T) {
		if resp := fx.do(t, "POST", "/mcp", bearer("mcp"), call("echo")); resp.StatusCode != 200 {
			t.Fatal(resp.Status)
		}
		got := fx.up.last(t)
		if got.body != call("echo") || got.header.Get("Authorization") != "" {
			t.Fatalf("upstream got body %q, Authorization %q", got.body, got.header.Get("Authorization"))
		}
	})
	t.Run("tool refused by rule", func(t *testing.T) {
		if resp := fx.do(t, "POST", "/mcp", bearer("mcp"), call("delete_everything")); resp.StatusCode != 403 {
			t.Fatal(resp.Status)
		}
	})
	for name, body := range map[string]string{
		"batch":         `[` + call("echo") + `]`,
		"not json":      `{`,
		"not json-rpc":  `{"method":"tools/call"}`,
		"tool unnamed":  `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}}`,
		"params absent": `{"jsonrpc":"2.0","id":1,"method":"tools/call"}`,
	} {
		t.Run(name, func(t *testing.T) {
			if resp := fx.do(t, "POST", "/mcp", bearer("mcp"), body); resp.StatusCode != 400 {
				t.Fatal(resp.Status)
			}
		})
	}
}

func TestGatewayDecisionLogAndMetrics(t *testing.T) {
	fx := newFixture(t)
	fx.do(t, "GET", "/orders/7", bearer("alice"), "")
	fx.do(t, "GET", "/orders/0", bearer("alice"), "")
	fx.do(t, "GET", "/orders/7", bearer("expired"), "")
	// A line is written once its response is complete: wait for three.
	var lines []map[string]any
	var all strings.Builder
	timeout := time.After(10 * time.Second)
	for len(lines) < 3 {
		var l string
		select {
		case l = <-fx.lines:
		case <-timeout:
			t.Fatalf("decision lines: %v", lines)
		}
		all.WriteString(l)
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if m["msg"] == "decision" {
			lines = append(lines, m)
		}
	}
	// Lines are written once a response is complete, so their order is
	// not the order of the requests.
	want := map[float64]struct{ decision, rule string }{200: {"allow", "orders"}, 403: {"deny", "orders"}, 401: {"deny", ""}}
	for i, l := range lines {
		w, ok := want[l["status"].(float64)]
		if !ok || l["decision"] != w.decision || (w.rule != "" && l["rule"] != w.rule) || l["route"] != "GET /orders/{id}" || l["decision_id"] == "" {
			t.Errorf("line %d = %v", i, l)
		}
		delete(want, l["status"].(float64))
	}
	if strings.Contains(all.String(), "Bearer") {
		t.Error("the log holds a token")
	}
	mfs, err := fx.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += "," + l.GetName() + "=" + l.GetValue()
			}
			if m.GetCounter() != nil {
				counts[key] = m.GetCounter().GetValue()
			}
			if h := m.GetHistogram(); h != nil {
				counts[key] = float64(h.GetSampleCount())
			}
		}
	}
	for key, n := range map[string]float64{
		"writ_gateway_requests_total,decision=allow,route=GET /orders/{id},status=2xx": 1,
		"writ_gateway_requests_total,decision=deny,route=GET /orders/{id},status=403":  1,
		"writ_gateway_requests_total,decision=deny,route=GET /orders/{id},status=401":  1,
		"writ_gateway_upstream_duration_seconds,route=GET /orders/{id}":                1,
	} {
		if counts[key] != n {
			t.Errorf("%s = %v, want %v (have %v)", key, counts[key], n, counts)
		}
	}
}

func TestGatewayBodyLimitWhileStreaming(t *testing.T) {
	fx := newFixture(t)
	req, _ := http.NewRequest("POST", fx.srv.URL+"/small", io.MultiReader(strings.NewReader(strings.Repeat("x", 100))))
	req.ContentLength = -1 // chunked: the limit is found while reading
	resp, err := fx.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Fatalf("status %s", resp.Status)
	}
}

func TestGatewayReload(t *testing.T) {
	fx := newFixture(t)
	old := fx.gw.File()
	bad := *old
	bad.Routes = append([]config.Route(nil), old.Routes...)
	bad.Routes[0].Policy.Allow = "claims.x == " // not understood by the compiler
	bad.Routes[0].Policy.Roles = &config.ListRule{Claim: "r", Any: []string{"x"}}
	if err := fx.gw.Reload(context.Background(), &bad); err == nil {
		t.Fatal("an invalid configuration was accepted")
	}
	if fx.gw.File() != old {
		t.Fatal("the old configuration was replaced")
	}
	if r := fx.do(t, "GET", "/orders/7", bearer("alice"), ""); r.StatusCode != 200 {
		t.Fatal(r.Status)
	}
	next := *old
	next.Routes = []config.Route{old.Routes[6]} // only /public/
	if next.Routes[0].Path != "/public/" {
		t.Fatal(next.Routes[0].Path)
	}
	if err := fx.gw.Reload(context.Background(), &next); err != nil {
		t.Fatal(err)
	}
	if r := fx.do(t, "GET", "/orders/7", bearer("alice"), ""); r.StatusCode != 404 {
		t.Fatalf("after reload: %s", r.Status)
	}
	if r := fx.do(t, "GET", "/public/x", nil, ""); r.StatusCode != 200 {
		t.Fatalf("after reload: %s", r.Status)
	}
}

func TestTokenFailureMapping(t *testing.T) {
	ch := func(code, desc string) []rs.Challenge { return []rs.Challenge{{Scheme: rs.SchemeBearer, Error: code}} }
	for _, c := range []struct {
		err    error
		status int
	}{
		{fmt.Errorf("x: %w", rs.ErrInvalidToken), 401},
		{fmt.Errorf("x: %w: %w", rs.ErrInvalidToken, rs.ErrUnknownIssuer), 401},
		{fmt.Errorf("x: %w", rs.ErrKeySetUnavailable), 503},
		{fmt.Errorf("x: %w", rs.ErrUnavailable), 503},
		{context.Canceled, 503},
		{errors.New("surprise"), 503},
	} {
		if o := tokenFailure(c.err, ch); o.status != c.status || (c.status == 401) != (len(o.challenges) > 0) {
			t.Errorf("%v → %+v", c.err, o)
		}
	}
}

func TestHeaderValue(t *testing.T) {
	for _, c := range []struct {
		in   any
		want string
		ok   bool
	}{
		{"alice", "alice", true},
		{[]any{"a", "b"}, "a,b", true},
		{[]any{"a", 2.0, true}, "a,2,true", true},
		{3.5, "3.5", true},
		{1e21, "1000000000000000000000", true},
		{map[string]any{"a": 1}, "", false},
		{[]any{map[string]any{}}, "", false},
		{"a\r\nX-Evil: 1", "", false},
		{strings.Repeat("a", maxHeaderValue+1), "", false},
		{nil, "", false},
	} {
		got, ok := headerValue(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("headerValue(%v) = %q %v", c.in, got, ok)
		}
	}
}

func TestClaimPathAndAct(t *testing.T) {
	claims := map[string]any{"a.b": 1.0, "realm": map[string]any{"roles": []any{"x"}}, "act": map[string]any{"sub": "svc1", "act": map[string]any{"sub": "svc2"}}}
	if v, ok := claimPath(claims, "a.b"); !ok || v != 1.0 {
		t.Error("dotted name")
	}
	if v, ok := claimPath(claims, "realm.roles"); !ok || len(v.([]any)) != 1 {
		t.Error("nested")
	}
	if _, ok := claimPath(claims, "realm.roles.x"); ok {
		t.Error("through a list")
	}
	chain := actChain(claims)
	if len(chain) != 2 || chain[0]["sub"] != "svc1" || chain[1]["sub"] != "svc2" {
		t.Errorf("act chain = %v", chain)
	}
	deep := map[string]any{}
	cur := deep
	for range 100 {
		next := map[string]any{}
		cur["act"] = next
		cur = next
	}
	if n := len(actChain(deep)); n != maxActDepth {
		t.Errorf("depth %d", n)
	}
}

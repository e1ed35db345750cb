package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/gateway/policy"
)

func TestContractFileLoads(t *testing.T) {
	f, err := Load("testdata/contract.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if f.Listen != "127.0.0.1:9000" || len(f.Issuers) != 2 || len(f.Routes) != 3 || len(f.Tests) != 1 {
		t.Fatalf("loaded %+v", f)
	}
	r := f.Routes[0]
	if r.Path != "/orders/{id}" || r.Token != "jwt" || r.DPoP != "allowed" || r.Headers["X-User"] != "sub" || !strings.Contains(r.Policy.Allow, "orders:read") || r.Line != 9 {
		t.Fatalf("route 0 = %+v", r)
	}
	if f.Routes[1].DPoP != "required" || !f.Routes[2].Policy.Anonymous || f.Routes[2].Token != "" {
		t.Fatalf("routes = %+v", f.Routes)
	}
	if f.Issuers[1].JWKSURI != "http://127.0.0.1:9100/jwks.json" || f.Issuers[0].Key() != "http://127.0.0.1:8080" {
		t.Fatalf("issuers = %+v", f.Issuers)
	}
	tc := f.Tests[0]
	if tc.Name != "reader may read" || tc.Request.Method != "GET" || tc.Claims["sub"] != "alice" || tc.Expect != policy.ExpectAllow {
		t.Fatalf("test = %+v", tc)
	}
	if f.Timeouts.ReadHeader != DefaultReadHeaderTimeout || f.Routes[0].Timeout != DefaultUpstreamTimeout || f.Routes[0].MaxBodyBytes != DefaultMaxBodyBytes {
		t.Fatalf("defaults not applied: %+v %+v", f.Timeouts, f.Routes[0])
	}
}

func TestFullFile(t *testing.T) {
	f, err := Parse([]byte(`
listen: 127.0.0.1:0
tls: {cert_file: c.pem, key_file: k.pem}
metrics: {listen: 127.0.0.1:0}
timeouts: {upstream: 2s, read_header: 1s}
limits: {max_body_bytes: 1024}
issuers:
  - name: writ
    issuer: https://id.example
    jwks_file: jwks.json
    audiences: [https://api]
    algorithms: [ES256]
    claim_mapping: {roles: realm_access.roles}
    leeway: 30s
introspection:
  endpoint: https://id.example/introspect
  client_id: gw
  client_secret_file: secret
  jwt_response: true
  issuer: https://id.example
dpop: {replay: redis, redis_url: "redis://127.0.0.1:6379/0", nonce: true}
identity_assertion: {ttl: 10s}
routes:
  - name: mcp
    path: /mcp
    upstream: http://127.0.0.1:1
    token: opaque
    phantom: true
    mcp: {resource: https://gw.example/mcp, scopes: [tools:call]}
    deny: 'request.mcp.tool == "rm"'
  - path: /admin/
    host: api.example
    methods: [GET, POST]
    upstream: https://10.0.0.1:8443/base
    issuers: [writ]
    scopes: {all: [admin]}
    roles: {claim: realm_access.roles, any: [admin]}
    claims: [{path: email_verified, equals: true}, {path: level, ge: 3}]
    attributes: {classification: 2}
    identity_assertion: false
    timeout: 1s
`), "")
	if err != nil {
		t.Fatal(err)
	}
	if f.Assertion.Header != DefaultAssertionHeader || f.Assertion.TTL != 10*time.Second || f.Metrics.Path != "/metrics" {
		t.Fatalf("assertion/metrics = %+v %+v", f.Assertion, f.Metrics)
	}
	if f.Routes[0].MCP.MaxBodyBytes != DefaultMCPBodyBytes || f.Routes[1].Name != "api.exampleGET,POST /admin/" || f.Routes[1].Timeout != time.Second {
		t.Fatalf("routes = %+v", f.Routes)
	}
	if *f.Routes[1].Policy.Claims[1].Ge != 3 || f.Routes[1].Policy.Attributes["classification"] != 2 {
		t.Fatalf("policy = %+v", f.Routes[1].Policy)
	}
}

func TestInvalidFiles(t *testing.T) {
	base := "listen: 127.0.0.1:0\nissuers: [{issuer: https://id, audiences: [a]}]\n"
	for _, c := range []struct {
		name, yaml string
		want       []string
	}{
		{"unknown top key", "listen: 127.0.0.1:0\nisuers: []\nroutes: [{path: /, upstream: http://u, anonymous: true}]\n", []string{`line 2: unknown key "isuers"`}},
		{"unknown route key", base + "routes:\n  - path: /\n    upstream: http://u\n    allow: 'true'\n    alow: 'true'\n", []string{`line 7: unknown key "alow"`}},
		{"repeated key", base + "routes:\n  - path: /\n    path: /x\n", []string{"line 5", "already defined"}},
		{"wrong type", base + "routes:\n  - path: [a]\n", []string{"line 4", "cannot unmarshal a list"}},
		{"not yaml", "listen: [\n", []string{"line"}},
		{"empty", "", []string{"empty"}},
		{"list", "- a\n", []string{"must be a mapping"}},
		{"no listen no routes", "issuers: []\n", []string{"listen: is required", "routes: at least one route"}},
		{"bad path", base + "routes:\n  - path: /a/../b\n    upstream: http://u\n    allow: 'true'\n", []string{"line 4: routes[0].path", "normal form"}},
		{"no rule", base + "routes:\n  - path: /a\n    upstream: http://u\n", []string{"line 4: routes[0]: has no rule"}},
		{"anonymous with rule", base + "routes:\n  - path: /a\n    upstream: http://u\n    anonymous: true\n    allow: 'true'\n", []string{"line 7: routes[0].allow: an anonymous route"}},
		{"bad upstream", base + "routes:\n  - path: /a\n    upstream: ftp://u\n    allow: 'true'\n", []string{"line 5: routes[0].upstream"}},
		{"upstream query", base + "routes:\n  - path: /a\n    upstream: http://u/?x=1\n    allow: 'true'\n", []string{"routes[0].upstream"}},
		{"unknown issuer", base + "routes:\n  - path: /a\n    upstream: http://u\n    issuers: [nope]\n    allow: 'true'\n", []string{"line 6: routes[0].issuers", `"nope"`}},
		{"bad token", base + "routes:\n  - path: /a\n    upstream: http://u\n    token: magic\n    allow: 'true'\n", []string{"routes[0].token"}},
		{"opaque needs introspection", base + "routes:\n  - path: /a\n    upstream: http://u\n    token: opaque\n    allow: 'true'\n", []string{"introspection endpoint"}},
		{"bad dpop", base + "routes:\n  - path: /a\n    upstream: http://u\n    dpop: sometimes\n    allow: 'true'\n", []string{"routes[0].dpop"}},
		{"reserved header", base + "routes:\n  - path: /a\n    upstream: http://u\n    headers: {Authorization: sub}\n    allow: 'true'\n", []string{"Authorization"}},
		{"bad header", base + "routes:\n  - path: /a\n    upstream: http://u\n    headers: {\"X User\": sub}\n    allow: 'true'\n", []string{"not a header name"}},
		{"dup header", base + "routes:\n  - path: /a\n    upstream: http://u\n    headers: {x-user: sub, X-User: email}\n    allow: 'true'\n", []string{"appears twice"}},
		{"mcp forward", base + "routes:\n  - path: /a\n    upstream: http://u\n    forward_token: true\n    mcp: {resource: https://gw/a, scopes: [x]}\n", []string{"never passes"}},
		{"mcp resource", base + "routes:\n  - path: /a\n    upstream: http://u\n    mcp: {resource: 'gw/a', scopes: [x]}\n", []string{"mcp.resource"}},
		{"phantom jwt", base + "routes:\n  - path: /a\n    upstream: http://u\n    phantom: true\n    allow: 'true'\n", []string{"phantom: needs token: opaque"}},
		{"duplicate issuer", "listen: 127.0.0.1:0\nissuers: [{issuer: https://id, audiences: [a]}, {issuer: https://id, audiences: [b]}]\nroutes: [{path: /, upstream: http://u, anonymous: true}]\n", []string{"configured twice"}},
		{"issuer no audience", "listen: 127.0.0.1:0\nissuers: [{issuer: https://id}]\nroutes: [{path: /, upstream: http://u, anonymous: true}]\n", []string{"audience is required"}},
		{"bad alg", "listen: 127.0.0.1:0\nissuers: [{issuer: https://id, audiences: [a], algorithms: [HS256]}]\nroutes: [{path: /, upstream: http://u, anonymous: true}]\n", []string{"HS256"}},
		{"bad expect", base + "routes: [{path: /, upstream: http://u, anonymous: true}]\ntests:\n  - name: t\n    request: {method: GET, path: /}\n    expect: maybe\n", []string{"line 7", "expect must be allow or deny"}},
		{"bad test", base + "routes: [{path: /, upstream: http://u, anonymous: true}]\ntests:\n  - name: t\n    request: {method: GET}\n    expect: allow\n", []string{"line 5: tests[0] (t)", "request.path is required"}},
		{"unnamed test", base + "routes: [{path: /, upstream: http://u, anonymous: true}]\ntests:\n  - request: {path: /}\n    expect: allow\n", []string{"line 5: tests[0]", "needs a name"}},
		{"bad duration", "listen: 127.0.0.1:0\ntimeouts: {read: soon}\nroutes: [{path: /, upstream: http://u, anonymous: true}]\n", []string{"line 2"}},
		{"duplicate route", base + "routes: [{path: /, upstream: http://u, anonymous: true, name: a}, {path: /x, upstream: http://u, anonymous: true, name: a}]\n", []string{"also the name"}},
		{"redis without url", base + "dpop: {replay: redis}\nroutes: [{path: /, upstream: http://u, anonymous: true}]\n", []string{"redis_url"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.yaml), "gw.yaml")
			var verr *ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("err = %v, want a *ValidationError", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if !strings.HasPrefix(err.Error(), "gw.yaml: ") {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "nope.yaml")); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	big := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(big, make([]byte, MaxFileSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(big); err == nil || !strings.Contains(err.Error(), "larger") {
		t.Fatalf("big file: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	data, err := os.ReadFile("testdata/contract.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte("listen: x\nroutes: [{path: /{a}, upstream: http://u}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse(data, "")
		if err != nil {
			var verr *ValidationError
			if !errors.As(err, &verr) || len(verr.Problems) == 0 {
				t.Fatalf("error %v is not a ValidationError with problems", err)
			}
			return
		}
		if file.Listen == "" || len(file.Routes) == 0 {
			t.Fatalf("accepted %q", data)
		}
	})
}

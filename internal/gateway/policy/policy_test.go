package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// jsonClaims decodes claims as a verifier does (numbers are float64).
func jsonClaims(t testing.TB, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("claims %s: %v", s, err)
	}
	return m
}

// yamlSpec decodes a Spec strictly, as the gateway does.
func yamlSpec(t testing.TB, s string) Spec {
	t.Helper()
	var spec Spec
	dec := yaml.NewDecoder(strings.NewReader(s))
	dec.KnownFields(true)
	if err := dec.Decode(&spec); err != nil {
		t.Fatalf("spec %s: %v", s, err)
	}
	return spec
}

func TestDecide(t *testing.T) {
	type call struct {
		claims  string // JSON; "" = no token
		req     Request
		act     []map[string]any
		allow   bool
		rule    string
		reason  string // substring of the reason
		comment string
	}
	get7 := Request{Method: "GET", Path: "/orders/7", Params: map[string]string{"id": "7"}}
	tests := []struct {
		name  string
		spec  string
		calls []call
	}{
		{
			name: "contract example",
			spec: `allow: '"orders:read" in claims.scope.split(" ") && request.params.id != "0"'`,
			calls: []call{
				{claims: `{"scope":"orders:read","sub":"alice"}`, req: get7, allow: true, rule: "allow"},
				{claims: `{"scope":"profile orders:read"}`, req: get7, allow: true, rule: "allow"},
				{claims: `{"scope":"orders:write"}`, req: get7, rule: "allow", reason: "is false"},
				{claims: `{"scope":"orders:read"}`, req: Request{Params: map[string]string{"id": "0"}}, rule: "allow", reason: "is false"},
				{claims: `{"sub":"alice"}`, req: get7, rule: "allow", reason: "no such key: scope", comment: "runtime error denies"},
				{claims: `{"scope":"orders:read"}`, req: Request{}, rule: "allow", reason: "no such key: id"},
				{claims: ``, req: get7, rule: "token", reason: "token is required"},
			},
		},
		{
			name: "cross-type numeric comparison",
			spec: `
allow: claims.department == "engineering" && claims.clearance >= route.classification
attributes: {classification: 3}`,
			calls: []call{
				{claims: `{"department":"engineering","clearance":3}`, allow: true, rule: "allow"},
				{claims: `{"department":"engineering","clearance":4.5}`, allow: true, rule: "allow"},
				{claims: `{"department":"engineering","clearance":2}`, rule: "allow"},
				{claims: `{"department":"sales","clearance":9}`, rule: "allow"},
			},
		},
		{
			name: "deny wins over allow",
			spec: `
allow: 'true'
deny: request.method == "DELETE" || claims.sub == "mallory"`,
			calls: []call{
				{claims: `{"sub":"alice"}`, req: Request{Method: "GET"}, allow: true, rule: "allow"},
				{claims: `{"sub":"alice"}`, req: Request{Method: "DELETE"}, rule: "deny", reason: "deny expression is true"},
				{claims: `{"sub":"mallory"}`, req: Request{Method: "GET"}, rule: "deny"},
				{claims: `{}`, req: Request{Method: "GET"}, rule: "deny", reason: "deny expression failed: no such key: sub", comment: "deny error fails closed"},
			},
		},
		{
			name: "deny wins over requirements",
			spec: `
scopes: {all: [a]}
deny: request.source.startsWith("10.")`,
			calls: []call{
				{claims: `{"scope":"a"}`, req: Request{Source: "192.0.2.1"}, allow: true, rule: "scopes"},
				{claims: `{"scope":"a"}`, req: Request{Source: "10.0.0.1"}, rule: "deny"},
			},
		},
		{
			name: "anonymous",
			spec: `anonymous: true`,
			calls: []call{
				{allow: true, rule: "anonymous"},
				{claims: `{"sub":"x"}`, allow: true, rule: "anonymous"},
			},
		},
		{
			name: "anonymous with deny",
			spec: `
anonymous: true
deny: request.path.startsWith("/public/admin") || has(claims.banned)`,
			calls: []call{
				{req: Request{Path: "/public/a"}, allow: true, rule: "anonymous"},
				{req: Request{Path: "/public/admin/x"}, rule: "deny"},
				{claims: `{"banned":true}`, req: Request{Path: "/public/a"}, rule: "deny"},
			},
		},
		{
			name: "no rule denies",
			spec: `attributes: {x: 1}`,
			calls: []call{
				{claims: `{"sub":"a","scope":"x"}`, rule: "default", reason: "no rule allows"},
			},
		},
		{
			name: "deny only denies the rest",
			spec: `deny: 'false'`,
			calls: []call{
				{claims: `{"sub":"a"}`, rule: "default"},
			},
		},
		{
			name: "scopes all and any",
			spec: `scopes: {all: [orders:read, orders:list], any: [eu, us]}`,
			calls: []call{
				{claims: `{"scope":"orders:read orders:list eu"}`, allow: true, rule: "scopes"},
				{claims: `{"scp":["orders:list","us","orders:read"]}`, allow: true, rule: "scopes"},
				{claims: `{"scp":"orders:list us orders:read"}`, allow: true, rule: "scopes"},
				{claims: `{"scope":"orders:read"}`, rule: "scopes", reason: "missing scope: orders:list"},
				{claims: `{"scope":"x"}`, rule: "scopes", reason: "missing scopes: orders:read orders:list"},
				{claims: `{"scope":"orders:read orders:list"}`, rule: "scopes", reason: "none of the scopes: eu us"},
				{claims: `{"scope":"orders:readx orders:list eu"}`, rule: "scopes", comment: "no prefix match"},
				{claims: `{"scope":["orders:read","orders:list","eu"]}`, rule: "scopes", comment: "as rs.Token: scope must be a string"},
				{claims: `{"scope":["x"],"scp":["orders:read","orders:list","eu"]}`, allow: true, rule: "scopes", comment: "scp when scope is no string, as rs.Token"},
				{claims: `{"scope":7}`, rule: "scopes"},
				{claims: `{"scope":"orders:read","scp":["orders:read","orders:list","eu"]}`, rule: "scopes", comment: "scp only without scope"},
			},
		},
		{
			name: "roles from a nested claim path",
			spec: `roles: {claim: realm_access.roles, any: [admin, auditor]}`,
			calls: []call{
				{claims: `{"realm_access":{"roles":["user","auditor"]}}`, allow: true, rule: "roles"},
				{claims: `{"realm_access":{"roles":"user admin"}}`, allow: true, rule: "roles"},
				{claims: `{"realm_access":{"roles":["user"]}}`, rule: "roles", reason: "none of the roles: admin auditor"},
				{claims: `{"realm_access":"admin"}`, rule: "roles"},
				{claims: `{"roles":["admin"]}`, rule: "roles"},
			},
		},
		{
			name: "roles under a claim name with dots",
			spec: `roles: {claim: "https://example.com/roles", all: [admin]}`,
			calls: []call{
				{claims: `{"https://example.com/roles":["admin"]}`, allow: true, rule: "roles"},
				{claims: `{"https://example.com/roles":[]}`, rule: "roles", reason: "missing role: admin"},
			},
		},
		{
			name: "groups default claim",
			spec: `groups: {all: [eng, oncall]}`,
			calls: []call{
				{claims: `{"groups":["eng","oncall"]}`, allow: true, rule: "groups"},
				{claims: `{"groups":["eng"]}`, rule: "groups", reason: "missing group: oncall"},
			},
		},
		{
			name: "claims predicates",
			spec: `
claims:
  - {path: email_verified, equals: true}
  - {path: address.country, in: [DE, FR]}
  - {path: amr, contains: mfa}
  - {path: level, ge: 2, lt: 5}
  - {path: suspended, exists: false}
  - {path: tenant, exists: true}`,
			calls: []call{
				{claims: `{"email_verified":true,"address":{"country":"DE"},"amr":["pwd","mfa"],"level":2,"tenant":"t"}`, allow: true, rule: "claims"},
				{claims: `{"email_verified":"true","address":{"country":"DE"},"amr":["mfa"],"level":2,"tenant":"t"}`, rule: "claims", reason: "claim email_verified does not equal true"},
				{claims: `{"email_verified":true,"address":{"country":"US"},"amr":["mfa"],"level":2,"tenant":"t"}`, rule: "claims", reason: "claim address.country is not one of"},
				{claims: `{"email_verified":true,"address":{"country":"FR"},"amr":"pwd mfa","level":4.5,"tenant":"t"}`, allow: true, rule: "claims"},
				{claims: `{"email_verified":true,"address":{"country":"FR"},"amr":"pwdmfa","level":4,"tenant":"t"}`, rule: "claims", reason: "does not contain \"mfa\""},
				{claims: `{"email_verified":true,"address":{"country":"FR"},"amr":["mfa"],"level":5,"tenant":"t"}`, rule: "claims", reason: "claim level is not less than 5"},
				{claims: `{"email_verified":true,"address":{"country":"FR"},"amr":["mfa"],"level":1,"tenant":"t"}`, rule: "claims", reason: "claim level is less than 2"},
				{claims: `{"email_verified":true,"address":{"country":"FR"},"amr":["mfa"],"level":"3","tenant":"t"}`, rule: "claims", reason: "claim level is not a number"},
				{claims: `{"email_verified":true,"address":{"country":"FR"},"amr":["mfa"],"level":3,"tenant":"t","suspended":false}`, rule: "claims", reason: "claim suspended must be absent"},
				{claims: `{"email_verified":true,"address":{"country":"FR"},"amr":["mfa"],"level":3}`, rule: "claims", reason: "claim tenant is missing"},
				{claims: `{"email_verified":true,"amr":["mfa"],"level":3,"tenant":"t"}`, rule: "claims", reason: "claim address.country is missing"},
			},
		},
		{
			name: "numeric equals and gt le",
			spec: `
claims:
  - {path: n, equals: 3}
  - {path: m, gt: 1, le: 10}`,
			calls: []call{
				{claims: `{"n":3.0,"m":10}`, allow: true, rule: "claims"},
				{claims: `{"n":3.5,"m":10}`, rule: "claims", reason: "claim n does not equal 3"},
				{claims: `{"n":3,"m":1}`, rule: "claims", reason: "claim m is not greater than 1"},
				{claims: `{"n":3,"m":10.5}`, rule: "claims", reason: "claim m is greater than 10"},
			},
		},
		{
			name: "all requirements and allow",
			spec: `
scopes: {all: [a]}
roles: {any: [r]}
groups: {any: [g]}
claims: [{path: sub, exists: true}]
allow: claims.sub != "bob"`,
			calls: []call{
				{claims: `{"scope":"a","roles":["r"],"groups":["g"],"sub":"alice"}`, allow: true, rule: "allow"},
				{claims: `{"scope":"a","roles":["r"],"groups":["g"],"sub":"bob"}`, rule: "allow"},
				{claims: `{"scope":"a","roles":["x"],"groups":["g"],"sub":"alice"}`, rule: "roles"},
				{claims: `{"scope":"a","roles":["r"],"groups":[],"sub":"alice"}`, rule: "groups"},
			},
		},
		{
			name: "requirements alone name every rule",
			spec: `
scopes: {all: [a]}
roles: {any: [r]}`,
			calls: []call{
				{claims: `{"scope":"a","roles":["r"]}`, allow: true, rule: "scopes+roles"},
			},
		},
		{
			name: "request fields",
			spec: `
allow: >-
  request.method == "POST" && request.host == "api.example.com" &&
  request.path.startsWith("/v1/") && request.query["tenant"] == ["acme"] &&
  "blue" in request.headers["x-color"] && request.source == "192.0.2.7"`,
			calls: []call{
				{claims: `{}`, allow: true, rule: "allow", req: Request{
					Method: "POST", Host: "api.example.com", Path: "/v1/x", Source: "192.0.2.7",
					Query:   map[string][]string{"tenant": {"acme"}},
					Headers: map[string][]string{"x-color": {"red", "blue"}},
				}},
				{claims: `{}`, rule: "allow", reason: "is false", req: Request{
					Method: "POST", Host: "api.example.com", Path: "/v1/x", Source: "192.0.2.7",
					Query:   map[string][]string{"tenant": {"acme", "evil"}},
					Headers: map[string][]string{"x-color": {"blue"}},
				}},
				{claims: `{}`, rule: "allow", reason: "no such key", req: Request{Method: "POST", Host: "api.example.com", Path: "/v1/x", Source: "192.0.2.7"}},
				{claims: `{}`, rule: "allow", reason: "is false", req: Request{Method: "GET"}, comment: "false absorbs errors"},
				{claims: `{}`, allow: true, rule: "allow", comment: "raw header and query, converted on use", req: Request{
					Method: "POST", Host: "api.example.com", Path: "/v1/x", Source: "192.0.2.7",
					RawQuery: "tenant=acme&x=%zz", Header: http.Header{"X-Color": {"red", "blue"}},
				}},
				{claims: `{}`, rule: "allow", reason: "is false", comment: "raw query with a second tenant", req: Request{
					Method: "POST", Host: "api.example.com", Path: "/v1/x", Source: "192.0.2.7",
					RawQuery: "tenant=acme&tenant=evil", Header: http.Header{"X-Color": {"blue"}},
				}},
				{claims: `{}`, allow: true, rule: "allow", comment: "the converted fields win over the raw ones", req: Request{
					Method: "POST", Host: "api.example.com", Path: "/v1/x", Source: "192.0.2.7",
					Query: map[string][]string{"tenant": {"acme"}}, RawQuery: "tenant=evil",
					Headers: map[string][]string{"x-color": {"blue"}}, Header: http.Header{"X-Color": {"red"}},
				}},
			},
		},
		{
			name: "credential headers are hidden",
			spec: `allow: '!has(request.headers.authorization) && !("cookie" in request.headers) && !("dpop" in request.headers) && request.headers["x-a"][0] == "1"'`,
			calls: []call{
				{claims: `{}`, allow: true, rule: "allow", req: Request{Headers: map[string][]string{
					"authorization": {"Bearer secret-token"}, "cookie": {"s=secret"}, "dpop": {"proof"}, "x-a": {"1"},
				}}},
			},
		},
		{
			name: "credential headers of a raw header are hidden",
			spec: `allow: '!has(request.headers.authorization) && !("cookie" in request.headers) && !("dpop" in request.headers) && !("proxy-authorization" in request.headers) && request.headers["x-a"] == ["1", "2"]'`,
			calls: []call{
				{claims: `{}`, allow: true, rule: "allow", req: Request{Header: http.Header{
					"Authorization": {"Bearer secret-token"}, "Cookie": {"s=secret"}, "Dpop": {"proof"},
					"Proxy-Authorization": {"Basic c2VjcmV0"}, "X-A": {"1"}, "x-a": {"2"},
				}}},
			},
		},
		{
			name: "credential headers of a raw header never reach a reason",
			spec: `allow: 'int(request.headers["authorization"][0]) > 0'`,
			calls: []call{
				{claims: `{}`, rule: "allow", reason: "no such key: authorization", req: Request{Header: http.Header{
					"Authorization": {"Bearer secret-token"},
				}}},
			},
		},
		{
			name: "credential headers never reach a reason",
			spec: `allow: 'int(request.headers["authorization"][0]) > 0'`,
			calls: []call{
				{claims: `{}`, rule: "allow", reason: "no such key: authorization", req: Request{Headers: map[string][]string{
					"authorization": {"Bearer secret-token"},
				}}},
			},
		},
		{
			name: "mcp",
			spec: `allow: 'has(request.mcp) && request.mcp.method == "tools/call" && request.mcp.tool in ["search", "fetch"]'`,
			calls: []call{
				{claims: `{}`, allow: true, rule: "allow", req: Request{MCP: &MCP{Method: "tools/call", Tool: "search"}}},
				{claims: `{}`, rule: "allow", req: Request{MCP: &MCP{Method: "tools/call", Tool: "exec"}}},
				{claims: `{}`, rule: "allow", req: Request{}},
			},
		},
		{
			name: "mcp absent reads as empty",
			spec: `allow: 'request.mcp.tool == "" && !has(request.mcp.method)'`,
			calls: []call{
				{claims: `{}`, allow: true, rule: "allow"},
				{claims: `{}`, allow: true, rule: "allow", req: Request{MCP: &MCP{Method: ""}}},
			},
		},
		{
			name: "act chain",
			spec: `allow: 'act.size() <= 2 && (act.size() == 0 || act[0].sub == "agent-1") && act.all(a, a.sub != "evil")'`,
			calls: []call{
				{claims: `{"sub":"alice"}`, allow: true, rule: "allow"},
				{claims: `{"sub":"alice","act":{"sub":"agent-1"}}`, allow: true, rule: "allow"},
				{claims: `{"sub":"alice","act":{"sub":"agent-1","act":{"sub":"planner"}}}`, allow: true, rule: "allow"},
				{claims: `{"sub":"alice","act":{"sub":"agent-1","act":{"sub":"evil"}}}`, rule: "allow"},
				{claims: `{"sub":"alice","act":{"sub":"agent-1","act":{"sub":"a","act":{"sub":"b"}}}}`, rule: "allow", comment: "depth 3"},
				{claims: `{"sub":"alice","act":{"sub":"agent-2"}}`, rule: "allow"},
				{claims: `{"sub":"alice","act":"agent-1"}`, rule: "allow", reason: "invalid act claim"},
				{claims: `{"sub":"alice"}`, act: []map[string]any{{"sub": "agent-1"}}, allow: true, rule: "allow", comment: "precomputed chain"},
			},
		},
		{
			name: "string extensions",
			spec: `allow: 'claims.email.lowerAscii().endsWith("@example.com") && claims.sub.substring(0, 2) == "u-" && "a,b".split(",").size() == 2'`,
			calls: []call{
				{claims: `{"email":"Ann@EXAMPLE.com","sub":"u-1"}`, allow: true, rule: "allow"},
				{claims: `{"email":"ann@evil.com","sub":"u-1"}`, rule: "allow"},
				{claims: `{"email":"ann@example.com","sub":"u"}`, rule: "allow", reason: "allow expression failed"},
			},
		},
		{
			name: "runtime cost limit",
			spec: `allow: 'claims.items.all(a, claims.items.all(b, a != b || a == b))'`,
			calls: []call{
				{claims: `{"items":[1,2,3]}`, allow: true, rule: "allow"},
				{claims: `{"items":` + bigList(2000) + `}`, rule: "allow", reason: "cost limit exceeded"},
			},
		},
		{
			name: "route attributes",
			spec: `
allow: 'claims.tenant in route.tenants && route.tier == "gold" && route.limits.rps > 10'
attributes:
  tenants: [acme, globex]
  tier: gold
  limits: {rps: 100}`,
			calls: []call{
				{claims: `{"tenant":"acme"}`, allow: true, rule: "allow"},
				{claims: `{"tenant":"initech"}`, rule: "allow"},
			},
		},
	}
	c, err := NewCompiler(WithCostLimit(10_000), WithMaxEstimatedCost(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := c.Compile(tt.name, yamlSpec(t, tt.spec))
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			for i, cl := range tt.calls {
				in := &Input{Request: cl.req, Act: cl.act}
				if cl.claims != "" {
					in.Claims = jsonClaims(t, cl.claims)
				}
				d := p.Decide(context.Background(), in)
				if d.Allow != cl.allow || d.Rule != cl.rule || !strings.Contains(d.Reason, cl.reason) {
					t.Errorf("call %d (%s) claims %s: got %+v, want allow=%v rule=%q reason~%q",
						i, cl.comment, cl.claims, d, cl.allow, cl.rule, cl.reason)
				}
				if strings.Contains(d.Reason, "secret") {
					t.Errorf("call %d: reason %q leaks a credential", i, d.Reason)
				}
			}
		})
	}
}

func bigList(n int) string {
	var b bytes.Buffer
	b.WriteByte('[')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("1")
	}
	b.WriteByte(']')
	return b.String()
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name string
		spec Spec
		want []string // substrings of the error
	}{
		{"syntax error", Spec{Allow: `claims.sub ==`}, []string{`route "r"`, "allow:", "line 1, column 14", "Syntax error"}},
		{"syntax error on line 2", Spec{Deny: "true &&\n  (claims.x"}, []string{"deny:", "line 2"}},
		{"not bool", Spec{Allow: `claims.sub`}, []string{"allow:", "must be of type bool, not dyn"}},
		{"string result", Spec{Allow: `"yes"`}, []string{"must be of type bool, not string"}},
		{"unknown variable", Spec{Allow: `user.name == "x"`}, []string{"allow:", "line 1, column 1", "undeclared reference to 'user'"}},
		{"unknown request field", Spec{Allow: `request.pth == "/"`}, []string{"line 1, column 8", "undefined field 'pth'"}},
		{"unknown mcp field", Spec{Allow: `request.mcp.tol == "x"`}, []string{"undefined field 'tol'"}},
		{"wrong type", Spec{Allow: `request.method == 1`}, []string{"no matching overload"}},
		{"unknown function", Spec{Allow: `claims.sub.frobnicate()`}, []string{"undeclared reference to 'frobnicate'"}},
		{"unknown route attribute", Spec{Allow: `route.clasification > 1`, Attributes: map[string]any{"classification": 1}}, []string{`no attribute "clasification"`, "classification"}},
		{"unknown route attribute by index", Spec{Deny: `route["x"] == 1`}, []string{`no attribute "x"`, "none"}},
		{"empty expression", Spec{Allow: "  "}, []string{"allow: empty expression"}},
		{"estimated cost", Spec{Allow: `claims.a.all(x, claims.b.all(y, claims.c.all(z, x == y && y == z)))`}, []string{"estimated worst-case cost", "exceeds the limit"}},
		{"too long", Spec{Allow: "true" + strings.Repeat(" && true", 2000)}, []string{"allow:", "size"}},
		{"anonymous with allow", Spec{Anonymous: true, Allow: "true"}, []string{"anonymous route cannot"}},
		{"anonymous with scopes", Spec{Anonymous: true, Scopes: &ScopeRule{All: []string{"a"}}}, []string{"anonymous route cannot"}},
		{"empty scopes", Spec{Scopes: &ScopeRule{}}, []string{"scopes: give all or any"}},
		{"scope with space", Spec{Scopes: &ScopeRule{All: []string{"a b"}}}, []string{`"a b" is not a valid value`}},
		{"empty roles", Spec{Roles: &ListRule{Claim: "r"}}, []string{"roles: give all or any"}},
		{"bad role path", Spec{Groups: &ListRule{Claim: "a..b", Any: []string{"x"}}}, []string{"groups:", "empty segment"}},
		{"claim without operator", Spec{Claims: []ClaimRule{{Path: "sub"}}}, []string{"claims[0]", "no operator"}},
		{"claim without path", Spec{Claims: []ClaimRule{{Equals: "x"}}}, []string{"claims[0]", "empty claim path"}},
		{"claim equals list", Spec{Claims: []ClaimRule{{Path: "a", Equals: []any{"x"}}}}, []string{"equals:", "is not a string, number or bool"}},
		{"claim in empty", Spec{Claims: []ClaimRule{{Path: "a", In: []any{}}}}, []string{"in: empty list"}},
		{"claim in map", Spec{Claims: []ClaimRule{{Path: "a", In: []any{map[string]any{}}}}}, []string{"in[0]"}},
		{"claim exists false and equals", Spec{Claims: []ClaimRule{{Path: "a", Exists: new(false), Equals: "x"}}}, []string{"cannot be combined"}},
		{"bad attributes", Spec{Allow: "true", Attributes: map[string]any{"c": make(chan int)}}, []string{"attributes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile("r", tt.spec)
			if err == nil {
				t.Fatal("Compile succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if !strings.HasPrefix(err.Error(), `policy: route "r": `) {
				t.Errorf("error %q does not name the route first", err)
			}
		})
	}
}

func TestCompilerOptions(t *testing.T) {
	for _, o := range []Option{WithCostLimit(0), WithMaxEstimatedCost(0), WithInputSizeBound(0), WithMaxExpressionLength(0)} {
		if _, err := NewCompiler(o); err == nil {
			t.Error("NewCompiler accepted a zero limit")
		}
	}
	// A tiny input bound lets a nested loop through the estimate; the
	// runtime limit still stops it.
	spec := Spec{Allow: `claims.a.all(x, claims.a.all(y, x == y))`}
	if _, err := Compile("r", spec); err == nil {
		t.Error("default estimate accepted a nested loop over 64 KiB lists")
	}
	if _, err := Compile("r", spec, WithInputSizeBound(10)); err != nil {
		t.Errorf("bounded estimate: %v", err)
	}
	if _, err := Compile("r", Spec{Allow: "true"}, WithMaxExpressionLength(3)); err == nil {
		t.Error("length limit not applied")
	}
}

func TestPolicyAccessors(t *testing.T) {
	p, err := Compile("orders", Spec{Scopes: &ScopeRule{All: []string{"a", "b"}, Any: []string{"c"}}})
	if err != nil {
		t.Fatal(err)
	}
	if p.Name() != "orders" || p.Anonymous() || strings.Join(p.Scopes(), " ") != "a b c" {
		t.Errorf("Name %q Anonymous %v Scopes %v", p.Name(), p.Anonymous(), p.Scopes())
	}
	q, err := Compile("pub", Spec{Anonymous: true})
	if err != nil {
		t.Fatal(err)
	}
	if !q.Anonymous() || q.Scopes() != nil {
		t.Errorf("Anonymous %v Scopes %v", q.Anonymous(), q.Scopes())
	}
}

func TestDecideEdgeCases(t *testing.T) {
	p, err := Compile("r", Spec{Allow: "true"})
	if err != nil {
		t.Fatal(err)
	}
	if d := p.Decide(context.Background(), nil); d.Allow || d.Rule != RuleToken {
		t.Errorf("nil input: %+v", d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if d := p.Decide(ctx, &Input{Claims: map[string]any{}}); d.Allow {
		t.Errorf("cancelled context allowed: %+v", d)
	}
	//nolint:staticcheck // a nil context is tolerated
	if d := p.Decide(nil, &Input{Claims: map[string]any{}}); !d.Allow {
		t.Errorf("nil context: %+v", d)
	}
}

func TestReasonIsBounded(t *testing.T) {
	long := strings.Repeat("é", 300)
	p, err := Compile("r", Spec{Allow: `claims["` + long + `"] == 1`})
	if err != nil {
		t.Fatal(err)
	}
	d := p.Decide(context.Background(), &Input{Claims: map[string]any{}})
	if d.Allow || len(d.Reason) > maxReason+len("…") || !strings.HasSuffix(d.Reason, "…") {
		t.Errorf("reason of %d bytes: %q", len(d.Reason), d.Reason)
	}
	if !utf8.ValidString(d.Reason) {
		t.Errorf("reason is not valid UTF-8")
	}
}

func TestActChain(t *testing.T) {
	deep := map[string]any{}
	cur := deep
	for range MaxActDepth + 1 {
		next := map[string]any{"sub": "x"}
		cur["act"] = next
		cur = next
	}
	exact := map[string]any{}
	cur = exact
	for range MaxActDepth {
		next := map[string]any{"sub": "x"}
		cur["act"] = next
		cur = next
	}
	tests := []struct {
		name    string
		claims  map[string]any
		subs    []string
		wantErr bool
	}{
		{"none", map[string]any{"sub": "u"}, nil, false},
		{"one", jsonClaims(t, `{"act":{"sub":"a"}}`), []string{"a"}, false},
		{"outermost first", jsonClaims(t, `{"act":{"sub":"current","act":{"sub":"prior","act":{"sub":"first"}}}}`), []string{"current", "prior", "first"}, false},
		{"not an object", jsonClaims(t, `{"act":"a"}`), nil, true},
		{"nested not an object", jsonClaims(t, `{"act":{"sub":"a","act":[1]}}`), nil, true},
		{"too deep", deep, nil, true},
		{"max depth", exact, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			chain, err := ActChain(tt.claims)
			if tt.wantErr {
				if !errors.Is(err, ErrActChain) {
					t.Fatalf("err = %v, want ErrActChain", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.name == "max depth" {
				if len(chain) != MaxActDepth {
					t.Fatalf("depth %d", len(chain))
				}
				return
			}
			var subs []string
			for _, a := range chain {
				subs = append(subs, a["sub"].(string))
			}
			if strings.Join(subs, ",") != strings.Join(tt.subs, ",") {
				t.Errorf("chain %v, want %v", subs, tt.subs)
			}
		})
	}
}

func TestHasField(t *testing.T) {
	tests := []struct {
		s, want string
		ok      bool
	}{
		{"a b c", "b", true},
		{"a b c", "c", true},
		{"  a\tb\n", "b", true},
		{"ab", "a", false},
		{"a", "", false},
		{"", "a", false},
		{"abc abd", "ab", false},
	}
	for _, tt := range tests {
		if got := hasField(tt.s, tt.want); got != tt.ok {
			t.Errorf("hasField(%q, %q) = %v", tt.s, tt.want, got)
		}
	}
}

// FuzzHasField checks hasField against splitting into fields.
func FuzzHasField(f *testing.F) {
	f.Add("a b c", "b")
	f.Add("aa a", "a")
	f.Add("xa\tb", "a")
	f.Fuzz(func(t *testing.T, s, want string) {
		fields := strings.FieldsFunc(s, func(r rune) bool { return r < utf8.RuneSelf && isSpace(byte(r)) })
		if got, exp := hasField(s, want), want != "" && slices.Contains(fields, want); got != exp {
			t.Fatalf("hasField(%q, %q) = %v, want %v", s, want, got, exp)
		}
	})
}

func TestConcurrentDecide(t *testing.T) {
	p, err := Compile("r", Spec{
		Allow: `"orders:read" in claims.scope.split(" ") && request.params.id != "0" && act.size() < 3`,
		Deny:  `request.method == "DELETE"`,
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan bool)
	for g := range 8 {
		go func() {
			ok := true
			for i := range 200 {
				allow := (g+i)%2 == 0
				scope := "orders:write"
				if allow {
					scope = "orders:read"
				}
				d := p.Decide(context.Background(), &Input{
					Claims:  map[string]any{"scope": scope, "act": map[string]any{"sub": "a"}},
					Request: Request{Method: "GET", Params: map[string]string{"id": "1"}},
				})
				ok = ok && d.Allow == allow
			}
			done <- ok
		}()
	}
	for range 8 {
		if !<-done {
			t.Error("a concurrent decision was wrong")
		}
	}
}

func TestCostTracking(t *testing.T) {
	tests := []struct {
		name    string
		expr    string
		limit   uint64
		tracked bool
	}{
		{"comparison", `claims.department == "engineering" && claims.clearance >= 3`, DefaultCostLimit, false},
		{"contract rule", `"orders:read" in claims.scope.split(" ") && request.params.id != "0"`, DefaultCostLimit, false},
		{"loop", `claims.roles.exists(r, r == "admin")`, DefaultCostLimit, true},
		{"loop over a literal", `[1, 2].all(x, x > 0)`, DefaultCostLimit, true},
		{"estimate above the runtime limit", `claims.s.split(" ").size() < 100`, 1000, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Compile("r", Spec{Allow: tt.expr}, WithCostLimit(tt.limit))
			if err != nil {
				t.Fatal(err)
			}
			if p.allow.tracked != tt.tracked {
				t.Errorf("tracked = %v, want %v", p.allow.tracked, tt.tracked)
			}
		})
	}
	// The runtime limit stops an expression without loops whose estimate
	// exceeded it.
	p, err := Compile("r", Spec{Allow: `claims.s.split(" ").size() < 100000`}, WithCostLimit(1000))
	if err != nil {
		t.Fatal(err)
	}
	small := p.Decide(context.Background(), &Input{Claims: map[string]any{"s": "a b c"}})
	big := p.Decide(context.Background(), &Input{Claims: map[string]any{"s": strings.Repeat("a ", 50_000)}})
	if !small.Allow || big.Allow || !strings.Contains(big.Reason, "cost limit exceeded") {
		t.Errorf("small %+v, big %+v", small, big)
	}
}

func TestSpecYAMLStrict(t *testing.T) {
	for _, bad := range []string{
		`alow: "true"`,
		`scopes: {al: [a]}`,
		`roles: {claim: r, some: [a]}`,
		`claims: [{path: a, equal: 1}]`,
		`claims: [{path: a, gt: high}]`,
		`anonymous: maybe`,
	} {
		var s Spec
		dec := yaml.NewDecoder(strings.NewReader(bad))
		dec.KnownFields(true)
		if err := dec.Decode(&s); err == nil {
			t.Errorf("%s: decoded", bad)
		}
	}
	s := yamlSpec(t, `
allow: 'true'
deny: 'false'
scopes: {all: [a], any: [b]}
roles: {claim: realm_access.roles, all: [r]}
groups: {any: [g]}
claims: [{path: n, equals: 1, in: [1, 2], contains: x, exists: true, gt: 0, ge: 1, lt: 3, le: 2}]
attributes: {k: v}
anonymous: false`)
	one, two, three, zero := 1.0, 2.0, 3.0, 0.0
	yes := true
	want := Spec{
		Allow: "true", Deny: "false",
		Scopes:     &ScopeRule{All: []string{"a"}, Any: []string{"b"}},
		Roles:      &ListRule{Claim: "realm_access.roles", All: []string{"r"}},
		Groups:     &ListRule{Any: []string{"g"}},
		Claims:     []ClaimRule{{Path: "n", Equals: 1, In: []any{1, 2}, Contains: "x", Exists: &yes, Gt: &zero, Ge: &one, Lt: &three, Le: &two}},
		Attributes: map[string]any{"k": "v"},
	}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("decoded\n%#v\nwant\n%#v", s, want)
	}
}

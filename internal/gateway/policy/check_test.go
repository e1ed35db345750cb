package policy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func decodeCases(t *testing.T, s string) []Case {
	t.Helper()
	var cases []Case
	dec := yaml.NewDecoder(strings.NewReader(s))
	dec.KnownFields(true)
	if err := dec.Decode(&cases); err != nil {
		t.Fatalf("cases: %v", err)
	}
	return cases
}

// fakeRouter stands in for the gateway's route matching: /orders/{id}
// with the contract's rule, /public/ anonymous.
func fakeRouter(t *testing.T) DecideFunc {
	t.Helper()
	orders, err := Compile("orders", Spec{Allow: `"orders:read" in claims.scope.split(" ") && request.params.id != "0"`})
	if err != nil {
		t.Fatal(err)
	}
	public, err := Compile("public", Spec{Anonymous: true})
	if err != nil {
		t.Fatal(err)
	}
	return func(ctx context.Context, c *Case) (Decision, error) {
		in, err := c.Input()
		if err != nil {
			return Decision{}, err
		}
		switch {
		case strings.HasPrefix(c.Request.Path, "/orders/"):
			in.Request.Params = map[string]string{"id": strings.TrimPrefix(c.Request.Path, "/orders/")}
			return orders.Decide(ctx, in), nil
		case strings.HasPrefix(c.Request.Path, "/public/"):
			return public.Decide(ctx, in), nil
		}
		return Decision{}, fmt.Errorf("no route matches %s %s", in.Request.Method, c.Request.Path)
	}
}

func TestRunCasesReport(t *testing.T) {
	cases := decodeCases(t, `
- name: reader may read
  request: {method: GET, path: /orders/7}
  claims: {scope: "orders:read", sub: alice}
  expect: allow
- name: order zero is refused
  request: {path: /orders/0}
  claims: {scope: "orders:read"}
  expect: deny
  rule: allow
- name: writer may read
  request: {method: GET, path: /orders/7}
  claims: {scope: "orders:write"}
  expect: allow
- name: wrong rule
  request: {path: /public/x}
  expect: allow
  rule: scopes
- name: no token
  request: {path: /orders/7}
  expect: deny
  rule: token
- name: nowhere
  request: {path: /nowhere}
  expect: deny
- name: reader may read
  request: {path: /orders/8}
  claims: {scope: "orders:read"}
  expect: allow
- name: ""
  request: {path: /orders/8}
  expect: allow
`)
	r := RunCases(context.Background(), cases, fakeRouter(t))
	var b bytes.Buffer
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	want := `PASS  reader may read: allow by rule allow (allow expression is true)
PASS  order zero is refused: deny by rule allow (allow expression is false)
FAIL  writer may read
      expected: allow
      got:      deny by rule allow (allow expression is false)
FAIL  wrong rule
      expected: allow by rule scopes
      got:      allow by rule anonymous (anonymous route)
PASS  no token: deny by rule token (a token is required)
ERROR nowhere
      no route matches GET /nowhere
ERROR reader may read
      case "reader may read": duplicate name
ERROR (unnamed case)
      a case needs a name
FAIL: 5/8 failed, 3 passed
`
	if got := b.String(); got != want {
		t.Errorf("report:\n%s\nwant:\n%s", got, want)
	}
	if r.OK() || r.Passed() != 3 || r.Failed() != 5 {
		t.Errorf("OK %v Passed %d Failed %d", r.OK(), r.Passed(), r.Failed())
	}
}

func TestRunCasesAllPass(t *testing.T) {
	// The contract example.
	cases := decodeCases(t, `
- name: reader may read
  request: {method: GET, path: /orders/7}
  claims: {scope: "orders:read", sub: alice}
  expect: allow
`)
	r := RunCases(context.Background(), cases, fakeRouter(t))
	var b bytes.Buffer
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	want := "PASS  reader may read: allow by rule allow (allow expression is true)\nPASS: 1/1\n"
	if b.String() != want || !r.OK() {
		t.Errorf("report %q, want %q", b.String(), want)
	}
	empty := RunCases(context.Background(), nil, fakeRouter(t))
	b.Reset()
	if err := empty.WriteText(&b); err != nil || b.String() != "PASS: 0/0\n" || !empty.OK() {
		t.Errorf("empty report %q %v", b.String(), err)
	}
}

func TestCaseValidate(t *testing.T) {
	tests := []struct {
		c    Case
		want string
	}{
		{Case{Name: "a", Request: CaseRequest{Path: "/x"}, Expect: ExpectAllow}, ""},
		{Case{Request: CaseRequest{Path: "/x"}, Expect: ExpectAllow}, "needs a name"},
		{Case{Name: "a", Expect: ExpectAllow}, "request.path is required"},
		{Case{Name: "a", Request: CaseRequest{Path: "x"}, Expect: ExpectAllow}, "must start with /"},
		{Case{Name: "a", Request: CaseRequest{Path: "/x"}}, "expect must be allow or deny"},
	}
	for _, tt := range tests {
		err := tt.c.Validate()
		if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%+v: err %v, want %q", tt.c, err, tt.want)
		}
	}
}

func TestCaseYAML(t *testing.T) {
	for _, bad := range []string{
		"- {name: a, request: {path: /}, expect: maybe}",
		"- {name: a, request: {path: /}, expect: allow, extra: 1}",
		"- {name: a, request: {path: /, headers: {x: {a: b}}}, expect: allow}",
	} {
		var cases []Case
		dec := yaml.NewDecoder(strings.NewReader(bad))
		dec.KnownFields(true)
		if err := dec.Decode(&cases); err == nil {
			t.Errorf("%s: decoded", bad)
		}
	}
	cases := decodeCases(t, `
- name: full
  request:
    path: /v1/x
    host: api.example.com
    source: 192.0.2.1
    headers: {X-Tenant: acme, Accept: [a, b]}
    query: {page: "2", tag: [x, y]}
    mcp: {method: tools/call, tool: search}
  claims: {sub: alice, n: 3, nested: {m: 1.5, l: [1, two]}}
  expect: deny
  rule: allow
`)
	in, err := cases[0].Input()
	if err != nil {
		t.Fatal(err)
	}
	want := &Input{
		Claims: map[string]any{"sub": "alice", "n": float64(3), "nested": map[string]any{"m": 1.5, "l": []any{float64(1), "two"}}},
		Request: Request{
			Method: "GET", Path: "/v1/x", Host: "api.example.com", Source: "192.0.2.1",
			Headers: map[string][]string{"x-tenant": {"acme"}, "accept": {"a", "b"}},
			Query:   map[string][]string{"page": {"2"}, "tag": {"x", "y"}},
			MCP:     &MCP{Method: "tools/call", Tool: "search"},
		},
	}
	if !reflect.DeepEqual(in, want) {
		t.Errorf("Input:\n%#v\nwant\n%#v", in, want)
	}
	if cases[0].Expect != ExpectDeny || cases[0].Rule != "allow" {
		t.Errorf("case %+v", cases[0])
	}
	noClaims := Case{Name: "x", Request: CaseRequest{Path: "/"}}
	if in, err := noClaims.Input(); err != nil || in.Claims != nil {
		t.Errorf("no claims: %v %v", in, err)
	}
	bad := Case{Name: "x", Claims: map[string]any{"c": make(chan int)}}
	if _, err := bad.Input(); err == nil {
		t.Error("claims that are not JSON accepted")
	}
}

func TestRunCasesDecideError(t *testing.T) {
	boom := errors.New("boom")
	cases := []Case{{Name: "a", Request: CaseRequest{Path: "/"}, Expect: ExpectDeny}}
	r := RunCases(context.Background(), cases, func(context.Context, *Case) (Decision, error) {
		return Decision{}, boom
	})
	if r.OK() || !errors.Is(r.Results[0].Err, boom) {
		t.Errorf("result %+v", r.Results[0])
	}
}

package policy_test

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/writ-dev/writ/internal/gateway/policy"
	"go.yaml.in/yaml/v3"
)

func Example() {
	// A route's rule, as in the gateway's route file.
	var spec policy.Spec
	dec := yaml.NewDecoder(strings.NewReader(`
allow: claims.department == "engineering" && claims.clearance >= route.classification
deny: request.method == "DELETE"
attributes: {classification: 3}
`))
	dec.KnownFields(true)
	if err := dec.Decode(&spec); err != nil {
		fmt.Println(err)
		return
	}
	p, err := policy.Compile("reports", spec)
	if err != nil {
		fmt.Println(err)
		return
	}
	claims := map[string]any{"sub": "alice", "department": "engineering", "clearance": 4.0}
	for _, method := range []string{"GET", "DELETE"} {
		d := p.Decide(context.Background(), &policy.Input{
			Claims:  claims,
			Request: policy.Request{Method: method, Path: "/reports/1"},
		})
		fmt.Printf("%s: allow=%v rule=%s (%s)\n", method, d.Allow, d.Rule, d.Reason)
	}
	// Output:
	// GET: allow=true rule=allow (allow expression is true)
	// DELETE: allow=false rule=deny (deny expression is true)
}

func ExampleCompile_error() {
	_, err := policy.Compile("orders", policy.Spec{Allow: `request.pth == "/"`})
	fmt.Println(err)
	// Output:
	// policy: route "orders": allow: line 1, column 8: undefined field 'pth'
}

func ExampleRunCases() {
	p, err := policy.Compile("orders", policy.Spec{
		Allow: `"orders:read" in claims.scope.split(" ") && request.params.id != "0"`,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	var cases []policy.Case
	if err := yaml.Unmarshal([]byte(`
- name: reader may read
  request: {method: GET, path: /orders/7}
  claims: {scope: "orders:read", sub: alice}
  expect: allow
- name: writer may read
  request: {method: GET, path: /orders/7}
  claims: {scope: "orders:write", sub: bob}
  expect: allow
`), &cases); err != nil {
		fmt.Println(err)
		return
	}
	// The gateway matches the route; here every case is /orders/{id}.
	decide := func(ctx context.Context, c *policy.Case) (policy.Decision, error) {
		in, err := c.Input()
		if err != nil {
			return policy.Decision{}, err
		}
		in.Request.Params = map[string]string{"id": strings.TrimPrefix(c.Request.Path, "/orders/")}
		return p.Decide(ctx, in), nil
	}
	report := policy.RunCases(context.Background(), cases, decide)
	_ = report.WriteText(os.Stdout)
	fmt.Println("ok:", report.OK())
	// Output:
	// PASS  reader may read: allow by rule allow (allow expression is true)
	// FAIL  writer may read
	//       expected: allow
	//       got:      deny by rule allow (allow expression is false)
	// FAIL: 1/2 failed, 1 passed
	// ok: false
}

func ExampleActChain() {
	claims := map[string]any{
		"sub": "alice",
		"act": map[string]any{"sub": "agent", "act": map[string]any{"sub": "planner"}},
	}
	chain, err := policy.ActChain(claims)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, a := range chain {
		fmt.Println(a["sub"])
	}
	// Output:
	// agent
	// planner
}

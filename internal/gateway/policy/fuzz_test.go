package policy

import (
	"context"
	"testing"
)

// FuzzCompile compiles arbitrary expressions as allow and deny rules: it
// must never panic, and whatever compiles must decide (cost-bounded)
// without panicking.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{
		`"orders:read" in claims.scope.split(" ") && request.params.id != "0"`,
		`claims.department == "engineering" && claims.clearance >= route.classification`,
		`act.size() < 2 && act.all(a, a.sub != "x")`,
		`request.mcp.tool in ["a", "b"] && has(request.mcp)`,
		`request.headers["x"][0].matches("^a+$")`,
		`claims.l.map(x, claims.l.map(y, x + y)).size() > 0`,
		`[1,2,3].all(x, [1,2,3].all(y, [1,2,3].exists(z, x+y+z > 100)))`,
		`"a".repeat(100)`,
		`((((((((((true))))))))))`,
		`claims.s.replace("", claims.s).size() > 1`,
		`route.tier == 1`,
		`claims.`,
		`1/0 == 1`,
		"\x00",
	} {
		f.Add(s)
	}
	c, err := NewCompiler(WithCostLimit(20_000), WithMaxEstimatedCost(1_000_000), WithInputSizeBound(1024))
	if err != nil {
		f.Fatal(err)
	}
	in := &Input{
		Claims: map[string]any{
			"scope": "a b orders:read", "department": "engineering", "clearance": 3.0,
			"l": []any{1.0, 2.0, 3.0, 4.0}, "s": "abcdefgh", "sub": "alice",
			"act": map[string]any{"sub": "agent"},
		},
		Request: Request{
			Method: "GET", Path: "/orders/7", Params: map[string]string{"id": "7"},
			Headers: map[string][]string{"x": {"aaa"}}, MCP: &MCP{Method: "tools/call", Tool: "a"},
		},
	}
	f.Fuzz(func(t *testing.T, expr string) {
		for _, s := range []Spec{
			{Allow: expr, Attributes: map[string]any{"tier": 1, "classification": 2}},
			{Deny: expr, Scopes: &ScopeRule{Any: []string{"a"}}},
		} {
			p, err := c.Compile("fuzz", s)
			if err != nil {
				if p != nil {
					t.Fatal("policy and error")
				}
				continue
			}
			d := p.Decide(context.Background(), in)
			if d.Rule == "" || len(d.Reason) > maxReason+len("…") {
				t.Fatalf("decision %+v", d)
			}
		}
	})
}

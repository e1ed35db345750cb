package policy

import (
	"context"
	"testing"

	"github.com/writ-dev/writ/internal/cputime"
)

func benchDecide(b *testing.B, s Spec, in *Input) {
	b.Helper()
	p, err := Compile("bench", s)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if d := p.Decide(ctx, in); !d.Allow {
		b.Fatalf("benchmark input denied: %+v", d)
	}
	b.ReportAllocs()
	cpu := cputime.Start()
	n := 0
	for b.Loop() {
		p.Decide(ctx, in)
		n++
	}
	cpu.Report(b, n)
}

func benchInput() *Input {
	return &Input{
		Claims: map[string]any{
			"iss": "https://issuer.example", "sub": "alice", "aud": "https://api.example.com",
			"exp": float64(1893456000), "iat": float64(1893452400), "client_id": "web",
			"scope": "openid profile orders:read orders:write", "department": "engineering",
			"clearance": float64(4), "roles": []any{"user", "admin"},
		},
		Request: Request{
			Method: "GET", Path: "/orders/7", Host: "api.example.com", Source: "192.0.2.7",
			Params:  map[string]string{"id": "7"},
			Headers: map[string][]string{"accept": {"application/json"}},
		},
	}
}

// BenchmarkDecideContract is the contract rule.
func BenchmarkDecideContract(b *testing.B) {
	benchDecide(b, Spec{Allow: `"orders:read" in claims.scope.split(" ") && request.params.id != "0"`}, benchInput())
}

// BenchmarkDecideTypical is a typical attribute rule.
func BenchmarkDecideTypical(b *testing.B) {
	benchDecide(b, Spec{
		Allow:      `claims.department == "engineering" && claims.clearance >= route.classification`,
		Attributes: map[string]any{"classification": 3},
	}, benchInput())
}

// BenchmarkDecideAllowDeny has both a deny and an allow expression.
func BenchmarkDecideAllowDeny(b *testing.B) {
	benchDecide(b, Spec{
		Allow: `claims.department == "engineering" && request.method in ["GET", "HEAD"]`,
		Deny:  `claims.sub == "mallory" || request.source.startsWith("10.")`,
	}, benchInput())
}

// BenchmarkDecideScopes is the non-CEL scope rule.
func BenchmarkDecideScopes(b *testing.B) {
	benchDecide(b, Spec{Scopes: &ScopeRule{All: []string{"orders:read"}, Any: []string{"admin", "orders:write"}}}, benchInput())
}

// BenchmarkDecideRequirements is scopes, roles and a claim predicate.
func BenchmarkDecideRequirements(b *testing.B) {
	benchDecide(b, Spec{
		Scopes: &ScopeRule{All: []string{"orders:read"}},
		Roles:  &ListRule{Any: []string{"admin"}},
		Claims: []ClaimRule{{Path: "clearance", Ge: new(3.0)}},
	}, benchInput())
}

// BenchmarkDecideAnonymous is the cheapest route.
func BenchmarkDecideAnonymous(b *testing.B) {
	benchDecide(b, Spec{Anonymous: true}, benchInput())
}

// BenchmarkDecideLoop is a rule with a loop, evaluated under cel.CostLimit.
func BenchmarkDecideLoop(b *testing.B) {
	benchDecide(b, Spec{Allow: `claims.roles.exists(r, r == "admin")`}, benchInput())
}

package gateway

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/writ-dev/writ/internal/gateway/config"
)

// The policy types below mirror internal/gateway/policy (CONTRACT.md)
// until that package lands; they then become aliases of its types and
// interimCompile gives way to policy.Compile.

// Input is what a rule decides on.
type Input struct {
	// Claims are the verified token's claims.
	Claims map[string]any
	// Request describes the HTTP request.
	Request Request
	// Act is the delegation chain, outermost actor first.
	Act []map[string]any
}

// Request is the request as rules see it.
type Request struct {
	// Method, Path (normalised), Host (without port) and Source (the
	// client's IP address) of the request.
	Method, Path, Host, Source string
	// Params are the route template's parameters.
	Params map[string]string
	// Query holds the query parameters.
	Query map[string][]string
	// Headers holds the headers, names in lower case.
	Headers map[string][]string
	// MCP is the JSON-RPC method and tool of an MCP request.
	MCP *MCP
}

// MCP is the JSON-RPC part of an MCP request.
type MCP struct {
	// Method is the JSON-RPC method; Tool is params.name of tools/call.
	Method, Tool string
}

// Decision is a rule's answer.
type Decision struct {
	// Allow is the outcome.
	Allow bool
	// Rule names the rule that decided; Reason says why.
	Rule, Reason string
}

// Decider decides requests for one route.
type Decider interface {
	// Decide returns the decision for in.
	Decide(ctx context.Context, in *Input) Decision
}

// PolicyCompiler compiles a route's rule at load time.
type PolicyCompiler func(name string, spec config.PolicySpec) (Decider, error)

// errNeedsPolicy is returned by the interim compiler for rules it cannot
// evaluate.
var errNeedsPolicy = errors.New("CEL, roles, groups and claims rules need internal/gateway/policy")

// interimCompile understands allow/deny 'true'/'false' and scopes only.
func interimCompile(name string, s config.PolicySpec) (Decider, error) {
	for _, e := range []string{s.Allow, s.Deny} {
		if e != "" && e != "true" && e != "false" {
			return nil, fmt.Errorf("route %s: %w", name, errNeedsPolicy)
		}
	}
	if s.Roles != nil || s.Groups != nil || len(s.Claims) > 0 {
		return nil, fmt.Errorf("route %s: %w", name, errNeedsPolicy)
	}
	return interimPolicy(s), nil
}

type interimPolicy config.PolicySpec

func (p interimPolicy) Decide(_ context.Context, in *Input) Decision {
	if p.Deny == "true" {
		return Decision{Rule: "deny", Reason: "deny is true"}
	}
	if sc := p.Scopes; sc != nil {
		have := scopesOf(in.Claims)
		for _, s := range sc.All {
			if !slices.Contains(have, s) {
				return Decision{Rule: "scopes", Reason: "missing scope " + s}
			}
		}
		if len(sc.Any) > 0 && !slices.ContainsFunc(sc.Any, func(s string) bool { return slices.Contains(have, s) }) {
			return Decision{Rule: "scopes", Reason: "none of the scopes"}
		}
		if p.Allow == "" {
			return Decision{Allow: true, Rule: "scopes"}
		}
	}
	if p.Allow == "true" || p.Anonymous {
		return Decision{Allow: true, Rule: "allow"}
	}
	return Decision{Rule: "default", Reason: "no rule allows"}
}

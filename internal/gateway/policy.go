package gateway

import (
	"context"

	"github.com/writ-dev/writ/internal/gateway/config"
	"github.com/writ-dev/writ/internal/gateway/policy"
)

// The decision types are those of internal/gateway/policy.
type (
	// Input is what a rule decides on.
	Input = policy.Input
	// Request is the request as rules see it.
	Request = policy.Request
	// MCP is the JSON-RPC call of an MCP request.
	MCP = policy.MCP
	// Decision is a rule's answer.
	Decision = policy.Decision
)

// Decider decides requests for one route (a *policy.Policy).
type Decider interface {
	// Decide returns the decision for in.
	Decide(ctx context.Context, in *Input) Decision
}

// PolicyCompiler compiles a route's rule at load time.
type PolicyCompiler func(name string, spec config.PolicySpec) (Decider, error)

// CompilerFor returns a PolicyCompiler that compiles every route with c
// (one CEL environment for them all).
func CompilerFor(c *policy.Compiler) PolicyCompiler {
	return func(name string, spec config.PolicySpec) (Decider, error) {
		p, err := c.Compile(name, spec)
		if err != nil {
			return nil, err
		}
		return p, nil
	}
}

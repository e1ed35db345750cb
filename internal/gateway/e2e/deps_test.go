package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/writ-dev/writ/internal/gateway"
	"github.com/writ-dev/writ/internal/gateway/config"
	"github.com/writ-dev/writ/internal/gateway/policy"
	"github.com/writ-dev/writ/rs"
	"github.com/writ-dev/writ/rs/dpop"
)

// countingTransport counts the gateway's requests for JWK Sets.
type countingTransport struct {
	jwks atomic.Int64
	base http.RoundTripper
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.Contains(r.URL.Path, "jwks") {
		c.jwks.Add(1)
	}
	return c.base.RoundTrip(r)
}

// gatewayDeps wires the gateway as `writ gateway` does (cmd/writ, package
// main, cannot be imported): the verifier and the introspection client of
// package gateway, with the test's clock and a transport that counts JWKS
// fetches in the verifier so that the tests can move the clock. The DPoP
// checker and the rule compiler are wired here until cmd/writ wires them
// (rs/dpop and internal/gateway/policy).
func gatewayDeps(now func() time.Time, tr *countingTransport) gateway.Deps {
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	return gateway.Deps{
		Now:           now,
		CompilePolicy: compilePolicy,
		NewVerifier: func(ctx context.Context, issuers []config.Issuer) (rs.TokenVerifier, error) {
			return gateway.NewVerifier(ctx, issuers, rs.WithClock(now), rs.WithHTTPClient(hc))
		},
		NewDPoP: func(_ context.Context, c config.DPoP) (rs.DPoPChecker, error) {
			return dpop.NewVerifier(dpop.Config{MaxAge: c.MaxAge, Now: now, Replay: dpop.NewMemoryReplayCache(1000, now)})
		},
		NewIntrospector: func(ctx context.Context, c config.Introspection) (gateway.Introspector, error) {
			return gateway.NewIntrospector(ctx, c)
		},
	}
}

// compilePolicy compiles a route's rule with internal/gateway/policy.
func compilePolicy(name string, s config.PolicySpec) (gateway.Decider, error) {
	ps := policy.Spec{Allow: s.Allow, Deny: s.Deny, Attributes: s.Attributes, Anonymous: s.Anonymous}
	if s.Scopes != nil {
		ps.Scopes = &policy.ScopeRule{All: s.Scopes.All, Any: s.Scopes.Any}
	}
	if s.Roles != nil {
		ps.Roles = &policy.ListRule{Claim: s.Roles.Claim, All: s.Roles.All, Any: s.Roles.Any}
	}
	if s.Groups != nil {
		ps.Groups = &policy.ListRule{Claim: s.Groups.Claim, All: s.Groups.All, Any: s.Groups.Any}
	}
	for _, c := range s.Claims {
		ps.Claims = append(ps.Claims, policy.ClaimRule(c))
	}
	p, err := policy.Compile(name, ps)
	if err != nil {
		return nil, fmt.Errorf("route %s: %w", name, err)
	}
	return decider{p}, nil
}

type decider struct{ p *policy.Policy }

func (d decider) Decide(ctx context.Context, in *gateway.Input) gateway.Decision {
	r := in.Request
	pin := &policy.Input{Claims: in.Claims, Act: in.Act, Request: policy.Request{
		Method: r.Method, Path: r.Path, Host: r.Host, Source: r.Source,
		Params: r.Params, Query: r.Query, Headers: r.Headers,
	}}
	if r.MCP != nil {
		pin.Request.MCP = &policy.MCP{Method: r.MCP.Method, Tool: r.MCP.Tool}
	}
	dec := d.p.Decide(ctx, pin)
	return gateway.Decision{Allow: dec.Allow, Rule: dec.Rule, Reason: dec.Reason}
}

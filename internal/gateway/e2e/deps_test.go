package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/writ-dev/writ/internal/gateway"
	"github.com/writ-dev/writ/internal/gateway/config"
	"github.com/writ-dev/writ/internal/gateway/policy"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/rs"
	"github.com/writ-dev/writ/rs/dpop"
	"github.com/writ-dev/writ/rs/introspect"
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

// gatewayDeps wires the gateway to the relying-party packages (rs, rs/dpop,
// rs/introspect, policy) as `writ gateway` does, with the test's clock in
// every part that reads the time, so that the tests can move it.
//
// It mirrors the wiring of cmd/writ (which lives in package main and
// cannot be imported); the two differ only in the clock and the counting
// transport.
func gatewayDeps(now func() time.Time, tr *countingTransport) gateway.Deps {
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	return gateway.Deps{
		Now:           now,
		CompilePolicy: compilePolicy,
		NewVerifier: func(ctx context.Context, issuers []config.Issuer) (rs.TokenVerifier, error) {
			cfgs := make([]rs.IssuerConfig, 0, len(issuers))
			for _, i := range issuers {
				c := rs.IssuerConfig{Issuer: i.Issuer, JWKSURI: i.JWKSURI, Audiences: i.Audiences, Types: i.Types, ClaimMapping: i.ClaimMapping, Leeway: i.Leeway}
				for _, a := range i.Algorithms {
					c.Algorithms = append(c.Algorithms, jose.Algorithm(a))
				}
				if i.JWKSFile != "" {
					b, err := os.ReadFile(i.JWKSFile)
					if err != nil {
						return nil, err
					}
					if c.Keys, err = jose.ParseKeySet(b); err != nil {
						return nil, err
					}
				}
				cfgs = append(cfgs, c)
			}
			return rs.NewVerifier(context.WithoutCancel(ctx), cfgs, rs.WithClock(now), rs.WithHTTPClient(hc))
		},
		NewDPoP: func(_ context.Context, c config.DPoP) (rs.DPoPChecker, error) {
			return dpop.NewVerifier(dpop.Config{MaxAge: c.MaxAge, Now: now, Replay: dpop.NewMemoryReplayCache(1000, now)})
		},
		NewIntrospector: func(ctx context.Context, c config.Introspection) (gateway.Introspector, error) {
			secret, err := os.ReadFile(c.ClientSecretFile)
			if err != nil {
				return nil, err
			}
			return introspect.New(introspect.Config{
				Endpoint: c.Endpoint, ClientID: c.ClientID, ClientSecret: strings.TrimSpace(string(secret)),
				HTTPClient: hc, JWTResponse: c.JWTResponse, Issuer: c.Issuer,
				ResponseKeys: rs.NewRemoteKeySet(context.WithoutCancel(ctx), c.JWKSURI, rs.WithClock(now), rs.WithHTTPClient(hc)),
				CacheSize:    c.CacheSize, CacheTTL: c.CacheTTL, Now: now,
			})
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
		Method: r.Method, Path: r.Path, Host: r.Host, Source: r.RemoteAddr,
		Params: r.Params, Query: r.Query, Headers: r.Headers,
	}}
	if r.MCP != nil {
		pin.Request.MCP = &policy.MCP{Method: r.MCP.Method, Tool: r.MCP.Tool}
	}
	dec := d.p.Decide(ctx, pin)
	return gateway.Decision{Allow: dec.Allow, Rule: dec.Rule, Reason: dec.Reason}
}

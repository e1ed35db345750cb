package gateway

import (
	"context"
	"fmt"
	"net/http"
	"slices"

	"github.com/writ-dev/writ/internal/gateway/config"
	"github.com/writ-dev/writ/internal/gateway/policy"
	"github.com/writ-dev/writ/internal/gateway/route"
	"github.com/writ-dev/writ/rs"
)

// offline answers every verification with ErrUnavailable: `check` never
// reaches the network.
type offline struct{}

// Verify implements rs.TokenVerifier.
func (offline) Verify(context.Context, string) (*rs.Token, error) { return nil, rs.ErrUnavailable }

// Phantom implements Introspector.
func (offline) Phantom(context.Context, string) (string, *rs.Token, error) {
	return "", nil, rs.ErrUnavailable
}

// CompileOffline compiles f as serving would (routes, rules, headers) but
// with no verifier, introspection client or DPoP checker: what `writ
// gateway check` needs. compile is the rule compiler (nil for the default).
func CompileOffline(ctx context.Context, f *config.File, compile PolicyCompiler) (*Gateway, error) {
	return New(ctx, f, Deps{
		NewVerifier:     func(context.Context, []config.Issuer) (rs.TokenVerifier, error) { return offline{}, nil },
		NewIntrospector: func(context.Context, config.Introspection) (Introspector, error) { return offline{}, nil },
		CompilePolicy:   compile,
		Transport:       offlineTransport{},
	})
}

type offlineTransport struct{}

// RoundTrip implements http.RoundTripper: it never sends anything.
func (offlineTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, fmt.Errorf("gateway check does not reach upstreams")
}

// RunTests decides every test case of the configuration (policy.RunCases)
// through the same normalisation, route matching, issuer, audience and
// scope checks and rules as serving. A request no route takes is denied
// (404), as it is when serving.
func (g *Gateway) RunTests(ctx context.Context) *policy.Report {
	st := g.state.Load()
	return policy.RunCases(ctx, st.file.Tests, st.decideCase)
}

func (st *state) decideCase(ctx context.Context, c *policy.Case) (Decision, error) {
	in, err := c.Input()
	if err != nil {
		return Decision{}, err
	}
	p, err := route.Normalize(c.Request.Path)
	if err != nil {
		return Decision{Rule: "path", Reason: "refused with 400: " + err.Error()}, nil
	}
	host := c.Request.Host
	if host == "" {
		host = "gateway.test"
	}
	res := st.router.Match(host, in.Request.Method, p)
	if res.Entry == nil {
		if res.MethodNotAllowed {
			return Decision{Rule: "route", Reason: "no route for the method (405)"}, nil
		}
		return Decision{Rule: "route", Reason: "no route (404)"}, nil
	}
	rt := res.Entry.Value
	in.Request.Path, in.Request.Params, in.Request.Host = p, res.Params, hostOnly(host)
	if rt.mcp != nil && in.Request.MCP == nil {
		in.Request.MCP = &MCP{}
	}
	if rt.anonymous {
		in.Claims = nil
		if rt.decider != nil {
			if d := rt.decider.Decide(ctx, in); !d.Allow {
				return d, nil
			}
		}
		return Decision{Allow: true, Rule: policy.RuleAnonymous, Reason: "anonymous route " + rt.name}, nil
	}
	if in.Claims == nil {
		return Decision{Rule: policy.RuleToken, Reason: "no token (401)"}, nil
	}
	if iss, ok := in.Claims["iss"].(string); ok && rt.issuers != nil && !rt.issuers[iss] {
		return Decision{Rule: "issuer", Reason: "the token's issuer is not accepted on route " + rt.name + " (401)"}, nil
	}
	if aud, ok := in.Claims["aud"]; ok && len(rt.audiences) > 0 {
		var auds []string
		switch a := aud.(type) {
		case string:
			auds = []string{a}
		case []any:
			auds = strs(a)
		}
		if !slices.ContainsFunc(auds, func(a string) bool { return slices.Contains(rt.audiences, a) }) {
			return Decision{Rule: "audience", Reason: "the token is not meant for route " + rt.name + " (401)"}, nil
		}
	}
	in.Act = actChain(in.Claims)
	var d decision
	o, ok := st.authorize(ctx, rt, in, &d)
	if !ok {
		return Decision{Rule: d.rule, Reason: o.reason}, nil
	}
	return Decision{Allow: true, Rule: d.rule, Reason: d.reason}, nil
}

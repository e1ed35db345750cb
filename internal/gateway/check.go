package gateway

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/writ-dev/writ/internal/gateway/config"
	"github.com/writ-dev/writ/internal/gateway/route"
	"github.com/writ-dev/writ/rs"
)

// CheckResult is the outcome of one policy test case.
type CheckResult struct {
	// Test is the case.
	Test config.Test
	// Route is the route the request matched ("" for none).
	Route string
	// Decision is what the gateway decided.
	Decision Decision
	// Pass tells whether the decision (and the rule, when the case names
	// one) is the expected one.
	Pass bool
}

// offline answers every verification with ErrUnavailable: `check` never
// reaches the network.
type offline struct{}

func (offline) Verify(context.Context, string) (*rs.Token, error) { return nil, rs.ErrUnavailable }
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

func (offlineTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, fmt.Errorf("gateway check does not reach upstreams")
}

// RunTests decides every test case of the configuration through the same
// normalisation, route matching, issuer and audience checks, scope checks
// and rules as serving.
func (g *Gateway) RunTests(ctx context.Context) []CheckResult {
	st := g.state.Load()
	out := make([]CheckResult, 0, len(st.file.Tests))
	for _, tc := range st.file.Tests {
		r := CheckResult{Test: tc}
		r.Route, r.Decision = st.decideTest(ctx, tc)
		r.Pass = r.Decision.Allow == (tc.Expect == "allow") && (tc.Rule == "" || tc.Rule == r.Decision.Rule)
		out = append(out, r)
	}
	return out
}

func (st *state) decideTest(ctx context.Context, tc config.Test) (string, Decision) {
	req := tc.Request
	p, err := route.Normalize(req.Path)
	if err != nil {
		return "", Decision{Rule: "path", Reason: err.Error()}
	}
	host := req.Host
	if host == "" {
		host = "gateway.test"
	}
	res := st.router.Match(host, req.Method, p)
	if res.Entry == nil {
		if res.MethodNotAllowed {
			return "", Decision{Rule: "route", Reason: "no route for the method (405)"}
		}
		return "", Decision{Rule: "route", Reason: "no route (404)"}
	}
	rt := res.Entry.Value
	if rt.anonymous {
		if rt.decider != nil {
			headers := map[string][]string{}
			for k, v := range req.Headers {
				headers[strings.ToLower(k)] = []string{v}
			}
			in := &Input{Request: Request{Method: req.Method, Path: p, Host: hostOnly(host), Source: req.Source, Params: res.Params, Query: req.Query, Headers: headers}}
			if dec := rt.decider.Decide(ctx, in); !dec.Allow {
				return rt.name, dec
			}
		}
		return rt.name, Decision{Allow: true, Rule: "anonymous", Reason: "anonymous route"}
	}
	if tc.Claims == nil {
		return rt.name, Decision{Rule: "token", Reason: "no token (401)"}
	}
	if iss, ok := tc.Claims["iss"].(string); ok && rt.issuers != nil && !rt.issuers[iss] {
		return rt.name, Decision{Rule: "issuer", Reason: "the token's issuer is not accepted here (401)"}
	}
	if aud, ok := tc.Claims["aud"]; ok && len(rt.audiences) > 0 {
		var auds []string
		switch a := aud.(type) {
		case string:
			auds = []string{a}
		case []any:
			auds = strs(a)
		}
		if !slices.ContainsFunc(auds, func(a string) bool { return slices.Contains(rt.audiences, a) }) {
			return rt.name, Decision{Rule: "audience", Reason: "the token is not meant for this resource (401)"}
		}
	}
	headers := map[string][]string{}
	for k, v := range req.Headers {
		headers[strings.ToLower(k)] = []string{v}
	}
	query := url.Values{}
	for k, v := range req.Query {
		query[k] = v
	}
	in := &Input{
		Claims: tc.Claims,
		Act:    actChain(tc.Claims),
		Request: Request{
			Method: req.Method, Path: p, Host: hostOnly(host), Source: req.Source,
			Params: res.Params, Query: query, Headers: headers,
		},
	}
	if rt.mcp != nil {
		in.Request.MCP = &MCP{}
		if req.MCP != nil {
			in.Request.MCP = &MCP{Method: req.MCP.Method, Tool: req.MCP.Tool}
		}
	}
	var d decision
	o, ok := st.authorize(ctx, rt, in, &d)
	if !ok {
		return rt.name, Decision{Rule: d.rule, Reason: o.reason}
	}
	return rt.name, Decision{Allow: true, Rule: d.rule, Reason: d.reason}
}

// WriteReport prints one line per case and, for each failure, what was
// expected and what was decided; it returns the number of failures.
func WriteReport(w io.Writer, results []CheckResult) int {
	failed := 0
	for _, r := range results {
		name := r.Test.Name
		if name == "" {
			name = fmt.Sprintf("%s %s", r.Test.Request.Method, r.Test.Request.Path)
		}
		if r.Pass {
			fmt.Fprintf(w, "PASS  %s\n", name)
			continue
		}
		failed++
		fmt.Fprintf(w, "FAIL  %s (line %d)\n", name, r.Test.Line)
		want := r.Test.Expect
		if r.Test.Rule != "" {
			want += " by rule " + r.Test.Rule
		}
		got := "deny"
		if r.Decision.Allow {
			got = "allow"
		}
		if r.Decision.Rule != "" {
			got += " by rule " + r.Decision.Rule
		}
		fmt.Fprintf(w, "      request:  %s %s\n", r.Test.Request.Method, r.Test.Request.Path)
		route := r.Route
		if route == "" {
			route = "(none)"
		}
		fmt.Fprintf(w, "      route:    %s\n", route)
		fmt.Fprintf(w, "    - expected: %s\n", want)
		fmt.Fprintf(w, "    + got:      %s\n", got)
		if r.Decision.Reason != "" {
			fmt.Fprintf(w, "      reason:   %s\n", r.Decision.Reason)
		}
	}
	fmt.Fprintf(w, "%d tests, %d passed, %d failed\n", len(results), len(results)-failed, failed)
	return failed
}

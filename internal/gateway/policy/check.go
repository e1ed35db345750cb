package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Expect is the expected outcome of a policy test case.
type Expect string

// The two outcomes.
const (
	// ExpectAllow expects the request to be allowed.
	ExpectAllow Expect = "allow"
	// ExpectDeny expects the request to be denied.
	ExpectDeny Expect = "deny"
)

// UnmarshalYAML accepts only "allow" and "deny".
func (e *Expect) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	switch Expect(s) {
	case ExpectAllow, ExpectDeny:
		*e = Expect(s)
		return nil
	}
	return fmt.Errorf("line %d: expect must be allow or deny, not %q", n.Line, s)
}

// Values are the values of one header or query parameter: a YAML scalar
// or a list of scalars.
type Values []string

// UnmarshalYAML accepts a scalar or a sequence of scalars.
func (v *Values) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*v = Values{n.Value}
		return nil
	}
	var l []string
	if err := n.Decode(&l); err != nil {
		return fmt.Errorf("line %d: want a string or a list of strings", n.Line)
	}
	*v = l
	return nil
}

// CaseRequest is the request of a policy test case.
type CaseRequest struct {
	// Method is the HTTP method; default GET.
	Method string `yaml:"method,omitempty"`
	// Path is the request path, query string excluded.
	Path string `yaml:"path"`
	// Host is the requested host, "" for any.
	Host string `yaml:"host,omitempty"`
	// Headers are request headers (names in any case).
	Headers map[string]Values `yaml:"headers,omitempty"`
	// Query are query parameters.
	Query map[string]Values `yaml:"query,omitempty"`
	// Source is the client's IP address.
	Source string `yaml:"source,omitempty"`
	// MCP is the JSON-RPC call of a request to an MCP route.
	MCP *MCP `yaml:"mcp,omitempty"`
}

// Case is one policy test: a request and the token's claims, and the
// expected decision.
type Case struct {
	// Name names the case in the report.
	Name string `yaml:"name"`
	// Request is the request.
	Request CaseRequest `yaml:"request"`
	// Claims are the token's claims; absent means no token.
	Claims map[string]any `yaml:"claims,omitempty"`
	// Expect is the expected decision.
	Expect Expect `yaml:"expect"`
	// Rule, when set, is the rule that must decide (Decision.Rule).
	Rule string `yaml:"rule,omitempty"`
}

// Validate checks that the case is complete.
func (c *Case) Validate() error {
	switch {
	case strings.TrimSpace(c.Name) == "":
		return errors.New("a case needs a name")
	case c.Request.Path == "":
		return fmt.Errorf("case %q: request.path is required", c.Name)
	case !strings.HasPrefix(c.Request.Path, "/"):
		return fmt.Errorf("case %q: request.path must start with /", c.Name)
	case c.Expect != ExpectAllow && c.Expect != ExpectDeny:
		return fmt.Errorf("case %q: expect must be allow or deny", c.Name)
	}
	return nil
}

// Input builds the decision input of the case: claims as a verifier would
// decode them from JSON (numbers become float64), header names in lower
// case, method GET by default. Path parameters are left to the caller,
// which matches the route.
func (c *Case) Input() (*Input, error) {
	in := &Input{Request: Request{
		Method: c.Request.Method,
		Path:   c.Request.Path,
		Host:   c.Request.Host,
		Source: c.Request.Source,
		MCP:    c.Request.MCP,
	}}
	if in.Request.Method == "" {
		in.Request.Method = "GET"
	}
	if c.Claims != nil {
		b, err := json.Marshal(c.Claims)
		if err != nil {
			return nil, fmt.Errorf("case %q: claims: %w", c.Name, err)
		}
		if err := json.Unmarshal(b, &in.Claims); err != nil {
			return nil, fmt.Errorf("case %q: claims: %w", c.Name, err)
		}
	}
	if len(c.Request.Headers) > 0 {
		in.Request.Headers = make(map[string][]string, len(c.Request.Headers))
		for k, v := range c.Request.Headers {
			k = strings.ToLower(k)
			in.Request.Headers[k] = append(in.Request.Headers[k], v...)
		}
	}
	if len(c.Request.Query) > 0 {
		in.Request.Query = make(map[string][]string, len(c.Request.Query))
		for k, v := range c.Request.Query {
			in.Request.Query[k] = append([]string(nil), v...)
		}
	}
	return in, nil
}

// DecideFunc decides a case; the gateway matches the case's request to a
// route and asks that route's policy. An error (no route matches, say) is
// reported as such.
type DecideFunc func(ctx context.Context, c *Case) (Decision, error)

// Result is the outcome of one case.
type Result struct {
	// Case is the case that ran.
	Case *Case
	// Got is the decision, when Err is nil.
	Got Decision
	// Err is a case that could not be decided (invalid case, no route).
	Err error
	// Pass is true when the decision and, if given, the rule are as expected.
	Pass bool
}

// Report is the outcome of a run of cases.
type Report struct {
	// Results are in the order of the cases.
	Results []Result
}

// RunCases decides every case and compares the decisions with the
// expectations. Duplicate names are errors.
func RunCases(ctx context.Context, cases []Case, decide DecideFunc) *Report {
	r := &Report{Results: make([]Result, len(cases))}
	seen := make(map[string]bool, len(cases))
	for i := range cases {
		c := &cases[i]
		res := Result{Case: c}
		switch err := c.Validate(); {
		case err != nil:
			res.Err = err
		case seen[c.Name]:
			res.Err = fmt.Errorf("case %q: duplicate name", c.Name)
		default:
			res.Got, res.Err = decide(ctx, c)
		}
		seen[c.Name] = true
		if res.Err == nil {
			res.Pass = res.Got.Allow == (c.Expect == ExpectAllow) && (c.Rule == "" || c.Rule == res.Got.Rule)
		}
		r.Results[i] = res
	}
	return r
}

// Passed returns the number of cases that passed.
func (r *Report) Passed() int {
	n := 0
	for _, res := range r.Results {
		if res.Pass {
			n++
		}
	}
	return n
}

// Failed returns the number of cases that failed or could not be decided.
func (r *Report) Failed() int { return len(r.Results) - r.Passed() }

// OK reports whether every case passed.
func (r *Report) OK() bool { return r.Failed() == 0 }

// WriteText writes the readable report: one line per case (PASS, FAIL or
// ERROR), expected and got under each failure, and a summary line.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	for _, res := range r.Results {
		c := res.Case
		switch {
		case res.Err != nil:
			fmt.Fprintf(&b, "ERROR %s\n      %v\n", caseName(c), res.Err)
		case res.Pass:
			fmt.Fprintf(&b, "PASS  %s: %s\n", c.Name, describe(res.Got))
		default:
			fmt.Fprintf(&b, "FAIL  %s\n", c.Name)
			want := string(c.Expect)
			if c.Rule != "" {
				want += " by rule " + c.Rule
			}
			fmt.Fprintf(&b, "      expected: %s\n      got:      %s\n", want, describe(res.Got))
		}
	}
	n, failed := len(r.Results), r.Failed()
	if failed == 0 {
		fmt.Fprintf(&b, "PASS: %d/%d\n", n, n)
	} else {
		fmt.Fprintf(&b, "FAIL: %d/%d failed, %d passed\n", failed, n, n-failed)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func caseName(c *Case) string {
	if strings.TrimSpace(c.Name) == "" {
		return "(unnamed case)"
	}
	return c.Name
}

// describe renders a decision as "allow by rule scopes (all rules hold)".
func describe(d Decision) string {
	out := string(ExpectDeny)
	if d.Allow {
		out = string(ExpectAllow)
	}
	s := out + " by rule " + d.Rule
	if d.Reason != "" {
		s += " (" + d.Reason + ")"
	}
	return s
}

package policy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"cel.dev/cel-go/common/types"
)

// Spec is the authorization rule of one route, as written in the gateway's
// route file (embedded inline in a route). Every rule that is present must
// hold; deny wins over everything; a route without any rule denies.
type Spec struct {
	// Allow is a CEL expression of type bool that must be true.
	Allow string `yaml:"allow,omitempty"`
	// Deny is a CEL expression of type bool; when true the request is
	// denied whatever the other rules say (also on anonymous routes).
	Deny string `yaml:"deny,omitempty"`
	// Scopes requires scopes of the token (`scope` string or `scp` array).
	Scopes *ScopeRule `yaml:"scopes,omitempty"`
	// Roles requires roles, read from a configurable claim ("roles" by default).
	Roles *ListRule `yaml:"roles,omitempty"`
	// Groups requires groups, read from a configurable claim ("groups" by default).
	Groups *ListRule `yaml:"groups,omitempty"`
	// Claims are predicates on claims; all must hold.
	Claims []ClaimRule `yaml:"claims,omitempty"`
	// Attributes are the route's attributes, visible to CEL as route.<name>.
	Attributes map[string]any `yaml:"attributes,omitempty"`
	// Anonymous marks a route that needs no token. It cannot be combined
	// with rules that need one (allow, scopes, roles, groups, claims); a
	// deny expression still applies.
	Anonymous bool `yaml:"anonymous,omitempty"`
}

// ScopeRule requires scopes. The token's scopes are, as in rs.Token, its
// `scope` claim (a space-separated string, or an array), or its `scp`
// claim (an array or a string) when it has no `scope`.
type ScopeRule struct {
	// All lists scopes that must all be granted.
	All []string `yaml:"all,omitempty"`
	// Any lists scopes of which at least one must be granted.
	Any []string `yaml:"any,omitempty"`
}

// ListRule requires values (roles or groups) of a claim holding an array of
// strings or a space-separated string.
type ListRule struct {
	// Claim is the dotted path of the claim, e.g. "realm_access.roles";
	// default "roles" for Spec.Roles and "groups" for Spec.Groups.
	Claim string `yaml:"claim,omitempty"`
	// All lists values that must all be present.
	All []string `yaml:"all,omitempty"`
	// Any lists values of which at least one must be present.
	Any []string `yaml:"any,omitempty"`
}

// ClaimRule is a predicate on one claim. Every operator that is set must
// hold; at least one must be set.
type ClaimRule struct {
	// Path is the dotted path of the claim ("sub", "address.country"). A
	// claim whose name contains dots is found under its full name first.
	Path string `yaml:"path"`
	// Equals requires the claim to equal this scalar (numbers compare by value).
	Equals any `yaml:"equals,omitempty"`
	// In requires the claim to equal one of these scalars.
	In []any `yaml:"in,omitempty"`
	// Contains requires the claim, an array or a space-separated string,
	// to have this element (not a substring match).
	Contains any `yaml:"contains,omitempty"`
	// Exists requires the claim to be present (true) or absent (false).
	Exists *bool `yaml:"exists,omitempty"`
	// Gt requires a numeric claim greater than this.
	Gt *float64 `yaml:"gt,omitempty"`
	// Ge requires a numeric claim greater than or equal to this.
	Ge *float64 `yaml:"ge,omitempty"`
	// Lt requires a numeric claim less than this.
	Lt *float64 `yaml:"lt,omitempty"`
	// Le requires a numeric claim less than or equal to this.
	Le *float64 `yaml:"le,omitempty"`
}

// Names of the rules reported in Decision.Rule.
const (
	// RuleDeny is the deny expression (true, or failed).
	RuleDeny = "deny"
	// RuleAllow is the allow expression.
	RuleAllow = "allow"
	// RuleScopes is Spec.Scopes; a denial by it is an insufficient_scope
	// answer naming Policy.Scopes.
	RuleScopes = "scopes"
	// RuleRoles is Spec.Roles.
	RuleRoles = "roles"
	// RuleGroups is Spec.Groups.
	RuleGroups = "groups"
	// RuleClaims is Spec.Claims.
	RuleClaims = "claims"
	// RuleAnonymous is an anonymous route.
	RuleAnonymous = "anonymous"
	// RuleToken is a route that needs a token called without one (a 401,
	// not a 403).
	RuleToken = "token"
	// RuleDefault is a route without any rule (deny), or a cancelled request.
	RuleDefault = "default"
)

// Input is what a decision is made on.
type Input struct {
	// Claims are the verified token's claims, as decoded from JSON (numbers
	// are float64). Nil means no token.
	Claims map[string]any
	// Request describes the HTTP request.
	Request Request
	// Act is the delegation chain, outermost (current) actor first; nil
	// means "compute it from Claims with ActChain when a rule needs it".
	Act []map[string]any
}

// Request describes the HTTP request to CEL as `request`.
type Request struct {
	// Method is the HTTP method (request.method).
	Method string
	// Path is the normalised path (request.path).
	Path string
	// Host is the host the client asked for, without port (request.host).
	Host string
	// Source is the client's IP address, without port (request.source).
	Source string
	// Params are the route template's parameters (request.params.id).
	Params map[string]string
	// Query is the parsed query string (request.query["k"] is a list).
	// When it is nil, rules see RawQuery parsed.
	Query map[string][]string
	// RawQuery is the query string without "?", parsed only when a rule
	// reads request.query and Query is nil.
	RawQuery string
	// Headers has lowercase names (request.headers["x-tenant"] is a list).
	// Authorization, Proxy-Authorization, Cookie and DPoP are never shown
	// to rules. When it is nil, rules see Header in the same form.
	Headers map[string][]string
	// Header is the request's header as net/http holds it (canonical
	// names), converted only when a rule reads request.headers and Headers
	// is nil: a request whose rules never look at its headers does not pay
	// for copying them.
	Header http.Header
	// MCP is the JSON-RPC call of an MCP route, nil otherwise
	// (has(request.mcp), request.mcp.method, request.mcp.tool).
	MCP *MCP
}

// MCP is the JSON-RPC call read from an MCP request's body.
type MCP struct {
	// Method is the JSON-RPC method, e.g. "tools/call".
	Method string `yaml:"method,omitempty"`
	// Tool is params.name of a tools/call, "" otherwise.
	Tool string `yaml:"tool,omitempty"`
}

// Decision is the outcome of Decide.
type Decision struct {
	// Allow is true when the request may pass.
	Allow bool
	// Rule names the rule that decided (one of the Rule constants; for an
	// allow by requirements alone, their names joined by "+").
	Rule string
	// Reason says why, for decision logs and policy tests. It never holds
	// the token nor a credential header.
	Reason string
}

// Policy is a compiled Spec. It is safe for concurrent use.
type Policy struct {
	name      string
	anonymous bool
	allow     *program
	deny      *program
	reqs      []requirement
	allowRule string // Rule of an allow by requirements alone
	route     map[string]any
	scopes    []string
	acts      activations
}

// requirement is one non-CEL rule.
type requirement struct {
	rule  string
	check func(claims map[string]any) (ok bool, reason string)
}

// Compile compiles one route's Spec with a fresh Compiler; use
// NewCompiler and Compiler.Compile to compile many routes. name names the
// route in errors.
func Compile(name string, s Spec, opts ...Option) (*Policy, error) {
	c, err := NewCompiler(opts...)
	if err != nil {
		return nil, err
	}
	return c.Compile(name, s)
}

// Compile compiles s, type-checking its CEL expressions. Errors name the
// route, the expression and the position.
func (c *Compiler) Compile(name string, s Spec) (*Policy, error) {
	p, err := c.compile(s)
	if err != nil {
		return nil, fmt.Errorf("policy: route %q: %w", name, err)
	}
	p.name = name
	return p, nil
}

func (c *Compiler) compile(s Spec) (*Policy, error) {
	p := &Policy{anonymous: s.Anonymous}
	attrs := s.Attributes
	if attrs == nil {
		attrs = map[string]any{}
	}
	if err := validAttribute(attrs, 0); err != nil {
		return nil, fmt.Errorf("attributes: %w", err)
	}
	// Attribute values are adapted to CEL values once, here.
	p.route = make(map[string]any, len(attrs))
	for k, v := range attrs {
		p.route[k] = types.DefaultTypeAdapter.NativeToValue(v)
	}

	needsToken := s.Allow != "" || s.Scopes != nil || s.Roles != nil || s.Groups != nil || len(s.Claims) > 0
	if s.Anonymous && needsToken {
		return nil, errors.New("an anonymous route cannot have allow, scopes, roles, groups or claims rules (deny is allowed)")
	}
	var err error
	if s.Deny != "" {
		if p.deny, err = c.compileExpr(RuleDeny, s.Deny, attrs); err != nil {
			return nil, err
		}
	}
	if s.Allow != "" {
		if p.allow, err = c.compileExpr(RuleAllow, s.Allow, attrs); err != nil {
			return nil, err
		}
	}
	if s.Scopes != nil {
		r, err := scopeRequirement(s.Scopes)
		if err != nil {
			return nil, err
		}
		p.reqs = append(p.reqs, r)
		p.scopes = append(append(p.scopes, s.Scopes.All...), s.Scopes.Any...)
	}
	if s.Roles != nil {
		r, err := listRequirement(RuleRoles, "roles", s.Roles)
		if err != nil {
			return nil, err
		}
		p.reqs = append(p.reqs, r)
	}
	if s.Groups != nil {
		r, err := listRequirement(RuleGroups, "groups", s.Groups)
		if err != nil {
			return nil, err
		}
		p.reqs = append(p.reqs, r)
	}
	if len(s.Claims) > 0 {
		r, err := claimsRequirement(s.Claims)
		if err != nil {
			return nil, err
		}
		p.reqs = append(p.reqs, r)
	}
	names := make([]string, len(p.reqs))
	for i, r := range p.reqs {
		names[i] = r.rule
	}
	p.allowRule = strings.Join(names, "+")
	return p, nil
}

// maxAttributeDepth bounds the nesting of route attributes.
const maxAttributeDepth = 16

// validAttribute accepts the values YAML and JSON decode to.
func validAttribute(v any, depth int) error {
	if depth > maxAttributeDepth {
		return fmt.Errorf("nested deeper than %d", maxAttributeDepth)
	}
	switch v := v.(type) {
	case nil, bool, string, int, int64, uint64, float64:
		return nil
	case []any:
		for i, e := range v {
			if err := validAttribute(e, depth+1); err != nil {
				return fmt.Errorf("[%d]: %w", i, err)
			}
		}
		return nil
	case map[string]any:
		for k, e := range v {
			if err := validAttribute(e, depth+1); err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
		}
		return nil
	}
	return fmt.Errorf("%T is not a YAML value", v)
}

// Name returns the route name given to Compile.
func (p *Policy) Name() string { return p.name }

// Anonymous reports whether the route needs no token.
func (p *Policy) Anonymous() bool { return p.anonymous }

// Scopes returns the scopes named by the scope rule (all, then any), for
// an insufficient_scope challenge; nil when there is none.
func (p *Policy) Scopes() []string { return p.scopes }

// maxReason bounds Decision.Reason.
const maxReason = 256

// Decide decides on in. Deny wins: the deny expression is evaluated first;
// then an anonymous route allows; otherwise scopes, roles, groups, claims
// and the allow expression must all hold, and a route without any of them
// denies. A CEL runtime error (missing key, cost limit) denies with the
// error as the reason. ctx is checked for cancellation only.
func (p *Policy) Decide(ctx context.Context, in *Input) Decision {
	if ctx != nil && ctx.Err() != nil {
		return Decision{Rule: RuleDefault, Reason: "request cancelled"}
	}
	if in == nil {
		in = &Input{}
	}
	if !p.anonymous && in.Claims == nil {
		return Decision{Rule: RuleToken, Reason: "a token is required"}
	}
	var a *activation
	if p.deny != nil || p.allow != nil {
		a = p.acts.get(in, p.route)
		defer p.acts.put(a)
	}
	if p.deny != nil {
		deny, err := p.deny.eval(a)
		if err != nil {
			return Decision{Rule: RuleDeny, Reason: reason("deny expression failed: ", err.Error())}
		}
		if deny {
			return Decision{Rule: RuleDeny, Reason: "deny expression is true"}
		}
	}
	if p.anonymous {
		return Decision{Allow: true, Rule: RuleAnonymous, Reason: "anonymous route"}
	}
	for _, r := range p.reqs {
		if ok, why := r.check(in.Claims); !ok {
			return Decision{Rule: r.rule, Reason: reason("", why)}
		}
	}
	if p.allow != nil {
		ok, err := p.allow.eval(a)
		if err != nil {
			return Decision{Rule: RuleAllow, Reason: reason("allow expression failed: ", err.Error())}
		}
		if !ok {
			return Decision{Rule: RuleAllow, Reason: "allow expression is false"}
		}
		return Decision{Allow: true, Rule: RuleAllow, Reason: "allow expression is true"}
	}
	if len(p.reqs) > 0 {
		return Decision{Allow: true, Rule: p.allowRule, Reason: "all rules hold"}
	}
	return Decision{Rule: RuleDefault, Reason: "no rule allows this route"}
}

// reason joins prefix and msg and bounds the length.
func reason(prefix, msg string) string {
	s := prefix + msg
	if len(s) > maxReason {
		n := maxReason
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s = s[:n] + "…"
	}
	return s
}

package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// scopeRequirement compiles a ScopeRule.
func scopeRequirement(r *ScopeRule) (requirement, error) {
	if len(r.All) == 0 && len(r.Any) == 0 {
		return requirement{}, errors.New("scopes: give all or any")
	}
	if err := validTokens("scopes", r.All, r.Any); err != nil {
		return requirement{}, err
	}
	all, anyOf := r.All, r.Any
	return requirement{rule: RuleScopes, check: func(c map[string]any) (bool, string) {
		// As rs.ScopesFromClaims: the scope claim when it is a string,
		// else scp.
		v := c["scope"]
		if _, ok := v.(string); !ok {
			v = c["scp"]
		}
		return checkList(values{v, nil}, all, anyOf, "scope")
	}}, nil
}

// listRequirement compiles a roles or groups ListRule.
func listRequirement(rule, defClaim string, r *ListRule) (requirement, error) {
	if len(r.All) == 0 && len(r.Any) == 0 {
		return requirement{}, fmt.Errorf("%s: give all or any", rule)
	}
	if err := validTokens(rule, r.All, r.Any); err != nil {
		return requirement{}, err
	}
	claim := r.Claim
	if claim == "" {
		claim = defClaim
	}
	path, err := compilePath(claim)
	if err != nil {
		return requirement{}, fmt.Errorf("%s: %w", rule, err)
	}
	all, anyOf := r.All, r.Any
	what := strings.TrimSuffix(rule, "s") // "role", "group"
	return requirement{rule: rule, check: func(c map[string]any) (bool, string) {
		v, _ := path.lookup(c)
		return checkList(values{v, nil}, all, anyOf, what)
	}}, nil
}

func validTokens(rule string, lists ...[]string) error {
	for _, l := range lists {
		for _, s := range l {
			if s == "" || strings.ContainsAny(s, " \t\r\n") {
				return fmt.Errorf("%s: %q is not a valid value (empty or with spaces)", rule, s)
			}
		}
	}
	return nil
}

// values are up to two claim values, each an array or a space-separated
// string.
type values struct{ a, b any }

func (v values) has(s string) bool { return hasValue(v.a, s) || hasValue(v.b, s) }

// checkList checks all-of and any-of; the reason names every missing value
// of all, or every value of any.
func checkList(v values, all, anyOf []string, what string) (bool, string) {
	var missing []string
	for _, s := range all {
		if !v.has(s) {
			missing = append(missing, s)
		}
	}
	if len(missing) > 0 {
		return false, fmt.Sprintf("missing %s: %s", plural(what, len(missing)), strings.Join(missing, " "))
	}
	if len(anyOf) == 0 {
		return true, ""
	}
	for _, s := range anyOf {
		if v.has(s) {
			return true, ""
		}
	}
	return false, fmt.Sprintf("none of the %s: %s", plural(what, 2), strings.Join(anyOf, " "))
}

func plural(s string, n int) string {
	if n == 1 {
		return s
	}
	return s + "s"
}

// hasValue reports whether v, a space-separated string or an array, holds want.
func hasValue(v any, want string) bool {
	switch v := v.(type) {
	case string:
		return hasField(v, want)
	case []any:
		for _, e := range v {
			if s, ok := e.(string); ok && s == want {
				return true
			}
		}
	case []string:
		for _, s := range v {
			if s == want {
				return true
			}
		}
	}
	return false
}

// hasField reports whether the whitespace-separated list s has the field
// want, without allocating.
func hasField(s, want string) bool {
	if want == "" {
		return false
	}
	for i := 0; i < len(want); i++ {
		if isSpace(want[i]) {
			return false
		}
	}
	for i := 0; i < len(s); {
		j := strings.Index(s[i:], want)
		if j < 0 {
			return false
		}
		j += i
		end := j + len(want)
		if (j == 0 || isSpace(s[j-1])) && (end == len(s) || isSpace(s[end])) {
			return true
		}
		i = j + 1
	}
	return false
}

func isSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' }

// claimPath is a compiled dotted claim path.
type claimPath struct {
	full  string
	parts []string
}

func compilePath(p string) (claimPath, error) {
	if p == "" {
		return claimPath{}, errors.New("empty claim path")
	}
	parts := strings.Split(p, ".")
	for _, s := range parts {
		if s == "" {
			return claimPath{}, fmt.Errorf("claim path %q has an empty segment", p)
		}
	}
	return claimPath{full: p, parts: parts}, nil
}

// lookup finds the claim: by its full name first (claims such as
// "https://example.com/roles"), then segment by segment through objects.
func (p claimPath) lookup(c map[string]any) (any, bool) {
	if v, ok := c[p.full]; ok {
		return v, true
	}
	if len(p.parts) == 1 {
		return nil, false
	}
	var cur any = c
	for _, s := range p.parts {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[s]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// claimCheck is one compiled ClaimRule.
type claimCheck struct {
	path     claimPath
	equals   any
	in       []any
	contains any
	exists   *bool
	gt, ge   *float64
	lt, le   *float64
}

// claimsRequirement compiles the claim predicates.
func claimsRequirement(rules []ClaimRule) (requirement, error) {
	checks := make([]claimCheck, len(rules))
	for i, r := range rules {
		ch, err := compileClaimRule(r)
		if err != nil {
			return requirement{}, fmt.Errorf("claims[%d]: %w", i, err)
		}
		checks[i] = ch
	}
	return requirement{rule: RuleClaims, check: func(c map[string]any) (bool, string) {
		for i := range checks {
			if ok, why := checks[i].check(c); !ok {
				return false, why
			}
		}
		return true, ""
	}}, nil
}

func compileClaimRule(r ClaimRule) (claimCheck, error) {
	path, err := compilePath(r.Path)
	if err != nil {
		return claimCheck{}, err
	}
	ch := claimCheck{path: path, exists: r.Exists, gt: r.Gt, ge: r.Ge, lt: r.Lt, le: r.Le}
	if r.Equals == nil && r.In == nil && r.Contains == nil && r.Exists == nil && r.Gt == nil && r.Ge == nil && r.Lt == nil && r.Le == nil {
		return claimCheck{}, fmt.Errorf("claim %s: no operator (equals, in, contains, exists, gt, ge, lt, le)", r.Path)
	}
	if r.Exists != nil && !*r.Exists && (r.Equals != nil || r.In != nil || r.Contains != nil || r.Gt != nil || r.Ge != nil || r.Lt != nil || r.Le != nil) {
		return claimCheck{}, fmt.Errorf("claim %s: exists: false cannot be combined with other operators", r.Path)
	}
	if r.Equals != nil {
		if ch.equals, err = scalar(r.Equals); err != nil {
			return claimCheck{}, fmt.Errorf("claim %s: equals: %w", r.Path, err)
		}
	}
	if r.In != nil {
		if len(r.In) == 0 {
			return claimCheck{}, fmt.Errorf("claim %s: in: empty list", r.Path)
		}
		ch.in = make([]any, len(r.In))
		for i, v := range r.In {
			if ch.in[i], err = scalar(v); err != nil {
				return claimCheck{}, fmt.Errorf("claim %s: in[%d]: %w", r.Path, i, err)
			}
		}
	}
	if r.Contains != nil {
		if ch.contains, err = scalar(r.Contains); err != nil {
			return claimCheck{}, fmt.Errorf("claim %s: contains: %w", r.Path, err)
		}
	}
	for _, f := range []*float64{r.Gt, r.Ge, r.Lt, r.Le} {
		if f != nil && (math.IsNaN(*f) || math.IsInf(*f, 0)) {
			return claimCheck{}, fmt.Errorf("claim %s: comparison with a non-finite number", r.Path)
		}
	}
	return ch, nil
}

// scalar normalises a rule value: strings and bools as they are, numbers
// as float64.
func scalar(v any) (any, error) {
	switch v := v.(type) {
	case string, bool:
		return v, nil
	}
	if f, ok := number(v); ok {
		return f, nil
	}
	return nil, fmt.Errorf("%T is not a string, number or bool", v)
}

// number converts the numeric types of JSON and YAML decoding to float64.
func number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case float32:
		return float64(n), true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case int32:
		return float64(n), true
	case uint64:
		return float64(n), true
	case uint:
		return float64(n), true
	case json.Number:
		f, err := strconv.ParseFloat(string(n), 64)
		return f, err == nil
	}
	return 0, false
}

// sameScalar compares a claim value with a normalised rule value.
func sameScalar(claim, want any) bool {
	if f, ok := want.(float64); ok {
		g, ok := number(claim)
		return ok && g == f
	}
	return claim == want
}

func (ch *claimCheck) check(c map[string]any) (bool, string) {
	p := ch.path.full
	v, ok := ch.path.lookup(c)
	if ch.exists != nil {
		if *ch.exists != ok {
			if ok {
				return false, fmt.Sprintf("claim %s must be absent", p)
			}
			return false, fmt.Sprintf("claim %s is missing", p)
		}
		if !ok {
			return true, ""
		}
	}
	if !ok {
		return false, fmt.Sprintf("claim %s is missing", p)
	}
	if ch.equals != nil && !sameScalar(v, ch.equals) {
		return false, fmt.Sprintf("claim %s does not equal %s", p, show(ch.equals))
	}
	if ch.in != nil {
		found := false
		for _, w := range ch.in {
			if sameScalar(v, w) {
				found = true
				break
			}
		}
		if !found {
			return false, fmt.Sprintf("claim %s is not one of the allowed values", p)
		}
	}
	if ch.contains != nil && !containsScalar(v, ch.contains) {
		return false, fmt.Sprintf("claim %s does not contain %s", p, show(ch.contains))
	}
	if ch.gt != nil || ch.ge != nil || ch.lt != nil || ch.le != nil {
		n, ok := number(v)
		if !ok {
			return false, fmt.Sprintf("claim %s is not a number", p)
		}
		switch {
		case ch.gt != nil && !(n > *ch.gt):
			return false, fmt.Sprintf("claim %s is not greater than %s", p, show(*ch.gt))
		case ch.ge != nil && !(n >= *ch.ge):
			return false, fmt.Sprintf("claim %s is less than %s", p, show(*ch.ge))
		case ch.lt != nil && !(n < *ch.lt):
			return false, fmt.Sprintf("claim %s is not less than %s", p, show(*ch.lt))
		case ch.le != nil && !(n <= *ch.le):
			return false, fmt.Sprintf("claim %s is greater than %s", p, show(*ch.le))
		}
	}
	return true, ""
}

// containsScalar reports whether v, an array or a space-separated string,
// has the element want.
func containsScalar(v, want any) bool {
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			if sameScalar(e, want) {
				return true
			}
		}
	case []string:
		s, ok := want.(string)
		if !ok {
			return false
		}
		for _, e := range v {
			if e == s {
				return true
			}
		}
	case string:
		s, ok := want.(string)
		return ok && hasField(v, s)
	}
	return false
}

// show renders a rule value (never a claim value) for a reason.
func show(v any) string {
	switch v := v.(type) {
	case string:
		return strconv.Quote(v)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	return fmt.Sprint(v)
}

// MaxActDepth bounds the delegation chain read by ActChain.
const MaxActDepth = 16

// ErrActChain reports a malformed or too deep `act` claim.
var ErrActChain = errors.New("policy: invalid act claim")

// ActChain returns the delegation chain of claims (RFC 8693 §4.1): the
// `act` claim, then its nested `act`, and so on, outermost (the current
// actor) first. Each element is the actor's claim object as it is (its
// own nested `act` included). A token without `act` gives nil. An `act`
// that is not an object, or a chain deeper than MaxActDepth, is an error
// wrapping ErrActChain.
func ActChain(claims map[string]any) ([]map[string]any, error) {
	v, ok := claims["act"]
	if !ok {
		return nil, nil
	}
	var chain []map[string]any
	for ok {
		m, isMap := v.(map[string]any)
		if !isMap {
			return nil, fmt.Errorf("%w: act at depth %d is not an object", ErrActChain, len(chain)+1)
		}
		if len(chain) == MaxActDepth {
			return nil, fmt.Errorf("%w: deeper than %d", ErrActChain, MaxActDepth)
		}
		chain = append(chain, m)
		v, ok = m["act"]
	}
	return chain, nil
}

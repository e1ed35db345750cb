package gateway

import (
	"strconv"
	"strings"

	"github.com/writ-dev/writ/rs"
)

// maxActDepth bounds the delegation chain read from nested act claims.
const maxActDepth = 16

// maxHeaderValue bounds an identity header's value.
const maxHeaderValue = 8 << 10

// claimPath looks up a dotted path ("realm_access.roles") in claims, the
// way the rs middleware's Require helpers do.
func claimPath(claims map[string]any, path string) (any, bool) { return rs.ClaimPath(claims, path) }

// scopesOf returns the scope claim split on spaces, or the scp array.
func scopesOf(claims map[string]any) []string {
	switch s := claims["scope"].(type) {
	case string:
		return strings.Fields(s)
	case []any:
		return strs(s)
	}
	if s, ok := claims["scp"].([]any); ok {
		return strs(s)
	}
	if s, ok := claims["scp"].(string); ok {
		return strings.Fields(s)
	}
	return nil
}

func strs(vs []any) []string {
	out := make([]string, 0, len(vs))
	for _, v := range vs {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// headerValue renders a claim for an identity header: strings as they
// are, numbers and booleans in JSON form, arrays of those joined with ",".
// Objects, values with control characters and values longer than
// maxHeaderValue render as nothing (ok false).
func headerValue(v any) (string, bool) {
	var s string
	switch x := v.(type) {
	case []any:
		parts := make([]string, 0, len(x))
		for _, e := range x {
			p, ok := scalar(e)
			if !ok {
				return "", false
			}
			parts = append(parts, p)
		}
		s = strings.Join(parts, ",")
	case []string:
		s = strings.Join(x, ",")
	default:
		var ok bool
		if s, ok = scalar(v); !ok {
			return "", false
		}
	}
	if len(s) > maxHeaderValue {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return "", false
		}
	}
	return s, true
}

func scalar(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case int:
		return strconv.Itoa(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}

// actChain returns the delegation chain of nested act claims (RFC 8693
// §4.1), outermost (the current actor) first, at most maxActDepth deep.
func actChain(claims map[string]any) []map[string]any {
	var chain []map[string]any
	cur := claims
	for len(chain) < maxActDepth {
		act, ok := cur["act"].(map[string]any)
		if !ok {
			break
		}
		chain = append(chain, act)
		cur = act
	}
	return chain
}

package oauth

import "strings"

// MaxScopes bounds the number of scope values in one request.
const MaxScopes = 64

// ParseScope splits a scope parameter (RFC 6749 §3.3) into its values,
// rejecting characters outside NQCHAR, empty values from doubled spaces,
// duplicates and more than MaxScopes values. An empty string gives nil.
func ParseScope(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, " ")
	if len(parts) > MaxScopes {
		return nil, InvalidScope("too many scope values")
	}
	for i, p := range parts {
		if p == "" {
			return nil, InvalidScope("scope values are separated by single spaces")
		}
		for j := 0; j < len(p); j++ {
			c := p[j]
			if c < 0x21 || c == 0x22 || c == 0x5c || c > 0x7e {
				return nil, InvalidScope("scope contains a character outside RFC 6749 section 3.3")
			}
		}
		for _, q := range parts[:i] {
			if q == p {
				return nil, InvalidScope("a scope value is repeated")
			}
		}
	}
	return parts, nil
}

// Subset reports whether every value of want is in have.
func Subset(want, have []string) bool {
outer:
	for _, w := range want {
		for _, h := range have {
			if w == h {
				continue outer
			}
		}
		return false
	}
	return true
}

// JoinScope is the inverse of ParseScope.
func JoinScope(s []string) string { return strings.Join(s, " ") }

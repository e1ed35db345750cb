package oauth

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// ResourceSet is a set of resource URIs (RFC 8707) given as patterns: an
// entry is an absolute URI without a fragment, matched byte for byte, or
// such a URI ending in "/*", which matches every URI that starts with the
// part before the "*" ("https://mcp.example.com/*" matches
// "https://mcp.example.com/", "https://mcp.example.com/a" and
// "https://mcp.example.com/a/b", not
// "https://mcp.example.com" nor "https://mcp.example.com.evil/"). The
// server uses one to mark the audiences that are MCP servers (the
// mcp_resources setting): a token for them is issued only when the
// request names them with resource.
//
// A nil *ResourceSet is empty.
type ResourceSet struct {
	exact    map[string]bool
	prefixes []string
}

// MaxResourcePatterns bounds the entries of a ResourceSet.
const MaxResourcePatterns = 256

// ErrResourcePattern reports an entry that is not a valid pattern.
var ErrResourcePattern = errors.New("oauth: invalid resource pattern")

// NewResourceSet validates the patterns and returns their set; no patterns
// give an empty set.
func NewResourceSet(patterns []string) (*ResourceSet, error) {
	if len(patterns) > MaxResourcePatterns {
		return nil, fmt.Errorf("%w: more than %d entries", ErrResourcePattern, MaxResourcePatterns)
	}
	s := &ResourceSet{exact: map[string]bool{}}
	for _, p := range patterns {
		if err := CheckResourcePattern(p); err != nil {
			return nil, err
		}
		if prefix, ok := strings.CutSuffix(p, "*"); ok {
			s.prefixes = append(s.prefixes, prefix)
		} else {
			s.exact[p] = true
		}
	}
	return s, nil
}

// CheckResourcePattern validates one ResourceSet entry.
func CheckResourcePattern(p string) error {
	if len(p) > 2048 {
		return fmt.Errorf("%w: longer than 2048 bytes", ErrResourcePattern)
	}
	base := p
	if prefix, ok := strings.CutSuffix(p, "*"); ok {
		if !strings.HasSuffix(prefix, "/") {
			return fmt.Errorf("%w: %q: a wildcard must follow a slash (…/*)", ErrResourcePattern, p)
		}
		base = prefix
	}
	if strings.ContainsAny(base, "*#") {
		return fmt.Errorf("%w: %q: no fragment, and * only at the end", ErrResourcePattern, p)
	}
	u, err := url.Parse(base)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return fmt.Errorf("%w: %q is not an absolute URI with a host", ErrResourcePattern, p)
	}
	return nil
}

// Contains reports whether aud matches an entry.
func (s *ResourceSet) Contains(aud string) bool {
	if s == nil {
		return false
	}
	if s.exact[aud] {
		return true
	}
	for _, p := range s.prefixes {
		if strings.HasPrefix(aud, p) {
			return true
		}
	}
	return false
}

// Empty reports whether the set has no entries.
func (s *ResourceSet) Empty() bool { return s == nil || len(s.exact) == 0 && len(s.prefixes) == 0 }

// First returns the first of auds that the set contains.
func (s *ResourceSet) First(auds []string) (string, bool) {
	for _, a := range auds {
		if s.Contains(a) {
			return a, true
		}
	}
	return "", false
}

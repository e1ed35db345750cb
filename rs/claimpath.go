package rs

import (
	"iter"
	"strconv"
	"strings"
)

// MaxClaimPathDepth bounds the number of segments of a claim path; a longer
// path finds nothing.
const MaxClaimPathDepth = 16

// ClaimPath looks up a claim by a dotted path: "sub" is the top-level sub
// claim, "realm_access.roles" is the roles member of the realm_access
// object. A claim whose name itself contains dots, such as the namespaced
// "https://example.com/roles", is found when the whole path is a top-level
// claim name; elsewhere a literal dot in a name is written `\.`. The lookup
// descends only through JSON objects (map[string]any) and at most
// MaxClaimPathDepth segments deep; an empty path, an empty segment or a
// missing member finds nothing.
func ClaimPath(claims map[string]any, path string) (any, bool) {
	if claims == nil || path == "" {
		return nil, false
	}
	if v, ok := claims[path]; ok {
		return v, true
	}
	var cur any = claims
	depth := 0
	for rest := path; ; {
		seg, next, more := cutSegment(rest)
		if seg == "" {
			return nil, false
		}
		if depth++; depth > MaxClaimPathDepth {
			return nil, false
		}
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[seg]; !ok {
			return nil, false
		}
		if !more {
			return cur, true
		}
		rest = next
	}
}

// cutSegment splits the first segment off a claim path at the first dot not
// escaped by a backslash, and unescapes `\.` and `\\` in it. more reports
// whether a dot followed.
func cutSegment(path string) (seg, rest string, more bool) {
	i := strings.IndexAny(path, `.\`)
	if i < 0 {
		return path, "", false
	}
	if path[i] == '.' {
		return path[:i], path[i+1:], true
	}
	// An escape: build the unescaped segment (rare, may allocate).
	var b strings.Builder
	b.WriteString(path[:i])
	for ; i < len(path); i++ {
		c := path[i]
		switch {
		case c == '\\' && i+1 < len(path):
			i++
			b.WriteByte(path[i])
		case c == '.':
			return b.String(), path[i+1:], true
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), "", false
}

// ClaimStrings yields the string values of a claim value v as ClaimPath
// returns it: each string of a JSON array, each space-separated word of a
// string (the form of scope and of many roles claims), true or false for a
// boolean, and a number in its shortest decimal form. Members of an array
// that are neither strings, numbers nor booleans are skipped.
func ClaimStrings(v any) iter.Seq[string] {
	return func(yield func(string) bool) {
		switch t := v.(type) {
		case string:
			for f := range strings.FieldsSeq(t) {
				if !yield(f) {
					return
				}
			}
		case []string:
			for _, s := range t {
				if !yield(s) {
					return
				}
			}
		case []any:
			for _, e := range t {
				if s, ok := scalarString(e); ok && !yield(s) {
					return
				}
			}
		default:
			if s, ok := scalarString(t); ok {
				yield(s)
			}
		}
	}
}

// scalarString formats a JSON scalar as a string.
func scalarString(v any) (string, bool) {
	switch t := v.(type) {
	case string:
		return t, true
	case bool:
		return strconv.FormatBool(t), true
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64), true
	case int:
		return strconv.Itoa(t), true
	case int64:
		return strconv.FormatInt(t, 10), true
	}
	return "", false
}

package route

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sort"
	"strings"
)

// Kind is how a pattern matches a path.
type Kind int

// The kinds of pattern, from the most specific.
const (
	// Exact matches one path.
	Exact Kind = iota
	// Template matches paths of the same number of segments whose literal
	// segments are equal; {name} segments become parameters.
	Template
	// Prefix matches every path that starts with the pattern, which ends
	// with "/".
	Prefix
)

// String returns the kind's name.
func (k Kind) String() string {
	switch k {
	case Exact:
		return "exact"
	case Template:
		return "template"
	}
	return "prefix"
}

// Pattern is a compiled route path.
type Pattern struct {
	// Raw is the pattern as configured.
	Raw string
	// Kind tells how it matches.
	Kind Kind
	// Path is the normal form of the pattern (templates keep their
	// {name} segments).
	Path string
	// segs are a template's segments; names[i] != "" for a parameter.
	segs  []string
	names []string
}

// ParsePattern compiles a route path: "/a/b" (exact), "/a/" (prefix), or
// "/a/{id}/b" (template; a parameter is a whole segment, names are unique
// identifiers, and a template does not end with "/").
func ParsePattern(raw string) (Pattern, error) {
	if !strings.HasPrefix(raw, "/") {
		return Pattern{}, errors.New("must start with /")
	}
	if !strings.ContainsAny(raw, "{}") {
		n, err := Normalize(raw)
		if err != nil {
			return Pattern{}, err
		}
		if n != raw {
			return Pattern{}, fmt.Errorf("is not in normal form (write %q)", n)
		}
		if strings.HasSuffix(n, "/") {
			return Pattern{Raw: raw, Kind: Prefix, Path: n}, nil
		}
		return Pattern{Raw: raw, Kind: Exact, Path: n}, nil
	}
	if strings.HasSuffix(raw, "/") {
		return Pattern{}, errors.New("a template cannot end with / (it matches a fixed number of segments)")
	}
	p := Pattern{Raw: raw, Kind: Template, Path: raw}
	seen := map[string]bool{}
	for _, s := range strings.Split(raw[1:], "/") {
		if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
			name := s[1 : len(s)-1]
			if !isIdent(name) {
				return Pattern{}, fmt.Errorf("parameter %q is not a name (letters, digits, _)", s)
			}
			if seen[name] {
				return Pattern{}, fmt.Errorf("parameter {%s} appears twice", name)
			}
			seen[name] = true
			p.segs = append(p.segs, "")
			p.names = append(p.names, name)
			continue
		}
		if strings.ContainsAny(s, "{}") {
			return Pattern{}, fmt.Errorf("segment %q: a parameter must be a whole segment", s)
		}
		n, err := Normalize("/" + s)
		if err != nil || n != "/"+s {
			return Pattern{}, fmt.Errorf("segment %q is not in normal form", s)
		}
		p.segs = append(p.segs, s)
		p.names = append(p.names, "")
	}
	return p, nil
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// match reports whether the normal path p matches, and appends the
// template's parameters (decoded) to params.
func (pt *Pattern) match(p string) (map[string]string, bool) {
	switch pt.Kind {
	case Exact:
		return nil, p == pt.Path
	case Prefix:
		return nil, strings.HasPrefix(p, pt.Path)
	}
	rest := p[1:]
	var params map[string]string
	for i, lit := range pt.segs {
		var seg string
		if j := strings.IndexByte(rest, '/'); j >= 0 {
			if i == len(pt.segs)-1 {
				return nil, false
			}
			seg, rest = rest[:j], rest[j+1:]
		} else {
			if i != len(pt.segs)-1 {
				return nil, false
			}
			seg, rest = rest, ""
		}
		if pt.names[i] == "" {
			if seg != lit {
				return nil, false
			}
			continue
		}
		if seg == "" {
			return nil, false
		}
		if params == nil {
			params = make(map[string]string, len(pt.segs))
		}
		params[pt.names[i]] = Unescape(seg)
	}
	return params, true
}

// literalScore orders templates: more literal segments first, then literal
// segments earlier.
func (pt *Pattern) literalScore() (int, string) {
	n := 0
	var mask strings.Builder
	for _, name := range pt.names {
		if name == "" {
			n++
			mask.WriteByte('0')
		} else {
			mask.WriteByte('1')
		}
	}
	return n, mask.String()
}

// Entry is one route of a Router.
type Entry[T any] struct {
	// Host is the host the route is for ("" for any): a host name, or
	// host:port to match the port too. Compared case-insensitively.
	Host string
	// Methods the route accepts; empty for any.
	Methods []string
	// Pattern is the route's compiled path.
	Pattern Pattern
	// Value is what Match returns for the route.
	Value T
	order int
}

// Router finds the route of a request. It is immutable once built and safe
// for concurrent use.
type Router[T any] struct {
	hosts map[string]*table[T] // lower-case host (with or without port)
	any   *table[T]
}

type table[T any] struct {
	exact    map[string][]*Entry[T]
	template []*Entry[T]
	prefix   []*Entry[T]
}

// Result is the outcome of Match.
type Result[T any] struct {
	// Entry is the route that matched, nil when none did.
	Entry *Entry[T]
	// Params are the template's parameters, decoded.
	Params map[string]string
	// MethodNotAllowed is set when no route matched but some route matched
	// the host and path with another method.
	MethodNotAllowed bool
	// Allow lists, when MethodNotAllowed is set, the methods those routes
	// accept, sorted and without repeats (the Allow header of a 405, RFC
	// 9110 §15.5.6).
	Allow []string
}

// refuse records that e matched the path but not the method.
func (r *Result[T]) refuse(methods []string) {
	r.MethodNotAllowed = true
	for _, m := range methods {
		r.addAllow(m)
		if m == http.MethodGet {
			r.addAllow(http.MethodHead)
		}
	}
}

func (r *Result[T]) addAllow(m string) {
	i, found := slices.BinarySearch(r.Allow, m)
	if !found {
		r.Allow = slices.Insert(r.Allow, i, m)
	}
}

// merge adds other's refusals to r.
func (r *Result[T]) merge(other Result[T]) {
	if other.MethodNotAllowed {
		r.MethodNotAllowed = true
		for _, m := range other.Allow {
			r.addAllow(m)
		}
	}
}

// NewRouter builds a router. Two routes with the same host, pattern and an
// overlapping method set are an error.
func NewRouter[T any](entries []Entry[T]) (*Router[T], error) {
	r := &Router[T]{hosts: map[string]*table[T]{}, any: newTable[T]()}
	type key struct{ host, path, method string }
	seen := map[key]int{}
	for i := range entries {
		e := &entries[i]
		e.order = i
		e.Host = strings.ToLower(e.Host)
		ms := e.Methods
		if len(ms) == 0 {
			ms = []string{"*"}
		}
		for _, m := range ms {
			for _, other := range []string{m, "*"} {
				if j, dup := seen[key{e.Host, e.Pattern.Path, other}]; dup {
					return nil, fmt.Errorf("route %d has the same host, path and method as route %d", i, j)
				}
			}
			if m == "*" {
				for k, j := range seen {
					if k.host == e.Host && k.path == e.Pattern.Path {
						return nil, fmt.Errorf("route %d has the same host, path and method as route %d", i, j)
					}
				}
			}
		}
		for _, m := range ms {
			seen[key{e.Host, e.Pattern.Path, m}] = i
		}
		t := r.any
		if e.Host != "" {
			if r.hosts[e.Host] == nil {
				r.hosts[e.Host] = newTable[T]()
			}
			t = r.hosts[e.Host]
		}
		t.add(e)
	}
	for _, t := range r.hosts {
		t.sort()
	}
	r.any.sort()
	return r, nil
}

func newTable[T any]() *table[T] { return &table[T]{exact: map[string][]*Entry[T]{}} }

func (t *table[T]) add(e *Entry[T]) {
	switch e.Pattern.Kind {
	case Exact:
		t.exact[e.Pattern.Path] = append(t.exact[e.Pattern.Path], e)
	case Template:
		t.template = append(t.template, e)
	default:
		t.prefix = append(t.prefix, e)
	}
}

func (t *table[T]) sort() {
	sort.SliceStable(t.template, func(i, j int) bool {
		ni, mi := t.template[i].Pattern.literalScore()
		nj, mj := t.template[j].Pattern.literalScore()
		if ni != nj {
			return ni > nj
		}
		return mi < mj
	})
	sort.SliceStable(t.prefix, func(i, j int) bool {
		return len(t.prefix[i].Pattern.Path) > len(t.prefix[j].Pattern.Path)
	})
}

// Match finds the route for host, method and the normal path p (from
// Normalize). Routes for the request's host are tried first, then routes
// for any host; within each, exact paths, then templates, then the longest
// prefix.
func (r *Router[T]) Match(host, method, p string) Result[T] {
	var res Result[T]
	if len(r.hosts) > 0 {
		h := canonicalHost(host)
		if t := r.hosts[h]; t != nil {
			if res = t.match(method, p); res.Entry != nil {
				return res
			}
		}
		if name, _, err := net.SplitHostPort(h); err == nil {
			if t := r.hosts[name]; t != nil {
				other := t.match(method, p)
				if other.Entry != nil {
					return other
				}
				res.merge(other)
			}
		}
	}
	other := r.any.match(method, p)
	if other.Entry != nil {
		return other
	}
	other.merge(res)
	return other
}

// canonicalHost lowers host and drops the trailing dot of a fully
// qualified name ("api.example.com.:443" is "api.example.com:443").
func canonicalHost(host string) string {
	h := strings.ToLower(host)
	if name, port, err := net.SplitHostPort(h); err == nil {
		if strings.HasSuffix(name, ".") {
			return net.JoinHostPort(strings.TrimSuffix(name, "."), port)
		}
		return h
	}
	return strings.TrimSuffix(h, ".")
}

func (t *table[T]) match(method, p string) Result[T] {
	var res Result[T]
	for _, e := range t.exact[p] {
		if allows(e.Methods, method) {
			return Result[T]{Entry: e}
		}
		res.refuse(e.Methods)
	}
	for _, e := range t.template {
		params, ok := e.Pattern.match(p)
		if !ok {
			continue
		}
		if allows(e.Methods, method) {
			return Result[T]{Entry: e, Params: params}
		}
		res.refuse(e.Methods)
	}
	for _, e := range t.prefix {
		if _, ok := e.Pattern.match(p); !ok {
			continue
		}
		if allows(e.Methods, method) {
			return Result[T]{Entry: e}
		}
		res.refuse(e.Methods)
	}
	return res
}

// allows reports whether a route with methods accepts m. A route that
// accepts GET accepts HEAD too (RFC 9110 §9.3.2).
func allows(methods []string, m string) bool {
	if len(methods) == 0 {
		return true
	}
	for _, x := range methods {
		if x == m || (m == http.MethodHead && x == http.MethodGet) {
			return true
		}
	}
	return false
}

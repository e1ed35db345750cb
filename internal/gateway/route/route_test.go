package route

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	ok := []struct{ in, want string }{
		{"/", "/"},
		{"/admin", "/admin"},
		{"/%61dmin", "/admin"},
		{"/%41%44MIN", "/ADMIN"},
		{"/public/../admin", "/admin"},
		{"/public/./x", "/public/x"},
		{"//admin", "/admin"},
		{"/public//x//", "/public/x/"},
		{"/a/b/..", "/a/"},
		{"/a/b/.", "/a/b/"},
		{"/a/..", "/"},
		{"/a%20b", "/a%20b"},
		{"/a%3fb", "/a%3Fb"},
		{"/caf%c3%a9", "/caf%C3%A9"},
		{"/x/.../y", "/x/.../y"},
		{"/x/.hidden", "/x/.hidden"},
		{"/a%3bb", "/a%3Bb"},
		{"/~user/%7e", "/~user/~"},
	}
	for _, c := range ok {
		got, err := Normalize(c.in)
		if err != nil || got != c.want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	bad := []struct{ in, why string }{
		{"", "empty"},
		{"admin", "start with /"},
		{"*", "start with /"},
		{"/%2fadmin", "slash"},
		{"/public/%2F..%2Fadmin", "slash"},
		{"/public/%2e%2e/admin", "dot"},
		{"/public/.%2e/admin", "dot"},
		{"/%2E", "dot"},
		{"/a%5cb", "backslash"},
		{"/a\\b", "backslash"},
		{"/a%00b", "control"},
		{"/a%0d%0aX: y", "control"},
		{"/a%252fb", "percent"},
		{"/a%", "percent-encoding"},
		{"/a%2", "percent-encoding"},
		{"/a%zz", "percent-encoding"},
		{"/a b", "must be percent-encoded"},
		{"/a\x7f", "must be percent-encoded"},
		{"/caf\xc3\xa9", "must be percent-encoded"},
		{"/..", "above the root"},
		{"/a/../../b", "above the root"},
		{"/public/..;/admin", "path parameter"},
		{"/public/.;x/admin", "path parameter"},
		// Tomcat, Jetty and Spring drop ";params" from every segment: the
		// upstream would serve /admin (or /orders/0) where the gateway
		// matched the segment "admin;x" (or the parameter "0;x").
		{"/admin;x", "path parameter"},
		{"/orders/0;x", "path parameter"},
		{"/a;", "path parameter"},
		{"/" + strings.Repeat("a", MaxPathLength), "longer"},
	}
	for _, c := range bad {
		got, err := Normalize(c.in)
		if !errors.Is(err, ErrInvalidPath) || !strings.Contains(err.Error(), c.why) {
			t.Errorf("Normalize(%q) = %q, %v; want an error about %q", c.in, got, err, c.why)
		}
	}
}

func TestUnescape(t *testing.T) {
	if got := Unescape("/a%20b%C3%A9"); got != "/a bé" {
		t.Fatalf("Unescape = %q", got)
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"/", "/a/../b", "/%61", "//x/./y/", "/%2e", "/a%zz", "/..;/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		n, err := Normalize(in)
		if err != nil {
			if !errors.Is(err, ErrInvalidPath) {
				t.Fatalf("error %v does not wrap ErrInvalidPath", err)
			}
			return
		}
		// The normal form is a fixed point and never hides a dot segment.
		again, err := Normalize(n)
		if err != nil || again != n {
			t.Fatalf("Normalize(%q) = %q, but Normalize(%q) = %q, %v", in, n, n, again, err)
		}
		for _, seg := range strings.Split(n, "/")[1:] {
			if seg == "." || seg == ".." {
				t.Fatalf("Normalize(%q) = %q keeps a dot segment", in, n)
			}
		}
		if strings.Contains(n, "//") || strings.ContainsAny(n, "\\?#") {
			t.Fatalf("Normalize(%q) = %q", in, n)
		}
	})
}

func TestParsePattern(t *testing.T) {
	for _, c := range []struct {
		in   string
		kind Kind
		err  string
	}{
		{"/orders", Exact, ""},
		{"/orders/", Prefix, ""},
		{"/", Prefix, ""},
		{"/orders/{id}", Template, ""},
		{"/orders/{id}/items/{item}", Template, ""},
		{"orders", 0, "start with /"},
		{"/orders/{id}/", 0, "cannot end with /"},
		{"/orders/x{id}", 0, "whole segment"},
		{"/orders/{1d}", 0, "not a name"},
		{"/a/{id}/{id}", 0, "twice"},
		{"/a/../b", 0, "normal form"},
		{"/a//b", 0, "normal form"},
		{"/%61", 0, "normal form"},
		{"/a/%2f", 0, "slash"},
		{"/a/{x}/./b", 0, "normal form"},
	} {
		p, err := ParsePattern(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParsePattern(%q) = %v, want error %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || p.Kind != c.kind {
			t.Errorf("ParsePattern(%q) = %v %v, want %v", c.in, p.Kind, err, c.kind)
		}
	}
}

func mustRouter(t *testing.T, specs ...[3]string) *Router[string] {
	t.Helper()
	var entries []Entry[string]
	for _, s := range specs {
		p, err := ParsePattern(s[1])
		if err != nil {
			t.Fatal(err)
		}
		var methods []string
		if s[2] != "" {
			methods = strings.Split(s[2], ",")
		}
		host, name, _ := strings.Cut(s[0], "|")
		entries = append(entries, Entry[string]{Host: host, Pattern: p, Methods: methods, Value: name})
	}
	r, err := NewRouter(entries)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRouterMatch(t *testing.T) {
	r := mustRouter(t,
		[3]string{"|prefix-root", "/", ""},
		[3]string{"|public", "/public/", ""},
		[3]string{"|public-deep", "/public/deep/", ""},
		[3]string{"|admin", "/admin", ""},
		[3]string{"|admin-tree", "/admin/", ""},
		[3]string{"|order", "/orders/{id}", "GET"},
		[3]string{"|order-post", "/orders/{id}", "POST"},
		[3]string{"|order-new", "/orders/new", "GET"},
		[3]string{"|items", "/orders/{id}/items/{item}", ""},
		[3]string{"|items-lit", "/orders/{id}/items/all", ""},
		[3]string{"|getonly", "/get", "GET"},
		[3]string{"api.example.com|api-admin", "/admin", ""},
		[3]string{"api.example.com:8443|api-port", "/port", ""},
	)
	for _, c := range []struct {
		host, method, path string
		want               string
		params             map[string]string
		notAllowed         bool
	}{
		{"x", "GET", "/admin", "admin", nil, false},
		{"x", "GET", "/admin/", "admin-tree", nil, false},
		{"x", "GET", "/admin/users", "admin-tree", nil, false},
		{"x", "GET", "/public/a", "public", nil, false},
		{"x", "GET", "/public/deep/a", "public-deep", nil, false},
		{"x", "GET", "/publicx", "prefix-root", nil, false},
		{"x", "GET", "/orders/7", "order", map[string]string{"id": "7"}, false},
		{"x", "POST", "/orders/7", "order-post", map[string]string{"id": "7"}, false},
		{"x", "GET", "/orders/new", "order-new", nil, false},
		{"x", "GET", "/orders/a%20b", "order", map[string]string{"id": "a b"}, false},
		{"x", "GET", "/orders/7/items/all", "items-lit", map[string]string{"id": "7"}, false},
		{"x", "GET", "/orders/7/items/3", "items", map[string]string{"id": "7", "item": "3"}, false},
		{"x", "GET", "/orders/7/extra", "prefix-root", nil, false},
		{"API.example.com", "GET", "/admin", "api-admin", nil, false},
		{"api.example.com:443", "GET", "/admin", "api-admin", nil, false},
		{"api.example.com:8443", "GET", "/port", "api-port", nil, false},
		{"api.example.com:8443", "GET", "/admin", "api-admin", nil, false},
		// A fully qualified name is the same host: it must not fall
		// through to the routes for any host.
		{"api.example.com.", "GET", "/admin", "api-admin", nil, false},
		{"API.example.com.:443", "GET", "/admin", "api-admin", nil, false},
		{"api.example.com.:8443", "GET", "/port", "api-port", nil, false},
		{"api.example.com", "GET", "/public/x", "public", nil, false},
		{"x", "POST", "/get", "prefix-root", nil, false},
		// A route that accepts GET accepts HEAD (RFC 9110 §9.3.2).
		{"x", "HEAD", "/get", "getonly", nil, false},
		{"x", "HEAD", "/orders/7", "order", map[string]string{"id": "7"}, false},
	} {
		res := r.Match(c.host, c.method, c.path)
		got := ""
		if res.Entry != nil {
			got = res.Entry.Value
		}
		if got != c.want || !reflect.DeepEqual(res.Params, c.params) || res.MethodNotAllowed != c.notAllowed {
			t.Errorf("Match(%s %s %s) = %q %v %v; want %q %v %v", c.host, c.method, c.path, got, res.Params, res.MethodNotAllowed, c.want, c.params, c.notAllowed)
		}
	}
}

func TestRouterMethodNotAllowedAndNotFound(t *testing.T) {
	r := mustRouter(t, [3]string{"|get", "/get", "GET"}, [3]string{"|t", "/t/{x}", "GET,HEAD"})
	if res := r.Match("h", "POST", "/get"); res.Entry != nil || !res.MethodNotAllowed || !reflect.DeepEqual(res.Allow, []string{"GET", "HEAD"}) {
		t.Fatalf("POST /get = %+v, want 405 allowing GET, HEAD", res)
	}
	if res := r.Match("h", "DELETE", "/t/1"); res.Entry != nil || !res.MethodNotAllowed || !reflect.DeepEqual(res.Allow, []string{"GET", "HEAD"}) {
		t.Fatalf("DELETE /t/1 = %+v, want 405 allowing GET, HEAD", res)
	}
	// The methods of every route that matched the path, host-specific
	// and for any host, sorted once.
	r2 := mustRouter(t, [3]string{"h|a", "/x", "PUT"}, [3]string{"|b", "/x", "POST,GET"}, [3]string{"|c", "/x/", "DELETE"})
	if res := r2.Match("h", "PATCH", "/x"); !res.MethodNotAllowed || !reflect.DeepEqual(res.Allow, []string{"GET", "HEAD", "POST", "PUT"}) {
		t.Fatalf("PATCH /x = %+v", res)
	}
	if res := r.Match("h", "GET", "/nope"); res.Entry != nil || res.MethodNotAllowed {
		t.Fatalf("GET /nope = %+v", res)
	}
	if res := r.Match("h", "GET", "/t/"); res.Entry != nil {
		t.Fatalf("an empty parameter matched: %+v", res)
	}
}

func TestRouterDuplicates(t *testing.T) {
	for _, c := range [][]Entry[int]{
		{{Pattern: Pattern{Path: "/a", Kind: Exact}}, {Pattern: Pattern{Path: "/a", Kind: Exact}}},
		{{Pattern: Pattern{Path: "/a", Kind: Exact}, Methods: []string{"GET"}}, {Pattern: Pattern{Path: "/a", Kind: Exact}}},
		{{Pattern: Pattern{Path: "/a", Kind: Exact}}, {Pattern: Pattern{Path: "/a", Kind: Exact}, Methods: []string{"GET"}}},
	} {
		if _, err := NewRouter(c); err == nil {
			t.Errorf("NewRouter(%v) accepted duplicates", c)
		}
	}
	if _, err := NewRouter([]Entry[int]{
		{Pattern: Pattern{Path: "/a", Kind: Exact}, Methods: []string{"GET"}},
		{Pattern: Pattern{Path: "/a", Kind: Exact}, Methods: []string{"POST"}},
		{Host: "h", Pattern: Pattern{Path: "/a", Kind: Exact}},
	}); err != nil {
		t.Fatal(err)
	}
}

// The path-confusion cases: whatever the spelling, a request reaches the
// /admin rules as /admin, or is refused.
func TestPathConfusion(t *testing.T) {
	r := mustRouter(t, [3]string{"|public", "/public/", ""}, [3]string{"|admin", "/admin/", ""}, [3]string{"|admin-exact", "/admin", ""})
	for _, raw := range []string{
		"/admin", "/%61dmin", "/public/../admin", "//admin", "/./admin", "/public/./../admin",
		"/public/%2e%2e/admin", "/public/..%2fadmin", "/public%2f..%2fadmin", "/public/..;/admin",
		"/public/..\\admin", "/public/%5c..%5cadmin", "/public/%252e%252e/admin", "/ADMIN%2f", "/public/.%2E/admin",
	} {
		n, err := Normalize(raw)
		if err != nil {
			continue // refused with 400
		}
		res := r.Match("h", "GET", n)
		if res.Entry == nil {
			t.Errorf("%q → %q matched nothing", raw, n)
			continue
		}
		if strings.HasPrefix(strings.ToLower(n), "/admin") != strings.HasPrefix(res.Entry.Value, "admin") {
			t.Errorf("%q → %q reached %s", raw, n, res.Entry.Value)
		}
		if res.Entry.Value == "public" && strings.Contains(strings.ToLower(raw), "admin") && n != "/public/admin" {
			t.Errorf("%q reached the public route as %q", raw, n)
		}
	}
}

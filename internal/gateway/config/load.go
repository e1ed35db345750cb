package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/writ-dev/writ/internal/gateway/policy"
	"github.com/writ-dev/writ/internal/gateway/route"
)

// MaxFileSize bounds a route file.
const MaxFileSize = 4 << 20

// Defaults.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 60 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	DefaultUpstreamTimeout   = 30 * time.Second
	DefaultDialTimeout       = 5 * time.Second
	DefaultShutdownTimeout   = 30 * time.Second
	DefaultMaxHeaderBytes    = 64 << 10
	DefaultMaxBodyBytes      = 10 << 20
	DefaultMCPBodyBytes      = 1 << 20
	DefaultAssertionHeader   = "X-Writ-Assertion"
	DefaultAssertionIssuer   = "writ-gateway"
	DefaultAssertionTTL      = 30 * time.Second
	MaxAssertionTTL          = 5 * time.Minute
	DefaultAssertionJWKSPath = "/.well-known/writ-gateway/jwks.json"
	DefaultMetricsPath       = "/metrics"
	// MetadataPrefix is where RFC 9728 protected-resource metadata is
	// served, followed by the path of the resource.
	MetadataPrefix = "/.well-known/oauth-protected-resource"
)

// Problem is one thing wrong with a route file.
type Problem struct {
	// Line is the line in the file (0 when unknown).
	Line int
	// Where is the place in the document, such as routes[2].upstream.
	Where string
	// Msg says what is wrong.
	Msg string
}

// Error implements error.
func (p Problem) Error() string {
	var b strings.Builder
	if p.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	if p.Where != "" {
		b.WriteString(p.Where)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// ValidationError lists every problem of a route file.
type ValidationError struct {
	// File is the file's path ("" when parsed from memory).
	File string
	// Problems are in the order of the file.
	Problems []Problem
}

// Error implements error.
func (e *ValidationError) Error() string {
	var b strings.Builder
	name := e.File
	if name == "" {
		name = "route file"
	}
	if len(e.Problems) == 1 {
		fmt.Fprintf(&b, "%s: %s", name, e.Problems[0].Error())
		return b.String()
	}
	fmt.Fprintf(&b, "%s: %d problems:", name, len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.Error())
	}
	return b.String()
}

// Load reads and validates the route file at path.
func Load(path string) (*File, error) {
	data, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(data, path)
}

// ReadFile reads a route file, at most MaxFileSize bytes.
func ReadFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read route file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read route file: %w", err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("read route file %s: larger than %d bytes", path, MaxFileSize)
	}
	return data, nil
}

var intoType = regexp.MustCompile(` into [\w.\[\]*]+`)

var unknownField = regexp.MustCompile(`line (\d+): field (\S+) not found in type \S+`)

// Parse decodes and validates a route file. Errors are a
// *ValidationError naming every problem with its line.
func Parse(data []byte, path string) (*File, error) {
	verr := &ValidationError{File: path}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		verr.Problems = append(verr.Problems, yamlProblems(err)...)
		return nil, verr
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		verr.Problems = append(verr.Problems, Problem{Msg: "the file is empty"})
		return nil, verr
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		verr.Problems = append(verr.Problems, Problem{Line: root.Line, Msg: "the file must be a mapping (listen:, routes:, ...)"})
		return nil, verr
	}
	f := &File{Path: path}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(f); err != nil {
		verr.Problems = append(verr.Problems, yamlProblems(err)...)
		return nil, verr
	}
	if routes := child(root, "routes"); routes != nil && routes.Kind == yaml.SequenceNode {
		for i, n := range routes.Content {
			if i < len(f.Routes) {
				f.Routes[i].Line = n.Line
			}
		}
	}
	v := validator{root: root}
	v.file(f)
	if len(v.problems) > 0 {
		sort.SliceStable(v.problems, func(i, j int) bool { return v.problems[i].Line < v.problems[j].Line })
		verr.Problems = v.problems
		return nil, verr
	}
	f.applyDefaults()
	return f, nil
}

// yamlProblems turns a yaml error into problems with their lines, in the
// file's own words ("unknown key" rather than Go type names).
func yamlProblems(err error) []Problem {
	var te *yaml.TypeError
	var msgs []string
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	var out []Problem
	for _, m := range msgs {
		if s := unknownField.FindStringSubmatch(m); s != nil {
			line, _ := strconv.Atoi(s[1])
			out = append(out, Problem{Line: line, Msg: fmt.Sprintf("unknown key %q", s[2])})
			continue
		}
		p := Problem{Msg: m}
		if rest, ok := strings.CutPrefix(m, "line "); ok {
			if n, msg, ok := strings.Cut(rest, ": "); ok {
				if line, err := strconv.Atoi(n); err == nil {
					p = Problem{Line: line, Msg: msg}
				}
			}
		}
		p.Msg = strings.NewReplacer("!!str", "a string", "!!int", "a number", "!!seq", "a list", "!!map", "a mapping", "!!bool", "a boolean", "!!float", "a number").Replace(p.Msg)
		p.Msg = intoType.ReplaceAllStringFunc(p.Msg, func(m string) string {
			switch t := strings.TrimPrefix(m, " into "); {
			case t == "time.Duration":
				return " where a duration (like 30s) is expected"
			case strings.HasPrefix(t, "[]"):
				return " where a list is expected"
			case strings.HasPrefix(t, "map["), strings.Contains(t, "config."):
				return " where a mapping is expected"
			case t == "bool" || t == "*bool":
				return " where true or false is expected"
			case strings.HasPrefix(t, "int") || strings.HasPrefix(t, "float"):
				return " where a number is expected"
			}
			return " where a string is expected"
		})
		out = append(out, p)
	}
	return out
}

// child returns the value of key in mapping n.
func child(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// keyLine returns the line of key in mapping n, or n's own line.
func keyLine(n *yaml.Node, key string) int {
	if n == nil {
		return 0
	}
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				return n.Content[i].Line
			}
		}
	}
	return n.Line
}

type validator struct {
	root     *yaml.Node
	problems []Problem
}

func (v *validator) add(line int, where, format string, args ...any) {
	v.problems = append(v.problems, Problem{Line: line, Where: where, Msg: fmt.Sprintf(format, args...)})
}

// item returns the node of the i-th element of the top-level list key.
func (v *validator) item(key string, i int) *yaml.Node {
	n := child(v.root, key)
	if n == nil || n.Kind != yaml.SequenceNode || i >= len(n.Content) {
		return nil
	}
	return n.Content[i]
}

func (v *validator) file(f *File) {
	if f.Listen == "" {
		v.add(0, "listen", "is required (host:port, for example 127.0.0.1:9000)")
	} else if _, _, err := net.SplitHostPort(f.Listen); err != nil {
		v.add(keyLine(v.root, "listen"), "listen", "%q is not host:port", f.Listen)
	}
	if f.TLS != nil && (f.TLS.CertFile == "" || f.TLS.KeyFile == "") {
		v.add(keyLine(v.root, "tls"), "tls", "needs both cert_file and key_file")
	}
	if m := f.Metrics; m != nil {
		line := keyLine(v.root, "metrics")
		if m.Listen != "" {
			if _, _, err := net.SplitHostPort(m.Listen); err != nil {
				v.add(line, "metrics.listen", "%q is not host:port", m.Listen)
			} else if _, port, _ := net.SplitHostPort(m.Listen); m.Listen == f.Listen && port != "0" {
				v.add(line, "metrics.listen", "is the gateway's own listener: leave it empty to serve the metrics on a path of it")
			}
		}
		if m.Path != "" && !strings.HasPrefix(m.Path, "/") {
			v.add(line, "metrics.path", "must start with /")
		}
	}
	v.durations(f)
	if f.Limits.MaxHeaderBytes < 0 || f.Limits.MaxBodyBytes < 0 {
		v.add(keyLine(v.root, "limits"), "limits", "limits cannot be negative")
	}
	issuers := map[string]bool{}
	for i, iss := range f.Issuers {
		v.issuer(i, iss, issuers)
	}
	if in := f.Introspection; in != nil {
		line := keyLine(v.root, "introspection")
		if err := httpURL(in.Endpoint); err != nil {
			v.add(line, "introspection.endpoint", "%v", err)
		}
		if in.ClientID == "" {
			v.add(line, "introspection.client_id", "is required")
		}
		if in.ClientSecretFile == "" {
			v.add(line, "introspection.client_secret_file", "is required (the file holding the gateway's client secret)")
		}
		switch in.AuthMethod {
		case "", "client_secret_basic", "client_secret_post":
		default:
			v.add(line, "introspection.auth_method", "%q is neither client_secret_basic nor client_secret_post", in.AuthMethod)
		}
		if in.Timeout < 0 {
			v.add(line, "introspection.timeout", "cannot be negative")
		}
		if in.JWTResponse && in.Issuer == "" {
			v.add(line, "introspection.issuer", "is required with jwt_response (the iss of the signed responses)")
		}
		if in.JWKSURI != "" {
			if err := httpURL(in.JWKSURI); err != nil {
				v.add(line, "introspection.jwks_uri", "%v", err)
			}
		}
		if in.CacheSize < 0 || in.CacheTTL < 0 {
			v.add(line, "introspection", "cache_size and cache_ttl cannot be negative")
		}
	}
	d := f.DPoP
	switch d.Replay {
	case "", "memory":
		if d.RedisURL != "" {
			v.add(keyLine(v.root, "dpop"), "dpop.redis_url", "is only used with replay: redis")
		}
	case "redis":
		if d.RedisURL == "" {
			v.add(keyLine(v.root, "dpop"), "dpop.redis_url", "is required with replay: redis")
		}
	default:
		v.add(keyLine(v.root, "dpop"), "dpop.replay", "%q is neither memory nor redis", d.Replay)
	}
	if d.Origin != "" {
		if u, err := url.Parse(d.Origin); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			v.add(keyLine(v.root, "dpop"), "dpop.origin", "%q is not an origin such as https://api.example.com", d.Origin)
		}
	}
	for _, a := range d.Algorithms {
		if !knownAlg(a) {
			v.add(keyLine(v.root, "dpop"), "dpop.algorithms", "%q is not an asymmetric signature algorithm", a)
		}
	}
	if d.MaxAge < 0 || d.CacheSize < 0 {
		v.add(keyLine(v.root, "dpop"), "dpop", "max_age and cache_size cannot be negative")
	}
	if a := f.Assertion; a != nil {
		line := keyLine(v.root, "identity_assertion")
		if a.Header != "" && !validHeaderName(a.Header) {
			v.add(line, "identity_assertion.header", "%q is not a header name", a.Header)
		}
		if a.TTL < 0 || a.TTL > MaxAssertionTTL {
			v.add(line, "identity_assertion.ttl", "must be between 0 and %s", MaxAssertionTTL)
		}
		if a.JWKSPath != "" {
			if p, err := route.Normalize(a.JWKSPath); err != nil || p != a.JWKSPath || strings.HasSuffix(p, "/") {
				v.add(line, "identity_assertion.jwks_path", "%q is not a normal path", a.JWKSPath)
			}
		}
	}
	if len(f.Routes) == 0 {
		v.add(0, "routes", "at least one route is required")
	}
	routeNames := map[string]int{}
	for i := range f.Routes {
		v.route(f, i, issuers, routeNames)
	}
	names := map[string]bool{}
	for i := range f.Tests {
		v.test(i, &f.Tests[i])
		if names[f.Tests[i].Name] {
			v.add(v.item("tests", i).Line, fmt.Sprintf("tests[%d]", i), "the name %q is used twice", f.Tests[i].Name)
		}
		names[f.Tests[i].Name] = true
	}
}

func (v *validator) durations(f *File) {
	t := f.Timeouts
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"read_header", t.ReadHeader}, {"read", t.Read}, {"write", t.Write}, {"idle", t.Idle}, {"upstream", t.Upstream}, {"dial", t.Dial}, {"shutdown", t.Shutdown}} {
		if d.v < 0 {
			v.add(keyLine(child(v.root, "timeouts"), d.name), "timeouts."+d.name, "cannot be negative")
		}
	}
}

func (v *validator) issuer(i int, iss Issuer, seen map[string]bool) {
	n := v.item("issuers", i)
	where := fmt.Sprintf("issuers[%d]", i)
	if iss.Issuer == "" {
		v.add(n.Line, where+".issuer", "is required (the exact iss value)")
		return
	}
	if u, err := url.Parse(iss.Issuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		v.add(keyLine(n, "issuer"), where+".issuer", "%q is not an http or https URL", iss.Issuer)
	}
	if seen[iss.Key()] {
		v.add(n.Line, where, "issuer %q is configured twice", iss.Key())
	}
	seen[iss.Key()] = true
	if iss.JWKSURI != "" && iss.JWKSFile != "" {
		v.add(keyLine(n, "jwks_file"), where, "jwks_uri and jwks_file exclude each other")
	}
	if iss.JWKSURI != "" {
		if err := httpURL(iss.JWKSURI); err != nil {
			v.add(keyLine(n, "jwks_uri"), where+".jwks_uri", "%v", err)
		}
	}
	if len(iss.Audiences) == 0 {
		v.add(n.Line, where+".audiences", "at least one audience is required (the identifier of the APIs behind the gateway)")
	}
	for _, a := range iss.Algorithms {
		if !knownAlg(a) {
			v.add(keyLine(n, "algorithms"), where+".algorithms", "%q is not an asymmetric signature algorithm", a)
		}
	}
	if iss.Leeway < 0 || iss.Leeway > 5*time.Minute {
		v.add(keyLine(n, "leeway"), where+".leeway", "must be between 0 and 5m")
	}
}

func knownAlg(a string) bool {
	switch a {
	case "ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA":
		return true
	}
	return false
}

func (v *validator) route(f *File, i int, issuers map[string]bool, names map[string]int) {
	r := &f.Routes[i]
	n := v.item("routes", i)
	where := fmt.Sprintf("routes[%d]", i)
	at := func(key string) int { return keyLine(n, key) }
	if r.Name != "" {
		if j, dup := names[r.Name]; dup {
			v.add(at("name"), where+".name", "%q is also the name of routes[%d]", r.Name, j)
		}
		names[r.Name] = i
	}
	if r.Path == "" {
		v.add(n.Line, where+".path", "is required")
	} else if _, err := route.ParsePattern(r.Path); err != nil {
		v.add(at("path"), where+".path", "%q %v", r.Path, err)
	}
	for _, m := range r.Methods {
		if m == "" || strings.ToUpper(m) != m || strings.ContainsAny(m, " \t/") {
			v.add(at("methods"), where+".methods", "%q is not an HTTP method in upper case", m)
		}
	}
	if r.Upstream == "" {
		v.add(n.Line, where+".upstream", "is required")
	} else if u, err := url.Parse(r.Upstream); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		v.add(at("upstream"), where+".upstream", "%q is not an http or https URL without user, query or fragment", r.Upstream)
	}
	if r.Host != "" {
		if strings.ContainsAny(r.Host, "/ @*") {
			v.add(at("host"), where+".host", "%q is not a host name (or host:port)", r.Host)
		}
	}
	p := r.Policy
	if p.Anonymous {
		for key, set := range map[string]bool{
			"allow": p.Allow != "", "scopes": p.Scopes != nil, "roles": p.Roles != nil, "groups": p.Groups != nil,
			"claims": len(p.Claims) > 0, "token": r.Token != "", "dpop": r.DPoP != "", "issuers": len(r.Issuers) > 0,
			"audiences": len(r.Audiences) > 0, "headers": len(r.Headers) > 0, "phantom": r.Phantom, "mcp": r.MCP != nil,
		} {
			if set {
				v.add(at(key), where+"."+key, "an anonymous route takes no token, so %s has no meaning", key)
			}
		}
	} else {
		if len(f.Issuers) == 0 && r.Token != "opaque" {
			v.add(n.Line, where, "the route needs a token but no issuers are configured (or mark it anonymous: true)")
		}
		if p.Allow == "" && p.Deny == "" && p.Scopes == nil && p.Roles == nil && p.Groups == nil && len(p.Claims) == 0 && (r.MCP == nil || len(r.MCP.Scopes) == 0) {
			v.add(n.Line, where, "has no rule: add allow, scopes, roles, groups or claims (allow: 'true' to accept every valid token), or anonymous: true")
		}
	}
	switch r.Token {
	case "", "jwt":
	case "opaque", "any":
		if f.Introspection == nil {
			v.add(at("token"), where+".token", "%s tokens need an introspection endpoint (introspection:)", r.Token)
		}
	default:
		v.add(at("token"), where+".token", "%q is not jwt, opaque or any", r.Token)
	}
	switch r.DPoP {
	case "", "allowed", "required":
	default:
		v.add(at("dpop"), where+".dpop", "%q is neither allowed nor required", r.DPoP)
	}
	for _, name := range r.Issuers {
		if !issuers[name] {
			v.add(at("issuers"), where+".issuers", "%q is not the name or issuer of any configured issuer", name)
		}
	}
	seenHeader := map[string]bool{}
	for h, claim := range r.Headers {
		canon := http.CanonicalHeaderKey(h)
		switch {
		case !validHeaderName(h):
			v.add(at("headers"), where+".headers", "%q is not a header name", h)
		case reservedHeader(canon):
			v.add(at("headers"), where+".headers", "%q is a header the gateway or HTTP itself manages", h)
		case seenHeader[canon]:
			v.add(at("headers"), where+".headers", "%q appears twice (header names ignore case)", h)
		}
		seenHeader[canon] = true
		if claim == "" || strings.HasPrefix(claim, ".") || strings.HasSuffix(claim, ".") || strings.Contains(claim, "..") {
			v.add(at("headers"), where+".headers."+h, "%q is not a claim path", claim)
		}
	}
	if r.Phantom {
		if r.Token != "opaque" && r.Token != "any" {
			v.add(at("phantom"), where+".phantom", "needs token: opaque (or any): phantom tokens come from introspection")
		}
		if f.Introspection != nil && !f.Introspection.JWTResponse {
			v.add(at("phantom"), where+".phantom", "needs introspection.jwt_response: true")
		}
		if r.ForwardToken {
			v.add(at("forward_token"), where+".forward_token", "excludes phantom: the upstream gets the phantom JWT")
		}
	}
	if m := r.MCP; m != nil {
		line := at("mcp")
		if u, err := url.Parse(m.Resource); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Fragment != "" || u.RawQuery != "" {
			v.add(line, where+".mcp.resource", "%q is not an absolute http(s) URL without query or fragment (RFC 8707)", m.Resource)
		} else if u.Path != "" && u.Path != "/" {
			if _, err := route.Normalize(u.EscapedPath()); err != nil {
				v.add(line, where+".mcp.resource", "the path of %q: %v", m.Resource, err)
			}
		}
		if r.ForwardToken {
			v.add(at("forward_token"), where+".forward_token", "an MCP route never passes the client's token through (RFC 9728 / MCP authorization)")
		}
		if len(r.Audiences) > 0 {
			v.add(at("audiences"), where+".audiences", "an MCP route's audience is its mcp.resource")
		}
		if m.MaxBodyBytes < 0 {
			v.add(line, where+".mcp.max_body_bytes", "cannot be negative")
		}
		for _, s := range m.AuthorizationServers {
			if err := httpURL(s); err != nil {
				v.add(line, where+".mcp.authorization_servers", "%v", err)
			}
		}
	}
	if r.IdentityAssertion != nil && *r.IdentityAssertion && f.Assertion == nil {
		v.add(at("identity_assertion"), where+".identity_assertion", "needs the top-level identity_assertion: section (its key and header)")
	}
	if r.Timeout < 0 || r.MaxBodyBytes < 0 {
		v.add(n.Line, where, "timeout and max_body_bytes cannot be negative")
	}
}

func (v *validator) test(i int, t *policy.Case) {
	n := v.item("tests", i)
	where := fmt.Sprintf("tests[%d]", i)
	if t.Name != "" {
		where += fmt.Sprintf(" (%s)", t.Name)
	}
	if err := t.Validate(); err != nil {
		v.add(n.Line, where, "%v", err)
	}
}

func (f *File) applyDefaults() {
	t := &f.Timeouts
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&t.ReadHeader, DefaultReadHeaderTimeout)
	def(&t.Read, DefaultReadTimeout)
	def(&t.Idle, DefaultIdleTimeout)
	def(&t.Upstream, DefaultUpstreamTimeout)
	def(&t.Dial, DefaultDialTimeout)
	def(&t.Shutdown, DefaultShutdownTimeout)
	if f.Limits.MaxHeaderBytes == 0 {
		f.Limits.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if f.Limits.MaxBodyBytes == 0 {
		f.Limits.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if f.DPoP.Replay == "" {
		f.DPoP.Replay = "memory"
	}
	if m := f.Metrics; m != nil && m.Path == "" {
		m.Path = DefaultMetricsPath
	}
	if a := f.Assertion; a != nil {
		if a.Header == "" {
			a.Header = DefaultAssertionHeader
		}
		if a.Issuer == "" {
			a.Issuer = DefaultAssertionIssuer
		}
		if a.TTL == 0 {
			a.TTL = DefaultAssertionTTL
		}
		if a.JWKSPath == "" {
			a.JWKSPath = DefaultAssertionJWKSPath
		}
	}
	for i := range f.Routes {
		r := &f.Routes[i]
		if r.Token == "" && !r.Policy.Anonymous {
			r.Token = "jwt"
		}
		if r.DPoP == "" && !r.Policy.Anonymous {
			r.DPoP = "allowed"
		}
		if r.Timeout == 0 {
			r.Timeout = t.Upstream
		}
		if r.MaxBodyBytes == 0 {
			r.MaxBodyBytes = f.Limits.MaxBodyBytes
		}
		if r.MCP != nil && r.MCP.MaxBodyBytes == 0 {
			r.MCP.MaxBodyBytes = DefaultMCPBodyBytes
		}
		if r.Name == "" {
			name := r.Path
			if len(r.Methods) > 0 {
				name = strings.Join(r.Methods, ",") + " " + name
			}
			if r.Host != "" {
				name = r.Host + name
			}
			r.Name = name
		}
	}
	for i := range f.Tests {
		if f.Tests[i].Request.Method == "" {
			f.Tests[i].Request.Method = http.MethodGet
		}
	}
}

func httpURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http or https URL", s)
	}
	return nil
}

func validHeaderName(h string) bool {
	if h == "" {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// reservedHeader reports headers an identity header must not replace.
func reservedHeader(canon string) bool {
	switch canon {
	case "Authorization", "Host", "Content-Length", "Content-Type", "Transfer-Encoding", "Connection", "Cookie",
		"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "Dpop", "Te", "Trailer", "Upgrade",
		"Proxy-Authorization", "Keep-Alive":
		return true
	}
	return false
}

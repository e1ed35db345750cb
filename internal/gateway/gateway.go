// Package gateway is `writ gateway`, the policy enforcement point in front
// of APIs: a reverse proxy configured by one route file (package config)
// that normalises and matches each request (package route), verifies its
// token (rs), checks DPoP proofs, asks the route's rule (package policy),
// and proxies what is allowed with identity headers the client cannot
// forge.
//
// A Gateway holds an immutable compiled configuration behind an atomic
// pointer: Reload compiles a new file and swaps it in whole, so requests in
// flight finish on the configuration they started with and an invalid
// file leaves the old one in place.
package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/writ-dev/writ/internal/gateway/config"
	"github.com/writ-dev/writ/internal/gateway/policy"
	"github.com/writ-dev/writ/internal/gateway/route"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/rs"
)

// Introspector verifies opaque tokens by introspection and exchanges them
// for the phantom JWT of an RFC 9701 response (rs/introspect.Client).
type Introspector interface {
	rs.TokenVerifier
	// Phantom returns the signed introspection response for raw and the
	// token it describes.
	Phantom(ctx context.Context, raw string) (string, *rs.Token, error)
}

// Deps are what a Gateway is built from besides the route file. The
// constructors are called again on Reload only when their part of the
// file changed.
type Deps struct {
	// Logger receives the decision log and operational messages.
	Logger *slog.Logger
	// NewVerifier builds the JWT verifier for the issuers (their
	// audiences already extended by the routes' audiences).
	NewVerifier func(ctx context.Context, issuers []config.Issuer) (rs.TokenVerifier, error)
	// NewIntrospector builds the introspection client.
	NewIntrospector func(ctx context.Context, cfg config.Introspection) (Introspector, error)
	// NewDPoP builds the DPoP proof checker.
	NewDPoP func(ctx context.Context, cfg config.DPoP) (rs.DPoPChecker, error)
	// CompilePolicy compiles a route's rule; nil for a policy.Compiler
	// with default limits.
	CompilePolicy PolicyCompiler
	// Transport reaches the upstreams; nil for a transport built from the
	// file's timeouts.
	Transport http.RoundTripper
	// Registerer receives the metrics; nil for none.
	Registerer prometheus.Registerer
	// AssertionKey signs identity assertions; nil to load the file's
	// key_file or generate one.
	AssertionKey *jose.Key
	// Now is the clock; nil for time.Now.
	Now func() time.Time
}

// Gateway is an http.Handler enforcing the route file's policy.
type Gateway struct {
	deps    Deps
	log     *slog.Logger
	now     func() time.Time
	metrics *metrics
	state   atomic.Pointer[state]
	mu      sync.Mutex // serialises Reload
	buffers *bufferPool
}

// New compiles f and returns a gateway serving it.
func New(ctx context.Context, f *config.File, deps Deps) (*Gateway, error) {
	g := &Gateway{deps: deps, log: deps.Logger, now: deps.Now, buffers: newBufferPool()}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.now == nil {
		g.now = time.Now
	}
	if g.deps.CompilePolicy == nil {
		c, err := policy.NewCompiler()
		if err != nil {
			return nil, err
		}
		g.deps.CompilePolicy = CompilerFor(c)
	}
	m, err := newMetrics(deps.Registerer)
	if err != nil {
		return nil, err
	}
	g.metrics = m
	st, err := g.compile(ctx, f, nil)
	if err != nil {
		return nil, err
	}
	g.state.Store(st)
	m.setSource(g.currentVerifiers)
	return g, nil
}

// Reload compiles f and swaps it in; on error the current configuration
// stays and the error says why.
func (g *Gateway) Reload(ctx context.Context, f *config.File) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	old := g.state.Load()
	st, err := g.compile(ctx, f, old)
	if err != nil {
		g.metrics.reloads.WithLabelValues("error").Inc()
		return err
	}
	g.state.Store(st)
	g.metrics.reloads.WithLabelValues("ok").Inc()
	return nil
}

// File returns the configuration being served.
func (g *Gateway) File() *config.File { return g.state.Load().file }

// ServeHTTP implements http.Handler.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.state.Load().serve(w, r)
}

// state is one compiled configuration; immutable once built.
type state struct {
	g        *Gateway
	file     *config.File
	router   *route.Router[*compiledRoute]
	strip    []string // canonical header names stripped from every request
	stripSet map[string]bool
	verifier rs.TokenVerifier
	intro    Introspector
	dpop     rs.DPoPChecker
	signer   *assertionSigner
	jwks     []byte // the assertion JWKS
	metadata map[string][]byte
	metrics  http.Handler // metrics on the main listener, or nil
	// shared parts kept across reloads when their configuration is equal
	issuersKey []config.Issuer
	introKey   *config.Introspection
	dpopKey    config.DPoP
	assertKey  *config.Assertion
	transports map[time.Duration]http.RoundTripper
}

// compiledRoute is one route, ready to serve.
type compiledRoute struct {
	cfg          *config.Route
	name         string
	anonymous    bool
	kind         string   // jwt, opaque, any
	dpopAlgs     []string // the algs of DPoP challenges
	dpopRequired bool
	issuers      map[string]bool // iss values; nil for all
	audiences    []string
	decider      Decider
	scopes       []string // required scopes, named in insufficient_scope
	headers      []identityHeader
	assertion    bool
	upstream     *url.URL
	proxy        http.Handler
	mcp          *mcpRoute
	maxBody      int64
	m            routeMetrics
}

type identityHeader struct{ name, claim string }

// alwaysStripped are set by the gateway (or the proxy) only.
// Besides the forwarding headers, the client-address and original-URL
// headers that frameworks, CDNs and proxies trust are never the client's.
var alwaysStripped = []string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Forwarded-Prefix", "X-Forwarded-Port", "X-Real-Ip", "X-Original-Url", "X-Rewrite-Url",
	"X-Forwarded-Server", "X-Forwarded-Ssl", "X-Forwarded-Scheme", "X-Forwarded-Uri", "X-Original-Uri", "X-Original-Host", "X-Original-Forwarded-For",
	"True-Client-Ip", "X-Client-Ip", "Cf-Connecting-Ip", "X-Cluster-Client-Ip"}

func (g *Gateway) compile(ctx context.Context, f *config.File, old *state) (*state, error) {
	st := &state{g: g, file: f, metadata: map[string][]byte{}, transports: map[time.Duration]http.RoundTripper{}}
	if old != nil && old.file.Timeouts.Dial == f.Timeouts.Dial {
		// Keep the upstream connection pools across reloads.
		for k, v := range old.transports {
			st.transports[k] = v
		}
	}
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	// Issuers: extend the audiences with those of the routes that accept
	// each issuer, so that the verifier accepts them; each route then
	// checks its own.
	issuers := slices.Clone(f.Issuers)
	byKey := map[string]string{} // name or issuer → iss
	for i := range issuers {
		issuers[i].Audiences = slices.Clone(issuers[i].Audiences)
		byKey[issuers[i].Key()] = issuers[i].Issuer
		byKey[issuers[i].Issuer] = issuers[i].Issuer
	}
	for i := range f.Routes {
		r := &f.Routes[i]
		extra := slices.Clone(r.Audiences)
		if r.MCP != nil {
			extra = append(extra, r.MCP.Resource)
		}
		for j := range issuers {
			if len(r.Issuers) == 0 || slices.Contains(r.Issuers, issuers[j].Key()) {
				for _, a := range extra {
					if !slices.Contains(issuers[j].Audiences, a) {
						issuers[j].Audiences = append(issuers[j].Audiences, a)
					}
				}
			}
		}
	}
	st.issuersKey = issuers
	needsJWT := slices.ContainsFunc(f.Routes, func(r config.Route) bool { return !r.Policy.Anonymous && r.Token != "opaque" })
	switch {
	case old != nil && reflect.DeepEqual(old.issuersKey, issuers):
		st.verifier = old.verifier
	case needsJWT && g.deps.NewVerifier == nil:
		fail("no JWT verifier available")
	case needsJWT || len(issuers) > 0:
		if g.deps.NewVerifier != nil {
			v, err := g.deps.NewVerifier(ctx, issuers)
			if err != nil {
				fail("issuers: %w", err)
			}
			st.verifier = v
		}
	}
	if in := f.Introspection; in != nil {
		st.introKey = in
		switch {
		case old != nil && old.introKey != nil && reflect.DeepEqual(*old.introKey, *in):
			st.intro = old.intro
		case g.deps.NewIntrospector == nil:
			fail("introspection: no introspection client available")
		default:
			c, err := g.deps.NewIntrospector(ctx, *in)
			if err != nil {
				fail("introspection: %w", err)
			}
			st.intro = c
		}
	}
	st.dpopKey = f.DPoP
	switch {
	case old != nil && reflect.DeepEqual(old.dpopKey, f.DPoP) && old.dpop != nil:
		st.dpop = old.dpop
	case g.deps.NewDPoP != nil:
		c, err := g.deps.NewDPoP(ctx, f.DPoP)
		if err != nil {
			fail("dpop: %w", err)
		}
		st.dpop = c
	}
	if a := f.Assertion; a != nil {
		st.assertKey = a
		if old != nil && old.assertKey != nil && reflect.DeepEqual(*old.assertKey, *a) {
			st.signer, st.jwks = old.signer, old.jwks
		} else {
			s, err := newAssertionSigner(a, g.deps.AssertionKey, g.now)
			if err != nil {
				fail("identity_assertion: %w", err)
			} else {
				st.signer = s
				st.jwks = s.jwks()
			}
		}
	}

	strip := map[string]bool{}
	for _, h := range alwaysStripped {
		strip[h] = true
	}
	if f.Assertion != nil {
		strip[http.CanonicalHeaderKey(f.Assertion.Header)] = true
	}
	entries := make([]route.Entry[*compiledRoute], 0, len(f.Routes))
	for i := range f.Routes {
		r := &f.Routes[i]
		cr, err := st.compileRoute(r, byKey)
		if err != nil {
			fail("routes[%d] (%s, line %d): %w", i, r.Name, r.Line, err)
			continue
		}
		for _, h := range cr.headers {
			strip[h.name] = true
		}
		pat, _ := route.ParsePattern(r.Path)
		entries = append(entries, route.Entry[*compiledRoute]{Host: r.Host, Methods: r.Methods, Pattern: pat, Value: cr})
	}
	if len(errs) == 0 {
		router, err := route.NewRouter(entries)
		if err != nil {
			fail("routes: %w", err)
		}
		st.router = router
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	for h := range strip {
		st.strip = append(st.strip, h)
	}
	st.stripSet = strip
	slices.Sort(st.strip)
	if m := f.Metrics; m != nil && m.Listen == "" && g.metrics.registry != nil {
		st.metrics = g.metrics.handler()
	}
	return st, nil
}

func (st *state) compileRoute(r *config.Route, byKey map[string]string) (*compiledRoute, error) {
	f := st.file
	cr := &compiledRoute{cfg: r, name: r.Name, anonymous: r.Policy.Anonymous, kind: r.Token, dpopRequired: r.DPoP == "required", maxBody: r.MaxBodyBytes}
	u, err := url.Parse(r.Upstream)
	if err != nil {
		return nil, fmt.Errorf("upstream: %w", err)
	}
	cr.upstream = u
	cr.m = st.g.metrics.forRoute(cr.name, cr.anonymous)
	cr.proxy = st.newProxy(cr, r.Timeout)
	cr.dpopAlgs = []string{"ES256", "ES384", "ES512", "EdDSA", "PS256", "PS384", "PS512", "RS256", "RS384", "RS512"}
	if a, ok := st.dpop.(interface{ Algorithms() []jose.Algorithm }); ok {
		cr.dpopAlgs = nil
		for _, alg := range a.Algorithms() {
			cr.dpopAlgs = append(cr.dpopAlgs, string(alg))
		}
	}
	if cr.anonymous {
		if r.Policy.Deny != "" {
			d, err := st.g.deps.CompilePolicy(r.Name, r.Policy)
			if err != nil {
				return nil, err
			}
			cr.decider = d
		}
		return cr, nil
	}
	spec := r.Policy
	if r.MCP != nil && len(r.MCP.Scopes) > 0 {
		// The MCP scopes are a scope rule of the route (all required).
		sc := config.ScopeRule{}
		if spec.Scopes != nil {
			sc = *spec.Scopes
		}
		sc.All = append(slices.Clone(sc.All), r.MCP.Scopes...)
		spec.Scopes = &sc
	}
	d, err := st.g.deps.CompilePolicy(r.Name, spec)
	if err != nil {
		return nil, err
	}
	cr.decider = d
	if len(r.Issuers) > 0 {
		cr.issuers = map[string]bool{}
		for _, k := range r.Issuers {
			cr.issuers[byKey[k]] = true
		}
	}
	switch {
	case r.MCP != nil:
		cr.audiences = []string{r.MCP.Resource}
	case len(r.Audiences) > 0:
		cr.audiences = r.Audiences
	default:
		for _, iss := range f.Issuers {
			if cr.issuers == nil || cr.issuers[iss.Issuer] {
				cr.audiences = append(cr.audiences, iss.Audiences...)
			}
		}
		if r.Token == "opaque" {
			cr.audiences = nil // introspection vouches for the token
		}
	}
	if r.Policy.Scopes != nil {
		cr.scopes = append(cr.scopes, r.Policy.Scopes.All...)
	}
	for name, claim := range r.Headers {
		cr.headers = append(cr.headers, identityHeader{name: http.CanonicalHeaderKey(name), claim: claim})
	}
	slices.SortFunc(cr.headers, func(a, b identityHeader) int { return strings.Compare(a.name, b.name) })
	cr.assertion = st.signer != nil && (r.IdentityAssertion == nil || *r.IdentityAssertion)
	if r.MCP != nil {
		m, err := st.compileMCP(cr, r)
		if err != nil {
			return nil, err
		}
		cr.mcp = m
		for _, s := range r.MCP.Scopes {
			if !slices.Contains(cr.scopes, s) {
				cr.scopes = append(cr.scopes, s)
			}
		}
	}
	return cr, nil
}

// newDecisionID returns a random identifier for the decision log.
func newDecisionID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

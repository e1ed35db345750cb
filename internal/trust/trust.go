// Package trust verifies tokens issued by the external issuers writ trusts
// (store.TrustedIssuer): subject and actor tokens of token exchange, RFC 7523
// JWT bearer assertions and ID-JAGs. Registry implements
// grant.ExternalTokens over a store.TrustStore.
//
// A token's issuer is found by its exact iss, read without trusting it
// (rs.UnverifiedIssuer); an iss the store does not know is refused without
// any fetch. Each known issuer gets one compiled jwt.Verifier over its keys:
// the registered JWKS, or the set published at its JWKS URI through one
// rs.RemoteKeySet (cached, refreshed on an unknown kid, rate-limited). The
// compiled issuers are kept in a bounded LRU and re-read from the store
// after a short TTL; a record whose UpdatedAt (or keys) changed is compiled
// again, and an unchanged JWKS URI keeps its key set and its cache.
package trust

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/oauth/grant"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
	"github.com/writ-dev/writ/rs"
)

// Defaults and bounds of a Registry.
const (
	// DefaultTTL is how long a compiled issuer is used before its record
	// is read from the store again.
	DefaultTTL = 5 * time.Second
	// DefaultMaxIssuers bounds how many compiled issuers a Registry keeps;
	// beyond it the least recently used is dropped.
	DefaultMaxIssuers = 256
	// MaxTokenSize bounds a token this package verifies, in bytes.
	MaxTokenSize = 16 << 10
	// MaxIssuerLength bounds the iss looked up in the store.
	MaxIssuerLength = 2048
	// Leeway is the clock skew tolerated for exp, nbf and iat.
	Leeway = 30 * time.Second
)

// Algorithms is the allow-list of signature algorithms of external tokens:
// asymmetric ones only (a shared secret cannot be published as a JWKS).
func Algorithms() []jose.Algorithm {
	return []jose.Algorithm{jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
		jose.ES256, jose.ES384, jose.ES512, jose.EdDSA}
}

// IssuerGetter reads a trusted issuer (store.TrustStore has it).
type IssuerGetter interface {
	GetTrustedIssuer(ctx context.Context, issuer string) (store.TrustedIssuer, error)
}

// Options configure a Registry. The zero value is usable.
type Options struct {
	// TTL is how long a compiled issuer is used before its record is read
	// again; zero means DefaultTTL, negative reads it on every use.
	TTL time.Duration
	// MaxIssuers bounds the compiled issuers kept; zero or less means
	// DefaultMaxIssuers.
	MaxIssuers int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// KeySetOptions are given to every rs.RemoteKeySet (after the
	// registry's own HTTP client, so that a rs.WithHTTPClient here
	// replaces it).
	KeySetOptions []rs.Option
	// AllowInsecureJWKSURI accepts http JWKS URIs on any host, not only
	// on loopback hosts; for tests and development only.
	AllowInsecureJWKSURI bool
}

// Registry verifies external tokens. It is safe for concurrent use.
type Registry struct {
	src      IssuerGetter
	ttl      time.Duration
	max      int
	now      func() time.Time
	ksOpts   []rs.Option
	ctx      context.Context
	insecure bool

	mu     sync.Mutex
	byIss  map[string]*list.Element // values are *compiled
	lru    *list.List               // most recently used first
	remote map[string]*rs.RemoteKeySet
	// gen grows with every invalidation: a read that began before one may
	// have seen the old record, and is cached stale (read again at its
	// next use), as the server's client cache does.
	gen uint64
}

// compiled is one issuer made ready to verify.
type compiled struct {
	rec      store.TrustedIssuer
	verifier *jwt.Verifier
	err      error // a record that cannot be compiled (bad JWKS, bad URI)
	loadedAt time.Time
}

var _ grant.ExternalTokens = (*Registry)(nil)

// New returns a Registry over src. ctx is the life of the remote key sets
// (their fetches run under it); cancelling it fails every later fetch.
func New(ctx context.Context, src IssuerGetter, opts Options) *Registry {
	if ctx == nil {
		ctx = context.Background()
	}
	r := &Registry{src: src, ttl: opts.TTL, max: opts.MaxIssuers, now: opts.Now, ctx: ctx,
		insecure: opts.AllowInsecureJWKSURI,
		byIss:    make(map[string]*list.Element), lru: list.New(), remote: make(map[string]*rs.RemoteKeySet)}
	if r.ttl == 0 {
		r.ttl = DefaultTTL
	}
	if r.max <= 0 {
		r.max = DefaultMaxIssuers
	}
	if r.now == nil {
		r.now = time.Now
	}
	insecure := opts.AllowInsecureJWKSURI
	client := &http.Client{CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		return CheckJWKSURI(req.URL.String(), insecure)
	}}
	r.ksOpts = append([]rs.Option{rs.WithHTTPClient(client), rs.WithClock(r.now)}, opts.KeySetOptions...)
	return r
}

// Verify implements grant.ExternalTokens: raw must be a JWT whose exact iss
// is a trusted issuer with use among its Uses, signed by one of its keys
// with an allowed asymmetric algorithm, within exp/nbf/iat (Leeway), with
// a sub, and, when audiences is not empty, with one of them in its aud.
func (r *Registry) Verify(ctx context.Context, raw, use string, audiences []string) (*jwt.Token, *store.TrustedIssuer, error) {
	if len(raw) > MaxTokenSize {
		return nil, nil, fmt.Errorf("%w: %d bytes, limit %d", jwt.ErrTooLarge, len(raw), MaxTokenSize)
	}
	iss, err := rs.UnverifiedIssuer(raw)
	if err != nil {
		return nil, nil, err
	}
	if iss == "" || len(iss) > MaxIssuerLength {
		return nil, nil, fmt.Errorf("%w: unknown issuer", grant.ErrUntrustedIssuer)
	}
	c, err := r.issuer(ctx, iss)
	if err != nil {
		return nil, nil, err
	}
	if !slices.Contains(c.rec.Uses, use) {
		return nil, nil, fmt.Errorf("%w: the issuer is not trusted for %s", grant.ErrUntrustedIssuer, use)
	}
	if c.err != nil {
		return nil, nil, c.err
	}
	tok, err := c.verifier.Verify(ctx, raw)
	if err != nil {
		return nil, nil, err
	}
	if len(audiences) > 0 {
		aud := tok.Claims().Audience
		if !slices.ContainsFunc(audiences, aud.Contains) {
			return nil, nil, jwt.ErrAudience
		}
	}
	rec := cloneIssuer(c.rec)
	return tok, &rec, nil
}

// Invalidate drops the compiled issuer iss, so that the next token of it
// reads the store again (the admin API calls it after a change).
func (r *Registry) Invalidate(iss string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gen++
	if e, ok := r.byIss[iss]; ok {
		r.lru.Remove(e)
		delete(r.byIss, iss)
		r.dropRemote(e.Value.(*compiled).rec.JWKSURI)
	}
}

// InvalidateAll makes every compiled issuer stale, for when any record
// may have changed (change notifications between nodes were lost for a
// while): each is read again at its next use, and compiled again only
// when it changed, so that the remote key sets stay warm.
func (r *Registry) InvalidateAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gen++
	for e := r.lru.Front(); e != nil; e = e.Next() {
		c := *e.Value.(*compiled) // a fresh value: readers may hold the old one
		c.loadedAt = time.Time{}
		e.Value = &c
	}
}

// issuer returns the compiled issuer iss: the cached one while it is fresh,
// else the store's record, compiled again when it changed.
func (r *Registry) issuer(ctx context.Context, iss string) (*compiled, error) {
	now := r.now()
	r.mu.Lock()
	gen := r.gen
	var old *compiled
	if e, ok := r.byIss[iss]; ok {
		old = e.Value.(*compiled)
		if r.ttl > 0 && now.Sub(old.loadedAt) < r.ttl {
			r.lru.MoveToFront(e)
			r.mu.Unlock()
			return old, nil
		}
	}
	r.mu.Unlock()

	rec, err := r.src.GetTrustedIssuer(ctx, iss)
	if errors.Is(err, store.ErrNotFound) {
		r.Invalidate(iss)
		return nil, fmt.Errorf("%w: unknown issuer", grant.ErrUntrustedIssuer)
	}
	if err != nil {
		return nil, fmt.Errorf("trust: read trusted issuer: %w", err)
	}
	if rec.Issuer != iss {
		return nil, fmt.Errorf("%w: unknown issuer", grant.ErrUntrustedIssuer)
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gen != gen {
		// Invalidated while reading: rec may be the old record. Keep it
		// for this call (and its verifier warm), stale for the next.
		now = time.Time{}
	}
	if e, ok := r.byIss[iss]; ok {
		cur := e.Value.(*compiled)
		if sameKeys(cur.rec, rec) && cur.rec.UpdatedAt.Equal(rec.UpdatedAt) {
			// Unchanged keys: keep the verifier, take the record as read
			// (a fresh value: readers may hold the old one).
			nc := &compiled{rec: cloneIssuer(rec), verifier: cur.verifier, err: cur.err, loadedAt: now}
			e.Value = nc
			r.lru.MoveToFront(e)
			return nc, nil
		}
		r.lru.Remove(e)
		delete(r.byIss, iss)
		if cur.rec.JWKSURI != rec.JWKSURI {
			r.dropRemote(cur.rec.JWKSURI)
		}
	}
	c := r.compile(rec, now)
	if r.lru.Len() >= r.max {
		oldest := r.lru.Back()
		r.lru.Remove(oldest)
		oc := oldest.Value.(*compiled)
		delete(r.byIss, oc.rec.Issuer)
		r.dropRemote(oc.rec.JWKSURI)
	}
	r.byIss[iss] = r.lru.PushFront(c)
	return c, nil
}

// dropRemote forgets the remote key set of uri unless a cached issuer
// still uses it. r.mu is held.
func (r *Registry) dropRemote(uri string) {
	if uri == "" {
		return
	}
	for e := r.lru.Front(); e != nil; e = e.Next() {
		if e.Value.(*compiled).rec.JWKSURI == uri {
			return
		}
	}
	delete(r.remote, uri)
}

// compile builds the verifier of rec. A record that cannot be compiled is
// kept with its error, so that tokens of it fail the same way until it
// changes. r.mu is held.
func (r *Registry) compile(rec store.TrustedIssuer, now time.Time) *compiled {
	c := &compiled{rec: cloneIssuer(rec), loadedAt: now}
	var keys jwt.KeySource
	switch {
	case len(rec.JWKS) > 0:
		ks, err := jose.ParseKeySet(rec.JWKS)
		if err != nil {
			c.err = fmt.Errorf("%w: the trusted issuer's jwks does not parse: %w", jwt.ErrKeySource, err)
			return c
		}
		keys = jwt.StaticKeys(ks)
	case rec.JWKSURI != "":
		if err := CheckJWKSURI(rec.JWKSURI, r.insecure); err != nil {
			c.err = fmt.Errorf("%w: %w", jwt.ErrKeySource, err)
			return c
		}
		set, ok := r.remote[rec.JWKSURI]
		if !ok {
			set = rs.NewRemoteKeySet(r.ctx, rec.JWKSURI, r.ksOpts...)
			r.remote[rec.JWKSURI] = set
		}
		keys = set
	default:
		c.err = fmt.Errorf("%w: the trusted issuer has neither jwks nor jwks_uri", jwt.ErrKeySource)
		return c
	}
	v, err := jwt.NewVerifier(keys, jwt.Config{
		Issuer:            rec.Issuer,
		SkipAudienceCheck: true, // checked by Verify against the caller's list
		Algorithms:        Algorithms(),
		Leeway:            Leeway,
		RequiredClaims:    []string{"sub"},
		MaxSize:           MaxTokenSize,
		Now:               r.now,
	})
	if err != nil {
		c.err = fmt.Errorf("%w: %w", jwt.ErrKeySource, err)
		return c
	}
	c.verifier = v
	return c
}

// CheckJWKSURI applies the rule for the JWKS URI of a trusted issuer:
// an absolute https URL without user information, or http on a loopback
// host (any host when insecure).
func CheckJWKSURI(raw string, insecure bool) error {
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" || u.User != nil || u.Fragment != "" {
		return errors.New("trust: jwks_uri must be an absolute URL without user information or fragment")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if insecure || oauth.IsLoopbackHost(u.Hostname()) {
			return nil
		}
	}
	return errors.New("trust: jwks_uri must use https (http only on a loopback host)")
}

func sameKeys(a, b store.TrustedIssuer) bool {
	return a.JWKSURI == b.JWKSURI && string(a.JWKS) == string(b.JWKS)
}

func cloneIssuer(t store.TrustedIssuer) store.TrustedIssuer {
	t.JWKS = slices.Clone(t.JWKS)
	t.Uses = slices.Clone(t.Uses)
	rules := make([]store.TrustRule, len(t.Rules))
	for i, r := range t.Rules {
		rules[i] = store.TrustRule{ClientID: r.ClientID, Audiences: slices.Clone(r.Audiences), Scopes: slices.Clone(r.Scopes)}
	}
	t.Rules = rules
	return t
}

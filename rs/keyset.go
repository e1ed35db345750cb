package rs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
)

// Defaults and bounds of a RemoteKeySet.
const (
	// DefaultMinRefreshInterval is the least time between the starts of two
	// fetches made because of a token (an unknown kid or an expired set).
	DefaultMinRefreshInterval = 30 * time.Second
	// DefaultCacheAge is how long a set is fresh when its response carries
	// no Cache-Control max-age.
	DefaultCacheAge = 5 * time.Minute
	// MaxCacheAge bounds the lifetime a response's max-age can give a set,
	// so that a key the issuer withdraws is dropped within a day.
	MaxCacheAge = 24 * time.Hour
	// DefaultMaxStale is how long after its lifetime has ended the last good
	// set is still served while every refresh fails.
	DefaultMaxStale = time.Hour
	// FetchTimeout bounds each fetch, in addition to any Timeout of the
	// HTTP client.
	FetchTimeout = 10 * time.Second
	// MaxResponseSize bounds the body of a JWK Set response. A larger body
	// fails the fetch.
	MaxResponseSize = 1 << 20
	// maxRedirects bounds the redirects a fetch follows.
	maxRedirects = 5
)

// ErrKeySetUnavailable is wrapped by the errors KeySet returns when it has
// no set it may serve: the first fetch has not succeeded yet, or the last
// good set has been stale for longer than the MaxStale limit, or the
// token's key is not in the last good set while fetching the current one
// fails. It is the
// issuer's (or the network's) fault, not the token's; a resource server
// typically answers 503 rather than 401.
var ErrKeySetUnavailable = errors.New("rs: no usable key set")

// Option configures a RemoteKeySet. Every Option is also a VerifierOption,
// applied to each key set a Verifier creates (and, for WithClock and
// WithHTTPClient, to the Verifier's own clock and discovery requests).
type Option func(*keySetConfig)

// keySetConfig is what the Options of a RemoteKeySet set.
type keySetConfig struct {
	client     *http.Client
	minRefresh time.Duration
	maxStale   time.Duration
	now        func() time.Time
}

// defaultKeySetConfig returns the settings of a RemoteKeySet without options.
func defaultKeySetConfig() keySetConfig {
	return keySetConfig{
		minRefresh: DefaultMinRefreshInterval,
		maxStale:   DefaultMaxStale,
		now:        time.Now,
	}
}

// WithHTTPClient makes the key set fetch with c instead of a client with
// default settings. c is copied, not changed: the copy refuses redirects to
// schemes other than http and https, from https to http, and beyond five
// hops, before it asks c's own CheckRedirect. Each fetch is bounded by
// FetchTimeout whatever c.Timeout says. A nil c keeps the default.
func WithHTTPClient(c *http.Client) Option {
	return func(r *keySetConfig) {
		if c != nil {
			r.client = c
		}
	}
}

// WithMinRefreshInterval sets the least time between the starts of two
// fetches that tokens cause, and the least lifetime of a fetched set. Values
// of zero or less keep DefaultMinRefreshInterval: the rate limit cannot be
// turned off.
func WithMinRefreshInterval(d time.Duration) Option {
	return func(r *keySetConfig) {
		if d > 0 {
			r.minRefresh = d
		}
	}
}

// WithMaxStale sets how long after its lifetime has ended the last good set
// is still served while refreshes fail; after that KeySet returns an error
// wrapping ErrKeySetUnavailable until a fetch succeeds. Zero or less means
// a set is never served past its lifetime.
func WithMaxStale(d time.Duration) Option {
	return func(r *keySetConfig) { r.maxStale = max(d, 0) }
}

// WithClock makes the key set read the time from now instead of time.Now,
// for tests. A nil now keeps time.Now.
func WithClock(now func() time.Time) Option {
	return func(r *keySetConfig) {
		if now != nil {
			r.now = now
		}
	}
}

// RemoteKeySet is an issuer's JWK Set, fetched from its URL and cached. It
// implements jwt.KeySource and is safe for concurrent use. Create one with
// NewRemoteKeySet and share it among all verifiers of that issuer: the cache
// and the rate limit live in the value.
type RemoteKeySet struct {
	ctx     context.Context
	url     string
	safeURL string // url without a password, for errors and Status
	keySetConfig

	mu        sync.Mutex
	set       *jose.KeySet // the last good set; nil before the first success
	fetched   time.Time    // when set was fetched
	refreshAt time.Time    // when a use of set starts a refresh ahead of expires
	expires   time.Time    // when set's lifetime ends
	lastTry   time.Time    // when the last fetch started, for the rate limit
	lastErr   error        // what the last fetch failed with; nil after a success
	inflight  *fetchCall   // the fetch under way, if any, shared by its waiters
	fetches   uint64       // fetches finished
	failures  uint64       // fetches failed
}

// fetchCall is one fetch that any number of callers may wait for.
type fetchCall struct {
	done chan struct{} // closed when the fetch has finished
	err  error         // the fetch's error, written before done is closed
}

var _ jwt.KeySource = (*RemoteKeySet)(nil)

// NewRemoteKeySet returns a key set that fetches the JWK Set published at
// jwksURL, an http or https URL, when it is first needed. It makes no
// request itself; call Refresh to load the set eagerly and to learn early
// whether the URL works.
//
// ctx is the life of the key set: fetches run under it (each with its own
// FetchTimeout), not under the context of the request that caused them, so
// that one caller giving up does not fail the fetch for the others who
// wait. Cancelling ctx makes every later fetch fail. Most programs pass
// context.Background().
func NewRemoteKeySet(ctx context.Context, jwksURL string, opts ...Option) *RemoteKeySet {
	if ctx == nil {
		ctx = context.Background()
	}
	cfg := defaultKeySetConfig()
	for _, o := range opts {
		o(&cfg)
	}
	return newRemoteKeySet(ctx, jwksURL, cfg)
}

// newRemoteKeySet is NewRemoteKeySet with its options applied.
func newRemoteKeySet(ctx context.Context, jwksURL string, cfg keySetConfig) *RemoteKeySet {
	r := &RemoteKeySet{ctx: ctx, url: jwksURL, safeURL: redactURL(jwksURL), keySetConfig: cfg}
	r.client = redirectChecked(r.client)
	return r
}

// KeySet implements jwt.KeySource. It returns the cached set, fetching it
// first when there is none it may serve. When h names a kid the cached set
// does not hold (or, without a kid, no key is bound to h's algorithm), it
// refreshes the set and returns the result, so that tokens signed with a
// newly published key verify at once. Such refreshes, and those of a set
// whose lifetime has ended, start at most once per minimum refresh interval;
// callers that miss while a fetch is under way wait for that fetch, and
// callers within the interval get the cached set as it is, for the verifier
// to report jwt.ErrKeyNotFound, unless the last fetch failed: then the key
// may exist in the set that could not be fetched, and KeySet reports the
// outage (ErrKeySetUnavailable) rather than a bad token. No caller ever waits for a routine
// refresh: once three quarters of a set's lifetime have passed, the next
// use starts a refresh in the background and gets the cached set at once,
// and so does a use after the lifetime has ended while the set is not yet
// too stale (see WithMaxStale).
//
// KeySet returns an error wrapping ErrKeySetUnavailable when it has no set
// to serve, and the context's error when ctx ends while it waits.
func (r *RemoteKeySet) KeySet(ctx context.Context, h *jose.Header) (*jose.KeySet, error) {
	now := r.now()
	r.mu.Lock()
	set, usable := r.set, r.usable(now)
	if usable && !lacksKey(set, h) {
		if !now.Before(r.refreshAt) {
			r.start(now, false) // refresh ahead; this caller does not wait
		}
		r.mu.Unlock()
		return set, nil
	}
	call := r.start(now, false)
	if call == nil { // rate-limited
		defer r.mu.Unlock()
		if usable {
			return r.serve(set, h)
		}
		return nil, r.unavailable()
	}
	r.mu.Unlock()
	if err := wait(ctx, call); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.usable(r.now()) {
		return nil, r.unavailable()
	}
	return r.serve(r.set, h)
}

// serve returns set for a token with header h. When set lacks the token's
// key and the last fetch failed, the key may well be in the set the issuer
// publishes now: that is an outage, not a bad token, so the error wraps
// ErrKeySetUnavailable. r.mu is held.
func (r *RemoteKeySet) serve(set *jose.KeySet, h *jose.Header) (*jose.KeySet, error) {
	if r.lastErr != nil && lacksKey(set, h) {
		return nil, fmt.Errorf("%w from %s: the token's key is not in the last good set, and fetching the current set failed: %w",
			ErrKeySetUnavailable, r.safeURL, r.lastErr)
	}
	return set, nil
}

// Refresh fetches the set now and returns the fetch's error; the cached set
// is replaced only on success. It ignores the rate limit, so it is meant for
// start-up and for callers who know the issuer has changed its keys, not to
// be called per request. When a fetch is already under way Refresh waits
// for it instead of starting another.
func (r *RemoteKeySet) Refresh(ctx context.Context) error {
	r.mu.Lock()
	call := r.start(r.now(), true)
	r.mu.Unlock()
	if err := wait(ctx, call); err != nil {
		return err
	}
	return call.err
}

// usable reports whether the cached set may be served at now. r.mu is held.
func (r *RemoteKeySet) usable(now time.Time) bool {
	return r.set != nil && now.Before(r.expires.Add(r.maxStale))
}

// unavailable is the error for having no set to serve. r.mu is held.
func (r *RemoteKeySet) unavailable() error {
	if r.lastErr == nil {
		return fmt.Errorf("%w from %s: the last good set is too stale", ErrKeySetUnavailable, r.safeURL)
	}
	return fmt.Errorf("%w from %s: %w", ErrKeySetUnavailable, r.safeURL, r.lastErr)
}

// start returns the fetch under way, or starts one unless the rate limit
// forbids it (force ignores the limit), in which case it returns nil. r.mu
// is held.
func (r *RemoteKeySet) start(now time.Time, force bool) *fetchCall {
	if r.inflight != nil {
		return r.inflight
	}
	// A clock that went backwards does not hold fetches off.
	if since := now.Sub(r.lastTry); !force && !r.lastTry.IsZero() && since >= 0 && since < r.minRefresh {
		return nil
	}
	call := &fetchCall{done: make(chan struct{})}
	r.inflight, r.lastTry = call, now
	go r.run(call)
	return call
}

// run performs call and publishes its result.
func (r *RemoteKeySet) run(call *fetchCall) {
	set, lifetime, err := r.fetch()
	now := r.now()
	r.mu.Lock()
	r.fetches++
	if err == nil {
		r.set, r.fetched, r.expires, r.lastErr = set, now, now.Add(lifetime), nil
		// Refresh ahead, when three quarters of the lifetime have passed,
		// so that a set in use is replaced before it expires.
		r.refreshAt = now.Add(lifetime - lifetime/4)
	} else {
		r.lastErr = err
		r.failures++
	}
	call.err = err
	r.inflight = nil
	r.mu.Unlock()
	close(call.done)
}

// wait waits for call to finish or ctx to end.
func wait(ctx context.Context, call *fetchCall) error {
	select {
	case <-call.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("rs: waiting for the key set: %w", context.Cause(ctx))
	}
}

// fetch gets and parses the set and returns it with its lifetime.
func (r *RemoteKeySet) fetch() (*jose.KeySet, time.Duration, error) {
	u, err := url.Parse(r.url)
	if err != nil {
		return nil, 0, errors.New("rs: the JWKS URL does not parse")
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, 0, fmt.Errorf("rs: JWKS URL %q must be an absolute http or https URL", r.safeURL)
	}
	ctx, cancel := context.WithTimeout(r.ctx, FetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, 0, fmt.Errorf("rs: JWKS request: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("rs: fetch JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("rs: fetch JWKS from %s: status %s", r.safeURL, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseSize+1))
	if err != nil {
		return nil, 0, fmt.Errorf("rs: read JWKS from %s: %w", r.safeURL, err)
	}
	if len(body) > MaxResponseSize {
		return nil, 0, fmt.Errorf("rs: JWKS from %s is larger than %d bytes", r.safeURL, MaxResponseSize)
	}
	set, err := jose.ParseKeySet(body)
	if err != nil {
		return nil, 0, fmt.Errorf("rs: JWKS from %s: %w", r.safeURL, err)
	}
	return set, r.lifetime(resp.Header), nil
}

// KeySetStatus is what a RemoteKeySet reports about its health, for
// metrics and readiness checks. It never holds key material or secrets.
type KeySetStatus struct {
	// URL is the JWKS URL, without a password it may contain.
	URL string
	// Keys is the number of keys in the set served; zero before the first
	// successful fetch.
	Keys int
	// LastFetch is when the set served was fetched; zero before the first
	// successful fetch.
	LastFetch time.Time
	// LastAttempt is when the last fetch started; zero before the first.
	LastAttempt time.Time
	// Expires is when the lifetime of the set served ends.
	Expires time.Time
	// LastError is the error of the last fetch, empty when it succeeded
	// (or none was made). Non-empty means the issuer's JWKS endpoint is out
	// of reach or publishes something unusable: an outage.
	LastError string
	// Stale reports that the set served has outlived its lifetime, which
	// happens only while refreshes fail (or before the next use refreshes
	// it).
	Stale bool
	// Available reports whether there is a set to serve; false before the
	// first successful fetch and once the last good set has been stale for
	// longer than the MaxStale limit. Tokens then fail with
	// ErrKeySetUnavailable.
	Available bool
	// Fetches counts the fetches finished so far, FetchErrors those of
	// them that failed.
	Fetches, FetchErrors uint64
}

// Status reports the state of the key set at the key set's current time.
func (r *RemoteKeySet) Status() KeySetStatus {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	st := KeySetStatus{
		URL:         r.safeURL,
		LastFetch:   r.fetched,
		LastAttempt: r.lastTry,
		Expires:     r.expires,
		Available:   r.usable(now),
		Fetches:     r.fetches,
		FetchErrors: r.failures,
	}
	if r.set != nil {
		st.Keys = r.set.Len()
		st.Stale = !now.Before(r.expires)
	}
	if r.lastErr != nil {
		st.LastError = r.lastErr.Error()
	}
	return st
}

// redactURL returns u with any password replaced, for messages.
func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	return p.Redacted()
}

// lifetime is how long a response with header h is fresh: its Cache-Control
// max-age less its Age, or DefaultCacheAge without a max-age, bounded to
// [minRefresh, MaxCacheAge]. no-store and no-cache count as max-age=0.
func (r *RemoteKeySet) lifetime(h http.Header) time.Duration {
	d, ok := maxAge(h.Values("Cache-Control"))
	if !ok {
		d = DefaultCacheAge
	} else if age, ok := seconds(strings.TrimSpace(h.Get("Age"))); ok {
		d -= age
	}
	return max(min(d, MaxCacheAge), r.minRefresh)
}

// maxAge reads the max-age of Cache-Control header values. With several
// (which RFC 9111 calls invalid) the smallest wins.
func maxAge(values []string) (time.Duration, bool) {
	var (
		d     time.Duration
		found bool
	)
	for _, v := range values {
		for _, dir := range strings.Split(v, ",") {
			name, arg, _ := strings.Cut(strings.TrimSpace(dir), "=")
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "no-store", "no-cache":
				return 0, true
			case "max-age":
				s, ok := seconds(strings.Trim(strings.TrimSpace(arg), `"`))
				if ok && (!found || s < d) {
					d, found = s, true
				}
			}
		}
	}
	return d, found
}

// seconds parses a delta-seconds value (RFC 9111 §1.2.2), capping it at
// MaxCacheAge.
func seconds(s string) (time.Duration, bool) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n > int64(MaxCacheAge/time.Second) {
		return MaxCacheAge, true // only overflow remains possible
	}
	return time.Duration(n) * time.Second, true
}

// lacksKey reports whether set has no key that could verify a token with
// header h.
func lacksKey(set *jose.KeySet, h *jose.Header) bool {
	return h != nil && len(set.Lookup(h.KeyID, h.Algorithm, h.HasKeyID)) == 0
}

// redirectChecked returns a copy of c (or of a zero client) whose redirects
// stay on http or https, never go from https to http, and stop after
// maxRedirects hops, before c's own CheckRedirect is asked.
func redirectChecked(c *http.Client) *http.Client {
	var cp http.Client
	if c != nil {
		cp = *c
	}
	next := cp.CheckRedirect
	cp.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= maxRedirects {
			return fmt.Errorf("rs: stopped after %d redirects", maxRedirects)
		}
		switch to := req.URL.Scheme; {
		case to != "http" && to != "https":
			return fmt.Errorf("rs: refusing a redirect to scheme %q", to)
		case via[0].URL.Scheme == "https" && to != "https":
			return errors.New("rs: refusing a redirect from https to http")
		}
		if next != nil {
			return next(req, via)
		}
		return nil
	}
	return &cp
}

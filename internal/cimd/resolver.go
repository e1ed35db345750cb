package cimd

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ErrHostNotAllowed reports a client_id whose host is not on the
// operator's list (Options.Hosts).
var ErrHostNotAllowed = errors.New("cimd: the client_id's host is not among the allowed hosts")

// ErrFetch reports that the document could not be fetched: the connection,
// TLS, the status (anything but 200, redirects included), the content type,
// the size or the time limit.
var ErrFetch = errors.New("cimd: fetching the client metadata document failed")

// Defaults of Options.
const (
	// DefaultMaxBytes is the most read of a document: the draft's
	// recommended 5 kilobytes.
	DefaultMaxBytes = 5 << 10
	// DefaultTimeout bounds one fetch: connection, TLS, headers and body.
	DefaultTimeout = 5 * time.Second
	// DefaultMinTTL is the shortest time a document is cached, whatever
	// its headers say (no-store and no-cache included): a floor on how
	// often writ fetches one URL.
	DefaultMinTTL = time.Minute
	// DefaultMaxTTL is the longest time a document is cached, so that a
	// changed document is seen within it.
	DefaultMaxTTL = 24 * time.Hour
	// DefaultTTL applies when the response has no caching headers.
	DefaultTTL = 10 * time.Minute
	// DefaultFailureTTL is how long a failure is remembered before the URL
	// is fetched again: a backoff that bounds how often an attacker can
	// make writ fetch a failing URL, never taken from the response.
	DefaultFailureTTL = 10 * time.Second
	// DefaultMaxEntries bounds the cache.
	DefaultMaxEntries = 1000
	// DefaultMaxConcurrent bounds the fetches in flight.
	DefaultMaxConcurrent = 16
)

// Options configure a Resolver. Zero values take the defaults.
type Options struct {
	// Guard decides which addresses may be reached.
	Guard Guard
	// Hosts, when not empty, are the only hosts a client_id may name:
	// exact host names ("mcp.example.com"), or "*." and a domain for its
	// subdomains ("*.example.com" matches a.example.com, not example.com).
	// Compared in lower case.
	Hosts []string
	// RootCAs are the trusted roots; nil means the system's.
	RootCAs *x509.CertPool
	// MaxBytes bounds the document; more is an error.
	MaxBytes int64
	// Timeout bounds one fetch.
	Timeout time.Duration
	// MinTTL, MaxTTL bound the cache lifetime the response's headers ask
	// for; DefaultTTL is used when they ask for nothing.
	MinTTL, MaxTTL, DefaultTTL time.Duration
	// FailureTTL is how long a failure is remembered.
	FailureTTL time.Duration
	// MaxEntries bounds the number of cached documents and failures.
	MaxEntries int
	// MaxConcurrent bounds the fetches in flight; more wait.
	MaxConcurrent int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives a debug line per fetch; nil discards.
	Logger *slog.Logger
}

// Resolver fetches, validates and caches Client ID Metadata Documents. It
// is safe for concurrent use; concurrent requests for one URL share one
// fetch.
type Resolver struct {
	o      Options
	client *http.Client
	sem    chan struct{}

	mu       sync.Mutex
	entries  map[string]*entry
	inflight map[string]*call
}

type entry struct {
	doc     *Document
	err     error
	expires time.Time
}

type call struct {
	done chan struct{}
	doc  *Document
	err  error
}

// New returns a Resolver.
func New(o Options) *Resolver {
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MinTTL <= 0 {
		o.MinTTL = DefaultMinTTL
	}
	if o.MaxTTL <= 0 {
		o.MaxTTL = DefaultMaxTTL
	}
	if o.MaxTTL < o.MinTTL {
		o.MaxTTL = o.MinTTL
	}
	if o.DefaultTTL <= 0 {
		o.DefaultTTL = DefaultTTL
	}
	if o.FailureTTL <= 0 {
		o.FailureTTL = DefaultFailureTTL
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = DefaultMaxEntries
	}
	if o.MaxConcurrent <= 0 {
		o.MaxConcurrent = DefaultMaxConcurrent
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Resolver{
		o:        o,
		client:   o.Guard.NewHTTPClient(HTTPClientOptions{Timeout: o.Timeout, RootCAs: o.RootCAs}),
		sem:      make(chan struct{}, o.MaxConcurrent),
		entries:  make(map[string]*entry),
		inflight: make(map[string]*call),
	}
}

// HTTPClient returns the guarded HTTP client the resolver fetches with, for
// other URLs an untrusted client chose (its jwks_uri).
func (r *Resolver) HTTPClient() *http.Client { return r.client }

// Resolve returns the document of clientID: from the cache while it is
// fresh, else fetched. The error wraps ErrInvalidClientID,
// ErrBlockedAddress, ErrFetch or ErrInvalidDocument. It returns a copy the
// caller may keep.
func (r *Resolver) Resolve(ctx context.Context, clientID string) (*Document, error) {
	if err := CheckClientID(clientID); err != nil {
		return nil, err
	}
	if len(r.o.Hosts) > 0 {
		u, err := url.Parse(clientID)
		if err != nil || !HostAllowed(r.o.Hosts, u.Hostname()) {
			return nil, ErrHostNotAllowed
		}
	}
	now := r.o.Now()
	r.mu.Lock()
	if e, ok := r.entries[clientID]; ok && now.Before(e.expires) {
		r.mu.Unlock()
		return e.doc.clone(), e.err
	}
	c, ok := r.inflight[clientID]
	if !ok {
		c = &call{done: make(chan struct{})}
		r.inflight[clientID] = c
		// The fetch belongs to every caller waiting for it: it runs on its
		// own, bounded by the timeout, not by the first caller's context.
		go r.run(context.WithoutCancel(ctx), clientID, c)
	}
	r.mu.Unlock()
	select {
	case <-c.done:
		return c.doc.clone(), c.err
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", ErrFetch, ctx.Err())
	}
}

func (r *Resolver) run(ctx context.Context, clientID string, c *call) {
	doc, ttl, err := r.fetch(ctx, clientID)
	if err != nil {
		ttl = r.o.FailureTTL
		r.o.Logger.DebugContext(ctx, "client metadata document refused", "client_id", clip(clientID), "error", err)
	}
	now := r.o.Now()
	r.mu.Lock()
	delete(r.inflight, clientID)
	r.store(clientID, &entry{doc: doc, err: err, expires: now.Add(ttl)}, now)
	r.mu.Unlock()
	c.doc, c.err = doc, err
	close(c.done)
}

// store adds e, making room when the cache is full: expired entries go
// first, then whichever entries the map yields (a bound, not an LRU: a
// miss only costs a fetch).
func (r *Resolver) store(clientID string, e *entry, now time.Time) {
	if _, ok := r.entries[clientID]; !ok && len(r.entries) >= r.o.MaxEntries {
		for k, old := range r.entries {
			if !now.Before(old.expires) {
				delete(r.entries, k)
			}
		}
		for k := range r.entries {
			if len(r.entries) < r.o.MaxEntries {
				break
			}
			delete(r.entries, k)
		}
	}
	r.entries[clientID] = e
}

// fetch gets and validates the document, and says how long to cache it.
func (r *Resolver) fetch(ctx context.Context, clientID string) (*Document, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, r.o.Timeout)
	defer cancel()
	select {
	case r.sem <- struct{}{}:
		defer func() { <-r.sem }()
	case <-ctx.Done():
		return nil, 0, fmt.Errorf("%w: too many fetches in flight", ErrFetch)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, clientID, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %w", ErrInvalidClientID, err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "writ (client metadata document fetch)")
	if host := req.URL.Hostname(); host != "" {
		if ip, err := netip.ParseAddr(host); err == nil {
			// An IP literal is judged before any connection is made.
			if err := r.o.Guard.Check(ip); err != nil {
				return nil, 0, err
			}
		}
	}
	resp, err := r.client.Do(req)
	if err != nil {
		if errors.Is(err, ErrBlockedAddress) {
			return nil, 0, fmt.Errorf("%w (%s)", ErrBlockedAddress, req.URL.Hostname())
		}
		return nil, 0, fmt.Errorf("%w: %w", ErrFetch, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		if resp.StatusCode >= 300 && resp.StatusCode < 400 {
			return nil, 0, fmt.Errorf("%w: status %d: redirects are not followed", ErrFetch, resp.StatusCode)
		}
		return nil, 0, fmt.Errorf("%w: status %d, want 200", ErrFetch, resp.StatusCode)
	}
	if !jsonContentType(resp.Header.Get("Content-Type")) {
		return nil, 0, fmt.Errorf("%w: content type %q, want application/json", ErrFetch, clip(resp.Header.Get("Content-Type")))
	}
	if resp.ContentLength > r.o.MaxBytes {
		return nil, 0, fmt.Errorf("%w: the document is larger than %d bytes", ErrFetch, r.o.MaxBytes)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, r.o.MaxBytes+1))
	if err != nil {
		return nil, 0, fmt.Errorf("%w: reading the body: %w", ErrFetch, err)
	}
	if int64(len(body)) > r.o.MaxBytes {
		return nil, 0, fmt.Errorf("%w: the document is larger than %d bytes", ErrFetch, r.o.MaxBytes)
	}
	doc, err := ParseDocument(clientID, body)
	if err != nil {
		return nil, 0, err
	}
	ttl := r.ttl(resp.Header)
	r.o.Logger.DebugContext(ctx, "client metadata document fetched", "client_id", clip(clientID), "ttl", ttl)
	return doc, ttl, nil
}

// jsonContentType accepts application/json and application/<x>+json
// (draft §4), parameters ignored.
func jsonContentType(v string) bool {
	mt, _, err := mime.ParseMediaType(v)
	if err != nil {
		return false
	}
	sub, ok := strings.CutPrefix(mt, "application/")
	return ok && (sub == "json" || strings.HasSuffix(sub, "+json") && len(sub) > len("+json"))
}

// ttl is the freshness lifetime of a response (RFC 9111 §4.2.1): max-age
// less Age, else Expires less Date; no-store and no-cache mean none;
// clamped to [MinTTL, MaxTTL]; DefaultTTL when nothing is said.
func (r *Resolver) ttl(h http.Header) time.Duration {
	d, ok := freshness(h)
	switch {
	case !ok:
		d = r.o.DefaultTTL
	case d < r.o.MinTTL:
		d = r.o.MinTTL
	case d > r.o.MaxTTL:
		d = r.o.MaxTTL
	}
	return d
}

// freshness reads the caching headers; ok is false when they say nothing.
func freshness(h http.Header) (time.Duration, bool) {
	maxAge, haveMaxAge := time.Duration(0), false
	for _, line := range h.Values("Cache-Control") {
		for _, dir := range strings.Split(line, ",") {
			name, val, _ := strings.Cut(strings.TrimSpace(dir), "=")
			switch strings.ToLower(name) {
			case "no-store", "no-cache":
				return 0, true
			case "max-age":
				n, err := strconv.ParseInt(strings.Trim(val, `"`), 10, 64)
				if err != nil || n < 0 {
					return 0, true // an invalid max-age is stale (RFC 9111 §4.2.1)
				}
				if n > int64(365*24*time.Hour/time.Second) {
					n = int64(365 * 24 * time.Hour / time.Second)
				}
				maxAge, haveMaxAge = time.Duration(n)*time.Second, true
			}
		}
	}
	if haveMaxAge {
		if age, err := strconv.ParseInt(h.Get("Age"), 10, 64); err == nil && age > 0 {
			maxAge -= time.Duration(min(age, int64(365*24*time.Hour/time.Second))) * time.Second
		}
		return max(maxAge, 0), true
	}
	if exp := h.Get("Expires"); exp != "" {
		e, err := http.ParseTime(exp)
		if err != nil {
			return 0, true // an invalid Expires is in the past
		}
		date, err := http.ParseTime(h.Get("Date"))
		if err != nil {
			return 0, true
		}
		return max(e.Sub(date), 0), true
	}
	return 0, false
}

func (d *Document) clone() *Document {
	if d == nil {
		return nil
	}
	c := *d
	c.RedirectURIs = append([]string(nil), d.RedirectURIs...)
	c.PostLogoutRedirectURIs = append([]string(nil), d.PostLogoutRedirectURIs...)
	c.GrantTypes = append([]string(nil), d.GrantTypes...)
	c.ResponseTypes = append([]string(nil), d.ResponseTypes...)
	c.Scopes = append([]string(nil), d.Scopes...)
	c.JWKS = append([]byte(nil), d.JWKS...)
	return &c
}

// HostAllowed reports whether host matches one of patterns: an exact host
// name, or "*." and a domain for any of its subdomains; in lower case.
func HostAllowed(patterns []string, host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, p := range patterns {
		p = strings.ToLower(p)
		if suffix, ok := strings.CutPrefix(p, "*."); ok {
			if strings.HasSuffix(host, "."+suffix) {
				return true
			}
			continue
		}
		if host == p {
			return true
		}
	}
	return false
}

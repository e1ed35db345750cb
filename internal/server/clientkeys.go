package server

import (
	"container/list"
	"context"
	"errors"
	"github.com/writ-dev/writ/internal/oauth"
	"net/http"
	"net/url"
	"sync"

	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/rs"
)

// DefaultMaxClientKeySets bounds how many jwks_uri key sets a ClientKeyCache
// keeps; beyond it the least recently used is dropped.
const DefaultMaxClientKeySets = 1000

// ClientKeyCache supplies the keys of private_key_jwt clients: the jwks the
// client registered, or else the set published at its jwks_uri, fetched
// through one rs.RemoteKeySet per URI. The remote sets bring their caching
// rules along: a refresh when an assertion names an unknown kid (so a client
// can rotate its key without re-registering), at most one fetch per URI per
// minimum refresh interval, and the last good set kept when a fetch fails.
// It is safe for concurrent use.
type ClientKeyCache struct {
	opts []rs.Option
	max  int

	mu    sync.Mutex
	byURI map[string]*list.Element // values are *uriKeySet
	lru   *list.List               // most recently used first
}

type uriKeySet struct {
	uri string
	set *rs.RemoteKeySet
}

// NewClientKeyCache returns a cache of at most maxURIs remote key sets (zero
// or less means DefaultMaxClientKeySets), each made with opts. The HTTP
// client it gives them refuses redirects to anything but https or http on a
// loopback host, the rule jwks_uri itself must follow.
func NewClientKeyCache(maxURIs int, opts ...rs.Option) *ClientKeyCache {
	if maxURIs <= 0 {
		maxURIs = DefaultMaxClientKeySets
	}
	client := &http.Client{CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		return checkJWKSURI(req.URL)
	}}
	// The caller's options come last: a WithHTTPClient among them replaces
	// this client, and its redirect rule with it.
	opts = append([]rs.Option{rs.WithHTTPClient(client)}, opts...)
	return &ClientKeyCache{opts: opts, max: maxURIs, byURI: make(map[string]*list.Element), lru: list.New()}
}

// ClientKeys implements oauth.ClientKeySource.
func (kc *ClientKeyCache) ClientKeys(ctx context.Context, c *store.Client, h *jose.Header) (*jose.KeySet, error) {
	if len(c.JWKS) > 0 {
		return RegisteredClientKeys{}.ClientKeys(ctx, c, h)
	}
	if c.JWKSURI == "" {
		return nil, errors.New("client has neither jwks nor jwks_uri")
	}
	u, err := url.Parse(c.JWKSURI)
	if err != nil {
		return nil, errors.New("client jwks_uri is not a URL")
	}
	if err := checkJWKSURI(u); err != nil {
		return nil, err
	}
	return kc.remote(c.JWKSURI).KeySet(ctx, h)
}

// remote returns the key set of uri, creating it (and dropping the least
// recently used one when full) when it is not cached.
func (kc *ClientKeyCache) remote(uri string) *rs.RemoteKeySet {
	kc.mu.Lock()
	defer kc.mu.Unlock()
	if e, ok := kc.byURI[uri]; ok {
		kc.lru.MoveToFront(e)
		return e.Value.(*uriKeySet).set
	}
	if kc.lru.Len() >= kc.max {
		oldest := kc.lru.Back()
		kc.lru.Remove(oldest)
		delete(kc.byURI, oldest.Value.(*uriKeySet).uri)
	}
	// Fetches outlive the request that caused them (other requests share
	// them); each is bounded by rs.FetchTimeout.
	set := rs.NewRemoteKeySet(context.Background(), uri, kc.opts...)
	kc.byURI[uri] = kc.lru.PushFront(&uriKeySet{uri: uri, set: set})
	return set
}

// checkJWKSURI applies the registration rule for URIs writ fetches: https,
// or http on a loopback host; no user information.
func checkJWKSURI(u *url.URL) error {
	if u.Hostname() == "" || u.User != nil {
		return errors.New("client jwks_uri must be an absolute URL without user information")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if oauth.IsLoopbackHost(u.Hostname()) {
			return nil
		}
	}
	return errors.New("client jwks_uri must use https (http only on a loopback host)")
}

// originKeys sends the key lookups of clients an administrator registered
// to one source and those of the others (registered dynamically or known
// from a metadata document, whose jwks_uri anyone chose) to another, whose
// fetches are guarded against server-side request forgery.
type originKeys struct {
	admin, untrusted oauth.ClientKeySource
}

// ClientKeys implements oauth.ClientKeySource.
func (o originKeys) ClientKeys(ctx context.Context, c *store.Client, h *jose.Header) (*jose.KeySet, error) {
	if c.Origin == store.OriginAdmin {
		return o.admin.ClientKeys(ctx, c, h)
	}
	return o.untrusted.ClientKeys(ctx, c, h)
}

package server

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/writ-dev/writ/internal/cimd"
	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/store"
)

// DefaultClientCacheTTL is how long a client registration is served from
// memory before it is read again. Changes made through this node's admin
// API take effect at once; changes made on another node as soon as its
// change notification arrives (internal/cluster, PostgreSQL), and within
// this time at the latest.
const DefaultClientCacheTTL = 5 * time.Second

// maxCachedClients bounds the cache; beyond it entries are dropped.
const maxCachedClients = 10000

// ClientCache is a read-through cache of client registrations, so that the
// token endpoint does not read the database on every request.
type ClientCache struct {
	store oauth.ClientGetter
	// ttl is the time.Duration entries live (negative: no caching); it
	// changes on a configuration reload (SetTTL).
	ttl atomic.Int64
	now func() time.Time
	// meta, when set, resolves client_ids that are https URLs from their
	// metadata documents.
	meta *metadataClients

	mu      sync.RWMutex
	entries map[string]cachedClient
	// gen grows with every invalidation: a load that started before one
	// may have read the old registration, and is not cached.
	gen uint64
}

type cachedClient struct {
	c       store.Client
	err     error // store.ErrNotFound is cached too, briefly
	expires time.Time
}

// NewClientCache wraps s. ttl zero means DefaultClientCacheTTL; negative
// disables caching.
func NewClientCache(s oauth.ClientGetter, ttl time.Duration, now func() time.Time) *ClientCache {
	cc := &ClientCache{store: s, now: now, entries: make(map[string]cachedClient)}
	cc.SetTTL(ttl)
	return cc
}

// SetTTL changes how long entries live (as NewClientCache's ttl) and
// drops the cached ones, so that the new bound holds at once.
func (cc *ClientCache) SetTTL(ttl time.Duration) {
	if ttl == 0 {
		ttl = DefaultClientCacheTTL
	}
	cc.ttl.Store(int64(ttl))
	cc.InvalidateAll()
}

// GetClient implements oauth.ClientGetter.
func (cc *ClientCache) GetClient(ctx context.Context, id string) (store.Client, error) {
	ttl := time.Duration(cc.ttl.Load())
	if ttl < 0 {
		return cc.load(ctx, id)
	}
	now := cc.now()
	cc.mu.RLock()
	e, ok := cc.entries[id]
	gen := cc.gen
	cc.mu.RUnlock()
	if ok && now.Before(e.expires) {
		return e.c, e.err
	}
	c, err := cc.load(ctx, id)
	if err != nil && err != store.ErrNotFound && !isNotFound(err) {
		return c, err // do not cache transient failures
	}
	cc.mu.Lock()
	if cc.gen == gen {
		if len(cc.entries) >= maxCachedClients {
			clear(cc.entries)
		}
		cc.entries[id] = cachedClient{c: c, err: err, expires: now.Add(ttl)}
	}
	cc.mu.Unlock()
	return c, err
}

// Registered is GetClient for looking at clients that already hold
// something (introspection, the account page): when a metadata document
// cannot be resolved at that moment, the registration it left is returned,
// so that neither depends on a client's web site being up. A metadata
// document client is still unknown while metadata documents are off.
func (cc *ClientCache) Registered(ctx context.Context, id string) (store.Client, error) {
	c, err := cc.GetClient(ctx, id)
	if err == nil || cc.meta == nil || !cimd.IsClientIDURL(id) {
		return c, err
	}
	// The document could not be resolved: the registration it left.
	c, serr := cc.store.GetClient(ctx, id)
	if serr != nil || c.Origin != store.OriginMetadataDocument {
		return store.Client{}, err
	}
	return c, nil
}

// load reads a client from the store; with metadata documents on, a
// client_id that is an https URL and unknown to the store, or known only
// from its document, is resolved from its document (an administrator's
// registration under the same id wins).
func (cc *ClientCache) load(ctx context.Context, id string) (store.Client, error) {
	c, err := cc.store.GetClient(ctx, id)
	if cc.meta == nil {
		if err == nil && c.Origin == store.OriginMetadataDocument {
			// Metadata documents were turned off: the clients known only
			// from theirs are unknown again.
			return store.Client{}, fmt.Errorf("server: client %q is known from its metadata document, and metadata documents are off: %w", truncate(id, 200), store.ErrNotFound)
		}
		return c, err
	}
	if !cimd.IsClientIDURL(id) {
		return c, err
	}
	switch {
	case err == nil && c.Origin == store.OriginMetadataDocument:
		return cc.meta.resolve(ctx, id, c, true)
	case isNotFound(err):
		return cc.meta.resolve(ctx, id, store.Client{}, false)
	}
	return c, err
}

// Invalidate drops id from the cache.
func (cc *ClientCache) Invalidate(id string) {
	cc.mu.Lock()
	delete(cc.entries, id)
	cc.gen++
	cc.mu.Unlock()
}

// InvalidateAll empties the cache, for when any registration may have
// changed (change notifications were lost for a while).
func (cc *ClientCache) InvalidateAll() {
	cc.mu.Lock()
	clear(cc.entries)
	cc.gen++
	cc.mu.Unlock()
}

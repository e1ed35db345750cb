package server

import (
	"context"
	"sync"
	"time"

	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/store"
)

// DefaultClientCacheTTL is how long a client registration is served from
// memory before it is read again. Changes made through this node's admin
// API take effect at once; changes made on another node within this time.
const DefaultClientCacheTTL = 5 * time.Second

// maxCachedClients bounds the cache; beyond it entries are dropped.
const maxCachedClients = 10000

// ClientCache is a read-through cache of client registrations, so that the
// token endpoint does not read the database on every request.
type ClientCache struct {
	store oauth.ClientGetter
	ttl   time.Duration
	now   func() time.Time

	mu      sync.RWMutex
	entries map[string]cachedClient
}

type cachedClient struct {
	c       store.Client
	err     error // store.ErrNotFound is cached too, briefly
	expires time.Time
}

// NewClientCache wraps s. ttl zero means DefaultClientCacheTTL; negative
// disables caching.
func NewClientCache(s oauth.ClientGetter, ttl time.Duration, now func() time.Time) *ClientCache {
	if ttl == 0 {
		ttl = DefaultClientCacheTTL
	}
	return &ClientCache{store: s, ttl: ttl, now: now, entries: make(map[string]cachedClient)}
}

// GetClient implements oauth.ClientGetter.
func (cc *ClientCache) GetClient(ctx context.Context, id string) (store.Client, error) {
	if cc.ttl < 0 {
		return cc.store.GetClient(ctx, id)
	}
	now := cc.now()
	cc.mu.RLock()
	e, ok := cc.entries[id]
	cc.mu.RUnlock()
	if ok && now.Before(e.expires) {
		return e.c, e.err
	}
	c, err := cc.store.GetClient(ctx, id)
	if err != nil && err != store.ErrNotFound && !isNotFound(err) {
		return c, err // do not cache transient failures
	}
	cc.mu.Lock()
	if len(cc.entries) >= maxCachedClients {
		clear(cc.entries)
	}
	cc.entries[id] = cachedClient{c: c, err: err, expires: now.Add(cc.ttl)}
	cc.mu.Unlock()
	return c, err
}

// Invalidate drops id from the cache.
func (cc *ClientCache) Invalidate(id string) {
	cc.mu.Lock()
	delete(cc.entries, id)
	cc.mu.Unlock()
}

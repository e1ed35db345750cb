package rs

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

// maxCacheShards is the number of independently locked parts of a
// tokenCache, so that concurrent requests rarely contend for one lock.
const maxCacheShards = 64

// hashedSuffix is how many bytes at the end of a raw token its cache key
// hashes: the tail of the signature, which differs between any two tokens
// an issuer signed. Hashing a bounded part keeps a lookup's cost
// independent of the token's size; the full token is compared on a hit.
const hashedSuffix = 64

// evictionSample is how many entries an insertion into a full shard looks
// at to choose the one to evict.
const evictionSample = 8

// tokenCache holds verified tokens, keyed by a hash of the raw token (of
// its length and its last hashedSuffix bytes). It is
// bounded in size, serves no entry past its token's exp nor past maxAge
// after it was verified, and holds only successes. It is safe for
// concurrent use: a lookup takes one shard's read lock.
type tokenCache struct {
	seed     maphash.Seed
	maxAge   time.Duration
	perShard int
	shards   []cacheShard
}

// cacheShard is one part of a tokenCache, padded to its own cache lines.
// Its counters share the line of its lock, which every lookup writes
// anyway.
type cacheShard struct {
	mu     sync.RWMutex
	m      map[uint64]cacheEntry
	hits   atomic.Uint64
	misses atomic.Uint64
	_      [80]byte
}

// cacheEntry is one verified token and the instant (Unix nanoseconds) from
// which it must not be served any more.
type cacheEntry struct {
	tok   *Token
	until int64
}

// newTokenCache returns a cache of at most size tokens (size > 0).
func newTokenCache(size int, maxAge time.Duration) *tokenCache {
	n := min(size, maxCacheShards)
	c := &tokenCache{
		seed:     maphash.MakeSeed(),
		maxAge:   maxAge,
		perShard: size / n,
		shards:   make([]cacheShard, n),
	}
	for i := range c.shards {
		c.shards[i].m = make(map[uint64]cacheEntry)
	}
	return c
}

// key is the cache key of raw: a seeded hash of its length and its last
// hashedSuffix bytes. Tokens that share them (which only forged ones can)
// share a slot, and the full comparison in get tells them apart.
func (c *tokenCache) key(raw string) uint64 {
	tail := raw
	if len(tail) > hashedSuffix {
		tail = tail[len(tail)-hashedSuffix:]
	}
	return maphash.String(c.seed, tail) ^ uint64(len(raw))*0x9e3779b97f4a7c15
}

// get returns the token cached for raw, or nil when there is none that may
// be served at now. The hash only finds the entry: the entry's own raw
// token must equal raw, so a collision can never return another token.
func (c *tokenCache) get(raw string, now time.Time) *Token {
	h := c.key(raw)
	s := &c.shards[h%uint64(len(c.shards))]
	s.mu.RLock()
	e, ok := s.m[h]
	s.mu.RUnlock()
	if !ok || now.UnixNano() >= e.until || e.tok.Raw != raw {
		s.misses.Add(1)
		return nil
	}
	s.hits.Add(1)
	return e.tok
}

// put caches t, verified from raw at now, until its exp or now+maxAge,
// whichever comes first. A token without exp, or one already past it, is
// not cached. When the shard is full, an expired entry or else the one
// closest to its end (among a few) is evicted.
func (c *tokenCache) put(raw string, t *Token, now time.Time) {
	if t == nil || t.Expiry.IsZero() {
		return
	}
	until := min(t.Expiry.UnixNano(), now.Add(c.maxAge).UnixNano())
	nowNano := now.UnixNano()
	if until <= nowNano {
		return
	}
	h := c.key(raw)
	s := &c.shards[h%uint64(len(c.shards))]
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[h]; !ok && len(s.m) >= c.perShard {
		s.evict(nowNano)
	}
	s.m[h] = cacheEntry{tok: t, until: until}
}

// evict removes one entry: the first expired one met, or else the one of
// the first evictionSample (in the map's random iteration order) that
// expires first. s.mu is held.
func (s *cacheShard) evict(now int64) {
	var (
		victim uint64
		soon   int64
		seen   int
	)
	for h, e := range s.m {
		if e.until <= now {
			victim = h
			break
		}
		if seen == 0 || e.until < soon {
			victim, soon = h, e.until
		}
		if seen++; seen >= evictionSample {
			break
		}
	}
	delete(s.m, victim)
}

// CacheStats counts the lookups of a Verifier's verified-token cache, for
// metrics (the hit rate is Hits / (Hits + Misses)).
type CacheStats struct {
	// Hits counts tokens answered from the cache.
	Hits uint64
	// Misses counts tokens that were not in the cache (or no longer
	// servable) and were verified in full.
	Misses uint64
	// Entries is the number of tokens held, expired ones not yet evicted
	// included.
	Entries int
	// Capacity is the most tokens the cache holds.
	Capacity int
}

// stats returns the cache's counters.
func (c *tokenCache) stats() CacheStats {
	st := CacheStats{Capacity: c.perShard * len(c.shards)}
	for i := range c.shards {
		s := &c.shards[i]
		st.Hits += s.hits.Load()
		st.Misses += s.misses.Load()
	}
	st.Entries = c.len()
	return st
}

// len returns the number of entries, expired ones included.
func (c *tokenCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}

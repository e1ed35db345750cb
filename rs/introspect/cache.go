package introspect

import (
	"container/list"
	"sync"
	"time"

	"github.com/writ-dev/writ/rs"
)

// key is the SHA-256 hash of a token: what the cache and the single-flight
// table are keyed by, so that neither holds the token as a key.
type key [32]byte

// result is what one introspection found out about one active token.
type result struct {
	tok    *rs.Token
	jwt    string    // the RFC 9701 response JWT; empty in JSON mode
	jwtExp time.Time // the response JWT's exp; zero when it has none
}

// entry is one cached result.
type entry struct {
	key   key
	res   *result
	until time.Time // the entry is not served at or after until
}

// cache is a bounded LRU cache of results. It is safe for concurrent use.
type cache struct {
	max int

	mu  sync.Mutex
	m   map[key]*list.Element // of *entry
	lru list.List             // front: most recently used
}

func newCache(max int) *cache {
	return &cache{max: max, m: make(map[key]*list.Element, min(max, 1024))}
}

// get returns the result cached for k if it is still live at now. A dead
// entry is dropped.
func (c *cache) get(k key, now time.Time) (*result, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.m[k]
	if !ok {
		return nil, false
	}
	e := el.Value.(*entry)
	if !now.Before(e.until) {
		c.lru.Remove(el)
		delete(c.m, k)
		return nil, false
	}
	c.lru.MoveToFront(el)
	return e.res, true
}

// put caches res for k until until, dropping the least recently used entry
// when the cache is full.
func (c *cache) put(k key, res *result, until time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.m[k]; ok {
		e := el.Value.(*entry)
		e.res, e.until = res, until
		c.lru.MoveToFront(el)
		return
	}
	c.m[k] = c.lru.PushFront(&entry{key: k, res: res, until: until})
	for c.lru.Len() > c.max {
		el := c.lru.Back()
		c.lru.Remove(el)
		delete(c.m, el.Value.(*entry).key)
	}
}

// len returns the number of entries, live or not yet dropped.
func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// call is one introspection that any number of callers wait for.
type call struct {
	done chan struct{} // closed when res and err are set
	res  *result
	err  error
}

// flights is the table of introspections under way, so that concurrent
// misses for the same token share one request.
type flights struct {
	mu sync.Mutex
	m  map[key]*call
}

// join returns the call under way for k, or, when there is none and check
// (called under the table's lock) finds no result either, a new call that
// the caller must run and finish. Because a finished call's result is
// cached before the call leaves the table, a caller that misses the call
// finds its result through check.
func (f *flights) join(k key, check func() (*result, bool)) (c *call, res *result, leader bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.m[k]; ok {
		return c, nil, false
	}
	if res, ok := check(); ok {
		return nil, res, false
	}
	if f.m == nil {
		f.m = make(map[key]*call)
	}
	c = &call{done: make(chan struct{})}
	f.m[k] = c
	return c, nil, true
}

// finish removes the call for k from the table and wakes its waiters.
func (f *flights) finish(k key, c *call) {
	f.mu.Lock()
	delete(f.m, k)
	f.mu.Unlock()
	close(c.done)
}

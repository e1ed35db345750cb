package dpop

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"time"

	"github.com/writ-dev/writ/rs"
)

// ReplayCache remembers the proofs already used, so that each is accepted
// once (RFC 9449 §11.1). Several gateway nodes that share one cache (see
// RedisReplayCache) refuse a proof replayed at any of them.
type ReplayCache interface {
	// Use records key until the given time and reports whether it is
	// fresh, that is not recorded already. An error means the cache could
	// not decide; it must wrap rs.ErrUnavailable, and the proof is then
	// refused, never taken as fresh.
	Use(ctx context.Context, key string, until time.Time) (fresh bool, err error)
}

// DefaultReplayCacheSize is the capacity of the memory replay cache a
// Verifier builds when Config.Replay is nil.
const DefaultReplayCacheSize = 1 << 20

// ErrReplayCacheFull is wrapped, with rs.ErrUnavailable, when the memory
// replay cache holds its maximum of unexpired proofs.
var ErrReplayCacheFull = errors.New("dpop: replay cache full")

// maxShards is the number of independently locked parts of a large
// MemoryReplayCache.
const maxShards = 64

// MemoryReplayCache is a ReplayCache in this process's memory, bounded in
// the number of entries and safe for concurrent use. Its entries are split
// into shards with their own lock, each a map and a min-heap of expiries,
// so that expired entries are dropped in O(log n) as time passes.
//
// When it holds its maximum of unexpired entries it refuses new proofs
// (ErrReplayCacheFull, wrapping rs.ErrUnavailable: a 503) rather than
// forget an entry that has not expired: forgetting would let that proof be
// replayed. Size it for the peak rate of proofs times the proofs' lifetime
// (Config.MaxAge + Config.Leeway); an entry costs about 150 bytes.
type MemoryReplayCache struct {
	now      func() time.Time
	seed     maphash.Seed
	perShard int
	shards   []replayShard
}

type replayShard struct {
	mu   sync.Mutex
	seen map[string]int64 // key → expiry, Unix nanoseconds
	heap []replayEntry    // min-heap on exp, one entry per key in seen
	_    [24]byte         // 64 bytes: shards on separate cache lines
}

type replayEntry struct {
	exp int64
	key string
}

// NewMemoryReplayCache returns a cache of at most max entries (max <= 0
// means DefaultReplayCacheSize) that reads the time from now (nil means
// time.Now).
func NewMemoryReplayCache(max int, now func() time.Time) *MemoryReplayCache {
	if max <= 0 {
		max = DefaultReplayCacheSize
	}
	if now == nil {
		now = time.Now
	}
	n := 1
	for n < maxShards && max/(n*2) >= 256 {
		n *= 2
	}
	c := &MemoryReplayCache{now: now, seed: maphash.MakeSeed(), perShard: (max + n - 1) / n, shards: make([]replayShard, n)}
	for i := range c.shards {
		c.shards[i].seen = make(map[string]int64)
	}
	return c
}

// Use implements ReplayCache.
func (c *MemoryReplayCache) Use(_ context.Context, key string, until time.Time) (bool, error) {
	now := c.now().UnixNano()
	s := &c.shards[0]
	if len(c.shards) > 1 {
		s = &c.shards[maphash.String(c.seed, key)&uint64(len(c.shards)-1)]
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire(now)
	if _, ok := s.seen[key]; ok {
		return false, nil
	}
	exp := until.UnixNano()
	if exp <= now {
		// Already past its lifetime: nothing to remember, and the
		// verifier refuses such a proof by its iat before it gets here.
		return true, nil
	}
	if len(s.seen) >= c.perShard {
		return false, fmt.Errorf("%w: %w", rs.ErrUnavailable, ErrReplayCacheFull)
	}
	s.seen[key] = exp
	s.push(replayEntry{exp, key})
	return true, nil
}

// Len returns the number of entries held, expired ones not yet dropped
// included.
func (c *MemoryReplayCache) Len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += len(s.seen)
		s.mu.Unlock()
	}
	return n
}

// expire drops the entries whose expiry is not after now.
func (s *replayShard) expire(now int64) {
	for len(s.heap) > 0 && s.heap[0].exp <= now {
		delete(s.seen, s.heap[0].key)
		s.pop()
	}
}

func (s *replayShard) push(e replayEntry) {
	h := append(s.heap, e)
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if h[p].exp <= h[i].exp {
			break
		}
		h[p], h[i] = h[i], h[p]
		i = p
	}
	s.heap = h
}

func (s *replayShard) pop() {
	h := s.heap
	last := len(h) - 1
	h[0] = h[last]
	h[last] = replayEntry{}
	h = h[:last]
	i := 0
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(h) && h[l].exp < h[m].exp {
			m = l
		}
		if r < len(h) && h[r].exp < h[m].exp {
			m = r
		}
		if m == i {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	s.heap = h
}

package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"hash/maphash"
	"sync"
	"time"
)

// Backend performs one GCRA step for key, atomically: with tat the key's
// stored theoretical arrival time (now when it has none or it is past),
// the event is allowed when tat + emission - now <= tolerance, and then
// the key's TAT becomes tat + emission; otherwise nothing is stored and
// retryAfter is how long until the event would be allowed. An emission of
// zero only asks (nothing changes). Backends are safe for concurrent use;
// shared ones take now from the caller, so nodes need synchronised clocks
// (NTP), the same as for token lifetimes.
type Backend interface {
	// Take performs the step. Keys are at most MaxKeyLength bytes.
	Take(ctx context.Context, key string, now time.Time, emission, tolerance time.Duration) (allowed bool, retryAfter time.Duration, err error)
}

// MaxKeyLength bounds a key given to a Backend; Key hashes longer ones.
const MaxKeyLength = 200

// Key joins a rule name and a value (a client_id, an address) into a
// backend key, hashing a value that would make it longer than
// MaxKeyLength.
func Key(rule, value string) string {
	k := rule + "|" + value
	if len(k) <= MaxKeyLength {
		return k
	}
	sum := sha256.Sum256([]byte(value))
	return rule + "|sha256:" + hex.EncodeToString(sum[:])
}

// gcra is the step every backend performs, on a TAT in Unix nanoseconds
// (zero: none). It returns the new TAT to store (zero: store nothing).
func gcra(tat, now int64, emission, tolerance time.Duration) (allowed bool, retryAfter time.Duration, newTAT int64) {
	tat = max(tat, now)
	next := tat + int64(emission)
	if over := next - now - int64(tolerance); over > 0 {
		return false, time.Duration(over), 0
	}
	if emission == 0 {
		return true, 0, 0
	}
	return true, 0, next
}

// Memory is a Backend in this process's memory: one node's limits. It is
// bounded: at most MaxKeys keys (DefaultMaxKeys when zero); a key whose
// TAT has passed is the same as an absent one and is dropped, and when the
// table is still full arbitrary keys are evicted (they get a fresh burst),
// an eighth of the table at once, so that a flood of new keys pays for one
// sweep of the table per many keys, not one per key. The zero Memory is
// ready to use.
type Memory struct {
	// MaxKeys caps the number of keys kept.
	MaxKeys int

	once   sync.Once
	seed   maphash.Seed
	shards [memoryShards]memoryShard
}

// DefaultMaxKeys is Memory's bound when MaxKeys is zero: about 10 MB at
// most.
const DefaultMaxKeys = 1 << 17

const memoryShards = 16

type memoryShard struct {
	mu   sync.Mutex
	tats map[string]int64
}

// Take performs one GCRA step in memory; it never fails.
func (m *Memory) Take(_ context.Context, key string, now time.Time, emission, tolerance time.Duration) (bool, time.Duration, error) {
	sh := m.shard(key)
	n := now.UnixNano()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	ok, retry, next := gcra(sh.tats[key], n, emission, tolerance)
	if next == 0 {
		return ok, retry, nil
	}
	if sh.tats == nil {
		sh.tats = make(map[string]int64)
	}
	if _, present := sh.tats[key]; !present {
		m.makeRoom(sh, n)
	}
	sh.tats[key] = next
	return ok, retry, nil
}

// shard is the shard that holds key.
func (m *Memory) shard(key string) *memoryShard {
	m.once.Do(func() { m.seed = maphash.MakeSeed() })
	return &m.shards[maphash.String(m.seed, key)%memoryShards]
}

// makeRoom keeps the shard under its share of MaxKeys: first by dropping
// the keys whose TAT has passed, then, when that freed less than an
// eighth of the share, by evicting arbitrary ones down to seven eighths.
func (m *Memory) makeRoom(sh *memoryShard, now int64) {
	limit := m.MaxKeys
	if limit <= 0 {
		limit = DefaultMaxKeys
	}
	limit = max(limit/memoryShards, 1)
	if len(sh.tats) < limit {
		return
	}
	for k, t := range sh.tats {
		if t <= now {
			delete(sh.tats, k)
		}
	}
	keep := min(limit-limit/8, limit-1)
	for k := range sh.tats {
		if len(sh.tats) <= keep {
			break
		}
		delete(sh.tats, k)
	}
}

// Len is the number of keys kept, for tests and metrics.
func (m *Memory) Len() int {
	n := 0
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.Lock()
		n += len(sh.tats)
		sh.mu.Unlock()
	}
	return n
}

// Resetter is a Backend that can forget a key (the sign-in throttle
// forgets an account's failures at a successful sign-in).
type Resetter interface {
	// Reset forgets key.
	Reset(ctx context.Context, key string) error
}

// Reset forgets key.
func (m *Memory) Reset(_ context.Context, key string) error {
	sh := m.shard(key)
	sh.mu.Lock()
	delete(sh.tats, key)
	sh.mu.Unlock()
	return nil
}

package authn

import (
	"container/list"
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"sync"
	"time"

	"github.com/writ-dev/writ/internal/store"
)

// Throttle defaults.
const (
	// DefaultAccountLimit is how many failed sign-ins an account may have
	// within the window before it is locked.
	DefaultAccountLimit = 5
	// DefaultIPLimit is how many failed sign-ins a client address may have
	// within the window before it is locked.
	DefaultIPLimit = 30
	// DefaultThrottleWindow is the sliding window failures are counted in.
	DefaultThrottleWindow = 15 * time.Minute
	// DefaultMaxTrackedKeys is how many accounts, and separately how many
	// client addresses, a Throttle tracks at most. At the default limits a
	// full Throttle holds about 16 MB of account state (usernames of 35
	// bytes; at most about 32 MB with 256-byte ones) and 28 MB of address
	// state.
	DefaultMaxTrackedKeys = 1 << 16
)

// maxThrottleKeyLength bounds a tracked key; longer ones are replaced by
// their SHA-256.
const maxThrottleKeyLength = 256

// Throttle counts failed sign-ins per account and per client address in a
// sliding window and locks either once it reaches its limit, until enough
// failures have left the window. Attempts refused while locked do not count,
// so a lock always ends one window after the failure that caused it.
// Accounts are keyed by store.UsernameKey (lower case), so an account is one
// account however it is spelled; unknown usernames are counted like known
// ones, so a lock reveals nothing about whether an account exists. Client
// addresses are keyed by IPv4 address, or by IPv6 /64 prefix (one host
// usually holds a whole /64).
//
// The counts live in memory and are per node: behind a load balancer of n
// nodes an attacker may get up to n times the limits, and a restart forgets
// them. Memory is bounded: at most MaxKeys accounts and MaxKeys addresses
// are tracked, keys whose last failure left the window are dropped, and
// when the table is full the key whose last failure is oldest is evicted.
//
// The zero Throttle uses the defaults. A Throttle is safe for concurrent
// use and must not be copied after first use.
type Throttle struct {
	// AccountLimit is the number of failures within Window that locks an
	// account; zero or negative means DefaultAccountLimit.
	AccountLimit int
	// IPLimit is the number of failures within Window that locks a client
	// address; zero or negative means DefaultIPLimit.
	IPLimit int
	// Window is the sliding window; zero or negative means
	// DefaultThrottleWindow.
	Window time.Duration
	// MaxKeys caps the tracked accounts, and separately the tracked
	// addresses; zero or negative means DefaultMaxTrackedKeys.
	MaxKeys int
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu       sync.Mutex
	accounts failureTable
	ips      failureTable
}

// Allow reports whether a sign-in for account from ip may be attempted now.
// If the account or the address is locked, ok is false and retryAfter is
// how long until both are unlocked. ip may be an address or an
// address:port (such as http.Request.RemoteAddr); an empty account or ip is
// not checked.
func (t *Throttle) Allow(account, ip string) (retryAfter time.Duration, ok bool) {
	now, window := t.now(), t.window()
	t.mu.Lock()
	defer t.mu.Unlock()
	retryAfter = max(
		t.accounts.retryAfter(accountKey(account), t.accountLimit(), window, now),
		t.ips.retryAfter(ipKey(ip), t.ipLimit(), window, now),
	)
	return retryAfter, retryAfter <= 0
}

// Failure records a failed sign-in for account from ip (either may be
// empty to record only the other).
func (t *Throttle) Failure(account, ip string) {
	now, window, maxKeys := t.now(), t.window(), t.maxKeys()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.accounts.add(accountKey(account), t.accountLimit(), window, maxKeys, now)
	t.ips.add(ipKey(ip), t.ipLimit(), window, maxKeys, now)
}

// Success clears the failures of account after a successful sign-in. The
// client address keeps its count: a success does not excuse the failures
// an address had on other accounts.
func (t *Throttle) Success(account string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.accounts.remove(accountKey(account))
}

func (t *Throttle) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

func (t *Throttle) window() time.Duration {
	if t.Window <= 0 {
		return DefaultThrottleWindow
	}
	return t.Window
}

func (t *Throttle) accountLimit() int {
	if t.AccountLimit <= 0 {
		return DefaultAccountLimit
	}
	return t.AccountLimit
}

func (t *Throttle) ipLimit() int {
	if t.IPLimit <= 0 {
		return DefaultIPLimit
	}
	return t.IPLimit
}

func (t *Throttle) maxKeys() int {
	if t.MaxKeys <= 0 {
		return DefaultMaxTrackedKeys
	}
	return t.MaxKeys
}

// accountKey is the tracked form of a username: its store.UsernameKey,
// bounded in length.
func accountKey(account string) string {
	if account == "" {
		return ""
	}
	return boundKey(store.UsernameKey(account))
}

// ipKey is the tracked form of a client address: an IPv4 address (IPv4 in
// IPv6 unmapped), an IPv6 /64 prefix, or, for something that is not an
// address, the string itself, bounded in length.
func ipKey(ip string) string {
	if ip == "" {
		return ""
	}
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		ap, err := netip.ParseAddrPort(ip)
		if err != nil {
			return boundKey(ip)
		}
		addr = ap.Addr()
	}
	addr = addr.WithZone("").Unmap()
	if addr.Is4() {
		return addr.String()
	}
	return netip.PrefixFrom(addr, 64).Masked().String()
}

func boundKey(k string) string {
	if len(k) <= maxThrottleKeyLength {
		return k
	}
	sum := sha256.Sum256([]byte(k))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// failureTable tracks the recent failures of keys, least recently failed
// first. It is guarded by the Throttle's mutex.
type failureTable struct {
	entries map[string]*list.Element // of *failures
	order   list.List                // of *failures, oldest last failure first
}

type failures struct {
	key string
	// times are the latest failures (Unix nanoseconds, oldest first), at
	// most the limit of them: older ones cannot matter.
	times []int64
}

// prune drops the keys whose last failure has left the window.
func (ft *failureTable) prune(window time.Duration, now time.Time) {
	cutoff := now.Add(-window).UnixNano()
	for e := ft.order.Front(); e != nil; e = ft.order.Front() {
		f := e.Value.(*failures)
		if f.times[len(f.times)-1] > cutoff {
			return
		}
		ft.order.Remove(e)
		delete(ft.entries, f.key)
	}
}

// retryAfter is how long key stays locked: until the oldest of its last
// limit failures leaves the window, when that many are within it; zero
// when it is not locked.
func (ft *failureTable) retryAfter(key string, limit int, window time.Duration, now time.Time) time.Duration {
	if key == "" {
		return 0
	}
	ft.prune(window, now)
	e, ok := ft.entries[key]
	if !ok {
		return 0
	}
	times := e.Value.(*failures).times
	if len(times) < limit {
		return 0
	}
	until := time.Unix(0, times[len(times)-limit]).Add(window)
	return max(until.Sub(now), 0)
}

// add records a failure of key at now, evicting the least recently failed
// key when the table is full.
func (ft *failureTable) add(key string, limit int, window time.Duration, maxKeys int, now time.Time) {
	if key == "" {
		return
	}
	ft.prune(window, now)
	if ft.entries == nil {
		ft.entries = make(map[string]*list.Element)
	}
	t := now.UnixNano()
	if e, ok := ft.entries[key]; ok {
		f := e.Value.(*failures)
		f.times = append(f.times, t)
		if n := len(f.times); n > limit {
			f.times = append(f.times[:0], f.times[n-limit:]...)
		}
		ft.order.MoveToBack(e)
		return
	}
	for len(ft.entries) >= maxKeys {
		oldest := ft.order.Front()
		ft.order.Remove(oldest)
		delete(ft.entries, oldest.Value.(*failures).key)
	}
	ft.entries[key] = ft.order.PushBack(&failures{key: key, times: []int64{t}})
}

// remove forgets key.
func (ft *failureTable) remove(key string) {
	if e, ok := ft.entries[key]; ok {
		ft.order.Remove(e)
		delete(ft.entries, key)
	}
}

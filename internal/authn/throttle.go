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
	// from browsers without its device cookie before each further attempt
	// is delayed.
	DefaultAccountLimit = 5
	// DefaultBaseDelay is the delay after DefaultAccountLimit failures; it
	// doubles with each further failure.
	DefaultBaseDelay = time.Second
	// DefaultMaxDelay caps the delay between attempts on one account: at
	// most one guess per account every three minutes, 480 a day, from
	// browsers without its device cookie.
	DefaultMaxDelay = 3 * time.Minute
	// DefaultDeviceLimit is how many failed sign-ins one device cookie may
	// have within the window before it is locked.
	DefaultDeviceLimit = 10
	// DefaultIPLimit is how many failed sign-ins a client address may have
	// within the window before it is locked.
	DefaultIPLimit = 30
	// DefaultThrottleWindow is how long failures are remembered: the
	// sliding window of the address and device limits, and how long an
	// account's failures last after its latest one.
	DefaultThrottleWindow = 15 * time.Minute
	// DefaultMaxTrackedKeys is how many accounts, how many device cookies
	// and how many client addresses a Throttle tracks at most, each. Full
	// at the default limits, measured: accounts (35-byte usernames) about
	// 13 MB, device cookies 19 MB, addresses 27 MB.
	DefaultMaxTrackedKeys = 1 << 16
)

// Limits a Verdict names.
const (
	// LimitAddress is the per-address limit.
	LimitAddress = "address"
	// LimitAccount is the per-account delay (browsers without the
	// account's device cookie).
	LimitAccount = "account"
	// LimitDevice is the per-device-cookie limit.
	LimitDevice = "device"
)

// maxThrottleKeyLength bounds a tracked key; longer ones are replaced by
// their SHA-256.
const maxThrottleKeyLength = 256

// maxCountedFailures is where an account's failure count stops growing:
// enough for any delay to reach its cap.
const maxCountedFailures = 1 << 10

// Throttle limits failed sign-ins without letting strangers lock an owner
// out (OWASP's "device cookies" scheme, with a progressive delay instead of
// a lock for the account):
//
//   - A client address is locked once it has IPLimit failures within the
//     sliding Window, for every account, until enough of them left it.
//   - An account's failures from browsers without its device cookie delay
//     the next such attempt: nothing for the first AccountLimit, then
//     BaseDelay, doubling with each failure up to MaxDelay. They are
//     forgotten a Window after the latest one, or at a successful sign-in
//     from such a browser.
//   - A browser that signed in to the account before (it presents a device
//     cookie for it, see DeviceCookies) is not delayed by the account's
//     failures, and its own failures do not count against the account:
//     they count against that device cookie, which is locked once it has
//     DeviceLimit failures within the Window.
//
// Attempts refused or waiting do not count; only failures do. Accounts are
// keyed by store.UsernameKey, so an account is one account however it is
// spelled; unknown usernames are counted like known ones, so a delay
// reveals nothing about whether an account exists. Client addresses are
// keyed by IPv4 address, or by IPv6 /64 prefix (one host usually holds a
// whole /64).
//
// By default the counts live in memory and are per node: behind a load
// balancer of n nodes an attacker may get up to n times the limits, and a
// restart forgets them. With Shared they live in a backend every node
// shares (see SharedThrottle for how the limits are counted there).
// Memory is bounded: at most MaxKeys entries per table, keys whose last
// failure left the window are dropped, and when a table is full the key
// whose last failure is oldest is evicted.
//
// The zero Throttle uses the defaults. A Throttle is safe for concurrent
// use and must not be copied after first use.
type Throttle struct {
	// AccountLimit is the number of failures of an account before attempts
	// on it are delayed; zero or negative means DefaultAccountLimit.
	AccountLimit int
	// BaseDelay is the first delay; zero or negative means
	// DefaultBaseDelay.
	BaseDelay time.Duration
	// MaxDelay caps the delay (and is itself capped at Window); zero or
	// negative means DefaultMaxDelay.
	MaxDelay time.Duration
	// DeviceLimit is the number of failures within Window that locks a
	// device cookie; zero or negative means DefaultDeviceLimit.
	DeviceLimit int
	// IPLimit is the number of failures within Window that locks a client
	// address; zero or negative means DefaultIPLimit.
	IPLimit int
	// Window is how long failures count; zero or negative means
	// DefaultThrottleWindow.
	Window time.Duration
	// MaxKeys caps each table (accounts, devices, addresses); zero or
	// negative means DefaultMaxTrackedKeys.
	MaxKeys int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Shared, when set, keeps the counts in a rate limit backend shared
	// by every node (PostgreSQL or Redis) instead of this node's memory;
	// see SharedThrottle.
	Shared *SharedThrottle

	mu       sync.Mutex
	accounts failureTable
	devices  failureTable
	ips      failureTable
}

// Verdict is the Throttle's answer for one sign-in attempt.
type Verdict struct {
	// Locked, when positive, refuses the attempt: the client address or
	// the device cookie is locked for that long.
	Locked time.Duration
	// Delay, when positive, is how long the attempt must wait before its
	// password is checked: the account's progressive delay.
	Delay time.Duration
	// Limit names what refuses or delays the attempt (LimitAddress,
	// LimitDevice, LimitAccount), or is empty. It is for logs: pages must
	// not tell an account's delay from an address's lock.
	Limit string
}

// Check tells whether a sign-in for account from ip may be attempted now.
// device is the device cookie the browser presented for this account (see
// DeviceCookies.Trusted), or empty. ip may be an address or an address:port
// (such as http.Request.RemoteAddr); an empty account, device or ip is not
// checked.
func (t *Throttle) Check(account, ip, device string) Verdict {
	if t.Shared != nil {
		return t.sharedCheck(account, ip, device)
	}
	now, window := t.now(), t.window()
	t.mu.Lock()
	defer t.mu.Unlock()
	var v Verdict
	if d := t.ips.lockedFor(ipKey(ip), t.ipLimit(), window, now); d > 0 {
		v = Verdict{Locked: d, Limit: LimitAddress}
	}
	if device != "" {
		if d := t.devices.lockedFor(boundKey(device), t.deviceLimit(), window, now); d > v.Locked {
			v = Verdict{Locked: d, Limit: LimitDevice}
		}
		return v
	}
	if v.Locked > 0 {
		return v
	}
	if d := t.accounts.delayFor(accountKey(account), t.accountLimit(), t.baseDelay(), t.maxDelay(), window, now); d > 0 {
		v = Verdict{Delay: d, Limit: LimitAccount}
	}
	return v
}

// Failure records a failed sign-in for account from ip: against the device
// cookie when device is not empty, else against the account. Any of them
// may be empty to record only the others.
func (t *Throttle) Failure(account, ip, device string) {
	if t.Shared != nil {
		t.sharedFailure(account, ip, device)
		return
	}
	now, window, maxKeys := t.now(), t.window(), t.maxKeys()
	t.mu.Lock()
	defer t.mu.Unlock()
	if device != "" {
		t.devices.add(boundKey(device), t.deviceLimit(), window, maxKeys, now)
	} else {
		t.accounts.add(accountKey(account), 1, window, maxKeys, now)
	}
	t.ips.add(ipKey(ip), t.ipLimit(), window, maxKeys, now)
}

// Success records a successful sign-in: it clears the failures of the
// device cookie when device is not empty, else those of account. The
// client address keeps its count: a success does not excuse the failures
// an address had on other accounts. A success through a device cookie
// leaves the account's delay in place for browsers without one.
func (t *Throttle) Success(account, device string) {
	if t.Shared != nil {
		t.sharedSuccess(account, device)
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if device != "" {
		t.devices.remove(boundKey(device))
		return
	}
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

func (t *Throttle) deviceLimit() int {
	if t.DeviceLimit <= 0 {
		return DefaultDeviceLimit
	}
	return t.DeviceLimit
}

func (t *Throttle) baseDelay() time.Duration {
	if t.BaseDelay <= 0 {
		return DefaultBaseDelay
	}
	return t.BaseDelay
}

func (t *Throttle) maxDelay() time.Duration {
	if t.MaxDelay <= 0 {
		return min(DefaultMaxDelay, t.window())
	}
	return min(t.MaxDelay, t.window())
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

// AddressKey is the key an address is counted under by the throttles and
// the rate limits: an IPv4 address as itself, an IPv6 address as its /64
// (one subscriber's network, which holds more addresses than any table).
func AddressKey(ip string) string { return ipKey(ip) }

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
	// most as many as the table keeps: older ones cannot matter.
	times []int64
	// count is the number of failures since the key was first tracked, up
	// to maxCountedFailures.
	count int
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

// lockedFor is how long key stays locked: until the oldest of its last
// limit failures leaves the window, when that many are within it; zero
// when it is not locked.
func (ft *failureTable) lockedFor(key string, limit int, window time.Duration, now time.Time) time.Duration {
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

// delayFor is how long until key may be tried again: after limit failures,
// base doubled for each further one, capped at maxDelay, counted from the
// latest failure; zero when that time has come.
func (ft *failureTable) delayFor(key string, limit int, base, maxDelay, window time.Duration, now time.Time) time.Duration {
	if key == "" {
		return 0
	}
	ft.prune(window, now)
	e, ok := ft.entries[key]
	if !ok {
		return 0
	}
	f := e.Value.(*failures)
	if f.count < limit {
		return 0
	}
	delay := maxDelay
	if shift := f.count - limit; shift < 62 && base <= maxDelay>>shift {
		delay = base << shift
	}
	until := time.Unix(0, f.times[len(f.times)-1]).Add(delay)
	return max(until.Sub(now), 0)
}

// add records a failure of key at now, keeping the latest keep times, and
// evicting the least recently failed key when the table is full.
func (ft *failureTable) add(key string, keep int, window time.Duration, maxKeys int, now time.Time) {
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
		if n := len(f.times); n > keep {
			f.times = append(f.times[:0], f.times[n-keep:]...)
		}
		f.count = min(f.count+1, maxCountedFailures)
		ft.order.MoveToBack(e)
		return
	}
	for len(ft.entries) >= maxKeys {
		oldest := ft.order.Front()
		ft.order.Remove(oldest)
		delete(ft.entries, oldest.Value.(*failures).key)
	}
	ft.entries[key] = ft.order.PushBack(&failures{key: key, times: []int64{t}, count: 1})
}

// remove forgets key.
func (ft *failureTable) remove(key string) {
	if e, ok := ft.entries[key]; ok {
		ft.order.Remove(e)
		delete(ft.entries, key)
	}
}

package authn

import (
	"context"
	"time"

	"github.com/writ-dev/writ/internal/ratelimit"
)

// SharedThrottle keeps a Throttle's counts in a rate limit backend that
// every node shares (store/postgres or Redis), so that n nodes give an
// attacker the limits once, not n times. Each limit is a GCRA bucket
// (ratelimit) instead of the in-memory sliding window, with the same
// average rate:
//
//   - a client address may fail IPLimit times at once, then once per
//     Window/IPLimit (defaults: 30, then one every 30 s); while its bucket
//     is full it is locked;
//   - a device cookie likewise with DeviceLimit;
//   - an account (from browsers without its device cookie) may fail
//     AccountLimit times, then once per MaxDelay (defaults: 5, then one
//     every 3 minutes, the in-memory delay's cap): the in-memory delay
//     grows 1 s, 2 s, 4 s ... up to MaxDelay, the shared one is MaxDelay at
//     once. A successful sign-in forgets the account's (or the device
//     cookie's) failures, when the backend is a ratelimit.Resetter.
//
// A failing backend lets attempts through (fail open): the password check
// still runs, and Errors hears of it.
type SharedThrottle struct {
	// Backend keeps the counts.
	Backend ratelimit.Backend
	// Name prefixes the keys, so that two throttles on one backend (the
	// sign-in and the device code throttle) count apart.
	Name string
	// Errors, when set, is told of each backend failure.
	Errors func(error)
}

// sharedTimeout bounds a shared throttle's backend call, as it bounds a
// rate limit's.
const sharedTimeout = ratelimit.DefaultTimeout

// bucket is one limit of the shared throttle: its key and GCRA
// parameters.
type bucket struct {
	key                 string
	emission, tolerance time.Duration
}

func (t *Throttle) ipBucket(ip string) bucket {
	w, n := t.window(), t.ipLimit()
	return bucket{ratelimit.Key(t.Shared.Name+"_ip", ipKey(ip)), w / time.Duration(n), w}
}

func (t *Throttle) deviceBucket(device string) bucket {
	w, n := t.window(), t.deviceLimit()
	return bucket{ratelimit.Key(t.Shared.Name+"_device", boundKey(device)), w / time.Duration(n), w}
}

func (t *Throttle) accountBucket(account string) bucket {
	d, n := t.maxDelay(), t.accountLimit()
	return bucket{ratelimit.Key(t.Shared.Name+"_account", accountKey(account)), d, d * time.Duration(n)}
}

// shared runs one call f on the shared backend, bounded by sharedTimeout,
// and reports its error; the caller then goes on as if the backend had
// counted nothing (fail open).
func (t *Throttle) shared(f func(ctx context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
	defer cancel()
	if err := f(ctx); err != nil && t.Shared.Errors != nil {
		t.Shared.Errors(err)
	}
}

// ask tells how long until one more failure would fit in b (zero: now).
func (t *Throttle) ask(b bucket) (retry time.Duration) {
	t.shared(func(ctx context.Context) error {
		ok, r, err := t.Shared.Backend.Take(ctx, b.key, t.now(), 0, b.tolerance-b.emission)
		if err == nil && !ok {
			retry = r
		}
		return err
	})
	return retry
}

// count records one failure in b.
func (t *Throttle) count(b bucket) {
	t.shared(func(ctx context.Context) error {
		_, _, err := t.Shared.Backend.Take(ctx, b.key, t.now(), b.emission, b.tolerance)
		return err
	})
}

// forget forgets the failures in b, when the backend can.
func (t *Throttle) forget(b bucket) {
	if r, ok := t.Shared.Backend.(ratelimit.Resetter); ok {
		t.shared(func(ctx context.Context) error { return r.Reset(ctx, b.key) })
	}
}

func (t *Throttle) sharedCheck(account, ip, device string) Verdict {
	var v Verdict
	if ip != "" {
		if d := t.ask(t.ipBucket(ip)); d > 0 {
			v = Verdict{Locked: d, Limit: LimitAddress}
		}
	}
	if device != "" {
		if d := t.ask(t.deviceBucket(device)); d > v.Locked {
			v = Verdict{Locked: d, Limit: LimitDevice}
		}
		return v
	}
	if v.Locked > 0 || account == "" {
		return v
	}
	if d := t.ask(t.accountBucket(account)); d > 0 {
		v = Verdict{Delay: d, Limit: LimitAccount}
	}
	return v
}

func (t *Throttle) sharedFailure(account, ip, device string) {
	switch {
	case device != "":
		t.count(t.deviceBucket(device))
	case account != "":
		t.count(t.accountBucket(account))
	}
	if ip != "" {
		t.count(t.ipBucket(ip))
	}
}

func (t *Throttle) sharedSuccess(account, device string) {
	switch {
	case device != "":
		t.forget(t.deviceBucket(device))
	case account != "":
		t.forget(t.accountBucket(account))
	}
}

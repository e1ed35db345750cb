package authn

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/ratelimit"
)

// TestSharedThrottleNodes: two nodes' throttles on one backend count
// together: the address locks after IPLimit failures spread over both,
// and an account's failures on one node delay it on the other.
func TestSharedThrottleNodes(t *testing.T) {
	c := newClock()
	backend := &ratelimit.Memory{}
	node := func() *Throttle {
		return &Throttle{Now: c.Now, Shared: &SharedThrottle{Backend: backend, Name: "login"}}
	}
	a, b := node(), node()
	for i := range DefaultIPLimit {
		th := a
		if i%2 == 1 {
			th = b
		}
		th.Failure(fmt.Sprintf("user%d", i), "192.0.2.7", "")
	}
	step := DefaultThrottleWindow / DefaultIPLimit
	for _, th := range []*Throttle{a, b} {
		mustVerdict(t, th, "someone", "192.0.2.7:5555", "", Verdict{Locked: step, Limit: LimitAddress})
	}
	// The same /64 is one address; another address is free.
	mustPass(t, b, "someone", "198.51.100.1", "")
	c.Advance(step)
	mustPass(t, a, "someone", "192.0.2.7", "")

	// The account: AccountLimit failures on node a, then node b delays it
	// by MaxDelay (the rate the in-memory delay caps at).
	for i := range DefaultAccountLimit {
		a.Failure("alice", fmt.Sprintf("203.0.113.%d", i), "")
	}
	mustVerdict(t, b, "ALICE", "", "", delayed(DefaultMaxDelay))
	// A device cookie of the account is not delayed by it.
	mustPass(t, b, "alice", "", "dev-1")
	// A success forgets the account's failures on every node.
	a.Success("alice", "")
	mustPass(t, b, "alice", "", "")
}

// TestSharedThrottleDevice: a device cookie locks after DeviceLimit
// failures, counted on the shared backend, and a success clears it.
func TestSharedThrottleDevice(t *testing.T) {
	c := newClock()
	th := &Throttle{Now: c.Now, IPLimit: 1000, Shared: &SharedThrottle{Backend: &ratelimit.Memory{}, Name: "login"}}
	for range DefaultDeviceLimit {
		th.Failure("bob", "192.0.2.1", "dev-2")
	}
	v := th.Check("bob", "192.0.2.1", "dev-2")
	if v.Locked <= 0 || v.Limit != LimitDevice {
		t.Fatalf("after %d failures: %+v, want the device locked", DefaultDeviceLimit, v)
	}
	// The account is not delayed by its owner's device failures.
	mustPass(t, th, "bob", "192.0.2.1", "")
	th.Success("bob", "dev-2")
	mustPass(t, th, "bob", "192.0.2.1", "dev-2")
}

// TestSharedThrottleNamesApart: two throttles with different names on one
// backend do not count against each other.
func TestSharedThrottleNamesApart(t *testing.T) {
	c := newClock()
	backend := &ratelimit.Memory{}
	login := &Throttle{Now: c.Now, IPLimit: 2, Shared: &SharedThrottle{Backend: backend, Name: "login"}}
	device := &Throttle{Now: c.Now, IPLimit: 2, Shared: &SharedThrottle{Backend: backend, Name: "device"}}
	login.Failure("", "192.0.2.1", "")
	login.Failure("", "192.0.2.1", "")
	if v := login.Check("", "192.0.2.1", ""); v.Locked <= 0 {
		t.Fatal("login throttle not locked")
	}
	mustPass(t, device, "", "192.0.2.1", "")
}

type brokenBackend struct{ calls int }

func (b *brokenBackend) Take(context.Context, string, time.Time, time.Duration, time.Duration) (bool, time.Duration, error) {
	b.calls++
	return false, 0, errors.New("down")
}

// TestSharedThrottleFailsOpen: a failing backend neither locks nor
// delays, and each failure is reported.
func TestSharedThrottleFailsOpen(t *testing.T) {
	var errs int
	b := &brokenBackend{}
	th := &Throttle{Shared: &SharedThrottle{Backend: b, Name: "login", Errors: func(error) { errs++ }}}
	for range 50 {
		th.Failure("alice", "192.0.2.1", "")
	}
	mustPass(t, th, "alice", "192.0.2.1", "")
	if errs == 0 || errs != b.calls {
		t.Fatalf("%d errors reported for %d failed calls", errs, b.calls)
	}
}

package authn

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func newThrottle(c *clock) *Throttle { return &Throttle{Now: c.Now} }

func mustPass(t *testing.T, th *Throttle, account, ip, device string) {
	t.Helper()
	if v := th.Check(account, ip, device); v != (Verdict{}) {
		t.Fatalf("Check(%q, %q, %q) = %+v; want nothing", account, ip, device, v)
	}
}

func mustVerdict(t *testing.T, th *Throttle, account, ip, device string, want Verdict) {
	t.Helper()
	if v := th.Check(account, ip, device); v != want {
		t.Fatalf("Check(%q, %q, %q) = %+v; want %+v", account, ip, device, v, want)
	}
}

func delayed(d time.Duration) Verdict { return Verdict{Delay: d, Limit: LimitAccount} }

// TestThrottleAccountDelay: an account's failures delay the next attempt
// progressively; they never lock it.
func TestThrottleAccountDelay(t *testing.T) {
	c := newClock()
	th := newThrottle(c)
	// The first failures, from anywhere, delay nothing.
	for i := range DefaultAccountLimit - 1 {
		th.Failure("alice", fmt.Sprintf("192.0.2.%d", i), "")
		mustPass(t, th, "alice", "198.51.100.1", "")
	}
	// Then 1 s, doubling up to the cap, whatever the address or spelling.
	want := []time.Duration{1, 2, 4, 8, 16, 32, 64, 128, 180, 180}
	for i, w := range want {
		th.Failure("alice", fmt.Sprintf("203.0.113.%d", i), "")
		d := w * time.Second
		mustVerdict(t, th, "ALICE", "", "", delayed(d))
		mustVerdict(t, th, "Alice", "2001:db8::1", "", delayed(d))
		c.Advance(d - time.Nanosecond)
		mustVerdict(t, th, "alice", "", "", delayed(time.Nanosecond))
		c.Advance(time.Nanosecond)
		mustPass(t, th, "alice", "", "")
	}
	// Other accounts are unaffected.
	mustPass(t, th, "bob", "192.0.2.1", "")
	// A window after the latest failure, all is forgotten.
	th.Failure("alice", "", "")
	c.Advance(DefaultThrottleWindow)
	mustPass(t, th, "alice", "", "")
	for range DefaultAccountLimit - 1 {
		th.Failure("alice", "", "")
	}
	mustPass(t, th, "alice", "", "")
}

// TestThrottleDeviceCookie: a browser with the account's device cookie is
// not delayed by strangers' failures, its failures do not delay the
// account, and it has its own lock.
func TestThrottleDeviceCookie(t *testing.T) {
	c := newClock()
	th := newThrottle(c)
	for i := range 50 { // an attacker, from many addresses
		th.Failure("alice", fmt.Sprintf("10.0.0.%d", i), "")
	}
	mustVerdict(t, th, "alice", "", "", delayed(DefaultMaxDelay))
	mustPass(t, th, "alice", "192.0.2.1", "dev-1")

	// The owner mistypes on their own browser: only that device counts.
	for range DefaultDeviceLimit - 1 {
		th.Failure("bob", "192.0.2.1", "dev-2")
	}
	mustPass(t, th, "bob", "198.51.100.1", "")
	mustPass(t, th, "bob", "192.0.2.1", "dev-2")
	th.Failure("bob", "192.0.2.1", "dev-2")
	mustVerdict(t, th, "bob", "192.0.2.1", "dev-2", Verdict{Locked: DefaultThrottleWindow, Limit: LimitDevice})
	mustPass(t, th, "bob", "192.0.2.1", "dev-3")
	mustPass(t, th, "bob", "192.0.2.1", "")

	// Success through the device clears the device, not the account's
	// delay for strangers.
	th.Success("alice", "dev-1")
	mustVerdict(t, th, "alice", "", "", delayed(DefaultMaxDelay))
	th.Success("bob", "dev-2")
	mustPass(t, th, "bob", "192.0.2.1", "dev-2")
	// Success without one clears the account.
	th.Success("ALICE", "")
	mustPass(t, th, "alice", "", "")
}

func TestThrottleSuccessKeepsAddress(t *testing.T) {
	c := newClock()
	th := newThrottle(c)
	for range DefaultAccountLimit {
		th.Failure("alice", "192.0.2.1", "")
	}
	mustVerdict(t, th, "alice", "", "", delayed(DefaultBaseDelay))
	th.Success("alice", "")
	mustPass(t, th, "alice", "", "")
	if n := len(th.ips.entries["192.0.2.1"].Value.(*failures).times); n != DefaultAccountLimit {
		t.Fatalf("address has %d failures, want %d", n, DefaultAccountLimit)
	}
}

func TestThrottleIPLimit(t *testing.T) {
	c := newClock()
	th := newThrottle(c)
	// Thirty failures from one address, each on another account (password
	// spraying): no account is delayed, the address is locked, for every
	// account and with a device cookie too.
	for i := range DefaultIPLimit {
		mustPass(t, th, fmt.Sprintf("user%d", i), "192.0.2.7", "")
		th.Failure(fmt.Sprintf("user%d", i), "192.0.2.7", "")
	}
	locked := Verdict{Locked: DefaultThrottleWindow, Limit: LimitAddress}
	mustVerdict(t, th, "fresh", "192.0.2.7", "", locked)
	mustVerdict(t, th, "", "192.0.2.7:52011", "", locked)
	mustVerdict(t, th, "user0", "192.0.2.7", "dev-1", locked)
	mustPass(t, th, "fresh", "192.0.2.8", "")
	mustPass(t, th, "user0", "192.0.2.8", "")
	// The address lock wins over an account delay.
	for range DefaultAccountLimit {
		th.Failure("victim", "", "")
	}
	mustVerdict(t, th, "victim", "192.0.2.7", "", locked)
	mustVerdict(t, th, "victim", "192.0.2.9", "", delayed(DefaultBaseDelay))
	// When address and device are locked, the longer wait wins.
	c.Advance(time.Minute)
	for range DefaultDeviceLimit {
		th.Failure("user0", "", "dev-1")
	}
	mustVerdict(t, th, "user0", "192.0.2.7", "dev-1", Verdict{Locked: DefaultThrottleWindow, Limit: LimitDevice})
}

func TestThrottleCustomLimits(t *testing.T) {
	c := newClock()
	th := &Throttle{AccountLimit: 2, BaseDelay: time.Minute, MaxDelay: time.Hour, DeviceLimit: 1, IPLimit: 3, Window: 10 * time.Minute, Now: c.Now}
	th.Failure("a", "192.0.2.1", "")
	mustPass(t, th, "a", "192.0.2.1", "")
	th.Failure("a", "192.0.2.1", "")
	mustVerdict(t, th, "a", "", "", delayed(time.Minute))
	th.Failure("a", "", "")
	mustVerdict(t, th, "a", "", "", delayed(2*time.Minute))
	for range 10 {
		th.Failure("a", "", "")
	}
	// The delay never outlasts the window.
	mustVerdict(t, th, "a", "", "", delayed(10*time.Minute))
	th.Failure("b", "192.0.2.1", "d")
	mustVerdict(t, th, "c", "192.0.2.1", "", Verdict{Locked: 10 * time.Minute, Limit: LimitAddress})
	mustVerdict(t, th, "b", "", "d", Verdict{Locked: 10 * time.Minute, Limit: LimitDevice})
	c.Advance(10 * time.Minute)
	mustPass(t, th, "a", "192.0.2.1", "")
	mustPass(t, th, "b", "", "d")
}

func TestThrottleIPKeys(t *testing.T) {
	tests := []struct{ a, b string }{
		{"192.0.2.1", "192.0.2.1:443"},
		{"192.0.2.1", "::ffff:192.0.2.1"},
		{"192.0.2.1", "[::ffff:192.0.2.1]:80"},
		{"2001:db8::1", "2001:db8::2"},
		{"2001:db8::1", "[2001:db8:0:0:ffff::1]:8443"},
		{"2001:DB8::1", "2001:db8::1"},
		{"fe80::1%eth0", "fe80::2"},
	}
	for _, tc := range tests {
		if ka, kb := ipKey(tc.a), ipKey(tc.b); ka != kb {
			t.Errorf("ipKey(%q) = %q, ipKey(%q) = %q; want the same", tc.a, ka, tc.b, kb)
		}
	}
	distinct := []struct{ a, b string }{
		{"192.0.2.1", "192.0.2.2"},
		{"2001:db8::1", "2001:db8:0:1::1"},
		{"not-an-ip", "not-an-ip2"},
	}
	for _, tc := range distinct {
		if ka, kb := ipKey(tc.a), ipKey(tc.b); ka == kb {
			t.Errorf("ipKey(%q) = ipKey(%q) = %q; want distinct", tc.a, tc.b, ka)
		}
	}
	if k := ipKey(strings.Repeat("x", 10000)); len(k) > maxThrottleKeyLength {
		t.Errorf("unbounded key of %d bytes", len(k))
	}
	if k := accountKey(strings.Repeat("É", 10000)); len(k) > maxThrottleKeyLength {
		t.Errorf("unbounded account key of %d bytes", len(k))
	}
}

func TestThrottleMemoryCap(t *testing.T) {
	c := newClock()
	th := &Throttle{MaxKeys: 3, Now: c.Now}
	for i := range 3 {
		th.Failure(fmt.Sprintf("a%d", i), fmt.Sprintf("192.0.2.%d", i), "")
		c.Advance(time.Second)
	}
	th.Failure("a0", "192.0.2.0", "") // a0 is now the most recent
	c.Advance(time.Second)
	th.Failure("a3", "192.0.2.3", "") // evicts a1, whose last failure is oldest
	if n := len(th.accounts.entries); n != 3 {
		t.Fatalf("%d accounts tracked, want 3", n)
	}
	for _, k := range []string{"a0", "a2", "a3"} {
		if _, ok := th.accounts.entries[k]; !ok {
			t.Errorf("%s evicted", k)
		}
	}
	if _, ok := th.accounts.entries["a1"]; ok {
		t.Error("a1 not evicted")
	}
	if n := len(th.ips.entries); n != 3 {
		t.Fatalf("%d addresses tracked, want 3", n)
	}
	// Thousands of keys stay within the cap, in every table.
	for i := range 5000 {
		th.Failure(fmt.Sprintf("spray%d", i), fmt.Sprintf("10.0.%d.%d", i/256, i%256), "")
		th.Failure("x", "", fmt.Sprintf("dev%d", i))
	}
	for name, ft := range map[string]*failureTable{"accounts": &th.accounts, "addresses": &th.ips, "devices": &th.devices} {
		if n := len(ft.entries); n > 3 || ft.order.Len() != n {
			t.Fatalf("%s: %d tracked (list %d); cap 3", name, n, ft.order.Len())
		}
	}
	// Per-key state is bounded too.
	for range 5000 {
		th.Failure("busy", "192.0.2.200", "busy-device")
	}
	th.Failure("busy", "", "")
	if f := th.accounts.entries["busy"].Value.(*failures); len(f.times) != 1 || f.count > maxCountedFailures {
		t.Fatalf("account keeps %d times, count %d", len(f.times), f.count)
	}
	if n := len(th.ips.entries["192.0.2.200"].Value.(*failures).times); n != DefaultIPLimit {
		t.Fatalf("%d failure times kept for an address, want %d", n, DefaultIPLimit)
	}
	if n := len(th.devices.entries["busy-device"].Value.(*failures).times); n != DefaultDeviceLimit {
		t.Fatalf("%d failure times kept for a device, want %d", n, DefaultDeviceLimit)
	}
}

func TestThrottleForgetsAfterWindow(t *testing.T) {
	c := newClock()
	th := newThrottle(c)
	for i := range 100 {
		th.Failure(fmt.Sprintf("u%d", i), fmt.Sprintf("192.0.2.%d", i), fmt.Sprintf("d%d", i))
		th.Failure(fmt.Sprintf("u%d", i), "", "")
	}
	c.Advance(DefaultThrottleWindow)
	th.Check("someone", "198.51.100.1", "")
	th.Check("someone", "", "dev")
	if na, ni, nd := len(th.accounts.entries), len(th.ips.entries), len(th.devices.entries); na != 0 || ni != 0 || nd != 0 {
		t.Fatalf("%d accounts, %d addresses, %d devices still tracked after the window", na, ni, nd)
	}
}

func TestThrottleEmptyKeys(t *testing.T) {
	c := newClock()
	th := newThrottle(c)
	for range 100 {
		th.Failure("", "", "")
	}
	mustPass(t, th, "", "", "")
	if len(th.accounts.entries)+len(th.ips.entries)+len(th.devices.entries) != 0 {
		t.Fatal("empty keys tracked")
	}
}

func TestThrottleZeroValue(t *testing.T) {
	var th Throttle
	for range DefaultAccountLimit + 2 {
		th.Failure("alice", "", "")
	}
	v := th.Check("alice", "", "")
	if v.Limit != LimitAccount || v.Delay <= 0 || v.Delay > 4*DefaultBaseDelay || v.Locked != 0 {
		t.Fatalf("Check = %+v", v)
	}
}

func TestThrottleConcurrent(t *testing.T) {
	th := &Throttle{MaxKeys: 50}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				acct := fmt.Sprintf("u%d", (g*200+i)%80)
				dev := ""
				if i%3 == 0 {
					dev = fmt.Sprintf("d%d", i%60)
				}
				th.Check(acct, "192.0.2.1", dev)
				th.Failure(acct, fmt.Sprintf("10.0.0.%d", i%100), dev)
				if i%7 == 0 {
					th.Success(acct, dev)
				}
			}
		})
	}
	wg.Wait()
	if len(th.accounts.entries) > 50 || len(th.ips.entries) > 50 || len(th.devices.entries) > 50 {
		t.Fatal("cap exceeded")
	}
}

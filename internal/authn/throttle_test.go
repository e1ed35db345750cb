package authn

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func newThrottle(c *clock) *Throttle { return &Throttle{Now: c.Now} }

func mustAllow(t *testing.T, th *Throttle, account, ip string) {
	t.Helper()
	if retry, ok := th.Allow(account, ip); !ok || retry != 0 {
		t.Fatalf("Allow(%q, %q) = %v, %t; want 0, true", account, ip, retry, ok)
	}
}

func mustRefuse(t *testing.T, th *Throttle, account, ip string, wantRetry time.Duration) {
	t.Helper()
	retry, ok := th.Allow(account, ip)
	if ok || retry != wantRetry {
		t.Fatalf("Allow(%q, %q) = %v, %t; want %v, false", account, ip, retry, ok, wantRetry)
	}
}

func TestThrottleAccountWindow(t *testing.T) {
	c := newClock()
	th := newThrottle(c)
	// Five failures one second apart, each from another address.
	for i := range DefaultAccountLimit {
		mustAllow(t, th, "alice", fmt.Sprintf("192.0.2.%d", i))
		th.Failure("alice", fmt.Sprintf("192.0.2.%d", i))
		if i < DefaultAccountLimit-1 {
			c.Advance(time.Second)
		}
	}
	// Locked until the first failure leaves the window, whatever the
	// address or the spelling of the name.
	want := DefaultThrottleWindow - 4*time.Second
	mustRefuse(t, th, "alice", "198.51.100.1", want)
	mustRefuse(t, th, "ALICE", "", want)
	mustRefuse(t, th, "Alice", "2001:db8::1", want)
	// Other accounts are unaffected.
	mustAllow(t, th, "bob", "192.0.2.1")

	c.Advance(want - time.Nanosecond)
	mustRefuse(t, th, "alice", "", time.Nanosecond)
	c.Advance(time.Nanosecond)
	mustAllow(t, th, "alice", "")

	// The window slides: four failures are still in it, so one more locks
	// again, until the second-oldest leaves.
	th.Failure("alice", "")
	mustRefuse(t, th, "alice", "", time.Second)
	c.Advance(time.Second)
	mustAllow(t, th, "alice", "")

	// Refused attempts do not count: after a full window everything is
	// forgotten.
	c.Advance(DefaultThrottleWindow)
	for range DefaultAccountLimit - 1 {
		th.Failure("alice", "")
	}
	mustAllow(t, th, "alice", "")
}

func TestThrottleSuccessClearsAccount(t *testing.T) {
	c := newClock()
	th := newThrottle(c)
	for range DefaultAccountLimit - 1 {
		th.Failure("alice", "192.0.2.1")
	}
	th.Success("ALICE")
	for range DefaultAccountLimit - 1 {
		th.Failure("alice", "192.0.2.1")
	}
	mustAllow(t, th, "alice", "")
	th.Failure("Alice", "")
	mustRefuse(t, th, "alice", "", DefaultThrottleWindow)
	th.Success("alice")
	mustAllow(t, th, "alice", "")
	// The address kept its failures.
	if n := len(th.ips.entries["192.0.2.1"].Value.(*failures).times); n != 2*(DefaultAccountLimit-1) {
		t.Fatalf("address has %d failures, want %d", n, 2*(DefaultAccountLimit-1))
	}
}

func TestThrottleIPLimit(t *testing.T) {
	c := newClock()
	th := newThrottle(c)
	// Thirty failures from one address, each on another account (password
	// spraying): no account is locked, the address is.
	for i := range DefaultIPLimit {
		mustAllow(t, th, fmt.Sprintf("user%d", i), "192.0.2.7")
		th.Failure(fmt.Sprintf("user%d", i), "192.0.2.7")
	}
	mustRefuse(t, th, "fresh", "192.0.2.7", DefaultThrottleWindow)
	mustRefuse(t, th, "", "192.0.2.7:52011", DefaultThrottleWindow)
	mustAllow(t, th, "fresh", "192.0.2.8")
	mustAllow(t, th, "user0", "192.0.2.8")
	// A locked account does not lock the address for other accounts.
	for range DefaultAccountLimit {
		th.Failure("victim", "198.51.100.9")
	}
	mustRefuse(t, th, "victim", "203.0.113.1", DefaultThrottleWindow)
	mustAllow(t, th, "other", "198.51.100.9")
	// When both are locked, the longer wait wins.
	c.Advance(time.Minute)
	th2 := newThrottle(c)
	for range DefaultIPLimit {
		th2.Failure("", "192.0.2.1")
	}
	c.Advance(time.Minute)
	for range DefaultAccountLimit {
		th2.Failure("x", "")
	}
	mustRefuse(t, th2, "x", "192.0.2.1", DefaultThrottleWindow)
	th2.Success("x")
	mustRefuse(t, th2, "x", "192.0.2.1", DefaultThrottleWindow-time.Minute)
}

func TestThrottleCustomLimits(t *testing.T) {
	c := newClock()
	th := &Throttle{AccountLimit: 2, IPLimit: 3, Window: time.Minute, Now: c.Now}
	th.Failure("a", "192.0.2.1")
	mustAllow(t, th, "a", "192.0.2.1")
	th.Failure("a", "192.0.2.1")
	mustRefuse(t, th, "a", "", time.Minute)
	mustAllow(t, th, "b", "192.0.2.1")
	th.Failure("b", "192.0.2.1")
	mustRefuse(t, th, "c", "192.0.2.1", time.Minute)
	c.Advance(time.Minute)
	mustAllow(t, th, "a", "192.0.2.1")
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
		th.Failure(fmt.Sprintf("a%d", i), fmt.Sprintf("192.0.2.%d", i))
		c.Advance(time.Second)
	}
	th.Failure("a0", "192.0.2.0") // a0 is now the most recent
	c.Advance(time.Second)
	th.Failure("a3", "192.0.2.3") // evicts a1, whose last failure is oldest
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
	// Thousands of keys stay within the cap, in both tables.
	for i := range 5000 {
		th.Failure(fmt.Sprintf("spray%d", i), fmt.Sprintf("10.0.%d.%d", i/256, i%256))
	}
	if na, ni := len(th.accounts.entries), len(th.ips.entries); na > 3 || ni > 3 || th.accounts.order.Len() != na || th.ips.order.Len() != ni {
		t.Fatalf("tracked %d accounts, %d addresses (lists %d, %d); cap 3", na, ni, th.accounts.order.Len(), th.ips.order.Len())
	}
	// Per-key state is bounded by the limit too.
	for range 100 {
		th.Failure("busy", "")
	}
	if n := len(th.accounts.entries["busy"].Value.(*failures).times); n != DefaultAccountLimit {
		t.Fatalf("%d failure times kept, want %d", n, DefaultAccountLimit)
	}
}

func TestThrottleForgetsAfterWindow(t *testing.T) {
	c := newClock()
	th := newThrottle(c)
	for i := range 100 {
		th.Failure(fmt.Sprintf("u%d", i), fmt.Sprintf("192.0.2.%d", i))
	}
	c.Advance(DefaultThrottleWindow)
	th.Allow("someone", "198.51.100.1")
	if na, ni := len(th.accounts.entries), len(th.ips.entries); na != 0 || ni != 0 {
		t.Fatalf("%d accounts and %d addresses still tracked after the window", na, ni)
	}
}

func TestThrottleEmptyKeys(t *testing.T) {
	c := newClock()
	th := newThrottle(c)
	for range 100 {
		th.Failure("", "")
	}
	mustAllow(t, th, "", "")
	if len(th.accounts.entries)+len(th.ips.entries) != 0 {
		t.Fatal("empty keys tracked")
	}
}

func TestThrottleZeroValue(t *testing.T) {
	var th Throttle
	for range DefaultAccountLimit {
		th.Failure("alice", "")
	}
	retry, ok := th.Allow("alice", "")
	if ok || retry <= DefaultThrottleWindow-time.Minute || retry > DefaultThrottleWindow {
		t.Fatalf("Allow = %v, %t", retry, ok)
	}
}

func TestThrottleConcurrent(t *testing.T) {
	th := &Throttle{MaxKeys: 50}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				acct := fmt.Sprintf("u%d", (g*200+i)%80)
				th.Allow(acct, "192.0.2.1")
				th.Failure(acct, fmt.Sprintf("10.0.0.%d", i%100))
				if i%7 == 0 {
					th.Success(acct)
				}
			}
		})
	}
	wg.Wait()
	if len(th.accounts.entries) > 50 || len(th.ips.entries) > 50 {
		t.Fatal("cap exceeded")
	}
}

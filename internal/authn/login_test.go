package authn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/store"
)

const alicePassword = "correct horse battery staple"

// loginFixture is a Login over fake users: alice (active), bob (disabled,
// password "bob password"), carol (no password) and dave (unreadable hash).
type loginFixture struct {
	login *Login
	users *fakeUsers
	clock *clock
	log   *bytes.Buffer
}

func newLoginFixture(t *testing.T, params Params) *loginFixture {
	t.Helper()
	h := Hasher{Params: params}
	hash := func(pw string) string {
		enc, err := h.Hash(pw)
		if err != nil {
			t.Fatal(err)
		}
		return enc
	}
	users := newFakeUsers(
		store.User{ID: "u-alice", Username: "Alice", PasswordHash: hash(alicePassword)},
		store.User{ID: "u-bob", Username: "bob", PasswordHash: hash("bob password"), Disabled: true},
		store.User{ID: "u-carol", Username: "carol"},
		store.User{ID: "u-dave", Username: "dave", PasswordHash: "$argon2id$v=19$m=64,t=1,p=1$broken"},
	)
	c := newClock()
	var buf bytes.Buffer
	l := &Login{
		Users:    users,
		Hasher:   h,
		Throttle: &Throttle{Now: c.Now},
		Logger:   slog.New(slog.NewTextHandler(&buf, nil)),
		Now:      c.Now,
		Sleep:    c.Sleep,
	}
	return &loginFixture{login: l, users: users, clock: c, log: &buf}
}

func TestAuthenticate(t *testing.T) {
	f := newLoginFixture(t, testParams)
	ctx := t.Context()
	u, err := f.login.Authenticate(ctx, Attempt{Username: "alice", Password: alicePassword, IP: "192.0.2.1"})
	if err != nil || u.ID != "u-alice" {
		t.Fatalf("Authenticate = %q, %v", u.ID, err)
	}
	// Usernames are case-insensitive, passwords are not.
	if u, err := f.login.Authenticate(ctx, Attempt{Username: "ALICE", Password: alicePassword, IP: "192.0.2.1"}); err != nil || u.ID != "u-alice" {
		t.Fatalf("ALICE: %q, %v", u.ID, err)
	}
	if _, err := f.login.Authenticate(ctx, Attempt{Username: "alice", Password: strings.ToUpper(alicePassword), IP: "192.0.2.1"}); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("upper-case password: %v", err)
	}
}

func TestAuthenticateIndistinguishable(t *testing.T) {
	tests := []struct{ name, username, password, userID string }{
		{"unknown user", "mallory", alicePassword, ""},
		{"wrong password", "alice", "wrong password", "u-alice"},
		{"disabled user, right password", "bob", "bob password", "u-bob"},
		{"disabled user, wrong password", "bob", "wrong password", "u-bob"},
		{"user without password", "carol", "any password", "u-carol"},
		{"unreadable stored hash", "dave", "any password", "u-dave"},
		{"empty username", "", alicePassword, ""},
		{"empty password", "alice", "", ""},
		{"oversized username", strings.Repeat("a", store.MaxIDLength+1), alicePassword, ""},
		{"username with NUL", "alice\x00", alicePassword, ""},
		{"oversized password", "alice", strings.Repeat("p", MaxPasswordLength+1), ""},
	}
	var first error
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newLoginFixture(t, testParams)
			u, err := f.login.Authenticate(t.Context(), Attempt{Username: tc.username, Password: tc.password, IP: "192.0.2.1"})
			if !errors.Is(err, ErrInvalidCredentials) || errors.Is(err, ErrThrottled) {
				t.Fatalf("error %v, want ErrInvalidCredentials", err)
			}
			// The account's ID is there for the log, when it exists.
			var ce *CredentialsError
			if errors.As(err, &ce) != (tc.userID != "") || (ce != nil && ce.UserID != tc.userID) {
				t.Fatalf("error %#v, want the user ID %q", err, tc.userID)
			}
			if u.ID != "" || u.PasswordHash != "" {
				t.Fatal("a user record came back with the error")
			}
			if first == nil {
				first = err
			} else if err.Error() != first.Error() {
				t.Fatalf("message %q differs from %q", err, first)
			}
			// The failure was counted against the address.
			if e := f.login.Throttle.ips.entries["192.0.2.1"]; e == nil {
				t.Fatal("failure not counted")
			}
		})
	}
}

// countingHasher counts the password hash computations of a Hasher.
type countingHasher struct {
	Hasher
	mu sync.Mutex
	n  int
}

func (c *countingHasher) Verify(password, encoded string) (bool, bool, error) {
	ok, rehash, err := c.Hasher.Verify(password, encoded)
	if err == nil { // an unreadable hash is refused before any computation
		c.add()
	}
	return ok, rehash, err
}

func (c *countingHasher) DummyVerify(password string) {
	c.Hasher.DummyVerify(password)
	c.add()
}

func (c *countingHasher) add() {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
}

func (c *countingHasher) take() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.n
	c.n = 0
	return n
}

// TestAuthenticateSameWork checks that an unknown user, a user without a
// password, a disabled user and an unreadable stored hash cost one password
// hash computation, as a wrong password does: counted, not timed.
func TestAuthenticateSameWork(t *testing.T) {
	f := newLoginFixture(t, testParams)
	h := &countingHasher{Hasher: Hasher{Params: testParams}}
	f.login.Hasher = h
	f.login.Throttle = &Throttle{AccountLimit: 1 << 20, IPLimit: 1 << 20, Now: f.clock.Now}
	for _, who := range []string{"alice", "mallory", "carol", "bob", "dave"} {
		if _, err := f.login.Authenticate(t.Context(), Attempt{Username: who, Password: "wrong password", IP: ""}); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("%s: %v", who, err)
		}
		if n := h.take(); n != 1 {
			t.Errorf("%s: %d hash computations, want 1", who, n)
		}
	}
}

// TestAuthenticateDelay: failures from elsewhere delay an account
// progressively; short delays are waited out (on the fake clock), long ones
// refused; the owner's browser, with its device cookie, is not held up.
func TestAuthenticateDelay(t *testing.T) {
	f := newLoginFixture(t, testParams)
	ctx := t.Context()
	attacker := func(i int) Attempt {
		return Attempt{Username: "alice", Password: "wrong", IP: fmt.Sprintf("203.0.113.%d", i)}
	}
	for i := range DefaultAccountLimit {
		if _, err := f.login.Authenticate(ctx, attacker(i)); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatal(err)
		}
	}
	if s := f.clock.Slept(); len(s) != 0 {
		t.Fatalf("slept %v before the limit", s)
	}
	// The next attempt waits 1 s, then is checked: the right password works.
	if _, err := f.login.Authenticate(ctx, Attempt{Username: "Alice", Password: alicePassword, IP: "192.0.2.9"}); err != nil {
		t.Fatal(err)
	}
	if s := f.clock.Slept(); !slices.Equal(s, []time.Duration{time.Second}) {
		t.Fatalf("slept %v, want [1s]", s)
	}
	if _, ok := f.login.Throttle.accounts.entries["alice"]; ok {
		t.Fatal("success did not clear the account's failures")
	}

	// A long attack: delays grow past MaxSleep and are refused, before
	// any lookup, with the time to come back.
	for i := range DefaultAccountLimit + 3 {
		f.login.Authenticate(ctx, attacker(i))
	}
	lookups := f.users.lookups
	_, err := f.login.Authenticate(ctx, attacker(99))
	var te *ThrottledError
	if !errors.As(err, &te) || !errors.Is(err, ErrThrottled) || errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("error %v, want a *ThrottledError", err)
	}
	if te.RetryAfter != 8*time.Second || te.Limit != LimitAccount || !strings.Contains(err.Error(), "8 seconds") {
		t.Fatalf("RetryAfter %v, limit %q, message %q", te.RetryAfter, te.Limit, err)
	}
	if f.users.lookups != lookups {
		t.Fatal("refused attempt looked the user up")
	}
	// The owner's browser presents its device cookie: checked at once.
	slept := len(f.clock.Slept())
	u, err := f.login.Authenticate(ctx, Attempt{Username: "alice", Password: alicePassword, IP: "192.0.2.9", Device: "owner-device"})
	if err != nil || u.ID != "u-alice" || len(f.clock.Slept()) != slept {
		t.Fatalf("owner with device cookie: %v (slept %v)", err, f.clock.Slept()[slept:])
	}
	// ... and the attacker is still held off.
	if _, err := f.login.Authenticate(ctx, attacker(100)); !errors.Is(err, ErrThrottled) {
		t.Fatalf("attacker after the owner's sign-in: %v", err)
	}

	// An unknown account is delayed the same way: no enumeration.
	for range DefaultAccountLimit + 3 {
		f.login.Authenticate(ctx, Attempt{Username: "nobody", Password: "wrong"})
	}
	if _, err := f.login.Authenticate(ctx, Attempt{Username: "nobody", Password: "wrong"}); !errors.As(err, &te) || te.RetryAfter != 8*time.Second {
		t.Fatalf("unknown account: %v", err)
	}
}

func TestAuthenticateDeviceLock(t *testing.T) {
	f := newLoginFixture(t, testParams)
	ctx := t.Context()
	own := Attempt{Username: "alice", Password: "typo", IP: "192.0.2.1", Device: "dev"}
	for range DefaultDeviceLimit {
		if _, err := f.login.Authenticate(ctx, own); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatal(err)
		}
	}
	var te *ThrottledError
	own.Password = alicePassword
	if _, err := f.login.Authenticate(ctx, own); !errors.As(err, &te) || te.Limit != LimitDevice || te.RetryAfter != DefaultThrottleWindow {
		t.Fatalf("locked device: %v", err)
	}
	// Its failures did not delay the account for other browsers.
	if _, err := f.login.Authenticate(ctx, Attempt{Username: "alice", Password: alicePassword, IP: "192.0.2.2"}); err != nil {
		t.Fatal(err)
	}
	if s := f.clock.Slept(); len(s) != 0 {
		t.Fatalf("slept %v", s)
	}
}

func TestAuthenticateAddressLock(t *testing.T) {
	f := newLoginFixture(t, testParams)
	ctx := t.Context()
	for i := range DefaultIPLimit {
		f.login.Authenticate(ctx, Attempt{Username: fmt.Sprintf("user%d", i), Password: "wrong", IP: "192.0.2.1"})
	}
	var te *ThrottledError
	_, err := f.login.Authenticate(ctx, Attempt{Username: "alice", Password: alicePassword, IP: "192.0.2.1", Device: "dev"})
	if !errors.As(err, &te) || te.Limit != LimitAddress || te.RetryAfter != DefaultThrottleWindow {
		t.Fatalf("locked address: %v", err)
	}
}

func TestAuthenticateNeverSleeps(t *testing.T) {
	f := newLoginFixture(t, testParams)
	f.login.MaxSleep = -1
	for range DefaultAccountLimit {
		f.login.Authenticate(t.Context(), Attempt{Username: "alice", Password: "wrong"})
	}
	var te *ThrottledError
	if _, err := f.login.Authenticate(t.Context(), Attempt{Username: "alice", Password: alicePassword}); !errors.As(err, &te) || te.RetryAfter != time.Second {
		t.Fatalf("error %v, want a 1 s refusal", err)
	}
	if len(f.clock.Slept()) != 0 {
		t.Fatal("slept")
	}
	// A sleep cut short by the context ends the attempt.
	f.login.MaxSleep = 0
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := f.login.Authenticate(ctx, Attempt{Username: "alice", Password: alicePassword}); !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want the context's", err)
	}
}

func TestThrottledErrorSeconds(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want int64
	}{{0, 1}, {time.Nanosecond, 1}, {time.Second, 1}, {time.Second + 1, 2}, {14 * time.Minute, 840}} {
		if got := (&ThrottledError{RetryAfter: tc.d}).RetrySeconds(); got != tc.want {
			t.Errorf("RetrySeconds(%v) = %d, want %d", tc.d, got, tc.want)
		}
	}
}

func TestAuthenticateConcurrentBurst(t *testing.T) {
	f := newLoginFixture(t, testParams)
	f.login.MaxConcurrent = 2
	f.login.MaxSleep = -1 // every delay refuses: the burst is counted exactly
	var (
		wg                 sync.WaitGroup
		mu                 sync.Mutex
		invalid, throttled int
	)
	for range 40 {
		wg.Go(func() {
			_, err := f.login.Authenticate(t.Context(), Attempt{Username: "alice", Password: "wrong", IP: ""})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, ErrInvalidCredentials):
				invalid++
			case errors.Is(err, ErrThrottled):
				throttled++
			default:
				t.Errorf("unexpected error %v", err)
			}
		})
	}
	wg.Wait()
	// The limit can be exceeded by at most MaxConcurrent-1 attempts.
	if invalid < DefaultAccountLimit || invalid > DefaultAccountLimit+1 || invalid+throttled != 40 {
		t.Fatalf("%d checked, %d throttled; want %d or %d checked", invalid, throttled, DefaultAccountLimit, DefaultAccountLimit+1)
	}
}

func TestAuthenticateWaitsForSlot(t *testing.T) {
	f := newLoginFixture(t, testParams)
	f.login.MaxConcurrent = 1
	if err := f.login.acquire(t.Context()); err != nil {
		t.Fatal(err)
	}
	// The only slot is taken: the attempt waits until its context ends.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := f.login.Authenticate(ctx, Attempt{Username: "alice", Password: alicePassword, IP: ""}); !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want the context's", err)
	}
	f.login.release()
	if _, err := f.login.Authenticate(t.Context(), Attempt{Username: "alice", Password: alicePassword, IP: ""}); err != nil {
		t.Fatal(err)
	}
}

func TestAuthenticateStoreError(t *testing.T) {
	f := newLoginFixture(t, testParams)
	boom := errors.New("database on fire")
	f.users.err = boom
	for range 2 * DefaultAccountLimit {
		_, err := f.login.Authenticate(t.Context(), Attempt{Username: "alice", Password: alicePassword, IP: "192.0.2.1"})
		if !errors.Is(err, boom) || errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("error %v, want the store's", err)
		}
		if strings.Contains(err.Error(), alicePassword) {
			t.Fatal("error contains the password")
		}
	}
	// Outages are not failed sign-ins.
	if len(f.login.Throttle.accounts.entries) != 0 {
		t.Fatal("store errors counted as failures")
	}
}

func TestAuthenticateMisconfigured(t *testing.T) {
	for _, l := range []*Login{{}, {Users: newFakeUsers()}, {Throttle: &Throttle{}}} {
		if _, err := l.Authenticate(t.Context(), Attempt{Username: "alice", Password: "pw", IP: ""}); err == nil || errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("error %v, want a configuration error", err)
		}
	}
}

func TestAuthenticateRehash(t *testing.T) {
	old := Params{Memory: 32, Time: 1, Threads: 1}
	f := newLoginFixture(t, old)
	f.login.Hasher = Hasher{Params: testParams}
	ctx := t.Context()

	// Without UpdateUser the old hash stays.
	if _, err := f.login.Authenticate(ctx, Attempt{Username: "alice", Password: alicePassword, IP: ""}); err != nil {
		t.Fatal(err)
	}
	if f.users.updates != 0 {
		t.Fatal("updated without UpdateUser")
	}

	f.login.UpdateUser = f.users.UpdateUser
	before := f.users.get("alice")
	f.clock.Advance(time.Hour)
	u, err := f.login.Authenticate(ctx, Attempt{Username: "alice", Password: alicePassword, IP: ""})
	if err != nil {
		t.Fatal(err)
	}
	after := f.users.get("alice")
	if after.PasswordHash == before.PasswordHash || u.PasswordHash != after.PasswordHash {
		t.Fatal("hash not replaced, or the old user returned")
	}
	if !strings.HasPrefix(after.PasswordHash, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("new hash %q not made with the current parameters", after.PasswordHash)
	}
	if !after.UpdatedAt.Equal(f.clock.Now()) || !after.PasswordChangedAt.Equal(before.PasswordChangedAt) {
		t.Fatal("rehash must set UpdatedAt and leave PasswordChangedAt")
	}
	// Now current: no further update.
	if _, err := f.login.Authenticate(ctx, Attempt{Username: "alice", Password: alicePassword, IP: ""}); err != nil || f.users.updates != 1 {
		t.Fatalf("err %v, %d updates; want one update in all", err, f.users.updates)
	}
}

func TestAuthenticateRehashRaces(t *testing.T) {
	f := newLoginFixture(t, Params{Memory: 32, Time: 1, Threads: 1})
	f.login.Hasher = Hasher{Params: testParams}
	// The password changes between the check and the rehash: the change
	// wins, the sign-in still succeeds, nothing is logged.
	f.login.UpdateUser = func(ctx context.Context, id string, fn func(store.User) (store.User, error)) (store.User, error) {
		f.users.mu.Lock()
		u := f.users.users["alice"]
		u.PasswordHash = "changed"
		f.users.users["alice"] = u
		f.users.mu.Unlock()
		return f.users.UpdateUser(ctx, id, fn)
	}
	if _, err := f.login.Authenticate(t.Context(), Attempt{Username: "alice", Password: alicePassword, IP: ""}); err != nil {
		t.Fatal(err)
	}
	if got := f.users.get("alice").PasswordHash; got != "changed" {
		t.Fatal("rehash overwrote a concurrent password change")
	}
	if f.log.Len() != 0 {
		t.Fatalf("logged: %s", f.log)
	}

	// A failing update is logged, without secrets, and the sign-in works.
	f = newLoginFixture(t, Params{Memory: 32, Time: 1, Threads: 1})
	f.login.Hasher = Hasher{Params: testParams}
	f.login.UpdateUser = func(context.Context, string, func(store.User) (store.User, error)) (store.User, error) {
		return store.User{}, store.ErrConflict
	}
	u, err := f.login.Authenticate(t.Context(), Attempt{Username: "alice", Password: alicePassword, IP: ""})
	if err != nil || u.ID != "u-alice" {
		t.Fatalf("%q, %v", u.ID, err)
	}
	logged := f.log.String()
	if !strings.Contains(logged, "rehash failed") || !strings.Contains(logged, "u-alice") {
		t.Fatalf("log %q", logged)
	}
	if strings.Contains(logged, alicePassword) || strings.Contains(logged, "$argon2id") {
		t.Fatalf("log leaks a secret: %q", logged)
	}
}

func TestAuthenticateLogsUnreadableHash(t *testing.T) {
	f := newLoginFixture(t, testParams)
	if _, err := f.login.Authenticate(t.Context(), Attempt{Username: "dave", Password: "any password", IP: ""}); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatal(err)
	}
	logged := f.log.String()
	if !strings.Contains(logged, "u-dave") || strings.Contains(logged, "broken") || strings.Contains(logged, "any password") {
		t.Fatalf("log %q", logged)
	}
}

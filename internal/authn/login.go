package authn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/writ-dev/writ/internal/store"
)

// Errors of Authenticate.
var (
	// ErrInvalidCredentials is the one answer to an unknown username, a
	// wrong password, a disabled user and a user without a password, so
	// that the caller cannot tell them apart.
	ErrInvalidCredentials = errors.New("authn: invalid username or password")
	// ErrThrottled reports that too many sign-ins failed recently for the
	// client address or the device cookie, or that the account's delay is
	// longer than Login waits. The error is a *ThrottledError, which tells
	// when to try again.
	ErrThrottled = errors.New("authn: too many failed sign-in attempts")
)

// CredentialsError is ErrInvalidCredentials for an account that exists
// (wrong password, disabled, no or unreadable password hash): it carries the
// account's ID for the caller's log. It matches ErrInvalidCredentials with
// errors.Is and has the same message, so that nothing a user is shown tells
// it apart from an unknown username.
type CredentialsError struct {
	// UserID is the account's ID. Log it; never show it.
	UserID string
}

// Error is ErrInvalidCredentials' message.
func (e *CredentialsError) Error() string { return ErrInvalidCredentials.Error() }

// Is reports whether target is ErrInvalidCredentials.
func (e *CredentialsError) Is(target error) bool { return target == ErrInvalidCredentials }

// ThrottledError is the error of a sign-in refused by the Throttle. It
// matches ErrThrottled with errors.Is. Its message does not say whether the
// account or the client address is limited; Limit does, for logs.
type ThrottledError struct {
	// RetryAfter is how long until a sign-in may be attempted again.
	RetryAfter time.Duration
	// Limit is the limit that refused the attempt (LimitAddress,
	// LimitDevice or LimitAccount). Not for the user: it would tell an
	// account's delay from an address's lock.
	Limit string
}

// Error says that the attempt was throttled and for how long, in whole
// seconds rounded up.
func (e *ThrottledError) Error() string {
	return fmt.Sprintf("%s; try again in %d seconds", ErrThrottled, e.RetrySeconds())
}

// Is reports whether target is ErrThrottled.
func (e *ThrottledError) Is(target error) bool { return target == ErrThrottled }

// RetrySeconds is RetryAfter in whole seconds, rounded up, at least 1: the
// value of a Retry-After header.
func (e *ThrottledError) RetrySeconds() int64 {
	s := int64((e.RetryAfter + time.Second - 1) / time.Second)
	return max(s, 1)
}

// DefaultMaxSleep is the longest account delay Login waits out before it
// checks a password; a longer one refuses the attempt.
const DefaultMaxSleep = 5 * time.Second

// Attempt is one sign-in attempt.
type Attempt struct {
	// Username and Password are what the user typed.
	Username string
	Password string
	// IP is the client address (see Throttle.Check).
	IP string
	// Device is the device ID of the device cookie the browser presented
	// for Username (DeviceCookies.Trusted), or empty.
	Device string
}

// Users finds accounts by username; store.UserStore is one.
type Users interface {
	// GetUserByUsername returns the user whose username equals username
	// case-insensitively, or an error wrapping store.ErrNotFound.
	GetUserByUsername(ctx context.Context, username string) (store.User, error)
}

// PasswordHasher is what Login needs of a password hasher; Hasher is the
// implementation. Verify and DummyVerify each cost one password hash
// computation, unless Verify fails on an unreadable encoded hash.
type PasswordHasher interface {
	// Hash encodes a new hash of password.
	Hash(password string) (string, error)
	// Verify checks password against an encoded hash.
	Verify(password, encoded string) (ok, needsRehash bool, err error)
	// DummyVerify does the work of a Verify without a stored hash.
	DummyVerify(password string)
}

// UpdateUserFunc updates a user in one transaction, like
// store.UserStore.UpdateUser.
type UpdateUserFunc func(ctx context.Context, id string, fn func(old store.User) (store.User, error)) (store.User, error)

// Login checks usernames and passwords. Every outcome other than success,
// throttling and a store failure is ErrInvalidCredentials, reached after the
// same work, so that neither the answer nor its timing tells whether an
// account exists, is disabled or has a password.
//
// A Login is safe for concurrent use and must not be copied after first use.
type Login struct {
	// Users looks accounts up; required.
	Users Users
	// Hasher verifies passwords and makes the hashes of rehashing; nil
	// means a Hasher with the default Params.
	Hasher PasswordHasher
	// Throttle limits failed sign-ins; required.
	Throttle *Throttle
	// UpdateUser, when set (normally to a store's UpdateUser), lets a
	// successful sign-in replace a hash made with parameters other than
	// Hasher.Params by a new one, so that parameter changes take effect as
	// users sign in. The replacement happens only if the stored hash is
	// still the one verified (a concurrent password change wins); it sets
	// UpdatedAt, not PasswordChangedAt. If it fails, the sign-in still
	// succeeds and Logger is told. When nil, hashes are never replaced.
	UpdateUser UpdateUserFunc
	// MaxConcurrent bounds the password checks in flight (each takes
	// Hasher.Params.Memory KiB); further sign-ins wait for a slot or their
	// context. Zero or negative means runtime.GOMAXPROCS(0). The throttle
	// is consulted again once a slot is held and the failure recorded
	// before it is released, so that concurrent attempts exceed a limit
	// by at most MaxConcurrent-1.
	MaxConcurrent int
	// MaxSleep is the longest account delay (see Throttle) an attempt
	// waits out before its password is checked; an attempt with a longer
	// one is refused with a *ThrottledError. Zero means DefaultMaxSleep;
	// negative means never to wait.
	MaxSleep time.Duration
	// Sleep waits for d or until ctx is done; nil means a timer. Tests
	// inject a fake clock's Sleep, so that delays are computed, not slept.
	Sleep func(ctx context.Context, d time.Duration) error
	// Logger receives warnings (a stored hash that cannot be parsed, a
	// failed rehash); never a password or username. Nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	once  sync.Once
	slots chan struct{}
}

// Authenticate checks an attempt's username and password and returns the
// user on success.
//
// The Throttle is consulted first: a locked address or device cookie
// refuses the attempt; an account delay up to MaxSleep is waited out (the
// browser's answer is that much slower), a longer one refuses it.
//
// Errors: a *ThrottledError (errors.Is ErrThrottled) when refused, before
// any password check; ErrInvalidCredentials for every kind of wrong
// credentials (the failure is counted), as a *CredentialsError naming the
// account when it exists; the context's error while waiting
// for a delay or a slot; and a wrapped store error when the user cannot be
// looked up for another reason than not existing. Input that cannot name
// an account or be a password (empty, oversized, invalid username) is
// refused without a lookup or a hash: that is faster, but in a way that
// depends on the input only, never on an account.
func (l *Login) Authenticate(ctx context.Context, a Attempt) (store.User, error) {
	if l.Users == nil || l.Throttle == nil {
		return store.User{}, errors.New("authn: Login needs Users and Throttle")
	}
	v := l.Throttle.Check(a.Username, a.IP, a.Device)
	if v.Locked > 0 {
		return store.User{}, &ThrottledError{RetryAfter: v.Locked, Limit: v.Limit}
	}
	if v.Delay > 0 {
		if v.Delay > l.maxSleep() {
			return store.User{}, &ThrottledError{RetryAfter: v.Delay, Limit: v.Limit}
		}
		if err := l.sleep(ctx, v.Delay); err != nil {
			return store.User{}, fmt.Errorf("authn: authenticate: %w", err)
		}
	}
	if err := l.acquire(ctx); err != nil {
		return store.User{}, fmt.Errorf("authn: authenticate: %w", err)
	}
	defer l.release()
	// Attempts that passed together wait here; the ones the slots let
	// through first may have locked or delayed the account meanwhile.
	if v := l.Throttle.Check(a.Username, a.IP, a.Device); v.Locked > 0 || v.Delay > 0 {
		return store.User{}, &ThrottledError{RetryAfter: max(v.Locked, v.Delay), Limit: v.Limit}
	}
	username, password := a.Username, a.Password
	fail := func() (store.User, error) {
		l.Throttle.Failure(username, a.IP, a.Device)
		return store.User{}, ErrInvalidCredentials
	}
	failUser := func(id string) (store.User, error) {
		l.Throttle.Failure(username, a.IP, a.Device)
		return store.User{}, &CredentialsError{UserID: id}
	}
	// Malformed input cannot match any account: it is refused without a
	// lookup or a hash, in a time that does not depend on any account.
	if store.CheckID("username", username) != nil || checkPasswordLength(password) != nil {
		return fail()
	}
	u, err := l.Users.GetUserByUsername(ctx, username)
	switch {
	case errors.Is(err, store.ErrNotFound):
		l.hasher().DummyVerify(password)
		return fail()
	case err != nil:
		return store.User{}, fmt.Errorf("authn: authenticate: %w", err)
	case u.PasswordHash == "":
		l.hasher().DummyVerify(password)
		return failUser(u.ID)
	}
	ok, rehash, err := l.hasher().Verify(password, u.PasswordHash)
	if err != nil {
		l.logger().LogAttrs(ctx, slog.LevelWarn, "authn: stored password hash cannot be verified",
			slog.String("user_id", u.ID), slog.String("error", err.Error()))
		l.hasher().DummyVerify(password)
		return failUser(u.ID)
	}
	if !ok || u.Disabled {
		return failUser(u.ID)
	}
	l.Throttle.Success(username, a.Device)
	if rehash && l.UpdateUser != nil {
		u = l.rehash(ctx, u, password)
	}
	return u, nil
}

// errHashChanged aborts a rehash when the password changed meanwhile.
var errHashChanged = errors.New("authn: password hash changed concurrently")

// rehash replaces u's password hash by one made with the current
// parameters and returns the updated user, or u when that fails.
func (l *Login) rehash(ctx context.Context, u store.User, password string) store.User {
	encoded, err := l.hasher().Hash(password)
	if err == nil {
		var nu store.User
		nu, err = l.UpdateUser(ctx, u.ID, func(old store.User) (store.User, error) {
			if old.PasswordHash != u.PasswordHash {
				return store.User{}, errHashChanged
			}
			old.PasswordHash = encoded
			old.UpdatedAt = l.now()
			return old, nil
		})
		if err == nil {
			return nu
		}
	}
	if !errors.Is(err, errHashChanged) {
		l.logger().LogAttrs(ctx, slog.LevelWarn, "authn: password rehash failed",
			slog.String("user_id", u.ID), slog.String("error", err.Error()))
	}
	return u
}

func (l *Login) acquire(ctx context.Context) error {
	l.once.Do(func() {
		n := l.MaxConcurrent
		if n <= 0 {
			n = runtime.GOMAXPROCS(0)
		}
		l.slots = make(chan struct{}, n)
	})
	select {
	case l.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *Login) release() { <-l.slots }

func (l *Login) maxSleep() time.Duration {
	if l.MaxSleep == 0 {
		return DefaultMaxSleep
	}
	return max(l.MaxSleep, 0)
}

func (l *Login) sleep(ctx context.Context, d time.Duration) error {
	if l.Sleep != nil {
		return l.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *Login) hasher() PasswordHasher {
	if l.Hasher == nil {
		return Hasher{}
	}
	return l.Hasher
}

func (l *Login) logger() *slog.Logger {
	if l.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l.Logger
}

func (l *Login) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

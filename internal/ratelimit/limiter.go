package ratelimit

import (
	"context"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"
	"time"
)

// Hooks report what a Limiter decides, e.g. to metrics; each may be nil
// and each must be fast and safe for concurrent use.
type Hooks struct {
	// Refused is called for each refused event with the rule's name.
	Refused func(rule string)
	// BackendError is called for each backend failure (the event was
	// allowed: the limiter fails open).
	BackendError func(rule string, err error)
}

// Decision is a Limiter's answer for one event.
type Decision struct {
	// Allowed tells whether the event may proceed.
	Allowed bool
	// RetryAfter, when refused, is how long until it would be allowed.
	RetryAfter time.Duration
}

// Options configure a Limiter.
type Options struct {
	// Backend keeps the state; nil means a new Memory.
	Backend Backend
	// Limits are the limits by rule name; a rule without one is off.
	Limits map[string]Limit
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives the warnings of a failing backend; nil discards
	// them.
	Logger *slog.Logger
	// Hooks report refusals and backend failures.
	Hooks Hooks
	// Timeout bounds each backend call; zero means DefaultTimeout.
	Timeout time.Duration
}

// DefaultTimeout bounds a backend call: a slow shared backend must not hold
// requests for long, and the limiter fails open past it.
const DefaultTimeout = 250 * time.Millisecond

// WarnInterval is how often a failing backend is logged at most.
const WarnInterval = 10 * time.Second

// Warner paces the warnings of a failing backend: at most one per
// WarnInterval, so that an outage logs a line every few seconds, not one
// per request. The zero Warner is ready; it is safe for concurrent use.
type Warner struct {
	mu   sync.Mutex
	last time.Time
}

// Due reports whether a failure met at now is to be logged, and if so
// counts it as logged.
func (w *Warner) Due(now time.Time) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.last.IsZero() && now.Sub(w.last) < WarnInterval {
		return false
	}
	w.last = now
	return true
}

// Limiter applies named limits to keys on a Backend. A nil *Limiter
// allows everything. It is safe for concurrent use.
type Limiter struct {
	backend Backend
	limits  atomic.Pointer[map[string]Limit]
	now     func() time.Time
	log     *slog.Logger
	hooks   Hooks
	timeout time.Duration
	warned  Warner
}

// New returns a Limiter.
func New(o Options) *Limiter {
	if o.Backend == nil {
		o.Backend = &Memory{}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	l := &Limiter{backend: o.Backend, now: o.Now, log: o.Logger, hooks: o.Hooks, timeout: o.Timeout}
	l.SetLimits(o.Limits)
	return l
}

// SetLimits replaces every limit at once (a configuration reload). The
// state of each key is kept: a lower limit applies to what was counted.
func (l *Limiter) SetLimits(limits map[string]Limit) {
	m := maps.Clone(limits)
	l.limits.Store(&m)
}

// Limit returns the limit of rule (the zero Limit, off, when it has none).
func (l *Limiter) Limit(rule string) Limit {
	if l == nil {
		return Limit{}
	}
	return (*l.limits.Load())[rule]
}

// Allow counts one event of rule for value (a client_id, an address) and
// tells whether it may proceed. An empty value, an off rule and a nil
// Limiter allow everything; a failing backend allows too (fail open).
func (l *Limiter) Allow(ctx context.Context, rule, value string) Decision {
	lim := l.Limit(rule)
	if lim.Off() || value == "" {
		return Decision{Allowed: true}
	}
	return l.take(ctx, rule, value, lim.Emission(), lim.Tolerance())
}

// take runs one step on the backend, failing open.
func (l *Limiter) take(ctx context.Context, rule, value string, emission, tolerance time.Duration) Decision {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.timeout)
	defer cancel()
	ok, retry, err := l.backend.Take(ctx, Key(rule, value), l.now(), emission, tolerance)
	if err != nil {
		if h := l.hooks.BackendError; h != nil {
			h(rule, err)
		}
		l.warn(ctx, rule, err)
		return Decision{Allowed: true}
	}
	if !ok {
		if h := l.hooks.Refused; h != nil {
			h(rule)
		}
		return Decision{RetryAfter: retry}
	}
	return Decision{Allowed: true}
}

// warn logs a backend failure, at most once per WarnInterval.
func (l *Limiter) warn(ctx context.Context, rule string, err error) {
	if !l.warned.Due(time.Now()) {
		return
	}
	l.log.WarnContext(ctx, "rate limit backend failed: requests are allowed without limits until it answers (fail open)",
		"rule", rule, "error", err.Error())
}

// RetryAfterSeconds is a Retry-After value: whole seconds, rounded up, at
// least 1.
func RetryAfterSeconds(d time.Duration) int64 {
	s := int64((d + time.Second - 1) / time.Second)
	return max(s, 1)
}

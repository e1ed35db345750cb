// Package ratelimit limits request rates per key with the generic cell rate
// algorithm (GCRA, a token bucket kept as one timestamp per key: the
// theoretical arrival time, TAT). A [Limit] is a rate and a burst; a
// [Backend] performs one GCRA step for one key atomically, in memory
// ([Memory], one node), in Redis ([Redis]) or in the store's database
// (store/postgres), the last two shared by every node. A [Limiter] holds
// the configured limits by rule name, swaps them atomically on reload, and
// fails open when a shared backend fails: a limiter protects availability,
// so an outage of its backend must not become an outage of sign-in and
// token issuance. Each failure is logged (at most once per interval) and
// reported to [Hooks.BackendError], each refusal to [Hooks.Refused].
package ratelimit

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Limit is a rate and a burst: on average Rate events per Per, and at most
// Burst at once after a quiet period. The zero Limit (or Rate 0) is off.
type Limit struct {
	// Rate is how many events are allowed per Per; zero turns the limit off.
	Rate int
	// Per is the period of Rate: a second, a minute or an hour.
	Per time.Duration
	// Burst is how many events may arrive at once; zero or less means
	// Rate.
	Burst int
}

// Off reports whether the limit allows everything.
func (l Limit) Off() bool { return l.Rate <= 0 || l.Per <= 0 }

// Emission is the interval between two events at the steady rate.
func (l Limit) Emission() time.Duration {
	if l.Off() {
		return 0
	}
	return max(l.Per/time.Duration(l.Rate), 1)
}

// Tolerance is how far ahead of now a key's theoretical arrival time may
// be after an allowed event: Burst emission intervals.
func (l Limit) Tolerance() time.Duration {
	return l.Emission() * time.Duration(l.burst())
}

func (l Limit) burst() int {
	if l.Burst <= 0 {
		return l.Rate
	}
	return l.Burst
}

// String is the limit as ParseLimit reads it: "0" when off, else
// RATE/UNIT:BURST.
func (l Limit) String() string {
	if l.Off() {
		return "0"
	}
	unit := "s"
	switch l.Per {
	case time.Minute:
		unit = "m"
	case time.Hour:
		unit = "h"
	}
	return fmt.Sprintf("%d/%s:%d", l.Rate, unit, l.burst())
}

// Bounds of a parsed limit.
const (
	maxRate  = 1_000_000
	maxBurst = 1_000_000
)

// ParseLimit reads a limit: "0" (or "off") turns it off; "RATE/UNIT" allows
// RATE events per second (s), minute (m) or hour (h) with a burst of RATE;
// "RATE/UNIT:BURST" sets the burst. Examples: "10/s:20", "30/m", "0".
func ParseLimit(s string) (Limit, error) {
	s = strings.TrimSpace(s)
	if s == "0" || s == "off" {
		return Limit{}, nil
	}
	bad := fmt.Errorf("ratelimit: %q is not a limit: use RATE/UNIT or RATE/UNIT:BURST with UNIT s, m or h (e.g. 10/s:20), or 0 for off", clip(s))
	rate, rest, ok := strings.Cut(s, "/")
	if !ok {
		return Limit{}, bad
	}
	unit, burst, hasBurst := strings.Cut(rest, ":")
	var l Limit
	switch unit {
	case "s":
		l.Per = time.Second
	case "m":
		l.Per = time.Minute
	case "h":
		l.Per = time.Hour
	default:
		return Limit{}, bad
	}
	n, err := strconv.Atoi(rate)
	if err != nil || n < 0 || n > maxRate {
		return Limit{}, bad
	}
	l.Rate = n
	if hasBurst {
		b, err := strconv.Atoi(burst)
		if err != nil || b < 1 || b > maxBurst {
			return Limit{}, bad
		}
		l.Burst = b
	}
	if l.Rate == 0 {
		return Limit{}, nil
	}
	if l.Burst == 0 {
		l.Burst = l.Rate
	}
	return l, nil
}

func clip(s string) string {
	if len(s) > 64 {
		return strings.ToValidUTF8(s[:64], "") + "…"
	}
	return s
}

// ErrBackend wraps every error of a backend.
var ErrBackend = errors.New("ratelimit: backend failed")

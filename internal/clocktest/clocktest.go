// Package clocktest is the one fake clock of writ's tests. A Clock either
// stands still at a fixed instant until advanced (New), or follows the real
// time shifted by what it was advanced (Real), for tests whose real clients
// read time.Now. Its Sleep advances the clock instead of waiting, so that a
// delay the code under test computes is observed, not slept.
package clocktest

import (
	"context"
	"sync"
	"time"
)

// start is the instant a Clock from Default stands at.
var start = time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)

// Clock is a clock the test controls. It is safe for concurrent use.
type Clock struct {
	mu    sync.Mutex
	base  time.Time // zero: follow time.Now
	off   time.Duration
	slept []time.Duration
}

// New returns a Clock standing at t until advanced.
func New(t time.Time) *Clock { return &Clock{base: t} }

// Default returns a Clock standing at a fixed instant in 2031.
func Default() *Clock { return New(start) }

// Real returns a Clock that follows time.Now, shifted by Advance and Sleep.
func Real() *Clock { return &Clock{} }

// Now is the clock's current time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.base.IsZero() {
		return time.Now().Add(c.off)
	}
	return c.base.Add(c.off)
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// Set moves the clock to t. On a Real clock, later readings go on from t
// at the pace of the real time.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.base.IsZero() {
		c.off = time.Until(t)
		return
	}
	c.off = t.Sub(c.base)
}

// Sleep advances the clock by d at once instead of waiting, and records d
// (see Slept). It returns the context's error when ctx is done, like a
// sleep that was cut short; then the clock does not move.
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.slept = append(c.slept, d)
	if d > 0 {
		c.off += d
	}
	return nil
}

// Slept returns the durations Sleep was called with, in order.
func (c *Clock) Slept() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.slept...)
}

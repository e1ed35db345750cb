package clocktest

import (
	"context"
	"slices"
	"testing"
	"time"
)

func TestFixedClock(t *testing.T) {
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	c := New(t0)
	if !c.Now().Equal(t0) {
		t.Fatalf("Now %v, want %v", c.Now(), t0)
	}
	c.Advance(time.Minute)
	if !c.Now().Equal(t0.Add(time.Minute)) {
		t.Fatalf("after Advance: %v", c.Now())
	}
	t1 := t0.Add(time.Hour)
	c.Set(t1)
	if !c.Now().Equal(t1) {
		t.Fatalf("after Set: %v", c.Now())
	}
	if err := c.Sleep(t.Context(), 3*time.Second); err != nil {
		t.Fatal(err)
	}
	if !c.Now().Equal(t1.Add(3 * time.Second)) {
		t.Fatalf("after Sleep: %v", c.Now())
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := c.Sleep(ctx, time.Second); err == nil {
		t.Fatal("Sleep with a done context succeeded")
	}
	if got := c.Slept(); !slices.Equal(got, []time.Duration{3 * time.Second}) {
		t.Fatalf("Slept %v", got)
	}
}

func TestRealClock(t *testing.T) {
	c := Real()
	c.Advance(time.Hour)
	// Only ordering is asserted: the real clock moves by an unknown amount.
	if d := c.Now().Sub(time.Now()); d < 59*time.Minute {
		t.Fatalf("Real clock advanced by an hour is %v ahead", d)
	}
	target := time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC)
	c.Set(target)
	if c.Now().Before(target) {
		t.Fatalf("after Set: %v before %v", c.Now(), target)
	}
}

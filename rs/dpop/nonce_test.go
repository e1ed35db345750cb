package dpop_test

import (
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/clocktest"
	"github.com/writ-dev/writ/rs/dpop"
)

func TestNonces(t *testing.T) {
	secret := []byte(strings.Repeat("k", 32))
	clock := clocktest.New(t0)
	n, err := dpop.NewNonces(secret, time.Minute, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	first := n.Current()
	if len(first) < 22 || n.Current() != first {
		t.Fatalf("Current = %q, then %q", first, n.Current())
	}
	if !n.Valid(first) || n.Valid("") || n.Valid(first[:len(first)-1]) || n.Valid(first+"x") {
		t.Fatal("Valid accepts what it should not or refuses the current nonce")
	}
	// Stateless: another node with the same secret agrees; another secret
	// does not.
	other, _ := dpop.NewNonces(secret, time.Minute, clock.Now)
	stranger, _ := dpop.NewNonces([]byte(strings.Repeat("x", 32)), time.Minute, clock.Now)
	if other.Current() != first || !other.Valid(first) || stranger.Valid(first) {
		t.Fatal("nonces are not a function of the secret and the time alone")
	}
	// Rotation: the previous window's nonce is still good, the one before
	// is not.
	clock.Advance(time.Minute)
	second := n.Current()
	if second == first || !n.Valid(first) || !n.Valid(second) {
		t.Fatalf("after one period: current %q (first %q), first valid %v", second, first, n.Valid(first))
	}
	clock.Advance(time.Minute)
	if n.Valid(first) || !n.Valid(second) {
		t.Fatal("after two periods the first nonce is still good, or the second is not")
	}
	// A clock going back a window is not a problem for a node behind.
	clock.Advance(-time.Minute)
	if n.Current() != second {
		t.Fatal("the nonce of a window is not stable")
	}
}

func TestNewNoncesConfig(t *testing.T) {
	if _, err := dpop.NewNonces(make([]byte, 31), time.Minute, nil); err == nil {
		t.Error("a 31-byte secret was accepted")
	}
	if _, err := dpop.NewNonces(make([]byte, 32), time.Millisecond, nil); err == nil {
		t.Error("a 1 ms period was accepted")
	}
	n, err := dpop.NewNonces(make([]byte, 32), 0, nil)
	if err != nil || n.Current() == "" {
		t.Fatalf("defaults: %v", err)
	}
}

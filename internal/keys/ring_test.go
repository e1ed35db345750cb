package keys

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/clocktest"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
)

// fakeClock is the shared fake clock.
type fakeClock = clocktest.Clock

func newFakeClock() *fakeClock {
	return clocktest.New(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
}

const testLifetime = time.Hour

func newTestRing(t testing.TB, clock *fakeClock, opts Options) *Ring {
	t.Helper()
	if opts.Clock == nil {
		opts.Clock = clock.Now
	}
	if opts.MaxTokenLifetime == 0 {
		opts.MaxTokenLifetime = testLifetime
	}
	r, err := NewRing(opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func genKey(t testing.TB, alg jose.Algorithm) *jose.Key {
	t.Helper()
	k, err := jose.GenerateKey(alg)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// states maps kid to state for every key in the ring.
func states(r *Ring) map[string]State {
	m := map[string]State{}
	for _, e := range r.Entries() {
		m[e.KeyID()] = e.State
	}
	return m
}

func entryOf(t testing.TB, r *Ring, kid string) Entry {
	t.Helper()
	for _, e := range r.Entries() {
		if e.KeyID() == kid {
			return e
		}
	}
	t.Fatalf("key %q not in the ring", kid)
	return Entry{}
}

func publishedKIDs(ks *jose.KeySet) []string {
	var kids []string
	for _, k := range ks.Keys() {
		kids = append(kids, k.KeyID())
	}
	slices.Sort(kids)
	return kids
}

func TestStateText(t *testing.T) {
	tests := []struct {
		s    State
		name string
	}{{Next, "next"}, {Active, "active"}, {Retired, "retired"}, {Removed, "removed"}}
	for _, tt := range tests {
		if tt.s.String() != tt.name {
			t.Errorf("%d.String() = %q, want %q", tt.s, tt.s.String(), tt.name)
		}
		b, err := tt.s.MarshalText()
		if err != nil || string(b) != tt.name {
			t.Errorf("MarshalText(%v) = %q, %v", tt.s, b, err)
		}
		var back State
		if err := back.UnmarshalText([]byte(tt.name)); err != nil || back != tt.s {
			t.Errorf("UnmarshalText(%q) = %v, %v", tt.name, back, err)
		}
	}
	if got := State(0).String(); got != "State(0)" {
		t.Errorf("State(0).String() = %q", got)
	}
	if _, err := State(9).MarshalText(); err == nil {
		t.Error("MarshalText of an invalid state succeeded")
	}
	for _, bad := range []string{"", "Active", "ACTIVE", "activ", "State(1)", "1"} {
		var s State
		if err := s.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("UnmarshalText(%q) succeeded", bad)
		}
	}
}

func TestNewRingOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		wantErr error
		wantAlg jose.Algorithm
	}{
		{name: "defaults", wantAlg: jose.ES256},
		{name: "EdDSA", opts: Options{Algorithm: jose.EdDSA}, wantAlg: jose.EdDSA},
		{name: "ES384", opts: Options{Algorithm: jose.ES384}, wantAlg: jose.ES384},
		{name: "HMAC refused", opts: Options{Algorithm: jose.HS256}, wantErr: ErrUnsuitableKey},
		{name: "encryption alg refused", opts: Options{Algorithm: jose.ECDHES}, wantErr: ErrUnsuitableKey},
		{name: "unknown alg refused", opts: Options{Algorithm: "none"}, wantErr: ErrUnsuitableKey},
		{name: "negative lifetime", opts: Options{MaxTokenLifetime: -time.Second}},
		{name: "negative MinPublish", opts: Options{MinPublish: -time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewRing(tt.opts)
			if tt.wantAlg == "" {
				if err == nil {
					t.Fatal("NewRing succeeded")
				}
				if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Fatalf("error %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Algorithm() != tt.wantAlg {
				t.Fatalf("alg %s, want %s", r.Algorithm(), tt.wantAlg)
			}
			if err := r.Rotate(); err != nil {
				t.Fatal(err)
			}
			if got := r.Entries()[0].Key.Algorithm(); got != tt.wantAlg {
				t.Fatalf("Rotate generated a %s key, want %s", got, tt.wantAlg)
			}
		})
	}
	r, _ := NewRing(Options{})
	if r.MaxTokenLifetime() != DefaultMaxTokenLifetime {
		t.Fatalf("default lifetime %v", r.MaxTokenLifetime())
	}
	if _, err := r.Signer(); !errors.Is(err, ErrNoActiveKey) {
		t.Fatalf("Signer on a new ring: %v", err)
	}
	if r.PublicKeySet().Len() != 0 || string(r.JWKS()) != `{"keys":[]}` || r.Version() != 0 {
		t.Fatalf("new ring is not empty: %s version %d", r.JWKS(), r.Version())
	}
}

// fixture is a ring with one key in each situation: A active, B next, R1
// retired and still needed, R2 retired and past NotAfter.
type fixture struct {
	ring  *Ring
	clock *fakeClock
	kids  map[string]string // name -> kid
	names map[string]string // kid -> name
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{clock: newFakeClock(), kids: map[string]string{}, names: map[string]string{}}
	f.ring = newTestRing(t, f.clock, Options{})
	add := func(name string) {
		k := genKey(t, jose.ES256)
		if err := f.ring.Add(k); err != nil {
			t.Fatal(err)
		}
		f.kids[name], f.names[k.KeyID()] = k.KeyID(), name
	}
	activate := func(name string) {
		if err := f.ring.Activate(f.kids[name]); err != nil {
			t.Fatal(err)
		}
	}
	add("R2")
	activate("R2")
	f.clock.Advance(time.Minute)
	add("R1")
	activate("R1") // R2 retires, NotAfter = now + lifetime
	f.clock.Advance(testLifetime + time.Minute)
	add("A")
	activate("A") // R1 retires
	add("B")
	f.clock.Advance(time.Second)
	want := map[string]State{"A": Active, "B": Next, "R1": Retired, "R2": Retired}
	if got := f.named(states(f.ring)); !mapsEqual(got, want) {
		t.Fatalf("fixture states %v, want %v", got, want)
	}
	return f
}

func (f *fixture) named(m map[string]State) map[string]State {
	out := map[string]State{}
	for kid, s := range m {
		name := f.names[kid]
		if name == "" {
			name = "new"
		}
		out[name] = s
	}
	return out
}

func mapsEqual(a, b map[string]State) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestTransitions(t *testing.T) {
	unchanged := map[string]State{"A": Active, "B": Next, "R1": Retired, "R2": Retired}
	tests := []struct {
		name    string
		op      func(t *testing.T, f *fixture) error
		wantErr error
		want    map[string]State // nil: unchanged
	}{
		{name: "activate next", op: func(t *testing.T, f *fixture) error { return f.ring.Activate(f.kids["B"]) },
			want: map[string]State{"A": Retired, "B": Active, "R1": Retired, "R2": Retired}},
		{name: "activate active", op: func(t *testing.T, f *fixture) error { return f.ring.Activate(f.kids["A"]) }, wantErr: ErrInvalidTransition},
		{name: "activate retired", op: func(t *testing.T, f *fixture) error { return f.ring.Activate(f.kids["R1"]) }, wantErr: ErrInvalidTransition},
		{name: "activate retired past NotAfter", op: func(t *testing.T, f *fixture) error { return f.ring.Activate(f.kids["R2"]) }, wantErr: ErrInvalidTransition},
		{name: "force-activate retired", op: func(t *testing.T, f *fixture) error { return f.ring.ForceActivate(f.kids["R1"]) }, wantErr: ErrInvalidTransition},
		{name: "activate unknown", op: func(t *testing.T, f *fixture) error { return f.ring.Activate("no-such-kid") }, wantErr: ErrUnknownKey},
		{name: "remove active", op: func(t *testing.T, f *fixture) error { _, err := f.ring.Remove(f.kids["A"]); return err }, wantErr: ErrInvalidTransition},
		{name: "force-remove active", op: func(t *testing.T, f *fixture) error { _, err := f.ring.ForceRemove(f.kids["A"]); return err }, wantErr: ErrInvalidTransition},
		{name: "remove next", op: func(t *testing.T, f *fixture) error { _, err := f.ring.Remove(f.kids["B"]); return err }, wantErr: ErrInvalidTransition},
		{name: "force-remove next", op: func(t *testing.T, f *fixture) error { _, err := f.ring.ForceRemove(f.kids["B"]); return err },
			want: map[string]State{"A": Active, "R1": Retired, "R2": Retired}},
		{name: "remove retired before NotAfter", op: func(t *testing.T, f *fixture) error { _, err := f.ring.Remove(f.kids["R1"]); return err }, wantErr: ErrTooEarly},
		{name: "force-remove retired before NotAfter", op: func(t *testing.T, f *fixture) error { _, err := f.ring.ForceRemove(f.kids["R1"]); return err },
			want: map[string]State{"A": Active, "B": Next, "R2": Retired}},
		{name: "remove retired past NotAfter", op: func(t *testing.T, f *fixture) error { _, err := f.ring.Remove(f.kids["R2"]); return err },
			want: map[string]State{"A": Active, "B": Next, "R1": Retired}},
		{name: "remove unknown", op: func(t *testing.T, f *fixture) error { _, err := f.ring.Remove("no-such-kid"); return err }, wantErr: ErrUnknownKey},
		{name: "force-remove unknown", op: func(t *testing.T, f *fixture) error { _, err := f.ring.ForceRemove("no-such-kid"); return err }, wantErr: ErrUnknownKey},
		{name: "prune", op: func(t *testing.T, f *fixture) error {
			removed := f.ring.Prune()
			if len(removed) != 1 || removed[0].KeyID() != f.kids["R2"] || removed[0].State != Removed {
				return fmt.Errorf("Prune removed %v, want R2", removed)
			}
			return nil
		}, want: map[string]State{"A": Active, "B": Next, "R1": Retired}},
		{name: "rotate", op: func(t *testing.T, f *fixture) error { return f.ring.Rotate() },
			want: map[string]State{"A": Retired, "B": Active, "R1": Retired, "R2": Retired, "new": Next}},
		{name: "add duplicate kid", op: func(t *testing.T, f *fixture) error {
			k, err := jose.NewKey(jose.ES256, genKey(t, jose.ES256).CryptoKey(), jose.WithKeyID(f.kids["R1"]))
			if err != nil {
				return err
			}
			return f.ring.Add(k)
		}, wantErr: ErrDuplicateKey},
		{name: "add same key material under another kid", op: func(t *testing.T, f *fixture) error {
			active, _ := f.ring.Signer()
			k, err := jose.NewKey(jose.ES256, active.CryptoKey(), jose.WithKeyID("other"))
			if err != nil {
				return err
			}
			return f.ring.Add(k)
		}, wantErr: ErrDuplicateKey},
		{name: "add public key", op: func(t *testing.T, f *fixture) error { return f.ring.Add(genKey(t, jose.ES256).Public()) }, wantErr: ErrUnsuitableKey},
		{name: "add HMAC key", op: func(t *testing.T, f *fixture) error { return f.ring.Add(genKey(t, jose.HS256)) }, wantErr: ErrUnsuitableKey},
		{name: "add encryption key", op: func(t *testing.T, f *fixture) error { return f.ring.Add(genKey(t, jose.ECDHES)) }, wantErr: ErrUnsuitableKey},
		{name: "add nil key", op: func(t *testing.T, f *fixture) error { return f.ring.Add(nil) }, wantErr: ErrUnsuitableKey},
		{name: "add key with use enc", op: func(t *testing.T, f *fixture) error {
			k, err := jose.NewKey(jose.ES256, genKey(t, jose.ES256).CryptoKey(), jose.WithUse(jose.UseEncryption))
			if err != nil {
				return err
			}
			return f.ring.Add(k)
		}, wantErr: ErrUnsuitableKey},
		{name: "add key whose key_ops exclude sign", op: func(t *testing.T, f *fixture) error {
			return f.ring.Add(withKeyOps(t, genKey(t, jose.ES256), "verify"))
		}, wantErr: ErrUnsuitableKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			before := f.ring.Version()
			err := tt.op(t, f)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error %v, want %v", err, tt.wantErr)
				}
				if got := f.named(states(f.ring)); !mapsEqual(got, unchanged) {
					t.Fatalf("failed operation changed the ring: %v", got)
				}
				if f.ring.Version() != before {
					t.Fatal("failed operation published a new version")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := f.named(states(f.ring)); !mapsEqual(got, tt.want) {
				t.Fatalf("states %v, want %v", got, tt.want)
			}
			if f.ring.Version() <= before {
				t.Fatal("a change did not publish a new version")
			}
			// The published set is exactly the ring's keys; the signer is the
			// active one.
			var kids []string
			for kid := range states(f.ring) {
				kids = append(kids, kid)
			}
			slices.Sort(kids)
			if got := publishedKIDs(f.ring.PublicKeySet()); !slices.Equal(got, kids) {
				t.Fatalf("published %v, ring holds %v", got, kids)
			}
			signer, err := f.ring.Signer()
			if err != nil || states(f.ring)[signer.KeyID()] != Active {
				t.Fatalf("Signer %v, %v is not the active key", signer, err)
			}
		})
	}
}

// withKeyOps returns k with the given key_ops, through its JWK form.
func withKeyOps(t *testing.T, k *jose.Key, ops ...string) *jose.Key {
	t.Helper()
	var m map[string]any
	b, _ := json.Marshal(k)
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m["key_ops"] = ops
	b, _ = json.Marshal(m)
	out, err := jose.ParseKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestActivateRetiresWithNotAfter(t *testing.T) {
	f := newFixture(t)
	now := f.clock.Now()
	if err := f.ring.Activate(f.kids["B"]); err != nil {
		t.Fatal(err)
	}
	a := entryOf(t, f.ring, f.kids["A"])
	if !a.RetiredAt.Equal(now) || !a.NotAfter.Equal(now.Add(testLifetime)) {
		t.Fatalf("retired A: RetiredAt %v NotAfter %v, want %v and +%v", a.RetiredAt, a.NotAfter, now, testLifetime)
	}
	b := entryOf(t, f.ring, f.kids["B"])
	if !b.ActivatedAt.Equal(now) || !b.RetiredAt.IsZero() || !b.NotAfter.IsZero() {
		t.Fatalf("activated B: %+v", b)
	}
	// Entries order: active, next, retired with the most recent first.
	var order []string
	for _, e := range f.ring.Entries() {
		order = append(order, f.names[e.KeyID()])
	}
	if want := []string{"B", "A", "R1", "R2"}; !slices.Equal(order, want) {
		t.Fatalf("Entries order %v, want %v", order, want)
	}
}

func TestPruneAndRemoveAtNotAfter(t *testing.T) {
	clock := newFakeClock()
	r := newTestRing(t, clock, Options{})
	mustRotate(t, r, 2) // A active, B next
	a := mustSigner(t, r)
	mustRotate(t, r, 1) // A retired now, NotAfter now+lifetime
	notAfter := entryOf(t, r, a.KeyID()).NotAfter
	if removed := r.Prune(); removed != nil {
		t.Fatalf("Prune without expired keys returned %v", removed)
	}
	tests := []struct {
		at          time.Time
		wantRemoved bool
	}{
		{notAfter.Add(-time.Hour), false},
		{notAfter.Add(-time.Nanosecond), false},
		{notAfter, false}, // "past NotAfter" is strict
		{notAfter.Add(time.Nanosecond), true},
	}
	for _, tt := range tests {
		t.Run(tt.at.Sub(notAfter).String(), func(t *testing.T) {
			r2 := cloneRing(t, r, clock)
			clock.Set(tt.at)
			_, err := r2.Remove(a.KeyID())
			if tt.wantRemoved != (err == nil) {
				t.Fatalf("Remove at NotAfter%+v: %v", tt.at.Sub(notAfter), err)
			}
			if !tt.wantRemoved && !errors.Is(err, ErrTooEarly) {
				t.Fatalf("Remove too early: %v, want ErrTooEarly", err)
			}
			r3 := cloneRing(t, r, clock)
			removed := r3.Prune()
			if got := len(removed) == 1; got != tt.wantRemoved {
				t.Fatalf("Prune removed %v", removed)
			}
			if tt.wantRemoved && (removed[0].KeyID() != a.KeyID() || removed[0].Key.IsPrivate()) {
				t.Fatalf("Prune returned %v", removed)
			}
		})
	}
}

// cloneRing copies r through its sealed form.
func cloneRing(t *testing.T, r *Ring, clock *fakeClock) *Ring {
	t.Helper()
	mk := mustMasterKey(t, testKeyBytes(1))
	doc, err := r.MarshalSealed(mk)
	if err != nil {
		t.Fatal(err)
	}
	c := newTestRing(t, clock, Options{})
	if err := c.UnmarshalSealed(doc, mk); err != nil {
		t.Fatal(err)
	}
	return c
}

func mustRotate(t testing.TB, r *Ring, n int) {
	t.Helper()
	for range n {
		if err := r.Rotate(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRotateSemantics(t *testing.T) {
	clock := newFakeClock()
	r := newTestRing(t, clock, Options{})

	// First Rotate on an empty ring: publish A, nothing signs yet.
	mustRotate(t, r, 1)
	if _, err := r.Signer(); !errors.Is(err, ErrNoActiveKey) {
		t.Fatalf("Signer after one Rotate: %v", err)
	}
	es := r.Entries()
	if len(es) != 1 || es[0].State != Next || r.PublicKeySet().Len() != 1 {
		t.Fatalf("after one Rotate: %v", es)
	}
	published := map[string]bool{es[0].KeyID(): true}

	// Each later Rotate activates a key that was already published and
	// publishes the following one.
	var prevActive string
	for i := range 5 {
		clock.Advance(10 * time.Minute)
		mustRotate(t, r, 1)
		signer, err := r.Signer()
		if err != nil {
			t.Fatal(err)
		}
		if !published[signer.KeyID()] {
			t.Fatalf("rotation %d: key %q signs but was not published before", i, signer.KeyID())
		}
		st := states(r)
		nexts := 0
		for kid, s := range st {
			if s == Next {
				nexts++
				published[kid] = true
			}
		}
		if nexts != 1 {
			t.Fatalf("rotation %d: %d next keys, want 1", i, nexts)
		}
		if prevActive != "" && st[prevActive] != Retired {
			t.Fatalf("rotation %d: previous active key is %v", i, st[prevActive])
		}
		for kid := range st {
			if r.PublicKeySet().Lookup(kid, "", true) == nil {
				t.Fatalf("rotation %d: key %q of the ring is not published", i, kid)
			}
		}
		prevActive = signer.KeyID()
	}

	// With two next keys, Rotate promotes the older and generates nothing.
	extra := genKey(t, jose.ES256)
	clock.Advance(time.Minute)
	if err := r.Add(extra); err != nil {
		t.Fatal(err)
	}
	n := len(r.Entries())
	mustRotate(t, r, 1)
	if got := len(r.Entries()); got != n {
		t.Fatalf("Rotate with a second next key generated a key: %d entries, want %d", got, n)
	}
	if st := states(r); st[extra.KeyID()] != Next {
		t.Fatalf("the younger next key was promoted: %v", st[extra.KeyID()])
	}
	mustRotate(t, r, 1)
	if s, _ := r.Signer(); s.KeyID() != extra.KeyID() || s.Algorithm() != jose.ES256 {
		t.Fatalf("the added key did not become active: %v", s)
	}
}

func TestRotateFailureLeavesRingUnchanged(t *testing.T) {
	errGen := errors.New("entropy exhausted")
	tests := []struct {
		name string
		gen  func(r *Ring, alg jose.Algorithm) (*jose.Key, error)
		want error
	}{
		{"generator fails", func(*Ring, jose.Algorithm) (*jose.Key, error) { return nil, errGen }, errGen},
		{"generator returns a public key", func(_ *Ring, alg jose.Algorithm) (*jose.Key, error) {
			k, err := jose.GenerateKey(alg)
			return k.Public(), err
		}, ErrUnsuitableKey},
		{"generator returns a key of the ring", func(r *Ring, _ jose.Algorithm) (*jose.Key, error) {
			return r.snap.Load().entries[0].Key, nil // the active key, private half included
		}, ErrDuplicateKey},
	}
	for _, tt := range tests {
		for _, withNext := range []bool{true, false} {
			// With a next key, Rotate promotes it and then needs a new next
			// key: a failure must undo the promotion too. Without one,
			// Rotate only generates.
			t.Run(fmt.Sprintf("%s/next=%v", tt.name, withNext), func(t *testing.T) {
				var r *Ring
				var failing atomic.Bool
				r = newTestRing(t, newFakeClock(), Options{Generate: func(alg jose.Algorithm) (*jose.Key, error) {
					if failing.Load() {
						return tt.gen(r, alg)
					}
					return jose.GenerateKey(alg)
				}})
				mustRotate(t, r, 3) // A retired, B active, C next
				if !withNext {
					for _, e := range r.Entries() {
						if e.State == Next {
							if _, err := r.ForceRemove(e.KeyID()); err != nil {
								t.Fatal(err)
							}
						}
					}
				}
				before, v, signer := states(r), r.Version(), mustSigner(t, r)
				failing.Store(true)
				if err := r.Rotate(); !errors.Is(err, tt.want) {
					t.Fatalf("Rotate: %v, want %v", err, tt.want)
				}
				if !mapsEqual(states(r), before) || r.Version() != v || mustSigner(t, r) != signer {
					t.Fatalf("a failed Rotate changed the ring: %v, was %v", states(r), before)
				}
			})
		}
	}
}

func TestMinPublish(t *testing.T) {
	clock := newFakeClock()
	r := newTestRing(t, clock, Options{MinPublish: time.Hour})
	// Without an active key the check does not apply: bootstrap at once.
	mustRotate(t, r, 2)
	if _, err := r.Signer(); err != nil {
		t.Fatal(err)
	}
	next := func() string {
		for _, e := range r.Entries() {
			if e.State == Next {
				return e.KeyID()
			}
		}
		t.Fatal("no next key")
		return ""
	}
	tests := []struct {
		name    string
		advance time.Duration
		op      func() error
		wantErr error
	}{
		{"rotate at once", 0, r.Rotate, ErrTooEarly},
		{"activate at once", 0, func() error { return r.Activate(next()) }, ErrTooEarly},
		{"rotate just before", time.Hour - time.Second, r.Rotate, ErrTooEarly},
		{"rotate when published long enough", time.Second, r.Rotate, nil},
		{"activate at once after rotation", 0, func() error { return r.Activate(next()) }, ErrTooEarly},
		{"force-activate at once", 0, func() error { return r.ForceActivate(next()) }, nil},
	}
	for _, tt := range tests { // sequential steps on one ring
		clock.Advance(tt.advance)
		v := r.Version()
		err := tt.op()
		if !errors.Is(err, tt.wantErr) {
			t.Fatalf("%s: %v, want %v", tt.name, err, tt.wantErr)
		}
		if err != nil && r.Version() != v {
			t.Fatalf("%s: failed operation changed the ring", tt.name)
		}
	}
}

func TestRingFull(t *testing.T) {
	r := newTestRing(t, newFakeClock(), Options{})
	for range MaxEntries {
		if err := r.Add(genKey(t, jose.ES256)); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Add(genKey(t, jose.EdDSA)); !errors.Is(err, ErrRingFull) {
		t.Fatalf("Add beyond MaxEntries: %v", err)
	}
	if err := r.Rotate(); err != nil { // promotes a next key; no new key needed
		t.Fatal(err)
	}
	if len(r.Entries()) != MaxEntries {
		t.Fatalf("%d entries", len(r.Entries()))
	}
}

// TestRotationKeepsTokensVerifiable is the end-to-end rotation story: a
// token signed by A before a rotation still verifies against the published
// set after it, until A's NotAfter, and not after Prune has removed A.
func TestRotationKeepsTokensVerifiable(t *testing.T) {
	for _, alg := range []jose.Algorithm{jose.ES256, jose.EdDSA} {
		t.Run(string(alg), func(t *testing.T) {
			clock := newFakeClock()
			r := newTestRing(t, clock, Options{Algorithm: alg})
			mustRotate(t, r, 2)
			keyA, err := r.Signer()
			if err != nil {
				t.Fatal(err)
			}
			t0 := clock.Now()
			token := mintToken(t, keyA, t0, testLifetime)

			clock.Advance(10 * time.Minute)
			mustRotate(t, r, 1) // A retires: NotAfter = t0 + 10m + lifetime
			if s, _ := r.Signer(); s.KeyID() == keyA.KeyID() {
				t.Fatal("A still signs after the rotation")
			}
			notAfter := entryOf(t, r, keyA.KeyID()).NotAfter
			if want := t0.Add(10*time.Minute + testLifetime); !notAfter.Equal(want) {
				t.Fatalf("NotAfter %v, want %v", notAfter, want)
			}
			tokenB := mintToken(t, mustSigner(t, r), clock.Now(), testLifetime)

			verify := func(ks *jose.KeySet, at time.Time, tok string) error {
				v, err := jwt.NewVerifier(jwt.StaticKeys(ks), jwt.Config{
					Issuer: "https://issuer.example", Audience: "https://api.example",
					Type: jwt.TypeAccessToken, Now: func() time.Time { return at },
				})
				if err != nil {
					t.Fatal(err)
				}
				_, err = v.Verify(context.Background(), tok)
				return err
			}
			steps := []struct {
				name    string
				advance time.Duration
				prune   bool
				tok     string
				at      time.Duration // verifier time, relative to t0
				wantErr error
			}{
				{"A's token right after rotation", 0, false, token, 10 * time.Minute, nil},
				{"B's token right after rotation", 0, false, tokenB, 10 * time.Minute, nil},
				{"A's token late in its life, after a prune", 45 * time.Minute, true, token, 55 * time.Minute, nil},
				{"prune just before A's NotAfter keeps A", 15*time.Minute - time.Second, true, token, 30 * time.Minute, nil},
				{"A's token has expired on its own", 0, false, token, testLifetime + time.Minute, jwt.ErrExpired},
				{"prune past A's NotAfter removes A", 2 * time.Second, true, token, 30 * time.Minute, jwt.ErrKeyNotFound},
				{"B's token still verifies", 0, false, tokenB, 30 * time.Minute, nil},
			}
			for _, st := range steps {
				clock.Advance(st.advance)
				if st.prune {
					r.Prune()
				}
				err := verify(r.PublicKeySet(), t0.Add(st.at), st.tok)
				if !errors.Is(err, st.wantErr) {
					t.Fatalf("%s: %v, want %v", st.name, err, st.wantErr)
				}
				// The ring as a live jwt.KeySource agrees with the snapshot.
				v, _ := jwt.NewVerifier(r, jwt.Config{Issuer: "https://issuer.example", Audience: "https://api.example", Now: func() time.Time { return t0.Add(st.at) }})
				if _, err2 := v.Verify(context.Background(), st.tok); !errors.Is(err2, st.wantErr) {
					t.Fatalf("%s with the ring as KeySource: %v, want %v", st.name, err2, st.wantErr)
				}
			}
			if clock.Now().Before(notAfter) {
				t.Fatal("test did not reach NotAfter")
			}
		})
	}
}

func mustSigner(t testing.TB, r *Ring) *jose.Key {
	t.Helper()
	k, err := r.Signer()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mintToken(t testing.TB, k *jose.Key, iat time.Time, ttl time.Duration) string {
	t.Helper()
	tok, err := signToken(k, iat, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func signToken(k *jose.Key, iat time.Time, ttl time.Duration) (string, error) {
	s, err := jwt.NewSigner(k, jwt.TypeAccessToken)
	if err != nil {
		return "", err
	}
	return s.Sign(map[string]any{
		"iss": "https://issuer.example", "aud": "https://api.example", "sub": "client-1",
		"iat": iat.Unix(), "exp": iat.Add(ttl).Unix(), "jti": "j1",
	})
}

// TestConcurrentSignerRotate runs signers and verifiers against rotations
// and prunes (run with -race). Every key Signer returns must be in the
// published set read afterwards, and every token must verify against it.
func TestConcurrentSignerRotate(t *testing.T) {
	clock := newFakeClock()
	r := newTestRing(t, clock, Options{MaxTokenLifetime: time.Hour})
	mustRotate(t, r, 2)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var signed atomic.Int64
	errs := make(chan error, 16)
	report := func(err error) {
		select {
		case errs <- err:
		default:
		}
	}
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				k, err := r.Signer()
				if err != nil {
					report(err)
					return
				}
				now := clock.Now()
				tok, err := signToken(k, now, time.Minute)
				if err != nil {
					report(err)
					return
				}
				ks := r.PublicKeySet() // read after Signer: must still hold k
				if len(ks.Lookup(k.KeyID(), "", true)) == 0 {
					report(fmt.Errorf("signing key %q not published", k.KeyID()))
					return
				}
				v, _ := jwt.NewVerifier(jwt.StaticKeys(ks), jwt.Config{Issuer: "https://issuer.example", Audience: "https://api.example", Now: func() time.Time { return now }})
				if _, err := v.Verify(context.Background(), tok); err != nil {
					report(fmt.Errorf("token of %q: %w", k.KeyID(), err))
					return
				}
				_ = r.JWKS()
				_ = r.Entries()
				_ = r.String()
				signed.Add(1)
			}
		})
	}
	// Rotations a minute apart never prune a key that signed within the
	// last hour, so every signer's key stays published.
	for i := range 50 {
		clock.Advance(time.Minute)
		if err := r.Rotate(); err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 {
			r.Prune()
		}
		time.Sleep(time.Millisecond)
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if signed.Load() == 0 {
		t.Fatal("no token was signed")
	}
}

func TestReadersDoNotAllocate(t *testing.T) {
	r := newTestRing(t, newFakeClock(), Options{})
	mustRotate(t, r, 3)
	ctx := context.Background()
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := r.Signer(); err != nil {
			t.Fatal(err)
		}
		if r.PublicKeySet() == nil {
			t.Fatal("nil key set")
		}
		if ks, _ := r.KeySet(ctx, nil); ks == nil {
			t.Fatal("nil key set")
		}
		_ = r.Version()
	})
	if allocs != 0 {
		t.Fatalf("readers allocate %v times per call", allocs)
	}
	empty := newTestRing(t, newFakeClock(), Options{})
	if allocs := testing.AllocsPerRun(100, func() { _, _ = empty.Signer() }); allocs != 0 {
		t.Fatalf("Signer without active key allocates %v times", allocs)
	}
}

func TestPublishedSetIsPublicOnly(t *testing.T) {
	r := newTestRing(t, newFakeClock(), Options{})
	mustRotate(t, r, 3)
	if err := r.Add(genKey(t, jose.EdDSA)); err != nil {
		t.Fatal(err)
	}
	// ParseKeySet fails on any private member or symmetric key.
	ks, err := jose.ParseKeySet(r.JWKS())
	if err != nil {
		t.Fatalf("published JWKS: %v", err)
	}
	if got, want := publishedKIDs(ks), publishedKIDs(r.PublicKeySet()); !slices.Equal(got, want) || len(got) != 4 {
		t.Fatalf("JWKS kids %v, key set %v", got, want)
	}
	for _, k := range r.PublicKeySet().Keys() {
		if k.IsPrivate() {
			t.Fatalf("published key %q is private", k.KeyID())
		}
	}
	// The active key comes first for verifiers that try keys in order.
	if first := r.PublicKeySet().Keys()[0]; first.KeyID() != mustSigner(t, r).KeyID() {
		t.Fatal("the active key is not first in the published set")
	}
	for _, e := range r.Entries() {
		if e.Key.IsPrivate() {
			t.Fatalf("Entries hands out the private key of %q", e.KeyID())
		}
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(`"d"`)) || !bytes.Contains(b, []byte(`"state":"`+e.State.String()+`"`)) {
			t.Fatalf("entry JSON %s", b)
		}
	}
	j := r.JWKS()
	j[0] = 'X'
	if r.JWKS()[0] != '{' {
		t.Fatal("JWKS returns shared bytes")
	}
	// A private Entry built by hand still marshals without private members.
	priv := Entry{Key: genKey(t, jose.ES256), State: Active}
	b, _ := json.Marshal(priv)
	if bytes.Contains(b, []byte(`"d"`)) {
		t.Fatalf("Entry JSON holds a private member: %s", b)
	}
}

// privateForms returns the spellings of k's private material that must
// never be printed.
func privateForms(t testing.TB, k *jose.Key) []string {
	t.Helper()
	b, err := k.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	d, _ := m["d"].(string)
	if d == "" {
		t.Fatalf("key %q has no private member", k.KeyID())
	}
	raw, err := base64.RawURLEncoding.DecodeString(d)
	if err != nil {
		t.Fatal(err)
	}
	return append(secretForms(raw), d)
}

func TestRingNeverPrintsKeys(t *testing.T) {
	clock := newFakeClock()
	r := newTestRing(t, clock, Options{Algorithm: jose.EdDSA})
	mustRotate(t, r, 3)
	if err := r.Add(genKey(t, jose.ES256)); err != nil {
		t.Fatal(err)
	}
	var secrets []string
	for _, e := range r.snap.Load().entries {
		secrets = append(secrets, privateForms(t, e.Key)...)
	}
	privEntries := slices.Clone(r.snap.Load().entries) // with private keys, as a careless caller might build
	var outs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d", "%p"} {
		outs = append(outs,
			fmt.Sprintf(verb, r),
			fmt.Sprintf(verb, r.Entries()), fmt.Sprintf(verb, privEntries),
			fmt.Sprintf(verb, privEntries[0]), fmt.Sprintf(verb, &privEntries[0]))
	}
	var logBuf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewTextHandler(&logBuf, nil), slog.NewJSONHandler(&logBuf, nil)} {
		slog.New(h).Info("ring", "ring", r, "entry", privEntries[0], "entries", privEntries)
	}
	outs = append(outs, logBuf.String())
	for _, e := range privEntries {
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, string(b))
	}
	for _, out := range outs {
		assertNoSecret(t, "formatted ring", out, secrets)
	}
	active := mustSigner(t, r).KeyID()
	if s := r.String(); !strings.Contains(s, "active=["+active+"]") {
		t.Errorf("String %q does not name the active key", s)
	}
	// Errors name keys by kid only.
	_, err := r.Remove(active)
	assertNoSecret(t, "error", err.Error(), secrets)
}

func TestPublishedSigners(t *testing.T) {
	now := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	r, err := NewRing(Options{Algorithm: jose.ES256, Algorithms: []jose.Algorithm{jose.ES256, jose.RS256},
		Clock: func() time.Time { return now }, MaxTokenLifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.PublishedSigners(jose.RS256); len(got) != 0 {
		t.Fatalf("an empty ring has %d signers", len(got))
	}
	for range 2 {
		if err := r.ForceRotate(); err != nil {
			t.Fatal(err)
		}
	}
	got := r.PublishedSigners(jose.RS256)
	if len(got) != 2 || got[0].State != Active || got[1].State != Next {
		t.Fatalf("PublishedSigners = %v, want the active then the next RS256 key", got)
	}
	for _, e := range got {
		if !e.Key.IsPrivate() || e.Key.Algorithm() != jose.RS256 {
			t.Errorf("%v: not a private RS256 key", e)
		}
	}
	active, err := r.SignerFor(jose.RS256)
	if err != nil || active.KeyID() != got[0].KeyID() {
		t.Errorf("the first signer is not the active key: %v %v", active, err)
	}
}

package keys

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/writ-dev/writ/jose"
)

// TestRingAlgorithms: a ring keeps one active key per configured
// algorithm, rotates each, publishes all, and Reconcile brings a stored
// ring in line with a changed configuration.
func TestRingAlgorithms(t *testing.T) {
	clock := newFakeClock()
	r := newTestRing(t, clock, Options{Algorithm: jose.ES256, Algorithms: []jose.Algorithm{jose.RS256, jose.ES256, jose.EdDSA}})
	want := []jose.Algorithm{jose.ES256, jose.RS256, jose.EdDSA}
	if got := r.Algorithms(); !slices.Equal(got, want) {
		t.Fatalf("Algorithms = %v, want %v", got, want)
	}
	if r.Reconciled() {
		t.Fatal("an empty ring is reconciled")
	}
	if err := r.Reconcile(); err != nil {
		t.Fatal(err)
	}
	if !r.Reconciled() {
		t.Fatal("not reconciled after Reconcile")
	}
	active := map[jose.Algorithm]string{}
	for _, alg := range want {
		k, err := r.SignerFor(alg)
		if err != nil || k.Algorithm() != alg || !k.IsPrivate() {
			t.Fatalf("SignerFor(%s) = %v, %v", alg, k, err)
		}
		active[alg] = k.KeyID()
	}
	if k, _ := r.Signer(); k.KeyID() != active[jose.ES256] {
		t.Fatalf("Signer is not the primary algorithm's key: %v", k)
	}
	if _, err := r.SignerFor(jose.PS256); !errors.Is(err, ErrNoActiveKey) {
		t.Fatalf("SignerFor(PS256) = %v, want ErrNoActiveKey", err)
	}
	if n := len(r.Entries()); n != 6 || r.PublicKeySet().Len() != 6 {
		t.Fatalf("%d entries, %d published; want 3 active and 3 next", n, r.PublicKeySet().Len())
	}
	if allocs := testing.AllocsPerRun(100, func() { _, _ = r.SignerFor(jose.EdDSA) }); allocs != 0 {
		t.Fatalf("SignerFor allocates %v times", allocs)
	}
	v := r.Version()
	if err := r.Reconcile(); err != nil || r.Version() != v {
		t.Fatalf("Reconcile of a reconciled ring: %v, version %d → %d", err, v, r.Version())
	}

	// Rotate moves every algorithm one step: the next keys sign, the
	// active ones retire and stay published.
	clock.Advance(time.Hour)
	mustRotate(t, r, 1)
	st := states(r)
	for _, alg := range want {
		k, _ := r.SignerFor(alg)
		if k.KeyID() == active[alg] || st[active[alg]] != Retired {
			t.Fatalf("%s: active %s, previous %s is %v", alg, k.KeyID(), active[alg], st[active[alg]])
		}
		if r.PublicKeySet().Lookup(active[alg], "", true) == nil {
			t.Fatalf("retired %s key is not published", alg)
		}
	}
	if n := len(r.Entries()); n != 9 {
		t.Fatalf("%d entries after Rotate, want 9", n)
	}

	// The same keys loaded by a ring configured for ES256 alone: Reconcile
	// retires the others' active keys and drops their next keys.
	mk := mustMasterKey(t, testKeyBytes(1))
	doc, err := r.MarshalSealed(mk)
	if err != nil {
		t.Fatal(err)
	}
	narrow := newTestRing(t, clock, Options{})
	if err := narrow.UnmarshalSealed(doc, mk); err != nil {
		t.Fatal(err)
	}
	if narrow.Reconciled() {
		t.Fatal("a ring holding keys of other algorithms is reconciled")
	}
	if err := narrow.Reconcile(); err != nil {
		t.Fatal(err)
	}
	for _, e := range narrow.Entries() {
		if e.Key.Algorithm() != jose.ES256 && e.State != Retired {
			t.Errorf("%s key %s is %s after Reconcile", e.Key.Algorithm(), e.KeyID(), e.State)
		}
	}
	if _, err := narrow.SignerFor(jose.RS256); !errors.Is(err, ErrNoActiveKey) {
		t.Fatalf("RS256 still signs: %v", err)
	}
	if k, err := narrow.Signer(); err != nil || k.Algorithm() != jose.ES256 {
		t.Fatalf("Signer = %v, %v", k, err)
	}

	// A ring that gains an algorithm signs with it after Reconcile.
	wide := newTestRing(t, clock, Options{Algorithms: []jose.Algorithm{jose.RS256}})
	if err := wide.UnmarshalSealed(doc, mk); err != nil {
		t.Fatal(err)
	}
	if !wide.Reconciled() {
		// EdDSA keys are active and next in doc; RS256 and ES256 are fine.
		if err := wide.Reconcile(); err != nil {
			t.Fatal(err)
		}
	}
	if k, err := wide.SignerFor(jose.RS256); err != nil || k.KeyID() == active[jose.RS256] {
		t.Fatalf("SignerFor(RS256) = %v, %v", k, err)
	}
}

func TestRingAlgorithmsRefused(t *testing.T) {
	for _, algs := range [][]jose.Algorithm{{jose.HS256}, {jose.RS256, "none"}, {jose.Algorithm("RSA-OAEP")}} {
		if _, err := NewRing(Options{Algorithms: algs}); !errors.Is(err, ErrUnsuitableKey) {
			t.Errorf("NewRing(%v) = %v, want ErrUnsuitableKey", algs, err)
		}
	}
}

// Package keys holds writ's signing keys: a Ring that keeps one active key
// per configured algorithm and rotates each through the states next →
// active → retired → removed, and the sealing of private keys at rest under
// a MasterKey (AES-256-GCM).
//
// Key material never appears in errors, in fmt output of any type of this
// package, or in log/slog values.
package keys

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/writ-dev/writ/jose"
)

// DefaultMaxTokenLifetime is the MaxTokenLifetime of a Ring whose Options
// leave it zero.
const DefaultMaxTokenLifetime = 24 * time.Hour

// MaxEntries bounds the number of keys in a Ring, so that its published set
// stays far below what JWKS parsers accept (writ's own takes 256).
const MaxEntries = 100

// Errors of Ring operations. Messages name keys by kid only.
var (
	// ErrNoActiveKey means the ring has no active key to sign with.
	ErrNoActiveKey = errors.New("keys: no active signing key")
	// ErrUnknownKey means no key in the ring has the given kid.
	ErrUnknownKey = errors.New("keys: no such key")
	// ErrDuplicateKey means the ring already holds a key with that kid or
	// with the same key material.
	ErrDuplicateKey = errors.New("keys: key already in the ring")
	// ErrUnsuitableKey means a key cannot be a signing key of a ring: it is
	// public only, symmetric, meant for encryption, or cannot sign.
	ErrUnsuitableKey = errors.New("keys: key is not an asymmetric private signing key")
	// ErrInvalidTransition means the operation is not allowed from the key's
	// current state (for example activating a retired key or removing the
	// active key).
	ErrInvalidTransition = errors.New("keys: invalid key state transition")
	// ErrTooEarly means the transition is allowed but not yet: a retired key
	// is removed before its NotAfter, or a next key is activated before it
	// has been published for Options.MinPublish.
	ErrTooEarly = errors.New("keys: key state transition too early")
	// ErrRingFull means the ring already holds MaxEntries keys; prune it.
	ErrRingFull = errors.New("keys: too many keys in the ring")
)

// State is the rotation state of a key in a Ring.
type State uint8

// Rotation states. The zero State is invalid.
const (
	// Next: published in the public key set, not used for signing yet.
	Next State = iota + 1
	// Active: the one key that signs; published.
	Active
	// Retired: no longer signs, still published until NotAfter, when every
	// token it signed has expired.
	Retired
	// Removed: dropped from the ring and from the published set. Entries
	// returned by Prune, Remove and ForceRemove carry this state; the ring
	// itself never holds a removed key.
	Removed
)

// String returns "next", "active", "retired" or "removed", or State(n) for
// an invalid value.
func (s State) String() string {
	if name := s.name(); name != "" {
		return name
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

func (s State) name() string {
	switch s {
	case Next:
		return "next"
	case Active:
		return "active"
	case Retired:
		return "retired"
	case Removed:
		return "removed"
	}
	return ""
}

// MarshalText implements encoding.TextMarshaler; an invalid State is an
// error.
func (s State) MarshalText() ([]byte, error) {
	name := s.name()
	if name == "" {
		return nil, fmt.Errorf("keys: invalid state %d", uint8(s))
	}
	return []byte(name), nil
}

// UnmarshalText implements encoding.TextUnmarshaler; it accepts exactly the
// names String returns for valid states.
func (s *State) UnmarshalText(b []byte) error {
	for st := Next; st <= Removed; st++ {
		if string(b) == st.name() {
			*s = st
			return nil
		}
	}
	return fmt.Errorf("keys: unknown key state %q", b)
}

// Entry is one key of a Ring with its rotation state and history.
//
// Entries handed out by a Ring (Entries, Prune, Remove, ForceRemove) hold
// only the public half of the key. Formatting an Entry with fmt, log/slog or
// encoding/json never writes private key material.
type Entry struct {
	// Key is the signing key (its public half when handed out by a Ring).
	Key *jose.Key
	// State is the rotation state.
	State State
	// CreatedAt is when the key entered the ring (and was first published).
	CreatedAt time.Time
	// ActivatedAt is when the key became active; zero for a next key.
	ActivatedAt time.Time
	// RetiredAt is when the key stopped signing; zero unless retired.
	RetiredAt time.Time
	// NotAfter is RetiredAt plus the ring's maximum token lifetime: every
	// token the key signed has expired by then, so Prune may remove it.
	NotAfter time.Time
}

// KeyID returns the kid of the entry's key, or "" when it has none.
func (e Entry) KeyID() string {
	if e.Key == nil {
		return ""
	}
	return e.Key.KeyID()
}

func (e Entry) alg() jose.Algorithm {
	if e.Key == nil {
		return ""
	}
	return e.Key.Algorithm()
}

// String describes the entry by kid, algorithm and state.
func (e Entry) String() string {
	return fmt.Sprintf("keys.Entry{kid=%s alg=%s state=%s}", e.KeyID(), e.alg(), e.State)
}

// GoString implements fmt.GoStringer with the same text as String.
func (e Entry) GoString() string { return e.String() }

// Format implements fmt.Formatter: every verb prints String, so that the
// key (and its private half, if any) is never dumped.
func (e Entry) Format(f fmt.State, _ rune) { io.WriteString(f, e.String()) }

// LogValue implements slog.LogValuer without key material.
func (e Entry) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("kid", e.KeyID()),
		slog.String("alg", string(e.alg())),
		slog.String("state", e.State.String()),
	)
}

// entryJSON is the JSON form of an Entry: its public JWK and metadata.
type entryJSON struct {
	KeyID       string         `json:"kid"`
	Algorithm   jose.Algorithm `json:"alg"`
	State       string         `json:"state"`
	CreatedAt   time.Time      `json:"created_at,omitzero"`
	ActivatedAt time.Time      `json:"activated_at,omitzero"`
	RetiredAt   time.Time      `json:"retired_at,omitzero"`
	NotAfter    time.Time      `json:"not_after,omitzero"`
	JWK         *jose.Key      `json:"jwk,omitempty"`
}

// MarshalJSON encodes the entry for listings: kid, alg, state, timestamps
// and the public JWK ("jwk"). Private members are never written.
func (e Entry) MarshalJSON() ([]byte, error) {
	j := entryJSON{
		KeyID: e.KeyID(), Algorithm: e.alg(), State: e.State.String(),
		CreatedAt: e.CreatedAt, ActivatedAt: e.ActivatedAt, RetiredAt: e.RetiredAt, NotAfter: e.NotAfter,
	}
	if e.Key != nil {
		j.JWK = e.Key.Public() // nil for a symmetric key: left out
	}
	return json.Marshal(j)
}

// public returns a copy of e holding only the public half of its key.
func (e Entry) public() Entry {
	if e.Key != nil {
		e.Key = e.Key.Public()
	}
	return e
}

// Options configure a Ring. The zero value is usable.
type Options struct {
	// Algorithm is the ring's primary algorithm, the one Signer signs with
	// (access tokens, introspection responses): an asymmetric signature
	// algorithm. Empty means ES256.
	Algorithm jose.Algorithm
	// Algorithms lists every algorithm the ring keeps an active key for
	// (SignerFor), for example RS256 for ID tokens (OIDC Discovery §3).
	// Algorithm is always one of them, added when missing; empty means
	// Algorithm alone. Each must be an asymmetric signature algorithm.
	Algorithms []jose.Algorithm
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
	// MaxTokenLifetime is the longest lifetime of any token signed with the
	// ring's keys, plus the clock skew its verifiers tolerate: a retired key
	// stays published for this long. Zero means DefaultMaxTokenLifetime.
	MaxTokenLifetime time.Duration
	// MinPublish, when positive, is how long a next key must have been
	// published before Rotate or Activate make it active, so that relying
	// parties with a cached JWKS already know it. It is not enforced while
	// the ring has no active key (nothing signs yet). ForceActivate ignores it.
	MinPublish time.Duration
	// Generate creates a new private key for an algorithm; nil means
	// jose.GenerateKey. Tests use it to control key generation.
	Generate func(jose.Algorithm) (*jose.Key, error)
}

// Ring is the set of signing keys of an issuer and their rotation states.
// At most one key per algorithm is active (it signs with that algorithm);
// next keys are published before they sign; retired keys stay published
// until NotAfter. Each configured algorithm (Options.Algorithms) rotates on
// its own, in step: Rotate advances all of them.
//
// A Ring is safe for concurrent use. Writers (Add, Activate, Rotate, Prune,
// Remove, UnmarshalSealed, ...) are serialized and each publishes a new
// immutable snapshot atomically; readers (Signer, PublicKeySet, KeySet,
// Version) only load the current snapshot: they take no lock and do not
// allocate. A reader therefore sees either the state before or the state
// after a writer, never a mixture.
type Ring struct {
	mu   sync.Mutex // serializes writers
	snap atomic.Pointer[snapshot]

	alg        jose.Algorithm
	algs       []jose.Algorithm // alg first
	now        func() time.Time
	maxLife    time.Duration
	minPublish time.Duration
	generate   func(jose.Algorithm) (*jose.Key, error)
}

// snapshot is an immutable state of a Ring.
type snapshot struct {
	version uint64
	entries []Entry     // private keys; order: active, next (oldest first), retired (newest first)
	active  []*jose.Key // the active key of each algorithm
	public  *jose.KeySet
	jwks    []byte
}

// NewRing returns an empty Ring. Call Rotate twice to bootstrap it (the
// first call publishes a next key, the second activates it and publishes
// the following one), or load it with UnmarshalSealed.
func NewRing(opts Options) (*Ring, error) {
	r := &Ring{alg: opts.Algorithm, now: opts.Clock, maxLife: opts.MaxTokenLifetime, minPublish: opts.MinPublish, generate: opts.Generate}
	if r.alg == "" {
		r.alg = jose.ES256
	}
	r.algs = append(r.algs, r.alg)
	for _, a := range opts.Algorithms {
		if !slices.Contains(r.algs, a) {
			r.algs = append(r.algs, a)
		}
	}
	for _, a := range r.algs {
		if !a.IsSignature() || a.IsSymmetric() {
			return nil, fmt.Errorf("%w: ring algorithm %q must be an asymmetric signature algorithm", ErrUnsuitableKey, a)
		}
	}
	if r.now == nil {
		r.now = time.Now
	}
	switch {
	case r.maxLife < 0:
		return nil, fmt.Errorf("keys: negative MaxTokenLifetime %v", r.maxLife)
	case r.maxLife == 0:
		r.maxLife = DefaultMaxTokenLifetime
	}
	if r.minPublish < 0 {
		return nil, fmt.Errorf("keys: negative MinPublish %v", r.minPublish)
	}
	if r.generate == nil {
		r.generate = func(alg jose.Algorithm) (*jose.Key, error) { return jose.GenerateKey(alg) }
	}
	s, err := buildSnapshot(0, nil)
	if err != nil {
		return nil, err
	}
	r.snap.Store(s)
	return r, nil
}

// Algorithm returns the primary algorithm, the one Signer signs with.
func (r *Ring) Algorithm() jose.Algorithm { return r.alg }

// Algorithms returns every algorithm the ring keeps an active key for, the
// primary one first.
func (r *Ring) Algorithms() []jose.Algorithm { return slices.Clone(r.algs) }

// MaxTokenLifetime returns how long a retired key stays published.
func (r *Ring) MaxTokenLifetime() time.Duration { return r.maxLife }

// Signer returns the active key of the primary algorithm, which holds the
// private key, or ErrNoActiveKey. It takes no lock and does not allocate.
func (r *Ring) Signer() (*jose.Key, error) { return r.SignerFor(r.alg) }

// SignerFor returns the active key of algorithm alg, or ErrNoActiveKey. It
// takes no lock and does not allocate.
func (r *Ring) SignerFor(alg jose.Algorithm) (*jose.Key, error) {
	for _, k := range r.snap.Load().active {
		if k.Algorithm() == alg {
			return k, nil
		}
	}
	return nil, ErrNoActiveKey
}

// PublishedSigners returns the private keys of algorithm alg that are
// published and may sign now or next — the active key first, then the next
// keys, oldest first — with their entries. It is for protocols that publish
// a key in a form only its private half can make, such as the self-signed
// certificates of SAML metadata, before the key signs.
func (r *Ring) PublishedSigners(alg jose.Algorithm) []Entry {
	var out []Entry
	for _, e := range r.snap.Load().entries {
		if e.Key.Algorithm() == alg && (e.State == Active || e.State == Next) {
			out = append(out, e)
		}
	}
	return out
}

// PublicKeySet returns the public halves of the next, active and retired
// keys: what the JWKS endpoint publishes and what verifiers of the ring's
// tokens trust. The active key comes first. The set is built once per change
// of the ring; this call takes no lock and does not allocate.
func (r *Ring) PublicKeySet() *jose.KeySet { return r.snap.Load().public }

// KeySet returns PublicKeySet. With it a Ring is a jwt.KeySource that
// follows rotations: jwt.NewVerifier(ring, cfg).
func (r *Ring) KeySet(context.Context, *jose.Header) (*jose.KeySet, error) {
	return r.snap.Load().public, nil
}

// JWKS returns the JSON encoding of PublicKeySet, ready to serve. Each call
// returns a new copy.
func (r *Ring) JWKS() []byte { return slices.Clone(r.snap.Load().jwks) }

// Version returns a number that grows with every change of the ring (for
// example for a JWKS ETag). It is 0 for a new ring.
func (r *Ring) Version() uint64 { return r.snap.Load().version }

// Entries returns the keys of the ring, public halves only, in order:
// active, next (oldest first), retired (most recently retired first).
func (r *Ring) Entries() []Entry {
	s := r.snap.Load()
	out := make([]Entry, len(s.entries))
	for i, e := range s.entries {
		out[i] = e.public()
	}
	return out
}

// Add puts key into the ring as a next key: published, not signing. The key
// must be an asymmetric private key bound to a signature algorithm, not
// marked for encryption, able to sign (checked by signing a probe), and new
// to the ring (by kid and by thumbprint).
func (r *Ring) Add(key *jose.Key) error {
	if err := checkSigningKey(key); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.snap.Load()
	if err := checkNew(s.entries, key); err != nil {
		return err
	}
	entries := append(slices.Clone(s.entries), Entry{Key: key, State: Next, CreatedAt: r.clock()})
	return r.publish(s, entries)
}

// Activate makes the next key kid active. The previously active key of its
// algorithm, if any, becomes retired with RetiredAt now and NotAfter now plus
// MaxTokenLifetime. Activating a key that is not next (active, retired or
// unknown) is an error, and so is activating a next key published for less
// than Options.MinPublish while another key of its algorithm is active
// (ErrTooEarly).
func (r *Ring) Activate(kid string) error { return r.activate(kid, false) }

// ForceActivate is Activate without the MinPublish check, for emergencies
// such as a compromised active key. Relying parties whose cached JWKS
// predates the key reject its tokens until they refresh.
func (r *Ring) ForceActivate(kid string) error { return r.activate(kid, true) }

func (r *Ring) activate(kid string, force bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.snap.Load()
	i := indexOf(s.entries, kid)
	if i < 0 {
		return fmt.Errorf("%w: %q", ErrUnknownKey, kid)
	}
	now := r.clock()
	entries := slices.Clone(s.entries)
	if err := r.promote(entries, i, now, force); err != nil {
		return err
	}
	return r.publish(s, entries)
}

// promote makes entries[i] active and retires the current active key of its
// algorithm. It changes entries in place and only when it returns nil.
func (r *Ring) promote(entries []Entry, i int, now time.Time, force bool) error {
	e := entries[i]
	if e.State != Next {
		return fmt.Errorf("%w: key %q is %s; only a next key can be activated", ErrInvalidTransition, e.KeyID(), e.State)
	}
	cur := slices.IndexFunc(entries, func(a Entry) bool { return a.State == Active && a.alg() == e.alg() })
	if cur >= 0 && !force && r.minPublish > 0 {
		if ready := e.CreatedAt.Add(r.minPublish); now.Before(ready) {
			return fmt.Errorf("%w: key %q has been published for %v, less than the required %v (ready at %s)",
				ErrTooEarly, e.KeyID(), now.Sub(e.CreatedAt), r.minPublish, ready.Format(time.RFC3339))
		}
	}
	if cur >= 0 {
		old := &entries[cur]
		old.State, old.RetiredAt, old.NotAfter = Retired, now, now.Add(r.maxLife)
	}
	entries[i].State, entries[i].ActivatedAt = Active, now
	return nil
}

// Rotate advances the rotation of every algorithm of the ring by one step,
// in one atomic change. For each algorithm:
//
//   - If it has no next key, Rotate generates one and adds it as next.
//     Nothing else changes: the new key is published and will not sign
//     before a later Rotate.
//   - Otherwise it activates the oldest next key exactly as Activate does
//     (the active key of that algorithm, if any, retires with NotAfter =
//     now + MaxTokenLifetime; ErrTooEarly if the next key is younger than
//     MinPublish), and, when no other next key of the algorithm remains,
//     generates the following next key so that the key after this one is
//     already published.
//
// So a key always spends at least one rotation period published as next
// before it signs. On an empty ring the first Rotate publishes key A (no
// key signs yet: Signer returns ErrNoActiveKey) and the second activates A
// and publishes B; Reconcile does both at once. Rotate does nothing when it
// fails.
func (r *Ring) Rotate() error { return r.rotateAll(false) }

// ForceRotate is Rotate for emergencies, such as a compromised key: it
// ignores MinPublish, and an algorithm without a next key gets a new key
// that signs at once (and a next key to follow it). Relying parties whose
// cached JWKS predates a new active key reject its tokens until they
// refresh.
func (r *Ring) ForceRotate() error { return r.rotateAll(true) }

func (r *Ring) rotateAll(force bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.snap.Load()
	now := r.clock()
	entries := slices.Clone(s.entries)
	for _, alg := range r.algs {
		var err error
		if force && oldestNext(entries, alg) < 0 {
			if entries, err = r.addGenerated(entries, alg, now); err != nil {
				return err
			}
		}
		if entries, err = r.rotate(entries, alg, now, force); err != nil {
			return err
		}
	}
	return r.publish(s, entries)
}

// rotate is one Rotate step for the keys of alg.
func (r *Ring) rotate(entries []Entry, alg jose.Algorithm, now time.Time, force bool) ([]Entry, error) {
	if next := oldestNext(entries, alg); next >= 0 {
		if err := r.promote(entries, next, now, force); err != nil {
			return nil, err
		}
		if oldestNext(entries, alg) >= 0 {
			return entries, nil
		}
	}
	return r.addGenerated(entries, alg, now)
}

// addGenerated appends a new next key of alg to entries.
func (r *Ring) addGenerated(entries []Entry, alg jose.Algorithm, now time.Time) ([]Entry, error) {
	key, err := r.generate(alg)
	if err != nil {
		return nil, fmt.Errorf("keys: rotate: generate %s key: %w", alg, err)
	}
	if err := checkSigningKey(key); err != nil {
		return nil, fmt.Errorf("keys: rotate: generated key: %w", err)
	}
	if key.Algorithm() != alg {
		return nil, fmt.Errorf("%w: generated key %q is %s, not %s", ErrUnsuitableKey, key.KeyID(), key.Algorithm(), alg)
	}
	if err := checkNew(entries, key); err != nil {
		return nil, fmt.Errorf("keys: rotate: generated key: %w", err)
	}
	return append(entries, Entry{Key: key, State: Next, CreatedAt: now}), nil
}

// Reconciled reports whether the ring is in line with its algorithms: each
// has an active key, and no other algorithm has an active or next key.
func (r *Ring) Reconciled() bool {
	s := r.snap.Load()
	for _, alg := range r.algs {
		if !slices.ContainsFunc(s.active, func(k *jose.Key) bool { return k.Algorithm() == alg }) {
			return false
		}
	}
	for _, e := range s.entries {
		if e.State != Retired && !slices.Contains(r.algs, e.alg()) {
			return false
		}
	}
	return true
}

// Reconcile brings the ring in line with its algorithms, in one atomic
// change: an algorithm without an active key gets one at once (its oldest
// next key, or a new one) and a next key to follow it; the active key of an
// algorithm the ring no longer has retires (it stays published until
// NotAfter) and that algorithm's next keys are dropped. A new ring signs
// after one Reconcile; a ring that is Reconciled is left unchanged.
func (r *Ring) Reconcile() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.snap.Load()
	now := r.clock()
	entries := make([]Entry, 0, len(s.entries)+2*len(r.algs))
	for _, e := range s.entries {
		switch {
		case e.State == Retired || slices.Contains(r.algs, e.alg()):
			entries = append(entries, e)
		case e.State == Active:
			e.State, e.RetiredAt, e.NotAfter = Retired, now, now.Add(r.maxLife)
			entries = append(entries, e)
		}
	}
	changed := len(entries) != len(s.entries) || !slices.EqualFunc(entries, s.entries, func(a, b Entry) bool { return a.State == b.State })
	for _, alg := range r.algs {
		if slices.ContainsFunc(entries, func(e Entry) bool { return e.State == Active && e.alg() == alg }) {
			continue
		}
		var err error
		if oldestNext(entries, alg) < 0 {
			if entries, err = r.addGenerated(entries, alg, now); err != nil {
				return err
			}
		}
		// Nothing signs with alg yet, so MinPublish does not apply.
		if err := r.promote(entries, oldestNext(entries, alg), now, true); err != nil {
			return err
		}
		if entries, err = r.addGenerated(entries, alg, now); err != nil {
			return err
		}
		changed = true
	}
	if !changed {
		return nil
	}
	return r.publish(s, entries)
}

// Prune removes every retired key whose NotAfter has passed: every token it
// signed has expired, so it leaves the published set. It returns the removed
// entries (public halves, State Removed), for the caller to log and delete
// from storage.
func (r *Ring) Prune() []Entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.snap.Load()
	now := r.clock()
	var removed []Entry
	kept := make([]Entry, 0, len(s.entries))
	for _, e := range s.entries {
		if e.State == Retired && now.After(e.NotAfter) {
			e.State = Removed
			removed = append(removed, e.public())
			continue
		}
		kept = append(kept, e)
	}
	if len(removed) == 0 {
		return nil
	}
	if err := r.publish(s, kept); err != nil {
		// Removing keys cannot make a valid set unencodable; keep the old
		// state if it somehow does.
		return nil
	}
	return removed
}

// Remove removes the retired key kid once its NotAfter has passed. Removing
// it earlier (ErrTooEarly), or removing a next or the active key
// (ErrInvalidTransition), is an error; ForceRemove removes next keys and
// retired keys at any time.
func (r *Ring) Remove(kid string) (Entry, error) { return r.remove(kid, false) }

// ForceRemove removes the next or retired key kid at once, for example when
// it is compromised: tokens it signed stop verifying. The active key cannot
// be removed; activate another key first.
func (r *Ring) ForceRemove(kid string) (Entry, error) { return r.remove(kid, true) }

func (r *Ring) remove(kid string, force bool) (Entry, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.snap.Load()
	i := indexOf(s.entries, kid)
	if i < 0 {
		return Entry{}, fmt.Errorf("%w: %q", ErrUnknownKey, kid)
	}
	e := s.entries[i]
	switch {
	case e.State == Active:
		return Entry{}, fmt.Errorf("%w: key %q is active; activate another key first", ErrInvalidTransition, kid)
	case force:
	case e.State == Next:
		return Entry{}, fmt.Errorf("%w: key %q is next; only retired keys are removed (ForceRemove discards a next key)", ErrInvalidTransition, kid)
	case !r.clock().After(e.NotAfter):
		return Entry{}, fmt.Errorf("%w: key %q may still verify tokens until %s", ErrTooEarly, kid, e.NotAfter.Format(time.RFC3339))
	}
	if err := r.publish(s, slices.Delete(slices.Clone(s.entries), i, i+1)); err != nil {
		return Entry{}, err
	}
	e.State = Removed
	return e.public(), nil
}

// String describes the ring by algorithm, version and kids per state.
func (r *Ring) String() string {
	s := r.snap.Load()
	var b strings.Builder
	fmt.Fprintf(&b, "keys.Ring{alg=%s", r.alg)
	for _, a := range r.algs[1:] {
		fmt.Fprintf(&b, ",%s", a)
	}
	fmt.Fprintf(&b, " version=%d", s.version)
	for _, st := range []State{Active, Next, Retired} {
		b.WriteString(" " + st.String() + "=[")
		n := 0
		for _, e := range s.entries {
			if e.State == st {
				if n > 0 {
					b.WriteByte(' ')
				}
				b.WriteString(e.KeyID())
				n++
			}
		}
		b.WriteByte(']')
	}
	b.WriteByte('}')
	return b.String()
}

// GoString implements fmt.GoStringer with the same text as String.
func (r *Ring) GoString() string { return r.String() }

// Format implements fmt.Formatter: every verb prints String.
func (r *Ring) Format(f fmt.State, _ rune) { io.WriteString(f, r.String()) }

// LogValue implements slog.LogValuer without key material.
func (r *Ring) LogValue() slog.Value { return slog.StringValue(r.String()) }

// clock returns the current time in UTC without a monotonic reading, so
// that stored timestamps round-trip exactly.
func (r *Ring) clock() time.Time { return r.now().UTC().Round(0) }

// publish installs entries as the next snapshot after s. The caller holds
// r.mu and has not modified s.
func (r *Ring) publish(s *snapshot, entries []Entry) error {
	if len(entries) > MaxEntries {
		return fmt.Errorf("%w: at most %d", ErrRingFull, MaxEntries)
	}
	ns, err := buildSnapshot(s.version+1, entries)
	if err != nil {
		return err
	}
	r.snap.Store(ns)
	return nil
}

func buildSnapshot(version uint64, entries []Entry) (*snapshot, error) {
	slices.SortStableFunc(entries, compareEntries)
	s := &snapshot{version: version, entries: entries}
	pub := make([]*jose.Key, 0, len(entries))
	for _, e := range entries {
		if e.State == Active {
			s.active = append(s.active, e.Key)
		}
		pub = append(pub, e.Key.Public())
	}
	s.public = jose.NewKeySet(pub...)
	jwks, err := s.public.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("keys: encode public key set: %w", err)
	}
	s.jwks = jwks
	return s, nil
}

// compareEntries orders active, then next (oldest first), then retired
// (most recently retired first).
func compareEntries(a, b Entry) int {
	rank := func(s State) int {
		switch s {
		case Active:
			return 0
		case Next:
			return 1
		}
		return 2
	}
	if c := rank(a.State) - rank(b.State); c != 0 {
		return c
	}
	if a.State == Retired {
		return b.RetiredAt.Compare(a.RetiredAt)
	}
	return a.CreatedAt.Compare(b.CreatedAt)
}

func indexOf(entries []Entry, kid string) int {
	return slices.IndexFunc(entries, func(e Entry) bool { return e.KeyID() == kid })
}

// oldestNext returns the index of the next key of alg created first, or -1.
func oldestNext(entries []Entry, alg jose.Algorithm) int {
	best := -1
	for i, e := range entries {
		if e.State == Next && e.alg() == alg && (best < 0 || e.CreatedAt.Before(entries[best].CreatedAt)) {
			best = i
		}
	}
	return best
}

// probePayload is signed by checkSigningKey to prove a key can sign.
const probePayload = `{"probe":"writ key ring"}`

// checkSigningKey verifies that key can be a signing key of a ring.
func checkSigningKey(key *jose.Key) error {
	switch {
	case key == nil:
		return fmt.Errorf("%w: nil key", ErrUnsuitableKey)
	case key.KeyID() == "":
		return fmt.Errorf("%w: key has no kid", ErrUnsuitableKey)
	case !key.Algorithm().IsSignature() || key.Algorithm().IsSymmetric() || key.IsSymmetric():
		return fmt.Errorf("%w: key %q has algorithm %s", ErrUnsuitableKey, key.KeyID(), key.Algorithm())
	case !key.IsPrivate():
		return fmt.Errorf("%w: key %q is a public key", ErrUnsuitableKey, key.KeyID())
	case key.Use() == jose.UseEncryption:
		return fmt.Errorf("%w: key %q is for encryption", ErrUnsuitableKey, key.KeyID())
	}
	// Signing a probe catches key_ops without "sign" and broken keys; the
	// public half must verify it.
	tok, err := jose.Sign(key, []byte(probePayload), nil)
	if err != nil {
		return fmt.Errorf("%w: key %q cannot sign: %w", ErrUnsuitableKey, key.KeyID(), err)
	}
	jws, err := jose.ParseCompact(tok, 0)
	if err == nil {
		err = jws.VerifyKey(key.Public())
	}
	if err != nil {
		return fmt.Errorf("%w: key %q: its public half does not verify its signature: %w", ErrUnsuitableKey, key.KeyID(), err)
	}
	return nil
}

// checkNew verifies that key is neither in entries by kid nor by thumbprint.
func checkNew(entries []Entry, key *jose.Key) error {
	tp := key.ThumbprintSHA256()
	for _, e := range entries {
		if e.KeyID() == key.KeyID() {
			return fmt.Errorf("%w: kid %q", ErrDuplicateKey, key.KeyID())
		}
		if e.Key.ThumbprintSHA256() == tp {
			return fmt.Errorf("%w: key %q has the same key material as %q", ErrDuplicateKey, key.KeyID(), e.KeyID())
		}
	}
	return nil
}

// Compile-time checks of the redaction interfaces.
var (
	_ fmt.Formatter  = Entry{}
	_ fmt.Formatter  = (*Ring)(nil)
	_ slog.LogValuer = Entry{}
	_ slog.LogValuer = (*Ring)(nil)
	_ json.Marshaler = Entry{}
)

// Package keys holds writ's signing keys: a Ring that rotates them through
// the states next → active → retired → removed, and the sealing of private
// keys at rest under a MasterKey (AES-256-GCM).
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
	// Algorithm is the algorithm of the keys Rotate generates: an asymmetric
	// signature algorithm. Empty means ES256.
	Algorithm jose.Algorithm
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
// At most one key is active (it signs); next keys are published before they
// sign; retired keys stay published until NotAfter.
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
	now        func() time.Time
	maxLife    time.Duration
	minPublish time.Duration
	generate   func(jose.Algorithm) (*jose.Key, error)
}

// snapshot is an immutable state of a Ring.
type snapshot struct {
	version uint64
	entries []Entry // private keys; order: active, next (oldest first), retired (newest first)
	active  *jose.Key
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
	if !r.alg.IsSignature() || r.alg.IsSymmetric() {
		return nil, fmt.Errorf("%w: ring algorithm %q must be an asymmetric signature algorithm", ErrUnsuitableKey, r.alg)
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

// Algorithm returns the algorithm of the keys Rotate generates.
func (r *Ring) Algorithm() jose.Algorithm { return r.alg }

// MaxTokenLifetime returns how long a retired key stays published.
func (r *Ring) MaxTokenLifetime() time.Duration { return r.maxLife }

// Signer returns the active key, which holds the private key, or
// ErrNoActiveKey. It takes no lock and does not allocate.
func (r *Ring) Signer() (*jose.Key, error) {
	if k := r.snap.Load().active; k != nil {
		return k, nil
	}
	return nil, ErrNoActiveKey
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

// Activate makes the next key kid active. The previously active key, if
// any, becomes retired with RetiredAt now and NotAfter now plus
// MaxTokenLifetime. Activating a key that is not next (active, retired or
// unknown) is an error, and so is activating a next key published for less
// than Options.MinPublish while another key is active (ErrTooEarly).
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

// promote makes entries[i] active and retires the current active key. It
// changes entries in place and only when it returns nil.
func (r *Ring) promote(entries []Entry, i int, now time.Time, force bool) error {
	e := entries[i]
	if e.State != Next {
		return fmt.Errorf("%w: key %q is %s; only a next key can be activated", ErrInvalidTransition, e.KeyID(), e.State)
	}
	cur := slices.IndexFunc(entries, func(e Entry) bool { return e.State == Active })
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

// Rotate advances the rotation by one step, in one atomic change:
//
//   - If the ring has no next key, it generates one (Options.Algorithm) and
//     adds it as next. Nothing else changes: the new key is published and
//     will not sign before a later Rotate.
//   - Otherwise it activates the oldest next key exactly as Activate does
//     (the active key, if any, retires with NotAfter = now +
//     MaxTokenLifetime; ErrTooEarly if the next key is younger than
//     MinPublish), and, when no other next key remains, generates the
//     following next key so that the key after this one is already
//     published.
//
// So a key always spends at least one rotation period published as next
// before it signs. On an empty ring the first Rotate publishes key A (no
// key signs yet: Signer returns ErrNoActiveKey) and the second activates A
// and publishes B. Rotate does nothing when it fails.
func (r *Ring) Rotate() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.snap.Load()
	now := r.clock()
	entries := slices.Clone(s.entries)
	next := oldestNext(entries)
	if next >= 0 {
		if err := r.promote(entries, next, now, false); err != nil {
			return err
		}
		if oldestNext(entries) >= 0 {
			return r.publish(s, entries)
		}
	}
	key, err := r.generate(r.alg)
	if err != nil {
		return fmt.Errorf("keys: rotate: generate %s key: %w", r.alg, err)
	}
	if err := checkSigningKey(key); err != nil {
		return fmt.Errorf("keys: rotate: generated key: %w", err)
	}
	if err := checkNew(entries, key); err != nil {
		return fmt.Errorf("keys: rotate: generated key: %w", err)
	}
	entries = append(entries, Entry{Key: key, State: Next, CreatedAt: now})
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
	fmt.Fprintf(&b, "keys.Ring{alg=%s version=%d", r.alg, s.version)
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
			s.active = e.Key
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

// oldestNext returns the index of the next key created first, or -1.
func oldestNext(entries []Entry) int {
	best := -1
	for i, e := range entries {
		if e.State == Next && (best < 0 || e.CreatedAt.Before(entries[best].CreatedAt)) {
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

package keys

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
)

// populatedRing returns an ES256 ring with an active and a next ES256 key
// and two retired keys (ES256, then first, whose algorithm the ring does
// not sign with and which Reconcile retired).
func populatedRing(t *testing.T, clock *fakeClock, first *jose.Key) *Ring {
	t.Helper()
	r := newTestRing(t, clock, Options{})
	if err := r.Add(first); err != nil {
		t.Fatal(err)
	}
	if err := r.Activate(first.KeyID()); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	mustRotate(t, r, 2) // ES256 active and next beside first
	clock.Advance(time.Minute)
	if err := r.Reconcile(); err != nil { // first retires
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	mustRotate(t, r, 1) // the next ES256 key active, the first one retired
	clock.Advance(time.Second)
	return r
}

func TestSealedRoundTrip(t *testing.T) {
	clock := newFakeClock()
	r := populatedRing(t, clock, genKey(t, jose.RS256))
	mk := mustMasterKey(t, testKeyBytes(1))
	doc, err := r.MarshalSealed(mk)
	if err != nil {
		t.Fatal(err)
	}
	loaded := newTestRing(t, clock, Options{})
	if err := loaded.UnmarshalSealed(doc, mk); err != nil {
		t.Fatal(err)
	}
	want, got := r.snap.Load().entries, loaded.snap.Load().entries
	if len(got) != len(want) || len(got) != 4 {
		t.Fatalf("%d entries loaded, want %d", len(got), len(want))
	}
	for i := range want {
		w, g := want[i], got[i]
		if g.KeyID() != w.KeyID() || g.alg() != w.alg() || g.State != w.State ||
			!g.CreatedAt.Equal(w.CreatedAt) || !g.ActivatedAt.Equal(w.ActivatedAt) ||
			!g.RetiredAt.Equal(w.RetiredAt) || !g.NotAfter.Equal(w.NotAfter) {
			t.Errorf("entry %d: got %+v %v %v %v %v, want %+v %v %v %v %v", i,
				g, g.CreatedAt, g.ActivatedAt, g.RetiredAt, g.NotAfter, w, w.CreatedAt, w.ActivatedAt, w.RetiredAt, w.NotAfter)
		}
		wj, _ := w.Key.MarshalJSON()
		gj, _ := g.Key.MarshalJSON()
		if !bytes.Equal(wj, gj) {
			t.Errorf("entry %d: private key changed in the round trip", i)
		}
	}
	if !bytes.Equal(loaded.JWKS(), r.JWKS()) {
		t.Fatalf("published sets differ:\n%s\n%s", loaded.JWKS(), r.JWKS())
	}
	// The loaded signer signs tokens the original published set accepts.
	tok := mintToken(t, mustSigner(t, loaded), clock.Now(), time.Minute)
	v, _ := jwt.NewVerifier(r, jwt.Config{Issuer: "https://issuer.example", Audience: "https://api.example", Now: clock.Now})
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	// Marshal again: same records, fresh nonces.
	doc2, err := loaded.MarshalSealed(mk)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(doc, doc2) {
		t.Fatal("re-sealing reused nonces")
	}
	// An empty ring round-trips too.
	empty := newTestRing(t, clock, Options{})
	edoc, err := empty.MarshalSealed(mk)
	if err != nil || string(edoc) != `{"version":1,"keys":[]}` {
		t.Fatalf("empty ring: %s, %v", edoc, err)
	}
	if err := loaded.UnmarshalSealed(edoc, mk); err != nil || len(loaded.Entries()) != 0 {
		t.Fatalf("loading an empty ring: %v, %d entries", err, len(loaded.Entries()))
	}
}

func TestSealedDocumentHoldsNoPrivateMaterial(t *testing.T) {
	r := populatedRing(t, newFakeClock(), genKey(t, jose.PS256))
	mk := mustMasterKey(t, testKeyBytes(1))
	doc, err := r.MarshalSealed(mk)
	if err != nil {
		t.Fatal(err)
	}
	var secrets []string
	for _, e := range r.snap.Load().entries {
		secrets = append(secrets, privateForms(t, e.Key)...)
	}
	assertNoSecret(t, "sealed document", string(doc), secrets)
	var generic struct {
		Version int              `json:"version"`
		Keys    []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(doc, &generic); err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{"kid": true, "alg": true, "state": true, "created_at": true, "activated_at": true, "retired_at": true, "not_after": true, "sealed_jwk": true}
	for _, k := range generic.Keys {
		for name := range k {
			if !allowed[name] {
				t.Errorf("unexpected member %q in a persisted key", name)
			}
		}
	}
}

// docEntries decodes a sealed document for tampering.
func docEntries(t *testing.T, doc []byte) []SealedEntry {
	t.Helper()
	var d sealedDoc
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatal(err)
	}
	return d.Keys
}

func encodeDoc(t *testing.T, entries []SealedEntry) []byte {
	t.Helper()
	b, err := json.Marshal(sealedDoc{Version: 1, Keys: entries})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestUnmarshalSealedRejects(t *testing.T) {
	clock := newFakeClock()
	r := populatedRing(t, clock, genKey(t, jose.ES384))
	mk := mustMasterKey(t, testKeyBytes(1))
	doc, err := r.MarshalSealed(mk)
	if err != nil {
		t.Fatal(err)
	}
	active := r.snap.Load().entries[0]
	// tamper decodes the document, lets f change the records, re-encodes.
	tamper := func(f func(es []SealedEntry) []SealedEntry) func(t *testing.T) []byte {
		return func(t *testing.T) []byte { return encodeDoc(t, f(docEntries(t, doc))) }
	}
	text := func(s string) func(*testing.T) []byte { return func(*testing.T) []byte { return []byte(s) } }
	replace := func(old, new string) func(*testing.T) []byte {
		return func(t *testing.T) []byte {
			if !bytes.Contains(doc, []byte(old)) {
				t.Fatalf("document has no %q", old)
			}
			return bytes.Replace(doc, []byte(old), []byte(new), 1)
		}
	}
	resealed := func(jwk func() []byte) func(t *testing.T) []byte {
		// A blob sealed under the right key and associated data, holding a
		// JWK that does not fit the record.
		return tamper(func(es []SealedEntry) []SealedEntry {
			b, err := mk.Seal(jwk(), entryAD(es[0].KeyID, es[0].Algorithm))
			if err != nil {
				t.Fatal(err)
			}
			es[0].Sealed = b
			return es
		})
	}
	activeJWK := func(opts ...jose.KeyOption) func() []byte {
		return func() []byte {
			k, err := jose.NewKey(active.alg(), active.Key.CryptoKey(), opts...)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := k.MarshalJSON()
			return b
		}
	}
	tests := []struct {
		name string
		doc  func(t *testing.T) []byte
		key  MasterKey
		want error
	}{
		{"wrong master key", text(string(doc)), mustMasterKey(t, testKeyBytes(2)), ErrWrongMasterKey},
		{"zero master key", text(string(doc)), MasterKey{}, ErrInvalidMasterKey},
		{"swap two sealed blobs", tamper(func(es []SealedEntry) []SealedEntry {
			es[0].Sealed, es[1].Sealed = es[1].Sealed, es[0].Sealed
			return es
		}), mk, ErrSealedCorrupt},
		{"flip a ciphertext byte", tamper(func(es []SealedEntry) []SealedEntry {
			es[1].Sealed[len(es[1].Sealed)/2] ^= 0x01
			return es
		}), mk, ErrSealedCorrupt},
		{"flip a tag byte", tamper(func(es []SealedEntry) []SealedEntry {
			es[2].Sealed[len(es[2].Sealed)-1] ^= 0x80
			return es
		}), mk, ErrSealedCorrupt},
		{"truncate a blob", tamper(func(es []SealedEntry) []SealedEntry {
			es[0].Sealed = es[0].Sealed[:10]
			return es
		}), mk, ErrSealedCorrupt},
		{"rename a record's kid", tamper(func(es []SealedEntry) []SealedEntry {
			es[0].KeyID = "attacker-chosen"
			return es
		}), mk, ErrSealedCorrupt},
		{"change a record's alg", tamper(func(es []SealedEntry) []SealedEntry {
			es[0].Algorithm = jose.ES384
			return es
		}), mk, ErrSealedCorrupt},
		{"duplicate record", tamper(func(es []SealedEntry) []SealedEntry { return append(es, es[1]) }), mk, ErrInvalidDocument},
		{"two active keys", tamper(func(es []SealedEntry) []SealedEntry {
			es[1].State, es[1].ActivatedAt = Active, es[1].CreatedAt
			return es
		}), mk, ErrInvalidDocument},
		{"removed state", tamper(func(es []SealedEntry) []SealedEntry { es[1].State = Removed; return es }), mk, ErrInvalidDocument},
		{"next with activated_at", tamper(func(es []SealedEntry) []SealedEntry {
			es[1].ActivatedAt = es[1].CreatedAt
			return es
		}), mk, ErrInvalidDocument},
		{"active with not_after", tamper(func(es []SealedEntry) []SealedEntry {
			es[0].NotAfter = es[0].CreatedAt.Add(time.Hour)
			return es
		}), mk, ErrInvalidDocument},
		{"retired without not_after", tamper(func(es []SealedEntry) []SealedEntry {
			es[2].NotAfter = time.Time{}
			return es
		}), mk, ErrInvalidDocument},
		{"retired with not_after before retired_at", tamper(func(es []SealedEntry) []SealedEntry {
			es[2].NotAfter = es[2].RetiredAt.Add(-time.Second)
			return es
		}), mk, ErrInvalidDocument},
		{"missing created_at", tamper(func(es []SealedEntry) []SealedEntry { es[1].CreatedAt = time.Time{}; return es }), mk, ErrInvalidDocument},
		{"missing sealed_jwk", tamper(func(es []SealedEntry) []SealedEntry { es[1].Sealed = nil; return es }), mk, ErrInvalidDocument},
		{"missing kid", tamper(func(es []SealedEntry) []SealedEntry { es[1].KeyID = ""; return es }), mk, ErrInvalidDocument},
		{"sealed JWK with another kid", resealed(activeJWK(jose.WithKeyID("other"))), mk, ErrInvalidDocument},
		{"sealed public JWK", resealed(func() []byte { b, _ := active.Key.Public().MarshalJSON(); return b }), mk, ErrInvalidDocument},
		{"sealed garbage", resealed(func() []byte { return []byte("not a jwk") }), mk, ErrInvalidDocument},
		{"empty input", text(""), mk, ErrInvalidDocument},
		{"null", text("null"), mk, ErrInvalidDocument},
		{"array", text("[]"), mk, ErrInvalidDocument},
		{"no version", text(`{"keys":[]}`), mk, ErrInvalidDocument},
		{"version 2", text(`{"version":2,"keys":[]}`), mk, ErrInvalidDocument},
		{"version as string", text(`{"version":"1","keys":[]}`), mk, ErrInvalidDocument},
		{"no keys", text(`{"version":1}`), mk, ErrInvalidDocument},
		{"keys null", text(`{"version":1,"keys":null}`), mk, ErrInvalidDocument},
		{"duplicate member", text(`{"version":1,"version":1,"keys":[]}`), mk, ErrInvalidDocument},
		{"case-folded duplicate member", text(`{"version":1,"Version":1,"keys":[]}`), mk, ErrInvalidDocument},
		{"unknown top-level member", text(`{"version":1,"keys":[],"extra":true}`), mk, ErrInvalidDocument},
		{"unknown member in a record", replace(`"kid":`, `"x":1,"kid":`), mk, ErrInvalidDocument},
		{"duplicate member in a record", replace(`"kid":`, `"state":"next","kid":`), mk, ErrInvalidDocument},
		{"unknown state", replace(`"state":"active"`, `"state":"enabled"`), mk, ErrInvalidDocument},
		{"trailing data", text(string(doc) + "{}"), mk, ErrInvalidDocument},
		{"too large", text(`{"version":1,"keys":[]}` + strings.Repeat(" ", maxSealedDocSize)), mk, ErrInvalidDocument},
	}
	var secrets []string
	for _, e := range r.snap.Load().entries {
		secrets = append(secrets, privateForms(t, e.Key)...)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := cloneRing(t, r, clock) // a loaded ring that must survive the failure
			before, v := target.JWKS(), target.Version()
			err := target.UnmarshalSealed(tt.doc(t), tt.key)
			if !errors.Is(err, tt.want) {
				t.Fatalf("UnmarshalSealed: %v, want %v", err, tt.want)
			}
			if !bytes.Equal(target.JWKS(), before) || target.Version() != v {
				t.Fatal("a failed UnmarshalSealed changed the ring")
			}
			assertNoSecret(t, "error", err.Error(), secrets)
		})
	}
}

// TestEverySealedByteIsAuthenticated flips each byte of one sealed blob in
// turn: every change is rejected.
func TestEverySealedByteIsAuthenticated(t *testing.T) {
	r := newTestRing(t, newFakeClock(), Options{})
	mustRotate(t, r, 2)
	mk := mustMasterKey(t, testKeyBytes(1))
	doc, err := r.MarshalSealed(mk)
	if err != nil {
		t.Fatal(err)
	}
	es := docEntries(t, doc)
	for i := range es[0].Sealed {
		mod := docEntries(t, doc)
		mod[0].Sealed[i] ^= 0x04
		err := newTestRing(t, newFakeClock(), Options{}).UnmarshalSealed(encodeDoc(t, mod), mk)
		if !errors.Is(err, ErrSealedCorrupt) && !errors.Is(err, ErrWrongMasterKey) {
			t.Fatalf("byte %d flipped: %v", i, err)
		}
	}
}

func TestChangeMasterKey(t *testing.T) {
	clock := newFakeClock()
	r := populatedRing(t, clock, genKey(t, jose.ES384))
	oldMK, newMK := mustMasterKey(t, testKeyBytes(1)), mustMasterKey(t, testKeyBytes(2))
	oldDoc, err := r.MarshalSealed(oldMK)
	if err != nil {
		t.Fatal(err)
	}
	r2 := newTestRing(t, clock, Options{})
	if err := r2.UnmarshalSealed(oldDoc, oldMK); err != nil {
		t.Fatal(err)
	}
	newDoc, err := r2.MarshalSealed(newMK)
	if err != nil {
		t.Fatal(err)
	}
	r3 := newTestRing(t, clock, Options{})
	if err := r3.UnmarshalSealed(newDoc, oldMK); !errors.Is(err, ErrWrongMasterKey) {
		t.Fatalf("new document with the old key: %v", err)
	}
	if err := r3.UnmarshalSealed(newDoc, newMK); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(r3.JWKS(), r.JWKS()) {
		t.Fatal("keys changed when the master key changed")
	}
	if _, err := r3.MarshalSealed(MasterKey{}); !errors.Is(err, ErrInvalidMasterKey) {
		t.Fatalf("MarshalSealed with zero MasterKey: %v", err)
	}
}

func TestSealedEntriesPerRecord(t *testing.T) {
	clock := newFakeClock()
	r := populatedRing(t, clock, genKey(t, jose.ES384))
	mk := mustMasterKey(t, testKeyBytes(1))
	records, err := r.SealedEntries(mk)
	if err != nil {
		t.Fatal(err)
	}
	entries := r.Entries()
	for i, rec := range records {
		if rec.KeyID != entries[i].KeyID() || rec.State != entries[i].State {
			t.Fatalf("record %d: %s %s, entry %s %s", i, rec.KeyID, rec.State, entries[i].KeyID(), entries[i].State)
		}
	}
	// Records can be stored and loaded in any order.
	rev := make([]SealedEntry, len(records))
	for i, rec := range records {
		rev[len(records)-1-i] = rec
	}
	r2 := newTestRing(t, clock, Options{})
	if err := r2.LoadSealedEntries(rev, mk); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(r2.JWKS(), r.JWKS()) || mustSigner(t, r2).KeyID() != mustSigner(t, r).KeyID() {
		t.Fatal("per-record load differs from the ring")
	}
}

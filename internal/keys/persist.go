package keys

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/writ-dev/writ/internal/strictjson"
	"github.com/writ-dev/writ/jose"
)

// ErrInvalidDocument means a persisted ring is malformed or inconsistent.
var ErrInvalidDocument = errors.New("keys: invalid sealed key ring")

// sealedDocVersion is the version of the document MarshalSealed writes.
const sealedDocVersion = 1

// maxSealedDocSize bounds what UnmarshalSealed reads.
const maxSealedDocSize = 4 << 20

// adContext starts the associated data that binds a sealed private key to
// its record.
const adContext = "writ/keys/ring-key/v1"

// SealedEntry is the persisted form of one key of a Ring: its metadata in
// the clear and its private JWK sealed under a master key. The sealed blob
// is bound to KeyID and Algorithm, so it cannot be moved to another record.
// State and timestamps are not authenticated: whoever can write the store
// can change them (but not the keys).
type SealedEntry struct {
	// KeyID is the kid of the key.
	KeyID string `json:"kid"`
	// Algorithm is the algorithm the key is bound to.
	Algorithm jose.Algorithm `json:"alg"`
	// State is Next, Active or Retired.
	State State `json:"state"`
	// CreatedAt, ActivatedAt, RetiredAt and NotAfter are the Entry
	// timestamps; zero ones are left out of the JSON form.
	CreatedAt   time.Time `json:"created_at,omitzero"`
	ActivatedAt time.Time `json:"activated_at,omitzero"`
	RetiredAt   time.Time `json:"retired_at,omitzero"`
	NotAfter    time.Time `json:"not_after,omitzero"`
	// Sealed is the private JWK sealed with MasterKey.Seal (base64 in JSON).
	Sealed []byte `json:"sealed_jwk"`
}

// sealedDoc is the document MarshalSealed writes.
type sealedDoc struct {
	Version int           `json:"version"`
	Keys    []SealedEntry `json:"keys"`
}

// entryAD returns the associated data binding a sealed key to its kid and
// algorithm; the fields are length-prefixed so that no two records share it.
func entryAD(kid string, alg jose.Algorithm) []byte {
	ad := make([]byte, 0, len(adContext)+8+len(kid)+len(alg))
	ad = append(ad, adContext...)
	ad = binary.BigEndian.AppendUint32(ad, uint32(len(kid)))
	ad = append(ad, kid...)
	ad = binary.BigEndian.AppendUint32(ad, uint32(len(alg)))
	return append(ad, alg...)
}

// SealedEntries returns the persisted form of every key of the ring, in the
// order of Entries, with each private JWK sealed under mk. Use it to store
// one record per key; MarshalSealed stores them in one document.
func (r *Ring) SealedEntries(mk MasterKey) ([]SealedEntry, error) {
	if !mk.valid() {
		return nil, fmt.Errorf("%w: zero MasterKey", ErrInvalidMasterKey)
	}
	s := r.snap.Load()
	out := make([]SealedEntry, 0, len(s.entries))
	for _, e := range s.entries {
		jwk, err := e.Key.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("keys: encode key %q: %w", e.KeyID(), err)
		}
		sealed, err := mk.Seal(jwk, entryAD(e.KeyID(), e.alg()))
		clear(jwk)
		if err != nil {
			return nil, fmt.Errorf("keys: seal key %q: %w", e.KeyID(), err)
		}
		out = append(out, SealedEntry{
			KeyID: e.KeyID(), Algorithm: e.alg(), State: e.State,
			CreatedAt: e.CreatedAt, ActivatedAt: e.ActivatedAt, RetiredAt: e.RetiredAt, NotAfter: e.NotAfter,
			Sealed: sealed,
		})
	}
	return out, nil
}

// LoadSealedEntries replaces the contents of the ring with entries, opened
// with mk. Everything is checked before anything changes: each blob must
// open under mk with its record's kid and alg (ErrWrongMasterKey,
// ErrSealedCorrupt), each key must be a usable signing key matching its
// record, kids and key material must be unique, at most one key per
// algorithm may be active, and the timestamps must fit the states
// (ErrInvalidDocument). On error the ring is unchanged. Keys past their NotAfter are kept; call
// Prune to drop them.
func (r *Ring) LoadSealedEntries(entries []SealedEntry, mk MasterKey) error {
	if !mk.valid() {
		return fmt.Errorf("%w: zero MasterKey", ErrInvalidMasterKey)
	}
	if len(entries) > MaxEntries {
		return fmt.Errorf("%w: %d keys, at most %d", ErrInvalidDocument, len(entries), MaxEntries)
	}
	loaded := make([]Entry, 0, len(entries))
	var active []jose.Algorithm
	for i, se := range entries {
		if err := checkRecord(se); err != nil {
			return fmt.Errorf("keys: key %d (%q): %w", i, se.KeyID, err)
		}
		if se.State == Active {
			if slices.Contains(active, se.Algorithm) {
				return fmt.Errorf("%w: more than one active %s key", ErrInvalidDocument, se.Algorithm)
			}
			active = append(active, se.Algorithm)
		}
		key, err := openKey(se, mk)
		if err != nil {
			return fmt.Errorf("keys: key %d (%q): %w", i, se.KeyID, err)
		}
		if err := checkNew(loaded, key); err != nil {
			return fmt.Errorf("%w: key %d: %w", ErrInvalidDocument, i, err)
		}
		loaded = append(loaded, Entry{
			Key: key, State: se.State,
			CreatedAt: utc(se.CreatedAt), ActivatedAt: utc(se.ActivatedAt), RetiredAt: utc(se.RetiredAt), NotAfter: utc(se.NotAfter),
		})
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.publish(r.snap.Load(), loaded)
}

func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Round(0)
}

// checkRecord checks the clear metadata of a persisted key.
func checkRecord(se SealedEntry) error {
	switch {
	case se.KeyID == "":
		return fmt.Errorf("%w: missing kid", ErrInvalidDocument)
	case se.Algorithm == "":
		return fmt.Errorf("%w: missing alg", ErrInvalidDocument)
	case len(se.Sealed) == 0:
		return fmt.Errorf("%w: missing sealed_jwk", ErrInvalidDocument)
	case se.CreatedAt.IsZero():
		return fmt.Errorf("%w: missing created_at", ErrInvalidDocument)
	}
	switch se.State {
	case Next:
		if !se.ActivatedAt.IsZero() || !se.RetiredAt.IsZero() || !se.NotAfter.IsZero() {
			return fmt.Errorf("%w: a next key has no activated_at, retired_at or not_after", ErrInvalidDocument)
		}
	case Active:
		if se.ActivatedAt.IsZero() || !se.RetiredAt.IsZero() || !se.NotAfter.IsZero() {
			return fmt.Errorf("%w: an active key has activated_at and no retired_at or not_after", ErrInvalidDocument)
		}
	case Retired:
		if se.RetiredAt.IsZero() || se.NotAfter.IsZero() || se.NotAfter.Before(se.RetiredAt) {
			return fmt.Errorf("%w: a retired key needs retired_at and a not_after no earlier", ErrInvalidDocument)
		}
	default:
		return fmt.Errorf("%w: state %s cannot be stored", ErrInvalidDocument, se.State)
	}
	return nil
}

// openKey opens and parses the sealed private JWK of se and checks that it
// is the key its record describes.
func openKey(se SealedEntry, mk MasterKey) (*jose.Key, error) {
	pt, err := mk.Open(se.Sealed, entryAD(se.KeyID, se.Algorithm))
	if err != nil {
		return nil, err
	}
	key, err := jose.ParseKey(pt)
	clear(pt)
	if err != nil {
		return nil, fmt.Errorf("%w: sealed JWK: %w", ErrInvalidDocument, err)
	}
	if key.KeyID() != se.KeyID || key.Algorithm() != se.Algorithm {
		return nil, fmt.Errorf("%w: sealed JWK does not match its record", ErrInvalidDocument)
	}
	if err := checkSigningKey(key); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidDocument, err)
	}
	return key, nil
}

// MarshalSealed returns the ring as a JSON document for storage:
//
//	{"version":1,"keys":[{"kid":...,"alg":...,"state":"active",
//	  "created_at":...,"activated_at":...,"sealed_jwk":"<base64>"}, ...]}
//
// Each private JWK is sealed under mk (see SealedEntries); the document
// holds no private key member in the clear.
func (r *Ring) MarshalSealed(mk MasterKey) ([]byte, error) {
	entries, err := r.SealedEntries(mk)
	if err != nil {
		return nil, err
	}
	return json.Marshal(sealedDoc{Version: sealedDocVersion, Keys: entries})
}

// UnmarshalSealed replaces the contents of the ring with a document written
// by MarshalSealed, opened with mk. The document is parsed strictly (no
// duplicate or unknown members, no trailing data) and then checked as by
// LoadSealedEntries. A document sealed under another master key fails with
// ErrWrongMasterKey. On error the ring is unchanged.
//
// To change the master key, unmarshal with the old key and marshal with the
// new one.
func (r *Ring) UnmarshalSealed(data []byte, mk MasterKey) error {
	if len(data) > maxSealedDocSize {
		return fmt.Errorf("%w: larger than %d bytes", ErrInvalidDocument, maxSealedDocSize)
	}
	if err := strictjson.ValidateFold(string(data), 0); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidDocument, err)
	}
	var doc struct {
		Version *int          `json:"version"`
		Keys    []SealedEntry `json:"keys"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidDocument, err)
	}
	switch {
	case doc.Version == nil:
		return fmt.Errorf("%w: missing version", ErrInvalidDocument)
	case *doc.Version != sealedDocVersion:
		return fmt.Errorf("%w: unsupported version %d", ErrInvalidDocument, *doc.Version)
	case doc.Keys == nil:
		return fmt.Errorf("%w: missing keys array", ErrInvalidDocument)
	}
	return r.LoadSealedEntries(doc.Keys, mk)
}

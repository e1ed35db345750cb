package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/writ-dev/writ/internal/audit/chain"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/strictjson"
	"github.com/writ-dev/writ/jose"
)

// Kinds of break, the values of BreakError.Kind.
const (
	// BreakChanged: the event's content does not match its hash (it was
	// changed, or its hash was).
	BreakChanged = "changed"
	// BreakDeleted: events are missing before this one (a gap in the
	// sequence), or after the last one (the head is further on).
	BreakDeleted = "deleted"
	// BreakReordered: the event follows another event than the one before
	// it in sequence order.
	BreakReordered = "reordered"
	// BreakUnlinked: the event does not follow the event before it (an
	// event was replaced, or the chain rewritten from here).
	BreakUnlinked = "unlinked"
	// BreakAnchor: an anchor's signature does not verify with the key
	// ring, or the head it signed is not the chain's.
	BreakAnchor = "bad anchor"
)

// BreakError names the first place where the chain is broken.
type BreakError struct {
	// Seq is the sequence number of the first bad event (for BreakAnchor,
	// the sequence number the anchor names).
	Seq int64
	// Kind is one of the Break* constants.
	Kind string
	// Reason says what was found, without any event content.
	Reason string
}

// Error implements error.
func (e *BreakError) Error() string {
	return fmt.Sprintf("audit chain broken at sequence number %d: %s: %s", e.Seq, e.Kind, e.Reason)
}

// Source is what Verify reads: the trail and its anchors, oldest first.
type Source interface {
	// ListAudit is store.AuditStore's.
	ListAudit(ctx context.Context, q store.AuditQuery) ([]store.AuditEvent, error)
	// ListAuditAnchors is store.AuditChainStore's.
	ListAuditAnchors(ctx context.Context, afterSeq int64, limit int) ([]store.AuditAnchor, error)
	// AuditHead is store.AuditChainStore's.
	AuditHead(ctx context.Context) (int64, []byte, error)
}

// Report is what Verify found on an intact chain.
type Report struct {
	// Events is the number of events read; Legacy of them were appended
	// before the chain existed (an unchained prefix, migration 0011).
	Events int64
	Legacy int64
	// Head and HeadHash are the last event's sequence number and hash.
	Head     int64
	HeadHash []byte
	// Anchors is the number of anchors whose signature and head were
	// checked; LastAnchor the sequence number of the last one (0: none).
	Anchors    int
	LastAnchor int64
	// Sealed is the number of queued events (committed but not yet
	// chained) that Verify chained before reading, when the source can
	// seal (SealStore).
	Sealed int
}

// Head is an event's sequence number and hash as recorded outside the
// store: the head an earlier Verify reported, or the last event a SIEM
// received from the stream. The store alone cannot show that events were
// deleted from the end of the trail together with the anchors after them;
// a head kept elsewhere can.
type Head struct {
	// Seq is the event's sequence number.
	Seq int64
	// Hash is its hash (32 bytes).
	Hash []byte
}

// pageSize is how many events Verify reads at a time.
const pageSize = store.MaxListLimit

// Verify reads the whole trail from src and checks the chain, then every
// anchor against the chain and keys (the key ring's public keys, retired
// ones included), and that the trail still holds each of the expected
// heads. It returns a *BreakError naming the first bad event or anchor, or
// another error when src cannot be read. With keys nil the anchors are
// not checked (Report.Anchors is 0).
//
// Events queued by a store (committed in a redemption's transaction but
// not yet chained) are not part of the chain: when src is also a
// SealStore, Verify seals them first, so that it checks every event
// committed before it started.
func Verify(ctx context.Context, src Source, keys *jose.KeySet, expect ...Head) (Report, error) {
	var (
		r        Report
		prev     []byte // hash of the previous event; nil before the first chained one
		expected int64  = 1
		anchors  []store.AuditAnchor
	)
	heads := make(map[int64][]byte, len(expect))
	for _, h := range expect {
		if h.Seq < 1 || len(h.Hash) != sha256.Size {
			return r, fmt.Errorf("audit: an expected head needs a sequence number of 1 or more and a %d-byte hash", sha256.Size)
		}
		if old, ok := heads[h.Seq]; ok && !bytes.Equal(old, h.Hash) {
			return r, fmt.Errorf("audit: two expected heads name sequence number %d with different hashes", h.Seq)
		}
		heads[h.Seq] = h.Hash
	}
	if s, ok := src.(SealStore); ok {
		var err error
		if r.Sealed, err = s.SealAudit(ctx); err != nil {
			return r, fmt.Errorf("audit: seal the queued events: %w", err)
		}
	}
	if keys != nil {
		var err error
		if anchors, err = listAnchors(ctx, src); err != nil {
			return r, err
		}
	}
	next := 0 // index of the next anchor to check
	page, err := src.ListAudit(ctx, store.AuditQuery{Limit: pageSize})
	if err != nil {
		return r, fmt.Errorf("audit: read the trail: %w", err)
	}
	for len(page) > 0 {
		var ahead []store.AuditEvent
		if len(page) == pageSize {
			if ahead, err = src.ListAudit(ctx, store.AuditQuery{AfterSeq: page[len(page)-1].Seq, Limit: pageSize}); err != nil {
				return r, fmt.Errorf("audit: read the trail: %w", err)
			}
		}
		window := append(append([]store.AuditEvent(nil), page...), ahead...)
		for i, e := range page {
			if err := ctx.Err(); err != nil {
				return r, err
			}
			if e.Seq != expected {
				return r, &BreakError{Seq: e.Seq, Kind: BreakDeleted, Reason: fmt.Sprintf("sequence numbers %d to %d are missing", expected, e.Seq-1)}
			}
			if e.Hash == nil && e.PrevHash == nil && prev == nil {
				r.Legacy++ // unchained prefix
			} else if b := checkEvent(e, prev, window[i+1:]); b != nil {
				return r, b
			} else {
				prev = e.Hash
			}
			if h, ok := heads[e.Seq]; ok {
				if !bytes.Equal(h, e.Hash) {
					return r, &BreakError{Seq: e.Seq, Kind: BreakChanged, Reason: "it is not the event recorded outside the store as the head at this sequence number (the trail was rewritten up to here)"}
				}
				delete(heads, e.Seq)
			}
			r.Events++
			r.Head, r.HeadHash = e.Seq, e.Hash
			expected++
			for next < len(anchors) && anchors[next].Seq == e.Seq {
				if b := checkAnchor(anchors[next], e, keys); b != nil {
					return r, b
				}
				r.Anchors++
				r.LastAnchor = e.Seq
				next++
			}
			if next < len(anchors) && anchors[next].Seq < e.Seq {
				// Only an anchor for a missing event can be skipped, and
				// there are none (sequence numbers are checked above).
				return r, &BreakError{Seq: anchors[next].Seq, Kind: BreakAnchor, Reason: "anchors an event that is not in the trail"}
			}
		}
		page = ahead
	}
	if next < len(anchors) {
		return r, &BreakError{Seq: anchors[next].Seq, Kind: BreakDeleted,
			Reason: fmt.Sprintf("an anchor names sequence number %d but the trail ends at %d", anchors[next].Seq, r.Head)}
	}
	if len(heads) > 0 {
		var last int64
		for seq := range heads {
			last = max(last, seq)
		}
		return r, &BreakError{Seq: r.Head + 1, Kind: BreakDeleted,
			Reason: fmt.Sprintf("a head recorded outside the store names sequence number %d but the trail ends at %d", last, r.Head)}
	}
	seq, hash, err := src.AuditHead(ctx)
	if err != nil {
		return r, fmt.Errorf("audit: read the chain head: %w", err)
	}
	if seq != r.Head || !bytes.Equal(hash, r.HeadHash) {
		return r, &BreakError{Seq: r.Head + 1, Kind: BreakDeleted,
			Reason: fmt.Sprintf("the store's chain head is sequence number %d but the trail ends at %d", seq, r.Head)}
	}
	return r, nil
}

// checkEvent checks one chained event against the previous event's hash
// (nil when it is the first chained event); later are the events after
// it that were read, to tell a reordering from a change.
func checkEvent(e store.AuditEvent, prev []byte, later []store.AuditEvent) *BreakError {
	if prev == nil {
		prev = chain.Genesis()
	}
	valid := chain.Valid(e)
	if valid && bytes.Equal(e.PrevHash, prev) {
		return nil
	}
	for _, l := range later {
		if l.Hash != nil && bytes.Equal(l.Hash, e.PrevHash) {
			return &BreakError{Seq: e.Seq, Kind: BreakReordered, Reason: fmt.Sprintf("it follows the event now at sequence number %d", l.Seq)}
		}
	}
	switch {
	case valid:
		return &BreakError{Seq: e.Seq, Kind: BreakUnlinked, Reason: fmt.Sprintf("it does not follow the event at sequence number %d", e.Seq-1)}
	case e.Hash == nil:
		return &BreakError{Seq: e.Seq, Kind: BreakChanged, Reason: "its hash was removed"}
	}
	return &BreakError{Seq: e.Seq, Kind: BreakChanged, Reason: "its content does not match its hash"}
}

// listAnchors reads every anchor, in order.
func listAnchors(ctx context.Context, src Source) ([]store.AuditAnchor, error) {
	var out []store.AuditAnchor
	var after int64
	for {
		page, err := src.ListAuditAnchors(ctx, after, store.MaxListLimit)
		if err != nil {
			return nil, fmt.Errorf("audit: read the anchors: %w", err)
		}
		out = append(out, page...)
		if len(page) < store.MaxListLimit {
			return out, nil
		}
		after = page[len(page)-1].Seq
	}
}

// AnchorType is the typ header of an anchor's JWS.
const AnchorType = "writ-audit-anchor+jws"

// anchorPayload is what an anchor's JWS signs.
type anchorPayload struct {
	Seq  int64  `json:"seq"`
	Hash string `json:"hash"`
	Time int64  `json:"time"`
}

// maxAnchorSize bounds an anchor's JWS.
const maxAnchorSize = 16 << 10

// checkAnchor verifies a's signature with keys and that it states e's
// sequence number and hash.
func checkAnchor(a store.AuditAnchor, e store.AuditEvent, keys *jose.KeySet) *BreakError {
	bad := func(why string) *BreakError { return &BreakError{Seq: a.Seq, Kind: BreakAnchor, Reason: why} }
	j, err := jose.ParseCompact(a.JWS, maxAnchorSize)
	if err != nil {
		return bad("its JWS cannot be parsed")
	}
	if j.Header.Type != AnchorType {
		return bad("its JWS is not an audit anchor (typ)")
	}
	if _, err := j.Verify(keys); err != nil {
		if errors.Is(err, jose.ErrKeyNotFound) {
			return bad(fmt.Sprintf("signed with key %q, which is not in the key ring (a removed key: give its public key with --jwks)", j.Header.KeyID))
		}
		return bad("its signature does not verify")
	}
	p, err := parseAnchorPayload(j.Payload())
	if err != nil {
		return bad("its signed payload is malformed")
	}
	h, err := base64.RawURLEncoding.DecodeString(p.Hash)
	if err != nil || p.Seq != a.Seq || !bytes.Equal(h, a.Hash) || p.Time != a.Time.Unix() {
		return bad("its record differs from what it signed")
	}
	if !bytes.Equal(h, e.Hash) {
		return bad("the head it signed is not the chain's hash at that sequence number")
	}
	return nil
}

// parseAnchorPayload decodes a signed payload strictly: one JSON object
// without duplicate or unknown members.
func parseAnchorPayload(data string) (anchorPayload, error) {
	var p anchorPayload
	if err := strictjson.Validate(data, 2); err != nil {
		return p, err
	}
	d := json.NewDecoder(strings.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(&p); err != nil {
		return p, err
	}
	return p, nil
}

// SignAnchor makes the anchor of the head (seq, hash) at now, signed with
// key.
func SignAnchor(key *jose.Key, seq int64, hash []byte, now time.Time) (store.AuditAnchor, error) {
	now = now.Truncate(time.Second).UTC()
	payload, err := json.Marshal(anchorPayload{Seq: seq, Hash: base64.RawURLEncoding.EncodeToString(hash), Time: now.Unix()})
	if err != nil {
		return store.AuditAnchor{}, err
	}
	jws, err := jose.Sign(key, payload, &jose.SignOptions{Type: AnchorType})
	if err != nil {
		return store.AuditAnchor{}, fmt.Errorf("audit: sign anchor: %w", err)
	}
	return store.AuditAnchor{Seq: seq, Hash: bytes.Clone(hash), Time: now, JWS: jws}, nil
}

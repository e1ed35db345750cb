// Package chain is the hash chain of writ's audit trail: the canonical
// encoding of an audit event and the hash that links it to the one
// before. It is a leaf package so that the storage backends can compute
// the hash inside the append's transaction; internal/audit verifies.
package chain

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"

	"github.com/writ-dev/writ/internal/store"
)

// Size is the length of a chain hash (SHA-256).
const Size = sha256.Size

// domain starts every encoded event, so that the hash of an audit event
// cannot be the hash of anything else writ hashes.
const domain = "writ/audit/chain/v1"

// Genesis is the PrevHash of the first chained event: 32 zero bytes.
func Genesis() []byte { return make([]byte, Size) }

// Encode returns the canonical encoding of e chained to prev: the domain
// string, then Seq and Time (Unix microseconds, the stored precision) as
// 8-byte big-endian integers, then Type, ClientID, Subject, DelegationID,
// By and RequestID, the number of Actors and each actor, Details (as
// stored; empty when nil) and prev, every variable-length field prefixed
// with its length as a 4-byte big-endian integer. No two different
// events (or prev values) share an encoding.
func Encode(prev []byte, e store.AuditEvent) []byte {
	return appendEncoded(make([]byte, 0, 128+len(e.Details)+len(prev)), prev, e)
}

// appendEncoded appends Encode(prev, e) to b.
func appendEncoded(b, prev []byte, e store.AuditEvent) []byte {
	b = field(b, domain)
	b = binary.BigEndian.AppendUint64(b, uint64(e.Seq))
	b = binary.BigEndian.AppendUint64(b, uint64(e.Time.UnixMicro()))
	for _, s := range [...]string{e.Type, e.ClientID, e.Subject, e.DelegationID, e.By, e.RequestID} {
		b = field(b, s)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(e.Actors)))
	for _, a := range e.Actors {
		b = field(b, a)
	}
	b = field(b, e.Details)
	return field(b, prev)
}

// Hash returns the SHA-256 of Encode(prev, e): the event's chain hash.
func Hash(prev []byte, e store.AuditEvent) []byte {
	sum := sha256.Sum256(Encode(prev, e))
	return sum[:]
}

// Link numbers events from first and chains them after head, the hash of
// the event before first (nil or empty for an empty trail: Genesis). It
// returns copies of the events with Seq, PrevHash and Hash set, in order,
// for a backend to insert; events itself is not changed.
func Link(head []byte, first int64, events []store.AuditEvent) []store.AuditEvent {
	if len(head) == 0 {
		head = Genesis()
	}
	out := make([]store.AuditEvent, len(events))
	// One encoding buffer for the batch, and every hash a slice of one
	// array: a drain links hundreds of events at a time.
	hashes := make([]byte, Size*len(events))
	var buf []byte
	for i, e := range events {
		e.Seq, e.PrevHash = first+int64(i), head
		buf = appendEncoded(buf[:0], head, e)
		sum := sha256.Sum256(buf)
		e.Hash = hashes[i*Size : (i+1)*Size : (i+1)*Size]
		copy(e.Hash, sum[:])
		out[i], head = e, e.Hash
	}
	return out
}

// Valid reports whether e's stored Hash is the hash of e chained to its
// stored PrevHash (it does not check that PrevHash is the hash before).
func Valid(e store.AuditEvent) bool {
	return len(e.Hash) == Size && bytes.Equal(e.Hash, Hash(e.PrevHash, e))
}

// field appends s prefixed with its length.
func field[T ~string | ~[]byte](b []byte, s T) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

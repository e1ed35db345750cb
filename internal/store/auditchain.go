package store

import (
	"context"
	"time"
)

// This file holds the persistence side of the tamper-evident audit trail:
// each AuditEvent carries the hash of its predecessor and its own hash
// (computed by internal/audit/chain.Hash inside the append's
// transaction), and AuditAnchors record the chain head signed by the key
// ring. The store only keeps them; internal/audit computes and verifies.

// AuditAnchor is a signed statement of the chain head: the event with
// sequence number Seq has hash Hash, signed at Time. JWS is a compact JWS
// over {"seq","hash","time"} made with the key ring's active key.
type AuditAnchor struct {
	// Seq is the sequence number of the anchored event; the key.
	Seq int64
	// Hash is that event's hash (32 bytes).
	Hash []byte
	// Time is when the anchor was signed.
	Time time.Time
	// JWS is the compact JWS whose payload states Seq, Hash and Time.
	JWS string
}

// AuditChainStore is the chained side of the audit trail. Every backend
// appends with the hash chain (AppendAudit of AuditStore included, and the
// Issue.Audit events of a redemption or rotation); this interface adds the
// batch append used by group commit, the chain head, the anchors, and
// SealAudit.
//
// A backend may queue the events appended inside another transaction
// (Issue.Audit) instead of chaining them there (PostgreSQL: so that
// redemptions do not serialise on the chain head); they get their
// sequence numbers when sealed. ListAudit and AuditHead seal first, so a
// reader sees every event committed before it read; the standalone
// appends (AppendAudit, AppendAudits) chain at once
// and return real sequence numbers.
type AuditChainStore interface {
	// SealAudit chains the queued events committed before the call (in
	// batches, each in its own transaction) and returns how many it
	// chained; 0 and no lock taken when none are queued. Concurrent calls,
	// of one or several stores on one database, chain each event once. A
	// backend that never queues (SQLite) returns 0.
	SealAudit(ctx context.Context) (int, error)
	// AppendAudits stores the events, in order, in one transaction and
	// returns the sequence number of the first (the others follow it
	// without gap). Nothing is stored if one is invalid.
	AppendAudits(ctx context.Context, events []AuditEvent) (int64, error)
	// AuditHead returns the sequence number and hash of the last event, or
	// 0 and nil for an empty trail.
	AuditHead(ctx context.Context) (seq int64, hash []byte, err error)
	// PutAuditAnchor stores an anchor; ErrAlreadyExists if one anchors
	// that sequence number already.
	PutAuditAnchor(ctx context.Context, a AuditAnchor) error
	// ListAuditAnchors returns up to limit (EffectiveLimit rules) anchors
	// with Seq above afterSeq, in Seq order.
	ListAuditAnchors(ctx context.Context, afterSeq int64, limit int) ([]AuditAnchor, error)
	// AppendJournaled is AppendAudits for events first written to a
	// node-local audit journal (internal/audit.Journal): in the same
	// transaction it records that the journal named journal is applied
	// up to the offset pos, so that a node restarting after a crash
	// replays only what no transaction holds. pos never goes back. It
	// returns the first event's sequence number, or 0 when the backend
	// queues the events (as those of Issue.Audit) for SealAudit.
	AppendJournaled(ctx context.Context, journal string, pos int64, events []AuditEvent) (int64, error)
	// AuditJournalPosition returns the offset up to which journal was
	// applied, or 0 for a journal the store does not know.
	AuditJournalPosition(ctx context.Context, journal string) (int64, error)
	// ForgetAuditJournal removes journal's position once its file is
	// gone; forgetting an unknown journal is not an error.
	ForgetAuditJournal(ctx context.Context, journal string) error
}

// ValidateJournaled reports an error wrapping ErrInvalid unless journal
// and events can be stored by AppendJournaled.
func ValidateJournaled(journal string, events []AuditEvent) error {
	if err := ValidateJournalName(journal); err != nil {
		return err
	}
	return ValidateAuditEvents(events)
}

// ValidateJournalName reports an error wrapping ErrInvalid unless name can
// name an audit journal: 1 to 64 characters of [a-z0-9-].
func ValidateJournalName(name string) error {
	if name == "" || len(name) > 64 {
		return invalid("audit journal name", "must have 1 to 64 characters")
	}
	for _, c := range name {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return invalid("audit journal name", "may hold only a-z, 0-9 and -")
		}
	}
	return nil
}

// Validate reports an error wrapping ErrInvalid unless a can be stored: a
// positive Seq, a 32-byte hash, a time in range and a JWS of bounded
// printable ASCII.
func (a AuditAnchor) Validate() error {
	if a.Seq < 1 {
		return invalid("anchor sequence number", "is not positive")
	}
	if len(a.Hash) != 32 {
		return invalid("anchor hash", "is not 32 bytes")
	}
	if err := CheckExpiry("anchor time", a.Time); err != nil {
		return err
	}
	if a.JWS == "" || len(a.JWS) > MaxExtraSize {
		return invalid("anchor JWS", "is empty or too long")
	}
	for i := 0; i < len(a.JWS); i++ {
		if c := a.JWS[i]; c < 0x21 || c > 0x7e {
			return invalid("anchor JWS", "is not printable ASCII")
		}
	}
	return nil
}

// ValidateAuditEvents reports an error wrapping ErrInvalid unless events
// can be appended (AppendAudits): at least one, and every one valid.
func ValidateAuditEvents(events []AuditEvent) error {
	if len(events) == 0 {
		return invalid("audit events", "are none")
	}
	for _, e := range events {
		if err := e.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// Package audit is the tamper-evident side of writ's audit trail: the
// hash chain's verification (Verify), the signed anchors of the chain
// head (Anchor, RunAnchors), the group-commit appender (Appender) that
// records events that have no store transaction of their own, and the
// sealer (RunSealer) that chains the events a store queued.
//
// The chain itself (the canonical encoding and hash of an event) is in
// the leaf package internal/audit/chain, which the storage backends call
// under their chain head's lock: SQLite inside each append's transaction;
// PostgreSQL for its standalone appends, and for the events of a
// redemption's or rotation's transaction when it seals them
// (store.AuditChainStore.SealAudit), so that those transactions take no
// lock on the head. The store only persists.
//
// # What the chain proves
//
// Every event stores the hash of the event before it and its own hash
// over its sequence number, time, type, names, details and that previous
// hash. A change to an event, a deleted event (a gap in the gap-free
// sequence), or events put in another order break the chain at the first
// such event, which Verify names. The hashes have no secret: someone who
// can write the database can recompute the chain after a change. Anchors
// close that gap up to the last anchor: each states the head (sequence
// number and hash) at a time, signed by the key ring's active key, which
// the database does not hold in the clear. Events after the last anchor
// are protected only by the chain (and by any copy streamed to a SIEM).
package audit

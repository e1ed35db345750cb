-- The audit trail becomes a hash chain: each event stores the hash of the
-- event before it and its own hash (internal/audit/chain). The chain head
-- is kept in the counter row, whose row lock already serializes appends
-- (on every node): an append takes the next number and the head in one
-- UPDATE, and writes the new head back in the same transaction. Events
-- appended before this migration keep NULL hashes (an unchained prefix).
ALTER TABLE audit_seq ADD COLUMN head bytea;
ALTER TABLE audit_events ADD COLUMN prev_hash bytea, ADD COLUMN hash bytea;

CREATE INDEX audit_events_time ON audit_events (time, seq);

-- Anchors: the chain head at seq, signed (a compact JWS) by the key ring.
CREATE TABLE audit_anchors (
    seq  bigint      PRIMARY KEY,
    hash bytea       NOT NULL,
    time timestamptz NOT NULL,
    jws  text        NOT NULL
);

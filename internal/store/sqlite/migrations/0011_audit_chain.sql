-- The audit trail becomes a hash chain: each event stores the hash of the
-- event before it and its own hash (internal/audit/chain), computed by the
-- single writer inside the append's transaction. Events appended before
-- this migration keep NULL hashes (an unchained prefix).
ALTER TABLE audit_events ADD COLUMN prev_hash BLOB;
ALTER TABLE audit_events ADD COLUMN hash BLOB;

CREATE INDEX audit_events_time ON audit_events (time, seq);

-- Anchors: the chain head at seq, signed (a compact JWS) by the key ring.
CREATE TABLE audit_anchors (
    seq  INTEGER NOT NULL PRIMARY KEY,
    hash BLOB    NOT NULL,
    time INTEGER NOT NULL,
    jws  TEXT    NOT NULL
) STRICT;

-- writ schema, version 16: the audit queue. An event appended inside a
-- redemption's or rotation's transaction is only inserted here: one row
-- in a table without indexes, where chaining it there would read the
-- chain head and write audit_events and its four indexes, several pages
-- of the write-ahead log per redemption. The writer chains queued rows in
-- batches (SealAudit, every 200 ms, and before every read of the trail
-- and every direct append), in id order, which is commit order here.
CREATE TABLE audit_pending (
    id            INTEGER NOT NULL PRIMARY KEY,
    time          INTEGER NOT NULL,
    type          TEXT    NOT NULL,
    client_id     TEXT    NOT NULL,
    subject       TEXT    NOT NULL,
    actors        TEXT    NOT NULL,
    delegation_id TEXT    NOT NULL,
    by_principal  TEXT    NOT NULL,
    request_id    TEXT    NOT NULL,
    details       BLOB
) STRICT;

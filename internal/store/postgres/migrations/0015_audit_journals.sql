-- writ schema, version 15: positions of the node-local audit journals.
-- Events without a transaction of their own (a client credentials JWT, a
-- failed sign-in) are written to a journal file before the response and
-- moved into audit_events in batches; the batch's transaction also sets
-- pos, the journal offset it reaches, so a restarted node replays only
-- the part of a journal that no transaction holds.
CREATE TABLE audit_journals (
    journal text    PRIMARY KEY,
    pos     bigint NOT NULL
);

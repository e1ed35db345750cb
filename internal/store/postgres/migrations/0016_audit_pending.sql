-- writ schema, version 16: the audit queue. An event appended inside a
-- redemption's or rotation's transaction is only inserted here (no lock,
-- no hash); a sealer (every node, and every reader of the trail) later
-- takes the audit_seq row lock, deletes a batch of queued rows in id
-- order, chains them after the head into audit_events and moves the head.
-- id orders the queue only: it is assigned at insert, not at commit, so a
-- row may commit after one with a higher id was sealed; chain order is
-- seal order. The columns are audit_events' without seq and the hashes.
CREATE TABLE IF NOT EXISTS audit_pending (
    id            bigserial PRIMARY KEY,
    time          timestamptz      NOT NULL,
    type          text COLLATE "C" NOT NULL,
    client_id     text COLLATE "C" NOT NULL,
    subject       text COLLATE "C" NOT NULL,
    actors        text[]           NOT NULL,
    delegation_id text COLLATE "C" NOT NULL,
    by_principal  text             NOT NULL,
    request_id    text             NOT NULL,
    details       bytea
);

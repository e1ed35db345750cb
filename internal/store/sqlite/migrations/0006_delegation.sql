-- writ schema, version 6: delegation (token exchange, agents, trusted
-- issuers) and the audit trail.
--
-- Conventions as in version 1. A client's agent and exchange policies are
-- JSON objects (store/internal/recjson: fixed snake_case names, durations
-- in nanoseconds), NULL when the client has none. What a refresh token
-- family is bound to (DPoP key thumbprint, delegation, extra claims) is on
-- the family row: it is the same for every token of the family.

ALTER TABLE clients ADD COLUMN agent TEXT CHECK (agent IS NULL OR json_valid(agent));
ALTER TABLE clients ADD COLUMN exchange TEXT CHECK (exchange IS NULL OR json_valid(exchange));
ALTER TABLE clients ADD COLUMN origin TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN registration_token_hash BLOB;
ALTER TABLE clients ADD COLUMN tokens_revoked_before INTEGER;

ALTER TABLE refresh_families ADD COLUMN jkt TEXT NOT NULL DEFAULT '';
ALTER TABLE refresh_families ADD COLUMN delegation_id TEXT NOT NULL DEFAULT '';
ALTER TABLE refresh_families ADD COLUMN extra BLOB;

CREATE INDEX refresh_families_delegation_id ON refresh_families (delegation_id) WHERE delegation_id <> '';

-- One link of an exchange chain. parent_id is not a foreign key: a parent
-- purged (expired) before its child leaves the child's chain broken, and a
-- broken chain counts as revoked.
CREATE TABLE delegations (
    id             TEXT    NOT NULL PRIMARY KEY,
    root_id        TEXT    NOT NULL,
    parent_id      TEXT    NOT NULL,
    client_id      TEXT    NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    subject        TEXT    NOT NULL,
    subject_issuer TEXT    NOT NULL,
    actors         TEXT    NOT NULL CHECK (json_valid(actors)),
    audience       TEXT    NOT NULL CHECK (json_valid(audience)),
    scopes         TEXT    NOT NULL CHECK (json_valid(scopes)),
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    revoked_at     INTEGER
) STRICT;

CREATE INDEX delegations_parent_id ON delegations (parent_id) WHERE parent_id <> '';
CREATE INDEX delegations_root_id ON delegations (root_id);
CREATE INDEX delegations_client_id ON delegations (client_id, created_at);
CREATE INDEX delegations_subject ON delegations (subject, created_at);
CREATE INDEX delegations_created_at ON delegations (created_at);
CREATE INDEX delegations_expires_at ON delegations (expires_at);

CREATE TABLE trusted_issuers (
    issuer     TEXT    NOT NULL PRIMARY KEY,
    jwks       BLOB,
    jwks_uri   TEXT    NOT NULL,
    uses       TEXT    NOT NULL CHECK (json_valid(uses)),
    rules      TEXT    NOT NULL CHECK (json_valid(rules)),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

-- The audit trail, append-only. seq is the rowid: the single writer
-- assigns max(seq) + 1, and rows are never deleted, so the sequence is
-- ascending and gap-free in commit order. client_id is not a foreign key:
-- the trail outlives the clients it names.
CREATE TABLE audit_events (
    seq           INTEGER NOT NULL PRIMARY KEY,
    time          INTEGER NOT NULL,
    type          TEXT    NOT NULL,
    client_id     TEXT    NOT NULL,
    subject       TEXT    NOT NULL,
    actors        TEXT    NOT NULL CHECK (json_valid(actors)),
    delegation_id TEXT    NOT NULL,
    by_principal  TEXT    NOT NULL,
    request_id    TEXT    NOT NULL,
    details       BLOB
) STRICT;

CREATE INDEX audit_events_type ON audit_events (type, seq);
CREATE INDEX audit_events_client_id ON audit_events (client_id, seq);
CREATE INDEX audit_events_subject ON audit_events (subject, seq);

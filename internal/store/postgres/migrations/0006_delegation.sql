-- writ schema, version 6: delegation (token exchange, agents, trusted
-- issuers) and the audit trail.
--
-- Conventions as in version 1. A client's agent and exchange policies are
-- jsonb objects (store/internal/recjson: fixed snake_case names, durations
-- in nanoseconds), NULL when the client has none. What a refresh token
-- family is bound to (DPoP key thumbprint, delegation, extra claims) is on
-- the family row: it is the same for every token of the family.

ALTER TABLE clients
    ADD COLUMN agent                   jsonb,
    ADD COLUMN exchange                jsonb,
    ADD COLUMN origin                  text NOT NULL DEFAULT '',
    ADD COLUMN registration_token_hash bytea,
    ADD COLUMN tokens_revoked_before   timestamptz;

ALTER TABLE refresh_families
    ADD COLUMN jkt           text NOT NULL DEFAULT '',
    ADD COLUMN delegation_id text COLLATE "C" NOT NULL DEFAULT '',
    ADD COLUMN extra         bytea;

CREATE INDEX refresh_families_delegation_id ON refresh_families (delegation_id) WHERE delegation_id <> '';

-- One link of an exchange chain. parent_id is not a foreign key: a parent
-- purged (expired) before its child leaves the child's chain broken, and a
-- broken chain counts as revoked.
CREATE TABLE delegations (
    id             text COLLATE "C" PRIMARY KEY,
    root_id        text COLLATE "C" NOT NULL,
    parent_id      text COLLATE "C" NOT NULL,
    client_id      text COLLATE "C" NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    subject        text COLLATE "C" NOT NULL,
    subject_issuer text             NOT NULL,
    actors         text[]           NOT NULL,
    audience       text[]           NOT NULL,
    scopes         text[]           NOT NULL,
    created_at     timestamptz      NOT NULL,
    expires_at     timestamptz      NOT NULL,
    revoked_at     timestamptz
);

CREATE INDEX delegations_parent_id ON delegations (parent_id) WHERE parent_id <> '';
CREATE INDEX delegations_root_id ON delegations (root_id);
CREATE INDEX delegations_client_id ON delegations (client_id, created_at);
CREATE INDEX delegations_subject ON delegations (subject, created_at);
CREATE INDEX delegations_created_at ON delegations (created_at);
CREATE INDEX delegations_expires_at ON delegations (expires_at);
CREATE INDEX delegations_actors ON delegations USING gin (actors);

CREATE TABLE trusted_issuers (
    issuer     text COLLATE "C" PRIMARY KEY,
    jwks       bytea,
    jwks_uri   text        NOT NULL,
    uses       text[]      NOT NULL,
    rules      jsonb       NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

-- The audit trail, append-only. seq is not a sequence (a rolled-back
-- insert would leave a gap, and concurrent inserts could commit out of
-- order, so a reader following AfterSeq could skip an event): each append
-- takes the next number from the one row of audit_seq, whose row lock
-- holds concurrent appends back until it commits. Numbers are therefore
-- gap-free and committed in order. client_id is not a foreign key: the
-- trail outlives the clients it names.
CREATE TABLE audit_seq (
    id   integer PRIMARY KEY CHECK (id = 1),
    last bigint  NOT NULL
);

INSERT INTO audit_seq (id, last) VALUES (1, 0);

CREATE TABLE audit_events (
    seq           bigint PRIMARY KEY,
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

CREATE INDEX audit_events_type ON audit_events (type, seq);
CREATE INDEX audit_events_client_id ON audit_events (client_id, seq);
CREATE INDEX audit_events_subject ON audit_events (subject, seq);

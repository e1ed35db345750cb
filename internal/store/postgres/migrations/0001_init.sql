-- writ schema, version 1: clients, opaque token records, JWT revocation
-- list, used client-assertion JTIs and the key ring.
--
-- Conventions: times are timestamptz (microseconds); durations are bigint
-- nanoseconds; lists are text[]; metadata is jsonb; secrets arrive hashed or
-- sealed and are stored as bytea; raw JSON documents the caller wants back
-- byte for byte (jwks, extra) are bytea. Keys use COLLATE "C" so that
-- ordering (and keyset pagination) is byte order, as on SQLite.

CREATE TABLE clients (
    id                         text COLLATE "C" PRIMARY KEY,
    secret_hash                bytea,
    secret_rotated_at          timestamptz NOT NULL,
    name                       text        NOT NULL,
    redirect_uris              text[]      NOT NULL,
    post_logout_redirect_uris  text[]      NOT NULL,
    grant_types                text[]      NOT NULL,
    response_types             text[]      NOT NULL,
    scopes                     text[]      NOT NULL,
    audiences                  text[]      NOT NULL,
    token_endpoint_auth_method text        NOT NULL,
    jwks                       bytea,
    jwks_uri                   text        NOT NULL,
    access_token_format        text        NOT NULL,
    access_token_ttl           bigint      NOT NULL CHECK (access_token_ttl >= 0),
    refresh_token_ttl          bigint      NOT NULL CHECK (refresh_token_ttl >= 0),
    id_token_ttl               bigint      NOT NULL CHECK (id_token_ttl >= 0),
    first_party                boolean     NOT NULL,
    backchannel_logout_uri     text        NOT NULL,
    metadata                   jsonb       NOT NULL,
    created_at                 timestamptz NOT NULL,
    updated_at                 timestamptz NOT NULL
);

CREATE TABLE tokens (
    hash       bytea PRIMARY KEY,
    kind       text             NOT NULL,
    client_id  text COLLATE "C" NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    subject    text             NOT NULL,
    scopes     text[]           NOT NULL,
    audience   text[]           NOT NULL,
    issued_at  timestamptz      NOT NULL,
    expires_at timestamptz      NOT NULL,
    revoked    boolean          NOT NULL DEFAULT false,
    extra      bytea
);

CREATE INDEX tokens_client_id ON tokens (client_id);
CREATE INDEX tokens_expires_at ON tokens (expires_at);

CREATE TABLE revoked_jtis (
    jti        text COLLATE "C" PRIMARY KEY,
    expires_at timestamptz NOT NULL
);

CREATE INDEX revoked_jtis_expires_at ON revoked_jtis (expires_at);

CREATE TABLE used_jtis (
    client_id  text COLLATE "C" NOT NULL,
    jti        text COLLATE "C" NOT NULL,
    expires_at timestamptz      NOT NULL,
    PRIMARY KEY (client_id, jti)
);

CREATE INDEX used_jtis_expires_at ON used_jtis (expires_at);

-- One row, created here so that every update locks an existing row.
-- data is NULL (and version 0) until the first key ring is stored.
CREATE TABLE key_ring (
    id      integer PRIMARY KEY CHECK (id = 1),
    data    bytea,
    version bigint NOT NULL
);

INSERT INTO key_ring (id, data, version) VALUES (1, NULL, 0);

-- writ schema, version 1: clients, opaque token records, JWT revocation
-- list, used client-assertion JTIs and the key ring.
--
-- Conventions: times are INTEGER Unix microseconds (UTC); durations are
-- INTEGER nanoseconds; lists and maps are JSON text; secrets arrive hashed or
-- sealed and are stored as BLOBs. Tables are STRICT so a wrong type is an
-- error, never a silent conversion.

CREATE TABLE clients (
    id                         TEXT    NOT NULL PRIMARY KEY,
    secret_hash                BLOB,
    secret_rotated_at          INTEGER NOT NULL,
    name                       TEXT    NOT NULL,
    redirect_uris              TEXT    NOT NULL CHECK (json_valid(redirect_uris)),
    post_logout_redirect_uris  TEXT    NOT NULL CHECK (json_valid(post_logout_redirect_uris)),
    grant_types                TEXT    NOT NULL CHECK (json_valid(grant_types)),
    response_types             TEXT    NOT NULL CHECK (json_valid(response_types)),
    scopes                     TEXT    NOT NULL CHECK (json_valid(scopes)),
    audiences                  TEXT    NOT NULL CHECK (json_valid(audiences)),
    token_endpoint_auth_method TEXT    NOT NULL,
    jwks                       BLOB,
    jwks_uri                   TEXT    NOT NULL,
    access_token_format        TEXT    NOT NULL,
    access_token_ttl           INTEGER NOT NULL CHECK (access_token_ttl >= 0),
    refresh_token_ttl          INTEGER NOT NULL CHECK (refresh_token_ttl >= 0),
    id_token_ttl               INTEGER NOT NULL CHECK (id_token_ttl >= 0),
    first_party                INTEGER NOT NULL CHECK (first_party IN (0, 1)),
    backchannel_logout_uri     TEXT    NOT NULL,
    metadata                   TEXT    NOT NULL CHECK (json_valid(metadata)),
    created_at                 INTEGER NOT NULL,
    updated_at                 INTEGER NOT NULL
) STRICT;

CREATE TABLE tokens (
    hash       BLOB    NOT NULL PRIMARY KEY,
    kind       TEXT    NOT NULL,
    client_id  TEXT    NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    subject    TEXT    NOT NULL,
    scopes     TEXT    NOT NULL CHECK (json_valid(scopes)),
    audience   TEXT    NOT NULL CHECK (json_valid(audience)),
    issued_at  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked    INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1)),
    extra      BLOB
) STRICT;

CREATE INDEX tokens_client_id ON tokens (client_id);
CREATE INDEX tokens_expires_at ON tokens (expires_at);

CREATE TABLE revoked_jtis (
    jti        TEXT    NOT NULL PRIMARY KEY,
    expires_at INTEGER NOT NULL
) STRICT;

CREATE INDEX revoked_jtis_expires_at ON revoked_jtis (expires_at);

CREATE TABLE used_jtis (
    client_id  TEXT    NOT NULL,
    jti        TEXT    NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (client_id, jti)
) STRICT;

CREATE INDEX used_jtis_expires_at ON used_jtis (expires_at);

-- One row, created here so that every update locks an existing row.
-- data is NULL (and version 0) until the first key ring is stored.
CREATE TABLE key_ring (
    id      INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    data    BLOB,
    version INTEGER NOT NULL
) STRICT;

INSERT INTO key_ring (id, data, version) VALUES (1, NULL, 0);

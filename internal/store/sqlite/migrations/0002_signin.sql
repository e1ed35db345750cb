-- writ schema, version 2: users, browser sessions, authorization codes,
-- refresh token families and consents.
--
-- Conventions as in version 1. Bearer values (session cookies, codes,
-- refresh tokens) are stored as their SHA-256 in BLOB keys. Instants that
-- are unset until something happens (used_at, rotated_at) are NULL until
-- then. Everything a user or a client owns goes with it: ON DELETE CASCADE.

CREATE TABLE users (
    id                    TEXT    NOT NULL PRIMARY KEY,
    username              TEXT    NOT NULL,
    -- lower(username) as computed by Go's strings.ToLower (store.UsernameKey):
    -- SQLite's lower() folds ASCII only.
    username_key          TEXT    NOT NULL UNIQUE,
    password_hash         TEXT    NOT NULL,
    disabled              INTEGER NOT NULL CHECK (disabled IN (0, 1)),
    name                  TEXT    NOT NULL,
    given_name            TEXT    NOT NULL,
    family_name           TEXT    NOT NULL,
    middle_name           TEXT    NOT NULL,
    nickname              TEXT    NOT NULL,
    preferred_username    TEXT    NOT NULL,
    profile               TEXT    NOT NULL,
    picture               TEXT    NOT NULL,
    website               TEXT    NOT NULL,
    email                 TEXT    NOT NULL,
    email_verified        INTEGER NOT NULL CHECK (email_verified IN (0, 1)),
    gender                TEXT    NOT NULL,
    birthdate             TEXT    NOT NULL,
    zoneinfo              TEXT    NOT NULL,
    locale                TEXT    NOT NULL,
    phone_number          TEXT    NOT NULL,
    phone_number_verified INTEGER NOT NULL CHECK (phone_number_verified IN (0, 1)),
    address_formatted     TEXT    NOT NULL,
    address_street        TEXT    NOT NULL,
    address_locality      TEXT    NOT NULL,
    address_region        TEXT    NOT NULL,
    address_postal_code   TEXT    NOT NULL,
    address_country       TEXT    NOT NULL,
    -- A JSON object from attribute name to the attribute's JSON text, kept
    -- as a string so that it comes back byte for byte.
    attributes            TEXT    NOT NULL CHECK (json_valid(attributes)),
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL,
    password_changed_at   INTEGER NOT NULL
) STRICT;

CREATE TABLE sessions (
    hash         BLOB    NOT NULL PRIMARY KEY,
    id           TEXT    NOT NULL UNIQUE,
    user_id      TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    auth_time    INTEGER NOT NULL,
    amr          TEXT    NOT NULL CHECK (json_valid(amr)),
    acr          TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
) STRICT;

CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE auth_codes (
    hash                  BLOB    NOT NULL PRIMARY KEY,
    client_id             TEXT    NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id               TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_id            TEXT    NOT NULL,
    redirect_uri          TEXT    NOT NULL,
    scopes                TEXT    NOT NULL CHECK (json_valid(scopes)),
    audience              TEXT    NOT NULL CHECK (json_valid(audience)),
    nonce                 TEXT    NOT NULL,
    code_challenge        TEXT    NOT NULL,
    code_challenge_method TEXT    NOT NULL,
    auth_time             INTEGER NOT NULL,
    amr                   TEXT    NOT NULL CHECK (json_valid(amr)),
    acr                   TEXT    NOT NULL,
    claims                BLOB,
    created_at            INTEGER NOT NULL,
    expires_at            INTEGER NOT NULL,
    used_at               INTEGER,
    issued_family_id      TEXT    NOT NULL DEFAULT '',
    issued_access_jti     TEXT    NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX auth_codes_client_id ON auth_codes (client_id);
CREATE INDEX auth_codes_user_id ON auth_codes (user_id);
CREATE INDEX auth_codes_expires_at ON auth_codes (expires_at);

-- A family's client, user, absolute expiry and revocation. Every change to
-- a family's tokens takes the family row first, so a revocation cannot miss
-- a token added concurrently.
CREATE TABLE refresh_families (
    id         TEXT    NOT NULL PRIMARY KEY,
    client_id  TEXT    NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at INTEGER NOT NULL,
    revoked    INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1))
) STRICT;

CREATE INDEX refresh_families_client_user ON refresh_families (client_id, user_id);
CREATE INDEX refresh_families_user_id ON refresh_families (user_id);
CREATE INDEX refresh_families_expires_at ON refresh_families (expires_at);

CREATE TABLE refresh_tokens (
    hash       BLOB    NOT NULL PRIMARY KEY,
    family_id  TEXT    NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
    session_id TEXT    NOT NULL,
    scopes     TEXT    NOT NULL CHECK (json_valid(scopes)),
    audience   TEXT    NOT NULL CHECK (json_valid(audience)),
    auth_time  INTEGER NOT NULL,
    amr        TEXT    NOT NULL CHECK (json_valid(amr)),
    acr        TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    rotated_at INTEGER
) STRICT;

CREATE INDEX refresh_tokens_family_id ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);

CREATE TABLE consents (
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT    NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scopes     TEXT    NOT NULL CHECK (json_valid(scopes)),
    granted_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, client_id)
) STRICT;

CREATE INDEX consents_client_id ON consents (client_id);

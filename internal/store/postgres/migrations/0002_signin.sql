-- writ schema, version 2: users, browser sessions, authorization codes,
-- refresh token families and consents.
--
-- Conventions as in version 1. Bearer values (session cookies, codes,
-- refresh tokens) are stored as their SHA-256 in bytea keys. Instants that
-- are unset until something happens (used_at, rotated_at) are NULL until
-- then. Everything a user or a client owns goes with it: ON DELETE CASCADE.

CREATE TABLE users (
    id                    text COLLATE "C" PRIMARY KEY,
    username              text        NOT NULL,
    -- Go's strings.ToLower(username) (store.UsernameKey), not SQL lower(),
    -- whose folding depends on the database's locale.
    username_key          text COLLATE "C" NOT NULL UNIQUE,
    password_hash         text        NOT NULL,
    disabled              boolean     NOT NULL,
    name                  text        NOT NULL,
    given_name            text        NOT NULL,
    family_name           text        NOT NULL,
    middle_name           text        NOT NULL,
    nickname              text        NOT NULL,
    preferred_username    text        NOT NULL,
    profile               text        NOT NULL,
    picture               text        NOT NULL,
    website               text        NOT NULL,
    email                 text        NOT NULL,
    email_verified        boolean     NOT NULL,
    gender                text        NOT NULL,
    birthdate             text        NOT NULL,
    zoneinfo              text        NOT NULL,
    locale                text        NOT NULL,
    phone_number          text        NOT NULL,
    phone_number_verified boolean     NOT NULL,
    address_formatted     text        NOT NULL,
    address_street        text        NOT NULL,
    address_locality      text        NOT NULL,
    address_region        text        NOT NULL,
    address_postal_code   text        NOT NULL,
    address_country       text        NOT NULL,
    -- A JSON object from attribute name to the attribute's JSON text, kept
    -- as a string so that it comes back byte for byte.
    attributes            jsonb       NOT NULL,
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL,
    password_changed_at   timestamptz NOT NULL
);

CREATE TABLE sessions (
    hash         bytea PRIMARY KEY,
    id           text COLLATE "C" NOT NULL UNIQUE,
    user_id      text COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    auth_time    timestamptz      NOT NULL,
    amr          text[]           NOT NULL,
    acr          text             NOT NULL,
    created_at   timestamptz      NOT NULL,
    last_seen_at timestamptz      NOT NULL,
    expires_at   timestamptz      NOT NULL
);

CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE auth_codes (
    hash                  bytea PRIMARY KEY,
    client_id             text COLLATE "C" NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id               text COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_id            text COLLATE "C" NOT NULL,
    redirect_uri          text             NOT NULL,
    scopes                text[]           NOT NULL,
    audience              text[]           NOT NULL,
    nonce                 text             NOT NULL,
    code_challenge        text             NOT NULL,
    code_challenge_method text             NOT NULL,
    auth_time             timestamptz      NOT NULL,
    amr                   text[]           NOT NULL,
    acr                   text             NOT NULL,
    claims                bytea,
    created_at            timestamptz      NOT NULL,
    expires_at            timestamptz      NOT NULL,
    used_at               timestamptz,
    issued_family_id      text COLLATE "C" NOT NULL DEFAULT '',
    issued_access_jti     text COLLATE "C" NOT NULL DEFAULT ''
);

CREATE INDEX auth_codes_client_id ON auth_codes (client_id);
CREATE INDEX auth_codes_user_id ON auth_codes (user_id);
CREATE INDEX auth_codes_expires_at ON auth_codes (expires_at);

-- A family's client, user, absolute expiry and revocation. Every change to
-- a family's tokens locks the family row first (FOR UPDATE), so a
-- revocation cannot miss a token added concurrently.
CREATE TABLE refresh_families (
    id         text COLLATE "C" PRIMARY KEY,
    client_id  text COLLATE "C" NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id    text COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at timestamptz      NOT NULL,
    revoked    boolean          NOT NULL DEFAULT false
);

CREATE INDEX refresh_families_client_user ON refresh_families (client_id, user_id);
CREATE INDEX refresh_families_user_id ON refresh_families (user_id);
CREATE INDEX refresh_families_expires_at ON refresh_families (expires_at);

CREATE TABLE refresh_tokens (
    hash       bytea PRIMARY KEY,
    family_id  text COLLATE "C" NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
    session_id text COLLATE "C" NOT NULL,
    scopes     text[]           NOT NULL,
    audience   text[]           NOT NULL,
    auth_time  timestamptz      NOT NULL,
    amr        text[]           NOT NULL,
    acr        text             NOT NULL,
    created_at timestamptz      NOT NULL,
    expires_at timestamptz      NOT NULL,
    rotated_at timestamptz
);

CREATE INDEX refresh_tokens_family_id ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);

CREATE TABLE consents (
    user_id    text COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  text COLLATE "C" NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scopes     text[]           NOT NULL,
    granted_at timestamptz      NOT NULL,
    updated_at timestamptz      NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

CREATE INDEX consents_client_id ON consents (client_id);

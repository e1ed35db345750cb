-- writ schema, version 8: device authorizations (RFC 8628). The device
-- code is stored as its SHA-256; the user code, short-lived and typed by
-- the user, in its normalised form. user_id is NULL until the user
-- decides.

CREATE TABLE device_codes (
    hash           bytea PRIMARY KEY,
    user_code      text COLLATE "C" NOT NULL UNIQUE,
    client_id      text COLLATE "C" NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scopes         text[]           NOT NULL,
    audience       text[]           NOT NULL,
    created_at     timestamptz      NOT NULL,
    expires_at     timestamptz      NOT NULL,
    interval_us    bigint           NOT NULL CHECK (interval_us > 0),
    last_polled_at timestamptz,
    status         text             NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'redeemed')),
    user_id        text COLLATE "C" REFERENCES users (id) ON DELETE CASCADE,
    session_id     text COLLATE "C" NOT NULL,
    auth_time      timestamptz,
    amr            text[]           NOT NULL,
    acr            text             NOT NULL,
    decided_at     timestamptz,
    redeemed_at    timestamptz
);

CREATE INDEX device_codes_client_id ON device_codes (client_id);
CREATE INDEX device_codes_user_id ON device_codes (user_id);
CREATE INDEX device_codes_expires_at ON device_codes (expires_at);

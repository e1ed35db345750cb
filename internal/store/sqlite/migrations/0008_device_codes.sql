-- writ schema, version 8: device authorizations (RFC 8628). The device
-- code is stored as its SHA-256; the user code, short-lived and typed by
-- the user, in its normalised form. user_id is NULL until the user
-- decides. Times in microseconds since the epoch, as elsewhere.

CREATE TABLE device_codes (
    hash           BLOB    NOT NULL PRIMARY KEY,
    user_code      TEXT    NOT NULL UNIQUE,
    client_id      TEXT    NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scopes         TEXT    NOT NULL CHECK (json_valid(scopes)),
    audience       TEXT    NOT NULL CHECK (json_valid(audience)),
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    interval_us    INTEGER NOT NULL CHECK (interval_us > 0),
    last_polled_at INTEGER,
    status         TEXT    NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'redeemed')),
    user_id        TEXT    REFERENCES users (id) ON DELETE CASCADE,
    session_id     TEXT    NOT NULL,
    auth_time      INTEGER,
    amr            TEXT    NOT NULL CHECK (json_valid(amr)),
    acr            TEXT    NOT NULL,
    decided_at     INTEGER,
    redeemed_at    INTEGER
) STRICT;

CREATE INDEX device_codes_client_id ON device_codes (client_id);
CREATE INDEX device_codes_user_id ON device_codes (user_id);
CREATE INDEX device_codes_expires_at ON device_codes (expires_at);

-- writ schema, version 3: what a grant issued, committed with it.
--
-- A redeemed code records its opaque access token by hash next to the jti
-- of a JWT one, and until when a revocation of it must be remembered. A
-- refresh token family records every access token issued under it, so that
-- revoking the family revokes them too (RFC 7009 §2.1).

ALTER TABLE auth_codes ADD COLUMN issued_access_hash BLOB;
ALTER TABLE auth_codes ADD COLUMN issued_access_expires_at INTEGER;

CREATE TABLE refresh_family_access (
    family_id  TEXT    NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
    -- The jti of a JWT access token, or '' for an opaque one.
    jti        TEXT    NOT NULL,
    -- The SHA-256 of an opaque access token, or NULL for a JWT.
    token_hash BLOB,
    -- Until when a revocation must be remembered (exp plus leeway).
    expires_at INTEGER NOT NULL,
    CHECK ((jti = '') <> (token_hash IS NULL))
) STRICT;

CREATE INDEX refresh_family_access_family_id ON refresh_family_access (family_id);
CREATE INDEX refresh_family_access_expires_at ON refresh_family_access (expires_at);

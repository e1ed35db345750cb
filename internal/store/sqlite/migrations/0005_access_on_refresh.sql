-- writ schema, version 5: the access token issued with a refresh token is
-- recorded on the refresh token's row, not in a table of its own.
--
-- A family's access tokens are those of its tokens' rows: one insert per
-- redemption or rotation instead of two, and no index of its own to write.
-- (Access tokens recorded by version 3 are dropped: that version was never
-- released.)

ALTER TABLE refresh_tokens ADD COLUMN access_jti TEXT NOT NULL DEFAULT '';
ALTER TABLE refresh_tokens ADD COLUMN access_hash BLOB;
ALTER TABLE refresh_tokens ADD COLUMN access_expires_at INTEGER;

DROP TABLE refresh_family_access;

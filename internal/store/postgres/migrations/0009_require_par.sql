-- writ schema, version 9: clients that must push their authorization
-- requests first (RFC 9126 §6, require_pushed_authorization_requests).

ALTER TABLE clients ADD COLUMN require_pushed_authorization_requests boolean NOT NULL DEFAULT false;

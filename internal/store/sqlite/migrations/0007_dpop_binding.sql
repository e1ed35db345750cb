-- writ schema, version 7: DPoP bindings made before the token request
-- (RFC 9449).
--
-- Conventions as in version 1. dpop_jkt is the thumbprint of the DPoP key
-- an authorization code is bound to (the authorization request's
-- dpop_jkt, §10), empty when it is not bound. dpop_bound_access_tokens is
-- the client metadata of §5.2: the client's token requests must all carry
-- a DPoP proof.

ALTER TABLE auth_codes ADD COLUMN dpop_jkt TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN dpop_bound_access_tokens INTEGER NOT NULL DEFAULT 0
    CHECK (dpop_bound_access_tokens IN (0, 1));

-- writ schema, version 4: the algorithm a client's ID tokens are signed
-- with (OpenID Connect Dynamic Client Registration §2,
-- id_token_signed_response_alg). Empty means the default, RS256.

ALTER TABLE clients ADD COLUMN id_token_signed_response_alg text NOT NULL DEFAULT '';

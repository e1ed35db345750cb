-- writ schema, version 10: mutual-TLS client authentication and
-- certificate-bound tokens (RFC 8705), encrypted ID tokens and UserInfo,
-- signed UserInfo (OIDC Registration §2), and a client's security profile
-- (FAPI 2.0).

ALTER TABLE clients ADD COLUMN tls_client_auth TEXT;
ALTER TABLE clients ADD COLUMN tls_client_certificate_bound_access_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN id_token_encrypted_response_alg TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN id_token_encrypted_response_enc TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN userinfo_signed_response_alg TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN userinfo_encrypted_response_alg TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN userinfo_encrypted_response_enc TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN profile TEXT NOT NULL DEFAULT '';

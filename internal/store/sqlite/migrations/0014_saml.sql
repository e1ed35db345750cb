-- writ schema, version 14: SAML 2.0 service providers (writ as the IdP).
-- config is the JSON form of store/internal/recjson (endpoints,
-- certificates, NameID format, attribute release and flags); metadata is
-- the SP's metadata document as registered.

CREATE TABLE saml_service_providers (
    entity_id  TEXT    NOT NULL PRIMARY KEY,
    name       TEXT    NOT NULL,
    config     TEXT    NOT NULL CHECK (json_valid(config)),
    metadata   BLOB,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

-- writ schema, version 14: SAML 2.0 service providers (writ as the IdP).
-- config is the JSON form of store/internal/recjson (endpoints,
-- certificates, NameID format, attribute release and flags); metadata is
-- the SP's metadata document as registered.

CREATE TABLE saml_service_providers (
    entity_id  text COLLATE "C" PRIMARY KEY,
    name       text        NOT NULL,
    config     jsonb       NOT NULL,
    metadata   bytea,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

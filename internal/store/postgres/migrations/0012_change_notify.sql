-- writ schema, version 12: change notifications for several nodes on one
-- database (internal/cluster). A change to a row that nodes cache sends
-- NOTIFY writ_changes with "<table>:<key>" from a trigger, that is inside
-- the transaction that makes the change: PostgreSQL delivers it when, and
-- only when, that transaction commits, whichever code path (or a person
-- with psql) made it. A key longer than 1000 bytes is sent empty ("any row
-- of the table"), far below NOTIFY's 8000-byte payload limit.

CREATE FUNCTION writ_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    k text := '';
BEGIN
    IF TG_NARGS > 0 THEN
        IF TG_OP = 'DELETE' THEN
            k := coalesce(to_jsonb(OLD) ->> TG_ARGV[0], '');
        ELSE
            k := coalesce(to_jsonb(NEW) ->> TG_ARGV[0], '');
        END IF;
    END IF;
    IF octet_length(k) > 1000 THEN
        k := '';
    END IF;
    PERFORM pg_notify('writ_changes', TG_TABLE_NAME || ':' || k);
    RETURN NULL;
END
$$;

CREATE TRIGGER clients_notify AFTER INSERT OR UPDATE OR DELETE ON clients
    FOR EACH ROW EXECUTE FUNCTION writ_notify_change('id');
CREATE TRIGGER trusted_issuers_notify AFTER INSERT OR UPDATE OR DELETE ON trusted_issuers
    FOR EACH ROW EXECUTE FUNCTION writ_notify_change('issuer');
CREATE TRIGGER key_ring_notify AFTER INSERT OR UPDATE OR DELETE ON key_ring
    FOR EACH ROW EXECUTE FUNCTION writ_notify_change();

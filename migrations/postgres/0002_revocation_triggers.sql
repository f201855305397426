-- Revocation notices (SPEC §4): every change to a session or user row that
-- could make a cached copy wrong is announced on the channel
-- auth_gate_revocation, so that every auth_gate instance drops its cached
-- copy at once, whoever made the change (our API, another instance, a Better
-- Auth server on the same database, or plain SQL).
--
-- Payloads are compact and never carry a token: "s:<session id>",
-- "u:<user id>", or "*" after a TRUNCATE (drop everything). NOTIFY is
-- delivered at commit, so a rolled-back change announces nothing.
--
-- Triggers are the only thing auth_gate adds to Better Auth's tables (SPEC
-- §5). The functions read rows through to_jsonb() and use only the "id"
-- column by name, which the camelCase and the Drizzle snake_case layouts
-- share, so the same triggers serve both; comparing jsonb rather than the
-- rows themselves also works when a plugin added a column whose type has no
-- equality operator (json). Everything here is idempotent.

-- +migrate Up
-- +migrate StatementBegin
CREATE OR REPLACE FUNCTION auth_gate_session_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    old_row jsonb;
    new_row jsonb;
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify('auth_gate_revocation', '*');
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        old_row := to_jsonb(OLD);
        new_row := to_jsonb(NEW);
        -- The sliding refresh only moves the expiry later (and updatedAt):
        -- a cached copy then lapses no later than the row, so the caches
        -- may keep it. Any other change, or a shortened expiry, is a
        -- revocation as far as a cache is concerned.
        IF old_row - 'expiresAt' - 'expires_at' - 'updatedAt' - 'updated_at'
               = new_row - 'expiresAt' - 'expires_at' - 'updatedAt' - 'updated_at'
           AND coalesce(new_row ->> 'expiresAt', new_row ->> 'expires_at')::timestamptz
               >= coalesce(old_row ->> 'expiresAt', old_row ->> 'expires_at')::timestamptz THEN
            RETURN NULL;
        END IF;
    END IF;
    PERFORM pg_notify('auth_gate_revocation', 's:' || OLD.id);
    RETURN NULL;
END
$$;
-- +migrate StatementEnd

-- +migrate StatementBegin
CREATE OR REPLACE FUNCTION auth_gate_user_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify('auth_gate_revocation', '*');
        RETURN NULL;
    END IF;
    -- Any change counts: the cache serves the whole user (identity headers
    -- and get-session), and plugins may add columns that matter too.
    IF TG_OP = 'UPDATE' AND to_jsonb(OLD) = to_jsonb(NEW) THEN
        RETURN NULL;
    END IF;
    PERFORM pg_notify('auth_gate_revocation', 'u:' || OLD.id);
    RETURN NULL;
END
$$;
-- +migrate StatementEnd

DROP TRIGGER IF EXISTS auth_gate_session_notify ON "session";
CREATE TRIGGER auth_gate_session_notify AFTER UPDATE OR DELETE ON "session"
    FOR EACH ROW EXECUTE FUNCTION auth_gate_session_notify();
DROP TRIGGER IF EXISTS auth_gate_session_truncate_notify ON "session";
CREATE TRIGGER auth_gate_session_truncate_notify AFTER TRUNCATE ON "session"
    FOR EACH STATEMENT EXECUTE FUNCTION auth_gate_session_notify();

DROP TRIGGER IF EXISTS auth_gate_user_notify ON "user";
CREATE TRIGGER auth_gate_user_notify AFTER UPDATE OR DELETE ON "user"
    FOR EACH ROW EXECUTE FUNCTION auth_gate_user_notify();
DROP TRIGGER IF EXISTS auth_gate_user_truncate_notify ON "user";
CREATE TRIGGER auth_gate_user_truncate_notify AFTER TRUNCATE ON "user"
    FOR EACH STATEMENT EXECUTE FUNCTION auth_gate_user_notify();

-- +migrate Down
DROP TRIGGER IF EXISTS auth_gate_user_truncate_notify ON "user";
DROP TRIGGER IF EXISTS auth_gate_user_notify ON "user";
DROP TRIGGER IF EXISTS auth_gate_session_truncate_notify ON "session";
DROP TRIGGER IF EXISTS auth_gate_session_notify ON "session";
DROP FUNCTION IF EXISTS auth_gate_user_notify();
DROP FUNCTION IF EXISTS auth_gate_session_notify();

-- auth_gate's own objects move out of Better Auth's schema into a schema of
-- their own, auth_gate (SPEC §5): drizzle-kit push plans a DROP TABLE for
-- every table in public that the team's Drizzle schema does not declare,
-- and would take the rate limits (and the bookkeeping) with it. Drizzle and
-- Better Auth's migrate look at public (or the search path) only.
--
-- Moved here: the rate-limit table (0003) and the trigger functions (0002).
-- The triggers stay on Better Auth's tables and follow the functions, which
-- they reference by oid. The bookkeeping table is moved by auth_gate before
-- any migration runs (sql-migrate CLI users: see migrations.go).
--
-- The objects were created in current_schema(), so that is where they are
-- looked for. The schema is created only when missing: CREATE SCHEMA IF NOT
-- EXISTS needs CREATE on the database even when the schema exists.

-- +migrate Up
-- +migrate StatementBegin
DO $$
DECLARE
    home text := current_schema();
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'auth_gate') THEN
        CREATE SCHEMA auth_gate;
    END IF;
    IF home IS NULL OR home = 'auth_gate' THEN
        RETURN;
    END IF;
    IF to_regclass(format('%I.auth_gate_rate_limit', home)) IS NOT NULL THEN
        EXECUTE format('ALTER TABLE %I.auth_gate_rate_limit SET SCHEMA auth_gate', home);
    END IF;
    IF to_regprocedure(format('%I.auth_gate_session_notify()', home)) IS NOT NULL THEN
        EXECUTE format('ALTER FUNCTION %I.auth_gate_session_notify() SET SCHEMA auth_gate', home);
    END IF;
    IF to_regprocedure(format('%I.auth_gate_user_notify()', home)) IS NOT NULL THEN
        EXECUTE format('ALTER FUNCTION %I.auth_gate_user_notify() SET SCHEMA auth_gate', home);
    END IF;
END
$$;
-- +migrate StatementEnd

-- +migrate Down
-- Back to the current schema, where the Down halves of 0003 and 0002 look.
-- The schema stays: it holds the bookkeeping.
-- +migrate StatementBegin
DO $$
DECLARE
    home text := current_schema();
BEGIN
    IF home IS NULL OR home = 'auth_gate' THEN
        RETURN;
    END IF;
    IF to_regclass('auth_gate.auth_gate_rate_limit') IS NOT NULL THEN
        EXECUTE format('ALTER TABLE auth_gate.auth_gate_rate_limit SET SCHEMA %I', home);
    END IF;
    IF to_regprocedure('auth_gate.auth_gate_session_notify()') IS NOT NULL THEN
        EXECUTE format('ALTER FUNCTION auth_gate.auth_gate_session_notify() SET SCHEMA %I', home);
    END IF;
    IF to_regprocedure('auth_gate.auth_gate_user_notify()') IS NOT NULL THEN
        EXECUTE format('ALTER FUNCTION auth_gate.auth_gate_user_notify() SET SCHEMA %I', home);
    END IF;
END
$$;
-- +migrate StatementEnd

package store

import (
	"context"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	migrate "github.com/rubenv/sql-migrate"

	"github.com/authgate/authgate/internal/testsupport"
	"github.com/authgate/authgate/migrations"
)

// wantOwnObjects are auth_gate's own tables and functions on PostgreSQL, all
// in its own schema: tools that manage the public schema (drizzle-kit push,
// Better Auth's migrate) must not find them there and plan to drop them.
var wantOwnObjects = []string{
	"auth_gate.auth_gate_migrations",
	"auth_gate.auth_gate_rate_limit",
	"auth_gate.auth_gate_session_notify()",
	"auth_gate.auth_gate_user_notify()",
}

// wantTriggers stay on Better Auth's tables, calling the moved functions.
var wantTriggers = []string{
	"session auth_gate_session_notify auth_gate.auth_gate_session_notify",
	"session auth_gate_session_truncate_notify auth_gate.auth_gate_session_notify",
	"user auth_gate_user_notify auth_gate.auth_gate_user_notify",
	"user auth_gate_user_truncate_notify auth_gate.auth_gate_user_notify",
}

// ownObjects lists every table and function named auth_gate_* in the
// database, whatever its schema, as "schema.name" ("schema.name()" for
// functions), sorted.
func ownObjects(t *testing.T, st *Store) []string {
	t.Helper()
	var names []string
	err := st.db.SelectContext(testCtx(t), &names, `
		SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind = 'r' AND c.relname LIKE 'auth\_gate\_%'
		UNION ALL
		SELECT n.nspname || '.' || p.proname || '()' FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
		WHERE p.proname LIKE 'auth\_gate\_%'
		ORDER BY 1`)
	if err != nil {
		t.Fatalf("list own objects: %v", err)
	}
	return names
}

func triggers(t *testing.T, st *Store) []string {
	t.Helper()
	var names []string
	err := st.db.SelectContext(testCtx(t), &names, `
		SELECT c.relname || ' ' || g.tgname || ' ' || g.tgfoid::regproc::text
		FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid
		WHERE NOT g.tgisinternal ORDER BY 1`)
	if err != nil {
		t.Fatalf("list triggers: %v", err)
	}
	return names
}

func checkOwnSchema(t *testing.T, st *Store) {
	t.Helper()
	if got := ownObjects(t, st); !reflect.DeepEqual(got, wantOwnObjects) {
		t.Errorf("own objects = %v, want %v", got, wantOwnObjects)
	}
	if got := triggers(t, st); !reflect.DeepEqual(got, wantTriggers) {
		t.Errorf("triggers = %v, want %v", got, wantTriggers)
	}
	if got := tableNames(t, st); !reflect.DeepEqual(got, coreTables) {
		t.Errorf("tables in the current schema = %v, want only %v", got, coreTables)
	}
	if got := bookkeeping(t, st); !reflect.DeepEqual(got, wantBookkeeping) {
		t.Errorf("bookkeeping = %v, want %v", got, wantBookkeeping)
	}
}

func TestMigrate_PostgresKeepsOwnObjectsInTheirOwnSchema(t *testing.T) {
	st := migratedStore(t, testsupport.PostgresDSN(t))
	checkOwnSchema(t, st)
	if ok, _, err := st.HitRateLimit(testCtx(t), "k", time.Minute, 1, testNow); err != nil || !ok {
		t.Errorf("HitRateLimit = %v, %v; want allowed", ok, err)
	}
}

// olderInstall applies the first three migrations the way auth_gate did
// before it had a schema of its own: bookkeeping, rate limits and trigger
// functions all in the current schema.
func olderInstall(t *testing.T, st *Store) {
	t.Helper()
	src, err := migrations.Source("postgres")
	if err != nil {
		t.Fatal(err)
	}
	old := migrate.MigrationSet{TableName: migrations.Table}
	if n, err := old.ExecMax(st.db.DB, "postgres", src, migrate.Up, 3); err != nil || n != 3 {
		t.Fatalf("older install: applied %d, %v", n, err)
	}
	execAll(t, st, `INSERT INTO public.auth_gate_rate_limit ("key", "count", "last_request") VALUES ('kept', 7, 1)`)
}

func TestMigrate_PostgresMovesAnOlderInstallIntoItsOwnSchemaUnderConcurrentStarts(t *testing.T) {
	dsn := testsupport.PostgresDSN(t)
	st := openStore(t, dsn, Options{})
	olderInstall(t, st)

	const n = 4
	stores := make([]*Store, n)
	for i := range stores {
		stores[i] = openStore(t, dsn, Options{})
	}
	start := make(chan struct{})
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, s := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = s.Migrate(context.Background())
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("store %d: Migrate: %v", i, err)
		}
	}
	checkOwnSchema(t, st)
	if got := count(t, st, `SELECT "count" FROM auth_gate.auth_gate_rate_limit WHERE "key" = 'kept'`); got != 7 {
		t.Errorf("moved rate-limit row count = %d, want 7", got)
	}
}

func TestMigrate_PostgresRefusesBookkeepingInTwoPlaces(t *testing.T) {
	// Two bookkeeping tables mean an older auth_gate migrated again after
	// the move, or two installs in one database with different search
	// paths; picking either could skip a migration, so the start stops.
	st := migratedStore(t, testsupport.PostgresDSN(t))
	execAll(t, st, `CREATE TABLE public.auth_gate_migrations (id text NOT NULL PRIMARY KEY, applied_at timestamptz)`)
	err := st.Migrate(testCtx(t))
	if err == nil || !strings.Contains(err.Error(), "public.auth_gate_migrations") || !strings.Contains(err.Error(), "auth_gate.auth_gate_migrations") {
		t.Fatalf("Migrate = %v, want an error naming both bookkeeping tables", err)
	}
}

func TestMigrate_PostgresUsesAnOwnSchemaCreatedBeforehand(t *testing.T) {
	// A role that may not create schemas (no CREATE on the database) still
	// starts when an administrator created the schema for it.
	dsn := testsupport.PostgresDirectDSN(t)
	admin := openStore(t, dsn, Options{})
	// Roles are cluster-wide: a unique name, dropped when the test ends.
	role := "authgate_app_" + strings.ToLower(RandomString(12))
	execAll(t, admin,
		`CREATE ROLE `+role+` LOGIN`,
		`REVOKE CREATE ON DATABASE `+databaseOf(t, dsn)+` FROM PUBLIC`,
		`GRANT CREATE ON SCHEMA public TO `+role,
		`CREATE SCHEMA auth_gate AUTHORIZATION `+role,
	)
	t.Cleanup(func() {
		_, _ = admin.db.ExecContext(context.Background(), `DROP OWNED BY `+role)
		_ = admin.Close()
		db := testsupport.OpenDB(t, testsupport.PostgresAdminDSN(t))
		if _, err := db.Exec(`DROP ROLE IF EXISTS ` + role); err != nil {
			t.Errorf("drop role: %v", err)
		}
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(role)
	st := migratedStore(t, u.String())
	checkOwnSchema(t, st)
}

func databaseOf(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return `"` + strings.TrimPrefix(u.Path, "/") + `"`
}

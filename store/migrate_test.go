package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	migrate "github.com/rubenv/sql-migrate"

	"github.com/authgate/authgate/internal/testsupport"
	"github.com/authgate/authgate/migrations"
)

// coreTables are Better Auth's tables this store creates.
var coreTables = []string{"account", "session", "user", "verification"}

// migratedTables is what a migrated database holds, sorted, beside
// Better Auth's tables: on SQLite our own tables too; on PostgreSQL nothing
// else, since ours live in their own schema, out of Drizzle's sight.
func migratedTables(st *Store) []string {
	if st.Driver() == "sqlite" {
		return []string{"account", migrations.Table, "auth_gate_rate_limit", "session", "user", "verification"}
	}
	return coreTables
}

// tableNames lists the tables of the database (PostgreSQL: of the current
// schema), sorted.
func tableNames(t *testing.T, st *Store) []string {
	t.Helper()
	q := `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY 1`
	if st.Driver() == "sqlite" {
		q = `SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY 1`
	}
	var names []string
	if err := st.db.SelectContext(testCtx(t), &names, q); err != nil {
		t.Fatalf("list tables: %v", err)
	}
	return names
}

// bookkeeping returns the ids recorded in auth_gate_migrations.
func bookkeeping(t *testing.T, st *Store) []string {
	t.Helper()
	var ids []string
	q := `SELECT id FROM auth_gate_migrations ORDER BY id`
	if st.Driver() == "postgres" {
		q = `SELECT id FROM auth_gate.auth_gate_migrations ORDER BY id`
	}
	if err := st.db.SelectContext(testCtx(t), &ids, q); err != nil {
		t.Fatalf("read bookkeeping: %v", err)
	}
	return ids
}

var wantBookkeeping = []string{"0001_better_auth_core.sql", "0002_revocation_triggers.sql", "0003_rate_limit.sql", "0004_own_schema.sql"}

func TestMigrate_CreatesBetterAuthTablesOnEmptyDatabase(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		st := migratedStore(t, dsn)
		if got := tableNames(t, st); !reflect.DeepEqual(got, migratedTables(st)) {
			t.Errorf("tables = %v, want %v", got, migratedTables(st))
		}
		if got := bookkeeping(t, st); !reflect.DeepEqual(got, wantBookkeeping) {
			t.Errorf("bookkeeping = %v, want %v", got, wantBookkeeping)
		}
		if l := st.q.Load().layout; l != layoutCamel {
			t.Errorf("layout = %q, want camel", l)
		}
	})
}

func TestMigrate_SecondRunIsANoOp(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		st := openStore(t, dsn, Options{})
		for i, want := range []int{len(wantBookkeeping), 0} {
			n, err := st.migrate(testCtx(t))
			if err != nil {
				t.Fatalf("run %d: %v", i+1, err)
			}
			if n != want {
				t.Errorf("run %d applied %d migrations, want %d", i+1, n, want)
			}
		}
		if err := st.Migrate(testCtx(t)); err != nil {
			t.Fatalf("Migrate after migrate: %v", err)
		}
		if got := bookkeeping(t, st); !reflect.DeepEqual(got, wantBookkeeping) {
			t.Errorf("bookkeeping = %v, want %v", got, wantBookkeeping)
		}
	})
}

func TestMigrate_ConcurrentStoresOnOneDatabaseAllSucceed(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		const n = 4
		stores := make([]*Store, n)
		for i := range stores {
			stores[i] = openStore(t, dsn, Options{})
		}
		start := make(chan struct{})
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i, st := range stores {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				errs[i] = st.Migrate(context.Background())
			}()
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("store %d: Migrate: %v", i, err)
			}
		}
		if got := tableNames(t, stores[0]); !reflect.DeepEqual(got, migratedTables(stores[0])) {
			t.Errorf("tables = %v, want %v", got, migratedTables(stores[0]))
		}
		if got := bookkeeping(t, stores[0]); !reflect.DeepEqual(got, wantBookkeeping) {
			t.Errorf("bookkeeping = %v, want %v", got, wantBookkeeping)
		}
	})
}

func TestMigrate_DownThenUpAgain(t *testing.T) {
	// The Down half is only for operators with the sql-migrate CLI; it must
	// still be valid SQL.
	testsupport.Both(t, func(t *testing.T, dsn string) {
		st := migratedStore(t, dsn)
		src, err := migrations.Source(st.Driver())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := migrations.Set(st.Driver()).Exec(st.db.DB, st.dialect.migrateDialect, src, migrate.Down); err != nil {
			t.Fatalf("down: %v", err)
		}
		// Only the bookkeeping is left, in the current schema on SQLite and
		// in our own on PostgreSQL.
		wantLeft := []string{migrations.Table}
		if st.Driver() == "postgres" {
			wantLeft = nil
		}
		if got := tableNames(t, st); !reflect.DeepEqual(got, wantLeft) {
			t.Errorf("tables after down = %v, want %v", got, wantLeft)
		}
		if err := st.Migrate(testCtx(t)); err != nil {
			t.Fatalf("up again: %v", err)
		}
		if got := tableNames(t, st); !reflect.DeepEqual(got, migratedTables(st)) {
			t.Errorf("tables after up = %v, want %v", got, migratedTables(st))
		}
	})
}

func TestMigrate_SQLiteCreatesDirectoryAndOwnerOnlyFileWithPragmas(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nested", "dir", "auth.db")
	st := openStore(t, "sqlite://"+path, Options{})
	if _, err := os.Stat(filepath.Dir(path)); !os.IsNotExist(err) {
		t.Fatalf("Open created the directory (err %v); only Migrate may", err)
	}
	if err := st.Migrate(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("database file mode = %o, want 600", mode)
	}
	// A wrong column name fails instead of being read as a string (_dqs=0).
	if _, err := st.db.ExecContext(testCtx(t), `SELECT "noSuchColumn" FROM "user"`); err == nil {
		t.Error(`"noSuchColumn" was accepted as a string literal`)
	}
	pragmas := map[string]string{"journal_mode": "wal", "foreign_keys": "1", "busy_timeout": "5000"}
	for name, want := range pragmas {
		var got string
		if err := st.db.QueryRowContext(testCtx(t), "PRAGMA "+name).Scan(&got); err != nil {
			t.Fatalf("PRAGMA %s: %v", name, err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %q, want %q", name, got, want)
		}
	}
}

func TestMigrate_SQLiteStoresISOTextTimesAndIntegerBooleans(t *testing.T) {
	st := migratedStore(t, testsupport.SQLiteDSN(t))
	ctx := testCtx(t)
	u, err := st.CreateUserWithPassword(ctx, NewUser{Name: "A", Email: "a@example.com", PasswordHash: "s:k"},
		mustParse(t, "2031-05-06T07:08:09.123456+02:00"))
	if err != nil {
		t.Fatal(err)
	}
	var created, verifiedType string
	var verified int
	err = st.db.QueryRowContext(ctx, `SELECT "createdAt", typeof("emailVerified"), "emailVerified" FROM "user" WHERE "id" = ?`, u.ID).
		Scan(&created, &verifiedType, &verified)
	if err != nil {
		t.Fatal(err)
	}
	if created != "2031-05-06T05:08:09.123Z" || verifiedType != "integer" || verified != 0 {
		t.Errorf("stored createdAt %q, emailVerified %s %d; want 2031-05-06T05:08:09.123Z, integer 0",
			created, verifiedType, verified)
	}
}

// olderBetterAuthSQLiteDDL is a Better Auth SQLite database from before the
// indexes were added to its schema: camelCase, no secondary indexes.
var olderBetterAuthSQLiteDDL = []string{
	`create table "user" ("id" text not null primary key, "name" text not null, "email" text not null unique, "emailVerified" integer not null, "image" text, "createdAt" date not null, "updatedAt" date not null)`,
	`create table "session" ("id" text not null primary key, "expiresAt" date not null, "token" text not null unique, "createdAt" date not null, "updatedAt" date not null, "ipAddress" text, "userAgent" text, "userId" text not null references "user" ("id") on delete cascade)`,
	`create table "account" ("id" text not null primary key, "accountId" text not null, "providerId" text not null, "userId" text not null references "user" ("id") on delete cascade, "accessToken" text, "refreshToken" text, "idToken" text, "accessTokenExpiresAt" date, "refreshTokenExpiresAt" date, "scope" text, "password" text, "createdAt" date not null, "updatedAt" date not null)`,
	`create table "verification" ("id" text not null primary key, "identifier" text not null, "value" text not null, "expiresAt" date not null, "createdAt" date, "updatedAt" date)`,
}

func TestMigrate_AdoptsExistingSQLiteDatabaseWithoutAddingIndexes(t *testing.T) {
	st := openStore(t, testsupport.SQLiteDSN(t), Options{})
	if err := ensureSQLiteFile(st.sqlitePath); err != nil {
		t.Fatal(err)
	}
	execAll(t, st, olderBetterAuthSQLiteDDL...)
	before := testsupport.SchemaSnapshot(t, st.db)
	for range 2 {
		if err := st.Migrate(testCtx(t)); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
	}
	diffLines(t, before, testsupport.SchemaSnapshot(t, st.db))
	if got := bookkeeping(t, st); !reflect.DeepEqual(got, wantBookkeeping) {
		t.Errorf("bookkeeping = %v, want %v", got, wantBookkeeping)
	}
	exerciseCRUD(t, st)
}

func diffLines(t *testing.T, before, after []string) {
	t.Helper()
	if !reflect.DeepEqual(before, after) {
		t.Errorf("schema changed:\nbefore:\n  %s\nafter:\n  %s",
			strings.Join(before, "\n  "), strings.Join(after, "\n  "))
	}
}

// TestReady_MigratesOnFirstUseWhenAsked: a store opened with Migrate gets
// ready by itself on the first call that needs the database, whatever the
// call, so that no caller can reach a table before the migrations ran;
// without Migrate the first call only detects, and fails on an empty
// database.
func TestReady_MigratesOnFirstUseWhenAsked(t *testing.T) {
	now := time.Now()
	first := map[string]func(ctx context.Context, st *Store) error{
		"Ready": func(ctx context.Context, st *Store) error { return st.Ready(ctx) },
		"SessionByToken": func(ctx context.Context, st *Store) error {
			_, _, err := st.SessionByToken(ctx, "no-such-token")
			if errors.Is(err, ErrNotFound) {
				return nil
			}
			return err
		},
		"HitRateLimit": func(ctx context.Context, st *Store) error {
			_, _, err := st.HitRateLimit(ctx, "key", time.Second, 1, now)
			return err
		},
	}
	for name, call := range first {
		t.Run(name, func(t *testing.T) {
			testsupport.Both(t, func(t *testing.T, dsn string) {
				if err := call(testCtx(t), openStore(t, dsn, Options{})); err == nil {
					t.Errorf("without Migrate, %s succeeded on an empty database", name)
				}
				st := openStore(t, dsn, Options{Migrate: true})
				if err := call(testCtx(t), st); err != nil {
					t.Fatalf("with Migrate, first call %s: %v", name, err)
				}
				if got := bookkeeping(t, st); !reflect.DeepEqual(got, wantBookkeeping) {
					t.Errorf("bookkeeping = %v, want %v", got, wantBookkeeping)
				}
			})
		})
	}
}

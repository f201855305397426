package store

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/testsupport"
)

// testCtx is a context that ends with the test, bounded so that a hung
// database fails the test instead of the whole run.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// openStore opens dsn and closes the store when the test ends.
func openStore(t *testing.T, dsn string, opts Options) *Store {
	t.Helper()
	st, err := Open(dsn, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// migratedStore opens dsn and applies the migrations.
func migratedStore(t *testing.T, dsn string) *Store {
	t.Helper()
	st := openStore(t, dsn, Options{})
	if err := st.Migrate(testCtx(t)); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return st
}

// execAll runs statements one by one, for fixtures written as DDL scripts.
func execAll(t *testing.T, st *Store, stmts ...string) {
	t.Helper()
	for _, q := range stmts {
		if _, err := st.db.ExecContext(testCtx(t), q); err != nil {
			t.Fatalf("exec %q: %v", q, err)
		}
	}
}

// eachLayout runs fn on a migrated store of every supported pair of database
// and column layout: Better Auth's camelCase (fresh migration) and Drizzle's
// snake_case (adopted), each on PostgreSQL and SQLite.
func eachLayout(t *testing.T, fn func(t *testing.T, st *Store)) {
	t.Helper()
	t.Run("camel", func(t *testing.T) {
		testsupport.Both(t, func(t *testing.T, dsn string) { fn(t, migratedStore(t, dsn)) })
	})
	t.Run("snake", func(t *testing.T) {
		t.Run("postgres", func(t *testing.T) {
			st := openStore(t, testsupport.PostgresDSN(t), Options{})
			execAll(t, st, testsupport.DrizzlePostgresDDL...)
			fn(t, adopted(t, st, layoutSnake))
		})
		t.Run("sqlite", func(t *testing.T) {
			st := openStore(t, testsupport.SQLiteDSN(t), Options{})
			if err := ensureSQLiteFile(st.sqlitePath); err != nil {
				t.Fatal(err)
			}
			execAll(t, st, testsupport.DrizzleSQLiteDDL...)
			fn(t, adopted(t, st, layoutSnake))
		})
	})
}

// adopted migrates st over tables a test created and checks the layout.
func adopted(t *testing.T, st *Store, want layout) *Store {
	t.Helper()
	if err := st.Migrate(testCtx(t)); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if l := st.q.Load().layout; l != want {
		t.Fatalf("layout = %q, want %q", l, want)
	}
	return st
}

// testNow is a test's clock: not UTC and with nanoseconds, so that every
// write shows whether the store normalises to UTC milliseconds.
var testNow = time.Date(2031, 5, 6, 7, 8, 9, 123456789, time.FixedZone("IST", 5*3600+1800))

// mkUser creates a user with a credential account (password "s:k").
func mkUser(t *testing.T, st *Store, email string) User {
	t.Helper()
	u, err := st.CreateUserWithPassword(testCtx(t), NewUser{Name: "N", Email: email, PasswordHash: "s:k"}, testNow)
	if err != nil {
		t.Fatalf("CreateUserWithPassword: %v", err)
	}
	return u
}

// mkSession creates a session of userID created at now, expiring a week
// later.
func mkSession(t *testing.T, st *Store, userID string, now time.Time) Session {
	t.Helper()
	ss, err := st.CreateSession(testCtx(t), NewSession{UserID: userID, ExpiresAt: now.Add(7 * 24 * time.Hour)}, now)
	if err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	return ss
}

// readTime reads one time through the store's time scanner, from a SELECT
// template.
func readTime(t *testing.T, st *Store, tmpl string, args ...any) time.Time {
	t.Helper()
	q, err := st.queries(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	var v dbTime
	if err := st.db.GetContext(testCtx(t), &v, expand(tmpl, q.layout, st.dialect), args...); err != nil {
		t.Fatalf("%s: %v", tmpl, err)
	}
	return time.Time(v)
}

// sameIDs reports whether got and want hold the same ids in any order.
func sameIDs(got, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	a, b := slices.Clone(got), slices.Clone(want)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

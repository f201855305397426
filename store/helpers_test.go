package store

import (
	"context"
	"testing"
	"time"
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

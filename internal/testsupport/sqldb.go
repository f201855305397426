package testsupport

import (
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"

	// Tests open the databases behind the product's back to check rows.
	_ "github.com/lib/pq"
	_ "modernc.org/sqlite"
)

// OpenDB opens the database of a postgres:// or sqlite:// DSN directly, for
// tests that check or arrange rows without going through the product. It is
// closed when the test ends.
func OpenDB(t testing.TB, dsn string) *sqlx.DB {
	t.Helper()
	driver, source := "postgres", dsn
	if path, ok := strings.CutPrefix(dsn, "sqlite://"); ok {
		driver, source = "sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)"
	}
	db, err := sqlx.Open(driver, source)
	if err != nil {
		t.Fatalf("open %s database: %v", driver, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

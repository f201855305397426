package testsupport

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lib/pq"
)

// EnvPostgres names the environment variable with an admin DSN of a
// PostgreSQL server the tests may create and drop databases on.
const EnvPostgres = "TEST_DATABASE_URL"

const skipBanner = `
************************************************************************
** PostgreSQL tests SKIPPED: TEST_DATABASE_URL is not set.
** Run them against a throwaway cluster:
**     make -f xcaddy.Makefile test
** or against a server of yours (each test creates and drops a database):
**     TEST_DATABASE_URL='postgres://postgres:postgres@127.0.0.1:5432/postgres?sslmode=disable' go test ./...
************************************************************************`

var bannerOnce sync.Once

// PostgresAdminDSN returns TEST_DATABASE_URL. Without it the test fails under
// CI=true (a CI run that silently skips the PostgreSQL half proves nothing)
// and is skipped, loudly, elsewhere.
func PostgresAdminDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(EnvPostgres)
	if dsn != "" {
		return dsn
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s must be set when CI=true: the PostgreSQL tests may not be skipped in CI", EnvPostgres)
	}
	// The banner goes to stderr once per test binary; each skipped test
	// names the variable.
	bannerOnce.Do(func() { fmt.Fprintln(os.Stderr, skipBanner) })
	t.Skipf("SKIPPED: %s is not set, PostgreSQL is not tested (make -f xcaddy.Makefile test)", EnvPostgres)
	return ""
}

// PostgresDSN creates a fresh, uniquely named database on the server of
// TEST_DATABASE_URL, drops it when the test ends, and returns its DSN (the
// admin DSN with the database name replaced). With
// AUTHGATE_TEST_VIA_PGBOUNCER=1 the DSN goes through PgBouncer.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	dsn := createDatabase(t)
	if os.Getenv(EnvViaPgBouncer) == "1" {
		return viaPgBouncer(t, dsn)
	}
	return dsn
}

func createDatabase(t testing.TB) string {
	t.Helper()
	admin := PostgresAdminDSN(t)
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("%s is not a URL: %v", EnvPostgres, err.(*url.Error).Err)
	}
	name := databaseName(t)

	db, err := sql.Open("postgres", admin)
	if err != nil {
		t.Fatalf("open %s: %v", EnvPostgres, err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(name)); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() { dropDatabase(t, admin, name) })

	u.Path = "/" + name
	return u.String()
}

// dropDatabase drops name, disconnecting whoever still uses it (a pool the
// test forgot to close must not fail the run).
func dropDatabase(t testing.TB, admin, name string) {
	db, err := sql.Open("postgres", admin)
	if err != nil {
		t.Errorf("drop test database %s: %v", name, err)
		return
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+pq.QuoteIdentifier(name)+" WITH (FORCE)"); err != nil {
		t.Errorf("drop test database %s: %v", name, err)
	}
}

var nonIdent = regexp.MustCompile(`[^a-z0-9]+`)

// databaseName is "t_" + the test name, made an identifier and shortened,
// + a random suffix, within PostgreSQL's 63-byte limit. The test name makes a
// leftover database easy to trace.
func databaseName(t testing.TB) string {
	base := strings.Trim(nonIdent.ReplaceAllString(strings.ToLower(t.Name()), "_"), "_")
	if len(base) > 40 {
		base = base[:40]
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "t_" + base + "_" + hex.EncodeToString(b[:])
}

// SQLiteDSN returns a sqlite:// DSN for a database file in a fresh temporary
// directory (the file itself does not exist yet).
func SQLiteDSN(t testing.TB) string {
	t.Helper()
	return "sqlite://" + filepath.Join(t.TempDir(), "auth.db")
}

// Both runs fn as one subtest per database: "postgres" on a fresh database
// of TEST_DATABASE_URL (skipped or failed as PostgresDSN says) and "sqlite"
// on a fresh file.
func Both(t *testing.T, fn func(t *testing.T, dsn string)) {
	t.Helper()
	t.Run("postgres", func(t *testing.T) { fn(t, PostgresDSN(t)) })
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLiteDSN(t)) })
}

package testsupport

import (
	"net/url"
	"os"
	"testing"
)

// EnvPgBouncer names the PgBouncer (transaction pooling) in front of the
// TEST_DATABASE_URL server that scripts/test-postgres.sh starts.
const EnvPgBouncer = "TEST_PGBOUNCER_URL"

// EnvViaPgBouncer, set to 1, makes PostgresDSN hand out pooled DSNs, so that
// a whole package's PostgreSQL tests run through PgBouncer. Tests that need
// a direct connection (LISTEN, administration) ask for PostgresDirectDSN.
const EnvViaPgBouncer = "AUTHGATE_TEST_VIA_PGBOUNCER"

// PgBouncerDSN creates a fresh database as PostgresDSN does and returns its
// DSN through PgBouncer (transaction pooling) and the direct one, for
// LISTEN. Without a PgBouncer the test fails under CI=true and is skipped
// elsewhere.
func PgBouncerDSN(t testing.TB) (pooled, direct string) {
	t.Helper()
	direct = PostgresDirectDSN(t)
	return viaPgBouncer(t, direct), direct
}

// PostgresDirectDSN is PostgresDSN without the PgBouncer switch: a fresh
// database reached directly.
func PostgresDirectDSN(t testing.TB) string {
	t.Helper()
	return createDatabase(t)
}

func pgBouncerURL(t testing.TB) string {
	t.Helper()
	pgb := os.Getenv(EnvPgBouncer)
	if pgb != "" {
		return pgb
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s must be set when CI=true: the pooler tests may not be skipped (scripts/test-postgres.sh starts PgBouncer; apt-get install pgbouncer)", EnvPgBouncer)
	}
	t.Skipf("SKIPPED: %s is not set (no PgBouncer); the pooler path is not tested", EnvPgBouncer)
	return ""
}

// viaPgBouncer returns direct with its host and port replaced by
// PgBouncer's; the database name passes through.
func viaPgBouncer(t testing.TB, direct string) string {
	t.Helper()
	pgb, err := url.Parse(pgBouncerURL(t))
	if err != nil {
		t.Fatalf("%s is not a URL: %v", EnvPgBouncer, err)
	}
	u, err := url.Parse(direct)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = pgb.Host
	return u.String()
}

package testsupport

import (
	"context"
	"database/sql"
	"os"
	"strings"
	"testing"
	"time"
)

func TestPostgresDSN_GivesAFreshDatabaseDroppedAfterTheTest(t *testing.T) {
	var name string
	t.Run("inner", func(t *testing.T) {
		db, err := sql.Open("postgres", PostgresDSN(t))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var tables int
		err = db.QueryRow(`SELECT current_database(),
			(SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public')`).Scan(&name, &tables)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(name, "t_testpostgresdsn_") || tables != 0 {
			t.Errorf("database %q with %d tables, want a fresh t_testpostgresdsn_* database", name, tables)
		}
		// Left open on purpose: the cleanup must drop it anyway.
		if _, err := db.Exec(`CREATE TABLE leftover (id int)`); err != nil {
			t.Fatal(err)
		}
	})
	if name == "" {
		return // skipped
	}
	admin, err := sql.Open("postgres", os.Getenv(EnvPostgres))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var exists bool
	if err := admin.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Errorf("database %s still exists after the test", name)
	}
}

func TestDatabaseName_IsAShortUniqueIdentifier(t *testing.T) {
	a, b := databaseName(t), databaseName(t)
	if a == b {
		t.Errorf("two names are equal: %s", a)
	}
	if len(a) > 63 || strings.Trim(a, "abcdefghijklmnopqrstuvwxyz0123456789_") != "" {
		t.Errorf("%q is not a short lower-case identifier", a)
	}
}

func TestSQLiteDSN_PointsIntoATempDir(t *testing.T) {
	dsn := SQLiteDSN(t)
	if !strings.HasPrefix(dsn, "sqlite:///") || !strings.HasSuffix(dsn, "/auth.db") {
		t.Errorf("SQLiteDSN = %q", dsn)
	}
}

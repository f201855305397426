package testsupport

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
)

// betterAuthTables are the tables an adopted database brings.
var betterAuthTables = []string{"account", "session", "user", "verification"}

// SchemaSnapshot describes every table of the current schema except our own
// (auth_gate_*): columns, indexes, constraints, triggers other than ours, and
// a digest of Better Auth's rows (PostgreSQL), or the schema text of every
// table and index (SQLite). Two equal snapshots mean nothing of Better Auth's
// was altered, added or dropped: our own tables and auth_gate_* triggers are
// the allowed additions.
func SchemaSnapshot(t testing.TB, db *sqlx.DB) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if db.DriverName() != "postgres" {
		var out []string
		err := db.SelectContext(ctx, &out, `SELECT type || ' ' || name || ': ' || coalesce(sql, '')
			FROM sqlite_master WHERE tbl_name NOT LIKE 'auth\_gate\_%' ESCAPE '\' ORDER BY name`)
		if err != nil {
			t.Fatalf("snapshot: %v", err)
		}
		return out
	}
	queries := []string{
		`SELECT table_name || '.' || column_name || ' ' || data_type || ' null=' || is_nullable ||
			' default=' || coalesce(column_default, '-') || ' pos=' || ordinal_position
		 FROM information_schema.columns
		 WHERE table_schema = current_schema() AND table_name NOT LIKE 'auth\_gate\_%' ORDER BY 1`,
		`SELECT indexdef FROM pg_indexes
		 WHERE schemaname = current_schema() AND tablename NOT LIKE 'auth\_gate\_%' ORDER BY 1`,
		`SELECT c.conrelid::regclass::text || ' ' || c.conname || ' ' || pg_get_constraintdef(c.oid)
		 FROM pg_constraint c JOIN pg_class r ON r.oid = c.conrelid
		 WHERE r.relnamespace = current_schema()::regnamespace AND r.relname NOT LIKE 'auth\_gate\_%' ORDER BY 1`,
		`SELECT tgrelid::regclass::text || ' ' || tgname FROM pg_trigger
		 WHERE NOT tgisinternal AND tgname NOT LIKE 'auth\_gate\_%' ORDER BY 1`,
	}
	var out []string
	for _, q := range queries {
		var rows []string
		if err := db.SelectContext(ctx, &rows, q); err != nil {
			t.Fatalf("snapshot %q: %v", q, err)
		}
		out = append(out, rows...)
	}
	for _, table := range betterAuthTables {
		var digest string
		q := fmt.Sprintf(`SELECT coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '') FROM %q t`, table)
		if err := db.GetContext(ctx, &digest, q); err != nil {
			t.Fatalf("digest %s: %v", table, err)
		}
		out = append(out, table+" rows "+digest)
	}
	return out
}

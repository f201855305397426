package store

import (
	"errors"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/lib/pq/pqerror"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/authgate/authgate/migrations"
)

// dialect is everything that differs between PostgreSQL and SQLite. Queries
// are written once, with ? placeholders and the column names of the layout,
// and specialised per dialect when they are built.
type dialect struct {
	driver string // "postgres" or "sqlite", as Driver reports it
	// bindType is sqlx's placeholder style for Rebind.
	bindType int
	// migrateDialect is sql-migrate's name for the dialect.
	migrateDialect string
	// timeArg is the value written to a time column.
	timeArg func(time.Time) any
	// layoutQuery lists the columns of table "user" that tell the layouts
	// apart (emailVerified or email_verified).
	layoutQuery string
	// columnsQuery lists (table, column, declared type) of the core tables
	// "user", "session" and "account", for plugin detection.
	columnsQuery string
	// tableExistsQuery counts the tables named ? (0 or 1).
	tableExistsQuery string
	// isUniqueViolation reports a UNIQUE or PRIMARY KEY violation.
	isUniqueViolation func(error) bool
	// cmpTime wraps a time column of a query template so that it compares
	// by time with cmpTimeArg(t), whatever representation the row holds.
	cmpTime func(col string) string
	// cmpTimeArg is the value a cmpTime expression is compared with.
	cmpTimeArg func(time.Time) any
	// ownTable qualifies the name of one of auth_gate's own tables: on
	// PostgreSQL they live in their own schema (migration 0004).
	ownTable func(name string) string
}

var postgresDialect = &dialect{
	driver:         "postgres",
	bindType:       sqlx.DOLLAR,
	migrateDialect: "postgres",
	// A UTC time.Time is right for both timestamptz and timestamp without
	// time zone: PostgreSQL ignores the offset of the literal for the latter
	// and stores the UTC wall clock, which is what Drizzle stores too.
	timeArg: func(t time.Time) any { return t.UTC() },
	// current_schema() is where the migration creates the tables and where
	// unqualified names in our queries resolve first.
	layoutQuery: `SELECT column_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = 'user'
		AND column_name IN ('emailVerified', 'email_verified')`,
	// udt_name says timestamptz or timestamp, as the DDL did.
	columnsQuery: `SELECT table_name, column_name, udt_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name IN ('user', 'session', 'account')`,
	tableExistsQuery: `SELECT count(*) FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_name = ?`,
	isUniqueViolation: func(err error) bool {
		return pq.As(err, pqerror.UniqueViolation) != nil
	},
	// The columns are typed: PostgreSQL compares times as times.
	cmpTime:    func(col string) string { return col },
	cmpTimeArg: func(t time.Time) any { return t.UTC() },
	ownTable:   func(name string) string { return migrations.Schema + "." + name },
}

var sqliteDialect = &dialect{
	driver:         "sqlite",
	bindType:       sqlx.QUESTION,
	migrateDialect: "sqlite3",
	timeArg:        func(t time.Time) any { return formatSQLiteTime(t) },
	layoutQuery: `SELECT name FROM pragma_table_info('user')
		WHERE name IN ('emailVerified', 'email_verified')`,
	columnsQuery: `SELECT 'user', name, type FROM pragma_table_info('user')
		UNION ALL SELECT 'session', name, type FROM pragma_table_info('session')
		UNION ALL SELECT 'account', name, type FROM pragma_table_info('account')`,
	tableExistsQuery: `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`,
	isUniqueViolation: func(err error) bool {
		// Extended result codes are on in modernc, so the code is
		// SQLITE_CONSTRAINT_UNIQUE or _PRIMARYKEY, not bare SQLITE_CONSTRAINT.
		var se *sqlite.Error
		if !errors.As(err, &se) {
			return false
		}
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	},
	cmpTime:    sqliteMillis,
	cmpTimeArg: func(t time.Time) any { return t.UnixMilli() },
	// SQLite has no schemas: one file holds everything.
	ownTable: func(name string) string { return name },
}

// sqliteMillis turns a SQLite time column into milliseconds since the epoch.
// A column may hold our ISO text, other text forms (CURRENT_TIMESTAMP), or
// integer milliseconds (what Drizzle writes), even mixed in one table; and
// SQLite orders every integer before every text, so comparing the column
// with a text or integer literal directly would be wrong for the other form.
// Unparseable text yields NULL, which matches no comparison.
func sqliteMillis(col string) string {
	return `(CASE typeof(` + col + `) WHEN 'integer' THEN ` + col +
		` WHEN 'real' THEN CAST(` + col + ` AS INTEGER)` +
		` ELSE CAST(strftime('%s', ` + col + `) AS INTEGER) * 1000 + CAST(substr(strftime('%f', ` + col + `), 4, 3) AS INTEGER) END)`
}

package store

import (
	"context"
	"errors"
	"net/url"
	"strings"
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
// and specialised per dialect when they are built; the rest of the package
// asks the dialect rather than which database it is on.
type dialect struct {
	driver string // "postgres" or "sqlite", as Driver reports it
	// schemes are the DSN schemes that name this dialect.
	schemes []string
	// bindType is sqlx's placeholder style for Rebind.
	bindType int
	// open sets up s's pool for dsn.
	open func(s *Store, dsn DSN) error
	// migrate applies the pending migrations under the dialect's lock and
	// returns how many it applied.
	migrate func(s *Store, ctx context.Context) (int, error)
	// migrateDialect is sql-migrate's name for the dialect.
	migrateDialect string
	// timeArgFor is the value written to a time column, for time columns
	// declared as declared (SchemaInfo.TimeColumns).
	timeArgFor func(declared string) func(time.Time) any
	// layoutQuery lists the columns of table "user" that tell the layouts
	// apart (emailVerified or email_verified), as column_name.
	layoutQuery string
	// columnsQuery lists the core tables' columns, for plugin detection.
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
	// anyArray says that a column can be compared with a whole array
	// argument (token = ANY(?)), which batching session lookups needs.
	anyArray bool
	// skipLocked ends a SELECT whose rows a DELETE then takes, so that
	// concurrent sweeps pass each other; "" where writers never run side by
	// side anyway.
	skipLocked string
}

// dialects are the supported databases, in the order acceptedForms names
// their schemes.
var dialects = []*dialect{postgresDialect, sqliteDialect}

// acceptedForms are the DSN forms Open understands.
const acceptedForms = "postgres://, postgresql://, sqlite://<path>"

var postgresDialect = &dialect{
	driver:         "postgres",
	schemes:        []string{"postgres", "postgresql"},
	bindType:       sqlx.DOLLAR,
	open:           (*Store).openPostgres,
	migrate:        (*Store).migratePostgres,
	migrateDialect: "postgres",
	// A UTC time.Time is right for both timestamptz and timestamp without
	// time zone: PostgreSQL ignores the offset of the literal for the latter
	// and stores the UTC wall clock, which is what Drizzle stores too.
	timeArgFor: func(string) func(time.Time) any { return utcTime },
	// current_schema() is where the migration creates the tables and where
	// unqualified names in our queries resolve first.
	layoutQuery: `SELECT column_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = 'user'
		AND column_name IN ('emailVerified', 'email_verified')`,
	// udt_name says timestamptz or timestamp, as the DDL did.
	columnsQuery: `SELECT table_name, column_name, udt_name AS column_type FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name IN ('user', 'session', 'account')`,
	tableExistsQuery: `SELECT count(*) FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_name = ?`,
	isUniqueViolation: func(err error) bool {
		return pq.As(err, pqerror.UniqueViolation) != nil
	},
	// The columns are typed: PostgreSQL compares times as times.
	cmpTime:    func(col string) string { return col },
	cmpTimeArg: utcTime,
	ownTable:   func(name string) string { return migrations.Schema + "." + name },
	anyArray:   true,
	skipLocked: " FOR UPDATE SKIP LOCKED",
}

var sqliteDialect = &dialect{
	driver:         "sqlite",
	schemes:        []string{"sqlite"},
	bindType:       sqlx.QUESTION,
	open:           (*Store).openSQLite,
	migrate:        (*Store).migrateSQLite,
	migrateDialect: "sqlite3",
	// Drizzle's SQLite schema for Better Auth declares times integer
	// (milliseconds); Better Auth's own migrate and ours declare text
	// (ISO 8601). Write what the database holds, so that Better Auth reads
	// our rows as it reads its own.
	timeArgFor: func(declared string) func(time.Time) any {
		if declared == "integer" {
			return func(t time.Time) any { return normTime(t).UnixMilli() }
		}
		return func(t time.Time) any { return formatSQLiteTime(t) }
	},
	layoutQuery: `SELECT name AS column_name FROM pragma_table_info('user')
		WHERE name IN ('emailVerified', 'email_verified')`,
	columnsQuery: `SELECT 'user' AS table_name, name AS column_name, type AS column_type FROM pragma_table_info('user')
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
	// SQLite has no row locks: its single writer serialises the sweeps.
	skipLocked: "",
}

func utcTime(t time.Time) any { return t.UTC() }

// rebind turns the ? placeholders of q into the dialect's.
func (d *dialect) rebind(q string) string { return sqlx.Rebind(d.bindType, q) }

// pqUnavailable reports PostgreSQL's answers that mean it cannot serve us
// now. unavailable asks both drivers: wrap does not know the dialect.
func pqUnavailable(err error) bool {
	pqErr := pq.As(err)
	if pqErr == nil {
		return false
	}
	switch pqErr.Code.Class() {
	case pqerror.ClassConnectionException, // 08: the connection failed
		pqerror.ClassInvalidAuthorizationSpecification, // 28: role may not log in, wrong password
		pqerror.ClassInvalidCatalogName,                // 3D: no such database
		pqerror.ClassInsufficientResources,             // 53: too many connections (a limit of 0 too), disk full
		pqerror.ClassOperatorIntervention,              // 57: shutdown, cannot connect now, statement timeout
		pqerror.ClassSystemError:                       // 58: I/O error
		return true
	}
	// The database does not accept connections (ALLOW_CONNECTIONS false);
	// none of our statements meets this code otherwise.
	return pqErr.Code == pqerror.ObjectNotInPrerequisiteState
}

// sqliteUnavailable reports SQLite's busy, locked and I/O failures.
func sqliteUnavailable(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff { // primary result code
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR,
		sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_FULL, sqlite3.SQLITE_NOMEM:
		return true
	}
	return false
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

// DSN is a database DSN, parsed once: Open and the callers that must know
// which database it names read the same answer.
type DSN struct {
	// Driver is "postgres" or "sqlite", as Store.Driver reports it.
	Driver string
	// Path is the SQLite database file as written in the DSN; "" on
	// PostgreSQL.
	Path string

	dialect *dialect
	url     *url.URL // PostgreSQL
}

// ParseDSN checks dsn and says which database it names. Accepted forms:
// postgres://…, postgresql://…, sqlite://<path>; the scheme is not case
// sensitive. Its errors never quote the DSN, which may hold a password.
func ParseDSN(dsn string) (DSN, error) {
	scheme, rest, _ := strings.Cut(dsn, "://")
	scheme = strings.ToLower(scheme)
	var d *dialect
	for _, c := range dialects {
		for _, s := range c.schemes {
			if s == scheme {
				d = c
			}
		}
	}
	switch d {
	case nil:
		return DSN{}, dsnError("unsupported database DSN")
	case sqliteDialect:
		if rest == "" {
			return DSN{}, dsnError("SQLite DSN without a path")
		}
		if strings.ContainsAny(rest, "?#") {
			return DSN{}, dsnError("SQLite DSN takes no parameters")
		}
		return DSN{Driver: d.driver, Path: rest, dialect: d}, nil
	}
	u, err := url.Parse(dsn)
	if err != nil {
		// url.Error repeats the whole input, password included: keep only
		// the reason.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return DSN{}, dsnError("invalid PostgreSQL DSN: %v", err)
	}
	return DSN{Driver: d.driver, dialect: d, url: u}, nil
}

// unsupportedPQParams are libpq parameters that lib/pq does not know. lib/pq
// would send them to the server as run-time parameters, which the server
// refuses ("unrecognized configuration parameter"), so they are removed.
// Neon's connection strings carry channel_binding=require.
var unsupportedPQParams = []string{"channel_binding"}

// pqURL is a PostgreSQL DSN without the parameters lib/pq does not know,
// with the names of those removed; a copy, so that callers may change it.
func (d DSN) pqURL() (*url.URL, []string) {
	u := *d.url
	q := u.Query()
	var removed []string
	for _, p := range unsupportedPQParams {
		if q.Has(p) {
			q.Del(p)
			removed = append(removed, p)
		}
	}
	u.RawQuery = q.Encode()
	return &u, removed
}

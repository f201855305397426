package store

import (
	"cmp"
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"go.uber.org/zap"

	// Registers the "sqlite" database/sql driver.
	_ "modernc.org/sqlite"
)

// Options tune Open.
type Options struct {
	// Logger receives warnings (e.g. the removed channel_binding parameter).
	// Nil means zap.NewNop().
	Logger *zap.Logger
	// Schema is "auto" (detect at Migrate), "camel" or "snake". Empty means
	// "auto".
	Schema string
	// Migrate makes the store apply the embedded migrations when it gets
	// ready (see Ready), not only detect the schema.
	Migrate bool
}

// Store is one connection pool to one database.
type Store struct {
	db             *sqlx.DB
	dialect        *dialect
	log            *zap.Logger
	schema         string // requested layout: "auto", "camel" or "snake"
	migrateOnReady bool   // Options.Migrate

	// sqlitePath is the database file; empty on PostgreSQL.
	sqlitePath string

	// q holds the statements built for the detected column layout. Nil until
	// Detect (or Migrate) ran, unless the layout was given explicitly.
	q        atomic.Pointer[queries]
	detectMu ctxLock
	logged   atomic.Bool // the detected schema was logged

	batcher lookupBatcher // PostgreSQL session lookups
	// pqConn is the connection string lib/pq connects with; empty on
	// SQLite.
	pqConn   string
	prepared preparedLookups
}

// Open parses dsn and prepares a pool without connecting: `caddy validate`
// must not touch the database. Accepted forms: postgres://…,
// postgresql://…, sqlite://<path>.
func Open(dsn string, opts Options) (*Store, error) {
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	if err := CheckSchema(opts.Schema); err != nil {
		return nil, fmt.Errorf("store: schema %w", err)
	}
	schema := cmp.Or(opts.Schema, "auto")
	parsed, err := ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	s := &Store{log: log, schema: schema, migrateOnReady: opts.Migrate, dialect: parsed.dialect}
	if err := s.dialect.open(s, parsed); err != nil {
		return nil, err
	}
	if schema != "auto" {
		// Not yet detected: the first query still looks for plugin columns.
		s.q.Store(buildQueries(layout(schema), s.dialect, Plugins{}))
	}
	return s, nil
}

// dsnError names the accepted forms in every DSN error, so that a config
// error tells the operator what would have worked.
func dsnError(format string, args ...any) error {
	return fmt.Errorf("store: "+format+" (accepted forms: "+acceptedForms+")", args...)
}

func (s *Store) openPostgres(dsn DSN) error {
	u, removed := dsn.pqURL()
	for _, p := range removed {
		s.log.Warn("removed a connection parameter that lib/pq does not support",
			zap.String("parameter", p))
	}
	// lib/pq otherwise runs each query with arguments in two round trips
	// (Parse+Describe, then Bind+Execute); binary_parameters sends it all at
	// once, still on the unnamed statement, so poolers in transaction mode
	// are unaffected. It halves the latency of every store call, the
	// uncached gate's lookup included. An explicit setting is kept.
	q := u.Query()
	if !q.Has("binary_parameters") {
		q.Set("binary_parameters", "yes")
	}
	u.RawQuery = q.Encode()

	connector, err := pq.NewConnector(u.String())
	if err != nil {
		return dsnError("invalid PostgreSQL DSN: %w", err)
	}
	s.pqConn = u.String()
	db := sql.OpenDB(newDeadlineConnector(connector))
	// Hosted PostgreSQL (Neon) closes idle connections and its pooler caps
	// server connections: keep the pool modest and recycle connections.
	db.SetMaxOpenConns(10)
	db.SetMaxIdleConns(10) // as many as open: fewer would close and reopen connections under load
	db.SetConnMaxLifetime(30 * time.Minute)
	db.SetConnMaxIdleTime(5 * time.Minute)
	s.db = sqlx.NewDb(db, "postgres")
	return nil
}

func (s *Store) openSQLite(dsn DSN) error {
	path := dsn.Path
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("store: SQLite path %q: %w", path, err)
	}
	// WAL lets readers run while a writer commits; busy_timeout makes a
	// writer wait for the lock instead of failing at once; _txlock=immediate
	// takes the write lock at BEGIN, so two write transactions never both
	// hold a read lock and deadlock when upgrading. _time_format only affects
	// time.Time values written into the bookkeeping table; ours are written
	// as text. _dqs=0 turns off SQLite's quirk of reading a double-quoted
	// name that matches no column as a string literal: a wrong column name
	// must fail, not compare against a constant.
	params := "_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)" +
		"&_txlock=immediate&_time_format=sqlite&_dqs=0"
	drv, err := sql.Open("sqlite", "")
	if err != nil {
		return fmt.Errorf("store: open SQLite %q: %w", path, err)
	}
	db := sql.OpenDB(sqliteConnector{path: abs, dsn: abs + "?" + params, drv: drv.Driver()})
	_ = drv.Close()
	// WAL serves concurrent readers; writers queue on the file lock.
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	db.SetConnMaxIdleTime(10 * time.Minute)
	s.db = sqlx.NewDb(db, "sqlite")
	s.sqlitePath = abs
	return nil
}

// Driver is "postgres" or "sqlite".
func (s *Store) Driver() string { return s.dialect.driver }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := bound(ctx)
	defer cancel()
	if err := s.db.PingContext(ctx); err != nil {
		return wrap("ping database", err)
	}
	return nil
}

// Close closes the pool.
func (s *Store) Close() error {
	s.prepared.close()
	return s.db.Close()
}

// sqliteConnector creates the database file, owner-only, before SQLite
// would create it with the umask's mode (0644 as a rule): the file holds
// password hashes and session tokens, and SQLite gives its -wal and -shm
// files the database file's mode. It runs on every new connection, not at
// Open, so that `caddy validate` creates nothing, and whatever path
// connects first (migrate on or off, a command) gets a private file.
type sqliteConnector struct {
	path, dsn string
	drv       driver.Driver
}

func (c sqliteConnector) Connect(context.Context) (driver.Conn, error) {
	if err := ensureSQLiteFile(c.path); err != nil {
		return nil, err
	}
	return c.drv.Open(c.dsn)
}

func (c sqliteConnector) Driver() driver.Driver { return c.drv }

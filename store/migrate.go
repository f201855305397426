package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	migrate "github.com/rubenv/sql-migrate"
	"go.uber.org/zap"

	"github.com/authgate/authgate/migrations"
)

// migrationLockKey is the PostgreSQL advisory lock that serialises migration
// runs of all auth_gate instances on one database: "authgate" in ASCII.
const migrationLockKey int64 = 0x6175746867617465

// sqliteLocks holds one mutex per SQLite database file (absolute path), so
// that several Stores on one file in this process migrate one at a time.
var sqliteLocks sync.Map // string -> *sync.Mutex

// Migrate connects, applies the embedded migrations under a lock, and detects
// the column layout. Idempotent; safe from several goroutines and processes.
func (s *Store) Migrate(ctx context.Context) error {
	ctx, cancel := boundSchemaWork(ctx)
	defer cancel()
	if _, err := s.migrate(ctx); err != nil {
		return err
	}
	if err := s.Detect(ctx); err != nil {
		return err
	}
	// A table re-created since the migrations ran (drizzle-kit push) lost
	// its triggers; this is the moment to bring them back.
	if _, err := s.checkNoticeTriggers(ctx, true); err != nil {
		return err
	}
	return nil
}

// migrate applies pending migrations and returns how many it applied.
func (s *Store) migrate(ctx context.Context) (int, error) {
	return s.dialect.migrate(s, ctx)
}

// migratePostgres holds a transaction-scoped advisory lock on a dedicated
// connection while sql-migrate runs on the pool. A transaction-scoped lock,
// unlike a session lock, stays with its server connection under a PgBouncer
// in transaction mode, and is released by the server if this process dies.
func (s *Store) migratePostgres(ctx context.Context) (int, error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return 0, wrap("migrate: connect", err)
	}
	defer conn.Close()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return 0, wrap("migrate: begin lock transaction", err)
	}
	// After a Commit, Rollback only reports sql.ErrTxDone.
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLockKey); err != nil {
		return 0, wrap("migrate: take advisory lock", err)
	}
	if _, err := s.db.ExecContext(ctx, prepareOwnSchemaSQL); err != nil {
		return 0, wrap("migrate: prepare schema "+migrations.Schema, err)
	}
	n, err := s.applyMigrations(ctx)
	if err != nil {
		return n, err
	}
	if err := tx.Commit(); err != nil {
		return n, wrap("migrate: release advisory lock", err)
	}
	return n, nil
}

// prepareOwnSchemaSQL gets the bookkeeping table ready in auth_gate's own
// schema before sql-migrate reads it (migrations.Set leaves the creation to
// us). An install from before the own schema has it in the current schema,
// where sql-migrate created it: it is moved, with its records, so that no
// migration runs twice. Finding it in both places means an older auth_gate
// migrated again after the move, or two installs with different search
// paths share the database; either could skip a migration, so it stops.
// The schema is created only when missing: CREATE SCHEMA IF NOT EXISTS
// needs CREATE on the database even when the schema exists. The columns are
// sql-migrate's own, so that its CLI reads the same table.
const prepareOwnSchemaSQL = `DO $$
DECLARE
    home text := current_schema();
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'auth_gate') THEN
        CREATE SCHEMA auth_gate;
    END IF;
    IF home IS NOT NULL AND home <> 'auth_gate'
       AND to_regclass(format('%I.auth_gate_migrations', home)) IS NOT NULL THEN
        IF to_regclass('auth_gate.auth_gate_migrations') IS NOT NULL THEN
            RAISE EXCEPTION 'both %.auth_gate_migrations and auth_gate.auth_gate_migrations exist: keep the one with the complete list of applied migrations and drop the other', quote_ident(home);
        END IF;
        EXECUTE format('ALTER TABLE %I.auth_gate_migrations SET SCHEMA auth_gate', home);
    END IF;
    CREATE TABLE IF NOT EXISTS auth_gate.auth_gate_migrations (id text NOT NULL PRIMARY KEY, applied_at timestamp with time zone);
END
$$`

// migrateSQLite serialises runs in this process with a mutex per file. Two
// processes starting on one file at once can still race on the bookkeeping
// row; the loser's insert fails on its primary key, and one retry, which then
// finds everything applied, settles it.
func (s *Store) migrateSQLite(ctx context.Context) (int, error) {
	mu, _ := sqliteLocks.LoadOrStore(s.sqlitePath, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()

	run := func() (int, error) {
		if err := s.adoptSQLite(ctx); err != nil {
			return 0, wrap("migrate: adopt existing tables", err)
		}
		return s.applyMigrations(ctx)
	}
	n, err := run()
	if err != nil && s.dialect.isUniqueViolation(err) {
		n, err = run()
	}
	return n, err
}

// adoptSQLite is the SQLite counterpart of the guard in the PostgreSQL
// migration: when table "user" exists but the core migration is not
// recorded, the tables come from Better Auth (or Drizzle) and are recorded as
// migrated without running any DDL on them.
func (s *Store) adoptSQLite(ctx context.Context) error {
	var tables int
	err := s.db.GetContext(ctx, &tables, s.dialect.rebind(s.dialect.tableExistsQuery), "user")
	if err != nil || tables == 0 {
		return err
	}
	// Creates the bookkeeping table when it is missing.
	records, err := migrations.Set(s.dialect.driver).GetMigrationRecords(s.db.DB, s.dialect.migrateDialect)
	if err != nil {
		return err
	}
	for _, r := range records {
		if r.Id == migrations.Core {
			return nil
		}
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO "`+migrations.Table+`" ("id", "applied_at") VALUES (?, ?)`,
		migrations.Core, time.Now())
	if err == nil {
		s.log.Info("adopted existing Better Auth tables", zap.String("migration", migrations.Core))
	}
	return err
}

// ensureSQLiteFile creates the directory and an empty database file readable
// by the owner only (see sqliteConnector), unless the file exists.
func ensureSQLiteFile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create database directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create database file: %w", err)
	}
	return f.Close()
}

func (s *Store) applyMigrations(ctx context.Context) (int, error) {
	src, err := migrations.Source(s.dialect.driver)
	if err != nil {
		return 0, err
	}
	n, err := migrations.Set(s.dialect.driver).ExecContext(ctx, s.db.DB, s.dialect.migrateDialect, src, migrate.Up)
	// sql-migrate's TxError does not unwrap: unwrap it here so that driver
	// errors stay visible to errors.As (unique violation, unavailable).
	var txErr *migrate.TxError
	if errors.As(err, &txErr) {
		err = fmt.Errorf("apply %s: %w", txErr.Migration.Id, txErr.Err)
	}
	if err != nil {
		return n, wrap("migrate", err)
	}
	return n, nil
}

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
	return s.Detect(ctx)
}

// migrate applies pending migrations and returns how many it applied.
func (s *Store) migrate(ctx context.Context) (int, error) {
	if s.dialect == sqliteDialect {
		return s.migrateSQLite(ctx)
	}
	return s.migratePostgres(ctx)
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
	n, err := s.applyMigrations(ctx)
	if err != nil {
		return n, err
	}
	if err := tx.Commit(); err != nil {
		return n, wrap("migrate: release advisory lock", err)
	}
	return n, nil
}

// migrateSQLite serialises runs in this process with a mutex per file. Two
// processes starting on one file at once can still race on the bookkeeping
// row; the loser's insert fails on its primary key, and one retry, which then
// finds everything applied, settles it.
func (s *Store) migrateSQLite(ctx context.Context) (int, error) {
	mu, _ := sqliteLocks.LoadOrStore(s.sqlitePath, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()

	if err := ensureSQLiteFile(s.sqlitePath); err != nil {
		return 0, wrap("migrate", err)
	}
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
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'user'`).Scan(&tables)
	if err != nil || tables == 0 {
		return err
	}
	// Creates the bookkeeping table when it is missing.
	records, err := migrations.Set().GetMigrationRecords(s.db.DB, s.dialect.migrateDialect)
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
// by the owner only: the file holds password hashes and session tokens, and
// SQLite gives its -wal and -shm files the mode of the database file.
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
	n, err := migrations.Set().ExecContext(ctx, s.db.DB, s.dialect.migrateDialect, src, migrate.Up)
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

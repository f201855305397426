// Package migrations holds auth_gate's schema migrations as sql-migrate files,
// one directory per dialect, embedded in the binary.
//
// The files are plain sql-migrate migrations, so they also work with the
// sql-migrate CLI, e.g.
//
//	sql-migrate up -config=dbconfig.yml -env=production
//
// with `dir: migrations/postgres`, `table: auth_gate_migrations` and, on
// PostgreSQL, `schema: auth_gate` in dbconfig.yml. An install from before the
// own schema keeps its bookkeeping in the current schema: move it first with
//
//	CREATE SCHEMA IF NOT EXISTS auth_gate;
//	ALTER TABLE auth_gate_migrations SET SCHEMA auth_gate;
//
// (auth_gate itself does this at start).
package migrations

import (
	"embed"
	"fmt"

	migrate "github.com/rubenv/sql-migrate"
)

// Table is the bookkeeping table sql-migrate records applied migrations in.
// It is our own, so that it never collides with the bookkeeping of another
// tool (Better Auth, Drizzle) that manages the same database.
const Table = "auth_gate_migrations"

// Schema is the PostgreSQL schema of auth_gate's own tables and functions
// (bookkeeping, rate limits, revocation notices). Tools that manage the
// public schema, drizzle-kit push and Better Auth's migrate, never look
// there, so they never plan to drop what they did not create.
const Schema = "auth_gate"

// Core is the id of the migration that creates Better Auth's core tables.
const Core = "0001_better_auth_core.sql"

//go:embed postgres/*.sql sqlite/*.sql
var files embed.FS

// Source returns the migrations for driver "postgres" or "sqlite".
func Source(driver string) (migrate.MigrationSource, error) {
	switch driver {
	case "postgres", "sqlite":
		return migrate.EmbedFileSystemMigrationSource{FileSystem: files, Root: driver}, nil
	}
	return nil, fmt.Errorf("migrations: no migrations for driver %q", driver)
}

// Set returns the sql-migrate settings every caller must use on driver
// "postgres" or "sqlite", so that the bookkeeping always lands in Table (on
// PostgreSQL in Schema). On PostgreSQL the caller creates the bookkeeping
// table: sql-migrate would run CREATE SCHEMA IF NOT EXISTS first, which
// PostgreSQL refuses to a role without CREATE on the database even when an
// administrator made the schema for it.
func Set(driver string) migrate.MigrationSet {
	if driver == "postgres" {
		return migrate.MigrationSet{TableName: Table, SchemaName: Schema, DisableCreateTable: true}
	}
	return migrate.MigrationSet{TableName: Table}
}

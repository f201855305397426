// Package migrations holds auth_gate's schema migrations as sql-migrate files,
// one directory per dialect, embedded in the binary.
//
// The files are plain sql-migrate migrations, so they also work with the
// sql-migrate CLI, e.g.
//
//	sql-migrate up -config=dbconfig.yml -env=production
//
// with `dir: migrations/postgres` and `table: auth_gate_migrations` in
// dbconfig.yml.
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

// Set returns the sql-migrate settings every caller must use, so that the
// bookkeeping always lands in Table.
func Set() migrate.MigrationSet {
	return migrate.MigrationSet{TableName: Table}
}

package store

import (
	"context"

	"go.uber.org/zap"
)

// This file holds what Better Auth's admin plugin adds to the store: its
// columns on new users, and (below) the admin endpoints' data access.

// hasAdminUserColumns says whether the database has any of the admin
// plugin's user columns, which Better Auth with that plugin shows in every
// user's JSON (null for a column it lacks).
func (p Plugins) hasAdminUserColumns() bool {
	return p.Role || p.Banned || p.BanReason || p.BanExpires
}

// defaultRole is what Better Auth's admin plugin writes to a new user's role.
const defaultRole = "user"

// insertUserStatement inserts a user. With the admin plugin's role and
// banned columns it also writes what that plugin's create hook and
// defaults write (role "user", banned false), so that a user who signs up
// here looks to a Better Auth server sharing the database like one who
// signed up there.
func insertUserStatement(p Plugins) string {
	if p.Role && p.Banned {
		return `INSERT INTO "user" ("id", "name", "email", {emailVerified}, "image", {createdAt}, {updatedAt}, "role", "banned")
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`
	}
	return `INSERT INTO "user" ("id", "name", "email", {emailVerified}, "image", {createdAt}, {updatedAt})
			VALUES (?, ?, ?, ?, ?, ?, ?)`
}

// insertUserArgs are the arguments of insertUser for u, written at t; with
// the admin columns, u gets the defaults written.
func (q *queries) insertUserArgs(u *User, t any) []any {
	args := []any{u.ID, u.Name, u.Email, u.EmailVerified, u.Image, t, t}
	u.AdminColumns = q.info.Plugins.hasAdminUserColumns()
	if q.adminDefaults {
		u.Role, u.Banned = defaultRole, false
		args = append(args, defaultRole, false)
	}
	return args
}

// EnsureAdminSchema adds the admin plugin's columns that the database
// lacks, as Better Auth's migrate adds them (nullable; banned defaulting to
// false), named per the detected layout: "role", "banned", "banReason",
// "banExpires" on "user", "impersonatedBy" on "session" (ban_reason, … in
// snake_case). Existing columns are left as they are. It is idempotent, and
// safe when several instances start at once; afterwards the store reads the
// new columns.
func (s *Store) EnsureAdminSchema(ctx context.Context) error {
	ctx, cancel := boundSchemaWork(ctx)
	defer cancel()
	const op = "add the admin plugin's columns"
	q, err := s.queries(ctx)
	if err != nil {
		return wrap(op, err)
	}
	stmts := adminSchemaDDL(q.layout, s.dialect, q.info)
	if len(stmts) == 0 {
		return nil
	}
	for _, stmt := range stmts {
		if _, err := s.db.ExecContext(ctx, stmt); err != nil {
			// Another instance (SQLite has no ADD COLUMN IF NOT EXISTS)
			// may have added it meanwhile: what counts is that it exists.
			if derr := s.Detect(ctx); derr == nil && !s.Schema().Plugins.missingAdmin() {
				return nil
			}
			return wrap(op, err)
		}
	}
	if err := s.Detect(ctx); err != nil {
		return wrap(op, err)
	}
	s.log.Info("added the admin plugin's columns", zap.Strings("statements", stmts))
	return nil
}

func (p Plugins) missingAdmin() bool {
	return !(p.Role && p.Banned && p.BanReason && p.BanExpires && p.ImpersonatedBy)
}

// adminSchemaDDL is the DDL that adds what the admin plugin needs and info
// lacks: Better Auth's getMigrations types on the camelCase layout (text,
// boolean or integer default false, timestamptz or date), Drizzle's on the
// snake_case one, whose times follow the table's other times (timestamp,
// or integer milliseconds on SQLite).
func adminSchemaDDL(l layout, d *dialect, info SchemaInfo) []string {
	p := info.Plugins
	sqlite := d.driver == "sqlite"
	boolType, timeType := "boolean default false", "timestamptz"
	if sqlite {
		boolType, timeType = "integer default 0", "date"
	}
	if l == layoutSnake && (info.TimeColumns == "timestamp" || sqlite && info.TimeColumns == "integer") {
		timeType = info.TimeColumns
	}
	ifMissing := " if not exists"
	if sqlite {
		ifMissing = ""
	}
	var out []string
	add := func(have bool, table, field, typ string) {
		if !have {
			out = append(out, `alter table "`+table+`" add column`+ifMissing+` `+l.column(field)+` `+typ)
		}
	}
	add(p.Role, "user", "role", "text")
	add(p.Banned, "user", "banned", boolType)
	add(p.BanReason, "user", "banReason", "text")
	add(p.BanExpires, "user", "banExpires", timeType)
	add(p.ImpersonatedBy, "session", "impersonatedBy", "text")
	return out
}

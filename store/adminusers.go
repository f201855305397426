package store

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

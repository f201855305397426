package store

// queries are the statements of one layout and dialect, built once when the
// layout is known so that no call pays for string building. They are plain
// parameterised statements, never named prepared ones: a PgBouncer in
// transaction mode (Neon's pooled endpoint) cannot keep those.
type queries struct {
	layout layout

	insertUser           string
	insertAccount        string
	userByID             string
	credentialByEmail    string
	insertSession        string
	sessionByToken       string
	deleteSessionByToken string
	extendSession        string
}

// userColumns is the select list for a User, in the order scanUser expects,
// for a "user" table aliased u.
const userColumns = `u."id", u."name", u."email", u.{emailVerified}, u."image", u.{createdAt}, u.{updatedAt}`

// sessionColumns is the select list for a Session, in the order scanSession
// expects, for a "session" table aliased s.
const sessionColumns = `s."id", s."token", s.{userId}, s.{expiresAt}, s.{createdAt}, s.{updatedAt}, s.{ipAddress}, s.{userAgent}`

func buildQueries(l layout, d *dialect) *queries {
	x := func(tmpl string) string { return expand(tmpl, l, d) }
	return &queries{
		layout: l,
		insertUser: x(`INSERT INTO "user" ("id", "name", "email", {emailVerified}, "image", {createdAt}, {updatedAt})
			VALUES (?, ?, ?, ?, ?, ?, ?)`),
		insertAccount: x(`INSERT INTO "account" ("id", {accountId}, {providerId}, {userId}, "password", {createdAt}, {updatedAt})
			VALUES (?, ?, ?, ?, ?, ?, ?)`),
		userByID: x(`SELECT ` + userColumns + ` FROM "user" u WHERE u."id" = ?`),
		// Better Auth's credential account has providerId "credential" and
		// accountId equal to the user id; an account without a usable
		// password counts as absent.
		credentialByEmail: x(`SELECT ` + userColumns + `, a."password"
			FROM "user" u
			JOIN "account" a ON a.{userId} = u."id" AND a.{accountId} = u."id" AND a.{providerId} = 'credential'
			WHERE u."email" = ? AND a."password" IS NOT NULL AND a."password" <> ''
			LIMIT 1`),
		insertSession: x(`INSERT INTO "session" ("id", "token", {userId}, {expiresAt}, {createdAt}, {updatedAt}, {ipAddress}, {userAgent})
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
		sessionByToken: x(`SELECT ` + sessionColumns + `, ` + userColumns + `
			FROM "session" s JOIN "user" u ON u."id" = s.{userId}
			WHERE s."token" = ?`),
		deleteSessionByToken: x(`DELETE FROM "session" WHERE "token" = ?`),
		extendSession:        x(`UPDATE "session" SET {expiresAt} = ?, {updatedAt} = ? WHERE "id" = ?`),
	}
}

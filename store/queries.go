package store

import "time"

// queries are the statements of one layout and dialect, built once when the
// layout is known so that no call pays for string building. They are plain
// parameterised statements, run on the unnamed statement: a PgBouncer in
// transaction mode (Neon's pooled endpoint) cannot keep named ones. The
// session lookup alone may also run as a named statement where the
// connection is found to keep its session (see preparedLookups).
type queries struct {
	layout layout
	// detected says that info (and so the plugin columns the statements
	// read) comes from the database, not from Options alone.
	detected bool
	info     SchemaInfo
	// timeArg is the value written to a time column: the dialect's, or
	// integer milliseconds on a SQLite database whose time columns are
	// integers (Drizzle's SQLite schema), so that Better Auth reads our
	// rows as it reads its own.
	timeArg func(time.Time) any

	insertUser           string
	adminDefaults        bool   // insertUser also writes role and banned: see insertUserStatement
	insertAccount        string // takes the legacy issuer last when accountIssuer
	accountIssuer        bool
	userByID             string
	credentialByEmail    string
	insertSession        string
	sessionByToken       string
	sessionsByTokens     string // "" unless the dialect takes an array argument: see lookupBatcher
	deleteSessionByToken string
	extendSession        string

	userByEmail       string
	userExists        string
	updateUser        string
	markEmailVerified string
	liftExpiredBan    string // "" without the admin plugin's banned column
	deleteUser        string
	passwordHash      string
	updatePassword    string
	deleteAccounts    string

	listSessions        string
	deleteUserSession   string
	deleteSessions      string
	deleteOtherSessions string

	insertVerification  string
	verificationValue   string
	consumeVerification string

	accounts accountQueries

	twoFactor twoFactorQueries
}

// isCredential selects the credential account of user ? in an "account"
// table aliased a, as Better Auth identifies it: providerId "credential" and
// accountId equal to the user id.
const isCredential = `a.{userId} = ? AND a.{accountId} = a.{userId} AND a.{providerId} = 'credential'`

func buildQueries(l layout, d *dialect, p Plugins) *queries {
	x := func(tmpl string) string { return expand(tmpl, l, d) }
	// RETURNING names the columns of the modified table unqualified.
	userCols, returningUser := userColumns(p, "u.", ""), ` RETURNING `+userColumns(p, "", "")
	sessionColumns := sessionColumnsFor(p)
	sessionUserCols := sessionColumns + `, ` + userColumns(p, "u.", "user.")
	insertAccount := `INSERT INTO "account" ("id", {accountId}, {providerId}, {userId}, "password", {createdAt}, {updatedAt})
			VALUES (?, ?, ?, ?, ?, ?, ?)`
	if p.AccountIssuer {
		insertAccount = `INSERT INTO "account" ("id", {accountId}, {providerId}, {userId}, "password", {createdAt}, {updatedAt}, "issuer")
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
	}
	q := &queries{
		layout:        l,
		timeArg:       d.timeArgFor(""),
		insertUser:    x(insertUserStatement(p)),
		adminDefaults: p.Role && p.Banned,
		insertAccount: x(insertAccount),
		accountIssuer: p.AccountIssuer,
		userByID:      x(`SELECT ` + userCols + ` FROM "user" u WHERE u."id" = ?`),
		// Better Auth's credential account has providerId "credential" and
		// accountId equal to the user id; an account without a usable
		// password counts as absent.
		credentialByEmail: x(`SELECT ` + userCols + `, a."password" AS "password"
			FROM "user" u
			JOIN "account" a ON a.{userId} = u."id" AND a.{accountId} = u."id" AND a.{providerId} = 'credential'
			WHERE u."email" = ? AND a."password" IS NOT NULL AND a."password" <> ''
			LIMIT 1`),
		insertSession: x(`INSERT INTO "session" ("id", "token", {userId}, {expiresAt}, {createdAt}, {updatedAt}, {ipAddress}, {userAgent})
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
		sessionByToken: x(`SELECT ` + sessionUserCols + `
			FROM "session" s JOIN "user" u ON u."id" = s.{userId}
			WHERE s."token" = ?`),
		deleteSessionByToken: x(`DELETE FROM "session" WHERE "token" = ?`),
		extendSession:        x(`UPDATE "session" SET {expiresAt} = ?, {updatedAt} = ? WHERE "id" = ?`),

		userByEmail: x(`SELECT ` + userCols + ` FROM "user" u WHERE u."email" = ?`),
		userExists:  x(`SELECT count(*) FROM "user" WHERE "id" = ?`),
		// One statement for every combination of fields: the name is never
		// NULL, so NULL means "keep"; the image may be set NULL, so a flag
		// says whether to touch it.
		updateUser: x(`UPDATE "user" SET "name" = COALESCE(?, "name"),
			"image" = CASE WHEN ? THEN ? ELSE "image" END, {updatedAt} = ?
			WHERE "id" = ?` + returningUser),
		markEmailVerified: x(`UPDATE "user" SET {emailVerified} = ?, {updatedAt} = ? WHERE "id" = ?` + returningUser),
		deleteUser:        x(`DELETE FROM "user" WHERE "id" = ?`),
		passwordHash: x(`SELECT a."password" FROM "account" a
			WHERE ` + isCredential + ` AND a."password" IS NOT NULL AND a."password" <> ''
			LIMIT 1`),
		updatePassword: x(`UPDATE "account" AS a SET "password" = ?, {updatedAt} = ? WHERE ` + isCredential),
		deleteAccounts: x(`DELETE FROM "account" WHERE {userId} = ?`),

		listSessions: x(`SELECT ` + sessionColumns + ` FROM "session" s
			WHERE s.{userId} = ? AND ` + d.cmpTime(`s.{expiresAt}`) + ` > ?
			ORDER BY ` + d.cmpTime(`s.{createdAt}`) + `, s."id"`),
		deleteUserSession:   x(`DELETE FROM "session" WHERE "token" = ? AND {userId} = ? RETURNING "id"`),
		deleteSessions:      x(`DELETE FROM "session" WHERE {userId} = ? RETURNING "id"`),
		deleteOtherSessions: x(`DELETE FROM "session" WHERE {userId} = ? AND "token" <> ? RETURNING "id"`),

		insertVerification: x(`INSERT INTO "verification" ("id", "identifier", "value", {expiresAt}, {createdAt}, {updatedAt})
			VALUES (?, ?, ?, ?, ?, ?)`),
		// The newest live row, as Better Auth reads the newest row.
		verificationValue: x(`SELECT "value" FROM "verification"
			WHERE "identifier" = ? AND ` + d.cmpTime(`{expiresAt}`) + ` > ?
			ORDER BY ` + d.cmpTime(`{createdAt}`) + ` DESC LIMIT 1`),
		// A single DELETE … RETURNING is what makes a token single-use: of
		// two concurrent consumers only one gets the row back (PostgreSQL
		// re-checks a row deleted under it; SQLite serialises writers).
		consumeVerification: x(`DELETE FROM "verification" WHERE "identifier" = ?
			RETURNING ` + selectList("", "", "value", "expiresAt", "createdAt")),
	}
	if p.Banned && p.BanExpires {
		// Better Auth's own unban on sign-in clears all three. Without an
		// expiry column no ban ever runs out.
		set := `{banned} = ?, {banExpires} = NULL`
		if p.BanReason {
			set += `, {banReason} = NULL`
		}
		q.liftExpiredBan = x(`UPDATE "user" SET ` + set + `, {updatedAt} = ?
			WHERE "id" = ? AND ` + d.cmpTime(`{banExpires}`) + ` <= ?`)
	}
	q.accounts = buildAccountQueries(l, d, p)
	q.twoFactor = buildTwoFactorQueries(l, d)
	if d.anyArray {
		q.sessionsByTokens = x(`SELECT ` + sessionUserCols + `
			FROM "session" s JOIN "user" u ON u."id" = s.{userId}
			WHERE s."token" = ANY(?)`)
	}
	return q
}

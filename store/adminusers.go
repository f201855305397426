package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
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
	u.TwoFactorColumn = q.info.Plugins.TwoFactorEnabled
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

// ErrNoAdminColumns: the database lacks a column of the admin plugin that
// the call writes. `admin on` adds them at start.
var ErrNoAdminColumns = errors.New("store: the database lacks the admin plugin's columns: configure admin (admin on) to add them")

// ErrBadQuery: a user query names a field or operator that does not exist.
// Better Auth answers such a list-users with no users rather than an error.
var ErrBadQuery = errors.New("store: bad user query")

// UserQuery is Better Auth's list-users: an optional search (contains,
// starts_with or ends_with on email or name), an optional filter (one
// field, one of the adapter's operators), an order and a page. Field names
// are Better Auth's (emailVerified, banExpires, …) in either layout.
type UserQuery struct {
	SearchValue    string // "" for no search
	SearchField    string // email (default) or name
	SearchOperator string // contains (default), starts_with, ends_with

	Filter         bool // a filter is given
	FilterField    string
	FilterOperator string   // eq (default), ne, lt, lte, gt, gte, in, not_in, contains, starts_with, ends_with
	FilterValues   []string // one value; several for in and not_in

	SortBy        string // "" for creation order
	SortDirection string // asc (default) or desc

	Limit, Offset int // 0: none
}

// MaxListUsers bounds one list-users answer, so that memory stays bounded
// whatever the table holds; Better Auth has no bound of its own.
const MaxListUsers = 1000

type fieldKind uint8

const (
	kindText fieldKind = iota
	kindBool
	kindTime
)

// userFieldKinds are the user fields a query may name, on a database with
// plugins p.
func userFieldKinds(p Plugins) map[string]fieldKind {
	m := map[string]fieldKind{"id": kindText, "name": kindText, "email": kindText, "emailVerified": kindBool,
		"image": kindText, "createdAt": kindTime, "updatedAt": kindTime}
	for _, f := range []struct {
		ok   bool
		name string
		kind fieldKind
	}{{p.Role, "role", kindText}, {p.Banned, "banned", kindBool}, {p.BanReason, "banReason", kindText},
		{p.BanExpires, "banExpires", kindTime}, {p.TwoFactorEnabled, "twoFactorEnabled", kindBool}} {
		if f.ok {
			m[f.name] = f.kind
		}
	}
	return m
}

// QueryUsers answers a UserQuery: one page of users and how many match in
// all. ErrBadQuery for an unknown field, operator or value.
func (s *Store) QueryUsers(ctx context.Context, uq UserQuery) ([]User, int, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	const op = "list users"
	q, err := s.queries(ctx)
	if err != nil {
		return nil, 0, wrap(op, err)
	}
	d, kinds := s.dialect, userFieldKinds(q.info.Plugins)
	var where []string
	var args []any
	col := func(field string) (string, fieldKind, bool) {
		k, ok := kinds[field]
		if !ok {
			return "", 0, false
		}
		c := `u.{` + field + `}`
		if k == kindTime {
			c = d.cmpTime(c)
		}
		return c, k, true
	}
	arg := func(k fieldKind, v string) (any, bool) {
		switch k {
		case kindBool:
			switch v {
			case "true":
				return true, true
			case "false":
				return false, true
			}
			return nil, false
		case kindTime:
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return nil, false
			}
			return d.cmpTimeArg(normTime(t)), true
		}
		return v, true
	}
	like := func(operator, v string) (string, bool) {
		switch operator {
		case "contains":
			return "%" + v + "%", true
		case "starts_with":
			return v + "%", true
		case "ends_with":
			return "%" + v, true
		}
		return "", false
	}
	if uq.SearchValue != "" {
		field, operator := cmpOr(uq.SearchField, "email"), cmpOr(uq.SearchOperator, "contains")
		c, _, ok := col(field)
		pattern, okOp := like(operator, uq.SearchValue)
		if !ok || !okOp || (field != "email" && field != "name") {
			return nil, 0, wrap(op, ErrBadQuery)
		}
		where, args = append(where, c+` LIKE ?`), append(args, pattern)
	}
	if uq.Filter {
		field, operator := cmpOr(uq.FilterField, "email"), cmpOr(uq.FilterOperator, "eq")
		c, k, ok := col(field)
		if !ok || len(uq.FilterValues) == 0 {
			return nil, 0, wrap(op, ErrBadQuery)
		}
		last := uq.FilterValues[len(uq.FilterValues)-1]
		switch operator {
		case "in", "not_in":
			marks := make([]string, len(uq.FilterValues))
			for i, v := range uq.FilterValues {
				a, ok := arg(k, v)
				if !ok {
					return nil, 0, wrap(op, ErrBadQuery)
				}
				marks[i], args = "?", append(args, a)
			}
			not := ""
			if operator == "not_in" {
				not = "NOT "
			}
			where = append(where, c+` `+not+`IN (`+strings.Join(marks, ", ")+`)`)
		case "contains", "starts_with", "ends_with":
			pattern, _ := like(operator, last)
			where, args = append(where, c+` LIKE ?`), append(args, pattern)
		default:
			sqlOp, ok := map[string]string{"eq": "=", "ne": "<>", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}[operator]
			a, okArg := arg(k, last)
			if !ok || !okArg {
				return nil, 0, wrap(op, ErrBadQuery)
			}
			where, args = append(where, c+` `+sqlOp+` ?`), append(args, a)
		}
	}
	cond := ""
	if len(where) > 0 {
		cond = ` WHERE ` + strings.Join(where, " AND ")
	}
	order := d.cmpTime(`u.{createdAt}`) + `, u."id"`
	if uq.SortBy != "" {
		c, _, ok := col(uq.SortBy)
		dir := strings.ToUpper(cmpOr(uq.SortDirection, "asc"))
		if !ok || dir != "ASC" && dir != "DESC" {
			return nil, 0, wrap(op, ErrBadQuery)
		}
		order = c + ` ` + dir + `, u."id"`
	}
	limit := uq.Limit
	if limit <= 0 || limit > MaxListUsers {
		limit = MaxListUsers
	}
	list := expand(`SELECT `+userColumns(q.info.Plugins, "u.", "")+` FROM "user" u`+cond+
		` ORDER BY `+order+` LIMIT ? OFFSET ?`, q.layout, d)
	var rows []userRow
	if err := s.db.SelectContext(ctx, &rows, list, append(args[:len(args):len(args)], limit, max(uq.Offset, 0))...); err != nil {
		return nil, 0, wrap(op, err)
	}
	var total int
	if err := s.db.GetContext(ctx, &total, expand(`SELECT count(*) FROM "user" u`+cond, q.layout, d), args...); err != nil {
		return nil, 0, wrap(op, err)
	}
	users := make([]User, len(rows))
	for i := range rows {
		users[i] = rows[i].user()
	}
	return users, total, nil
}

func cmpOr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// NewAdminUser is what an admin's create-user hands to CreateUser.
type NewAdminUser struct {
	Name         string
	Email        string // already trimmed and lower-cased
	Role         string // the comma list to store
	PasswordHash string // "" for a user without a credential account
}

// CreateUser inserts a user with role nu.Role (the admin columns must
// exist) and, when nu.PasswordHash is set, its credential account, in one
// transaction. ErrEmailTaken when the email exists.
func (s *Store) CreateUser(ctx context.Context, nu NewAdminUser, now time.Time) (User, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	now = normTime(now)
	u := User{ID: NewID(), Name: nu.Name, Email: nu.Email, CreatedAt: now, UpdatedAt: now}
	q, err := s.queries(ctx)
	if err != nil {
		return User{}, wrap("create user", err)
	}
	t := q.timeArg(now)
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		if err := s.insertUserRow(ctx, tx, q, &u, t); err != nil {
			return err
		}
		if q.info.Plugins.Role {
			u.Role = nu.Role
			if _, err := tx.ExecContext(ctx, expand(`UPDATE "user" SET "role" = ? WHERE "id" = ?`, q.layout, s.dialect), nu.Role, u.ID); err != nil {
				return err
			}
		}
		if nu.PasswordHash == "" {
			return nil
		}
		return q.insertAccountRow(ctx, tx, u.ID, u.ID, "credential", nu.PasswordHash, t)
	})
	if err != nil {
		return User{}, wrap("create user "+u.ID, err)
	}
	return u, nil
}

// updateAdminUser applies set (SET clauses over Better Auth field names in
// braces) with args to userID, stamping updatedAt, and returns the user.
// ErrNotFound when there is no such user.
func (s *Store) updateAdminUser(ctx context.Context, tx sqlx.QueryerContext, q *queries, op, userID, set string, now time.Time, args ...any) (User, error) {
	stmt := expand(`UPDATE "user" SET `+set+`, {updatedAt} = ? WHERE "id" = ? RETURNING `+userColumns(q.info.Plugins, "", ""), q.layout, s.dialect)
	var r userRow
	err := sqlx.GetContext(ctx, tx, &r, stmt, append(args, q.timeArg(normTime(now)), userID)...)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return User{}, wrap(op, err)
	}
	return r.user(), nil
}

// SetRole stores role (a comma list) as userID's role.
func (s *Store) SetRole(ctx context.Context, userID, role string, now time.Time) (User, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	op := "set role of " + userID
	q, err := s.queries(ctx)
	if err != nil {
		return User{}, wrap(op, err)
	}
	if !q.info.Plugins.Role {
		return User{}, wrap(op, ErrNoAdminColumns)
	}
	return s.updateAdminUser(ctx, s.db, q, op, userID, `"role" = ?`, now, role)
}

// BanUser bans userID with reason until expires (nil: for good) and
// deletes all their sessions, in one transaction, as Better Auth's
// ban-user does; it returns the user and the deleted sessions' ids.
func (s *Store) BanUser(ctx context.Context, userID, reason string, expires *time.Time, now time.Time) (User, []string, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	op := "ban user " + userID
	q, err := s.queries(ctx)
	if err != nil {
		return User{}, nil, wrap(op, err)
	}
	p := q.info.Plugins
	if !p.Banned || !p.BanReason || !p.BanExpires {
		return User{}, nil, wrap(op, ErrNoAdminColumns)
	}
	var exp any
	if expires != nil {
		exp = q.timeArg(normTime(*expires))
	}
	var u User
	var revoked []string
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		var err error
		if u, err = s.updateAdminUser(ctx, tx, q, op, userID, `"banned" = ?, {banReason} = ?, {banExpires} = ?`, now, true, reason, exp); err != nil {
			return err
		}
		return tx.SelectContext(ctx, &revoked, q.deleteSessions, userID)
	})
	if err != nil {
		return User{}, nil, wrap(op, err)
	}
	return u, revoked, nil
}

// UnbanUser lifts userID's ban: banned false, reason and expiry cleared.
func (s *Store) UnbanUser(ctx context.Context, userID string, now time.Time) (User, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	op := "unban user " + userID
	q, err := s.queries(ctx)
	if err != nil {
		return User{}, wrap(op, err)
	}
	p := q.info.Plugins
	if !p.Banned || !p.BanReason || !p.BanExpires {
		return User{}, wrap(op, ErrNoAdminColumns)
	}
	return s.updateAdminUser(ctx, s.db, q, op, userID, `"banned" = ?, {banReason} = NULL, {banExpires} = NULL`, now, false)
}

// RevokeSessionByToken deletes the session with token, whoever owns it, and
// returns its id and its user's; ErrNotFound when there is none.
func (s *Store) RevokeSessionByToken(ctx context.Context, token string) (sessionID, userID string, err error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	const op = "revoke a session by token" // the token stays out of errors
	q, err := s.queries(ctx)
	if err != nil {
		return "", "", wrap(op, err)
	}
	var r struct {
		ID     string `db:"id"`
		UserID string `db:"user_id"`
	}
	err = s.db.GetContext(ctx, &r, expand(`DELETE FROM "session" WHERE "token" = ? RETURNING "id" AS "id", {userId} AS "user_id"`, q.layout, s.dialect), token)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return "", "", wrap(op, err)
	}
	return r.ID, r.UserID, nil
}

// CreateImpersonationSession inserts a session of ns.UserID whose
// impersonatedBy is adminID, as Better Auth's impersonate-user does.
func (s *Store) CreateImpersonationSession(ctx context.Context, ns NewSession, adminID string, now time.Time) (Session, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	op := "create an impersonation session for " + ns.UserID
	q, err := s.queries(ctx)
	if err != nil {
		return Session{}, wrap(op, err)
	}
	if !q.info.Plugins.ImpersonatedBy {
		return Session{}, wrap(op, ErrNoAdminColumns)
	}
	now = normTime(now)
	ip, ua, by := ns.IPAddress, ns.UserAgent, adminID
	ss := Session{ID: NewID(), Token: NewID(), UserID: ns.UserID, ExpiresAt: normTime(ns.ExpiresAt), CreatedAt: now, UpdatedAt: now,
		IPAddress: &ip, UserAgent: &ua, ImpersonatedBy: &by, ImpersonationColumn: true}
	t := q.timeArg(now)
	_, err = s.db.ExecContext(ctx, expand(`INSERT INTO "session" ("id", "token", {userId}, {expiresAt}, {createdAt}, {updatedAt}, {ipAddress}, {userAgent}, {impersonatedBy})
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, q.layout, s.dialect), ss.ID, ss.Token, ss.UserID, q.timeArg(ss.ExpiresAt), t, t, ip, ua, by)
	if err != nil {
		return Session{}, wrap(op, err)
	}
	return ss, nil
}

package store

import (
	"strings"
	"time"
)

// The row types below are what sqlx scans into. Every select list names its
// columns by these db tags, which are Better Auth's field names in
// snake_case: the alias is the same whatever the layout calls the column
// ("emailVerified" or "email_verified"), so one struct serves both, and the
// time and flag types read every representation the dialects hold.

// userRow is a row of "user" with the plugin columns User carries.
type userRow struct {
	ID               string  `db:"id"`
	Name             string  `db:"name"`
	Email            string  `db:"email"`
	EmailVerified    bool    `db:"email_verified"`
	Image            *string `db:"image"`
	CreatedAt        dbTime  `db:"created_at"`
	UpdatedAt        dbTime  `db:"updated_at"`
	TwoFactorEnabled dbFlag  `db:"two_factor_enabled"`
	Banned           dbFlag  `db:"banned"`
	BanExpires       *dbTime `db:"ban_expires"`
	Role             *string `db:"role"`
	BanReason        *string `db:"ban_reason"`
	AdminColumns     dbFlag  `db:"admin_columns"`     // a constant: see userColumns
	TwoFactorColumn  dbFlag  `db:"two_factor_column"` // a constant: see userColumns
}

func (r *userRow) user() User {
	return User{
		ID:               r.ID,
		Name:             r.Name,
		Email:            r.Email,
		EmailVerified:    r.EmailVerified,
		Image:            r.Image,
		CreatedAt:        time.Time(r.CreatedAt),
		UpdatedAt:        time.Time(r.UpdatedAt),
		TwoFactorEnabled: bool(r.TwoFactorEnabled),
		Banned:           bool(r.Banned),
		BanExpires:       optionalTime(r.BanExpires),
		Role:             deref(r.Role),
		BanReason:        r.BanReason,
		AdminColumns:     bool(r.AdminColumns),
		TwoFactorColumn:  bool(r.TwoFactorColumn),
	}
}

// sessionRow is a row of "session".
type sessionRow struct {
	ID        string  `db:"id"`
	Token     string  `db:"token"`
	UserID    string  `db:"user_id"`
	ExpiresAt dbTime  `db:"expires_at"`
	CreatedAt dbTime  `db:"created_at"`
	UpdatedAt dbTime  `db:"updated_at"`
	IPAddress *string `db:"ip_address"`
	UserAgent *string `db:"user_agent"`
	// The admin plugin's column, and a constant that says whether the
	// database has it (see sessionColumnsFor).
	ImpersonatedBy      *string `db:"impersonated_by"`
	ImpersonationColumn dbFlag  `db:"impersonation_column"`
}

func (r *sessionRow) session() Session {
	return Session{
		ID:        r.ID,
		Token:     r.Token,
		UserID:    r.UserID,
		ExpiresAt: time.Time(r.ExpiresAt),
		CreatedAt: time.Time(r.CreatedAt),
		UpdatedAt: time.Time(r.UpdatedAt),
		IPAddress: r.IPAddress,
		UserAgent: r.UserAgent,

		ImpersonatedBy:      r.ImpersonatedBy,
		ImpersonationColumn: bool(r.ImpersonationColumn),
	}
}

// sessionUserRow is a session joined with its user, whose columns are
// aliased under "user." (sqlx's nesting).
type sessionUserRow struct {
	sessionRow
	User userRow `db:"user"`
}

// credentialRow is a user with the password of its credential account.
type credentialRow struct {
	userRow
	Password string `db:"password"`
}

// verificationRow is what consuming a verification returns.
type verificationRow struct {
	Value     string `db:"value"`
	ExpiresAt dbTime `db:"expires_at"`
	CreatedAt dbTime `db:"created_at"`
}

// tag is the db tag, and so the column alias, of a Better Auth field.
func tag(field string) string {
	return strings.Trim(layoutSnake.column(field), `"`)
}

// selectList is a query template's select list of Better Auth fields of the
// table aliased table ("u.", or "" where RETURNING names the columns of the
// modified table), each aliased to its tag after prefix ("user." for a
// nested struct). A field named with a leading "-" reads as NULL: a plugin
// column the database lacks.
func selectList(table, prefix string, fields ...string) string {
	var b strings.Builder
	for i, f := range fields {
		if i > 0 {
			b.WriteString(", ")
		}
		if name, absent := strings.CutPrefix(f, "-"); absent {
			b.WriteString("NULL")
			f = name
		} else {
			b.WriteString(table + "{" + f + "}")
		}
		b.WriteString(` AS "` + prefix + tag(f) + `"`)
	}
	return b.String()
}

var (
	userFields    = []string{"id", "name", "email", "emailVerified", "image", "createdAt", "updatedAt"}
	sessionFields = []string{"id", "token", "userId", "expiresAt", "createdAt", "updatedAt", "ipAddress", "userAgent"}
)

// userColumns is the select list of a userRow from a "user" table aliased
// table, under prefix: the core columns, then those of plugins p.
func userColumns(p Plugins, table, prefix string) string {
	plugin := func(ok bool, field string) string {
		if !ok {
			return "-" + field
		}
		return field
	}
	fields := append(userFields[:len(userFields):len(userFields)],
		plugin(p.TwoFactorEnabled, "twoFactorEnabled"), plugin(p.Banned, "banned"), plugin(p.BanExpires, "banExpires"),
		plugin(p.Role, "role"), plugin(p.BanReason, "banReason"))
	return selectList(table, prefix, fields...) + constantColumn(p.hasAdminUserColumns(), prefix+"admin_columns") +
		constantColumn(p.TwoFactorEnabled, prefix+"two_factor_column")
}

// sessionColumnsFor is the select list of a sessionRow from a "session"
// table aliased s, on a database with plugins p.
func sessionColumnsFor(p Plugins) string {
	imp := "-impersonatedBy"
	if p.ImpersonatedBy {
		imp = "impersonatedBy"
	}
	return selectList("s.", "", append(sessionFields[:len(sessionFields):len(sessionFields)], imp)...) +
		constantColumn(p.ImpersonatedBy, "impersonation_column")
}

// constantColumn selects a flag that is the same for every row: what the
// database holds, which the row's reader cannot tell from a NULL.
func constantColumn(v bool, alias string) string {
	if v {
		return `, 1 AS "` + alias + `"`
	}
	return `, 0 AS "` + alias + `"`
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

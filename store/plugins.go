package store

import (
	"context"
	"net/url"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"go.uber.org/zap"
)

// Plugins says which columns and tables of Better Auth's plugins the
// database holds. They are found at start, in the naming of the
// detected layout: a database that the old service ran with the two-factor
// or admin plugin must not let in someone that service would have stopped.
type Plugins struct {
	TwoFactorEnabled bool // user.twoFactorEnabled (two-factor)
	TwoFactorTable   bool // table twoFactor / two_factor (two-factor)
	Role             bool // user.role (admin)
	Banned           bool // user.banned (admin)
	BanReason        bool // user.banReason (admin)
	BanExpires       bool // user.banExpires (admin)
	ImpersonatedBy   bool // session.impersonatedBy (admin)
	// AccountIssuer is the required account.issuer column that Better Auth
	// 1.7.0–1.7.2 added and later releases no longer write: every insert
	// into "account" must fill it.
	AccountIssuer bool
}

// SchemaInfo is what detection found: the column layout ("camel" or
// "snake"), how time columns are declared ("timestamptz" or "timestamp" on
// PostgreSQL; on SQLite the declared type, "integer" meaning milliseconds),
// and the plugin columns.
type SchemaInfo struct {
	Layout      string
	TimeColumns string
	Plugins     Plugins
}

// Schema returns what the last detection found; the zero value before one
// ran.
func (s *Store) Schema() SchemaInfo {
	if q := s.q.Load(); q != nil && q.detected {
		return q.info
	}
	return SchemaInfo{}
}

// found names the plugin columns and tables present, for the start-up log.
func (p Plugins) found(l layout) []string {
	col := func(table, field string) string { return table + "." + strings.Trim(l.column(field), `"`) }
	var out []string
	for _, c := range []struct {
		ok   bool
		name string
	}{
		{p.TwoFactorEnabled, col("user", "twoFactorEnabled")},
		{p.Role, col("user", "role")},
		{p.Banned, col("user", "banned")},
		{p.BanReason, col("user", "banReason")},
		{p.BanExpires, col("user", "banExpires")},
		{p.ImpersonatedBy, col("session", "impersonatedBy")},
		{p.AccountIssuer, "account.issuer"},
		{p.TwoFactorTable, l.table("twoFactor")},
	} {
		if c.ok {
			out = append(out, c.name)
		}
	}
	return out
}

// table is the name of a plugin table in layout l: Drizzle's generator
// snake_cases table names too.
func (l layout) table(model string) string {
	return strings.Trim(l.column(model), `"`)
}

// detectSchema reads the declared time type and the plugin columns of an
// existing database whose layout is l.
func detectSchema(ctx context.Context, db sqlx.QueryerContext, d *dialect, l layout) (SchemaInfo, error) {
	info := SchemaInfo{Layout: string(l)}
	var rows []struct {
		Table  string `db:"table_name"`
		Column string `db:"column_name"`
		Type   string `db:"column_type"`
	}
	if err := sqlx.SelectContext(ctx, db, &rows, d.columnsQuery); err != nil {
		return info, err
	}
	cols := make(map[string]string, len(rows)) // "table.column" -> declared type
	for _, r := range rows {
		cols[r.Table+"."+r.Column] = strings.ToLower(strings.TrimSpace(r.Type))
	}
	has := func(table, field string) bool {
		_, ok := cols[table+"."+strings.Trim(l.column(field), `"`)]
		return ok
	}
	info.TimeColumns = cols["user."+strings.Trim(l.column("createdAt"), `"`)]
	info.Plugins = Plugins{
		TwoFactorEnabled: has("user", "twoFactorEnabled"),
		Role:             has("user", "role"),
		Banned:           has("user", "banned"),
		BanReason:        has("user", "banReason"),
		BanExpires:       has("user", "banExpires"),
		ImpersonatedBy:   has("session", "impersonatedBy"),
		AccountIssuer:    has("account", "issuer"),
	}
	var n int
	if err := sqlx.GetContext(ctx, db, &n, d.rebind(d.tableExistsQuery), l.table("twoFactor")); err != nil {
		return info, err
	}
	info.Plugins.TwoFactorTable = n > 0
	return info, nil
}

// logDetected writes the start-up line about the database, once per store
// (one store per database): later detections, on a reload or a second
// Migrate, find the same.
func (s *Store) logDetected(info SchemaInfo) {
	if !s.logged.CompareAndSwap(false, true) {
		return
	}
	s.log.Info("database schema detected",
		zap.String("driver", s.dialect.driver),
		zap.String("layout", info.Layout),
		zap.String("time_columns", info.TimeColumns),
		zap.Strings("plugin_columns", info.Plugins.found(layout(info.Layout))))
}

// BannedAt reports whether the admin plugin's ban holds at t: banned, and
// banExpires unset or later than t. Better Auth lifts a ban whose expiry has
// passed instead of enforcing it.
func (u User) BannedAt(t time.Time) bool {
	return u.Banned && (u.BanExpires == nil || u.BanExpires.After(t))
}

// LiftExpiredBan clears the ban of userID (banned false, banReason and
// banExpires NULL, updatedAt now) when its expiry has passed at now, as
// Better Auth does when such a user signs in. A ban without an expiry, one
// still running, or a database without the admin columns is left alone.
func (s *Store) LiftExpiredBan(ctx context.Context, userID string, now time.Time) error {
	ctx, cancel := bound(ctx)
	defer cancel()
	op := "lift expired ban of " + userID
	q, err := s.queries(ctx)
	if err != nil {
		return wrap(op, err)
	}
	if q.liftExpiredBan == "" {
		return nil
	}
	t := normTime(now)
	if _, err := s.db.ExecContext(ctx, q.liftExpiredBan, false, q.timeArg(t), userID, s.dialect.cmpTimeArg(t)); err != nil {
		return wrap(op, err)
	}
	return nil
}

// legacyIssuer is the value Better Auth 1.7.0–1.7.2 wrote to account.issuer
// (its upgrade guide's backfill): the provider's issuer for OpenID Connect,
// local:credential for passwords, local:oauth:<encodeURIComponent(providerId)>
// for other OAuth providers.
func legacyIssuer(providerID, oidcIssuer string) string {
	switch {
	case oidcIssuer != "":
		return oidcIssuer
	case providerID == "credential":
		return "local:credential"
	}
	return "local:oauth:" + encodeURIComponent(providerID)
}

// encodeURIComponent is JavaScript's: everything but A-Z a-z 0-9 - _ . ! ~
// * ' ( ) is percent-encoded as UTF-8.
func encodeURIComponent(s string) string {
	e := url.QueryEscape(s) // also keeps only A-Z a-z 0-9 - _ . ~ unescaped
	e = strings.ReplaceAll(e, "+", "%20")
	for _, c := range []string{"!", "*", "'", "(", ")"} {
		e = strings.ReplaceAll(e, url.QueryEscape(c), c)
	}
	return e
}

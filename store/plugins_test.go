package store

import (
	"slices"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/authgate/authgate/internal/testsupport"
)

// pluginFixture is one database as a Better Auth deployment with plugins
// left it: the core tables of one tool, plus what that tool adds for the
// two-factor and admin plugins (or nothing, or the 1.7.0–1.7.2 issuer).
type pluginFixture struct {
	name     string
	postgres bool
	snake    bool
	// extra runs after the core tables exist; nil for none.
	extra []string
	// time is the time column kind the store should report.
	time string
}

func pluginFixtures() []pluginFixture {
	return []pluginFixture{
		{"better-auth postgres", true, false, testsupport.BetterAuthPostgresPluginDDL, "timestamptz"},
		{"drizzle postgres", true, true, testsupport.DrizzlePostgresPluginDDL, "timestamp"},
		{"better-auth sqlite", false, false, testsupport.BetterAuthSQLitePluginDDL, "text"},
		{"drizzle sqlite", false, true, testsupport.DrizzleSQLitePluginDDL, "integer"},
	}
}

// open creates the fixture's database with extra (the fixture's own when
// nil is passed as useOwn false) and starts a store on it as auth_gate
// starts: Migrate, which detects.
func (f pluginFixture) open(t *testing.T, extra []string, opts Options) *Store {
	t.Helper()
	var st *Store
	switch {
	case f.postgres:
		st = openStore(t, testsupport.PostgresDSN(t), opts)
		core := testsupport.BetterAuthPostgresDDL
		if f.snake {
			core = testsupport.DrizzlePostgresDDL
		}
		execAll(t, st, core...)
	case f.snake:
		st = openStore(t, testsupport.SQLiteDSN(t), opts)
		if err := ensureSQLiteFile(st.sqlitePath); err != nil {
			t.Fatal(err)
		}
		execAll(t, st, testsupport.DrizzleSQLiteDDL...)
	default:
		// Better Auth's SQLite core tables are what our migration creates.
		dsn := testsupport.SQLiteDSN(t)
		pre := migratedStore(t, dsn)
		_ = pre.Close()
		st = openStore(t, dsn, opts)
	}
	execAll(t, st, extra...)
	if err := st.Migrate(testCtx(t)); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return st
}

func TestDetect_ReportsLayoutTimeColumnsAndPluginColumns(t *testing.T) {
	all := Plugins{TwoFactorEnabled: true, Role: true, Banned: true, BanReason: true, BanExpires: true,
		ImpersonatedBy: true, TwoFactorTable: true}
	for _, f := range pluginFixtures() {
		t.Run(f.name, func(t *testing.T) {
			for _, tc := range []struct {
				name  string
				extra []string
				want  Plugins
			}{
				{"core only", nil, Plugins{}},
				{"two-factor and admin", f.extra, all},
			} {
				t.Run(tc.name, func(t *testing.T) {
					core, logs := observer.New(zap.InfoLevel)
					st := f.open(t, tc.extra, Options{Logger: zap.New(core)})
					info := st.Schema()
					wantLayout := "camel"
					if f.snake {
						wantLayout = "snake"
					}
					if info.Layout != wantLayout || info.TimeColumns != f.time || info.Plugins != tc.want {
						t.Errorf("Schema() = %+v, want layout %s, time %s, plugins %+v", info, wantLayout, f.time, tc.want)
					}
					// Detecting again (a second Migrate, a reload) logs nothing new.
					if err := st.Detect(testCtx(t)); err != nil {
						t.Fatal(err)
					}
					lines := logs.FilterMessage("database schema detected").All()
					if len(lines) != 1 {
						t.Fatalf("%d detection log lines, want 1: %v", len(lines), logs.All())
					}
					fields := lines[0].ContextMap()
					if fields["layout"] != wantLayout || fields["time_columns"] != f.time {
						t.Errorf("log fields = %v", fields)
					}
					found, _ := fields["plugin_columns"].([]any)
					if tc.want == (Plugins{}) && len(found) != 0 || tc.want != (Plugins{}) && !slices.Contains(found, any("user.banned")) {
						t.Errorf("plugin_columns = %v, want them named when present", fields["plugin_columns"])
					}
				})
			}
		})
	}
}

// setUserColumns writes plugin columns of a user with plain SQL, as Better
// Auth's admin or two-factor plugin would.
func setUserColumns(t *testing.T, st *Store, userID, set string, args ...any) {
	t.Helper()
	q, err := st.queries(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	stmt := expand(`UPDATE "user" SET `+set+` WHERE "id" = ?`, q.layout, st.dialect)
	if _, err := st.db.ExecContext(testCtx(t), stmt, append(args, userID)...); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
}

func TestPluginColumns_AreReadWithTheUser(t *testing.T) {
	for _, f := range pluginFixtures() {
		t.Run(f.name, func(t *testing.T) {
			st := f.open(t, f.extra, Options{})
			ctx := testCtx(t)
			q, _ := st.queries(ctx)
			plain := mkUser(t, st, "plain@example.com")
			banned := mkUser(t, st, "banned@example.com")
			until := time.Date(2031, 6, 1, 0, 0, 0, 0, time.UTC)
			setUserColumns(t, st, banned.ID, `{banned} = ?, {banReason} = ?, {banExpires} = ?, {twoFactorEnabled} = ?`,
				true, "spam", q.timeArg(until), true)

			got, err := st.UserByID(ctx, plain.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Banned || got.BanExpires != nil || got.TwoFactorEnabled {
				t.Errorf("a user the plugins never touched reads %+v", got)
			}

			sess := mkSession(t, st, banned.ID, testNow)
			_, u, err := st.SessionByToken(ctx, sess.Token)
			if err != nil {
				t.Fatal(err)
			}
			if !u.Banned || u.BanExpires == nil || !u.BanExpires.Equal(until) || !u.TwoFactorEnabled {
				t.Errorf("SessionByToken user = %+v, want banned until %v with two-factor", u, until)
			}
			u, _, err = st.CredentialByEmail(ctx, banned.Email)
			if err != nil {
				t.Fatal(err)
			}
			if !u.Banned || !u.TwoFactorEnabled {
				t.Errorf("CredentialByEmail user = %+v, want banned with two-factor", u)
			}
		})
	}
}

func TestUser_BannedAt(t *testing.T) {
	at := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	before, after := at.Add(-time.Millisecond), at.Add(time.Millisecond)
	for _, tc := range []struct {
		name string
		u    User
		want bool
	}{
		{"not banned", User{}, false},
		{"not banned, stale expiry", User{BanExpires: &after}, false},
		{"banned for good", User{Banned: true}, true},
		{"banned until later", User{Banned: true, BanExpires: &after}, true},
		{"ban ran out", User{Banned: true, BanExpires: &before}, false},
		{"ban runs out now", User{Banned: true, BanExpires: &at}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.u.BannedAt(at); got != tc.want {
				t.Errorf("BannedAt = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestLiftExpiredBan(t *testing.T) {
	for _, f := range pluginFixtures() {
		t.Run(f.name, func(t *testing.T) {
			st := f.open(t, f.extra, Options{})
			ctx := testCtx(t)
			q, _ := st.queries(ctx)
			expired := mkUser(t, st, "expired@example.com")
			current := mkUser(t, st, "current@example.com")
			liftAt := testNow.Add(time.Hour)
			setUserColumns(t, st, expired.ID, `{banned} = ?, {banReason} = ?, {banExpires} = ?`, true, "spam", q.timeArg(liftAt.Add(-time.Millisecond)))
			setUserColumns(t, st, current.ID, `{banned} = ?, {banReason} = ?, {banExpires} = ?`, true, "spam", q.timeArg(liftAt.Add(time.Second)))

			for _, id := range []string{expired.ID, current.ID} {
				if err := st.LiftExpiredBan(ctx, id, liftAt); err != nil {
					t.Fatalf("LiftExpiredBan: %v", err)
				}
			}
			u, err := st.UserByID(ctx, expired.ID)
			if err != nil {
				t.Fatal(err)
			}
			var reason *string
			if err := st.db.QueryRowContext(ctx, expand(`SELECT {banReason} FROM "user" WHERE "id" = ?`, q.layout, st.dialect), expired.ID).Scan(&reason); err != nil {
				t.Fatal(err)
			}
			if u.Banned || u.BanExpires != nil || reason != nil {
				t.Errorf("after an expired ban: banned %v, expires %v, reason %v; want false, NULL, NULL", u.Banned, u.BanExpires, reason)
			}
			assertTime(t, "updatedAt", u.UpdatedAt, normTime(liftAt))
			if u, _ := st.UserByID(ctx, current.ID); !u.Banned || u.BanExpires == nil {
				t.Errorf("a ban still running was lifted: %+v", u)
			}
		})
	}
	t.Run("without the admin columns", func(t *testing.T) {
		st := migratedStore(t, testsupport.SQLiteDSN(t))
		u := mkUser(t, st, "x@example.com")
		if err := st.LiftExpiredBan(testCtx(t), u.ID, testNow); err != nil {
			t.Errorf("LiftExpiredBan on a database without a ban column: %v", err)
		}
	})
}

func TestLegacyAccountIssuer_IsFilledOnInsert(t *testing.T) {
	for _, f := range pluginFixtures() {
		t.Run(f.name, func(t *testing.T) {
			extra := testsupport.LegacyAccountIssuerSQLiteDDL(f.snake)
			if f.postgres {
				extra = testsupport.LegacyAccountIssuerPostgresDDL(f.snake)
			}
			st := f.open(t, extra, Options{})
			ctx := testCtx(t)
			if !st.Schema().Plugins.AccountIssuer {
				t.Fatalf("account.issuer not detected: %+v", st.Schema())
			}
			u := mkUser(t, st, "issuer@example.com")
			// SetPassword creates the credential row of a user without one.
			q, _ := st.queries(ctx)
			if _, err := st.db.ExecContext(ctx, q.deleteAccounts, u.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := st.SetPassword(ctx, u.ID, "s:k2", false, testNow); err != nil {
				t.Fatalf("SetPassword creating the credential row: %v", err)
			}
			other := mkUser(t, st, "other@example.com")
			for _, id := range []string{u.ID, other.ID} {
				var issuer string
				err := st.db.QueryRowContext(ctx, expand(`SELECT "issuer" FROM "account" WHERE {userId} = ?`, q.layout, st.dialect), id).Scan(&issuer)
				if err != nil {
					t.Fatal(err)
				}
				if issuer != "local:credential" {
					t.Errorf("issuer = %q, want local:credential", issuer)
				}
			}
		})
	}
}

func TestLegacyIssuer(t *testing.T) {
	for _, tc := range []struct{ provider, oidcIssuer, want string }{
		{"credential", "", "local:credential"},
		{"github", "", "local:oauth:github"},
		{"my corp/sso", "", "local:oauth:my%20corp%2Fsso"},
		{"it's(ok)!*~", "", "local:oauth:it's(ok)!*~"},
		{"google", "https://accounts.google.com", "https://accounts.google.com"},
	} {
		if got := legacyIssuer(tc.provider, tc.oidcIssuer); got != tc.want {
			t.Errorf("legacyIssuer(%q, %q) = %q, want %q", tc.provider, tc.oidcIssuer, got, tc.want)
		}
	}
}

package caddyauth

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/authgate/authgate/internal/testsupport"
)

// pluginDDL is what the tool that made lc adds for Better Auth's two-factor
// and admin plugins.
func (lc layoutCase) pluginDDL() []string {
	switch {
	case strings.Contains(lc.name, "sqlite"):
		return testsupport.DrizzleSQLitePluginDDL
	case lc.snake:
		return testsupport.DrizzlePostgresPluginDDL
	}
	return testsupport.BetterAuthPostgresPluginDDL
}

// pluginDB is a database as a Better Auth deployment with the two-factor
// and admin plugins left it, holding Better Auth's user, password and
// session (betterAuthRows).
type pluginDB struct {
	lc   layoutCase
	dsn  string
	db   *sqlx.DB
	rows betterAuthRows
}

func newPluginDB(t *testing.T, lc layoutCase, extra ...string) *pluginDB {
	t.Helper()
	p := &pluginDB{lc: lc, dsn: lc.dsn(t)}
	p.db = testsupport.OpenDB(t, p.dsn)
	for _, stmt := range append(append(append([]string{}, lc.ddl...), lc.pluginDDL()...), extra...) {
		if _, err := p.db.Exec(stmt); err != nil {
			t.Fatalf("fixture DDL: %v\n%s", err, stmt)
		}
	}
	p.rows = lc.insertBetterAuthRows(t, p.db)
	return p
}

// exec runs a statement written with camelCase column names in {braces}.
func (p *pluginDB) exec(t *testing.T, tmpl string, args ...any) {
	t.Helper()
	q := tmpl
	for _, f := range []string{"userId", "banned", "banReason", "banExpires", "twoFactorEnabled", "accountId", "providerId", "createdAt", "updatedAt", "emailVerified"} {
		q = strings.ReplaceAll(q, "{"+f+"}", p.lc.col(f))
	}
	for i, a := range args {
		if b, ok := a.(bool); ok && strings.Contains(p.lc.name, "sqlite") {
			args[i] = map[bool]int{false: 0, true: 1}[b]
		}
	}
	if _, err := p.db.Exec(p.db.Rebind(q), args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func (p *pluginDB) sessionCount(t *testing.T) int {
	t.Helper()
	var n int
	if err := p.db.Get(&n, p.db.Rebind(`SELECT count(*) FROM "session" WHERE `+p.lc.col("userId")+` = ?`), p.rows.userID); err != nil {
		t.Fatal(err)
	}
	return n
}

const bannedMessage = "You have been banned from this application. Please contact support if you believe this is an error."

func signInBody(email, password string) string {
	return fmt.Sprintf(`{"email":%q,"password":%q}`, email, password)
}

// wantNoSessionCookie fails when w sets a session cookie.
func wantNoSessionCookie(t *testing.T, w *httptest.ResponseRecorder) {
	t.Helper()
	for _, sc := range w.Header().Values("Set-Cookie") {
		if strings.Contains(sc, "session_token=") && !strings.Contains(sc, "Max-Age=0") {
			t.Errorf("refused sign-in set a session cookie: %s", sc)
		}
	}
}

// TestPlugins_BannedUsersAreRefused: a user the old service banned
// gets 403 BANNED_USER at sign-in, with Better Auth's message and no session,
// and the sessions they hold are no sessions: 401 at the gate (cached or
// not), null at get-session, 401 at list-sessions. A ban whose expiry has
// passed is lifted at sign-in, as Better Auth does.
func TestPlugins_BannedUsersAreRefused(t *testing.T) {
	for _, lc := range adoptionLayouts() {
		t.Run(lc.name, func(t *testing.T) {
			p := newPluginDB(t, lc)
			tg := newTestGate(t, p.dsn, "schema auto")
			cookie := "better-auth.session_token=" + wireCookie(testSecret, p.rows.token)
			app := func() int {
				return tg.do(req("GET", "/app", "", "Cookie", cookie, "Accept", "application/json")).Code
			}
			// The session is good and now cached.
			if code := app(); code != 200 {
				t.Fatalf("gate before the ban: %d", code)
			}

			p.exec(t, `UPDATE "user" SET {banned} = ?, {banReason} = 'spam' WHERE "id" = ?`, true, p.rows.userID)
			// A change made behind the gate's back is seen within
			// session_cache (PostgreSQL notices make it sooner).
			setNow(t, time.Now().Add(11*time.Second))
			if code := app(); code != 401 {
				t.Errorf("gate with a banned user's session: %d, want 401", code)
			}
			if code := app(); code != 401 {
				t.Errorf("gate with a banned user's session, again (cache): %d, want 401", code)
			}
			if w := tg.do(req("GET", "/auth/get-session", "", "Cookie", cookie)); w.Code != 200 || strings.TrimSpace(w.Body.String()) != "null" {
				t.Errorf("get-session for a banned user: %d %s, want null", w.Code, w.Body)
			}
			wantError(t, tg.do(req("GET", "/auth/list-sessions", "", "Cookie", cookie)), 401, "UNAUTHORIZED")

			before := p.sessionCount(t)
			w := tg.do(req("POST", "/auth/sign-in/email", signInBody(p.rows.email, p.rows.password)))
			wantError(t, w, 403, "BANNED_USER")
			if m := decodeJSON(t, w); m["message"] != bannedMessage {
				t.Errorf("message = %q, want Better Auth's", m["message"])
			}
			wantNoSessionCookie(t, w)
			if n := p.sessionCount(t); n != before {
				t.Errorf("sessions %d -> %d: a refused sign-in created one", before, n)
			}
			// A wrong password says nothing about the ban.
			wantError(t, tg.do(req("POST", "/auth/sign-in/email", signInBody(p.rows.email, "wrongpass1"))), 401, "INVALID_EMAIL_OR_PASSWORD")

			// A ban that has not run out yet holds.
			future := time.Now().Add(time.Hour)
			p.exec(t, `UPDATE "user" SET {banExpires} = ? WHERE "id" = ?`, lc.timeFn(future), p.rows.userID)
			wantError(t, tg.do(req("POST", "/auth/sign-in/email", signInBody(p.rows.email, p.rows.password))), 403, "BANNED_USER")

			// One that has is lifted by the sign-in, which succeeds.
			p.exec(t, `UPDATE "user" SET {banExpires} = ? WHERE "id" = ?`, lc.timeFn(time.Now().Add(-time.Minute)), p.rows.userID)
			newCookie, _ := tg.signIn(p.rows.email, p.rows.password)
			var banned *bool
			var reason *string
			var expires any
			row := p.db.QueryRow(p.db.Rebind(`SELECT `+lc.col("banned")+`, `+lc.col("banReason")+`, `+lc.col("banExpires")+` FROM "user" WHERE "id" = ?`), p.rows.userID)
			if err := row.Scan(&banned, &reason, &expires); err != nil {
				t.Fatal(err)
			}
			if banned == nil || *banned || reason != nil || expires != nil {
				t.Errorf("after the expired ban: banned %v, reason %v, expires %v; want false, NULL, NULL", banned, reason, expires)
			}
			if w := tg.do(req("GET", "/app", "", "Cookie", newCookie, "Accept", "application/json")); w.Code != 200 {
				t.Errorf("gate after the ban was lifted: %d", w.Code)
			}
		})
	}
}

// TestPlugins_TwoFactorUsersGetNoSessionFromThePassword: a user enrolled
// under Better Auth gets the two-factor challenge (SPEC §8, §10), never a
// session or a session cookie on the password alone, whatever this gate's
// configuration. Sessions they already hold passed two-factor under Better
// Auth and stay.
func TestPlugins_TwoFactorUsersGetNoSessionFromThePassword(t *testing.T) {
	for _, lc := range adoptionLayouts() {
		t.Run(lc.name, func(t *testing.T) {
			p := newPluginDB(t, lc)
			p.exec(t, `UPDATE "user" SET {twoFactorEnabled} = ? WHERE "id" = ?`, true, p.rows.userID)
			tg := newTestGate(t, p.dsn, "schema auto")

			before := p.sessionCount(t)
			w := tg.do(req("POST", "/auth/sign-in/email", signInBody(p.rows.email, p.rows.password)))
			// No verified twoFactor row: Better Auth offers no method either.
			if w.Code != 200 || w.Body.String() != `{"twoFactorRedirect":true,"twoFactorMethods":[]}` {
				t.Fatalf("sign-in: %d %s, want Better Auth's two-factor redirect", w.Code, w.Body)
			}
			if setCookieLine(w, "two_factor") == "" {
				t.Errorf("no two_factor cookie: %q", w.Header().Values("Set-Cookie"))
			}
			wantNoSessionCookie(t, w)
			if strings.Contains(w.Body.String(), `"token"`) {
				t.Errorf("refused sign-in carries a token: %s", w.Body)
			}
			if n := p.sessionCount(t); n != before {
				t.Errorf("sessions %d -> %d: a refused sign-in created one", before, n)
			}
			wantError(t, tg.do(req("POST", "/auth/sign-in/email", signInBody(p.rows.email, "wrongpass1"))), 401, "INVALID_EMAIL_OR_PASSWORD")

			cookie := "better-auth.session_token=" + wireCookie(testSecret, p.rows.token)
			if w := tg.do(req("GET", "/app", "", "Cookie", cookie, "Accept", "application/json")); w.Code != 200 {
				t.Errorf("gate with the session Better Auth gave after two-factor: %d", w.Code)
			}
		})
	}
}

// TestPlugins_OAuthOnlyUsersCannotUseAPassword: a user with only
// an OAuth account row gets Better Auth's INVALID_EMAIL_OR_PASSWORD, even
// when the OAuth row holds something in its password column.
func TestPlugins_OAuthOnlyUsersCannotUseAPassword(t *testing.T) {
	for _, lc := range adoptionLayouts() {
		t.Run(lc.name, func(t *testing.T) {
			p := newPluginDB(t, lc)
			created := time.Now().Add(-time.Hour)
			p.exec(t, `INSERT INTO "user" ("id", "name", "email", {emailVerified}, {createdAt}, {updatedAt}) VALUES (?, 'G', 'gh@example.com', ?, ?, ?)`,
				"ghUser0000000000000000000000000A", true, lc.timeFn(created), lc.timeFn(created))
			p.exec(t, `INSERT INTO "account" ("id", {accountId}, {providerId}, {userId}, "password", {createdAt}, {updatedAt}) VALUES (?, '583231', 'github', ?, ?, ?, ?)`,
				"ghAcct0000000000000000000000000A", "ghUser0000000000000000000000000A", "", lc.timeFn(created), lc.timeFn(created))
			tg := newTestGate(t, p.dsn, "schema auto")
			w := tg.do(req("POST", "/auth/sign-in/email", signInBody("gh@example.com", "password123")))
			wantError(t, w, 401, "INVALID_EMAIL_OR_PASSWORD")
			wantNoSessionCookie(t, w)
		})
	}
}

// TestPlugins_LegacyAccountIssuerIsFilled: on a database that
// Better Auth 1.7.0–1.7.2 migrated, account.issuer is required; sign-up
// fills it as those releases did instead of failing.
func TestPlugins_LegacyAccountIssuerIsFilled(t *testing.T) {
	for _, lc := range adoptionLayouts() {
		t.Run(lc.name, func(t *testing.T) {
			dsn := lc.dsn(t)
			db := testsupport.OpenDB(t, dsn)
			extra := testsupport.LegacyAccountIssuerPostgresDDL(lc.snake)
			if strings.Contains(lc.name, "sqlite") {
				extra = testsupport.LegacyAccountIssuerSQLiteDDL(lc.snake)
			}
			for _, stmt := range append(append([]string{}, lc.ddl...), extra...) {
				if _, err := db.Exec(stmt); err != nil {
					t.Fatalf("fixture DDL: %v\n%s", err, stmt)
				}
			}
			tg := newTestGate(t, dsn, "schema auto")
			_, resp := tg.signUp("Ivy", "ivy@example.com", "password123")
			id := resp["user"].(map[string]any)["id"]
			var issuer string
			if err := db.Get(&issuer, db.Rebind(`SELECT "issuer" FROM "account" WHERE `+lc.col("userId")+` = ?`), id); err != nil {
				t.Fatal(err)
			}
			if issuer != "local:credential" {
				t.Errorf("issuer = %q, want local:credential", issuer)
			}
			tg.signIn("ivy@example.com", "password123")
		})
	}
}

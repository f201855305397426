package caddyauth

import (
	"encoding/hex"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"golang.org/x/crypto/scrypt"

	"github.com/authgate/authgate/internal/testsupport"
)

// betterAuthRows inserts a user with a password and a live session the way
// Better Auth writes them, the password hashed here with the documented
// scrypt parameters, independently of the password package.
type betterAuthRows struct {
	userID, email, password, sessionID, token string
}

// layoutCase is one database as an existing Better Auth deployment left it.
type layoutCase struct {
	name   string
	dsn    func(t *testing.T) string
	ddl    []string
	snake  bool
	timeFn func(time.Time) any // how Better Auth's adapter writes a time there
}

func adoptionLayouts() []layoutCase {
	utc := func(t time.Time) any { return t.UTC() }
	// Drizzle writes Date.toISOString() into timestamp without time zone:
	// UTC wall clock.
	wall := func(t time.Time) any { return t.UTC().Format("2006-01-02 15:04:05.000") }
	millis := func(t time.Time) any { return t.UnixMilli() }
	return []layoutCase{
		{"better-auth migrate (camelCase, timestamptz)", func(t *testing.T) string { return testsupport.PostgresDSN(t) }, testsupport.BetterAuthPostgresDDL, false, utc},
		{"drizzle (snake_case, timestamp)", func(t *testing.T) string { return testsupport.PostgresDSN(t) }, testsupport.DrizzlePostgresDDL, true, wall},
		{"drizzle sqlite (snake_case, integer ms)", func(t *testing.T) string { return testsupport.SQLiteDSN(t) }, testsupport.DrizzleSQLiteDDL, true, millis},
	}
}

func (lc layoutCase) col(camel string) string {
	if !lc.snake {
		return `"` + camel + `"`
	}
	var b strings.Builder
	for _, r := range camel {
		if r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return `"` + b.String() + `"`
}

func (lc layoutCase) insertBetterAuthRows(t *testing.T, db *sqlx.DB) betterAuthRows {
	t.Helper()
	rows := betterAuthRows{
		userID: "mBOUH7haEqclbZ7cYQBrdhwBGnrc6UUx", email: "alice@example.com", password: "password123",
		sessionID: "MTmgjKWeZtWQ1Hh5EQwG8oO5Yg2msl3c", token: "i2O97hTC1WMAPXdeAEtU7n8dgUVB9lee",
	}
	salt := "f61548fec73c2d33bb757bc55b227d51"
	key, err := scrypt.Key([]byte(rows.password), []byte(salt), 16384, 16, 1, 64)
	if err != nil {
		t.Fatal(err)
	}
	hash := salt + ":" + hex.EncodeToString(key)
	created := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	verified := any(false)
	if strings.Contains(lc.name, "sqlite") {
		verified = 0
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(db.Rebind(q), args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	c := lc.col
	exec(fmt.Sprintf(`INSERT INTO "user" ("id", "name", "email", %s, "image", %s, %s) VALUES (?, ?, ?, ?, NULL, ?, ?)`,
		c("emailVerified"), c("createdAt"), c("updatedAt")),
		rows.userID, "Alice", rows.email, verified, lc.timeFn(created), lc.timeFn(created))
	exec(fmt.Sprintf(`INSERT INTO "account" ("id", %s, %s, %s, "password", %s, %s) VALUES (?, ?, 'credential', ?, ?, ?, ?)`,
		c("accountId"), c("providerId"), c("userId"), c("createdAt"), c("updatedAt")),
		"F47YlOKOgiUdO6GIodgJTqH1XgtKSFNf", rows.userID, rows.userID, hash, lc.timeFn(created), lc.timeFn(created))
	exec(fmt.Sprintf(`INSERT INTO "session" ("id", %s, "token", %s, %s, %s, %s, %s) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		c("expiresAt"), c("createdAt"), c("updatedAt"), c("ipAddress"), c("userAgent"), c("userId")),
		rows.sessionID, lc.timeFn(created.Add(7*24*time.Hour)), rows.token, lc.timeFn(created), lc.timeFn(created),
		"203.0.113.7", "probe/1.0", rows.userID)
	return rows
}

// TestAdoption_ExistingBetterAuthDatabasesWorkUnchanged: a database created
// by Better Auth's own migrate or by its Drizzle generator, with a user,
// password and session Better Auth wrote, is used as it is: the password
// signs in, Better Auth's session cookie passes the gate, and the schema of
// Better Auth's tables is exactly what it was.
func TestAdoption_ExistingBetterAuthDatabasesWorkUnchanged(t *testing.T) {
	for _, lc := range adoptionLayouts() {
		t.Run(lc.name, func(t *testing.T) {
			dsn := lc.dsn(t)
			db := testsupport.OpenDB(t, dsn)
			for _, stmt := range lc.ddl {
				if _, err := db.Exec(stmt); err != nil {
					t.Fatalf("layout DDL: %v\n%s", err, stmt)
				}
			}
			rows := lc.insertBetterAuthRows(t, db)
			before := testsupport.SchemaSnapshot(t, db)

			tg := newTestGate(t, dsn, "schema auto")

			// Better Auth's cookie for its own session.
			cookie := "better-auth.session_token=" + wireCookie(testSecret, rows.token)
			w := tg.do(req("GET", "/auth/get-session", "", "Cookie", cookie))
			m := decodeJSON(t, w)
			sess, _ := m["session"].(map[string]any)
			if w.Code != 200 || sess["id"] != rows.sessionID || sess["userAgent"] != "probe/1.0" {
				t.Fatalf("get-session with Better Auth's cookie: %d %s", w.Code, w.Body)
			}
			if w := tg.do(req("GET", "/app", "", "Cookie", cookie)); w.Code != 200 || tg.next.header.Get("X-User-Id") != rows.userID {
				t.Fatalf("gate with Better Auth's cookie: %d, X-User-Id %q", w.Code, tg.next.header.Get("X-User-Id"))
			}

			// Better Auth's password hash signs in, and what we write reads back.
			newCookie, in := tg.signIn(rows.email, rows.password)
			if in["user"].(map[string]any)["id"] != rows.userID {
				t.Fatalf("sign-in answered %v", in)
			}
			if w := tg.do(req("GET", "/auth/get-session", "", "Cookie", newCookie)); w.Code != 200 || w.Body.String() == "null" {
				t.Fatalf("our own session on the adopted layout: %d %s", w.Code, w.Body)
			}
			wantError(t, tg.do(req("POST", "/auth/sign-in/email", `{"email":"alice@example.com","password":"wrongpass1"}`)), 401, "INVALID_EMAIL_OR_PASSWORD")
			tg.signUp("Bob", "bob@example.com", "password123")

			after := testsupport.SchemaSnapshot(t, db)
			if !reflect.DeepEqual(schemaOnly(before), schemaOnly(after)) {
				t.Errorf("starting auth_gate changed Better Auth's schema:\nbefore %q\nafter  %q", before, after)
			}
		})
	}
}

// schemaOnly drops the row digests: the test writes rows on purpose.
func schemaOnly(snapshot []string) []string {
	var out []string
	for _, s := range snapshot {
		if !strings.Contains(s, " rows ") {
			out = append(out, s)
		}
	}
	return out
}

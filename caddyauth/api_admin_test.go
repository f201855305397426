package caddyauth

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/testsupport"
)

// adminSite is a gate with `admin on`, an admin (ada) made by SQL, and two
// plain users.
type adminSite struct {
	t       *testing.T
	tg      *testGate
	audit   *auditLog
	cookies map[string]string // by name
	ids     map[string]string
	tokens  map[string]string
}

func newAdminSite(t *testing.T, dsn, block string) *adminSite {
	t.Helper()
	tg := newTestGate(t, dsn, block)
	s := &adminSite{t: t, tg: tg, cookies: map[string]string{}, ids: map[string]string{}, tokens: map[string]string{}}
	for _, name := range []string{"ada", "bob", "carol"} {
		cookie, resp := tg.signUp(name, name+"@example.com", "password123")
		s.cookies[name], s.tokens[name] = cookie, resp["token"].(string)
		s.ids[name] = resp["user"].(map[string]any)["id"].(string)
	}
	db := testsupport.OpenDB(t, dsn)
	if _, err := db.Exec(db.Rebind(`UPDATE "user" SET "role" = 'user,admin' WHERE "id" = ?`), s.ids["ada"]); err != nil {
		t.Fatal(err)
	}
	s.audit = captureAudit(t, tg.g)
	return s
}

// call sends an admin request as who ("" for nobody), with the site's own
// Origin on POSTs.
func (s *adminSite) call(who, method, path, body string) *httptest.ResponseRecorder {
	s.t.Helper()
	h := []string{"User-Agent", auditUA}
	if c := s.cookies[who]; c != "" {
		h = append(h, "Cookie", c)
	}
	if method == "POST" {
		h = append(h, "Origin", "http://example.com")
	}
	return s.tg.do(req(method, "/auth/admin/"+path, body, h...))
}

// ok checks a 200 and decodes the answer.
func (s *adminSite) ok(w *httptest.ResponseRecorder) map[string]any {
	s.t.Helper()
	if w.Code != 200 {
		s.t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	return decodeJSON(s.t, w)
}

func (s *adminSite) gate(who string) int {
	return s.tg.do(req("GET", "/app", "", "Cookie", s.cookies[who], "Accept", "application/json")).Code
}

// TestAdmin_OnlyAdminsMayCall: every endpoint answers 401 without a
// session, 403 with its own code for a user without an admin role, 404
// when admin is off; the roles allowed are configurable; cookie-bearing
// POSTs need the site's origin.
func TestAdmin_OnlyAdminsMayCall(t *testing.T) {
	s := newAdminSite(t, testsupport.SQLiteDSN(t), "admin on")
	endpoints := []struct{ method, path, body, code string }{
		{"GET", "list-users", "", "YOU_ARE_NOT_ALLOWED_TO_LIST_USERS"},
		{"GET", "get-user?id=" + s.ids["carol"], "", "YOU_ARE_NOT_ALLOWED_TO_GET_USER"},
		{"POST", "create-user", `{"email":"x@example.com","name":"X"}`, "YOU_ARE_NOT_ALLOWED_TO_CREATE_USERS"},
		{"POST", "set-role", `{"userId":"` + s.ids["bob"] + `","role":"admin"}`, "YOU_ARE_NOT_ALLOWED_TO_CHANGE_USERS_ROLE"},
		{"POST", "ban-user", `{"userId":"` + s.ids["carol"] + `"}`, "YOU_ARE_NOT_ALLOWED_TO_BAN_USERS"},
		{"POST", "unban-user", `{"userId":"` + s.ids["carol"] + `"}`, "YOU_ARE_NOT_ALLOWED_TO_BAN_USERS"},
		{"POST", "list-user-sessions", `{"userId":"` + s.ids["carol"] + `"}`, "YOU_ARE_NOT_ALLOWED_TO_LIST_USERS_SESSIONS"},
		{"POST", "revoke-user-session", `{"sessionToken":"` + s.tokens["carol"] + `"}`, "YOU_ARE_NOT_ALLOWED_TO_REVOKE_USERS_SESSIONS"},
		{"POST", "revoke-user-sessions", `{"userId":"` + s.ids["carol"] + `"}`, "YOU_ARE_NOT_ALLOWED_TO_REVOKE_USERS_SESSIONS"},
		{"POST", "remove-user", `{"userId":"` + s.ids["carol"] + `"}`, "YOU_ARE_NOT_ALLOWED_TO_DELETE_USERS"},
		{"POST", "set-user-password", `{"userId":"` + s.ids["carol"] + `","newPassword":"password456"}`, "YOU_ARE_NOT_ALLOWED_TO_SET_USERS_PASSWORD"},
	}
	for _, ep := range endpoints {
		t.Run(ep.path, func(t *testing.T) {
			wantBare(t, s.call("", ep.method, ep.path, ep.body), 401)
			wantError(t, s.call("bob", ep.method, ep.path, ep.body), 403, ep.code)
			s.audit.want(eventAdminDenied, reasonNotAdmin, s.ids["bob"], "*")
		})
	}
	// As Better Auth's admin middleware, APIError.fromStatus("UNAUTHORIZED").
	for _, path := range []string{"impersonate-user", "stop-impersonating"} {
		wantBare(t, s.call("", "POST", path, `{"userId":"`+s.ids["carol"]+`"}`), 401)
	}
	if s.gate("carol") != 200 {
		t.Error("a refused call changed carol's session")
	}
	// The caller's role is read afresh: a role taken away by SQL counts at
	// once, whatever the session cache holds.
	s.ok(s.call("ada", "GET", "list-users", ""))
	db := testsupport.OpenDB(t, s.tg.g.Database)
	if _, err := db.Exec(`UPDATE "user" SET "role" = 'user' WHERE "email" = 'ada@example.com'`); err != nil {
		t.Fatal(err)
	}
	wantError(t, s.call("ada", "GET", "list-users", ""), 403, "YOU_ARE_NOT_ALLOWED_TO_LIST_USERS")
	if _, err := db.Exec(`UPDATE "user" SET "role" = 'admin' WHERE "email" = 'ada@example.com'`); err != nil {
		t.Fatal(err)
	}
	t.Run("origin", func(t *testing.T) {
		w := s.tg.do(req("POST", "/auth/admin/ban-user", `{"userId":"`+s.ids["carol"]+`"}`, "Cookie", s.cookies["ada"]))
		wantError(t, w, 403, "INVALID_ORIGIN")
	})
	t.Run("admin off", func(t *testing.T) {
		off := newTestGate(t, testsupport.SQLiteDSN(t), "")
		cookie, _ := off.signUp("Ada", "ada@example.com", "password123")
		wantBare(t, off.do(req("GET", "/auth/admin/list-users", "", "Cookie", cookie)), 404)
		wantBare(t, off.do(req("POST", "/auth/admin/stop-impersonating", "", "Cookie", cookie, "Origin", "http://example.com")), 404)
	})
	t.Run("roles", func(t *testing.T) {
		custom := newAdminSite(t, testsupport.SQLiteDSN(t), "admin {\nroles superadmin support\n}")
		wantError(t, custom.call("ada", "GET", "list-users", ""), 403, "YOU_ARE_NOT_ALLOWED_TO_LIST_USERS")
		db := testsupport.OpenDB(t, custom.tg.g.Database)
		if _, err := db.Exec(`UPDATE "user" SET "role" = 'support' WHERE "email" = 'bob@example.com'`); err != nil {
			t.Fatal(err)
		}
		custom.ok(custom.call("bob", "GET", "list-users", ""))
	})
}

// TestAdmin_Endpoints: each endpoint with Better Auth's shapes, and what
// it does to sessions at the gate.
func TestAdmin_Endpoints(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		s := newAdminSite(t, dsn, "admin on")
		users := func(query string) ([]string, map[string]any) {
			t.Helper()
			m := s.ok(s.call("ada", "GET", "list-users"+query, ""))
			var emails []string
			for _, u := range m["users"].([]any) {
				emails = append(emails, u.(map[string]any)["email"].(string))
			}
			return emails, m
		}

		t.Run("list-users", func(t *testing.T) {
			for _, tc := range []struct{ query, want string }{
				{"", "ada bob carol"},
				{"?searchValue=bo", "bob"},
				{"?searchValue=ca&searchField=name&searchOperator=starts_with", "carol"},
				{"?searchValue=example.com&searchOperator=ends_with", "ada bob carol"},
				{"?sortBy=email&sortDirection=desc", "carol bob ada"},
				{"?sortBy=email&limit=1&offset=1", "bob"},
				{"?filterField=role&filterValue=user,admin", "ada"},
				{"?filterField=role&filterValue=user&filterOperator=ne", "ada"},
				{"?filterField=email&filterOperator=in&filterValue=ada@example.com&filterValue=carol@example.com", "ada carol"},
				{"?filterField=banned&filterValue=false", "ada bob carol"},
				{"?sortBy=nope", ""},
			} {
				got, m := users(tc.query)
				var want []string
				for _, name := range strings.Fields(tc.want) {
					want = append(want, name+"@example.com")
				}
				if strings.Join(got, " ") != strings.Join(want, " ") {
					t.Errorf("%s: %v, want %v (%v)", tc.query, got, want, m)
				}
			}
			_, m := users("?limit=1&offset=1")
			if m["total"] != float64(3) || m["limit"] != float64(1) || m["offset"] != float64(1) {
				t.Errorf("paging: total %v limit %v offset %v", m["total"], m["limit"], m["offset"])
			}
			_, m = users("")
			if _, ok := m["limit"]; ok {
				t.Errorf("limit without one asked: %v", m)
			}
			u := m["users"].([]any)[1].(map[string]any)
			for _, k := range []string{"role", "banned", "banReason", "banExpires"} {
				if _, ok := u[k]; !ok {
					t.Errorf("user JSON lacks %s: %v", k, u)
				}
			}
			if u["role"] != "user" || u["banned"] != false {
				t.Errorf("bob: %v", u)
			}
			wantError(t, s.call("ada", "GET", "list-users?searchField=bad&searchValue=x", ""), 400, "VALIDATION_ERROR")
		})

		t.Run("get-user", func(t *testing.T) {
			s.audit.since()
			u := s.ok(s.call("ada", "GET", "get-user?id="+s.ids["bob"], ""))
			s.audit.want(eventAdminGetUser, "", s.ids["ada"], "*")
			if u["email"] != "bob@example.com" || u["role"] != "user" {
				t.Errorf("get-user: %v", u)
			}
			wantError(t, s.call("ada", "GET", "get-user?id=nobody", ""), 404, "USER_NOT_FOUND")
		})

		t.Run("create-user", func(t *testing.T) {
			s.audit.since()
			m := s.ok(s.call("ada", "POST", "create-user", `{"email":"Dan@Example.com","name":"Dan","password":"password123","role":["analyst","user"]}`))
			u := m["user"].(map[string]any)
			if u["email"] != "dan@example.com" || u["role"] != "analyst,user" || u["emailVerified"] != false {
				t.Errorf("created: %v", u)
			}
			s.audit.want(eventAdminCreateUser, "", s.ids["ada"], "*")
			s.tg.signIn("dan@example.com", "password123")
			wantError(t, s.call("ada", "POST", "create-user", `{"email":"dan@example.com","name":"Dan"}`), 400, "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL")
			wantError(t, s.call("ada", "POST", "create-user", `{"email":"nope","name":"N"}`), 400, "INVALID_EMAIL")
			wantError(t, s.call("ada", "POST", "create-user", `{"email":"e@example.com","name":"E","role":[1]}`), 400, "INVALID_ROLE_TYPE")
			u = s.ok(s.call("ada", "POST", "create-user", `{"email":"eve@example.com","name":"Eve"}`))["user"].(map[string]any)
			if u["role"] != "user" {
				t.Errorf("default role: %v", u["role"])
			}
			w := s.tg.do(req("POST", "/auth/sign-in/email", signInBody("eve@example.com", "anything1")))
			wantError(t, w, 401, "INVALID_EMAIL_OR_PASSWORD")
		})

		t.Run("set-role", func(t *testing.T) {
			s.audit.since()
			if s.gate("bob") != 200 {
				t.Fatal("bob's session")
			}
			u := s.ok(s.call("ada", "POST", "set-role", `{"userId":"`+s.ids["bob"]+`","role":["user","analyst"]}`))["user"].(map[string]any)
			if u["role"] != "user,analyst" {
				t.Errorf("set-role: %v", u)
			}
			s.audit.want(eventAdminSetRole, "", s.ids["ada"], "*")
			// At once on this instance, whatever the cache held.
			if s.gate("bob") != 200 || s.tg.next.header.Get("X-User-Role") != "user,analyst" {
				t.Errorf("X-User-Role after set-role: %q", s.tg.next.header.Get("X-User-Role"))
			}
			wantError(t, s.call("ada", "POST", "set-role", `{"userId":"nobody","role":"admin"}`), 404, "USER_NOT_FOUND")
			wantError(t, s.call("ada", "POST", "set-role", `{"userId":"`+s.ids["bob"]+`"}`), 400, "VALIDATION_ERROR")
		})

		t.Run("ban-user and unban-user", func(t *testing.T) {
			s.audit.since()
			before := time.Now()
			u := s.ok(s.call("ada", "POST", "ban-user", `{"userId":"`+s.ids["bob"]+`","banReason":"spam","banExpiresIn":3600}`))["user"].(map[string]any)
			exp, _ := time.Parse(time.RFC3339, u["banExpires"].(string))
			if u["banned"] != true || u["banReason"] != "spam" || exp.Before(before.Add(59*time.Minute)) || exp.After(time.Now().Add(61*time.Minute)) {
				t.Errorf("ban-user: %v", u)
			}
			s.audit.want(eventAdminBanUser, "", s.ids["ada"], "*")
			if code := s.gate("bob"); code != 401 {
				t.Errorf("banned user's session at the gate: %d", code)
			}
			wantError(t, s.tg.do(req("POST", "/auth/sign-in/email", signInBody("bob@example.com", "password123"))), 403, "BANNED_USER")
			wantError(t, s.call("ada", "POST", "ban-user", `{"userId":"`+s.ids["ada"]+`"}`), 400, "YOU_CANNOT_BAN_YOURSELF")
			wantError(t, s.call("ada", "POST", "ban-user", `{"userId":"nobody"}`), 404, "USER_NOT_FOUND")

			s.audit.since() // the refused sign-in
			u = s.ok(s.call("ada", "POST", "unban-user", `{"userId":"`+s.ids["bob"]+`"}`))["user"].(map[string]any)
			if u["banned"] != false || u["banReason"] != nil || u["banExpires"] != nil {
				t.Errorf("unban-user: %v", u)
			}
			s.audit.want(eventAdminUnbanUser, "", s.ids["ada"], "*")
			s.cookies["bob"], _ = s.tg.signIn("bob@example.com", "password123")

			u = s.ok(s.call("ada", "POST", "ban-user", `{"userId":"`+s.ids["carol"]+`"}`))["user"].(map[string]any)
			if u["banReason"] != "No reason" || u["banExpires"] != nil {
				t.Errorf("ban-user without reason: %v", u)
			}
			s.ok(s.call("ada", "POST", "unban-user", `{"userId":"`+s.ids["carol"]+`"}`))
		})

		t.Run("sessions", func(t *testing.T) {
			s.audit.since()
			cookie, resp := s.tg.signIn("bob@example.com", "password123")
			m := s.ok(s.call("ada", "POST", "list-user-sessions", `{"userId":"`+s.ids["bob"]+`"}`))
			list := m["sessions"].([]any)
			if len(list) != 2 {
				t.Fatalf("bob's sessions: %v", m)
			}
			if _, ok := list[0].(map[string]any)["impersonatedBy"]; !ok {
				t.Errorf("session JSON lacks impersonatedBy: %v", list[0])
			}
			s.ok(s.call("ada", "POST", "revoke-user-session", `{"sessionToken":"`+resp["token"].(string)+`"}`))
			if code := s.tg.do(req("GET", "/app", "", "Cookie", cookie)).Code; code != 401 {
				t.Errorf("revoked session at the gate: %d", code)
			}
			s.ok(s.call("ada", "POST", "revoke-user-session", `{"sessionToken":"no-such-token"}`))
			if s.gate("bob") != 200 {
				t.Error("the other session went too")
			}
			s.ok(s.call("ada", "POST", "revoke-user-sessions", `{"userId":"`+s.ids["bob"]+`"}`))
			s.audit.since()
			if s.gate("bob") != 401 {
				t.Error("revoke-user-sessions left a session")
			}
		})

		t.Run("set-user-password", func(t *testing.T) {
			s.audit.since()
			wantError(t, s.call("ada", "POST", "set-user-password", `{"userId":"`+s.ids["bob"]+`","newPassword":"short"}`), 400, "PASSWORD_TOO_SHORT")
			wantError(t, s.call("ada", "POST", "set-user-password", `{"userId":"`+s.ids["bob"]+`","newPassword":""}`), 400, "VALIDATION_ERROR")
			wantError(t, s.call("ada", "POST", "set-user-password", `{"userId":"nobody","newPassword":"password456"}`), 404, "USER_NOT_FOUND")
			m := s.ok(s.call("ada", "POST", "set-user-password", `{"userId":"`+s.ids["bob"]+`","newPassword":"password456"}`))
			if m["status"] != true {
				t.Errorf("set-user-password: %v", m)
			}
			s.audit.since()
			s.cookies["bob"], _ = s.tg.signIn("bob@example.com", "password456")
			for _, e := range s.audit.logs.All() {
				if b, _ := json.Marshal(e.ContextMap()); strings.Contains(string(b), "password456") {
					t.Errorf("a log entry holds the password: %s", b)
				}
			}
		})

		t.Run("remove-user", func(t *testing.T) {
			s.audit.since()
			wantError(t, s.call("ada", "POST", "remove-user", `{"userId":"`+s.ids["ada"]+`"}`), 400, "YOU_CANNOT_REMOVE_YOURSELF")
			wantError(t, s.call("ada", "POST", "remove-user", `{"userId":"nobody"}`), 404, "USER_NOT_FOUND")
			s.ok(s.call("ada", "POST", "remove-user", `{"userId":"`+s.ids["bob"]+`"}`))
			s.audit.want(eventAdminRemoveUser, "", s.ids["ada"], "*")
			if s.gate("bob") != 401 {
				t.Error("a removed user's session still passes")
			}
			wantError(t, s.call("ada", "GET", "get-user?id="+s.ids["bob"], ""), 404, "USER_NOT_FOUND")
		})
	})
}

// liveCookies is the Cookie header a browser would send after w: the
// cookies w set, minus those it expired.
func liveCookies(w *httptest.ResponseRecorder) string {
	jar := map[string]string{}
	var order []string
	for _, sc := range w.Header().Values("Set-Cookie") {
		pair, attrs, _ := strings.Cut(sc, ";")
		name, value, _ := strings.Cut(pair, "=")
		if _, seen := jar[name]; !seen {
			order = append(order, name)
		}
		jar[name] = value
		if strings.Contains(attrs, "Max-Age=0") {
			jar[name] = ""
		}
	}
	var out []string
	for _, name := range order {
		if jar[name] != "" {
			out = append(out, name+"="+jar[name])
		}
	}
	return strings.Join(out, "; ")
}

// TestAdmin_Impersonation: an admin takes a user's session (not an
// admin's), the app sees that user, the user's own session list does not
// show it, and stop-impersonating ends it and gives the admin their own
// session back.
func TestAdmin_Impersonation(t *testing.T) {
	s := newAdminSite(t, testsupport.SQLiteDSN(t), "admin on")
	wantError(t, s.call("bob", "POST", "impersonate-user", `{"userId":"`+s.ids["carol"]+`"}`), 403, "YOU_ARE_NOT_ALLOWED_TO_IMPERSONATE_USERS")
	wantError(t, s.call("ada", "POST", "impersonate-user", `{"userId":"`+s.ids["ada"]+`"}`), 403, "YOU_CANNOT_IMPERSONATE_ADMINS")
	wantError(t, s.call("ada", "POST", "impersonate-user", `{"userId":"nobody"}`), 404, "USER_NOT_FOUND")

	s.audit.since()
	w := s.call("ada", "POST", "impersonate-user", `{"userId":"`+s.ids["bob"]+`"}`)
	m := s.ok(w)
	sess, user := m["session"].(map[string]any), m["user"].(map[string]any)
	if sess["impersonatedBy"] != s.ids["ada"] || sess["userId"] != s.ids["bob"] || user["id"] != s.ids["bob"] {
		t.Fatalf("impersonate-user: %v", m)
	}
	if exp, _ := time.Parse(time.RFC3339, sess["expiresAt"].(string)); exp.After(time.Now().Add(61 * time.Minute)) {
		t.Errorf("impersonation session lasts until %v, want an hour", exp)
	}
	s.audit.want(eventAdminImpersonate, "", s.ids["ada"], "*")
	jar := liveCookies(w)
	if !strings.Contains(jar, "better-auth.admin_session=") || !strings.Contains(jar, "better-auth.dont_remember=") {
		t.Fatalf("cookies after impersonate-user: %s", jar)
	}
	if code := s.tg.do(req("GET", "/app", "", "Cookie", jar)).Code; code != 200 || s.tg.next.header.Get("X-User-Id") != s.ids["bob"] {
		t.Fatalf("gate while impersonating: %d, X-User-Id %q", code, s.tg.next.header.Get("X-User-Id"))
	}
	lw := s.tg.do(req("GET", "/auth/list-sessions", "", "Cookie", s.cookies["bob"]))
	if lw.Code != 200 || strings.Contains(lw.Body.String(), sess["id"].(string)) {
		t.Errorf("bob's list-sessions shows the impersonation: %d %s", lw.Code, lw.Body)
	}

	// Better Auth's fromStatus error: a message, no code.
	if nw := s.call("bob", "POST", "stop-impersonating", ""); nw.Code != 400 || nw.Body.String() != `{"message":"You are not impersonating anyone"}` {
		t.Errorf("stop-impersonating without impersonation: %d %s", nw.Code, nw.Body)
	}
	sw := s.tg.do(req("POST", "/auth/admin/stop-impersonating", "", "Cookie", jar, "Origin", "http://example.com"))
	back := s.ok(sw)
	if back["user"].(map[string]any)["id"] != s.ids["ada"] || back["session"].(map[string]any)["token"] != s.tokens["ada"] {
		t.Fatalf("stop-impersonating: %v", back)
	}
	if code := s.tg.do(req("GET", "/app", "", "Cookie", jar)).Code; code != 401 {
		t.Errorf("the impersonation session after stop-impersonating: %d", code)
	}
	after := liveCookies(sw)
	if strings.Contains(after, "admin_session") || !strings.Contains(after, "session_token=") {
		t.Errorf("cookies after stop-impersonating: %s", after)
	}
	if code := s.tg.do(req("GET", "/app", "", "Cookie", after)).Code; code != 200 || s.tg.next.header.Get("X-User-Id") != s.ids["ada"] {
		t.Errorf("ada's own session back: %d %q", code, s.tg.next.header.Get("X-User-Id"))
	}
}

// wantBare checks an answer of status with no body at all: Better Auth's
// APIError.fromStatus(status), which the official client hands over as an
// error of status and statusText alone, or an unknown route.
func wantBare(t *testing.T, w *httptest.ResponseRecorder, status int) {
	t.Helper()
	if w.Code != status || w.Body.Len() != 0 {
		t.Errorf("answer %d %q, want %d without a body", w.Code, w.Body, status)
	}
}

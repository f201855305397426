package caddyauth

import (
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/scrypt"

	"github.com/authgate/authgate/internal/testsupport"
)

var (
	idPattern    = regexp.MustCompile(`^[A-Za-z0-9]{32}$`)
	jsTimeFormat = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)
)

func TestSignUp_CreatesUserSessionAndBetterAuthCookie(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		tg := newTestGate(t, dsn, "")
		w := tg.do(req("POST", "/auth/sign-up/email", `{"name":"Alice","email":" Alice@Example.COM ","password":"password123"}`))
		if w.Code != http.StatusOK {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		m := decodeJSON(t, w)
		token, _ := m["token"].(string)
		if !idPattern.MatchString(token) {
			t.Fatalf("token %q is not 32 alphanumerics", token)
		}
		user := m["user"].(map[string]any)
		for k, want := range map[string]any{"name": "Alice", "email": "alice@example.com", "emailVerified": false, "image": nil} {
			if user[k] != want {
				t.Errorf("user.%s = %v, want %v", k, user[k], want)
			}
		}
		if !idPattern.MatchString(user["id"].(string)) {
			t.Errorf("user.id %v", user["id"])
		}
		for _, k := range []string{"createdAt", "updatedAt"} {
			if !jsTimeFormat.MatchString(user[k].(string)) {
				t.Errorf("user.%s = %v, not JS ISO time", k, user[k])
			}
		}
		if len(user) != 7 {
			t.Errorf("user has keys %v, want exactly Better Auth's 7", user)
		}

		// The cookie must be exactly what Better Auth would set, computed
		// here from the documented algorithm.
		want := "better-auth.session_token=" + wireCookie(testSecret, token) + "; Max-Age=604800; Path=/; HttpOnly; SameSite=Lax"
		if got := w.Header().Values("Set-Cookie"); len(got) != 1 || got[0] != want {
			t.Errorf("Set-Cookie = %q\nwant          %q", got, want)
		}

		// The stored hash must be Better Auth's scrypt format, verified here
		// with the documented parameters rather than our own code.
		db := testsupport.OpenDB(t, dsn)
		var stored, accountID, userID string
		q := db.Rebind(`SELECT "password", "accountId", "userId" FROM "account" WHERE "providerId" = 'credential'`)
		if err := db.QueryRow(q).Scan(&stored, &accountID, &userID); err != nil {
			t.Fatalf("read account: %v", err)
		}
		if accountID != userID || userID != user["id"] {
			t.Errorf("account ids %s/%s, user %v", accountID, userID, user["id"])
		}
		salt, keyHex, ok := strings.Cut(stored, ":")
		if !ok || len(salt) != 32 || len(keyHex) != 128 {
			t.Fatalf("stored hash %q is not <32 hex>:<128 hex>", stored)
		}
		key, err := scrypt.Key([]byte("password123"), []byte(salt), 16384, 16, 1, 64)
		if err != nil {
			t.Fatal(err)
		}
		if subtle.ConstantTimeCompare([]byte(hex.EncodeToString(key)), []byte(keyHex)) != 1 {
			t.Error("stored hash does not verify with scrypt(N=16384,r=16,p=1,salt=hex string)")
		}
	})
}

func TestSignUp_RejectsBadInputWithBetterAuthErrors(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		tg := newTestGate(t, dsn, "")
		tg.signUp("Taken", "taken@example.com", "password123")
		cases := []struct {
			name, body, ctype string
			status            int
			code, message     string
		}{
			{"missing name", `{"email":"bob@example.com","password":"password123"}`, "", 400, "VALIDATION_ERROR", "[body.name] Invalid input: expected string, received undefined"},
			{"invalid email", `{"name":"Bob","email":"not-an-email","password":"password123"}`, "", 400, "VALIDATION_ERROR", "[body.email] Invalid email address"},
			{"email of wrong type", `{"name":"Bob","email":42,"password":"password123"}`, "", 400, "VALIDATION_ERROR", "[body.email] Invalid input: expected string, received number"},
			{"short password", `{"name":"Bob","email":"bob@example.com","password":"short"}`, "", 400, "PASSWORD_TOO_SHORT", "Password too short"},
			{"long password", `{"name":"Bob","email":"bob@example.com","password":"` + strings.Repeat("a", 129) + `"}`, "", 400, "PASSWORD_TOO_LONG", "Password too long"},
			{"duplicate, other case", `{"name":"Bob","email":"TAKEN@example.com","password":"password123"}`, "", 422, "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL", "User already exists. Use another email."},
			{"malformed JSON", `{"name":`, "", 400, "BAD_REQUEST", "Invalid JSON in request body"},
			{"array body", `[1,2]`, "", 400, "BODY_MUST_BE_AN_OBJECT", "Body must be an object"},
			{"text/plain", `{"name":"Bob"}`, "text/plain", 415, "UNSUPPORTED_MEDIA_TYPE", `Content-Type "text/plain" is not allowed. Allowed types: application/x-www-form-urlencoded, application/json`},
			{"untrusted callbackURL", `{"name":"Bob","email":"bob@example.com","password":"password123","callbackURL":"https://evil.example/x"}`, "", 403, "INVALID_CALLBACK_URL", "Invalid callbackURL"},
			{"oversize body", `{"name":"` + strings.Repeat("a", 70<<10) + `"}`, "", 413, "PAYLOAD_TOO_LARGE", "Request body is too large"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				r := req("POST", "/auth/sign-up/email", c.body)
				if c.ctype != "" {
					r.Header.Set("Content-Type", c.ctype)
				}
				w := tg.do(r)
				wantError(t, w, c.status, c.code)
				if m := decodeJSON(t, w); m["message"] != c.message {
					t.Errorf("message = %q, want %q", m["message"], c.message)
				}
				if len(w.Header().Values("Set-Cookie")) != 0 {
					t.Errorf("error answer set cookies: %q", w.Header().Values("Set-Cookie"))
				}
			})
		}
	})
}

func TestSignUp_AcceptsFormEncoding(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		tg := newTestGate(t, dsn, "")
		r := formRequest("/auth/sign-up/email", "name=Form+User&email=form%40example.com&password=password123")
		w := tg.do(r)
		if w.Code != http.StatusOK {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		if u := decodeJSON(t, w)["user"].(map[string]any); u["name"] != "Form User" || u["email"] != "form@example.com" {
			t.Errorf("user = %v", u)
		}
	})
}

func TestSignIn_UnknownEmailLooksLikeWrongPassword(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		tg := newTestGate(t, dsn, "")
		tg.signUp("Alice", "alice@example.com", "password123")
		wrong := tg.do(req("POST", "/auth/sign-in/email", `{"email":"alice@example.com","password":"wrongpass1"}`))
		unknown := tg.do(req("POST", "/auth/sign-in/email", `{"email":"nobody@example.com","password":"wrongpass1"}`))
		wantError(t, wrong, 401, "INVALID_EMAIL_OR_PASSWORD")
		if wrong.Code != unknown.Code || wrong.Body.String() != unknown.Body.String() {
			t.Errorf("wrong password %d %s != unknown email %d %s", wrong.Code, wrong.Body, unknown.Code, unknown.Body)
		}
	})
}

func TestSignIn_SucceedsWithBetterAuthShape(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		tg := newTestGate(t, dsn, "")
		_, up := tg.signUp("Alice", "alice@example.com", "password123")
		userID := up["user"].(map[string]any)["id"]

		w := tg.do(req("POST", "/auth/sign-in/email", `{"email":"ALICE@example.com","password":"password123"}`))
		if w.Code != 200 {
			t.Fatalf("status %d %s", w.Code, w.Body)
		}
		m := decodeJSON(t, w)
		if m["redirect"] != false || m["user"].(map[string]any)["id"] != userID {
			t.Errorf("answer %v", m)
		}
		if _, ok := m["url"]; ok {
			t.Errorf("url present without callbackURL: %v", m)
		}
		token := m["token"].(string)
		if got, want := sessionCookieFrom(t, w), "better-auth.session_token="+wireCookie(testSecret, token); got != want {
			t.Errorf("cookie %q, want %q", got, want)
		}

		// callbackURL: 200 with redirect:true, url, and a Location header.
		w = tg.do(req("POST", "/auth/sign-in/email", `{"email":"alice@example.com","password":"password123","callbackURL":"/dashboard"}`))
		m = decodeJSON(t, w)
		if w.Code != 200 || m["redirect"] != true || m["url"] != "/dashboard" || w.Header().Get("Location") != "/dashboard" {
			t.Errorf("callbackURL answer %d %v %q", w.Code, m, w.Header().Get("Location"))
		}

		// rememberMe:false: browser-session cookie plus signed dont_remember.
		w = tg.do(req("POST", "/auth/sign-in/email", `{"email":"alice@example.com","password":"password123","rememberMe":false}`))
		token = decodeJSON(t, w)["token"].(string)
		cookies := w.Header().Values("Set-Cookie")
		wantCookies := []string{
			"better-auth.session_token=" + wireCookie(testSecret, token) + "; Path=/; HttpOnly; SameSite=Lax",
			"better-auth.dont_remember=true.1bXlcnrqtmSepkNJviBBMNg0%2BTFE%2FNL3hULlLOhQEEc%3D; Path=/; HttpOnly; SameSite=Lax",
		}
		if strings.Join(cookies, "\n") != strings.Join(wantCookies, "\n") {
			t.Errorf("rememberMe=false cookies\n%q\nwant\n%q", cookies, wantCookies)
		}
		// A browser sends both cookies back; dont_remember stops the sliding
		// refresh from turning the one-day session into a seven-day one.
		both := strings.SplitN(cookies[0], ";", 2)[0] + "; " + strings.SplitN(cookies[1], ";", 2)[0]
		gs := tg.do(req("GET", "/auth/get-session", "", "Cookie", both))
		if sc := gs.Header().Values("Set-Cookie"); len(sc) != 0 {
			t.Errorf("dont_remember session was refreshed: %q", sc)
		}
		exp, _ := time.Parse(time.RFC3339, decodeJSON(t, gs)["session"].(map[string]any)["expiresAt"].(string))
		if d := time.Until(exp); d < 23*time.Hour || d > 25*time.Hour {
			t.Errorf("rememberMe=false session expires in %v, want one day", d)
		}
	})
}

func TestSignIn_RejectsBadInput(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		tg := newTestGate(t, dsn, "")
		cases := []struct {
			name, body string
			status     int
			code       string
		}{
			{"invalid email", `{"email":"nope","password":"password123"}`, 400, "INVALID_EMAIL"},
			{"missing password", `{"email":"a@example.com"}`, 400, "VALIDATION_ERROR"},
			{"password too long", `{"email":"a@example.com","password":"` + strings.Repeat("a", 129) + `"}`, 400, "PASSWORD_TOO_LONG"},
			{"rememberMe not bool", `{"email":"a@example.com","password":"password123","rememberMe":"yes"}`, 400, "VALIDATION_ERROR"},
			{"10000-char email", `{"email":"` + strings.Repeat("a", 10000) + `@example.com","password":"password123"}`, 400, "INVALID_EMAIL"},
			{"javascript callback", `{"email":"a@example.com","password":"password123","callbackURL":"javascript:alert(1)"}`, 403, "INVALID_CALLBACK_URL"},
			{"protocol-relative callback", `{"email":"a@example.com","password":"password123","callbackURL":"//evil.com"}`, 403, "INVALID_CALLBACK_URL"},
			{"backslash callback", `{"email":"a@example.com","password":"password123","callbackURL":"/\\evil.com"}`, 403, "INVALID_CALLBACK_URL"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				wantError(t, tg.do(req("POST", "/auth/sign-in/email", c.body)), c.status, c.code)
			})
		}
	})
}

func TestGetSession_NullForMissingOrBadCookies(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		tg := newTestGate(t, dsn, "")
		cookie, up := tg.signUp("Alice", "alice@example.com", "password123")
		token := up["token"].(string)
		cases := map[string]string{
			"no cookie":        "",
			"tampered":         "better-auth.session_token=" + token + ".AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA%3D",
			"unsigned token":   "better-auth.session_token=" + token,
			"other secret":     "better-auth.session_token=" + wireCookie(strings.Repeat("y", 32), token),
			"truncated":        cookie[:len(cookie)-5],
			"secure name only": "__Secure-" + cookie,
		}
		for name, c := range cases {
			t.Run(name, func(t *testing.T) {
				w := tg.do(req("GET", "/auth/get-session", "", "Cookie", c))
				if w.Code != 200 || w.Body.String() != "null" {
					t.Fatalf("%d %s, want 200 null", w.Code, w.Body)
				}
				if w.Header().Get("Cache-Control") != "no-store" {
					t.Errorf("Cache-Control %q", w.Header().Get("Cache-Control"))
				}
				if sc := w.Header().Values("Set-Cookie"); len(sc) != 0 {
					t.Errorf("bad cookie answered with Set-Cookie %q", sc)
				}
			})
		}
	})
}

func TestGetSession_ReturnsSessionAndRefreshesWhenDue(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		tg := newTestGate(t, dsn, "")
		cookie, up := tg.signUp("Alice", "alice@example.com", "password123")
		w := tg.do(req("GET", "/auth/get-session", "", "Cookie", cookie))
		m := decodeJSON(t, w)
		sess := m["session"].(map[string]any)
		if sess["token"] != up["token"] || sess["userId"] != up["user"].(map[string]any)["id"] || sess["ipAddress"] != "203.0.113.7" {
			t.Errorf("session %v", sess)
		}
		if len(sess) != 8 {
			t.Errorf("session keys %v, want Better Auth's 8", sess)
		}
		if len(w.Header().Values("Set-Cookie")) != 0 {
			t.Errorf("fresh session refreshed: %q", w.Header().Values("Set-Cookie"))
		}

		// Two days later the session is past updateAge: a use extends it to
		// now+7d and re-sets the cookie.
		later := time.Now().Add(48 * time.Hour)
		setNow(t, later)
		w = tg.do(req("GET", "/auth/get-session", "", "Cookie", cookie))
		sess = decodeJSON(t, w)["session"].(map[string]any)
		exp, _ := time.Parse(time.RFC3339, sess["expiresAt"].(string))
		if d := exp.Sub(later); d < 7*24*time.Hour-time.Second || d > 7*24*time.Hour+time.Second {
			t.Errorf("refreshed expiry is now+%v, want now+7d", d)
		}
		if got, want := w.Header().Values("Set-Cookie"), cookie+"; Max-Age=604800; Path=/; HttpOnly; SameSite=Lax"; len(got) != 1 || got[0] != want {
			t.Errorf("refresh Set-Cookie %q, want %q", got, want)
		}

		// disableRefresh=true never writes.
		setNow(t, later.Add(48*time.Hour))
		w = tg.do(req("GET", "/auth/get-session?disableRefresh=true", "", "Cookie", cookie))
		if len(w.Header().Values("Set-Cookie")) != 0 || w.Body.String() == "null" {
			t.Errorf("disableRefresh: %s %q", w.Body, w.Header().Values("Set-Cookie"))
		}

		// Past expiresAt: null, cookies cleared, row gone.
		setNow(t, later.Add(8*24*time.Hour))
		w = tg.do(req("GET", "/auth/get-session", "", "Cookie", cookie))
		if w.Body.String() != "null" {
			t.Fatalf("expired session answered %s", w.Body)
		}
		cleared := w.Header().Values("Set-Cookie")
		want := []string{
			"better-auth.session_token=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax",
			"better-auth.session_data=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax",
			"better-auth.dont_remember=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax",
		}
		if strings.Join(cleared, "\n") != strings.Join(want, "\n") {
			t.Errorf("expired session cookies %q", cleared)
		}
		setNow(t, time.Now())
		if w := tg.do(req("GET", "/auth/get-session", "", "Cookie", cookie)); w.Body.String() != "null" {
			t.Errorf("expired row was not deleted: %s", w.Body)
		}
	})
}

func TestSignOut_DeletesSessionAndClearsCookies(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		tg := newTestGate(t, dsn, "")
		cookie, _ := tg.signUp("Alice", "alice@example.com", "password123")
		w := tg.do(req("POST", "/auth/sign-out", "", "Cookie", cookie, "Origin", "http://example.com"))
		if w.Code != 200 || w.Body.String() != `{"success":true}` {
			t.Fatalf("sign-out %d %s", w.Code, w.Body)
		}
		if n := len(w.Header().Values("Set-Cookie")); n != 3 {
			t.Errorf("sign-out set %d cookies, want 3 expired", n)
		}
		if w := tg.do(req("GET", "/auth/get-session", "", "Cookie", cookie)); w.Body.String() != "null" {
			t.Errorf("session survived sign-out: %s", w.Body)
		}
		if w := tg.do(req("GET", "/app", "", "Cookie", cookie)); w.Code != 401 {
			t.Errorf("gate let a signed-out session through: %d", w.Code)
		}
		// Without a cookie it still answers 200.
		if w := tg.do(req("POST", "/auth/sign-out", "")); w.Code != 200 {
			t.Errorf("cookieless sign-out: %d %s", w.Code, w.Body)
		}
	})
}

func TestAPI_OriginChecksOnCookieBearingRequests(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		tg := newTestGate(t, dsn, "trusted_origins https://app.example.com *.trusted.example")
		cookie, _ := tg.signUp("Alice", "alice@example.com", "password123")
		cases := []struct {
			name    string
			headers []string
			status  int
			code    string
		}{
			{"no origin", []string{"Cookie", cookie}, 403, "INVALID_ORIGIN"},
			{"null origin", []string{"Cookie", cookie, "Origin", "null"}, 403, "INVALID_ORIGIN"},
			{"untrusted origin", []string{"Cookie", cookie, "Origin", "http://evil.example"}, 403, "INVALID_ORIGIN"},
			{"lookalike origin", []string{"Cookie", cookie, "Origin", "https://app.example.com.evil.example"}, 403, "INVALID_ORIGIN"},
			{"untrusted referer", []string{"Cookie", cookie, "Referer", "http://evil.example/page"}, 403, "INVALID_ORIGIN"},
			{"own origin", []string{"Cookie", cookie, "Origin", "http://example.com"}, 200, ""},
			{"trusted origin", []string{"Cookie", cookie, "Origin", "https://app.example.com"}, 200, ""},
			{"wildcard origin", []string{"Cookie", cookie, "Origin", "https://a.b.trusted.example"}, 200, ""},
			{"trusted referer", []string{"Cookie", cookie, "Referer", "https://app.example.com/x"}, 200, ""},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				// sign-out with a bogus cookie of the same name keeps the real
				// session alive for the next case.
				h := append([]string(nil), c.headers...)
				h[1] = "better-auth.session_token=x"
				w := tg.do(req("POST", "/auth/sign-out", "", h...))
				if c.code != "" {
					wantError(t, w, c.status, c.code)
				} else if w.Code != c.status {
					t.Fatalf("%d %s", w.Code, w.Body)
				}
			})
		}

		// Sign-in's form CSRF rule: a cross-site navigation is refused even
		// without cookies, and fetch metadata without an Origin is too.
		w := tg.do(req("POST", "/auth/sign-in/email", `{"email":"alice@example.com","password":"password123"}`,
			"Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "navigate", "Sec-Fetch-Dest", "document"))
		wantError(t, w, 403, "CROSS_SITE_NAVIGATION_LOGIN_BLOCKED")
		w = tg.do(req("POST", "/auth/sign-in/email", `{"email":"alice@example.com","password":"password123"}`, "Sec-Fetch-Mode", "cors"))
		wantError(t, w, 403, "INVALID_ORIGIN")
		w = tg.do(req("POST", "/auth/sign-in/email", `{"email":"alice@example.com","password":"password123"}`,
			"Origin", "http://example.com", "Sec-Fetch-Site", "same-origin", "Sec-Fetch-Mode", "cors"))
		if w.Code != 200 {
			t.Errorf("browser-like same-origin sign-in: %d %s", w.Code, w.Body)
		}
	})
}

func TestAPI_RoutingLikeBetterAuth(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		tg := newTestGate(t, dsn, "")
		if w := tg.do(req("GET", "/auth/ok", "")); w.Code != 200 || w.Body.String() != `{"ok":true}` {
			t.Errorf("/ok: %d %s", w.Code, w.Body)
		}
		for _, target := range []string{"/auth/does-not-exist", "/auth/ok/", "/auth//ok", "/auth", "/auth/"} {
			w := tg.do(req("GET", target, ""))
			if w.Code != 404 || w.Body.Len() != 0 || w.Header().Get("Content-Type") != "" {
				t.Errorf("GET %s: %d %q %q, want empty 404", target, w.Code, w.Header().Get("Content-Type"), w.Body)
			}
		}
		for _, m := range []string{"DELETE", "OPTIONS", "PUT"} {
			if w := tg.do(req(m, "/auth/sign-in/email", "")); w.Code != 404 {
				t.Errorf("%s sign-in: %d", m, w.Code)
			}
		}
		wantError(t, tg.do(req("POST", "/auth/get-session", "")), 405, "METHOD_NOT_ALLOWED_DEFER_SESSION_REQUIRED")
		if tg.next.calls != 0 {
			t.Errorf("API requests reached the next handler %d times", tg.next.calls)
		}
	})
}

// setNow moves the package clock for the rest of the test.
func setNow(t *testing.T, at time.Time) {
	t.Helper()
	old := now
	now = func() time.Time { return at }
	t.Cleanup(func() { now = old })
}

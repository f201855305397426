package caddyauth

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authgate/authgate/caddyauth/internal/wire"
	"github.com/authgate/authgate/internal/testsupport"
)

const site = "http://example.com" // httptest.NewRequest's host: the site's own origin

// emailMessage is the email webhook's body as a receiver decodes it.
type emailMessage struct {
	Type  string    `json:"type"`
	To    string    `json:"to"`
	URL   string    `json:"url"`
	Token string    `json:"token"`
	User  wire.User `json:"user"`
}

// mailbox is a real HTTP server receiving the email webhook.
type mailbox struct {
	*httptest.Server
	mu   sync.Mutex
	msgs []emailMessage
}

func newMailbox(t *testing.T) *mailbox {
	mb := &mailbox{}
	mb.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var m emailMessage
		if err := json.Unmarshal(body, &m); err != nil {
			t.Errorf("webhook body: %v", err)
		}
		mb.mu.Lock()
		mb.msgs = append(mb.msgs, m)
		mb.mu.Unlock()
	}))
	t.Cleanup(mb.Close)
	return mb
}

// last waits briefly (sends may be asynchronous) for a message to addr.
func (mb *mailbox) last(t *testing.T, addr string) emailMessage {
	t.Helper()
	return mb.await(t, "no email to "+addr, func(msgs []emailMessage) (emailMessage, bool) {
		for i := len(msgs) - 1; i >= 0; i-- {
			if msgs[i].To == addr {
				return msgs[i], true
			}
		}
		return emailMessage{}, false
	})
}

// nth waits briefly for the n-th message (0-based) to arrive.
func (mb *mailbox) nth(t *testing.T, n int) emailMessage {
	t.Helper()
	return mb.await(t, fmt.Sprintf("no email #%d", n), func(msgs []emailMessage) (emailMessage, bool) {
		if len(msgs) > n {
			return msgs[n], true
		}
		return emailMessage{}, false
	})
}

// await polls the received messages until pick finds one, for up to 10 s.
func (mb *mailbox) await(t *testing.T, failure string, pick func([]emailMessage) (emailMessage, bool)) emailMessage {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		mb.mu.Lock()
		m, ok := pick(mb.msgs)
		mb.mu.Unlock()
		if ok {
			return m
		}
	}
	t.Fatal(failure)
	return emailMessage{}
}

// post is a cookie-bearing same-origin JSON POST.
func (tg *testGate) post(path, cookie, body string) *httptest.ResponseRecorder {
	tg.t.Helper()
	return tg.do(req("POST", path, body, "Cookie", cookie, "Origin", site))
}

func TestSessions_ListRevokeAndRevokeOthers(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		tg := newTestGate(t, dsn, "")
		c1, _ := tg.signUp("Alice", "alice@example.com", "password123")
		c2, s2 := tg.signIn("alice@example.com", "password123")
		c3, s3 := tg.signIn("alice@example.com", "password123")
		cb, _ := tg.signUp("Bob", "bob@example.com", "password123")

		w := tg.do(req("GET", "/auth/list-sessions", "", "Cookie", c1))
		var list []map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &list); err != nil || w.Code != 200 || len(list) != 3 {
			t.Fatalf("list-sessions %d %s", w.Code, w.Body)
		}
		for _, s := range list {
			if len(s) != 8 || s["userId"] == nil || s["token"] == nil {
				t.Errorf("session shape %v", s)
			}
		}
		wantError(t, tg.do(req("GET", "/auth/list-sessions", "")), 401, "UNAUTHORIZED")

		// Another user's token is ignored, silently.
		w = tg.post("/auth/revoke-session", cb, `{"token":"`+s2["token"].(string)+`"}`)
		if w.Code != 200 || w.Body.String() != `{"status":true}` {
			t.Fatalf("revoke-session of another user: %d %s", w.Code, w.Body)
		}
		if w := tg.do(req("GET", "/auth/get-session", "", "Cookie", c2)); w.Body.String() == "null" {
			t.Fatal("another user revoked a session")
		}
		wantError(t, tg.post("/auth/revoke-session", c1, `{}`), 400, "VALIDATION_ERROR")

		// Own other session: gone, at the gate too.
		w = tg.post("/auth/revoke-session", c1, `{"token":"`+s2["token"].(string)+`"}`)
		if w.Code != 200 || len(w.Header().Values("Set-Cookie")) != 0 {
			t.Fatalf("revoke-session: %d %q", w.Code, w.Header().Values("Set-Cookie"))
		}
		if w := tg.do(req("GET", "/x", "", "Cookie", c2)); w.Code != 401 {
			t.Errorf("revoked session passed the gate: %d", w.Code)
		}
		// Own current session: cookies are expired.
		w = tg.post("/auth/revoke-session", c3, `{"token":"`+s3["token"].(string)+`"}`)
		if len(w.Header().Values("Set-Cookie")) != 3 {
			t.Errorf("revoking the current session left cookies: %q", w.Header().Values("Set-Cookie"))
		}

		// revoke-other-sessions keeps only the caller's.
		c4, _ := tg.signIn("alice@example.com", "password123")
		w = tg.post("/auth/revoke-other-sessions", c1, "")
		if w.Code != 200 || w.Body.String() != `{"status":true}` {
			t.Fatalf("revoke-other-sessions %d %s", w.Code, w.Body)
		}
		if tg.do(req("GET", "/x", "", "Cookie", c4)).Code != 401 || tg.do(req("GET", "/x", "", "Cookie", c1)).Code != 200 {
			t.Error("revoke-other-sessions revoked the wrong sessions")
		}
		// revoke-sessions ends them all, this one included.
		w = tg.post("/auth/revoke-sessions", c1, "")
		if w.Code != 200 || len(w.Header().Values("Set-Cookie")) != 3 {
			t.Fatalf("revoke-sessions %d %q", w.Code, w.Header().Values("Set-Cookie"))
		}
		if tg.do(req("GET", "/x", "", "Cookie", c1)).Code != 401 {
			t.Error("revoke-sessions left the current session")
		}
		if tg.do(req("GET", "/x", "", "Cookie", cb)).Code != 200 {
			t.Error("revoke-sessions touched another user")
		}
	})
}

func TestListSessions_NeedsAFreshSession(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		tg := newTestGate(t, dsn, "")
		c, _ := tg.signUp("Alice", "alice@example.com", "password123")
		setNow(t, time.Now().Add(25*time.Hour))
		wantError(t, tg.do(req("GET", "/auth/list-sessions", "", "Cookie", c)), 403, "SESSION_NOT_FRESH")
	})
}

func TestUpdateUser(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		tg := newTestGate(t, dsn, "")
		c, _ := tg.signUp("Alice", "alice@example.com", "password123")
		w := tg.post("/auth/update-user", c, `{"name":"Alice B","image":"https://img.example/a.png"}`)
		if w.Code != 200 || w.Body.String() != `{"status":true}` {
			t.Fatalf("update-user %d %s", w.Code, w.Body)
		}
		if sc := w.Header().Values("Set-Cookie"); len(sc) != 1 || !strings.HasPrefix(sc[0], c+"; Max-Age=604800") {
			t.Errorf("update-user should re-issue the session cookie: %q", sc)
		}
		u := decodeJSON(t, tg.do(req("GET", "/auth/get-session", "", "Cookie", c)))["user"].(map[string]any)
		if u["name"] != "Alice B" || u["image"] != "https://img.example/a.png" {
			t.Errorf("user after update %v", u)
		}
		if w := tg.post("/auth/update-user", c, `{"image":null}`); w.Code != 200 {
			t.Fatalf("clear image: %d %s", w.Code, w.Body)
		}
		u = decodeJSON(t, tg.do(req("GET", "/auth/get-session", "", "Cookie", c)))["user"].(map[string]any)
		if u["image"] != nil || u["name"] != "Alice B" {
			t.Errorf("user after clearing image %v", u)
		}
		if tg.do(req("GET", "/x", "", "Cookie", c)); tg.next.header.Get("X-User-Name") != "Alice B" {
			t.Errorf("gate sends stale name %q", tg.next.header.Get("X-User-Name"))
		}

		wantError(t, tg.post("/auth/update-user", c, `{"email":"new@example.com"}`), 400, "EMAIL_CAN_NOT_BE_UPDATED")
		w = tg.post("/auth/update-user", c, `{}`)
		if w.Code != 400 || w.Body.String() != `{"message":"No fields to update"}` {
			t.Errorf("empty update-user: %d %s", w.Code, w.Body)
		}
		wantError(t, tg.post("/auth/update-user", c, `{"name":5}`), 400, "VALIDATION_ERROR")
		wantError(t, tg.post("/auth/update-user", "", `{"name":"x"}`), 401, "UNAUTHORIZED")
	})
}

func TestChangePassword(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		tg := newTestGate(t, dsn, "")
		c1, _ := tg.signUp("Alice", "alice@example.com", "password123")
		c2, _ := tg.signIn("alice@example.com", "password123")

		wantError(t, tg.post("/auth/change-password", c1, `{"currentPassword":"wrongpass1","newPassword":"newpassword1"}`), 400, "INVALID_PASSWORD")
		wantError(t, tg.post("/auth/change-password", c1, `{"currentPassword":"password123","newPassword":"short"}`), 400, "PASSWORD_TOO_SHORT")
		wantError(t, tg.post("/auth/change-password", c1, `{"currentPassword":"password123","newPassword":"`+strings.Repeat("a", 129)+`"}`), 400, "PASSWORD_TOO_LONG")
		wantError(t, tg.post("/auth/change-password", c1, `{"currentPassword":"password123"}`), 400, "VALIDATION_ERROR")
		wantError(t, tg.post("/auth/change-password", "", `{"currentPassword":"password123","newPassword":"newpassword1"}`), 401, "UNAUTHORIZED")

		// Without revoking: token null, no cookie, other sessions live.
		w := tg.post("/auth/change-password", c1, `{"currentPassword":"password123","newPassword":"newpassword1"}`)
		m := decodeJSON(t, w)
		if w.Code != 200 || m["token"] != nil || m["user"].(map[string]any)["email"] != "alice@example.com" || len(w.Header().Values("Set-Cookie")) != 0 {
			t.Fatalf("change-password %d %s %q", w.Code, w.Body, w.Header().Values("Set-Cookie"))
		}
		if tg.do(req("GET", "/x", "", "Cookie", c2)).Code != 200 {
			t.Error("change-password without revoke ended another session")
		}
		wantError(t, tg.do(req("POST", "/auth/sign-in/email", `{"email":"alice@example.com","password":"password123"}`)), 401, "INVALID_EMAIL_OR_PASSWORD")
		tg.signIn("alice@example.com", "newpassword1")

		// With revokeOtherSessions: every old session ends, a new one starts.
		w = tg.post("/auth/change-password", c1, `{"currentPassword":"newpassword1","newPassword":"newpassword2","revokeOtherSessions":true}`)
		m = decodeJSON(t, w)
		token, _ := m["token"].(string)
		if w.Code != 200 || !idPattern.MatchString(token) {
			t.Fatalf("change-password with revoke %d %s", w.Code, w.Body)
		}
		if got := sessionCookieFrom(t, w); got != "better-auth.session_token="+wireCookie(testSecret, token) {
			t.Errorf("new cookie %q", got)
		}
		for _, old := range []string{c1, c2} {
			if tg.do(req("GET", "/x", "", "Cookie", old)).Code != 401 {
				t.Error("an old session survived revokeOtherSessions")
			}
		}
		if tg.do(req("GET", "/x", "", "Cookie", sessionCookieFrom(t, w))).Code != 200 {
			t.Error("the new session does not pass the gate")
		}
	})
}

func TestDeleteUser(t *testing.T) {
	t.Run("disabled by default", func(t *testing.T) {
		tg := newTestGate(t, testsupport.SQLiteDSN(t), "")
		c, _ := tg.signUp("Alice", "alice@example.com", "password123")
		w := tg.post("/auth/delete-user", c, `{"password":"password123"}`)
		if w.Code != 404 || w.Body.Len() != 0 {
			t.Errorf("disabled delete-user: %d %s", w.Code, w.Body)
		}
	})
	testsupport.Both(t, func(t *testing.T, dsn string) {
		tg := newTestGate(t, dsn, "delete_user on")
		c, _ := tg.signUp("Alice", "alice@example.com", "password123")
		wantError(t, tg.post("/auth/delete-user", c, `{"password":"wrongpass1"}`), 400, "INVALID_PASSWORD")
		wantError(t, tg.post("/auth/delete-user", "", `{"password":"password123"}`), 401, "UNAUTHORIZED")

		// A day-old session needs the password.
		setNow(t, time.Now().Add(25*time.Hour))
		wantError(t, tg.post("/auth/delete-user", c, `{}`), 400, "SESSION_EXPIRED")
		setNow(t, time.Now())

		w := tg.post("/auth/delete-user", c, `{"password":"password123"}`)
		if w.Code != 200 || w.Body.String() != `{"success":true,"message":"User deleted"}` || len(w.Header().Values("Set-Cookie")) != 3 {
			t.Fatalf("delete-user %d %s", w.Code, w.Body)
		}
		if tg.do(req("GET", "/x", "", "Cookie", c)).Code != 401 {
			t.Error("deleted user's session passed the gate")
		}
		wantError(t, tg.do(req("POST", "/auth/sign-in/email", `{"email":"alice@example.com","password":"password123"}`)), 401, "INVALID_EMAIL_OR_PASSWORD")
		// The email is free again.
		tg.signUp("Alice again", "alice@example.com", "password123")
	})
}

func TestPasswordReset(t *testing.T) {
	t.Run("disabled without email delivery", func(t *testing.T) {
		tg := newTestGate(t, testsupport.SQLiteDSN(t), "")
		wantError(t, tg.do(req("POST", "/auth/request-password-reset", `{"email":"a@example.com"}`)), 400, "RESET_PASSWORD_DISABLED")
	})
	testsupport.Both(t, func(t *testing.T, dsn string) {
		mb := newMailbox(t)
		tg := newTestGate(t, dsn, "email_webhook "+mb.URL)
		c, _ := tg.signUp("Alice", "alice@example.com", "password123")

		known := tg.do(req("POST", "/auth/request-password-reset", `{"email":"Alice@example.com","redirectTo":"/reset"}`))
		unknown := tg.do(req("POST", "/auth/request-password-reset", `{"email":"nobody@example.com","redirectTo":"/reset"}`))
		want := `{"message":"If this email exists in our system, check your email for the reset link","status":true}`
		if known.Code != 200 || known.Body.String() != want || unknown.Code != 200 || unknown.Body.String() != want {
			t.Fatalf("request-password-reset known %d %s, unknown %d %s", known.Code, known.Body, unknown.Code, unknown.Body)
		}
		wantError(t, tg.do(req("POST", "/auth/request-password-reset", `{"email":"nope"}`)), 400, "VALIDATION_ERROR")
		wantError(t, tg.do(req("POST", "/auth/request-password-reset", `{"email":"alice@example.com","redirectTo":"https://evil.example/"}`)), 403, "INVALID_CALLBACK_URL")

		msg := mb.last(t, "alice@example.com")
		if msg.Type != "reset-password" || len(msg.Token) != 24 || msg.User.ID == "" {
			t.Fatalf("reset email %+v", msg)
		}
		if want := site + "/auth/reset-password/" + msg.Token + "?callbackURL=%2Freset"; msg.URL != want {
			t.Errorf("reset link %q, want %q", msg.URL, want)
		}

		// The link redirects to the app with the token, without using it up.
		link, _ := url.Parse(msg.URL)
		for i := 0; i < 2; i++ {
			w := tg.do(req("GET", link.RequestURI(), ""))
			if w.Code != 302 || w.Header().Get("Location") != site+"/reset?token="+msg.Token {
				t.Fatalf("reset link %d %q", w.Code, w.Header().Get("Location"))
			}
		}
		w := tg.do(req("GET", "/auth/reset-password/badtoken?callbackURL=/reset", ""))
		if w.Code != 302 || w.Header().Get("Location") != site+"/reset?error=INVALID_TOKEN" {
			t.Errorf("bad reset link %d %q", w.Code, w.Header().Get("Location"))
		}
		w = tg.do(req("GET", "/auth/reset-password/"+msg.Token+"?callbackURL=https://evil.example/", ""))
		wantError(t, w, 403, "INVALID_CALLBACK_URL")

		wantError(t, tg.do(req("POST", "/auth/reset-password", `{"newPassword":"newpassword1"}`)), 400, "INVALID_TOKEN")
		wantError(t, tg.do(req("POST", "/auth/reset-password", `{"newPassword":"newpassword1","token":"wrong"}`)), 400, "INVALID_TOKEN")
		wantError(t, tg.do(req("POST", "/auth/reset-password", `{"newPassword":"short","token":"`+msg.Token+`"}`)), 400, "PASSWORD_TOO_SHORT")

		w = tg.do(req("POST", "/auth/reset-password", `{"newPassword":"newpassword1","token":"`+msg.Token+`"}`))
		if w.Code != 200 || w.Body.String() != `{"status":true}` {
			t.Fatalf("reset-password %d %s", w.Code, w.Body)
		}
		// Single use; every session revoked; the new password works.
		wantError(t, tg.do(req("POST", "/auth/reset-password", `{"newPassword":"newpassword2","token":"`+msg.Token+`"}`)), 400, "INVALID_TOKEN")
		if tg.do(req("GET", "/x", "", "Cookie", c)).Code != 401 {
			t.Error("a session survived the password reset")
		}
		tg.signIn("alice@example.com", "newpassword1")

		// Tokens expire after an hour.
		tg.do(req("POST", "/auth/request-password-reset", `{"email":"alice@example.com","redirectTo":"/reset"}`))
		msg2 := mb.last(t, "alice@example.com")
		for msg2.Token == msg.Token {
			msg2 = mb.last(t, "alice@example.com")
		}
		setNow(t, time.Now().Add(61*time.Minute))
		wantError(t, tg.do(req("POST", "/auth/reset-password", `{"newPassword":"newpassword3","token":"`+msg2.Token+`"}`)), 400, "INVALID_TOKEN")
	})
}

func TestEmailVerification(t *testing.T) {
	t.Run("disabled without email delivery", func(t *testing.T) {
		tg := newTestGate(t, testsupport.SQLiteDSN(t), "")
		wantError(t, tg.do(req("POST", "/auth/send-verification-email", `{"email":"a@example.com"}`)), 400, "VERIFICATION_EMAIL_NOT_ENABLED")
	})
	testsupport.Both(t, func(t *testing.T, dsn string) {
		mb := newMailbox(t)
		tg := newTestGate(t, dsn, "email_webhook "+mb.URL)
		c, _ := tg.signUp("Alice", "alice@example.com", "password123")
		other, _ := tg.signUp("Bob", "bob@example.com", "password123")

		wantError(t, tg.post("/auth/send-verification-email", other, `{"email":"alice@example.com"}`), 400, "EMAIL_MISMATCH")
		w := tg.post("/auth/send-verification-email", c, `{"email":"alice@example.com","callbackURL":"/welcome"}`)
		if w.Code != 200 || w.Body.String() != `{"status":true}` {
			t.Fatalf("send-verification-email %d %s", w.Code, w.Body)
		}
		msg := mb.last(t, "alice@example.com")
		if msg.Type != "verify-email" || !strings.HasPrefix(msg.URL, site+"/auth/verify-email?token="+msg.Token+"&callbackURL=%2Fwelcome") {
			t.Fatalf("verification email %+v", msg)
		}

		// Unauthenticated sends answer the same for any address.
		start := time.Now()
		for _, addr := range []string{"nobody@example.com", "bob@example.com"} {
			if w := tg.do(req("POST", "/auth/send-verification-email", `{"email":"`+addr+`"}`)); w.Code != 200 || w.Body.String() != `{"status":true}` {
				t.Errorf("anonymous send for %s: %d %s", addr, w.Code, w.Body)
			}
		}
		if time.Since(start) < 2*unauthenticatedVerifyFloor {
			t.Error("anonymous sends answered faster than the floor")
		}

		// Bad and expired tokens.
		w = tg.do(req("GET", "/auth/verify-email?token=garbage", ""))
		wantError(t, w, 401, "INVALID_TOKEN")
		w = tg.do(req("GET", "/auth/verify-email?token=garbage&callbackURL=/welcome", ""))
		if w.Code != 302 || w.Header().Get("Location") != "/welcome?error=INVALID_TOKEN" {
			t.Errorf("bad token with callback %d %q", w.Code, w.Header().Get("Location"))
		}
		link, _ := url.Parse(msg.URL)
		setNow(t, time.Now().Add(2*time.Hour))
		wantError(t, tg.do(req("GET", "/auth/verify-email?token="+link.Query().Get("token"), "")), 401, "TOKEN_EXPIRED")
		setNow(t, time.Now())

		// The link verifies and redirects to the callback, relative as given.
		w = tg.do(req("GET", link.RequestURI(), ""))
		if w.Code != 302 || w.Header().Get("Location") != "/welcome" {
			t.Fatalf("verify-email %d %q %s", w.Code, w.Header().Get("Location"), w.Body)
		}
		if tg.do(req("GET", "/x", "", "Cookie", c)); tg.next.header.Get("X-User-Email-Verified") != "true" {
			t.Errorf("gate still says unverified")
		}
		w = tg.do(req("GET", "/auth/verify-email?token="+link.Query().Get("token"), ""))
		if w.Code != 200 || w.Body.String() != `{"status":true,"user":null}` {
			t.Errorf("second verify %d %s", w.Code, w.Body)
		}
		wantError(t, tg.post("/auth/send-verification-email", c, `{"email":"alice@example.com"}`), 400, "EMAIL_ALREADY_VERIFIED")
	})
}

func TestRequireEmailVerification(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		mb := newMailbox(t)
		tg := newTestGate(t, dsn, "require_email_verification\nemail_webhook "+mb.URL)
		w := tg.do(req("POST", "/auth/sign-up/email", `{"name":"Alice","email":"alice@example.com","password":"password123"}`))
		m := decodeJSON(t, w)
		if w.Code != 200 || m["token"] != nil || len(w.Header().Values("Set-Cookie")) != 0 {
			t.Fatalf("sign-up with verification required: %d %s %q", w.Code, w.Body, w.Header().Values("Set-Cookie"))
		}
		// Duplicate sign-up: the same kind of answer, no enumeration.
		w = tg.do(req("POST", "/auth/sign-up/email", `{"name":"Alice","email":"alice@example.com","password":"password123"}`))
		if w.Code != 200 || decodeJSON(t, w)["token"] != nil {
			t.Errorf("duplicate sign-up: %d %s", w.Code, w.Body)
		}
		wantError(t, tg.do(req("POST", "/auth/sign-in/email", `{"email":"alice@example.com","password":"password123"}`)), 403, "EMAIL_NOT_VERIFIED")

		msg := mb.last(t, "alice@example.com")
		link, _ := url.Parse(msg.URL)
		if w := tg.do(req("GET", link.RequestURI(), "")); w.Code != 302 {
			t.Fatalf("verify %d %s", w.Code, w.Body)
		}
		tg.signIn("alice@example.com", "password123")
	})
}

func TestSignUp_DisabledSignUp(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		tg := newTestGate(t, dsn, "disable_sign_up")
		wantError(t, tg.do(req("POST", "/auth/sign-up/email", `{"name":"A","email":"a@example.com","password":"password123"}`)), 400, "EMAIL_PASSWORD_SIGN_UP_DISABLED")
	})
}

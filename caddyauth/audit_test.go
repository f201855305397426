package caddyauth

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/authgate/authgate/internal/testsupport"
)

const (
	auditLoggerName = "http.handlers.auth_gate"
	auditUA         = "AuditTest/1.0 (like a browser)"
	auditOrigin     = "http://example.com"
)

// auditLog captures a Gate's log, its audit entries included: the audit
// logger is derived from the Gate's logger, which the test replaces.
type auditLog struct {
	t    *testing.T
	logs *observer.ObservedLogs
	seen int
	ip   string // the client address entries must name
}

func captureAudit(t *testing.T, g *Gate) *auditLog {
	core, logs := observer.New(zapcore.DebugLevel)
	g.logger = zap.New(core).Named(auditLoggerName)
	return &auditLog{t: t, logs: logs, ip: "203.0.113.7"}
}

// since returns the entries logged since the last call.
func (a *auditLog) since() []observer.LoggedEntry {
	all := a.logs.AllUntimed()
	out := all[a.seen:]
	a.seen = len(all)
	return out
}

// want checks that exactly one audit entry was written since the last
// check, with these fields. userID and sessionID "" mean the field must be
// absent, "*" that it must be present. It returns the entry's fields.
func (a *auditLog) want(event, reason, userID, sessionID string) map[string]any {
	a.t.Helper()
	var audit []observer.LoggedEntry
	for _, e := range a.since() {
		if e.LoggerName == auditLoggerName+".audit" {
			audit = append(audit, e)
			continue
		}
		// The handler's own log must not repeat the event.
		if m := e.Message; strings.HasPrefix(m, "sign-") || strings.Contains(m, "password reset") {
			a.t.Errorf("%s: a non-audit entry %q repeats the event", event, m)
		}
	}
	if len(audit) != 1 {
		a.t.Fatalf("%s: %d audit entries, want 1: %+v", event, len(audit), audit)
	}
	e := audit[0]
	f := e.ContextMap()
	outcome, msg := "success", event
	if reason != "" {
		outcome, msg = "failure", event+" failed"
	}
	if e.Level != zapcore.InfoLevel || e.Message != msg {
		a.t.Errorf("%s: entry %s %q, want info %q", event, e.Level, e.Message, msg)
	}
	for k, v := range map[string]string{"event": event, "outcome": outcome, "client_ip": a.ip, "user_agent": auditUA} {
		if f[k] != v {
			a.t.Errorf("%s: %s = %v, want %q", event, k, f[k], v)
		}
	}
	if got, ok := f["reason"]; reason == "" && ok || reason != "" && got != reason {
		a.t.Errorf("%s: reason = %v, want %q", event, got, reason)
	}
	for k, want := range map[string]string{"user_id": userID, "session_id": sessionID} {
		got, ok := f[k]
		switch {
		case want == "" && ok:
			a.t.Errorf("%s: %s = %v, want none", event, k, got)
		case want == "*" && (!ok || got == ""):
			a.t.Errorf("%s: no %s", event, k)
		case want != "" && want != "*" && got != want:
			a.t.Errorf("%s: %s = %v, want %s", event, k, got, want)
		}
	}
	return f
}

// wantNone checks that no audit entry was written since the last check.
func (a *auditLog) wantNone(what string) {
	a.t.Helper()
	for _, e := range a.since() {
		if e.LoggerName == auditLoggerName+".audit" {
			a.t.Errorf("%s: unexpected audit entry %q %v", what, e.Message, e.ContextMap())
		}
	}
}

// auditFlow sends requests as one browser would and remembers every
// secret it sees, to look for them in the log afterwards.
type auditFlow struct {
	t       *testing.T
	tg      *testGate
	secrets map[string]string // value → what it is
}

func (f *auditFlow) secret(what, v string) {
	if len(v) >= 6 {
		f.secrets[v] = what
	}
}

// call sends a request (with the cookie, when given) and checks its status.
func (f *auditFlow) call(method, path, cookie, body string, status int) *httptest.ResponseRecorder {
	f.t.Helper()
	h := []string{"User-Agent", auditUA, "Origin", auditOrigin}
	if cookie != "" {
		h = append(h, "Cookie", cookie)
	}
	w := f.tg.do(req(method, path, body, h...))
	if w.Code != status {
		f.t.Fatalf("%s %s: %d %s, want %d", method, path, w.Code, w.Body, status)
	}
	for _, sc := range w.Header().Values("Set-Cookie") {
		name, rest, _ := strings.Cut(sc, "=")
		value, _, _ := strings.Cut(rest, ";")
		f.secret("cookie "+name, value)
		if v, err := url.QueryUnescape(value); err == nil {
			f.secret("cookie "+name, v)
		}
	}
	if strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") && w.Body.Len() > 0 {
		var m map[string]any
		if json.Unmarshal(w.Body.Bytes(), &m) == nil {
			if tok, ok := m["token"].(string); ok {
				f.secret("session token", tok)
			}
		}
	}
	return w
}

// signIn signs in and returns the cookie and the session id.
func (f *auditFlow) signIn(email, password string) (cookie, sessionID string) {
	f.t.Helper()
	w := f.call("POST", "/auth/sign-in/email", "", `{"email":"`+email+`","password":"`+password+`"}`, 200)
	cookie = sessionCookieFrom(f.t, w)
	return cookie, f.sessionID(cookie)
}

func (f *auditFlow) sessionID(cookie string) string {
	f.t.Helper()
	w := f.call("GET", "/auth/get-session", cookie, "", 200)
	var m struct {
		Session struct {
			ID string `json:"id"`
		} `json:"session"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil || m.Session.ID == "" {
		f.t.Fatalf("get-session: %v %s", err, w.Body)
	}
	return m.Session.ID
}

func TestAudit_OneEntryPerEventAndNothingSecret(t *testing.T) {
	dsn := testsupport.SQLiteDSN(t)
	mail := newMailbox(t)
	hook := mail.URL
	tg := newTestGate(t, dsn, "delete_user\nemail_webhook "+hook)
	log := captureAudit(t, tg.g)
	f := &auditFlow{t: t, tg: tg, secrets: map[string]string{}}
	const (
		password    = "Audit-Horse-Battery-1"
		newPassword = "Audit-Horse-Battery-2"
		reset       = "Audit-Horse-Battery-3"
		wrong       = "Audit-Wrong-Password"
	)
	for what, v := range map[string]string{
		"password": password, "new password": newPassword, "reset password": reset, "wrong password": wrong,
		"secret": testSecret, "email": "alice@example.com", "unknown email": "nobody@example.com",
	} {
		f.secret(what, v)
	}

	// Sign-up, and a second one for the same address.
	w := f.call("POST", "/auth/sign-up/email", "", `{"name":"Alice","email":"alice@example.com","password":"`+password+`"}`, 200)
	c1 := sessionCookieFrom(t, w)
	var signedUp struct {
		Token string `json:"token"`
		User  struct {
			ID string `json:"id"`
		} `json:"user"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &signedUp); err != nil || signedUp.Token == "" {
		t.Fatalf("sign-up answer: %v %s", err, w.Body)
	}
	uid := signedUp.User.ID
	s1 := f.sessionID(c1)
	log.want(eventSignUp, "", uid, s1)
	f.call("POST", "/auth/sign-up/email", "", `{"name":"Alice","email":"alice@example.com","password":"`+password+`"}`, 422)
	log.want(eventSignUp, reasonExists, "", "")

	// Sign-in: wrong password, unknown address, success.
	f.call("POST", "/auth/sign-in/email", "", `{"email":"alice@example.com","password":"`+wrong+`"}`, 401)
	log.want(eventSignIn, reasonWrongPassword, uid, "")
	f.call("POST", "/auth/sign-in/email", "", `{"email":"nobody@example.com","password":"`+wrong+`"}`, 401)
	log.want(eventSignIn, reasonUnknownEmail, "", "")
	c2, s2 := f.signIn("alice@example.com", password)
	log.want(eventSignIn, "", uid, s2)
	f.call("GET", "/auth/get-session", c2, "", 200)
	f.call("GET", "/dashboard", c2, "", 200)
	log.wantNone("reading the session")

	// Email verification.
	f.call("POST", "/auth/send-verification-email", c2, `{"email":"alice@example.com"}`, 200)
	log.want(eventVerificationEmailSent, "", uid, s2)
	verify := mail.nth(t, 0)
	f.secret("verification token", verify.Token)
	f.secret("verification link", verify.URL)
	f.call("GET", "/auth/verify-email?token="+url.QueryEscape(verify.Token), "", "", 200)
	log.want(eventEmailVerified, "", uid, "")

	// Account changes.
	f.call("POST", "/auth/update-user", c2, `{"name":"Alice A."}`, 200)
	log.want(eventUpdateUser, "", uid, s2)
	f.call("POST", "/auth/change-password", c2, `{"currentPassword":"`+wrong+`","newPassword":"`+newPassword+`"}`, 400)
	log.want(eventChangePassword, reasonWrongPassword, uid, s2)
	f.call("POST", "/auth/change-password", c2, `{"currentPassword":"`+password+`","newPassword":"`+newPassword+`"}`, 200)
	log.want(eventChangePassword, "", uid, s2)

	// Revocations: the session revoked is the one named.
	f.call("POST", "/auth/revoke-session", c2, `{"token":"`+signedUp.Token+`"}`, 200)
	log.want(eventRevokeSession, "", uid, s1)
	c3, s3 := f.signIn("alice@example.com", newPassword)
	log.want(eventSignIn, "", uid, s3)
	f.call("POST", "/auth/revoke-other-sessions", c3, "", 200)
	if got := log.want(eventRevokeOtherSessions, "", uid, s3); got["revoked"] != int64(1) {
		t.Errorf("revoke-other-sessions: revoked = %v, want 1", got["revoked"])
	}
	f.call("POST", "/auth/revoke-sessions", c3, "", 200)
	log.want(eventRevokeSessions, "", uid, s3)

	// Password reset: requested for a known and an unknown address, a bad
	// token, the real one.
	f.call("POST", "/auth/request-password-reset", "", `{"email":"alice@example.com","redirectTo":"/reset"}`, 200)
	log.want(eventPasswordResetRequest, "", uid, "")
	f.call("POST", "/auth/request-password-reset", "", `{"email":"nobody@example.com","redirectTo":"/reset"}`, 200)
	log.want(eventPasswordResetRequest, reasonUnknownEmail, "", "")
	resetMail := mail.nth(t, 1)
	f.secret("reset token", resetMail.Token)
	f.secret("reset link", resetMail.URL)
	f.call("POST", "/auth/reset-password", "", `{"token":"NoSuchToken0123456789abc","newPassword":"`+reset+`"}`, 400)
	log.want(eventPasswordReset, reasonInvalidToken, "", "")
	f.call("POST", "/auth/reset-password", "", `{"token":"`+resetMail.Token+`","newPassword":"`+reset+`"}`, 200)
	log.want(eventPasswordReset, "", uid, "")

	// Sign-out, and one with a session that no longer exists.
	c4, s4 := f.signIn("alice@example.com", reset)
	log.want(eventSignIn, "", uid, s4)
	f.call("POST", "/auth/sign-out", c4, "", 200)
	log.want(eventSignOut, "", uid, s4)
	f.call("POST", "/auth/sign-out", c4, "", 200)
	log.wantNone("signing out of a session that is gone")

	// Deleting the account: a wrong password, then the right one.
	c5, s5 := f.signIn("alice@example.com", reset)
	log.want(eventSignIn, "", uid, s5)
	f.call("POST", "/auth/delete-user", c5, `{"password":"`+wrong+`"}`, 400)
	log.want(eventDeleteUser, reasonWrongPassword, uid, s5)
	var hash string
	if err := testsupport.OpenDB(t, dsn).Get(&hash, `SELECT "password" FROM "account"`); err != nil {
		t.Fatal(err)
	}
	f.secret("password hash", hash)
	f.secret("password hash key", hash[strings.IndexByte(hash, ':')+1:])
	f.call("POST", "/auth/delete-user", c5, `{"password":"`+reset+`"}`, 200)
	log.want(eventDeleteUser, "", uid, s5)

	// Nothing secret in any entry, audit or not.
	all := log.logs.AllUntimed()
	for _, e := range all {
		text := e.Message + " " + fmt.Sprint(e.ContextMap())
		for s, what := range f.secrets {
			if strings.Contains(text, s) {
				t.Errorf("entry %q contains the %s", e.Message, what)
			}
		}
	}
	t.Logf("checked %d secrets against %d entries", len(f.secrets), len(all))
}

func TestAudit_RateLimitedSignIn(t *testing.T) {
	tg := newLimitedGate(t, testsupport.SQLiteDSN(t), "")
	log := captureAudit(t, tg.g)
	signIn := func(ip, email string) int {
		r := signInReq(email)
		r.Header.Set("User-Agent", auditUA)
		log.ip = ip
		return tg.from(ip, r).Code
	}
	// The per-client limit, met before the body is read.
	for i := range 3 {
		signIn("198.51.100.1", fmt.Sprintf("u%d@example.com", i))
		log.want(eventSignIn, reasonUnknownEmail, "", "")
	}
	if code := signIn("198.51.100.1", "u3@example.com"); code != 429 {
		t.Fatalf("4th sign-in from one client: %d", code)
	}
	log.want(eventSignIn, reasonRateLimited, "", "")
	// The per-email limit is per client: clients that each try once for
	// one address are never limited.
	for i := range 4 {
		if code := signIn(fmt.Sprintf("192.0.2.%d", i+1), "target@example.com"); code != 401 {
			t.Fatalf("sign-in %d for one address: %d", i+1, code)
		}
		log.want(eventSignIn, reasonUnknownEmail, "", "")
	}
}

func TestAudit_UserAgentIsCut(t *testing.T) {
	long := strings.Repeat("é", maxAuditUserAgent)
	got := auditUserAgent(long)
	if len(got) > maxAuditUserAgent || !strings.HasPrefix(long, got) || strings.ToValidUTF8(got, "") != got {
		t.Errorf("cut to %d bytes: %q", len(got), got)
	}
	if auditUserAgent("curl/8") != "curl/8" {
		t.Error("a short User-Agent was changed")
	}
}

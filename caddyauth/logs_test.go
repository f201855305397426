package caddyauth

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/testsupport"
)

// Logs: the log of a full flow, as the built
// binary writes it at debug level, holds no password, session token, cookie
// value, password hash, reset token, verification token or secret.

// Two secrets, so that the older (verify-only) one is checked too.
const (
	logSecret    = "log-secret-0123456789-abcdefghijklmnop"
	logOldSecret = "old-secret-9876543210-zyxwvutsrqponmlk"
)

// webhookCapture receives the email webhook and keeps what it carried,
// headers included.
type webhookCapture struct {
	*httptest.Server
	mu   sync.Mutex
	msgs []emailMessage
	sigs []string
}

func newWebhookCapture(t *testing.T) *webhookCapture {
	wc := &webhookCapture{}
	wc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var m emailMessage
		_ = json.Unmarshal(body, &m)
		wc.mu.Lock()
		wc.msgs = append(wc.msgs, m)
		wc.sigs = append(wc.sigs, r.Header.Get("X-Auth-Gate-Signature"))
		wc.mu.Unlock()
	}))
	t.Cleanup(wc.Close)
	return wc
}

// next waits for the n-th message (0-based).
func (wc *webhookCapture) next(t *testing.T, n int) (emailMessage, string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		wc.mu.Lock()
		if len(wc.msgs) > n {
			m, s := wc.msgs[n], wc.sigs[n]
			wc.mu.Unlock()
			return m, s
		}
		wc.mu.Unlock()
	}
	t.Fatalf("no webhook message #%d", n)
	return emailMessage{}, ""
}

// logFlow drives the built binary through a client without a cookie jar,
// remembering every secret it sees on the way.
type logFlow struct {
	t       *testing.T
	base    string
	secrets map[string]string // value → what it is
}

func (f *logFlow) secret(what, v string) {
	if len(v) >= 6 {
		f.secrets[v] = what
	}
}

func (f *logFlow) do(method, path, body string, headers ...string) (*http.Response, string) {
	f.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r, err := http.NewRequest(method, f.base+path, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(r)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	// Every cookie value and its signature is a secret.
	for _, sc := range resp.Header.Values("Set-Cookie") {
		name, rest, _ := strings.Cut(strings.SplitN(sc, ";", 2)[0], "=")
		if rest == "" {
			continue
		}
		f.secret(name+" cookie", rest)
		if dec, err := url.QueryUnescape(rest); err == nil {
			f.secret(name+" cookie, decoded", dec)
			if i := strings.LastIndexByte(dec, '.'); i > 0 {
				f.secret(name+" cookie signature", dec[i+1:])
				f.secret(name+" cookie signature, encoded", url.QueryEscape(dec[i+1:]))
			}
		}
	}
	var m map[string]any
	if json.Unmarshal(b, &m) == nil {
		if tok, ok := m["token"].(string); ok {
			f.secret("session token", tok)
		}
	}
	return resp, string(b)
}

func (f *logFlow) want(resp *http.Response, body string, status int) {
	f.t.Helper()
	if resp.StatusCode != status {
		f.t.Fatalf("%s %s: %d %s, want %d", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, body, status)
	}
}

func cookieOf(resp *http.Response) string {
	for _, sc := range resp.Header.Values("Set-Cookie") {
		if strings.HasPrefix(sc, "better-auth.session_token=") {
			return strings.SplitN(sc, ";", 2)[0]
		}
	}
	return ""
}

// TestLogs_FullFlowLeaksNoSecret runs the flow twice: at Caddy's default
// level with the secrets written into the Caddyfile, and at debug level with
// them in environment variables. At debug level Caddy itself logs the whole
// JSON config ("adjusted config", logger http.auto_https), so a secret or a
// DSN password written literally into the Caddyfile is in that log whatever
// auth_gate does: {env.*} placeholders keep them out, as they are expanded
// only at provision time.
func TestLogs_FullFlowLeaksNoSecret(t *testing.T) {
	t.Run("info level, literal secrets", func(t *testing.T) {
		testsupport.Both(t, func(t *testing.T, dsn string) {
			logFullFlow(t, dsn, "", dsn, logSecret+" "+logOldSecret)
		})
	})
	t.Run("debug level, secrets from the environment", func(t *testing.T) {
		testsupport.Both(t, func(t *testing.T, dsn string) {
			logFullFlow(t, dsn, "debug", "{env.AUTH_GATE_TEST_DSN}", "{env.AUTH_GATE_TEST_SECRET} {env.AUTH_GATE_TEST_OLD_SECRET}",
				"AUTH_GATE_TEST_DSN="+dsn, "AUTH_GATE_TEST_SECRET="+logSecret, "AUTH_GATE_TEST_OLD_SECRET="+logOldSecret)
		})
	})
}

// logFullFlow starts the binary with the given global option (for the log
// level), database and secret settings and environment, drives the flow,
// and checks the log.
func logFullFlow(t *testing.T, dsn, global, database, secrets string, env ...string) {
	wc := newWebhookCapture(t)
	up := testsupport.NewUpstream(t)
	caddy := testsupport.StartCaddy(t, `{
	admin off
	`+global+`
}
http://127.0.0.1:{PORT} {
	auth_gate {
		database `+database+`
		secret `+secrets+`
		rate_limit off
		base_url http://127.0.0.1:{PORT}
		email_webhook `+wc.URL+`
	}
	reverse_proxy `+up.HostPort()+`
}
`, env...)
	f := &logFlow{t: t, base: caddy.BaseURL, secrets: map[string]string{}}
	origin := []string{"Origin", caddy.BaseURL}
	const (
		firstPassword = "Correct-Horse-1st-Battery"
		wrongPassword = "Wrong-Horse-Guess-Battery"
		newPassword   = "Correct-Horse-2nd-Battery"
		leakPassword  = "Leaky-Horse-In-Bad-Body"
	)
	f.secret("secret", logSecret)
	f.secret("old secret", logOldSecret)
	for _, p := range []string{firstPassword, wrongPassword, newPassword, leakPassword} {
		f.secret("password", p)
	}
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok {
			f.secret("database password", pw)
		}
	}
	db := testsupport.OpenDB(t, dsn)
	hash := func() {
		var h string
		if err := db.Get(&h, `SELECT "password" FROM "account" WHERE "providerId" = 'credential'`); err != nil {
			t.Fatalf("read hash: %v", err)
		}
		salt, key, _ := strings.Cut(h, ":")
		f.secret("password hash", h)
		f.secret("password hash salt", salt)
		f.secret("password hash key", key)
	}

	resp, body := f.do("POST", "/auth/sign-up/email", `{"name":"Alice","email":"alice@example.com","password":"`+firstPassword+`"}`)
	f.want(resp, body, 200)
	hash()
	var signUp struct{ User struct{ ID string } }
	_ = json.Unmarshal([]byte(body), &signUp)

	resp, body = f.do("POST", "/auth/sign-in/email", `{"email":"alice@example.com","password":"`+wrongPassword+`"}`)
	f.want(resp, body, 401)
	resp, body = f.do("POST", "/auth/sign-in/email", `{"email":"nobody@example.com","password":"`+wrongPassword+`"}`)
	f.want(resp, body, 401)
	resp, body = f.do("POST", "/auth/sign-in/email", `{"email":"alice@example.com","password":"`+firstPassword+`"}`)
	f.want(resp, body, 200)
	cookie := cookieOf(resp)

	resp, body = f.do("GET", "/auth/get-session", "", "Cookie", cookie)
	f.want(resp, body, 200)
	resp, body = f.do("GET", "/dashboard", "", "Cookie", cookie)
	f.want(resp, body, 200)
	resp, body = f.do("GET", "/dashboard", "", "Authorization", "Bearer "+strings.TrimPrefix(cookie, "better-auth.session_token="))
	f.want(resp, body, 401)

	// Password reset through the webhook.
	resp, body = f.do("POST", "/auth/request-password-reset", `{"email":"alice@example.com","redirectTo":"/reset"}`)
	f.want(resp, body, 200)
	reset, sig := wc.next(t, 0)
	f.secret("reset token", reset.Token)
	f.secret("reset link", reset.URL)
	f.secret("webhook signature", sig)
	link, _ := url.Parse(reset.URL)
	resp, body = f.do("GET", link.RequestURI(), "")
	f.want(resp, body, 302)
	resp, body = f.do("POST", "/auth/reset-password", `{"newPassword":"`+newPassword+`","token":"`+reset.Token+`"}`)
	f.want(resp, body, 200)
	resp, body = f.do("POST", "/auth/reset-password", `{"newPassword":"`+newPassword+`","token":"`+reset.Token+`"}`)
	f.want(resp, body, 400) // used up
	hash()

	resp, body = f.do("POST", "/auth/sign-in/email", `{"email":"alice@example.com","password":"`+newPassword+`"}`)
	f.want(resp, body, 200)
	cookie = cookieOf(resp)

	// Email verification through the webhook.
	resp, body = f.do("POST", "/auth/send-verification-email", `{"email":"alice@example.com","callbackURL":"/welcome"}`, append([]string{"Cookie", cookie}, origin...)...)
	f.want(resp, body, 200)
	verify, sig := wc.next(t, 1)
	f.secret("verification token", verify.Token)
	f.secret("verification token signature", verify.Token[strings.LastIndexByte(verify.Token, '.')+1:])
	f.secret("verification link", verify.URL)
	f.secret("webhook signature", sig)
	link, _ = url.Parse(verify.URL)
	resp, body = f.do("GET", link.RequestURI(), "")
	f.want(resp, body, 302)

	// Failures that carry secrets in odd places.
	resp, body = f.do("POST", "/auth/sign-in/email", `{"email":"alice@example.com","password":"`+leakPassword+`"`)
	f.want(resp, body, 400)
	resp, body = f.do("POST", "/auth/sign-in/email", `{"email":"alice@example.com","password":"`+leakPassword+strings.Repeat("x", 70<<10)+`"}`)
	f.want(resp, body, 413)
	resp, body = f.do("POST", "/auth/reset-password", `{"newPassword":"`+leakPassword+`","token":"`+reset.Token+`"}`)
	f.want(resp, body, 400)
	resp, body = f.do("POST", "/auth/update-user", `{"name":"x"}`, "Cookie", cookie, "Origin", "http://evil.example")
	f.want(resp, body, 403)
	resp, body = f.do("GET", "/dashboard", "", "Cookie", strings.Replace(cookie, "%3D", "A%3D", 1))
	f.want(resp, body, 401)

	resp, body = f.do("POST", "/auth/sign-out", "", append([]string{"Cookie", cookie}, origin...)...)
	f.want(resp, body, 200)

	caddy.Stop()
	logs := caddy.Logs()
	// The capture must be the gate's log, or the test proves nothing.
	for _, want := range []string{`"logger":"http.handlers.auth_gate`, "sign-in failed", signUp.User.ID} {
		if !strings.Contains(logs, want) {
			t.Fatalf("the log lacks %q: not the gate's output?\n%s", want, logs)
		}
	}
	if global == "debug" && !strings.Contains(logs, `"level":"debug"`) {
		t.Fatalf("no debug entries in the log")
	}
	for s, what := range f.secrets {
		if strings.Contains(logs, s) {
			t.Errorf("the log contains the %s %q", what, s)
		}
	}
	t.Logf("checked %d secret values against %d lines of log", len(f.secrets), strings.Count(logs, "\n"))
	if t.Failed() {
		t.Logf("log:\n%s", logs)
	}
}

// TestLogs_EmailLogWarnsThatItLogsLinks: email_log writes links to the log
// by design (development only), so it must say so, once, at warn level;
// passwords, cookies, hashes and the secret still stay out.
func TestLogs_EmailLogWarnsThatItLogsLinks(t *testing.T) {
	dsn := testsupport.SQLiteDSN(t)
	caddy := testsupport.StartCaddy(t, `{
	admin off
}
http://127.0.0.1:{PORT} {
	auth_gate {
		database `+dsn+`
		secret `+logSecret+`
		rate_limit off
		base_url http://127.0.0.1:{PORT}
		email_log
	}
	respond "app"
}
`)
	f := &logFlow{t: t, base: caddy.BaseURL, secrets: map[string]string{}}
	const password = "Correct-Horse-Log-Battery"
	f.secret("secret", logSecret)
	f.secret("password", password)
	resp, body := f.do("POST", "/auth/sign-up/email", `{"name":"Alice","email":"alice@example.com","password":"`+password+`"}`)
	f.want(resp, body, 200)
	resp, body = f.do("POST", "/auth/request-password-reset", `{"email":"alice@example.com","redirectTo":"/reset"}`)
	f.want(resp, body, 200)
	var h string
	if err := testsupport.OpenDB(t, dsn).Get(&h, `SELECT "password" FROM "account"`); err != nil {
		t.Fatal(err)
	}
	f.secret("password hash", h)

	var logs string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		logs = caddy.Logs()
		if strings.Contains(logs, "/auth/reset-password/") || time.Now().After(deadline) {
			break
		}
	}
	warned := 0
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, `"level":"warn"`) && strings.Contains(line, "email_log") && strings.Contains(line, "links") {
			warned++
		}
	}
	if warned != 1 {
		t.Errorf("%d warn entries say that email_log logs links, want 1:\n%s", warned, logs)
	}
	if !strings.Contains(logs, "/auth/reset-password/") {
		t.Errorf("email_log did not log the reset link:\n%s", logs)
	}
	for s, what := range f.secrets {
		if strings.Contains(logs, s) {
			t.Errorf("the log contains the %s %q", what, s)
		}
	}
}

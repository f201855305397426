package caddyauth

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/authgate/authgate/caddyauth/internal/bacodec"
	"github.com/authgate/authgate/caddyauth/internal/password"
	"github.com/authgate/authgate/internal/testsupport"
	"github.com/authgate/authgate/store"
)

// Fuzz targets for the auth API, one per endpoint family:
// arbitrary bodies, content types, paths and queries go through ServeHTTP
// on a SQLite-backed gate, provisioned once per target. The invariant: the
// status is one the API documents, the body is JSON (empty for a 404 or an
// API redirect), a redirect stays on the site, and nothing answers 500 or
// panics. The seeds below, and any files under testdata/fuzz/<Name>/, run
// as ordinary tests.

// provisionGate is provisionFromCaddyfile for any testing.TB (fuzz targets
// and benchmarks): database and secret are added to the block.
func provisionGate(tb testing.TB, dsn, extra string) *Gate {
	tb.Helper()
	tb.Setenv("XDG_DATA_HOME", tb.TempDir())
	d := caddyfile.NewTestDispenser("auth_gate {\ndatabase " + dsn + "\nsecret " + testSecret + "\n" + withSiteBaseURL(extra) + "\n}")
	g := new(Gate)
	if err := g.UnmarshalCaddyfile(d); err != nil {
		tb.Fatalf("caddyfile: %v", err)
	}
	ctx, err := caddy.ProvisionContext(nil)
	if err != nil {
		tb.Fatalf("caddy context: %v", err)
	}
	tb.Cleanup(func() { _ = g.Cleanup() })
	if err := g.Provision(ctx); err != nil {
		tb.Fatalf("provision: %v", err)
	}
	if err := g.Validate(); err != nil {
		tb.Fatalf("validate: %v", err)
	}
	app, err := ctx.App(appID)
	if err != nil {
		tb.Fatalf("app: %v", err)
	}
	if err := app.(caddy.App).Start(); err != nil {
		tb.Fatalf("start: %v", err)
	}
	return g
}

// serveOnce is testGate.do without a *testing.T, for goroutines, fuzz
// targets and benchmarks.
func serveOnce(g *Gate, next caddyhttp.Handler, r *http.Request) (*httptest.ResponseRecorder, error) {
	ctx := context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer())
	ctx = context.WithValue(ctx, caddyhttp.VarsCtxKey, map[string]any{caddyhttp.ClientIPVarKey: "203.0.113.7"})
	w := httptest.NewRecorder()
	err := g.ServeHTTP(w, r.WithContext(ctx), next)
	return w, err
}

// fuzzGate is the gate of one fuzz target: every endpoint reachable, mail
// going to a sink, rate limiting off (the fuzzer is one very busy client),
// and a quiet logger.
type fuzzGate struct {
	g    *Gate
	next *recordingNext
}

const fuzzGateConfig = "rate_limit off\ndelete_user\nlogin_url /login\npublic /public /public/*\ntrusted_origins " + hostileTrusted

func newFuzzGate(f *testing.F) *fuzzGate {
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	f.Cleanup(sink.Close)
	g := provisionGate(f, testsupport.SQLiteDSN(f), fuzzGateConfig+"\nemail_webhook "+sink.URL)
	g.logger = zap.NewNop()
	return &fuzzGate{g: g, next: &recordingNext{}}
}

// fuzzPassword's hash is computed once: creating the fuzz user must not
// cost a scrypt per input.
var fuzzPasswordHash = func() string {
	h, err := password.Hash("password123")
	if err != nil {
		panic(err)
	}
	return h
}()

// session makes sure alice@example.com exists (an input may have deleted
// her) and returns the cookie of a fresh session of hers.
func (fg *fuzzGate) session(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	st := fg.g.store()
	if err := fg.g.db.st.Ready(ctx); err != nil {
		t.Fatalf("store: %v", err)
	}
	user, err := st.UserByEmail(ctx, "alice@example.com")
	if err != nil {
		user, err = st.CreateUserWithPassword(ctx, store.NewUser{Name: "Alice", Email: "alice@example.com", PasswordHash: fuzzPasswordHash}, now())
		if err != nil {
			t.Fatalf("create fuzz user: %v", err)
		}
	}
	sess, err := st.CreateSession(ctx, store.NewSession{UserID: user.ID, ExpiresAt: now().Add(time.Hour)}, now())
	if err != nil {
		t.Fatalf("create fuzz session: %v", err)
	}
	return "better-auth.session_token=" + wireCookie(testSecret, sess.Token)
}

// serve runs r and checks the invariant; allowed are the statuses the
// endpoint family documents.
func (fg *fuzzGate) serve(t *testing.T, r *http.Request, allowed ...int) *httptest.ResponseRecorder {
	t.Helper()
	calls := fg.next.calls
	w, err := serveOnce(fg.g, fg.next, r)
	if err != nil {
		t.Fatalf("ServeHTTP returned %v", err)
	}
	if fg.next.calls != calls {
		// Only the gate (outside base_path) passes requests on; the
		// caller checks those.
		return w
	}
	checkAnswer(t, r, w, allowed)
	return w
}

// checkAnswer is the fuzz invariant for an answer of the gate itself.
func checkAnswer(t *testing.T, r *http.Request, w *httptest.ResponseRecorder, allowed []int) {
	t.Helper()
	ok := false
	for _, s := range allowed {
		ok = ok || s == w.Code
	}
	if !ok || w.Code >= 500 && w.Code != http.StatusServiceUnavailable && w.Code != http.StatusBadGateway {
		t.Fatalf("%s %s: status %d is not one of %v; body %s", r.Method, r.URL, w.Code, allowed, w.Body)
	}
	body := w.Body.Bytes()
	switch {
	case w.Code == http.StatusNotFound:
		if len(body) != 0 {
			t.Fatalf("404 with a body: %s", body)
		}
		return
	case w.Code == http.StatusFound || w.Code == http.StatusSeeOther:
		loc := w.Header().Get("Location")
		if !onSite(loc) {
			t.Fatalf("%s %s redirects off-site: Location %q", r.Method, r.URL, loc)
		}
		// The gate's login redirect carries http.Redirect's small HTML
		// body; Better Auth's redirects have none.
		if len(body) != 0 && !strings.HasPrefix(loc, "/login?redirect=") {
			t.Fatalf("API redirect with a body: %s", body)
		}
		return
	case strings.HasPrefix(w.Header().Get("Content-Type"), "text/html"):
		if r.URL.Path != "/auth/error" {
			t.Fatalf("HTML answer from %s", r.URL.Path)
		}
		return
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q; body %s", ct, body)
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("body is not JSON (%v): %q", err, body)
	}
	if w.Code >= 400 {
		m, _ := v.(map[string]any)
		msg, _ := m["message"].(string)
		if msg == "" {
			t.Fatalf("error without a message: %s", body)
		}
		if c, ok := m["code"]; ok {
			if _, isStr := c.(string); !isStr {
				t.Fatalf("code is not a string: %s", body)
			}
		}
		// A 415 quotes the client's Content-Type back, as Better Auth does.
		lower := strings.ToLower(strings.Replace(msg, fmt.Sprintf("%q", r.Header.Get("Content-Type")), "", 1))
		for _, frag := range goErrorText {
			if strings.Contains(lower, frag) {
				t.Fatalf("error message carries Go error text %q: %s", frag, body)
			}
		}
	}
	if w.Code == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
		t.Fatalf("503 without Retry-After: %s", body)
	}
}

// onSite reports whether a redirect target stays on the site or a trusted
// origin: a safe relative path, or an absolute http(s) URL whose host is the
// site's own or trusted.
func onSite(loc string) bool {
	if safeRelativePath(loc) {
		return true
	}
	u, err := url.Parse(loc)
	if err != nil || hasControl(loc) || strings.ContainsRune(loc, '\\') || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	switch host := strings.ToLower(u.Host); {
	case host == "example.com", host == "trusted.example.com", strings.HasSuffix(host, ".wild.example"):
		return true
	}
	return false
}

// bodyRequest is a POST of body with the given Content-Type ("" for none).
func bodyRequest(path, ctype string, body []byte) *http.Request {
	r := httptest.NewRequest("POST", path, strings.NewReader(string(body)))
	if ctype != "" {
		r.Header.Set("Content-Type", ctype)
	}
	return r
}

// rawRequest builds a request from parts that may not form a valid target
// (httptest.NewRequest would panic on those).
func rawRequest(method, path, query string) *http.Request {
	r := httptest.NewRequest("GET", "/", nil)
	r.Method = method
	r.URL = &url.URL{Path: path, RawQuery: query}
	r.RequestURI = r.URL.RequestURI()
	return r
}

// Statuses the auth API documents (the README's and Better Auth's);
// 502 is a failed email delivery, 503 an unavailable store or a full
// hashing queue.
var (
	signUpStatuses  = []int{200, 400, 403, 413, 415, 422, 503}
	signInStatuses  = []int{200, 400, 401, 403, 413, 415, 503}
	accountStatuses = []int{200, 400, 401, 403, 404, 413, 415, 502, 503}
	resetStatuses   = []int{200, 302, 400, 403, 404, 413, 415, 503}
	verifyStatuses  = []int{200, 302, 400, 401, 403, 404, 413, 415, 502, 503}
	gateStatuses    = []int{200, 302, 303, 400, 401, 403, 404, 405, 413, 415, 422, 502, 503}
)

// bodySeeds are bodies every body-reading family starts from.
var bodySeeds = []struct {
	ctype, body string
}{
	{"application/json", `{}`},
	{"application/json", `{"email":`},
	{"application/json", `null`},
	{"application/json", `[1,2]`},
	{"application/json", `{"email":42,"password":{"a":1},"name":["x"]}`},
	{"application/json", `{"name":"a\u0000b","email":"a@example.com","password":"pass\u0000word"}`},
	{"application/json", "{\"name\":\"a\xffb\",\"token\":\"\\ud800\"}"},
	{"application/json", `{"a":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}`},
	{"application/json; charset=utf-8", `{"email":"alice@example.com"}`},
	{"application/json;;", `{}`},
	{"APPLICATION/JSON", `{}`},
	{"application/x-www-form-urlencoded", "email=alice%40example.com&password=password123&name=a%FF%00;b&email=x"},
	{"text/plain", `{}`},
	{"", `{"email":"a@example.com"}`},
	{"multipart/form-data; boundary=x", "--x--"},
}

func FuzzAPI_SignUp(f *testing.F) {
	for _, s := range bodySeeds {
		f.Add(s.ctype, []byte(s.body))
	}
	f.Add("application/json", []byte(`{"name":"Bob","email":"bob@example.com","password":"password123","callbackURL":"/welcome","rememberMe":false}`))
	f.Add("application/json", []byte(`{"name":"Bob\r\nX-Evil: 1","email":" BOB2@Example.com ","password":"password123","image":"https://img.example/b.png"}`))
	f.Add("application/x-www-form-urlencoded", []byte("name=Form&email=form%40example.com&password=password123&callbackURL=%2F%2Fevil.com"))
	f.Add("application/json", []byte(`{"name":"M","email":"m@example.com","password":"short"}`))
	fg := newFuzzGate(f)
	f.Fuzz(func(t *testing.T, ctype string, body []byte) {
		fg.serve(t, bodyRequest("/auth/sign-up/email", ctype, body), signUpStatuses...)
	})
}

func FuzzAPI_SignIn(f *testing.F) {
	for _, s := range bodySeeds {
		f.Add(s.ctype, []byte(s.body))
	}
	f.Add("application/json", []byte(`{"email":"alice@example.com","password":"password123","callbackURL":"https://trusted.example.com/x","rememberMe":false}`))
	f.Add("application/json", []byte(`{"email":"nobody@example.com","password":"password123"}`))
	f.Add("application/json", []byte(`{"email":"alice@example.com","password":"`+strings.Repeat("p", 200)+`"}`))
	f.Add("application/x-www-form-urlencoded", []byte("email=ALICE%40example.com&password=wrong&callbackURL=javascript:alert(1)"))
	fg := newFuzzGate(f)
	f.Fuzz(func(t *testing.T, ctype string, body []byte) {
		fg.session(t) // alice exists
		fg.serve(t, bodyRequest("/auth/sign-in/email", ctype, body), signInStatuses...)
	})
}

// accountPaths are the endpoints that need a session.
var accountPaths = []string{
	"/auth/update-user", "/auth/change-password", "/auth/revoke-session", "/auth/revoke-sessions",
	"/auth/revoke-other-sessions", "/auth/sign-out", "/auth/delete-user", "/auth/send-verification-email",
	"/auth/list-sessions", "/auth/get-session", "/auth/get-access-token", "/auth/refresh-token",
}

func FuzzAPI_Account(f *testing.F) {
	for i, s := range bodySeeds {
		f.Add(uint8(i), s.ctype, []byte(s.body), true)
	}
	f.Add(uint8(0), "application/json", []byte(`{"name":"Alice\n2","image":null}`), true)
	f.Add(uint8(1), "application/json", []byte(`{"currentPassword":"password123","newPassword":"password123","revokeOtherSessions":true}`), true)
	f.Add(uint8(2), "application/json", []byte(`{"token":"x"}`), true)
	f.Add(uint8(6), "application/json", []byte(`{"callbackURL":"/bye"}`), true)
	f.Add(uint8(7), "application/json", []byte(`{"email":"alice@example.com","callbackURL":"/v"}`), true)
	f.Add(uint8(0), "application/json", []byte(`{"name":"x"}`), false)
	fg := newFuzzGate(f)
	f.Fuzz(func(t *testing.T, which uint8, ctype string, body []byte, sameOrigin bool) {
		path := accountPaths[int(which)%len(accountPaths)]
		method := "POST"
		if path == "/auth/list-sessions" || path == "/auth/get-session" {
			method = "GET"
		}
		r := bodyRequest(path, ctype, body)
		r.Method = method
		r.Header.Set("Cookie", fg.session(t))
		if sameOrigin {
			r.Header.Set("Origin", site)
		}
		fg.serve(t, r, accountStatuses...)
	})
}

func FuzzAPI_PasswordReset(f *testing.F) {
	for i, s := range bodySeeds {
		f.Add(uint8(i), "", "", s.ctype, []byte(s.body))
	}
	f.Add(uint8(0), "", "", "application/json", []byte(`{"email":"alice@example.com","redirectTo":"/reset"}`))
	f.Add(uint8(0), "", "", "application/json", []byte(`{"email":"nobody@example.com","redirectTo":"//evil.com"}`))
	f.Add(uint8(1), "", "token=abc", "application/json", []byte(`{"newPassword":"newpassword1"}`))
	f.Add(uint8(1), "", "", "application/json", []byte(`{"newPassword":"newpassword1","token":"abc\u0000"}`))
	f.Add(uint8(2), "abcdefghijklmnopqrstuvwx", "callbackURL=%2Freset", "", []byte(nil))
	f.Add(uint8(2), "%00", "callbackURL=/x", "", []byte(nil))
	f.Add(uint8(2), "x", "callbackURL=%2F%5Cevil.com&callbackURL=/ok", "", []byte(nil))
	f.Add(uint8(2), "x", "callbackURL=https://trusted.example.com/r#frag", "", []byte(nil))
	f.Add(uint8(2), "a/b", "callbackURL=/x", "", []byte(nil))
	fg := newFuzzGate(f)
	f.Fuzz(func(t *testing.T, which uint8, token, query, ctype string, body []byte) {
		fg.session(t) // alice exists
		var r *http.Request
		switch which % 3 {
		case 0:
			r = bodyRequest("/auth/request-password-reset", ctype, body)
		case 1:
			r = bodyRequest("/auth/reset-password", ctype, body)
			r.URL.RawQuery = query
		default:
			r = rawRequest("GET", "/auth/reset-password/"+token, query)
		}
		fg.serve(t, r, resetStatuses...)
	})
}

func FuzzAPI_Verification(f *testing.F) {
	good, _ := bacodec.SignEmailToken([]byte(testSecret), bacodec.EmailClaims{Email: "alice@example.com", IssuedAt: 1, ExpiresAt: 4102444800})
	f.Add(false, "token="+good+"&callbackURL=%2Fwelcome", "", []byte(nil))
	f.Add(false, "token="+good, "", []byte(nil))
	f.Add(false, "token=garbage&callbackURL=/x", "", []byte(nil))
	f.Add(false, "token=e30.e30.&callbackURL=//evil.com", "", []byte(nil))
	f.Add(false, "token=eyJhbGciOiJub25lIn0.eyJlbWFpbCI6ImFsaWNlQGV4YW1wbGUuY29tIn0.", "", []byte(nil))
	f.Add(false, "callbackURL=%2Fa%3Fb%3Dc&token=", "", []byte(nil))
	f.Add(true, "", "application/json", []byte(`{"email":"nobody@example.com","callbackURL":"/v"}`))
	f.Add(true, "", "application/json", []byte(`{"email":"alice@example.com","callbackURL":"javascript:alert(1)"}`))
	f.Add(true, "", "text/plain", []byte(`{}`))
	fg := newFuzzGate(f)
	f.Fuzz(func(t *testing.T, send bool, query, ctype string, body []byte) {
		cookie := fg.session(t) // alice exists
		var r *http.Request
		if send {
			// With alice's session: the anonymous path answers no sooner
			// than 500 ms whatever the input (so that timing tells nothing),
			// which would starve the fuzzer; TestHostile_* cover it.
			r = bodyRequest("/auth/send-verification-email", ctype, body)
			r.Header.Set("Cookie", cookie)
			r.Header.Set("Origin", site)
		} else {
			r = rawRequest("GET", "/auth/verify-email", query)
		}
		fg.serve(t, r, verifyStatuses...)
	})
}

// FuzzGate_Request sends arbitrary methods, paths, queries, cookies and
// forged identity headers: the API routes them (404 for the unknown), and
// the gate passes a request on only for a public path or with the real
// session, never with a client's identity headers.
func FuzzGate_Request(f *testing.F) {
	f.Add("GET", "/dashboard", "", "", "text/html", "forged", true)
	f.Add("GET", "//evil.com/x", "a=b", "", "text/html", "", false)
	f.Add("POST", "/%2F%2Fevil.com", "", "", "text/html", "", false)
	f.Add("GET", "/public/../admin", "", "", "", "forged", false)
	f.Add("GET", "/public/x", "", "better-auth.session_token=x.y", "", "forged", false)
	f.Add("GET", "/auth/get-session", "disableRefresh=true", "", "", "", true)
	f.Add("GET", "/auth/ok", "", "", "", "", false)
	f.Add("GET", "/auth/error", "error=<script>", "", "", "", false)
	f.Add("OPTIONS", "/auth/sign-in/email", "", "", "", "", false)
	f.Add("POST", "/auth/get-session", "", "", "", "", true)
	f.Add("GET", "/auth//ok", "", "", "", "", false)
	f.Add("DELETE", "/x", "", "better-auth.session_token=%", "application/json", "", false)
	fg := newFuzzGate(f)
	f.Fuzz(func(t *testing.T, method, path, query, cookie, accept, forged string, withSession bool) {
		if method == "" || strings.ContainsAny(method, " \r\n") {
			method = "GET"
		}
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		r := rawRequest(method, path, query)
		var userID string
		if withSession {
			c := fg.session(t)
			cookie = c + "; " + cookie
			gs, _ := serveOnce(fg.g, fg.next, req("GET", "/auth/get-session", "", "Cookie", c))
			var m struct{ User struct{ ID string } }
			_ = json.Unmarshal(gs.Body.Bytes(), &m)
			userID = m.User.ID
		}
		if cookie != "" {
			r.Header.Set("Cookie", cookie)
		}
		if accept != "" {
			r.Header.Set("Accept", accept)
		}
		if forged != "" {
			r.Header["X-User-Id"] = []string{forged}
			r.Header["X_User_Id"] = []string{forged}
			r.Header["x-session-id"] = []string{forged}
		}
		calls := fg.next.calls
		w := fg.serve(t, r, gateStatuses...)
		if fg.next.calls == calls {
			return
		}
		// Passed on: a public path, or the real session.
		if w.Code != 200 || fg.g.underBasePath(r.URL.Path) {
			t.Fatalf("%s %q passed on from the API or with %d", method, path, w.Code)
		}
		h := fg.next.header
		ids := h.Values("X-User-Id")
		for k := range h {
			n := normalizeHeaderName(k)
			if (n == "x-user-id" || n == "x-session-id") && k != "X-User-Id" && k != "X-Session-Id" {
				t.Fatalf("client's %q reached the upstream", k)
			}
		}
		switch {
		case len(ids) == 0:
			r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer()))
			if fg.g.public == nil || !fg.g.public.Match(r) {
				t.Fatalf("%q passed on without identity and is not public", path)
			}
		case len(ids) != 1 || ids[0] != userID || userID == "":
			t.Fatalf("upstream X-User-Id %q, want only the session's %q", ids, userID)
		}
	})
}

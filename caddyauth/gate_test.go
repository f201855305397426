package caddyauth

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/authgate/authgate/internal/testsupport"
)

func TestGate_PassesAuthenticatedRequestWithIdentity(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		tg := newTestGate(t, dsn, "")
		cookie, up := tg.signUp("Zoë\r\nX-Evil: 1", "alice@example.com", "password123")
		user := up["user"].(map[string]any)

		w := tg.do(req("GET", "/dashboard?x=1", "", "Cookie", cookie, "X-User-Id", "forged"))
		if w.Code != 200 || tg.next.calls != 1 {
			t.Fatalf("status %d, upstream calls %d", w.Code, tg.next.calls)
		}
		h := tg.next.header
		gs := decodeJSON(t, tg.do(req("GET", "/auth/get-session", "", "Cookie", cookie)))
		sessionID := gs["session"].(map[string]any)["id"].(string)
		want := map[string]string{
			"X-User-Id":             user["id"].(string),
			"X-User-Email":          "alice@example.com",
			"X-User-Name":           "Zo%C3%AB%0D%0AX-Evil: 1",
			"X-User-Email-Verified": "false",
			"X-Session-Id":          sessionID,
		}
		for k, v := range want {
			if got := h.Values(k); len(got) != 1 || got[0] != v {
				t.Errorf("%s = %q, want %q", k, got, v)
			}
		}
		if h.Get("X-Evil") != "" {
			t.Error("CR/LF in a name produced a header")
		}
		if tg.next.repl["http.auth.user.id"] != user["id"] || tg.next.repl["http.auth.session.id"] != sessionID ||
			tg.next.repl["http.auth.user.email_verified"] != "false" || tg.next.repl["http.auth.user.name"] != "Zoë\r\nX-Evil: 1" {
			t.Errorf("placeholders %v", tg.next.repl)
		}
	})
}

func TestGate_StripsClientIdentityHeadersEverywhere(t *testing.T) {
	tg := newTestGate(t, testsupport.SQLiteDSN(t), "public /public/*")
	cookie, up := tg.signUp("Alice", "alice@example.com", "password123")
	userID := up["user"].(map[string]any)["id"].(string)

	forge := func(r *http.Request) *http.Request {
		// Raw map keys, as Go's server keeps names it cannot canonicalise.
		r.Header["X-User-Id"] = []string{"forged"}
		r.Header["X_User_Id"] = []string{"forged"}
		r.Header["x-user-email"] = []string{"forged@example.com"}
		r.Header["X-USER_NAME"] = []string{"forged"}
		r.Header["X_User_Email_Verified"] = []string{"true"}
		r.Header["X-Session-ID"] = []string{"forged"}
		return r
	}
	t.Run("public route without session", func(t *testing.T) {
		w := tg.do(forge(req("GET", "/public/page", "")))
		if w.Code != 200 {
			t.Fatalf("status %d", w.Code)
		}
		for k := range tg.next.header {
			if strings.Contains(strings.ToLower(strings.ReplaceAll(k, "_", "-")), "x-user") || strings.EqualFold(strings.ReplaceAll(k, "_", "-"), "x-session-id") {
				t.Errorf("forged header %q reached the upstream: %q", k, tg.next.header[k])
			}
		}
	})
	t.Run("authenticated route", func(t *testing.T) {
		w := tg.do(forge(req("GET", "/private", "", "Cookie", cookie)))
		if w.Code != 200 {
			t.Fatalf("status %d", w.Code)
		}
		for k, v := range tg.next.header {
			norm := strings.ToLower(strings.ReplaceAll(k, "_", "-"))
			if (strings.HasPrefix(norm, "x-user") || norm == "x-session-id") && (len(v) != 1 || v[0] == "forged" || v[0] == "forged@example.com" || v[0] == "true") {
				t.Errorf("forged header %q = %q reached the upstream", k, v)
			}
		}
		if tg.next.header.Get("X-User-Id") != userID {
			t.Errorf("X-User-Id = %q", tg.next.header.Get("X-User-Id"))
		}
	})
	t.Run("rejected route", func(t *testing.T) {
		calls := tg.next.calls
		if w := tg.do(forge(req("GET", "/private", ""))); w.Code != 401 || tg.next.calls != calls {
			t.Errorf("forged identity without session: %d, upstream calls %d→%d", w.Code, calls, tg.next.calls)
		}
	})
}

func TestGate_UnauthenticatedAnswers(t *testing.T) {
	tg := newTestGate(t, testsupport.SQLiteDSN(t), "public /healthz /static/* /\nlogin_url /login")
	cases := []struct {
		name         string
		method, path string
		headers      []string
		status       int
		location     string
	}{
		{"public exact", "GET", "/healthz", nil, 200, ""},
		{"public root", "GET", "/", nil, 200, ""},
		{"public prefix", "GET", "/static/app.css", nil, 200, ""},
		{"public is case-insensitive like Caddy", "GET", "/STATIC/app.css", nil, 200, ""},
		{"dot segments leave public", "GET", "/static/../admin", nil, 401, ""},
		{"encoded dot segments leave public", "GET", "/static/%2e%2e/admin", nil, 401, ""},
		{"double slash collapsed", "GET", "//healthz", nil, 200, ""},
		{"api call", "GET", "/admin", []string{"Accept", "application/json"}, 401, ""},
		{"browser navigation", "GET", "/admin?tab=1", []string{"Accept", "text/html,application/xhtml+xml"}, 302, "/login?redirect=%2Fadmin%3Ftab%3D1"},
		{"browser navigation with fetch metadata", "GET", "/admin", []string{"Accept", "text/html", "Sec-Fetch-Mode", "navigate"}, 302, "/login?redirect=%2Fadmin"},
		{"browser form post", "POST", "/admin", []string{"Accept", "text/html"}, 303, "/login?redirect=%2Fadmin"},
		{"fetch from a page", "GET", "/admin", []string{"Accept", "text/html", "Sec-Fetch-Mode", "cors"}, 401, ""},
		{"xhr", "GET", "/admin", []string{"Accept", "text/html", "X-Requested-With", "XMLHttpRequest"}, 401, ""},
		{"bad cookie", "GET", "/admin", []string{"Cookie", "better-auth.session_token=abc.def"}, 401, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			calls := tg.next.calls
			w := tg.do(req(c.method, c.path, "", c.headers...))
			if w.Code != c.status {
				t.Fatalf("status %d, want %d (%s)", w.Code, c.status, w.Body)
			}
			passed := tg.next.calls > calls
			if passed != (c.status == 200) {
				t.Errorf("passed to upstream = %v", passed)
			}
			if c.status == 401 {
				wantError(t, w, 401, "UNAUTHORIZED")
			}
			if got := w.Header().Get("Location"); got != c.location {
				t.Errorf("Location %q, want %q", got, c.location)
			}
		})
	}
}

func TestGate_FailsClosedWhenStoreIsDown(t *testing.T) {
	// Nothing listens on port 1: every connection is refused.
	g, err := provisionFromCaddyfile(t, "database postgres://postgres@127.0.0.1:1/x?sslmode=disable&connect_timeout=2\nsecret "+testSecret+"\npublic /public")
	if err == nil {
		t.Fatal("start succeeded against an unreachable database")
	}
	if g != nil {
		t.Fatal("provisionFromCaddyfile returned a gate with an error")
	}

	// Provision without starting: the first request connects, fails, and
	// must not pass.
	g2 := new(Gate)
	g2.Database = "postgres://postgres@127.0.0.1:1/x?sslmode=disable&connect_timeout=2"
	g2.Secret = []string{testSecret}
	g2.Public = []string{"/public"}
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	ctx, err := caddy.ProvisionContext(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := g2.Provision(ctx); err != nil {
		t.Fatalf("provision must not connect: %v", err)
	}
	t.Cleanup(func() { _ = g2.Cleanup() })
	tg := &testGate{t: t, g: g2, next: &recordingNext{}}
	cookie := "better-auth.session_token=" + wireCookie(testSecret, "J95RstBkQGJwxRcnjEdSkAf7lMZHdwxU")
	for _, path := range []string{"/private", "/public"} {
		w := tg.do(req("GET", path, "", "Cookie", cookie))
		wantError(t, w, 503, "AUTH_STORE_UNAVAILABLE")
		if w.Header().Get("Retry-After") == "" {
			t.Errorf("%s: 503 without Retry-After", path)
		}
	}
	if w := tg.do(req("POST", "/auth/sign-in/email", `{"email":"a@example.com","password":"password123"}`)); w.Code != 503 {
		t.Errorf("sign-in with the store down: %d %s", w.Code, w.Body)
	}
	// Without a credential the store is not needed: public passes, the rest
	// is 401 as usual.
	if w := tg.do(req("GET", "/public", "")); w.Code != 200 {
		t.Errorf("public without cookie: %d", w.Code)
	}
	if w := tg.do(req("GET", "/private", "")); w.Code != 401 {
		t.Errorf("private without cookie: %d", w.Code)
	}
	if tg.next.calls != 1 {
		t.Errorf("upstream reached %d times, want once (the cookieless public request)", tg.next.calls)
	}
}

// TestGate_ADatabaseThatStopsAnsweringGets503AtTheLookupDeadline: PostgreSQL
// behind a proxy that stops forwarding mid-run (a partition, a paused
// server: nothing refused, nothing answered). A gated request with a valid
// session is answered 503 AUTH_STORE_UNAVAILABLE with Retry-After once the
// lookup deadline passes, on a private and a public path alike, and never
// reaches the upstream; when the database answers again, so does the gate.
func TestGate_ADatabaseThatStopsAnsweringGets503AtTheLookupDeadline(t *testing.T) {
	tg, proxy, cookie := signedInBehindProxy(t, "session_cache 0\npublic /public")
	before := tg.next.calls
	old := shortLookupTimeout(t)
	proxy.Freeze()
	for _, path := range []string{"/private", "/public"} {
		start := time.Now()
		done := make(chan *httptest.ResponseRecorder, 1)
		go func() { done <- tg.do(req("GET", path, "", "Cookie", cookie)) }()
		select {
		case w := <-done:
			wantError(t, w, 503, "AUTH_STORE_UNAVAILABLE")
			if w.Header().Get("Retry-After") == "" {
				t.Errorf("%s: 503 without Retry-After", path)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("%s: answered after %v with a 300 ms lookup deadline", path, d)
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("%s: no answer 15 s into a database freeze", path)
		}
	}
	if tg.next.calls != before {
		t.Errorf("the upstream was reached %d times while the database did not answer", tg.next.calls-before)
	}

	proxy.Thaw()
	lookupTimeout = old
	deadline := time.Now().Add(20 * time.Second)
	for {
		w := tg.do(req("GET", "/private", "", "Cookie", cookie))
		if w.Code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the database answers again: %d %s", w.Code, w.Body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestGate_ARefreshWriteThatGetsNoAnswerGets503AtTheDeadline: a session
// served from the cache whose sliding refresh falls due while the database
// has stopped answering: the refresh write is bounded like the lookup, so
// the request gets 503 AUTH_STORE_UNAVAILABLE, not a wait as long as the
// outage, and the upstream is not reached.
func TestGate_ARefreshWriteThatGetsNoAnswerGets503AtTheDeadline(t *testing.T) {
	start := time.Now()
	setNow(t, start)
	tg, proxy, cookie := signedInBehindProxy(t, "session_cache 48h")
	before := tg.next.calls
	shortLookupTimeout(t)
	proxy.Freeze()
	t.Cleanup(proxy.Thaw)
	// A day and an hour later the cached session is still valid, and its
	// refresh (session_update_age 1d) is due.
	setNow(t, start.Add(25*time.Hour))
	done := make(chan *httptest.ResponseRecorder, 1)
	go func() { done <- tg.do(req("GET", "/private", "", "Cookie", cookie)) }()
	select {
	case w := <-done:
		wantError(t, w, 503, "AUTH_STORE_UNAVAILABLE")
	case <-time.After(15 * time.Second):
		t.Fatal("no answer 15 s into a database freeze with a refresh due")
	}
	if tg.next.calls != before {
		t.Errorf("the upstream was reached while the refresh had no answer")
	}
}

// signedInBehindProxy is a gate on PostgreSQL reached through a proxy that
// can make it stop answering, with a user signed in and one gated request
// served.
func signedInBehindProxy(t *testing.T, extra string) (*testGate, *testsupport.FreezableProxy, string) {
	t.Helper()
	dsn, proxy := testsupport.PostgresDSNBehindProxy(t)
	tg := newTestGate(t, dsn, extra)
	cookie, _ := tg.signUp("Ada", "ada@example.com", "password123")
	if w := tg.do(req("GET", "/private", "", "Cookie", cookie)); w.Code != 200 {
		t.Fatalf("before the freeze: %d %s", w.Code, w.Body)
	}
	return tg, proxy, cookie
}

// shortLookupTimeout sets lookupTimeout to 300 ms for the test and returns
// the value it had.
func shortLookupTimeout(t *testing.T) time.Duration {
	old := lookupTimeout
	lookupTimeout = 300 * time.Millisecond
	t.Cleanup(func() { lookupTimeout = old })
	return old
}

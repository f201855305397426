package main

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/testsupport"
	"github.com/authgate/authgate/store"
)

// signedMailbox receives the email webhook and keeps each body with its
// signature header, for tests that check where links point and who can sign.
type signedMailbox struct {
	*httptest.Server
	mu   sync.Mutex
	msgs []signedMail
}

type signedMail struct {
	body []byte
	sig  string
	URL  string `json:"url"`
	To   string `json:"to"`
}

func newSignedMailbox(t *testing.T) *signedMailbox {
	m := &signedMailbox{}
	m.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		msg := signedMail{body: body, sig: r.Header.Get("X-Auth-Gate-Signature")}
		_ = json.Unmarshal(body, &msg)
		m.mu.Lock()
		m.msgs = append(m.msgs, msg)
		m.mu.Unlock()
	}))
	t.Cleanup(m.Close)
	return m
}

// wait returns the n-th message (0-based), waiting up to 10 s for it.
func (m *signedMailbox) wait(t *testing.T, n int) signedMail {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		m.mu.Lock()
		if len(m.msgs) > n {
			msg := m.msgs[n]
			m.mu.Unlock()
			return msg
		}
		m.mu.Unlock()
	}
	t.Fatalf("no webhook message #%d", n)
	return signedMail{}
}

// signedWith reports whether the message's signature is HMAC-SHA256 keyed
// with key, as a receiver checks it.
func (m signedMail) signedWith(key string) bool {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write(m.body)
	return hmac.Equal([]byte(m.sig), []byte("sha256="+hex.EncodeToString(mac.Sum(nil))))
}

// A client chooses the Host header; a reset link built from it would send
// the victim's token to the attacker's site. Links come from base_url only,
// on a catch-all site like the demo's `:8080`.
func TestSecurity_EmailLinksComeFromBaseURLNotHost(t *testing.T) {
	mb := newSignedMailbox(t)
	up := testsupport.NewUpstream(t)
	site := testsupport.StartCaddy(t, `{
	admin off
}
:{PORT} {
	auth_gate {
		database `+testsupport.SQLiteDSN(t)+`
		secret `+e2eSecret+`
		base_url https://app.example.com
		rate_limit off
		email_webhook `+mb.URL+`
	}
	reverse_proxy `+up.HostPort()+`
}
`)
	c := newClient(t, site.BaseURL)
	resp, body := c.do("POST", "/auth/sign-up/email", `{"name":"Victim","email":"victim@example.com","password":"password123"}`)
	if resp.StatusCode != 200 {
		t.Fatalf("sign-up %d %s\n%s", resp.StatusCode, body, site.Logs())
	}
	anon := newClient(t, site.BaseURL)
	for i, host := range []string{"attacker.example", "attacker.example:8080"} {
		req, _ := http.NewRequest("POST", site.BaseURL+"/auth/request-password-reset", strings.NewReader(`{"email":"victim@example.com","redirectTo":"/reset"}`))
		req.Host = host
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-Host", "attacker.example")
		resp, err := anon.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("Host %s: request-password-reset %d", host, resp.StatusCode)
		}
		msg := mb.wait(t, i)
		if !strings.HasPrefix(msg.URL, "https://app.example.com/auth/reset-password/") || strings.Contains(msg.URL, "attacker") {
			t.Errorf("Host %s: the emailed link is %q, want one on base_url", host, msg.URL)
		}
	}
}

// Email delivery without base_url is a config error that names it: there
// is no safe origin to build links from.
func TestSecurity_EmailWithoutBaseURLIsAConfigError(t *testing.T) {
	for _, mail := range []string{"email_webhook http://127.0.0.1:9/hook", "email_log"} {
		out, err := testsupport.RunCaddy(t, `:8080 {
	auth_gate {
		secret `+e2eSecret+`
		`+mail+`
	}
	respond ok
}
`, "validate", "--config", "Caddyfile", "--adapter", "caddyfile")
		if err == nil || !strings.Contains(out, "base_url") {
			t.Errorf("%s without base_url: validate err=%v, output:\n%s", mail, err, out)
		}
	}
}

// The webhook's key is its own, or derived from the main secret; never the
// main secret, with which the mail service could sign session cookies.
// `caddy auth webhook-key` prints the key a receiver needs.
func TestSecurity_WebhookIsNotSignedWithTheMainSecret(t *testing.T) {
	for _, tc := range []struct{ name, block, want string }{
		{"derived", "", ""},
		{"own secret", " {\n\t\t\tsecret webhook-only-key-0123456789\n\t\t}", "webhook-only-key-0123456789"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mb := newSignedMailbox(t)
			caddyfile := `{
	admin off
}
http://127.0.0.1:{PORT} {
	auth_gate {
		database ` + testsupport.SQLiteDSN(t) + `
		secret ` + e2eSecret + `
		base_url http://127.0.0.1:{PORT}
		rate_limit off
		email_webhook ` + mb.URL + tc.block + `
	}
	respond ok
}
`
			cli := testsupport.NewCLI(t)
			// The command reads the config only: any port will do.
			cli.WriteFile(t, "Caddyfile", strings.ReplaceAll(caddyfile, "{PORT}", "8080"))
			res := cli.Run(t, "", "auth", "webhook-key")
			if res.Code != 0 {
				t.Fatalf("webhook-key exit %d:\n%s", res.Code, res.Output())
			}
			key := strings.TrimSpace(res.Stdout)
			if tc.want != "" && key != tc.want {
				t.Errorf("webhook-key printed %q, want the block's secret", key)
			}
			if tc.want == "" && (len(key) != 64 || strings.Contains(res.Output(), e2eSecret)) {
				t.Errorf("webhook-key printed %q: want 64 hex characters, never the main secret", key)
			}

			site := testsupport.StartCaddy(t, caddyfile)
			c := newClient(t, site.BaseURL)
			resp, body := c.do("POST", "/auth/sign-up/email", `{"name":"Ada","email":"ada@example.com","password":"password123"}`)
			if resp.StatusCode != 200 {
				t.Fatalf("sign-up %d %s\n%s", resp.StatusCode, body, site.Logs())
			}
			resp, body = c.do("POST", "/auth/send-verification-email", `{"email":"ada@example.com"}`, "Origin", site.BaseURL)
			if resp.StatusCode != 200 {
				t.Fatalf("send-verification-email %d %s", resp.StatusCode, body)
			}
			msg := mb.wait(t, 0)
			if !msg.signedWith(key) {
				t.Errorf("the webhook's signature %q does not verify with the printed key", msg.sig)
			}
			if msg.signedWith(e2eSecret) {
				t.Error("the webhook is signed with the main secret")
			}
		})
	}
}

// rawUpstream is a TCP server standing in for the app that keeps the exact
// bytes of each request it receives, trailers included, and answers 200.
type rawUpstream struct {
	ln   net.Listener
	mu   sync.Mutex
	reqs []string
}

func newRawUpstream(t *testing.T) *rawUpstream {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &rawUpstream{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go u.serve(conn)
		}
	}()
	return u
}

// serve reads requests with net/http's parser while recording the bytes it
// consumed, so that what is kept is exactly what arrived.
func (u *rawUpstream) serve(conn net.Conn) {
	defer conn.Close()
	var raw strings.Builder
	br := bufio.NewReader(io.TeeReader(conn, &raw))
	for {
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, req.Body)
		// What the parser buffered beyond this request belongs to the
		// next; keep-alive requests here are one at a time, so there is none.
		u.mu.Lock()
		u.reqs = append(u.reqs, raw.String())
		u.mu.Unlock()
		raw.Reset()
		_, _ = io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	}
}

func (u *rawUpstream) last(t *testing.T) string {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.reqs) == 0 {
		t.Fatal("the upstream received nothing")
	}
	return u.reqs[len(u.reqs)-1]
}

// rawRequest writes req to addr as bytes and returns the status line.
func rawRequest(t *testing.T, addr, req string) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	resp.Body.Close()
	return resp.Status
}

// An identity header sent as a request trailer (declared, or merely sent
// once any trailer is declared) never reaches the app: the server fills
// trailers when the body ends, after the headers were stripped, and
// reverse_proxy forwards them. Public and gated paths alike.
func TestSecurity_TrailersNeverCarryIdentity(t *testing.T) {
	up := newRawUpstream(t)
	site := testsupport.StartCaddy(t, gatedSite(testsupport.SQLiteDSN(t), up.ln.Addr().String(), "rate_limit off"))
	c := newClient(t, site.BaseURL)
	resp, body := c.do("POST", "/auth/sign-up/email", `{"name":"Eve","email":"eve@example.com","password":"password123"}`)
	if resp.StatusCode != 200 {
		t.Fatalf("sign-up %d %s", resp.StatusCode, body)
	}
	cookie := ""
	for _, ck := range resp.Cookies() {
		if ck.Name == "better-auth.session_token" {
			cookie = ck.Name + "=" + ck.Value
		}
	}
	addr := strings.TrimPrefix(site.BaseURL, "http://")

	for _, tc := range []struct {
		name, path, cookie, declared string
		wantStatus                   string
	}{
		{"public, declared", "/public/x", "", "X-User-Id, X-Other", "200 OK"},
		{"public, undeclared behind another", "/public/x", "", "X-Other", "200 OK"},
		{"gated, declared", "/app", cookie, "X-User-Id, X_User_Email, X-Other", "200 OK"},
		{"gated, lower case", "/app", cookie, "x-user-id, X-Other", "200 OK"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var req strings.Builder
			fmt.Fprintf(&req, "POST %s HTTP/1.1\r\nHost: %s\r\nTransfer-Encoding: chunked\r\nTrailer: %s\r\n", tc.path, addr, tc.declared)
			if tc.cookie != "" {
				fmt.Fprintf(&req, "Cookie: %s\r\n", tc.cookie)
			}
			req.WriteString("Connection: close\r\n\r\n5\r\nhello\r\n0\r\n")
			req.WriteString("X-User-Id: admin-id\r\nx-user-id: admin-id-2\r\nX_User_Email: admin@example.com\r\nX-Session-Id: forged-session\r\nX-Other: kept\r\n\r\n")
			if got := rawRequest(t, addr, req.String()); got != tc.wantStatus {
				t.Fatalf("status %q, want %q\n%s", got, tc.wantStatus, site.Logs())
			}
			raw := up.last(t)
			// The trailer that is no identity header arrives: the test sees
			// trailers, so their absence below means something.
			if !strings.Contains(raw, "X-Other: kept") {
				t.Fatalf("the upstream got no trailers at all; the test proves nothing:\n%s", raw)
			}
			lower := strings.ToLower(raw)
			for _, forged := range []string{"admin-id", "admin@example.com", "forged-session"} {
				if strings.Contains(lower, forged) {
					t.Errorf("the forged value %q reached the upstream:\n%s", forged, raw)
				}
			}
		})
	}
}

// A sliding refresh adds the user's session cookie to the app's answer: a
// shared cache must not keep it and hand it to the next visitor.
func TestSecurity_RefreshCookieMarksTheResponsePrivate(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if cc := r.URL.Query().Get("cc"); cc != "" {
			w.Header().Set("Cache-Control", cc)
		}
		_, _ = io.WriteString(w, "page")
	}))
	t.Cleanup(app.Close)
	site := testsupport.StartCaddy(t, gatedSite(testsupport.SQLiteDSN(t), strings.TrimPrefix(app.URL, "http://"),
		"rate_limit off\n\t\tsession_cache 0\n\t\tsession_update_age 1ms"))
	c := newClient(t, site.BaseURL)
	if resp, body := c.do("POST", "/auth/sign-up/email", `{"name":"Bo","email":"bo@example.com","password":"password123"}`); resp.StatusCode != 200 {
		t.Fatalf("sign-up %d %s", resp.StatusCode, body)
	}
	for _, tc := range []struct{ app, want string }{
		{"", "private"},
		{"public, max-age=600", "private, max-age=600"},
		{"max-age=60", "private, max-age=60"},
		{"no-store", "no-store"},
		{"private, max-age=5", "private, max-age=5"},
	} {
		time.Sleep(5 * time.Millisecond) // past session_update_age: this use refreshes
		resp, body := c.do("GET", "/page?cc="+strings.ReplaceAll(tc.app, " ", "%20"), "")
		if resp.StatusCode != 200 || body != "page" {
			t.Fatalf("gated request %d %q", resp.StatusCode, body)
		}
		if len(resp.Header.Values("Set-Cookie")) == 0 {
			dump, _ := httputil.DumpResponse(resp, false)
			t.Fatalf("no refresh Set-Cookie; the test proves nothing:\n%s", dump)
		}
		if got := strings.Join(resp.Header.Values("Cache-Control"), ", "); got != tc.want {
			t.Errorf("app said %q: Cache-Control %q, want %q", tc.app, got, tc.want)
		}
	}
}

// storeDownCalls are requests of each endpoint family that needs the
// store; answers503 sends them with a session cookie.
func storeDownCalls() []struct{ name, method, path, body string } {
	return []struct{ name, method, path, body string }{
		{"sign-in", "POST", "/auth/sign-in/email", `{"email":"ada@example.com","password":"password123"}`},
		{"sign-up", "POST", "/auth/sign-up/email", `{"name":"Bob","email":"bob@example.com","password":"password123"}`},
		{"get-session", "GET", "/auth/get-session", ""},
		{"request-password-reset", "POST", "/auth/request-password-reset", `{"email":"ada@example.com"}`},
		{"list-sessions", "GET", "/auth/list-sessions", ""},
		{"gate", "GET", "/private", ""},
	}
}

// answers503 sends each call from a client IP of its own (through a
// trusted proxy, so that the in-memory rate limits never answer first) and
// wants 503 AUTH_STORE_UNAVAILABLE with Retry-After, each within limit.
func answers503(t *testing.T, site *testsupport.Caddy, up *testsupport.Upstream, cookie string, limit time.Duration) {
	t.Helper()
	before := up.Count()
	var wg sync.WaitGroup
	for i, call := range storeDownCalls() {
		wg.Go(func() {
			req, _ := http.NewRequest(call.method, site.BaseURL+call.path, strings.NewReader(call.body))
			if call.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			req.Header.Set("Cookie", cookie)
			req.Header.Set("Origin", site.BaseURL)
			req.Header.Set("X-Forwarded-For", fmt.Sprintf("198.51.100.%d", i+1))
			client := &http.Client{Timeout: limit}
			start := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				t.Errorf("%s: no answer within %v: %v", call.name, limit, err)
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(b), `"AUTH_STORE_UNAVAILABLE"`) || resp.Header.Get("Retry-After") == "" {
				t.Errorf("%s: %d %s (Retry-After %q) after %v, want 503 AUTH_STORE_UNAVAILABLE with Retry-After",
					call.name, resp.StatusCode, b, resp.Header.Get("Retry-After"), time.Since(start).Round(time.Millisecond))
			}
		})
	}
	wg.Wait()
	if n := up.Count() - before; n != 0 {
		t.Errorf("the app was reached %d times while the store could not answer", n)
	}
}

// storeSite is the gate on dsn, behind a trusted proxy for the client IPs,
// without a session cache, so that every request asks the store.
func storeSite(t *testing.T, dsn string, up *testsupport.Upstream, extra string) *testsupport.Caddy {
	return testsupport.StartCaddy(t, `{
	admin off
	servers {
		trusted_proxies static 127.0.0.1/32
	}
}
http://127.0.0.1:{PORT} {
	auth_gate {
		database `+dsn+`
		secret `+e2eSecret+`
		base_url http://127.0.0.1:{PORT}
		session_cache 0
		email_log
		`+extra+`
	}
	reverse_proxy `+up.HostPort()+`
}
`)
}

// A database that refuses the product's role (NOLOGIN, as a suspended or
// over-quota hosted compute answers) is 503 on every endpoint, never 500.
func TestSecurity_ARefusedRoleIs503Everywhere(t *testing.T) {
	admin := testsupport.OpenDB(t, testsupport.PostgresAdminDSN(t))
	u, err := url.Parse(testsupport.PostgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	dbname := strings.TrimPrefix(u.Path, "/")
	role := "authgate_refused_" + strings.ToLower(store.RandomString(10))
	admin.MustExec(`CREATE ROLE "` + role + `" LOGIN`)
	t.Cleanup(func() {
		// After the database is dropped (cleanups run last first): the role owns it.
		_, _ = admin.Exec(`DROP ROLE IF EXISTS "` + role + `"`)
	})
	admin.MustExec(`ALTER DATABASE "` + dbname + `" OWNER TO "` + role + `"`)
	u.User = url.User(role)

	up := testsupport.NewUpstream(t)
	site := storeSite(t, u.String(), up, "")
	c := newClient(t, site.BaseURL)
	resp, body := c.do("POST", "/auth/sign-up/email", `{"name":"Ada","email":"ada@example.com","password":"password123"}`)
	if resp.StatusCode != 200 {
		t.Fatalf("sign-up %d %s\n%s", resp.StatusCode, body, site.Logs())
	}
	cookie := sessionCookieOf(t, resp)

	admin.MustExec(`ALTER ROLE "` + role + `" NOLOGIN`)
	admin.MustExec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '` + role + `'`)
	answers503(t, site, up, cookie, 15*time.Second)
}

// A database that stops answering (nothing refused, nothing said) costs a
// request one store deadline, about 5 s, then 503: never a hang, with the
// rate limits kept in the database too.
func TestSecurity_AFrozenDatabaseIs503WithinTheDeadline(t *testing.T) {
	dsn, proxy := testsupport.PostgresDSNBehindProxy(t)
	up := testsupport.NewUpstream(t)
	site := storeSite(t, dsn, up, "rate_limit {\n\t\t\tstorage database\n\t\t}")
	c := newClient(t, site.BaseURL)
	resp, body := c.do("POST", "/auth/sign-up/email", `{"name":"Ada","email":"ada@example.com","password":"password123"}`, "X-Forwarded-For", "203.0.113.1")
	if resp.StatusCode != 200 {
		t.Fatalf("sign-up %d %s\n%s", resp.StatusCode, body, site.Logs())
	}
	cookie := sessionCookieOf(t, resp)
	proxy.Freeze()
	t.Cleanup(proxy.Thaw)
	answers503(t, site, up, cookie, 12*time.Second)
}

// sessionCookieOf is the name=value of the session cookie resp sets.
func sessionCookieOf(t *testing.T, resp *http.Response) string {
	t.Helper()
	for _, ck := range resp.Cookies() {
		if ck.Name == "better-auth.session_token" {
			return ck.Name + "=" + ck.Value
		}
	}
	t.Fatal("no session cookie")
	return ""
}

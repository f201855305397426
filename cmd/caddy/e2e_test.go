package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authgate/authgate/internal/testsupport"
)

const e2eSecret = "e2e-secret-e2e-secret-e2e-secret-0123"

// gatedSite is the Caddyfile every end-to-end test uses: auth_gate in front
// of reverse_proxy, configured as the README's minimal example.
func gatedSite(dsn, upstream, extra string) string {
	return `{
	admin off
}
http://127.0.0.1:{PORT} {
	auth_gate {
		database ` + dsn + `
		secret ` + e2eSecret + `
		base_url http://127.0.0.1:{PORT}
		public /public /public/*
		login_url /login
		` + extra + `
	}
	reverse_proxy ` + upstream + `
}
`
}

type client struct {
	t    *testing.T
	http *http.Client
	base string
}

func newClient(t *testing.T, base string) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, base: base, http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

func (c *client) do(method, path, body string, headers ...string) (*http.Response, string) {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestE2E_SignUpSignInAndReachUpstreamWithIdentity(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		up := testsupport.NewUpstream(t)
		site := testsupport.StartCaddy(t, gatedSite(dsn, up.HostPort(), ""))
		c := newClient(t, site.BaseURL)

		resp, body := c.do("POST", "/auth/sign-up/email", `{"name":"Alice","email":"alice@example.com","password":"password123"}`)
		if resp.StatusCode != 200 {
			t.Fatalf("sign-up %d %s\n%s", resp.StatusCode, body, site.Logs())
		}
		var signUp struct {
			User struct{ ID string } `json:"user"`
		}
		_ = json.Unmarshal([]byte(body), &signUp)

		// A fresh client signs in and reaches the app.
		c = newClient(t, site.BaseURL)
		resp, body = c.do("POST", "/auth/sign-in/email", `{"email":"alice@example.com","password":"password123"}`)
		if resp.StatusCode != 200 {
			t.Fatalf("sign-in %d %s", resp.StatusCode, body)
		}
		resp, body = c.do("GET", "/dashboard", "", "X-User-Id", "forged", "X_User_Id", "forged")
		if resp.StatusCode != 200 || !strings.Contains(body, "upstream saw GET /dashboard") {
			t.Fatalf("gated request %d %s", resp.StatusCode, body)
		}
		got := up.Last().Header
		if v := got.Values("X-User-Id"); len(v) != 1 || v[0] != signUp.User.ID {
			t.Errorf("upstream X-User-Id = %q, want %q", v, signUp.User.ID)
		}
		if got.Get("X-User-Email") != "alice@example.com" || got.Get("X-User-Name") != "Alice" ||
			got.Get("X-User-Email-Verified") != "false" || len(got.Get("X-Session-Id")) != 32 {
			t.Errorf("upstream identity headers %v", got)
		}
		if v := got.Values("X_User_Id"); len(v) != 0 {
			t.Errorf("underscore spelling reached the upstream: %q", v)
		}

		// Public route, no session: passes, with forged identity removed.
		anon := newClient(t, site.BaseURL)
		resp, _ = anon.do("GET", "/public/info", "", "X-User-Id", "forged", "X_User_Email", "forged@example.com")
		if resp.StatusCode != 200 {
			t.Fatalf("public route %d", resp.StatusCode)
		}
		if h := up.Last().Header; h.Get("X-User-Id") != "" || h.Get("X_User_Email") != "" || len(h.Values("X_User_Email")) != 0 {
			t.Errorf("forged identity reached the upstream on a public route: %v", h)
		}

		// Unauthenticated: API clients get 401 JSON, browsers the login page.
		n := up.Count()
		resp, body = anon.do("GET", "/dashboard", "", "Accept", "application/json")
		if resp.StatusCode != 401 || !strings.Contains(body, `"code":"UNAUTHORIZED"`) {
			t.Errorf("anonymous API call %d %s", resp.StatusCode, body)
		}
		resp, _ = anon.do("GET", "/dashboard?tab=2", "", "Accept", "text/html")
		if resp.StatusCode != 302 || resp.Header.Get("Location") != "/login?redirect=%2Fdashboard%3Ftab%3D2" {
			t.Errorf("anonymous navigation %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		if up.Count() != n {
			t.Error("unauthenticated requests reached the upstream")
		}

		// Sign-out ends it at the gate.
		resp, body = c.do("POST", "/auth/sign-out", "", "Origin", site.BaseURL)
		if resp.StatusCode != 200 {
			t.Fatalf("sign-out %d %s", resp.StatusCode, body)
		}
		if resp, _ = c.do("GET", "/dashboard", ""); resp.StatusCode != 401 {
			t.Errorf("after sign-out: %d", resp.StatusCode)
		}
	})
}

func TestE2E_NeonStyleDSNWithChannelBinding(t *testing.T) {
	dsn := testsupport.PostgresDSN(t)
	u, _ := url.Parse(dsn)
	q := u.Query()
	q.Set("sslmode", "require")
	q.Set("channel_binding", "require")
	u.RawQuery = q.Encode()

	up := testsupport.NewUpstream(t)
	site := testsupport.StartCaddy(t, gatedSite(u.String(), up.HostPort(), ""))
	c := newClient(t, site.BaseURL)
	if resp, body := c.do("POST", "/auth/sign-up/email", `{"name":"N","email":"neon@example.com","password":"password123"}`); resp.StatusCode != 200 {
		t.Fatalf("sign-up over TLS: %d %s\n%s", resp.StatusCode, body, site.Logs())
	}
	if resp, _ := c.do("GET", "/x", ""); resp.StatusCode != 200 {
		t.Errorf("gated request: %d", resp.StatusCode)
	}
	logs := site.Logs()
	if n := strings.Count(logs, "channel_binding"); n != 1 {
		t.Errorf("channel_binding warning logged %d times, want once:\n%s", n, logs)
	}
	if pw, ok := u.User.Password(); ok && pw != "" && strings.Contains(logs, pw) {
		t.Error("the database password appears in the log")
	}
}

func TestE2E_ValidateAndAdaptNeverTouchTheDatabase(t *testing.T) {
	pg := testsupport.PostgresDSN(t)
	sqlitePath := filepath.Join(t.TempDir(), "never.db")
	for name, dsn := range map[string]string{"postgres": pg, "sqlite": "sqlite://" + sqlitePath} {
		t.Run(name, func(t *testing.T) {
			cf := gatedSite(dsn, "127.0.0.1:9", "")
			cf = strings.ReplaceAll(cf, "{PORT}", "8081")
			for _, cmd := range [][]string{
				{"validate", "--config", "Caddyfile", "--adapter", "caddyfile"},
				{"adapt", "--config", "Caddyfile", "--adapter", "caddyfile"},
			} {
				out, err := testsupport.RunCaddy(t, cf, cmd...)
				if err != nil {
					t.Fatalf("caddy %s: %v\n%s", cmd[0], err, out)
				}
			}
		})
	}
	if _, err := os.Stat(sqlitePath); !os.IsNotExist(err) {
		t.Errorf("validate/adapt created the SQLite file: %v", err)
	}
	db := testsupport.OpenDB(t, pg)
	var n int
	if err := db.Get(&n, `SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'`); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("validate/adapt created %d tables", n)
	}
}

func TestE2E_ConfigErrorStopsCaddyNamingTheSubdirective(t *testing.T) {
	cf := strings.ReplaceAll(gatedSite("mysql://db/x", "127.0.0.1:9", ""), "{PORT}", "8082")
	out, err := testsupport.RunCaddy(t, cf, "validate", "--config", "Caddyfile", "--adapter", "caddyfile")
	if err == nil {
		t.Fatalf("validate accepted a mysql DSN:\n%s", out)
	}
	if !strings.Contains(out, "database") || !strings.Contains(out, "sqlite://") {
		t.Errorf("error does not name the subdirective and accepted forms:\n%s", out)
	}
}

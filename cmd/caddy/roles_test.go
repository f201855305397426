package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/testsupport"
)

// Two instances on one PostgreSQL database, caching sessions for a minute,
// with `admin on` (which adds the role columns) and a require rule: a role
// granted, then a ban, both by plain SQL, decide instance B's answer within
// a second, which only the user-row notices can explain.
func TestE2E_RoleAndBanBySQLReachTheOtherInstanceWithinOneSecond(t *testing.T) {
	dsn := testsupport.PostgresDSN(t)
	up := testsupport.NewUpstream(t)
	extra := "session_cache 1m\n\t\tadmin on\n\t\trequire /admin/* role admin"
	siteA := testsupport.StartCaddy(t, gatedSite(dsn, up.HostPort(), extra))
	siteB := testsupport.StartCaddy(t, gatedSite(dsn, up.HostPort(), extra))
	waitListeners(t, dsn, 2)
	a, b := newClient(t, siteA.BaseURL), newClient(t, siteB.BaseURL)
	db := testsupport.OpenDB(t, dsn)

	resp, body := a.do("POST", "/auth/sign-up/email", `{"name":"Eve","email":"eve@example.com","password":"password123"}`)
	if resp.StatusCode != 200 {
		t.Fatalf("sign-up %d %s\n%s", resp.StatusCode, body, siteA.Logs())
	}
	var cookie string
	for _, ck := range resp.Cookies() {
		if ck.Name == "better-auth.session_token" {
			cookie = ck.Name + "=" + ck.Value
		}
	}
	gate := func(c *client, path string) int {
		resp, _ := newClient(t, c.base).do("GET", path, "", "Cookie", cookie, "Accept", "application/json")
		return resp.StatusCode
	}
	// Both instances cache the identity: a plain user.
	for _, c := range []*client{a, b} {
		if code := gate(c, "/app"); code != 200 || up.Last().Header.Get("X-User-Role") != "user" {
			t.Fatalf("%s: %d, X-User-Role %q", c.base, code, up.Last().Header.Get("X-User-Role"))
		}
		if code := gate(c, "/admin/users"); code != 403 {
			t.Fatalf("%s: a plain user got %d on /admin/users", c.base, code)
		}
	}

	if _, err := db.Exec(`UPDATE "user" SET "role" = 'admin' WHERE "email" = 'eve@example.com'`); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	within(t, time.Second, func() bool { return gate(b, "/admin/users") == 200 }, "instance B still refuses the new admin")
	t.Logf("instance B let the new admin in after %v", time.Since(start).Round(time.Millisecond))
	if got := up.Last().Header.Get("X-User-Role"); got != "admin" {
		t.Errorf("X-User-Role = %q, want admin", got)
	}

	if _, err := db.Exec(`UPDATE "user" SET "banned" = true WHERE "email" = 'eve@example.com'`); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	within(t, time.Second, func() bool { return gate(b, "/app") == 401 }, "instance B still accepts the banned user")
	t.Logf("instance B refused the banned user after %v", time.Since(start).Round(time.Millisecond))
}

// `caddy auth users set-role|ban|unban` against the database a running
// gate (admin on, so the columns exist; no session cache) uses: what they
// write decides the gate's next answer.
func TestCommand_SetRoleBanAndUnbanDecideAtTheGate(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		up := testsupport.NewUpstream(t)
		site := testsupport.StartCaddy(t, gatedSite(dsn, up.HostPort(), "session_cache 0\n\t\trate_limit off\n\t\tadmin on\n\t\trequire /admin/* role admin"))
		cli := testsupport.NewCLI(t)
		run := func(args ...string) string {
			t.Helper()
			return mustRun(t, cli, "", append(append([]string{"auth", "users"}, args...), "--database", dsn)...).Stdout
		}
		c, _ := signUpClient(t, site.BaseURL, "eve@example.com")
		gate := func(path string) int {
			resp, _ := c.do("GET", path, "", "Accept", "application/json")
			return resp.StatusCode
		}
		if code := gate("/admin/x"); code != 403 {
			t.Fatalf("plain user on /admin/x: %d", code)
		}

		if out := run("set-role", "Eve@Example.com", "user, admin"); !strings.Contains(out, "set role") || !strings.Contains(out, "user,admin") {
			t.Errorf("set-role says %q", out)
		}
		if code := gate("/admin/x"); code != 200 || up.Last().Header.Get("X-User-Role") != "user,admin" {
			t.Errorf("after set-role: %d, X-User-Role %q", code, up.Last().Header.Get("X-User-Role"))
		}

		if out := run("ban", "eve@example.com", "--reason", "spam", "--expires", "7d"); !strings.Contains(out, "banned") || !strings.Contains(out, "revoked 1 session") {
			t.Errorf("ban says %q", out)
		}
		if code := gate("/app"); code != 401 {
			t.Errorf("banned user's session: %d", code)
		}
		resp, body := newClient(t, site.BaseURL).do("POST", "/auth/sign-in/email", `{"email":"eve@example.com","password":"password123"}`)
		if resp.StatusCode != 403 || !strings.Contains(body, "BANNED_USER") {
			t.Errorf("banned sign-in: %d %s", resp.StatusCode, body)
		}

		if out := run("unban", "eve@example.com"); !strings.Contains(out, "unbanned") {
			t.Errorf("unban says %q", out)
		}
		if resp, body := newClient(t, site.BaseURL).do("POST", "/auth/sign-in/email", `{"email":"eve@example.com","password":"password123"}`); resp.StatusCode != 200 {
			t.Errorf("sign-in after unban: %d %s", resp.StatusCode, body)
		}

		mustFail(t, cli, "", `no user "nobody@example.com"`, "auth", "users", "ban", "nobody@example.com", "--database", dsn)
		mustFail(t, cli, "", "--expires", "auth", "users", "ban", "eve@example.com", "--expires", "soon", "--database", dsn)
		mustFail(t, cli, "", "empty role", "auth", "users", "set-role", "eve@example.com", "admin,,x", "--database", dsn)
	})
}

// signUpClient signs up email (password password123) with a client that
// keeps the session cookie.
func signUpClient(t *testing.T, base, email string) (*client, string) {
	t.Helper()
	c := newClient(t, base)
	resp, body := c.do("POST", "/auth/sign-up/email", `{"name":"N","email":"`+email+`","password":"password123"}`)
	if resp.StatusCode != 200 {
		t.Fatalf("sign-up %d %s", resp.StatusCode, body)
	}
	return c, body
}

// A real Better Auth 1.7.25 with its admin plugin, on the database our
// `admin on` gave the admin columns (its own migrate never ran: it checks
// the schema on its first request), shares users with the gate: a ban it
// sets is enforced here, a role set here is what it reads, and both show a
// user with the same fields.
func TestBetterAuth_AdminPluginInterop(t *testing.T) {
	dsn := testsupport.PostgresDSN(t)
	up := testsupport.NewUpstream(t)
	site := testsupport.StartCaddy(t, gatedSite(dsn, up.HostPort(), "session_cache 1m\n\t\trate_limit off\n\t\tadmin on"))
	ids := map[string]string{}
	clients := map[string]*client{}
	for _, name := range []string{"ada", "bob", "carol"} {
		c, body := signUpClient(t, site.BaseURL, name+"@example.com")
		var m struct {
			User struct {
				ID string `json:"id"`
			} `json:"user"`
		}
		if err := json.Unmarshal([]byte(body), &m); err != nil {
			t.Fatal(err)
		}
		ids[name], clients[name] = m.User.ID, c
	}
	db := testsupport.OpenDB(t, dsn)
	if _, err := db.Exec(`UPDATE "user" SET "role" = 'admin' WHERE "id" = $1`, ids["ada"]); err != nil {
		t.Fatal(err)
	}
	ba := testsupport.StartBetterAuth(t, testsupport.BetterAuth{DatabaseURL: dsn, Secret: e2eSecret, Plugins: map[string]any{"admin": map[string]any{}}})
	baAda := newClient(t, ba.URL)
	if resp, body := baAda.do("POST", "/auth/sign-in/email", `{"email":"ada@example.com","password":"password123"}`); resp.StatusCode != 200 {
		t.Fatalf("sign-in at Better Auth: %d %s\n%s", resp.StatusCode, body, ba.Logs())
	}
	if code := gateCode(clients["bob"], "/app"); code != 200 {
		t.Fatalf("bob before the ban: %d", code)
	}

	// Banned there: bob's sessions are gone, and sign-in here refuses him.
	if resp, body := baAda.do("POST", "/auth/admin/ban-user", `{"userId":"`+ids["bob"]+`","banReason":"spam"}`, "Origin", ba.URL); resp.StatusCode != 200 {
		t.Fatalf("ban-user at Better Auth: %d %s\n%s", resp.StatusCode, body, ba.Logs())
	}
	within(t, time.Second, func() bool { return gateCode(clients["bob"], "/app") == 401 }, "the gate still accepts the session Better Auth's ban deleted")
	resp, body := newClient(t, site.BaseURL).do("POST", "/auth/sign-in/email", `{"email":"bob@example.com","password":"password123"}`)
	if resp.StatusCode != 403 || !strings.Contains(body, "BANNED_USER") {
		t.Errorf("banned sign-in here: %d %s", resp.StatusCode, body)
	}

	// Set here: Better Auth reads the role, and both show carol alike.
	ours := clients["ada"]
	if resp, body := ours.do("POST", "/auth/admin/set-role", `{"userId":"`+ids["carol"]+`","role":["analyst","user"]}`, "Origin", site.BaseURL); resp.StatusCode != 200 {
		t.Fatalf("set-role here: %d %s", resp.StatusCode, body)
	}
	_, theirs := baAda.do("GET", "/auth/admin/get-user?id="+ids["carol"], "")
	_, mine := ours.do("GET", "/auth/admin/get-user?id="+ids["carol"], "")
	var a, b map[string]any
	if json.Unmarshal([]byte(theirs), &a) != nil || json.Unmarshal([]byte(mine), &b) != nil {
		t.Fatalf("get-user: Better Auth %s, ours %s", theirs, mine)
	}
	if a["role"] != "analyst,user" {
		t.Errorf("Better Auth reads carol's role as %v", a["role"])
	}
	for k, v := range a {
		if fmt.Sprint(b[k]) != fmt.Sprint(v) {
			t.Errorf("get-user field %s: Better Auth %v, ours %v", k, v, b[k])
		}
	}
	if len(a) != len(b) {
		t.Errorf("get-user fields differ:\nBetter Auth %s\nours        %s", theirs, mine)
	}
}

func gateCode(c *client, path string) int {
	resp, _ := c.do("GET", path, "", "Accept", "application/json")
	return resp.StatusCode
}

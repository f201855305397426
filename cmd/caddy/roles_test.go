package main

import (
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

package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/testsupport"
)

// TestE2E_BannedUserOfAPluginDatabaseIsShutOut: a Drizzle database the old
// service ran with Better Auth's admin and two-factor plugins.
// `caddy run` says what it found, once; a user banned there loses the
// session they hold, even the one the gate has cached, and cannot sign in.
func TestE2E_BannedUserOfAPluginDatabaseIsShutOut(t *testing.T) {
	dsn := testsupport.PostgresDSN(t)
	db := testsupport.OpenDB(t, dsn)
	for _, stmt := range append(append([]string{}, testsupport.DrizzlePostgresDDL...), testsupport.DrizzlePostgresPluginDDL...) {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatalf("fixture DDL: %v\n%s", err, stmt)
		}
	}
	up := testsupport.NewUpstream(t)
	site := testsupport.StartCaddy(t, gatedSite(dsn, up.HostPort(), ""))

	// The start-up line: App.Start detects the schema before serving.
	var line string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		for _, l := range strings.Split(site.Logs(), "\n") {
			if strings.Contains(l, "database schema detected") {
				line = l
			}
		}
		if line != "" {
			break
		}
	}
	for _, want := range []string{`"layout":"snake"`, `"time_columns":"timestamp"`, `"user.banned"`, `"user.two_factor_enabled"`, `"two_factor"`} {
		if !strings.Contains(line, want) {
			t.Errorf("start-up line %q lacks %s\n%s", line, want, site.Logs())
		}
	}

	c := newClient(t, site.BaseURL)
	resp, body := c.do("POST", "/auth/sign-up/email", `{"name":"Mallory","email":"mallory@example.com","password":"password123"}`)
	if resp.StatusCode != 200 {
		t.Fatalf("sign-up %d %s\n%s", resp.StatusCode, body, site.Logs())
	}
	var signUp struct {
		User struct{ ID string } `json:"user"`
	}
	_ = json.Unmarshal([]byte(body), &signUp)
	if resp, _ := c.do("GET", "/dashboard", "", "Accept", "application/json"); resp.StatusCode != 200 {
		t.Fatalf("gated request before the ban: %d", resp.StatusCode)
	}

	// Banned by the old service's admin tooling, straight in the database.
	if _, err := db.Exec(`UPDATE "user" SET "banned" = true, "ban_reason" = 'spam' WHERE "id" = $1`, signUp.User.ID); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		resp, _ := c.do("GET", "/dashboard", "", "Accept", "application/json")
		if resp.StatusCode == 401 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the banned user's session still passes the gate: %d", resp.StatusCode)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if resp, body := c.do("GET", "/auth/get-session", ""); resp.StatusCode != 200 || strings.TrimSpace(body) != "null" {
		t.Errorf("get-session for the banned user: %d %s", resp.StatusCode, body)
	}

	fresh := newClient(t, site.BaseURL)
	resp, body = fresh.do("POST", "/auth/sign-in/email", `{"email":"mallory@example.com","password":"password123"}`)
	if resp.StatusCode != 403 || !strings.Contains(body, `"code":"BANNED_USER"`) {
		t.Errorf("sign-in of the banned user: %d %s", resp.StatusCode, body)
	}
	for _, sc := range resp.Header.Values("Set-Cookie") {
		if strings.Contains(sc, "session_token=") {
			t.Errorf("refused sign-in set %s", sc)
		}
	}
	if n := strings.Count(site.Logs(), "database schema detected"); n != 1 {
		t.Errorf("schema logged %d times, want once", n)
	}
}

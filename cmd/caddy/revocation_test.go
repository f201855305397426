package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/testsupport"
)

// Two instances on one PostgreSQL database, each caching sessions for a
// minute: only a revocation notice can explain instance B refusing a session
// within a second of its revocation elsewhere.
func TestE2E_RevocationReachesTheOtherInstanceWithinOneSecond(t *testing.T) {
	dsn := testsupport.PostgresDSN(t)
	revocationAcrossInstances(t, dsn, dsn, "session_cache 1m")
}

// SPEC §13's deployment: both instances reach the database through a
// transaction-mode PgBouncer (as Neon's pooled endpoint) and listen on a
// direct connection; everything still holds.
func TestE2E_RevocationThroughPgBouncerWithADirectNotifyDatabase(t *testing.T) {
	pooled, direct := testsupport.PgBouncerDSN(t)
	revocationAcrossInstances(t, pooled, direct, "session_cache 1m\n\t\tnotify_database "+direct)
}

// revocationAcrossInstances starts two instances on dsn with extra
// configuration lines and checks that revocations on one, or by plain SQL on
// direct, reach the other within a second.
func revocationAcrossInstances(t *testing.T, dsn, direct, extra string) {
	up := testsupport.NewUpstream(t)
	siteA := testsupport.StartCaddy(t, gatedSite(dsn, up.HostPort(), extra))
	siteB := testsupport.StartCaddy(t, gatedSite(dsn, up.HostPort(), extra))
	waitListeners(t, direct, 2)
	a, b := newClient(t, siteA.BaseURL), newClient(t, siteB.BaseURL)
	db := testsupport.OpenDB(t, direct)

	// Clients without cookies of their own: every request names its session
	// explicitly.
	if resp, body := newClient(t, siteA.BaseURL).do("POST", "/auth/sign-up/email", `{"name":"Alice","email":"alice@example.com","password":"password123"}`); resp.StatusCode != 200 {
		t.Fatalf("sign-up %d %s\n%s", resp.StatusCode, body, siteA.Logs())
	}
	// signIn starts a session on A and returns its cookie header value.
	signIn := func(t *testing.T) string {
		t.Helper()
		c := newClient(t, siteA.BaseURL)
		resp, body := c.do("POST", "/auth/sign-in/email", `{"email":"alice@example.com","password":"password123"}`)
		if resp.StatusCode != 200 {
			t.Fatalf("sign-in %d %s", resp.StatusCode, body)
		}
		for _, ck := range resp.Cookies() {
			if ck.Name == "better-auth.session_token" {
				return ck.Name + "=" + ck.Value
			}
		}
		t.Fatal("no session cookie")
		return ""
	}
	// gate sends a gated request with cookie to c's instance.
	gate := func(c *client, cookie string) *http.Response {
		resp, _ := c.do("GET", "/app", "", "Cookie", cookie)
		return resp
	}
	// used passes the session through both instances, twice, so that both
	// have it cached, and returns its id as B's upstream saw it.
	used := func(t *testing.T, cookie string) string {
		t.Helper()
		for range 2 {
			for _, c := range []*client{a, b} {
				if resp := gate(c, cookie); resp.StatusCode != 200 {
					t.Fatalf("%s refused a fresh session: %d", c.base, resp.StatusCode)
				}
			}
		}
		return up.Last().Header.Get("X-Session-Id")
	}
	// refusedByB polls B every 50 ms for at most a second.
	refusedByB := func(t *testing.T, cookie string) {
		t.Helper()
		start := time.Now()
		within(t, time.Second, func() bool { return gate(b, cookie).StatusCode == 401 },
			"instance B still accepts the revoked session")
		t.Logf("instance B refused the session after %v", time.Since(start).Round(time.Millisecond))
	}

	t.Run("revoked through instance A's API", func(t *testing.T) {
		cookie := signIn(t)
		used(t, cookie)
		resp, body := a.do("POST", "/auth/sign-out", "", "Cookie", cookie, "Origin", siteA.BaseURL)
		if resp.StatusCode != 200 {
			t.Fatalf("sign-out on A: %d %s", resp.StatusCode, body)
		}
		if gate(a, cookie).StatusCode != 401 {
			t.Error("instance A itself still accepts the session")
		}
		refusedByB(t, cookie)
	})

	t.Run("deleted by plain SQL", func(t *testing.T) {
		cookie := signIn(t)
		id := used(t, cookie)
		res, err := db.Exec(`DELETE FROM "session" WHERE id = $1`, id)
		if n, _ := res.RowsAffected(); err != nil || n != 1 {
			t.Fatalf("delete session %s: %d rows, %v", id, n, err)
		}
		refusedByB(t, cookie)
	})

	t.Run("user renamed by plain SQL", func(t *testing.T) {
		cookie := signIn(t)
		used(t, cookie)
		userID := up.Last().Header.Get("X-User-Id")
		if _, err := db.Exec(`UPDATE "user" SET name = 'Alice Renamed' WHERE id = $1`, userID); err != nil {
			t.Fatal(err)
		}
		within(t, time.Second, func() bool {
			if gate(b, cookie).StatusCode != 200 {
				t.Fatal("instance B refused a renamed user's session")
			}
			return up.Last().Header.Get("X-User-Name") == "Alice Renamed"
		}, "instance B still sends the old X-User-Name")
	})

	for _, site := range []*testsupport.Caddy{siteA, siteB} {
		if strings.Contains(site.Logs(), "revocation notices") {
			t.Errorf("an instance warned about revocation notices:\n%s", site.Logs())
		}
	}
}

// The documented fallback: behind a pooler without notify_database, notices
// cannot arrive, so one warning says so and a revoked session lapses on the
// other instance with its cache entry (session_cache), not later.
func TestE2E_PgBouncerWithoutNotifyDatabaseFallsBackToTheCacheBound(t *testing.T) {
	pooled, _ := testsupport.PgBouncerDSN(t)
	up := testsupport.NewUpstream(t)
	siteA := testsupport.StartCaddy(t, gatedSite(pooled, up.HostPort(), "session_cache 2s"))
	siteB := testsupport.StartCaddy(t, gatedSite(pooled, up.HostPort(), "session_cache 2s"))
	a, b := newClient(t, siteA.BaseURL), newClient(t, siteB.BaseURL)
	resp, body := a.do("POST", "/auth/sign-up/email", `{"name":"Alice","email":"alice@example.com","password":"password123"}`)
	if resp.StatusCode != 200 {
		t.Fatalf("sign-up %d %s\n%s", resp.StatusCode, body, siteA.Logs())
	}
	var cookie string
	for _, ck := range resp.Cookies() {
		if ck.Name == "better-auth.session_token" {
			cookie = ck.Name + "=" + ck.Value
		}
	}
	if resp, _ := b.do("GET", "/app", "", "Cookie", cookie); resp.StatusCode != 200 {
		t.Fatalf("instance B refused a fresh session: %d", resp.StatusCode)
	}
	if resp, body := a.do("POST", "/auth/sign-out", "", "Origin", siteA.BaseURL); resp.StatusCode != 200 {
		t.Fatalf("sign-out on A: %d %s", resp.StatusCode, body)
	}
	start := time.Now()
	within(t, 4*time.Second, func() bool {
		resp, _ := b.do("GET", "/app", "", "Cookie", cookie)
		return resp.StatusCode == 401
	}, "instance B still accepts the revoked session after session_cache")
	t.Logf("instance B refused the session after %v (session_cache 2s)", time.Since(start).Round(time.Millisecond))

	for _, site := range []*testsupport.Caddy{siteA, siteB} {
		within(t, 15*time.Second, func() bool { return countWarnings(site.Logs(), "revocation notices") >= 1 },
			"no warning about revocation notices behind the pooler")
		if n := countWarnings(site.Logs(), "revocation notices"); n != 1 {
			t.Errorf("%d warnings about revocation notices, want 1:\n%s", n, site.Logs())
		}
	}
}

func countWarnings(logs, about string) int {
	var n int
	for _, line := range strings.Split(logs, "\n") {
		var entry struct{ Level, Msg string }
		if json.Unmarshal([]byte(line), &entry) == nil && entry.Level == "warn" && strings.Contains(entry.Msg, about) {
			n++
		}
	}
	return n
}

func TestE2E_UnreachableNotifyDatabaseWarnsOnceAndServes(t *testing.T) {
	dsn := testsupport.PostgresDSN(t)
	up := testsupport.NewUpstream(t)
	// Nothing listens on port 1. The password must not reach the log.
	site := testsupport.StartCaddy(t, gatedSite(dsn, up.HostPort(),
		"notify_database postgres://listener:n0tify-secret@127.0.0.1:1/app?sslmode=disable"))
	c := newClient(t, site.BaseURL)
	if resp, body := c.do("POST", "/auth/sign-up/email", `{"name":"Alice","email":"alice@example.com","password":"password123"}`); resp.StatusCode != 200 {
		t.Fatalf("sign-up %d %s\n%s", resp.StatusCode, body, site.Logs())
	}
	if resp, _ := c.do("GET", "/app", ""); resp.StatusCode != 200 {
		t.Fatalf("gated request %d", resp.StatusCode)
	}

	within(t, 10*time.Second, func() bool { return strings.Contains(site.Logs(), "revocation notices") },
		"no warning about revocation notices")
	// The listener keeps retrying meanwhile (0.5 s, 1 s, 2 s, …), quietly.
	time.Sleep(4 * time.Second)
	if resp, _ := c.do("GET", "/app", ""); resp.StatusCode != 200 {
		t.Fatalf("gated request %d", resp.StatusCode)
	}
	logs := site.Logs()
	if warnings := countWarnings(logs, "revocation notices"); warnings != 1 {
		t.Errorf("%d warnings about revocation notices, want 1:\n%s", warnings, logs)
	}
	if strings.Contains(logs, "n0tify-secret") {
		t.Error("the notify_database password appears in the log")
	}
}

// waitListeners waits until n revocation listeners have subscribed on the
// database of dsn, and a moment for them to take the acknowledgement in.
func waitListeners(t *testing.T, dsn string, n int) {
	t.Helper()
	db := testsupport.OpenDB(t, dsn)
	within(t, 15*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		var got int
		err := db.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND query ILIKE 'LISTEN %auth_gate_revocation%'`).Scan(&got)
		return err == nil && got >= n
	}, "the instances did not LISTEN")
	time.Sleep(200 * time.Millisecond)
}

// within polls cond every 50 ms and fails the test when it is still false
// after d.
func within(t *testing.T, d time.Duration, cond func() bool, msg string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s after %v", msg, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

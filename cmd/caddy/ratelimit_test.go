package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/authgate/authgate/internal/testsupport"
)

// behindProxy adds Caddy's trusted-proxy settings to a gatedSite: peers on
// loopback are trusted to name the client in X-Forwarded-For.
func behindProxy(site string) string {
	return strings.Replace(site, "admin off\n", `admin off
	servers {
		trusted_proxies static 127.0.0.1/8
		client_ip_headers X-Forwarded-For
	}
`, 1)
}

// wrongSignIn signs in with a wrong password for email, as the client
// named in X-Forwarded-For (none when empty), and returns the status,
// X-Retry-After and body.
func wrongSignIn(c *client, email, xff string) (int, string, string) {
	c.t.Helper()
	var headers []string
	if xff != "" {
		headers = []string{"X-Forwarded-For", xff}
	}
	resp, body := c.do("POST", "/auth/sign-in/email", `{"email":"`+email+`","password":"wrong-password"}`, headers...)
	return resp.StatusCode, resp.Header.Get("X-Retry-After"), body
}

func TestRateLimit_ForwardedForFromAnUntrustedPeerIsIgnored(t *testing.T) {
	up := testsupport.NewUpstream(t)
	site := testsupport.StartCaddy(t, gatedSite(testsupport.SQLiteDSN(t), up.HostPort(), ""))
	c := newClient(t, site.BaseURL)
	// Each request claims another client; without trusted_proxies Caddy
	// ignores the claim, so all four count against 127.0.0.1.
	for i := range 3 {
		if code, _, body := wrongSignIn(c, fmt.Sprintf("u%d@example.com", i), fmt.Sprintf("198.51.100.%d", i+1)); code != 401 {
			t.Fatalf("sign-in %d: %d %s", i+1, code, body)
		}
	}
	code, retry, body := wrongSignIn(c, "u3@example.com", "198.51.100.4")
	if code != 429 || retry == "" || body != `{"message":"Too many requests. Please try again later."}` {
		t.Fatalf("4th sign-in: %d X-Retry-After=%q %s", code, retry, body)
	}
	if !strings.Contains(site.Logs(), `"client_ip":"127.0.0.1"`) {
		t.Errorf("the rejection was not logged with the peer's address:\n%s", site.Logs())
	}
}

func TestRateLimit_ForwardedForFromATrustedProxyIsHonoured(t *testing.T) {
	up := testsupport.NewUpstream(t)
	site := testsupport.StartCaddy(t, behindProxy(gatedSite(testsupport.SQLiteDSN(t), up.HostPort(), "")))
	c := newClient(t, site.BaseURL)
	for i := range 4 {
		if code, _, body := wrongSignIn(c, fmt.Sprintf("u%d@example.com", i), fmt.Sprintf("198.51.100.%d", i+1)); code != 401 {
			t.Fatalf("sign-in as client %d: %d %s", i+1, code, body)
		}
	}
	// 198.51.100.1 has one attempt: two more pass, the fourth is refused.
	for i := 4; i < 6; i++ {
		if code, _, body := wrongSignIn(c, fmt.Sprintf("u%d@example.com", i), "198.51.100.1"); code != 401 {
			t.Fatalf("sign-in %d as 198.51.100.1: %d %s", i+1, code, body)
		}
	}
	if code, retry, body := wrongSignIn(c, "u6@example.com", "198.51.100.1"); code != 429 || retry == "" {
		t.Fatalf("4th sign-in as 198.51.100.1: %d X-Retry-After=%q %s", code, retry, body)
	}
	// One email from many clients: the per-email limit is per client, so
	// none of them is limited.
	for i := range 4 {
		if code, _, body := wrongSignIn(c, "target@example.com", fmt.Sprintf("192.0.2.%d", i+1)); code != 401 {
			t.Fatalf("attempt %d on target: %d %s", i+1, code, body)
		}
	}
}

func TestRateLimit_NobodyCanLockAUserOut(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		for _, storage := range []string{"memory", "database"} {
			t.Run(storage, func(t *testing.T) {
				up := testsupport.NewUpstream(t)
				site := testsupport.StartCaddy(t, behindProxy(gatedSite(dsn, up.HostPort(), "rate_limit {\n\t\t\tstorage "+storage+"\n\t\t}")))
				c := newClient(t, site.BaseURL)
				victim := "victim-" + storage + "@example.com"
				if resp, body := newClient(t, site.BaseURL).do("POST", "/auth/sign-up/email", `{"name":"V","email":"`+victim+`","password":"password123"}`, "X-Forwarded-For", "203.0.113.50"); resp.StatusCode != 200 {
					t.Fatalf("sign-up: %d %s", resp.StatusCode, body)
				}
				rightSignIn := func(xff string) (int, string) {
					resp, body := newClient(t, site.BaseURL).do("POST", "/auth/sign-in/email", `{"email":"`+victim+`","password":"password123"}`, "X-Forwarded-For", xff)
					return resp.StatusCode, body
				}
				// The attacker's address is limited.
				for i := range 3 {
					if code, _, body := wrongSignIn(c, victim, "192.0.2.66"); code != 401 {
						t.Fatalf("wrong password %d: %d %s", i+1, code, body)
					}
				}
				if code, retry, body := wrongSignIn(c, victim, "192.0.2.66"); code != 429 || retry == "" {
					t.Fatalf("4th wrong password: %d X-Retry-After=%q %s", code, retry, body)
				}
				// The owner, from another address, signs in.
				if code, body := rightSignIn("198.51.100.20"); code != 200 {
					t.Fatalf("the owner's right password from another address: %d %s", code, body)
				}
				// IPv6 clients of one /64 share a key; another /64 does not.
				for i := range 3 {
					if code, _, body := wrongSignIn(c, victim, "2001:db8:aa:bb::1"); code != 401 {
						t.Fatalf("IPv6 wrong password %d: %d %s", i+1, code, body)
					}
				}
				if code, body := rightSignIn("2001:db8:aa:bb:ffff::2"); code != 429 {
					t.Fatalf("right password from the attacker's /64: %d %s", code, body)
				}
				if code, body := rightSignIn("2001:db8:aa:cc::1"); code != 200 {
					t.Fatalf("right password from another /64: %d %s", code, body)
				}
			})
		}
	})
}

func TestRateLimit_MadeUpBearerTokensAreLimitedPerClient(t *testing.T) {
	up := testsupport.NewUpstream(t)
	site := testsupport.StartCaddy(t, behindProxy(gatedSite(testsupport.SQLiteDSN(t), up.HostPort(), "bearer")))
	user := newClient(t, site.BaseURL)
	if resp, body := user.do("POST", "/auth/sign-up/email", `{"name":"U","email":"u@example.com","password":"password123"}`, "X-Forwarded-For", "203.0.113.50"); resp.StatusCode != 200 {
		t.Fatalf("sign-up: %d %s", resp.StatusCode, body)
	}
	attacker := newClient(t, site.BaseURL)
	get := func(c *client, token, xff string) (int, string) {
		headers := []string{"X-Forwarded-For", xff}
		if token != "" {
			headers = append(headers, "Authorization", "Bearer "+token)
		}
		resp, body := c.do("GET", "/app", "", headers...)
		return resp.StatusCode, body
	}
	for i := range 20 {
		if code, body := get(attacker, fmt.Sprintf("madeUp%026d", i), "192.0.2.66"); code != 401 {
			t.Fatalf("made-up token %d: %d %s", i+1, code, body)
		}
	}
	if code, body := get(attacker, fmt.Sprintf("madeUp%026d", 20), "192.0.2.66"); code != 429 {
		t.Fatalf("made-up token past the limit: %d %s", code, body)
	}
	// A signed-in user behind the same address is not affected.
	if code, body := get(user, "", "192.0.2.66"); code != 200 {
		t.Fatalf("session cookie from the limited address: %d %s", code, body)
	}
	if !strings.Contains(site.Logs(), `"by":"token_misses"`) {
		t.Errorf("the refusal was not logged:\n%s", site.Logs())
	}
}

func TestRateLimit_DatabaseStorageSpansCaddyProcesses(t *testing.T) {
	testsupport.Both(t, limitsSharedAcrossProcesses)
	t.Run("through PgBouncer", func(t *testing.T) {
		pooled, _ := testsupport.PgBouncerDSN(t)
		limitsSharedAcrossProcesses(t, pooled)
	})
}

// limitsSharedAcrossProcesses: two processes on dsn with database storage
// count the same sign-in limit.
func limitsSharedAcrossProcesses(t *testing.T, dsn string) {
	up := testsupport.NewUpstream(t)
	cf := gatedSite(dsn, up.HostPort(), "rate_limit {\n\t\t\tstorage database\n\t\t}")
	a := newClient(t, testsupport.StartCaddy(t, cf).BaseURL)
	b := newClient(t, testsupport.StartCaddy(t, cf).BaseURL)
	for i, c := range []*client{a, b, a} {
		if code, _, body := wrongSignIn(c, fmt.Sprintf("u%d@example.com", i), ""); code != 401 {
			t.Fatalf("sign-in %d: %d %s", i+1, code, body)
		}
	}
	if code, retry, body := wrongSignIn(b, "u3@example.com", ""); code != 429 || retry == "" {
		t.Fatalf("4th sign-in, on the other process: %d X-Retry-After=%q %s", code, retry, body)
	}
}

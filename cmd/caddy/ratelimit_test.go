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
	// One email from many clients meets the per-email limit.
	for i := range 3 {
		if code, _, body := wrongSignIn(c, "target@example.com", fmt.Sprintf("192.0.2.%d", i+1)); code != 401 {
			t.Fatalf("attempt %d on target: %d %s", i+1, code, body)
		}
	}
	if code, _, body := wrongSignIn(c, "target@example.com", "192.0.2.99"); code != 429 {
		t.Fatalf("4th attempt on target from a fresh client: %d %s", code, body)
	}
}

func TestRateLimit_DatabaseStorageSpansCaddyProcesses(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
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
	})
}

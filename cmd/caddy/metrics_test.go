package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/authgate/authgate/internal/testsupport"
)

// TestMetrics_AdminEndpointShowsTheFlow runs the built binary with its
// admin endpoint on, drives a sign-up, a sign-in and gated requests, and
// scrapes the admin /metrics. auth_gate's metrics are on Caddy's registry
// whether or not the `metrics` global option (Caddy's own HTTP metrics) is
// on.
func TestMetrics_AdminEndpointShowsTheFlow(t *testing.T) {
	for _, option := range []string{"", "metrics"} {
		t.Run("global options: admin "+option, func(t *testing.T) {
			up := testsupport.NewUpstream(t)
			admin := fmt.Sprintf("127.0.0.1:%d", testsupport.FreePort(t))
			site := testsupport.StartCaddy(t, strings.Replace(gatedSite(testsupport.SQLiteDSN(t), up.HostPort(), ""),
				"admin off\n", "admin "+admin+"\n\t"+option+"\n", 1))
			c := newClient(t, site.BaseURL)

			if resp, body := c.do("GET", "/private", ""); resp.StatusCode != 401 {
				t.Fatalf("gated request before signing in: %d %s", resp.StatusCode, body)
			}
			resp, body := c.do("POST", "/auth/sign-up/email", `{"name":"Ann","email":"ann@example.com","password":"password123"}`)
			if resp.StatusCode != 200 {
				t.Fatalf("sign-up: %d %s", resp.StatusCode, body)
			}
			var signedUp struct {
				User struct {
					ID string `json:"id"`
				} `json:"user"`
			}
			_ = json.Unmarshal([]byte(body), &signedUp)
			if resp, body := c.do("POST", "/auth/sign-in/email", `{"email":"ann@example.com","password":"password123"}`, "Origin", site.BaseURL); resp.StatusCode != 200 {
				t.Fatalf("sign-in: %d %s", resp.StatusCode, body)
			}
			for range 2 {
				if resp, body := c.do("GET", "/private", ""); resp.StatusCode != 200 {
					t.Fatalf("gated request: %d %s", resp.StatusCode, body)
				}
			}

			metrics := scrapeMetrics(t, "http://"+admin+"/metrics")
			for _, want := range []string{
				`caddy_auth_gate_sign_up_total{outcome="success"} 1`,
				`caddy_auth_gate_sign_in_total{outcome="success"} 1`,
				`caddy_auth_gate_sign_in_total{outcome="invalid_credentials"} 0`,
				`caddy_auth_gate_gate_decisions_total{outcome="unauthorized"} 1`,
				`caddy_auth_gate_gate_decisions_total{outcome="authenticated"} 2`,
				`caddy_auth_gate_api_requests_total{endpoint="sign-up/email",status="200"} 1`,
				`caddy_auth_gate_api_requests_total{endpoint="sign-in/email",status="200"} 1`,
				`caddy_auth_gate_password_hash_seconds_count 2`,
				`caddy_auth_gate_password_hash_queue 0`,
				`caddy_auth_gate_session_cache_total{result="miss"} 1`,
				`caddy_auth_gate_session_cache_total{result="hit"} 1`,
				`caddy_auth_gate_rate_limited_total{scope="ip"} 0`,
				`caddy_auth_gate_store_errors_total{op="gate"} 0`,
			} {
				if !hasMetricLine(metrics, want) {
					t.Errorf("/metrics lacks %s", want)
				}
			}
			// No label carries who the user is.
			for _, line := range strings.Split(metrics, "\n") {
				if strings.HasPrefix(line, "caddy_auth_gate_") && (strings.Contains(line, signedUp.User.ID) || strings.Contains(line, "ann@") || strings.Contains(line, "127.0.0.1")) {
					t.Errorf("a metric names the user or the client: %s", line)
				}
			}
			if t.Failed() {
				t.Logf("auth_gate metrics:\n%s", metricLines(metrics, "caddy_auth_gate_"))
			}
		})
	}
}

func scrapeMetrics(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, body)
	}
	return string(body)
}

func hasMetricLine(text, line string) bool {
	for _, l := range strings.Split(text, "\n") {
		if l == line {
			return true
		}
	}
	return false
}

func metricLines(text, prefix string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

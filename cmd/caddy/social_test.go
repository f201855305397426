package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/authgate/authgate/internal/testsupport"
	"github.com/authgate/authgate/internal/testsupport/fakeidp"
)

// follow GETs an absolute URL with the client's cookies and returns the
// redirect it answers.
func (c *client) follow(t *testing.T, rawURL string) string {
	t.Helper()
	resp, err := c.http.Get(rawURL)
	if err != nil {
		t.Fatalf("GET %s: %v", rawURL, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("GET %s: %d, want 302", rawURL, resp.StatusCode)
	}
	return resp.Header.Get("Location")
}

func TestE2E_OIDCSignInThroughTheBinary(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		idp := fakeidp.Start(t)
		up := testsupport.NewUpstream(t)
		site := testsupport.StartCaddy(t, gatedSite(dsn, up.HostPort(), `oidc corp {
			issuer `+idp.URL+`
			client_id `+idp.ClientID+`
			client_secret {env.AUTH_E2E_CORP_SECRET}
		}`), "AUTH_E2E_CORP_SECRET="+idp.ClientSecret)
		idp.AllowRedirectURI(site.BaseURL + "/auth/callback/corp")
		c := newClient(t, site.BaseURL)

		resp, body := c.do("POST", "/auth/sign-in/social", `{"provider":"corp","callbackURL":"/dashboard"}`)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("sign-in/social %d %s\n%s", resp.StatusCode, body, site.Logs())
		}
		var start struct {
			URL      string `json:"url"`
			Redirect bool   `json:"redirect"`
		}
		if err := json.Unmarshal([]byte(body), &start); err != nil || !start.Redirect || !strings.HasPrefix(start.URL, idp.URL) {
			t.Fatalf("sign-in/social answer %s (%v)", body, err)
		}
		callback := c.follow(t, start.URL)
		if !strings.HasPrefix(callback, site.BaseURL+"/auth/callback/corp?") {
			t.Fatalf("provider redirected to %q", callback)
		}
		if got := c.follow(t, callback); got != "/dashboard" {
			t.Fatalf("callback redirected to %q\n%s", got, site.Logs())
		}

		resp, body = c.do("GET", "/dashboard", "")
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, "upstream saw GET /dashboard") {
			t.Fatalf("gated request %d %s", resp.StatusCode, body)
		}
		h := up.Last().Header
		if h.Get("X-User-Email") != fakeidp.DefaultUser.Email || h.Get("X-User-Email-Verified") != "true" || len(h.Get("X-User-Id")) != 32 {
			t.Errorf("upstream identity headers %v", h)
		}
	})
}

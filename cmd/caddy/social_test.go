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

// A password user links the provider through the binary, sees both
// accounts, signs in with the provider, and unlinks it again.
func TestE2E_LinkListAndUnlinkThroughTheBinary(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		idp := fakeidp.Start(t)
		up := testsupport.NewUpstream(t)
		site := testsupport.StartCaddy(t, gatedSite(dsn, up.HostPort(), `oidc corp {
			issuer `+idp.URL+`
			client_id `+idp.ClientID+`
			client_secret `+idp.ClientSecret+`
		}`))
		idp.AllowRedirectURI(site.BaseURL + "/auth/callback/corp")
		u := fakeidp.DefaultUser
		u.Email = "ada@example.com"
		idp.SetUser(u)
		c := newClient(t, site.BaseURL)
		origin := []string{"Origin", site.BaseURL}

		resp, body := c.do("POST", "/auth/sign-up/email", `{"name":"Ada","email":"ada@example.com","password":"password123"}`, origin...)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("sign-up %d %s", resp.StatusCode, body)
		}
		resp, body = c.do("POST", "/auth/link-social", `{"provider":"corp","callbackURL":"/settings"}`, origin...)
		var start struct {
			URL      string `json:"url"`
			Redirect bool   `json:"redirect"`
		}
		if err := json.Unmarshal([]byte(body), &start); resp.StatusCode != http.StatusOK || err != nil || !start.Redirect {
			t.Fatalf("link-social %d %s\n%s", resp.StatusCode, body, site.Logs())
		}
		if got := c.follow(t, c.follow(t, start.URL)); got != "/settings" {
			t.Fatalf("link callback redirected to %q\n%s", got, site.Logs())
		}

		type account struct {
			ID         string   `json:"id"`
			ProviderID string   `json:"providerId"`
			Scopes     []string `json:"scopes"`
		}
		list := func() []account {
			t.Helper()
			resp, body := c.do("GET", "/auth/list-accounts", "")
			var out []account
			if err := json.Unmarshal([]byte(body), &out); resp.StatusCode != http.StatusOK || err != nil {
				t.Fatalf("list-accounts %d %s", resp.StatusCode, body)
			}
			return out
		}
		accounts := list()
		if len(accounts) != 2 || accounts[0].ProviderID != "credential" || accounts[1].ProviderID != "corp" || len(accounts[1].Scopes) == 0 {
			t.Fatalf("accounts after linking: %+v", accounts)
		}

		// The provider alone now signs Ada in, from a browser without her
		// session.
		other := newClient(t, site.BaseURL)
		resp, body = other.do("POST", "/auth/sign-in/social", `{"provider":"corp"}`)
		if err := json.Unmarshal([]byte(body), &start); resp.StatusCode != http.StatusOK || err != nil {
			t.Fatalf("sign-in/social %d %s", resp.StatusCode, body)
		}
		if got := other.follow(t, other.follow(t, start.URL)); got != "/" {
			t.Fatalf("sign-in callback redirected to %q", got)
		}
		if resp, _ := other.do("GET", "/app", ""); resp.StatusCode != http.StatusOK || up.Last().Header.Get("X-User-Email") != "ada@example.com" {
			t.Fatalf("gated request as the linked user: %d %v", resp.StatusCode, up.Last().Header)
		}

		resp, body = c.do("POST", "/auth/unlink-account", `{"accountId":"`+accounts[1].ID+`"}`, origin...)
		if resp.StatusCode != http.StatusOK || strings.TrimSpace(body) != `{"status":true}` {
			t.Fatalf("unlink-account %d %s", resp.StatusCode, body)
		}
		resp, body = c.do("POST", "/auth/unlink-account", `{"accountId":"`+accounts[0].ID+`"}`, origin...)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "FAILED_TO_UNLINK_LAST_ACCOUNT") {
			t.Fatalf("unlinking the last account: %d %s", resp.StatusCode, body)
		}
		if accounts := list(); len(accounts) != 1 || accounts[0].ProviderID != "credential" {
			t.Fatalf("accounts after unlinking: %+v", accounts)
		}
	})
}

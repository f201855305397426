package caddyauth

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/authgate/authgate/caddyauth/internal/social"
	"github.com/authgate/authgate/internal/testsupport"
	"github.com/authgate/authgate/internal/testsupport/fakeidp"
)

func TestUnmarshalCaddyfile_Social(t *testing.T) {
	d := caddyfile.NewTestDispenser(`auth_gate {
		social google {
			client_id gid
			client_secret {env.G_SECRET}
		}
		social github {
			client_id hid
			client_secret hsecret
			scopes repo
			pkce off
			authorization_url https://ghe.example/login/oauth/authorize
			token_url https://ghe.example/login/oauth/access_token
			userinfo_url https://ghe.example/api/v3/user
		}
		social microsoft {
			client_id mid
			client_secret msecret
			tenant organizations
		}
		oidc corp {
			issuer https://id.corp.example
			client_id cid
			client_secret csecret
			scopes openid email
			scopes profile
			pkce on
			jwks_url https://id.corp.example/keys
			name "Corp SSO"
		}
		trusted_providers google corp
	}`)
	var g Gate
	if err := g.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	got, err := json.Marshal(map[string]any{"social": g.Social, "trusted_providers": g.TrustedProviders})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"social":[` +
		`{"id":"google","kind":"google","client_id":"gid","client_secret":"{env.G_SECRET}"},` +
		`{"id":"github","kind":"github","client_id":"hid","client_secret":"hsecret","scopes":["repo"],"pkce":false,"authorization_url":"https://ghe.example/login/oauth/authorize","token_url":"https://ghe.example/login/oauth/access_token","userinfo_url":"https://ghe.example/api/v3/user"},` +
		`{"id":"microsoft","kind":"microsoft","client_id":"mid","client_secret":"msecret","tenant":"organizations"},` +
		`{"id":"corp","kind":"oidc","client_id":"cid","client_secret":"csecret","scopes":["openid","email","profile"],"issuer":"https://id.corp.example","pkce":true,"jwks_url":"https://id.corp.example/keys","name":"Corp SSO"}` +
		`],"trusted_providers":["google","corp"]}`
	if string(got) != want {
		t.Errorf("JSON form\n got %s\nwant %s", got, want)
	}
}

func TestUnmarshalCaddyfile_SocialErrorsNameTheSubdirective(t *testing.T) {
	cases := map[string]string{
		"social":                                   "social",
		"social google github {\n}":                "social",
		"social google {\n colour x\n}":            "social google",
		"social google {\n client_id\n}":           "client_id",
		"social google {\n client_id a b\n}":       "client_id",
		"social google {\n pkce maybe\n}":          "pkce",
		"social google {\n scopes\n}":              "scopes",
		"oidc":                                     "oidc",
		"oidc corp {\n issuer\n}":                  "issuer",
		"trusted_providers":                        "trusted_providers",
		"oidc corp {\n authorization_url a b\n}":   "authorization_url",
		"social github {\n tenant\n}":              "tenant",
		"social github {\n client_secret a b c\n}": "client_secret",
		"social microsoft {\n token_url\n}":        "token_url",
		"social microsoft {\n userinfo_url\n}":     "userinfo_url",
		"social microsoft {\n jwks_url x y\n}":     "jwks_url",
		"oidc corp {\n name\n}":                    "name",
	}
	for block, name := range cases {
		t.Run(block, func(t *testing.T) {
			var g Gate
			err := g.UnmarshalCaddyfile(caddyfile.NewTestDispenser("auth_gate {\n" + block + "\n}"))
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Fatalf("error %v does not name %q", err, name)
			}
		})
	}
}

func TestProvision_SocialConfigErrorsNameTheSubdirective(t *testing.T) {
	head := "database " + testsupport.SQLiteDSN(t) + "\nsecret " + testSecret + "\n"
	withURL := head + "base_url https://app.example.com\n"
	cases := map[string]string{
		// The redirect URI registered at the provider comes from base_url,
		// never from the request's Host.
		head + "social github {\n client_id a\n client_secret b\n}":                                                        "base_url",
		withURL + "social facebook {\n client_id a\n client_secret b\n}":                                                   "social",
		withURL + "social github {\n client_secret b\n}":                                                                   "client_id",
		withURL + "social github {\n client_id a\n}":                                                                       "client_secret",
		withURL + "social github {\n client_id {env.AUTH_TEST_UNSET}\n client_secret b\n}":                                 "client_id",
		withURL + "oidc corp {\n client_id a\n client_secret b\n}":                                                         "issuer",
		withURL + "oidc corp {\n issuer not-a-url\n client_id a\n client_secret b\n}":                                      "issuer",
		withURL + "oidc c/x {\n issuer https://id.example\n client_id a\n client_secret b\n}":                              "oidc",
		withURL + "social google {\n client_id a\n client_secret b\n pkce off\n}":                                          "social google",
		withURL + "social github {\n client_id a\n client_secret b\n token_url /relative\n}":                               "token_url",
		withURL + "social github {\n client_id a\n client_secret b\n}\ntrusted_providers corp":                             "trusted_providers",
		withURL + "trusted_providers github":                                                                               "trusted_providers",
		withURL + "social github {\n client_id a\n client_secret b\n}\nsocial github {\n client_id a\n client_secret b\n}": "social github",
	}
	for block, name := range cases {
		t.Run(strings.ReplaceAll(block[len(head):], "\n", " "), func(t *testing.T) {
			_, err := provisionFromCaddyfile(t, block)
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Fatalf("error %v does not name %q", err, name)
			}
		})
	}
}

func TestProvision_SocialProviders(t *testing.T) {
	t.Setenv("AUTH_TEST_GH_ID", "gh-client")
	t.Setenv("AUTH_TEST_GH_SECRET", "gh-secret")
	// The issuer's port is closed: provisioning must not try discovery.
	g, err := provisionFromCaddyfile(t, "database "+testsupport.SQLiteDSN(t)+"\nsecret "+testSecret+`
base_url https://app.example.com/
base_path /api/auth
social github {
	client_id {env.AUTH_TEST_GH_ID}
	client_secret {env.AUTH_TEST_GH_SECRET}
}
oidc corp {
	issuer http://127.0.0.1:9
	client_id a
	client_secret b
}
trusted_providers corp`)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.social) != 2 || g.social["corp"] == nil || g.stateCodec == nil {
		t.Fatalf("providers %v, codec %v", g.social, g.stateCodec)
	}
	if g.Social[0].ClientID != "{env.AUTH_TEST_GH_ID}" {
		t.Errorf("config rewritten to %q: secrets would land in the autosaved config", g.Social[0].ClientID)
	}
	raw, err := g.social["github"].AuthCodeURL("st", "verifier", "", social.AuthOptions{})
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if got := q.Get("redirect_uri"); got != "https://app.example.com/api/auth/callback/github" {
		t.Errorf("redirect_uri = %q", got)
	}
	if got := q.Get("client_id"); got != "gh-client" {
		t.Errorf("client_id = %q, want the expanded placeholder", got)
	}
	if got := g.trustedProviders; len(got) != 1 || got[0] != "corp" {
		t.Errorf("trusted providers = %v", got)
	}
}

// Discovery runs when the config starts, not at the first sign-in, so a
// healthy provider's first user does not wait for it.
func TestSocialProviders_DiscoveryRunsWhenTheConfigStarts(t *testing.T) {
	idp := fakeidp.Start(t, fakeidp.WithRedirectURI(siteURL+"/auth/callback/corp"))
	newTestGate(t, testsupport.SQLiteDSN(t), "base_url "+siteURL+"\n"+
		"oidc corp {\n issuer "+idp.URL+"\n client_id "+idp.ClientID+"\n client_secret "+idp.ClientSecret+"\n}\n")
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, r := range idp.Requests() {
			if r.Path == "/.well-known/openid-configuration" {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no discovery request after the config started; requests: %+v", idp.Requests())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

package main

import (
	"fmt"
	"testing"

	"github.com/authgate/authgate/internal/testsupport"
	"github.com/authgate/authgate/internal/testsupport/fakeidp"
)

// The official Better Auth browser client's signIn.social against the
// built binary: internal/betterauth/social-client-test.mjs starts the flow
// with the client, follows the fake provider and the callback as a browser
// would, and checks the session with getSession.
func TestOfficialBetterAuthClient_SocialSignIn(t *testing.T) {
	node, npm := testsupport.RequireNode(t, "the official Better Auth client")
	dir := testsupport.NodeProject("betterauth")
	testsupport.NpmCI(t, npm, dir)

	testsupport.Both(t, func(t *testing.T, dsn string) {
		idp := fakeidp.Start(t)
		user := fakeidp.User{Sub: "client-sub", Email: "social-client@example.com", EmailVerified: true,
			Name: "Client User", Picture: "https://example.com/client.png"}
		idp.SetUser(user)
		up := testsupport.NewUpstream(t)
		site := testsupport.StartCaddy(t, gatedSite(dsn, up.HostPort(), `rate_limit off
		oidc corp {
			issuer `+idp.URL+`
			client_id `+idp.ClientID+`
			client_secret `+idp.ClientSecret+`
			scopes openid email profile
		}`))
		idp.AllowRedirectURI(site.BaseURL + "/auth/callback/corp")

		runSocialClient(t, node, dir, site.BaseURL, user, site.Logs)
	})
}

// The script's expectations are Better Auth's own: it passes against a
// real Better Auth server (genericOAuth "corp" on the same fake provider).
func TestOfficialBetterAuthClient_SocialSignInAgainstBetterAuth(t *testing.T) {
	node, npm := testsupport.RequireNode(t, "the official Better Auth client")
	dir := testsupport.NodeProject("betterauth")
	testsupport.NpmCI(t, npm, dir)
	idp := fakeidp.Start(t)
	user := fakeidp.User{Sub: "client-sub", Email: "social-client@example.com", EmailVerified: true,
		Name: "Client User", Picture: "https://example.com/client.png"}
	idp.SetUser(user)
	port := testsupport.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	idp.AllowRedirectURI(base + "/auth/callback/corp")
	ba := testsupport.StartBetterAuth(t, testsupport.BetterAuth{
		DatabaseURL: testsupport.PostgresDSN(t), Secret: e2eSecret, Port: port, Migrate: true,
		Plugins: map[string]any{"genericOAuth": map[string]any{"config": []any{map[string]any{
			"providerId": "corp", "clientId": idp.ClientID, "clientSecret": idp.ClientSecret,
			"discoveryUrl": idp.URL + "/.well-known/openid-configuration",
			"scopes":       []string{"openid", "email", "profile"},
		}}}},
	})
	runSocialClient(t, node, dir, ba.URL, user, ba.Logs)
}

// runSocialClient runs social-client-test.mjs against base, where the
// provider "corp" signs in as user.
func runSocialClient(t *testing.T, node, dir, base string, user fakeidp.User, logs func() string) {
	t.Helper()
	args := []string{"social-client-test.mjs", base, "corp", user.Email, user.Name, user.Picture}
	out, err := runClientScript(node, dir, args...)
	if err != nil {
		t.Fatalf("node %v: %v\n--- client output ---\n%s--- server logs ---\n%s", args, err, out, logs())
	}
	t.Logf("official Better Auth client, signIn.social:\n%s", out)
}

package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/authgate/authgate/internal/testsupport"
)

// The official Better Auth client's admin plugin (authClient.admin.*)
// against the built binary with `admin on`:
// internal/betterauth/admin-client-test.mjs creates, lists, bans, unbans,
// impersonates and removes users as an app's admin screen would, and
// checks every answer's shape.
func TestOfficialBetterAuthClient_Admin(t *testing.T) {
	node, npm := testsupport.RequireNode(t, "the official Better Auth client")
	dir := testsupport.NodeProject("betterauth")
	testsupport.NpmCI(t, npm, dir)

	testsupport.Both(t, func(t *testing.T, dsn string) {
		up := testsupport.NewUpstream(t)
		// The flow signs in many times within seconds.
		site := testsupport.StartCaddy(t, gatedSite(dsn, up.HostPort(), "rate_limit off\n\t\tadmin on"))
		runAdminClient(t, node, dir, site.BaseURL, dsn, site.Logs)
	})
}

// The script's expectations are Better Auth's own: it passes against a
// real Better Auth server with the admin plugin at its defaults.
func TestOfficialBetterAuthClient_AdminAgainstBetterAuth(t *testing.T) {
	node, npm := testsupport.RequireNode(t, "the official Better Auth client")
	dir := testsupport.NodeProject("betterauth")
	testsupport.NpmCI(t, npm, dir)
	dsn := testsupport.PostgresDSN(t)
	ba := testsupport.StartBetterAuth(t, testsupport.BetterAuth{
		DatabaseURL: dsn, Secret: e2eSecret, Migrate: true,
		Plugins: map[string]any{"admin": map[string]any{}},
	})
	runAdminClient(t, node, dir, ba.URL, dsn, ba.Logs)
}

// runAdminClient runs admin-client-test.mjs against base, whose database is
// dsn, with a hook that makes a user an admin there: the first admin has no
// API, an operator sets the role in the database.
func runAdminClient(t *testing.T, node, dir, base, dsn string, logs func() string) {
	t.Helper()
	db := testsupport.OpenDB(t, dsn)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/promote" {
			http.NotFound(w, r)
			return
		}
		res, err := db.ExecContext(r.Context(), `UPDATE "user" SET "role" = 'admin' WHERE "email" = $1`, r.URL.Query().Get("email"))
		var n int64
		if err == nil {
			n, err = res.RowsAffected()
		}
		if err == nil && n != 1 {
			err = fmt.Errorf("%d users changed, want 1", n)
		}
		if err != nil {
			http.Error(w, "promote: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer hook.Close()

	args := []string{"admin-client-test.mjs", base, hook.URL + "/promote"}
	out, err := runClientScript(node, dir, args...)
	if err != nil {
		t.Fatalf("node %v: %v\n--- client output ---\n%s--- server logs ---\n%s", args, err, out, logs())
	}
	t.Logf("official Better Auth client, admin.*:\n%s", out)
}

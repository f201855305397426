package caddyauth

import (
	"net/http"
	"testing"

	"github.com/authgate/authgate/internal/testsupport"
)

// The answers below were captured from Better Auth 1.7.25 with its admin
// plugin, for a user whose role is "user,admin" and one whose role is
// "user".
func TestAdminHasPermission_AnswersAsBetterAuth(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		s := newAdminSite(t, dsn, "admin on")
		for _, tc := range []struct {
			body     string
			ada, bob bool
		}{
			{`{"permissions":{"user":["list"]}}`, true, false},
			{`{"permissions":{"user":["list","impersonate-admins"]}}`, false, false},
			{`{"permissions":{"session":["revoke"],"user":["ban"]}}`, true, false},
			{`{"permissions":{"user":["set-email"]}}`, true, false},
			{`{"permissions":{"user":["list","list"]}}`, true, false},
			{`{"permissions":{}}`, false, false},
			{`{"permissions":{"nope":["x"],"user":["list"]}}`, false, false},
			{`{"permissions":{"user":[]}}`, false, false},
			// The session's user wins over a role or userId in the body.
			{`{"permissions":{"user":["list"]},"role":"admin"}`, true, false},
			{`{"permissions":{"user":["list"]},"userId":"x","extra":1}`, true, false},
		} {
			for who, want := range map[string]bool{"ada": tc.ada, "bob": tc.bob} {
				w := s.call(who, "POST", "has-permission", tc.body)
				m := decodeJSON(t, w)
				if e, present := m["error"]; w.Code != http.StatusOK || !present || e != nil || m["success"] != want || len(m) != 2 {
					t.Errorf("%s %s: %d %s, want success %v", who, tc.body, w.Code, w.Body, want)
				}
			}
		}

		for body, msg := range map[string]string{
			`{}`:                                  "[body] Invalid input",
			`{"permissions":{"user":"list"}}`:     "[body] Invalid input",
			`{"permissions":5}`:                   "[body] Invalid input",
			`{"permissions":{"user":["list",5]}}`: "[body] Invalid input",
			`{"permissions":{"user":["list"]},"role":5}`:                       "[body] Invalid input",
			`{"permissions":{"user":["list"]},"permission":{"user":["list"]}}`: "[body] Invalid input: more than one option matched",
		} {
			w := s.call("ada", "POST", "has-permission", body)
			wantError(t, w, http.StatusBadRequest, "VALIDATION_ERROR")
			if got := decodeJSON(t, w)["message"]; got != msg {
				t.Errorf("%s: message %q, want %q", body, got, msg)
			}
		}
		w := s.call("ada", "POST", "has-permission", `{"permission":{"user":["list"]}}`)
		if w.Code != http.StatusBadRequest || w.Body.String() == "" ||
			decodeJSON(t, w)["message"] != "invalid permission check. no permission(s) were passed." || decodeJSON(t, w)["code"] != nil {
			t.Errorf("permission alone: %d %s", w.Code, w.Body)
		}
		if w := s.call("", "POST", "has-permission", `{"permissions":{"user":["list"]}}`); w.Code != http.StatusUnauthorized || w.Body.Len() != 0 {
			t.Errorf("no session: %d %q", w.Code, w.Body)
		}
	})
}

// Roles named by `admin { roles … }` have the admin role's permissions, as
// they may call every admin endpoint; "admin" then is no longer one.
func TestAdminHasPermission_ConfiguredRoles(t *testing.T) {
	dsn := testsupport.SQLiteDSN(t)
	s := newAdminSite(t, dsn, "admin {\n roles support\n}")
	db := testsupport.OpenDB(t, dsn)
	if _, err := db.Exec(db.Rebind(`UPDATE "user" SET "role" = 'support' WHERE "id" = ?`), s.ids["bob"]); err != nil {
		t.Fatal(err)
	}
	for who, want := range map[string]string{"ada": "false", "bob": "true"} {
		w := s.call(who, "POST", "has-permission", `{"permissions":{"user":["ban"]}}`)
		if w.Code != http.StatusOK || decodeJSON(t, w)["success"] != (want == "true") {
			t.Errorf("%s: %d %s, want success %s", who, w.Code, w.Body, want)
		}
	}
}

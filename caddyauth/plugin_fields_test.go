package caddyauth

import (
	"fmt"
	"testing"

	"github.com/authgate/authgate/internal/testsupport"
)

// With a plugin's columns in the database, every User object carries the
// plugin's fields, as Better Auth's parseUserOutput emits them: on sign-up,
// get-session and in the two-factor answers alike.
func TestUserJSON_CarriesThePluginFieldsTheDatabaseHas(t *testing.T) {
	cases := []struct {
		config string
		want   map[string]any
		absent []string
	}{
		{"", nil, []string{"twoFactorEnabled", "role", "banned"}},
		{"two_factor", map[string]any{"twoFactorEnabled": false}, []string{"role", "banned"}},
		{"two_factor\nadmin on", map[string]any{"twoFactorEnabled": false, "role": "user", "banned": false}, nil},
	}
	for i, tc := range cases {
		// A subtest per case: the SQLite file's folder is named after the
		// test, and a repeated name would get a '#'.
		t.Run(fmt.Sprint("config ", i), func(t *testing.T) {
			testsupport.Both(t, func(t *testing.T, dsn string) {
				tg := newTestGate(t, dsn, tc.config)
				cookie, up := tg.signUp("Ada", "ada@example.com", "password123")
				w := tg.do(req("GET", "/auth/get-session", "", "Cookie", cookie))
				got := decodeJSON(t, w)
				for name, user := range map[string]any{"sign-up": up["user"], "get-session": got["user"]} {
					u, _ := user.(map[string]any)
					for k, v := range tc.want {
						if u[k] != v {
							t.Errorf("%q: %s user.%s = %v, want %v", tc.config, name, k, u[k], v)
						}
					}
					for _, k := range tc.absent {
						if _, ok := u[k]; ok {
							t.Errorf("%q: %s user has %s without the plugin's column", tc.config, name, k)
						}
					}
				}
			})
		})
	}
}

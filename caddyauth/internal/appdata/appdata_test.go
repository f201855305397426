package appdata

import (
	"path/filepath"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

func TestPaths_AreInCaddysDataDirectory(t *testing.T) {
	data := t.TempDir()
	t.Setenv("XDG_DATA_HOME", data)
	if got, want := DefaultDatabaseDSN(), "sqlite://"+filepath.Join(data, "caddy", "auth_gate", "auth.db"); got != want {
		t.Errorf("DefaultDatabaseDSN() = %q, want %q", got, want)
	}
	if got, want := SecretPath(), filepath.Join(data, "caddy", "auth_gate", "secret"); got != want {
		t.Errorf("SecretPath() = %q, want %q", got, want)
	}
}

func TestDatabaseDSN_EmptyAfterExpansionMeansTheDefault(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	t.Setenv("APPDATA_TEST_DB", " postgres://u:p@db/app\n")
	t.Setenv("APPDATA_TEST_EMPTY", "")
	cases := []struct {
		configured, want string
	}{
		{"sqlite://a.db", "sqlite://a.db"},
		{"{env.APPDATA_TEST_DB}", "postgres://u:p@db/app"},
		{"", DefaultDatabaseDSN()},
		{"  ", DefaultDatabaseDSN()},
		{"{env.APPDATA_TEST_EMPTY}", DefaultDatabaseDSN()},
		{"{env.APPDATA_TEST_UNSET}", DefaultDatabaseDSN()},
	}
	repl := caddy.NewReplacer()
	for _, tc := range cases {
		if got := DatabaseDSN(repl, tc.configured); got != tc.want {
			t.Errorf("DatabaseDSN(%q) = %q, want %q", tc.configured, got, tc.want)
		}
	}
}

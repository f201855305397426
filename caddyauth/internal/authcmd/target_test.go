package authcmd

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/authgate/authgate/caddyauth/internal/appdata"
)

func TestFindGates_ReadsNestedHandlersWithTheirSites(t *testing.T) {
	t.Setenv("CMD_TEST_DB", "postgres://u:p@db/app")
	cfg := `{"apps":{"http":{"servers":{
		"srv1":{"listen":[":9090"],"routes":[{"handle":[{"handler":"auth_gate","database":"sqlite://b.db","password_max_length":64}]}]},
		"srv0":{"listen":[":443"],"routes":[
			{"match":[{"host":["a.example.com"]},{"host":["www.a.example.com"]}],
			 "handle":[{"handler":"subroute","routes":[{"handle":[
				{"handler":"auth_gate","database":"{env.CMD_TEST_DB}","schema":"snake","password_min_length":12},
				{"handler":"reverse_proxy"}]}]}]},
			{"match":[{"host":["c.example.com"]}],"handle":[{"handler":"auth_gate"}]}
		]}
	}}}}`
	got, err := findGates([]byte(cfg))
	if err != nil {
		t.Fatal(err)
	}
	want := []foundGate{
		{sites: []string{"a.example.com", "www.a.example.com"}, settings: gateSettings{Database: "{env.CMD_TEST_DB}", Schema: "snake", PasswordMinLength: 12}, dsn: "postgres://u:p@db/app"},
		{sites: []string{"c.example.com"}, dsn: appdata.DefaultDatabaseDSN()},
		{sites: []string{":9090"}, settings: gateSettings{Database: "sqlite://b.db", PasswordMaxLength: 64}, dsn: "sqlite://b.db"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("findGates =\n%+v\nwant\n%+v", got, want)
	}
}

func TestTargetFromConfig_HandlersOnOneDatabaseAgree(t *testing.T) {
	// The config as `caddy adapt` makes it of two sites, each with an
	// auth_gate handler: the module's Caddyfile directive lives in the
	// module, which this package cannot import, so the binary's tests
	// cover the Caddyfile itself.
	path := filepath.Join(t.TempDir(), "caddy.json")
	write := func(dbA, dbB string) {
		cfg := `{"apps":{"http":{"servers":{"srv0":{"listen":[":443"],"routes":[
			{"match":[{"host":["a.example.com"]}],"handle":[{"handler":"subroute","routes":[{"handle":[
				{"handler":"auth_gate","database":"` + dbA + `","password_min_length":10}]}]}],"terminal":true},
			{"match":[{"host":["b.example.com"]}],"handle":[{"handler":"subroute","routes":[{"handle":[
				{"handler":"auth_gate","database":"` + dbB + `","password_max_length":64}]}]}],"terminal":true}
		]}}}}}`
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	// Two sites on one database: the stricter password limits of both.
	write("sqlite://one.db", "sqlite://one.db")
	got, err := targetFromConfig(path, "")
	if err != nil {
		t.Fatal(err)
	}
	if want := (cliTarget{dsn: "sqlite://one.db", minPassword: 10, maxPassword: 64}); got != want {
		t.Errorf("target = %+v, want %+v", got, want)
	}

	// Different databases need --site, which accepts the site address as
	// written in the Caddyfile.
	write("sqlite://two.db", "sqlite://one.db")
	if _, err := targetFromConfig(path, ""); err == nil || !strings.Contains(err.Error(), "--site") {
		t.Errorf("different databases without --site: %v", err)
	}
	for _, site := range []string{"b.example.com", "https://b.example.com", "b.example.com:443", "B.Example.com/"} {
		got, err := targetFromConfig(path, site)
		if err != nil || got.dsn != "sqlite://one.db" || got.minPassword != 8 || got.maxPassword != 64 {
			t.Errorf("--site %s: %+v, %v", site, got, err)
		}
	}
}

func TestRedactDSN_HidesPasswordsWhereverTheyAre(t *testing.T) {
	cases := map[string]string{
		"postgres://alice:s3cret@db.example.com:5432/app?sslmode=require&password=s3cret": "postgres://alice@db.example.com:5432/app",
		"postgresql://db.example.com/app":                                                 "postgresql://db.example.com/app",
		"sqlite:///var/lib/caddy/auth.db":                                                 "sqlite:///var/lib/caddy/auth.db",
		"postgres://alice:s3cret@db:5432/app#x":                                           "postgres://alice@db:5432/app",
		"postgres://alice:s3cret@[::1:5432/app%%":                                         "(unparseable DSN)",
	}
	for in, want := range cases {
		if got := redactDSN(in); got != want {
			t.Errorf("redactDSN(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseEnvFile_FollowsCaddysSyntax(t *testing.T) {
	got, err := parseEnvFile(strings.NewReader(`# comment
DATABASE_URL=postgres://u:p@db/app?sslmode=require
export SECRET="two
lines"
QUOTED='single'
PLAIN=value # trailing comment

EMPTY=
`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"DATABASE_URL": "postgres://u:p@db/app?sslmode=require",
		"SECRET":       "two\nlines",
		"QUOTED":       "single",
		"PLAIN":        "value",
		"EMPTY":        "",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseEnvFile = %q, want %q", got, want)
	}
	for _, bad := range []string{"NOEQUALS", "=value", "A B=c", "KEY= spaced"} {
		_, err := parseEnvFile(strings.NewReader(bad))
		if err == nil {
			t.Errorf("%q accepted", bad)
		} else if strings.Contains(err.Error(), "spaced") {
			t.Errorf("error quotes the value: %v", err)
		}
	}
}

func TestLoadEnvFile_DoesNotOverrideTheEnvironment(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".env")
	if err := os.WriteFile(path, []byte("CMD_TEST_SET=file\nCMD_TEST_UNSET=file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CMD_TEST_SET", "env")
	t.Setenv("CMD_TEST_UNSET", "")
	os.Unsetenv("CMD_TEST_UNSET")
	if err := loadEnvFile(path); err != nil {
		t.Fatal(err)
	}
	if a, b := os.Getenv("CMD_TEST_SET"), os.Getenv("CMD_TEST_UNSET"); a != "env" || b != "file" {
		t.Errorf("after loadEnvFile: %q, %q; want env, file", a, b)
	}
}

func TestCell_NeutralisesTerminalControls(t *testing.T) {
	if got := cell("Mallory\x1b]0;pwned\x07\tname\n"); got != "Mallory?]0;pwned??name?" {
		t.Errorf("cell = %q", got)
	}
	if got := cell(""); got != "-" {
		t.Errorf("empty cell = %q", got)
	}
}

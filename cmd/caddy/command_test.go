package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authgate/authgate/internal/testsupport"
)

// The `caddy auth …` commands, run as the built binary against real
// databases, with a running gate to prove that what they write is what the
// gate reads.

const cliPassword = "correct horse battery staple"

// cliSite is gatedSite for these tests: revocation must show at once (no
// session cache) and a test signs in more often than sign-in's rate limit
// allows.
func cliSite(dsn, upstream string) string {
	return gatedSite(dsn, upstream, "session_cache 0\n\t\trate_limit off")
}

// mustRun runs a command that must succeed, with nothing (no log line, no
// banner) on stderr.
func mustRun(t *testing.T, cli *testsupport.CLI, stdin string, args ...string) testsupport.CLIResult {
	t.Helper()
	res := cli.Run(t, stdin, args...)
	if res.Code != 0 {
		t.Fatalf("caddy %s: exit %d\n%s", strings.Join(args, " "), res.Code, res.Output())
	}
	if res.Stderr != "" {
		t.Errorf("caddy %s: stderr is not clean:\n%s", strings.Join(args, " "), res.Stderr)
	}
	return res
}

// mustFail runs a command that must fail with an error naming want, on
// stderr only, as one line, without a Go panic or stack trace.
func mustFail(t *testing.T, cli *testsupport.CLI, stdin, want string, args ...string) testsupport.CLIResult {
	t.Helper()
	res := cli.Run(t, stdin, args...)
	if res.Code == 0 {
		t.Fatalf("caddy %s succeeded, want an error with %q:\n%s", strings.Join(args, " "), want, res.Output())
	}
	if !strings.Contains(res.Stderr, want) {
		t.Errorf("caddy %s: stderr does not say %q:\n%s", strings.Join(args, " "), want, res.Stderr)
	}
	if res.Stdout != "" {
		t.Errorf("caddy %s: a failed command wrote to stdout: %q", strings.Join(args, " "), res.Stdout)
	}
	for _, bad := range []string{"panic:", "goroutine ", ".go:"} {
		if strings.Contains(res.Output(), bad) {
			t.Errorf("caddy %s: output looks like a crash (%q):\n%s", strings.Join(args, " "), bad, res.Output())
		}
	}
	return res
}

// assertNoSecrets checks that none of secrets shows in any output.
func assertNoSecrets(t *testing.T, outputs []string, secrets ...string) {
	t.Helper()
	for _, out := range outputs {
		for _, s := range secrets {
			if s != "" && strings.Contains(out, s) {
				t.Errorf("a secret (%.6s…) appears in command output:\n%s", s, out)
			}
		}
	}
}

// signIn signs in through the running gate with its own cookie jar and
// user agent; it returns the client and the session token.
func signIn(t *testing.T, base, email, password, userAgent string) (*client, string) {
	t.Helper()
	c := newClient(t, base)
	resp, body := c.do("POST", "/auth/sign-in/email", fmt.Sprintf(`{"email":%q,"password":%q}`, email, password), "User-Agent", userAgent)
	if resp.StatusCode != 200 {
		t.Fatalf("sign-in of %s: %d %s", email, resp.StatusCode, body)
	}
	var out struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil || out.Token == "" {
		t.Fatalf("sign-in body %s: %v", body, err)
	}
	return c, out.Token
}

// gated reports the status of a gated API request of c.
func gated(c *client) int {
	resp, _ := c.do("GET", "/dashboard", "", "Accept", "application/json")
	return resp.StatusCode
}

type listedUser struct {
	ID            string  `json:"id"`
	Name          string  `json:"name"`
	Email         string  `json:"email"`
	EmailVerified bool    `json:"emailVerified"`
	Image         *string `json:"image"`
	CreatedAt     string  `json:"createdAt"`
	UpdatedAt     string  `json:"updatedAt"`
}

func TestCommand_UsersAndSessionsThroughTheirWholeLife(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		cli := testsupport.NewCLI(t)
		db := []string{"--database", dsn}
		var outputs []string
		run := func(stdin string, args ...string) testsupport.CLIResult {
			t.Helper()
			res := mustRun(t, cli, stdin, append(args, db...)...)
			outputs = append(outputs, res.Output())
			return res
		}

		if out := run("", "auth", "migrate").Stdout; !strings.Contains(out, "applied") || !strings.Contains(out, "camel columns") {
			t.Errorf("first migrate says %q", out)
		}
		if out := run("", "auth", "migrate").Stdout; !strings.Contains(out, "up to date") {
			t.Errorf("second migrate says %q", out)
		}

		// Create: the password comes from stdin, the email is normalised.
		adaID := strings.TrimSpace(run(cliPassword+"\n", "auth", "users", "create", "--email", "  Ada@Example.COM ", "--name", "Ada Lovelace").Stdout)
		if len(adaID) != 32 {
			t.Fatalf("users create printed %q, want a 32-character id", adaID)
		}
		// A password without a final newline, with \r\n endings, counts too.
		bobID := strings.TrimSpace(run("bob-password\r\n", "auth", "users", "create", "--email", "bob@example.com", "--name", "Bob", "--verified").Stdout)

		// List, as a table and as Better Auth user objects.
		tbl := run("", "auth", "users", "list").Stdout
		lines := strings.Split(strings.TrimRight(tbl, "\n"), "\n")
		if len(lines) != 3 || !strings.HasPrefix(lines[0], "ID") || !strings.Contains(lines[0], "EMAIL") ||
			!strings.Contains(lines[1], adaID) || !strings.Contains(lines[1], "ada@example.com") || !strings.Contains(lines[1], "Ada Lovelace") ||
			!strings.Contains(lines[2], bobID) || !strings.Contains(lines[2], "true") {
			t.Errorf("users list table:\n%s", tbl)
		}
		var users []listedUser
		raw := run("", "auth", "users", "list", "--json").Stdout
		if err := json.Unmarshal([]byte(raw), &users); err != nil {
			t.Fatalf("users list --json is not a JSON array of users: %v\n%s", err, raw)
		}
		if len(users) != 2 || users[0].ID != adaID || users[0].Email != "ada@example.com" || users[0].EmailVerified ||
			users[0].Image != nil || !strings.HasSuffix(users[0].CreatedAt, "Z") || users[1].ID != bobID || !users[1].EmailVerified {
			t.Errorf("users list --json = %+v", users)
		}
		if page := run("", "auth", "users", "list", "--json", "--limit", "1", "--offset", "1").Stdout; !strings.Contains(page, bobID) || strings.Contains(page, adaID) {
			t.Errorf("second page of one: %s", page)
		}

		// The hash the command wrote is one the gate verifies.
		up := testsupport.NewUpstream(t)
		site := testsupport.StartCaddy(t, cliSite(dsn, up.HostPort()))
		laptop, laptopToken := signIn(t, site.BaseURL, "ada@example.com", cliPassword, "Laptop/1.0")
		phone, phoneToken := signIn(t, site.BaseURL, "ada@example.com", cliPassword, "Phone/2.0")
		_, bobToken := signIn(t, site.BaseURL, "bob@example.com", "bob-password", "Bob/1.0")
		if gated(laptop) != 200 || gated(phone) != 200 {
			t.Fatal("signed-in clients do not pass the gate")
		}

		// Sessions: listed without tokens, by email or id.
		tbl = run("", "auth", "sessions", "list", "--user", "ADA@example.com").Stdout
		if n := strings.Count(tbl, "\n"); n != 3 || !strings.Contains(tbl, "Laptop/1.0") || !strings.Contains(tbl, "Phone/2.0") || !strings.Contains(tbl, "USER AGENT") {
			t.Errorf("sessions list table:\n%s", tbl)
		}
		raw = run("", "auth", "sessions", "list", "--user", adaID, "--json").Stdout
		var sessions []map[string]any
		if err := json.Unmarshal([]byte(raw), &sessions); err != nil || len(sessions) != 2 {
			t.Fatalf("sessions list --json: %v\n%s", err, raw)
		}
		var laptopSession string
		for _, s := range sessions {
			if _, ok := s["token"]; ok {
				t.Errorf("sessions list --json has a token field: %v", s)
			}
			if s["userId"] != adaID || s["expiresAt"] == nil || s["ipAddress"] == nil {
				t.Errorf("session object %v", s)
			}
			if s["userAgent"] == "Laptop/1.0" {
				laptopSession, _ = s["id"].(string)
			}
		}

		// Revoke one session by id: only that client is out.
		if out := run("", "auth", "sessions", "revoke", "--session", laptopSession).Stdout; !strings.Contains(out, laptopSession) || !strings.Contains(out, adaID) {
			t.Errorf("revoke --session says %q", out)
		}
		if gated(laptop) != 401 || gated(phone) != 200 {
			t.Errorf("after revoking the laptop's session: laptop %d, phone %d; want 401, 200", gated(laptop), gated(phone))
		}
		// Revoke all of a user's sessions.
		if out := run("", "auth", "sessions", "revoke", "--user", "ada@example.com").Stdout; !strings.Contains(out, "revoked 1 session ") {
			t.Errorf("revoke --user says %q", out)
		}
		if gated(phone) != 401 {
			t.Error("the phone's session survived revoke --user")
		}
		if out := run("", "auth", "sessions", "list", "--user", "ada@example.com").Stdout; strings.Count(out, "\n") != 1 {
			t.Errorf("sessions left after revoke --user:\n%s", out)
		}

		// Delete: refused without --yes when not on a terminal, then done.
		mustFail(t, cli, "", "--yes", append([]string{"auth", "users", "delete", "--email", "bob@example.com"}, db...)...)
		if out := run("", "auth", "users", "delete", "--id", bobID, "--yes").Stdout; !strings.Contains(out, "deleted user "+bobID) || !strings.Contains(out, "1 session") {
			t.Errorf("users delete says %q", out)
		}
		if out := run("", "auth", "users", "list").Stdout; strings.Contains(out, bobID) {
			t.Errorf("deleted user still listed:\n%s", out)
		}
		c := newClient(t, site.BaseURL)
		if resp, _ := c.do("POST", "/auth/sign-in/email", `{"email":"bob@example.com","password":"bob-password"}`); resp.StatusCode != 401 {
			t.Errorf("deleted user signs in: %d", resp.StatusCode)
		}

		var hashes []string
		if err := testsupport.OpenDB(t, dsn).Select(&hashes, `SELECT "password" FROM "account"`); err != nil {
			t.Fatal(err)
		}
		assertNoSecrets(t, outputs, append(hashes, cliPassword, "bob-password", laptopToken, phoneToken, bobToken)...)
	})
}

func TestCommand_ConfigCaddyfileGivesTheDatabaseAndPasswordRules(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		cli := testsupport.NewCLI(t)
		up := testsupport.NewUpstream(t)
		site := `{
	admin off
}
http://127.0.0.1:{PORT} {
	auth_gate {
		database {env.AUTH_GATE_TEST_DB}
		secret ` + e2eSecret + `
		password_min_length 12
		session_cache 0
		rate_limit off
	}
	reverse_proxy ` + up.HostPort() + `
}
`
		// The CLI reads the config without starting it: any port will do.
		cli.WriteFile(t, "Caddyfile", strings.ReplaceAll(site, "{PORT}", "8080"))
		cli.WriteFile(t, ".env", "AUTH_GATE_TEST_DB="+dsn+"\n")

		// Without the variable the database is the default SQLite file,
		// which does not exist yet: nothing is created behind our back.
		mustFail(t, cli, "", "run 'caddy auth migrate' first", "auth", "users", "list")
		if _, err := os.Stat(filepath.Join(cli.Dir, "data", "caddy", "auth_gate", "auth.db")); !os.IsNotExist(err) {
			t.Errorf("users list created the default database: %v", err)
		}

		// --envfile, as `caddy run --envfile`; ./Caddyfile by default.
		mustRun(t, cli, "", "auth", "migrate", "--envfile", ".env")
		mustFail(t, cli, "elevenchars\n", "at least 12 characters",
			"auth", "users", "create", "--config", "Caddyfile", "--envfile", ".env", "--email", "eve@example.com", "--name", "Eve")
		// The variable from the environment works as well as the file.
		cli.Env = append(cli.Env, "AUTH_GATE_TEST_DB="+dsn)
		id := strings.TrimSpace(mustRun(t, cli, "twelve-chars\n", "auth", "users", "create", "--email", "eve@example.com", "--name", "Eve").Stdout)

		gate := testsupport.StartCaddy(t, site, "AUTH_GATE_TEST_DB="+dsn)
		c, _ := signIn(t, gate.BaseURL, "eve@example.com", "twelve-chars", "Test/1.0")
		if gated(c) != 200 {
			t.Error("user created through --config does not pass the gate")
		}
		if out := mustRun(t, cli, "", "auth", "users", "list", "--config", "Caddyfile").Stdout; !strings.Contains(out, id) {
			t.Errorf("users list --config:\n%s", out)
		}
	})
}

func TestCommand_DefaultDatabaseIsTheOneCaddyRunUses(t *testing.T) {
	cli := testsupport.NewCLI(t)
	site := `{
	admin off
}
http://127.0.0.1:{PORT} {
	auth_gate {
		secret ` + e2eSecret + `
	}
	reverse_proxy 127.0.0.1:9
}
`
	cli.WriteFile(t, "Caddyfile", strings.ReplaceAll(site, "{PORT}", "8080"))
	out := mustRun(t, cli, "", "auth", "migrate").Stdout
	want := filepath.Join(cli.Dir, "data", "caddy", "auth_gate", "auth.db")
	if !strings.Contains(out, want) {
		t.Errorf("migrate says %q, want it to name %s", out, want)
	}
	if fi, err := os.Stat(want); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("default database file: %v %v", fi, err)
	}
	mustRun(t, cli, cliPassword+"\n", "auth", "users", "create", "--email", "ada@example.com", "--name", "Ada")

	// Caddy with the same data directory finds the user.
	gate := testsupport.StartCaddy(t, site, cli.Env...)
	signIn(t, gate.BaseURL, "ada@example.com", cliPassword, "Test/1.0")
}

func TestCommand_ErrorsAreClearWithANonZeroExit(t *testing.T) {
	cli := testsupport.NewCLI(t)
	dsn := "sqlite://" + filepath.Join(cli.Dir, "auth.db")
	db := []string{"--database", dsn}
	mustRun(t, cli, "", append([]string{"auth", "migrate"}, db...)...)
	mustRun(t, cli, cliPassword+"\n", append([]string{"auth", "users", "create", "--email", "ada@example.com", "--name", "Ada"}, db...)...)
	cli.WriteFile(t, "two-sites.caddyfile", `a.example.com {
	auth_gate {
		database sqlite://a.db
	}
}
b.example.com {
	auth_gate {
		database sqlite://b.db
	}
}
`)
	cli.WriteFile(t, "no-gate.caddyfile", "a.example.com {\n\trespond ok\n}\n")

	cases := []struct {
		name  string
		stdin string
		want  string
		args  []string
	}{
		{"MissingEmail", cliPassword, "--email is required", []string{"users", "create", "--name", "N"}},
		{"MissingName", cliPassword, "--name is required", []string{"users", "create", "--email", "n@example.com"}},
		{"BadEmail", cliPassword, "invalid email address", []string{"users", "create", "--email", "not-an-email", "--name", "N"}},
		{"ShortPassword", "short\n", "password too short: at least 8", []string{"users", "create", "--email", "n@example.com", "--name", "N"}},
		{"LongPassword", strings.Repeat("x", 129) + "\n", "password too long: at most 128", []string{"users", "create", "--email", "n@example.com", "--name", "N"}},
		{"NoPasswordOnStdin", "", "no password on stdin", []string{"users", "create", "--email", "n@example.com", "--name", "N"}},
		{"EmailTaken", cliPassword, "already exists", []string{"users", "create", "--email", "ADA@example.com", "--name", "N"}},
		{"DeleteUnknownUser", "", `no user "ghost@example.com"`, []string{"users", "delete", "--email", "ghost@example.com", "--yes"}},
		{"DeleteNeitherEmailNorID", "", "exactly one of --email and --id", []string{"users", "delete", "--yes"}},
		{"SessionsOfUnknownUser", "", `no user "ghost"`, []string{"sessions", "list", "--user", "ghost"}},
		{"SessionsWithoutUser", "", "--user is required", []string{"sessions", "list"}},
		{"RevokeBothUserAndSession", "", "exactly one of --user and --session", []string{"sessions", "revoke", "--user", "ada@example.com", "--session", "x"}},
		{"RevokeNeitherUserNorSession", "", "exactly one of --user and --session", []string{"sessions", "revoke"}},
		{"RevokeUnknownSession", "", `no session "nope"`, []string{"sessions", "revoke", "--session", "nope"}},
		{"NegativeLimit", "", "must not be negative", []string{"users", "list", "--limit", "-1"}},
		{"BadSchema", "", "--schema must be auto, camel or snake", []string{"users", "list", "--schema", "kebab"}},
		{"UnknownFlag", "", "unknown flag: --password", []string{"users", "create", "--email", "n@example.com", "--name", "N", "--password", "x"}},
		{"StrayArgument", "", "unknown command", []string{"users", "list", "extra"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := append(append([]string{"auth"}, tc.args...), db...)
			mustFail(t, cli, tc.stdin, tc.want, args...)
		})
	}

	// Cases that do not use the migrated database.
	other := []struct {
		name string
		want string
		args []string
	}{
		{"UnknownSubcommand", `unknown command "frobnicate"`, []string{"frobnicate"}},
		{"UnsupportedDSN", "unsupported database DSN (accepted forms: postgres://", []string{"users", "list", "--database", "mysql://root:hunter2@db/app"}},
		{"EmptyDSNVariable", "--database is empty", []string{"users", "list", "--database", "{env.AUTH_GATE_UNSET_VARIABLE}"}},
		{"NoDatabaseAtAll", "use --database <dsn> or --config <Caddyfile>", []string{"users", "list"}},
		{"BothDatabaseAndConfig", "not both", []string{"users", "list", "--database", dsn, "--config", "two-sites.caddyfile"}},
		{"SiteWithoutConfig", "--site", []string{"users", "list", "--database", dsn, "--site", "a.example.com"}},
		{"MissingConfig", "reading config", []string{"users", "list", "--config", "nope.caddyfile"}},
		{"ConfigWithoutGate", "has no auth_gate handler", []string{"users", "list", "--config", "no-gate.caddyfile"}},
		{"GatesOnDifferentDatabases", "choose one with --site (sites: a.example.com, b.example.com)", []string{"users", "list", "--config", "two-sites.caddyfile"}},
		{"UnknownSite", `serves site "c.example.com"`, []string{"users", "list", "--config", "two-sites.caddyfile", "--site", "c.example.com"}},
		{"SiteDatabaseNotMigrated", "run 'caddy auth migrate' first", []string{"users", "list", "--config", "two-sites.caddyfile", "--site", "https://b.example.com"}},
	}
	for _, tc := range other {
		t.Run(tc.name, func(t *testing.T) {
			res := mustFail(t, cli, "", tc.want, append([]string{"auth"}, tc.args...)...)
			assertNoSecrets(t, []string{res.Output()}, "hunter2")
		})
	}
}

func TestCommand_UnreachablePostgresNamesItWithoutThePassword(t *testing.T) {
	cli := testsupport.NewCLI(t)
	res := mustFail(t, cli, "", "postgres://nobody@127.0.0.1:1/app",
		"auth", "users", "list", "--database", "postgres://nobody:hunter2@127.0.0.1:1/app?sslmode=disable&password=hunter2")
	if !strings.Contains(res.Stderr, "unavailable") {
		t.Errorf("error does not say the database is unavailable:\n%s", res.Stderr)
	}
	assertNoSecrets(t, []string{res.Output()}, "hunter2")
}

func TestCommand_DatabaseOfAnotherSchemaIsRefusedClearly(t *testing.T) {
	// A PostgreSQL database without Better Auth's tables: the error says
	// what to do.
	dsn := testsupport.PostgresDSN(t)
	cli := testsupport.NewCLI(t)
	mustFail(t, cli, "", "run the migrations", "auth", "users", "list", "--database", dsn)
}

func TestCommand_PromptsOnATerminal(t *testing.T) {
	cli := testsupport.NewCLI(t)
	dsn := "sqlite://" + filepath.Join(cli.Dir, "auth.db")
	mustRun(t, cli, "", "auth", "migrate", "--database", dsn)

	t.Run("PasswordsThatDifferAreRefused", func(t *testing.T) {
		term := cli.Terminal(t, "auth", "users", "create", "--email", "ada@example.com", "--name", "Ada", "--database", dsn)
		term.Expect("Password: ")
		term.TypeSecret(cliPassword)
		term.Expect("Repeat password: ")
		term.TypeSecret(cliPassword + "!")
		out, code := term.Wait()
		if code == 0 || !strings.Contains(out, "do not match") {
			t.Errorf("exit %d:\n%s", code, out)
		}
		assertNoSecrets(t, []string{out}, cliPassword)
	})

	var id string
	t.Run("PasswordAskedTwiceWithoutEcho", func(t *testing.T) {
		term := cli.Terminal(t, "auth", "users", "create", "--email", "ada@example.com", "--name", "Ada", "--database", dsn)
		term.Expect("Password: ")
		term.TypeSecret(cliPassword)
		term.Expect("Repeat password: ")
		term.TypeSecret(cliPassword)
		out, code := term.Wait()
		if code != 0 {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		assertNoSecrets(t, []string{out}, cliPassword)
		fields := strings.Fields(out[strings.LastIndex(out, "Repeat password: ")+len("Repeat password: "):])
		if len(fields) != 1 || len(fields[0]) != 32 {
			t.Fatalf("want the new id after the prompts:\n%q", out)
		}
		id = fields[0]
	})

	t.Run("DeleteAsksForConfirmation", func(t *testing.T) {
		if id == "" {
			t.Skip("no user was created")
		}
		term := cli.Terminal(t, "auth", "users", "delete", "--id", id, "--database", dsn)
		term.Expect("[y/N] ")
		term.Type("n")
		if out, code := term.Wait(); code == 0 || !strings.Contains(out, "not deleted") {
			t.Errorf("answering n: exit %d:\n%s", code, out)
		}
		term = cli.Terminal(t, "auth", "users", "delete", "--id", id, "--database", dsn)
		term.Expect("[y/N] ")
		term.Type("y")
		if out, code := term.Wait(); code != 0 || !strings.Contains(out, "deleted user "+id) {
			t.Errorf("answering y: exit %d:\n%s", code, out)
		}
	})
}

package caddyauth

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	"github.com/authgate/authgate/internal/testsupport"
)

func TestUnmarshalCaddyfile_FullBlock(t *testing.T) {
	d := caddyfile.NewTestDispenser(`auth_gate {
		database  postgres://u:p@db/app
		secret    {env.NEW_SECRET} {env.OLD_SECRET}
		base_path /api/auth
		base_url  https://app.example.com
		trusted_origins https://app.example.com https://admin.example.com
		trusted_origins *.example.org
		public    /healthz /static/* /
		login_url /login
		session_expires_in 30d
		session_update_age 12h
		session_cache 0
		password_min_length 10
		password_max_length 64
		disable_sign_up
		require_email_verification
		identity_headers {
			id X-Auth-User
			email_verified X-Auth-Verified
		}
		bearer
		rate_limit {
			window 1m
			max 50
			rule /sign-in/* 10s 3
			storage database
		}
		migrate off
		schema snake
		notify_database postgres://u:p@direct/app
		email_webhook http://127.0.0.1:8000/email-hook {
			secret {env.HOOK_SECRET}
		}
		email_log
		delete_user on
		pages off
	}`)
	var g Gate
	if err := g.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	cache := caddy.Duration(0)
	want := Gate{
		Database: "postgres://u:p@db/app", Secret: []string{"{env.NEW_SECRET}", "{env.OLD_SECRET}"},
		BasePath: "/api/auth", BaseURL: "https://app.example.com",
		TrustedOrigins:   []string{"https://app.example.com", "https://admin.example.com", "*.example.org"},
		Public:           []string{"/healthz", "/static/*", "/"},
		LoginURL:         "/login",
		SessionExpiresIn: caddy.Duration(30 * 24 * time.Hour), SessionUpdateAge: caddy.Duration(12 * time.Hour), SessionCache: &cache,
		PasswordMinLength: 10, PasswordMaxLength: 64,
		DisableSignUp: true, RequireEmailVerification: true,
		IdentityHeaders: &IdentityHeaders{ID: "X-Auth-User", EmailVerified: "X-Auth-Verified"},
		Bearer:          true,
		RateLimit: &RateLimit{Window: caddy.Duration(time.Minute), Max: 50, Storage: "database",
			Rules: []RateLimitRule{{Path: "/sign-in/*", Window: caddy.Duration(10 * time.Second), Max: 3}}},
		Migrate: "off", Schema: "snake", NotifyDatabase: "postgres://u:p@direct/app",
		EmailWebhook: "http://127.0.0.1:8000/email-hook", EmailWebhookSecret: "{env.HOOK_SECRET}", EmailLog: true, DeleteUser: true,
	}
	got, _ := json.Marshal(g)
	exp, _ := json.Marshal(want)
	if string(got) != string(exp) {
		t.Errorf("parsed\n%s\nwant\n%s", got, exp)
	}
}

func TestUnmarshalCaddyfile_ErrorsNameTheSubdirective(t *testing.T) {
	cases := map[string]string{
		"database":              "database",
		"database a b":          "database",
		"session_cache soon":    "session_cache",
		"session_expires_in":    "session_expires_in",
		"password_min_length x": "password_min_length",
		"bearer maybe":          "bearer",
		"public":                "public",
		"trusted_origins":       "trusted_origins",
		"identity_headers {\n nickname X-Nick\n}": "identity_headers",
		"rate_limit {\n storage\n}":               "rate_limit",
		"rate_limit {\n rule /x 10s\n}":           "rate_limit",
		"colour blue":                             "colour",
		"email_webhook":                           "email_webhook",
		"email_webhook http://a/ http://b/":       "email_webhook",
		"email_webhook http://a/ {\n colour x\n}": "email_webhook",
		"email_webhook http://a/ {\n secret\n}":   "email_webhook",
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

func TestProvision_ConfigErrorsNameTheSubdirective(t *testing.T) {
	sqlite := testsupport.SQLiteDSN(t)
	cases := map[string]string{
		"database mysql://x\nsecret " + testSecret:                                                           "postgres://, postgresql://, sqlite://",
		"database " + sqlite + "\nsecret " + testSecret + " {env.AUTH_TEST_UNSET}":                           "secret",
		"database " + sqlite + "\nsecret " + testSecret + "\nbase_path auth":                                 "base_path",
		"database " + sqlite + "\nsecret " + testSecret + "\nbase_path /":                                    "base_path",
		"database " + sqlite + "\nsecret " + testSecret + "\nbase_url ftp://x":                               "base_url",
		"database " + sqlite + "\nsecret " + testSecret + "\ntrusted_origins app.example.com":                "trusted_origins",
		"database " + sqlite + "\nsecret " + testSecret + "\ntrusted_origins https://x/path":                 "trusted_origins",
		"database " + sqlite + "\nsecret " + testSecret + "\nlogin_url javascript:alert(1)":                  "login_url",
		"database " + sqlite + "\nsecret " + testSecret + "\npassword_min_length 20\npassword_max_length 10": "password",
		"database " + sqlite + "\nsecret " + testSecret + "\nsession_expires_in 1h\nsession_update_age 2h":   "session_update_age",
		"database " + sqlite + "\nsecret " + testSecret + "\nsession_expires_in -1h":                         "session_expires_in",
		"database " + sqlite + "\nsecret " + testSecret + "\nsession_cache -1s":                              "session_cache",
		"database " + sqlite + "\nsecret " + testSecret + "\npassword_min_length -3":                         "password_min_length",
		"database " + sqlite + "\nsecret " + testSecret + "\nmigrate sometimes":                              "migrate",
		"database " + sqlite + "\nsecret " + testSecret + "\nschema pascal":                                  "schema",
		"database " + sqlite + "\nsecret " + testSecret + "\nidentity_headers {\n id Bad:Header\n}":          "identity_headers",
		// Links in emails come from base_url only, never from the Host.
		"database " + sqlite + "\nsecret " + testSecret + "\nemail_webhook http://127.0.0.1:9/hook": "base_url",
		"database " + sqlite + "\nsecret " + testSecret + "\nemail_log":                             "base_url",
	}
	for block, name := range cases {
		t.Run(strings.ReplaceAll(block, "\n", " "), func(t *testing.T) {
			_, err := provisionFromCaddyfile(t, block)
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Fatalf("error %v does not name %q", err, name)
			}
			if strings.Contains(err.Error(), testSecret) {
				t.Errorf("error echoes the secret: %v", err)
			}
		})
	}
}

func TestProvision_ExpandsEnvPlaceholdersAndDefaults(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("AUTH_TEST_DB", "sqlite://"+filepath.Join(dir, "from-env.db"))
	t.Setenv("AUTH_TEST_SECRET", strings.Repeat("s", 40))
	g, err := provisionFromCaddyfile(t, "database {env.AUTH_TEST_DB}\nsecret {env.AUTH_TEST_SECRET}")
	if err != nil {
		t.Fatal(err)
	}
	if string(g.cfg.keys[0]) != strings.Repeat("s", 40) {
		t.Error("secret placeholder not expanded")
	}
	if _, err := os.Stat(filepath.Join(dir, "from-env.db")); err != nil {
		t.Errorf("database placeholder not used: %v", err)
	}
	// The config keeps the placeholder, so secrets never land in Caddy's
	// autosaved JSON.
	if g.Secret[0] != "{env.AUTH_TEST_SECRET}" {
		t.Errorf("config field rewritten to %q", g.Secret[0])
	}

	// Unset variables mean the defaults: SQLite in the data directory and a
	// generated 0600 secret that stays the same across provisions.
	g, err = provisionFromCaddyfile(t, "database {env.AUTH_TEST_UNSET}\nsecret {env.AUTH_TEST_UNSET}")
	if err != nil {
		t.Fatal(err)
	}
	data := caddy.AppDataDir()
	if _, err := os.Stat(filepath.Join(data, "auth_gate", "auth.db")); err != nil {
		t.Errorf("default database not created: %v", err)
	}
	fi, err := os.Stat(filepath.Join(data, "auth_gate", "secret"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("generated secret: %v %v", fi, err)
	}
	first := string(g.cfg.keys[0])
	s, created, err := loadOrCreateSecret(filepath.Join(data, "auth_gate", "secret"))
	if err != nil || created || s != first || len(s) < minSecretLength {
		t.Errorf("second load: %q created=%v err=%v", s, created, err)
	}
}

func TestCaddyfile_DirectiveNeedsNoOrderAndRunsBeforeReverseProxy(t *testing.T) {
	adapter := caddyconfig.GetAdapter("caddyfile")
	out, warnings, err := adapter.Adapt([]byte(`:8080 {
		reverse_proxy 127.0.0.1:8000
		auth_gate {
			database sqlite://auth.db
			secret `+testSecret+`
		}
	}`), nil)
	if err != nil {
		t.Fatalf("adapt: %v %v", err, warnings)
	}
	js := string(out)
	gate, proxy := strings.Index(js, `"handler":"auth_gate"`), strings.Index(js, `"handler":"reverse_proxy"`)
	if gate < 0 || proxy < 0 || gate > proxy {
		t.Errorf("auth_gate must come before reverse_proxy without an order line: %s", js)
	}
}

package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base32"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/authgate/authgate/internal/testsupport"
)

// totpAt is RFC 6238 with Better Auth's parameters (SHA-1, 6 digits, 30 s),
// written out here so that the tests do not trust the code they test.
func totpAt(t *testing.T, base32Secret string, at time.Time) string {
	t.Helper()
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(base32Secret))
	if err != nil {
		t.Fatalf("secret %q: %v", base32Secret, err)
	}
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(at.Unix()/30))
	m := hmac.New(sha1.New, key)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	n := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	return fmt.Sprintf("%06d", n%1_000_000)
}

// enrolThroughAPI turns two-factor on for the user signed in on c, as an
// app would: enable with the password, then the first code. It returns the
// base32 secret and the backup codes.
func enrolThroughAPI(t *testing.T, c *client, password string) (string, []string) {
	t.Helper()
	resp, body := c.do("POST", "/auth/two-factor/enable", fmt.Sprintf(`{"password":%q}`, password), "Origin", c.base)
	if resp.StatusCode != 200 {
		t.Fatalf("enable: %d %s", resp.StatusCode, body)
	}
	var en struct {
		TOTPURI     string   `json:"totpURI"`
		BackupCodes []string `json:"backupCodes"`
	}
	if err := json.Unmarshal([]byte(body), &en); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(en.TOTPURI)
	if err != nil {
		t.Fatal(err)
	}
	secret := u.Query().Get("secret")
	if resp, body := c.do("POST", "/auth/two-factor/verify-totp", fmt.Sprintf(`{"code":%q}`, totpAt(t, secret, time.Now())), "Origin", c.base); resp.StatusCode != 200 {
		t.Fatalf("verify-totp: %d %s", resp.StatusCode, body)
	}
	return secret, en.BackupCodes
}

// `caddy auth users 2fa-reset`: the user who lost their device signs in
// with the password alone afterwards, every session of theirs is revoked,
// and nothing secret is printed.
func TestCommand_TwoFactorReset(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		cli := testsupport.NewCLI(t)
		db := []string{"--database", dsn}
		mustRun(t, cli, "", append([]string{"auth", "migrate"}, db...)...)
		up := testsupport.NewUpstream(t)
		site := testsupport.StartCaddy(t, gatedSite(dsn, up.HostPort(), "session_cache 0\n\t\trate_limit off\n\t\ttwo_factor"))

		c := newClient(t, site.BaseURL)
		if resp, body := c.do("POST", "/auth/sign-up/email", fmt.Sprintf(`{"name":"Ada","email":"ada@example.com","password":%q}`, cliPassword)); resp.StatusCode != 200 {
			t.Fatalf("sign-up: %d %s", resp.StatusCode, body)
		}
		secret, codes := enrolThroughAPI(t, c, cliPassword)
		if gated(c) != 200 {
			t.Fatal("the enrolled session does not pass the gate")
		}
		other := newClient(t, site.BaseURL)
		if _, body := other.do("POST", "/auth/sign-in/email", fmt.Sprintf(`{"email":"ada@example.com","password":%q}`, cliPassword)); !strings.Contains(body, `"twoFactorRedirect":true`) {
			t.Fatalf("sign-in of the enrolled user: %s", body)
		}

		var outputs []string
		outputs = append(outputs, mustFail(t, cli, "", "--yes", append([]string{"auth", "users", "2fa-reset", "ada@example.com"}, db...)...).Output())
		outputs = append(outputs, mustFail(t, cli, "", `no user "nobody@example.com"`, append([]string{"auth", "users", "2fa-reset", "nobody@example.com", "--yes"}, db...)...).Output())
		res := mustRun(t, cli, "", append([]string{"auth", "users", "2fa-reset", "Ada@Example.com", "--yes"}, db...)...)
		outputs = append(outputs, res.Output())
		if out := res.Stdout; !strings.Contains(out, "reset two-factor of user ") || !strings.Contains(out, "it was on") || !strings.Contains(out, "revoked 1 session") {
			t.Errorf("2fa-reset says %q", out)
		}
		if gated(c) != 401 {
			t.Error("a session of the user survived 2fa-reset")
		}
		signIn(t, site.BaseURL, "ada@example.com", cliPassword, "After/1.0")
		// Twice is harmless, and says so.
		res = mustRun(t, cli, "", append([]string{"auth", "users", "2fa-reset", "ada@example.com", "--yes", "--keep-sessions"}, db...)...)
		outputs = append(outputs, res.Output())
		if out := res.Stdout; !strings.Contains(out, "it was already off") || !strings.Contains(out, "sessions kept") {
			t.Errorf("second 2fa-reset says %q", out)
		}
		assertNoSecrets(t, outputs, append(codes, secret, cliPassword)...)
	})
}

func TestCommand_TwoFactorResetWithoutTheSchema(t *testing.T) {
	cli := testsupport.NewCLI(t)
	db := []string{"--database", testsupport.SQLiteDSN(t)}
	mustRun(t, cli, "", append([]string{"auth", "migrate"}, db...)...)
	mustRun(t, cli, cliPassword+"\n", append([]string{"auth", "users", "create", "--email", "ada@example.com", "--name", "Ada"}, db...)...)
	mustFail(t, cli, "", "no two-factor schema", append([]string{"auth", "users", "2fa-reset", "ada@example.com", "--yes"}, db...)...)
}

// A browser turns two-factor on from the settings page (reading the secret
// from the page, as someone typing it into an app would), signs out, and
// signs in again: password, then the code page, then the app. No script
// runs anywhere.
func TestBrowser_TwoFactorEnrolThenSignIn(t *testing.T) {
	requireTool(t, chromiumPath, "apt-get install chromium")
	python := requireTool(t, "python3", "apt-get install python3")
	shots := screenshotDir(t)
	appPort := testsupport.FreePort(t)
	startDemoApp(t, python, appPort)
	cf := demoCaddyfile(t, appPort)
	const anchor = "\t\tpages on\n"
	if !strings.Contains(cf, anchor) {
		t.Fatalf("the repository's Caddyfile no longer contains %q", anchor)
	}
	cf = strings.Replace(cf, anchor, anchor+"\t\ttwo_factor {\n\t\t\tissuer \"Demo\"\n\t\t}\n", 1)
	site := testsupport.StartCaddy(t, cf)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("caddy logs:\n%s", site.Logs())
		}
	})

	ctx := newBrowser(t)
	type action = chromedp.Action[chromedp.Void]
	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }
	shot := func(name string) action {
		return func(ctx context.Context, tgt *chromedp.Target) (chromedp.Void, error) {
			png, err := chromedp.FullScreenshot(100)(ctx, tgt)
			if err != nil {
				return chromedp.Void{}, err
			}
			p := filepath.Join(shots, "2fa-"+name+".png")
			t.Logf("screenshot: %s", p)
			return chromedp.Void{}, os.WriteFile(p, png, 0o644)
		}
	}
	step := func(name string, actions ...action) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			loc, _ := chromedp.Run(ctx, chromedp.Location())
			_ = chromedp.Do(ctx, shot("failed-"+name))
			t.Fatalf("%s: %v (at %s)", name, err, loc)
		}
	}
	wantPath := func(path string) action {
		return chromedp.Func(func(ctx context.Context, tgt *chromedp.Target) error {
			loc, err := chromedp.Location()(ctx, tgt)
			if err != nil {
				return err
			}
			if u, err := url.Parse(loc); err != nil || u.Path != path {
				return fmt.Errorf("the browser is at %s, want %s", loc, path)
			}
			return nil
		})
	}
	wantText := func(sel, want string) action {
		return chromedp.Func(func(ctx context.Context, tgt *chromedp.Target) error {
			got, err := chromedp.Text(chromedp.CSS(sel))(ctx, tgt)
			if err != nil {
				return err
			}
			if !strings.Contains(got, want) {
				return fmt.Errorf("%s says %q, want %q", sel, got, want)
			}
			return nil
		})
	}
	const pw = "correct-horse-battery"
	var secret string
	readSecret := chromedp.Func(func(ctx context.Context, tgt *chromedp.Target) error {
		s, err := chromedp.Text(chromedp.CSS("#totp-secret"))(ctx, tgt)
		secret = strings.TrimSpace(s)
		return err
	})
	// typeCode types the current code when the step runs, not when the
	// step is built: the secret is only known by then.
	typeCode := func(sel string) action {
		return func(ctx context.Context, tgt *chromedp.Target) (chromedp.Void, error) {
			return chromedp.SendKeys(chromedp.CSS(sel), totpAt(t, secret, time.Now()))(ctx, tgt)
		}
	}

	step("sign up",
		chromedp.Navigate(site.BaseURL+"/auth/sign-up"),
		chromedp.WaitVisible(css("#name")),
		chromedp.SendKeys(css("#name"), "Ada Lovelace"),
		chromedp.SendKeys(css("#email"), "ada@example.com"),
		chromedp.SendKeys(css("#password"), pw),
		chromedp.Submit(css("#password")),
		chromedp.WaitVisible(css("table")),
		wantPath("/"),
	)
	step("open the two-factor settings",
		chromedp.Navigate(site.BaseURL+"/auth/two-factor?redirect=/"),
		chromedp.WaitVisible(css("#password")),
		wantText("h1", "Two-factor authentication"),
		chromedp.SendKeys(css("#password"), pw),
		chromedp.Submit(css("#password")),
		chromedp.WaitVisible(css("#totp-secret")),
		chromedp.WaitVisible(css("svg")),
		wantText("#backup-codes", "-"),
		readSecret,
		shot("1-setup"),
	)
	if len(secret) < 16 {
		t.Fatalf("the setup page shows secret %q", secret)
	}
	step("turn it on with the first code",
		typeCode("#code"),
		chromedp.Submit(css("#code")),
		chromedp.WaitVisible(css(`[role="status"]`)),
		wantPath("/auth/two-factor"),
		wantText(`[role="status"]`, "Two-factor authentication is on"),
		shot("2-enabled"),
	)
	step("sign out",
		chromedp.Navigate(site.BaseURL+"/"),
		chromedp.WaitVisible(css("table")),
		chromedp.Click(css(`form[action="/auth/sign-out/form"] button`)),
		chromedp.WaitVisible(css("#email")),
		wantPath("/auth/sign-in"),
	)
	step("sign in with the password",
		chromedp.SendKeys(css("#email"), "ada@example.com"),
		chromedp.SendKeys(css("#password"), pw),
		chromedp.Submit(css("#password")),
		chromedp.WaitVisible(css("#code")),
		wantPath("/auth/two-factor/code"),
		shot("3-code"),
	)
	step("give the code",
		typeCode("#code"),
		chromedp.Submit(css("#code")),
		chromedp.WaitVisible(css("table")),
		wantPath("/"),
		wantText("p", "Hello, Ada Lovelace."),
		shot("4-signed-in"),
	)
}

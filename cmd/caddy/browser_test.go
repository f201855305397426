package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/authgate/authgate/internal/testsupport"
)

// chromiumPath is Debian's chromium package; .ci/run installs it.
const chromiumPath = "/usr/bin/chromium"

// TestBrowser_DemoSignUpSignOut drives headless Chromium through the demo as
// a new user would: the repository's Caddyfile (ports and admin endpoint
// changed) in front of examples/python-app, with no JavaScript on any page.
// Screenshots of each step go to $TEST_ARTIFACTS/browser, or to
// authgate-browser-artifacts in the temporary directory.
func TestBrowser_DemoSignUpSignOut(t *testing.T) {
	requireTool(t, chromiumPath, "apt-get install chromium")
	python := requireTool(t, "python3", "apt-get install python3")
	shots := screenshotDir(t)

	appPort := testsupport.FreePort(t)
	site := testsupport.StartCaddy(t, demoCaddyfile(t, appPort))
	// The app checks the assertion's issuer and audience: the site's origin.
	startDemoApp(t, python, appPort, "AUTH_SITE="+site.BaseURL)
	// With PyJWT it verifies the signed assertion; without, it says so.
	assertion := "not verified: PyJWT is not installed"
	if exec.Command(python, "-c", "import jwt, cryptography").Run() == nil {
		assertion = "verified (EdDSA, key "
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("caddy logs:\n%s", site.Logs())
		}
	})

	ctx := newBrowser(t)
	type action = chromedp.Action[chromedp.Void]
	shot := func(name string) action {
		return func(ctx context.Context, tgt *chromedp.Target) (chromedp.Void, error) {
			png, err := chromedp.FullScreenshot(100)(ctx, tgt) // 100: PNG
			if err != nil {
				return chromedp.Void{}, err
			}
			p := filepath.Join(shots, name+".png")
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
	// wantAt checks the browser's path and its redirect parameter ("" for
	// a URL without a query).
	wantAt := func(path, redirect string) action {
		return chromedp.Func(func(ctx context.Context, tgt *chromedp.Target) error {
			loc, err := chromedp.Location()(ctx, tgt)
			if err != nil {
				return err
			}
			u, err := url.Parse(loc)
			if err != nil || u.Path != path || u.Query().Get("redirect") != redirect || len(u.Query()) > 1 || redirect == "" && u.RawQuery != "" {
				return fmt.Errorf("the browser is at %s, want %s with redirect %q", loc, path, redirect)
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
	valueIs := func(sel, want string) action {
		return chromedp.Func(func(ctx context.Context, tgt *chromedp.Target) error {
			got, err := chromedp.Value(chromedp.CSS(sel))(ctx, tgt)
			if err != nil {
				return err
			}
			if got != want {
				return fmt.Errorf("%s holds %q, want %q", sel, got, want)
			}
			return nil
		})
	}
	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }

	// Nobody is signed in: the gate sends the browser to the sign-in page,
	// which remembers where it wanted to go.
	step("open /",
		chromedp.Navigate(site.BaseURL+"/"),
		chromedp.WaitVisible(css("#email")),
		wantAt("/auth/sign-in", "/"),
		wantText("h1", "Sign in"),
		shot("1-sign-in"),
	)
	step("go to sign-up",
		chromedp.Click(css(`a[href^="/auth/sign-up"]`)),
		chromedp.WaitVisible(css("#name")),
		wantAt("/auth/sign-up", "/"),
	)
	// A password under the minimum, past the browser's own check (switched
	// off here): the server's answer shows the API's message and keeps what
	// was typed, except the password.
	step("sign up with a short password",
		chromedp.SetAttributeValue(css("form"), "novalidate", ""),
		chromedp.SendKeys(css("#name"), "Ada Lovelace"),
		chromedp.SendKeys(css("#email"), "ada@example.com"),
		chromedp.SendKeys(css("#password"), "short"),
		chromedp.Submit(css("#password")),
		chromedp.WaitVisible(css(`[role="alert"]`)),
		wantText(`[role="alert"]`, "Password too short"),
		valueIs("#name", "Ada Lovelace"),
		valueIs("#email", "ada@example.com"),
		valueIs("#password", ""),
		shot("2-sign-up-error"),
	)
	step("sign up",
		chromedp.SendKeys(css("#password"), "correct-horse-battery"),
		shot("3-sign-up"),
		chromedp.Submit(css("#password")),
		chromedp.WaitVisible(css("table")),
		wantAt("/", ""),
		wantText("p", "Hello, Ada Lovelace."),
		wantText("table", "ada@example.com"),
		wantText("table", assertion),
		shot("4-signed-in"),
	)
	step("sign out",
		chromedp.Click(css(`form[action="/auth/sign-out/form"] button`)),
		chromedp.WaitVisible(css("#email")),
		wantAt("/auth/sign-in", "/"),
		shot("5-signed-out"),
	)
	step("open / again",
		chromedp.Navigate(site.BaseURL+"/"),
		chromedp.WaitVisible(css("#email")),
		wantAt("/auth/sign-in", "/"),
	)
	// Back in through the sign-in page, after a wrong password.
	step("sign in with a wrong password",
		chromedp.SendKeys(css("#email"), "ada@example.com"),
		chromedp.SendKeys(css("#password"), "wrong-horse-battery"),
		chromedp.Submit(css("#password")),
		chromedp.WaitVisible(css(`[role="alert"]`)),
		wantText(`[role="alert"]`, "Invalid email or password"),
		valueIs("#email", "ada@example.com"),
		valueIs("#password", ""),
		shot("6-sign-in-error"),
	)
	step("sign in",
		chromedp.SendKeys(css("#password"), "correct-horse-battery"),
		chromedp.Submit(css("#password")),
		chromedp.WaitVisible(css("table")),
		wantAt("/", ""),
		wantText("p", "Hello, Ada Lovelace."),
	)
}

// requireTool returns the path of a program the test needs. Without it the
// test is skipped, loudly, except in CI (CI=true), where it fails: there
// the test target installs it.
func requireTool(t *testing.T, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	msg := fmt.Sprintf("%s not found (%s): the browser test cannot run", name, install)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Log("SKIPPING: " + msg)
	t.Skip(msg)
	return ""
}

// screenshotDir is where screenshots go: $TEST_ARTIFACTS/browser, else a
// fixed folder in the temporary directory, emptied first, so that runs do
// not pile up.
func screenshotDir(t *testing.T) string {
	dir := filepath.Join(os.TempDir(), "authgate-browser-artifacts")
	if a := os.Getenv("TEST_ARTIFACTS"); a != "" {
		dir = filepath.Join(a, "browser")
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots go to %s", dir)
	return dir
}

// demoCaddyfile is the repository's Caddyfile with the site on a free port
// (StartCaddy's {PORT}), the app on appPort and the admin endpoint off. A
// change to the Caddyfile that this cannot follow fails here, by design: the
// test is about the demo as shipped.
func demoCaddyfile(t *testing.T, appPort int) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	cf := string(b)
	for _, r := range []struct{ old, new string }{
		{"admin localhost:2019", "admin off"},
		{":8080 {", "http://127.0.0.1:{PORT} {"},
		{"base_url http://localhost:8080", "base_url http://127.0.0.1:{PORT}"},
		{"127.0.0.1:8000", fmt.Sprintf("127.0.0.1:%d", appPort)},
	} {
		if !strings.Contains(cf, r.old) {
			t.Fatalf("the repository's Caddyfile no longer contains %q; update demoCaddyfile", r.old)
		}
		cf = strings.ReplaceAll(cf, r.old, r.new)
	}
	return cf
}

// startDemoApp runs examples/python-app on 127.0.0.1:port until the test
// ends, and waits until it answers.
func startDemoApp(t *testing.T, python string, port int, env ...string) {
	t.Helper()
	cmd := exec.Command(python, filepath.Join("..", "..", "examples", "python-app", "app.py"))
	cmd.Env = append(append(os.Environ(), fmt.Sprintf("PORT=%d", port)), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the demo app: %v", err)
	}
	var mu sync.Mutex
	var logs strings.Builder
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			mu.Lock()
			logs.WriteString(sc.Text() + "\n")
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		_ = cmd.Wait()
		if t.Failed() {
			mu.Lock()
			t.Logf("demo app output:\n%s", logs.String())
			mu.Unlock()
		}
	})
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond); err == nil {
			c.Close()
			return
		}
	}
	t.Fatalf("the demo app did not listen on %d", port)
}

// newBrowser starts headless Chromium with a fresh profile, for the length
// of the test, and fails the test on any console error or exception: a page
// that its own Content-Security-Policy blocks shows up there. Failed loads
// are left out: the flow meets 401 and 400 pages on purpose.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.UserDataDir(t.TempDir()),
		// CI runs as root, where Chromium's sandbox cannot start.
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("no-proxy-server", true),
		chromedp.WindowSize(900, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelBrowser)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", chromiumPath, err)
	}

	consoleCtx, stopConsole := context.WithCancel(ctx)
	messages := chromedp.Console(consoleCtx)
	var problems []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			if (m.Type == chromedp.ConsoleError && m.Source != "network") || m.IsException() {
				problems = append(problems, m.String()+" at "+m.URL)
			}
		}
	}()
	t.Cleanup(func() {
		stopConsole()
		<-done
		for _, p := range problems {
			t.Errorf("browser console: %s", p)
		}
	})

	// Every step together gets two minutes; the browser itself lives until
	// the test ends.
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

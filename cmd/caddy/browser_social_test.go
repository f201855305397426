package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/authgate/authgate/internal/testsupport"
	"github.com/authgate/authgate/internal/testsupport/fakeidp"
)

// A browser signs in with a provider from the built-in sign-in page: the
// demo, with one OpenID Connect provider (the fake, which approves at once)
// added, a click on "Continue with", and the app greets the provider's user
// at the page the browser first asked for. No script runs anywhere.
func TestBrowser_ContinueWithProvider(t *testing.T) {
	requireTool(t, chromiumPath, "apt-get install chromium")
	python := requireTool(t, "python3", "apt-get install python3")
	idp := fakeidp.Start(t)
	appPort := testsupport.FreePort(t)
	startDemoApp(t, python, appPort)
	cf := demoCaddyfile(t, appPort)
	const anchor = "\t\tpages on\n"
	if !strings.Contains(cf, anchor) {
		t.Fatalf("the repository's Caddyfile no longer contains %q", anchor)
	}
	cf = strings.Replace(cf, anchor, anchor+fmt.Sprintf("\t\toidc corp {\n\t\t\tissuer %s\n\t\t\tclient_id %s\n\t\t\tclient_secret %s\n\t\t\tname \"Corp SSO\"\n\t\t}\n",
		idp.URL, idp.ClientID, idp.ClientSecret), 1)
	site := testsupport.StartCaddy(t, cf)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("caddy logs:\n%s", site.Logs())
		}
	})
	idp.AllowRedirectURI(site.BaseURL + "/auth/callback/corp")

	ctx := newBrowser(t)
	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }
	wantText := func(sel, want string) chromedp.Action[chromedp.Void] {
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
	wantPath := func(path string) chromedp.Action[chromedp.Void] {
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
	err := chromedp.Do(ctx,
		chromedp.Navigate(site.BaseURL+"/"),
		chromedp.WaitVisible(css("#email")),
		wantPath("/auth/sign-in"),
		wantText(`a[href^="/auth/sign-in/social"]`, "Continue with Corp SSO"),
		chromedp.Click(css(`a[href^="/auth/sign-in/social"]`)),
		chromedp.WaitVisible(css("table")),
		wantPath("/"),
		wantText("p", "Hello, "+fakeidp.DefaultUser.Name+"."),
		wantText("table", fakeidp.DefaultUser.Email),
	)
	if err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		t.Fatalf("%v (at %s)", err, loc)
	}
}

package caddyauth

import (
	"crypto/sha256"
	"encoding/base64"
	"html"
	"html/template"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/caddyauth/internal/formtoken"
	"github.com/authgate/authgate/internal/testsupport"
)

// newPagesGate is a test gate with `pages on`.
func newPagesGate(t *testing.T, dsn, extra string) *testGate {
	t.Helper()
	return newTestGate(t, dsn, "pages on\n"+extra)
}

// browserPost is a form post from one of the site's own pages, with the
// headers Chromium sends with it and, unless form has one, a fresh form
// token for target issued with the test gates' secret.
func browserPost(target, form string, headers ...string) *http.Request {
	if !strings.Contains(form, "formToken=") {
		if form != "" {
			form += "&"
		}
		form += "formToken=" + url.QueryEscape(issueFormToken(strings.TrimPrefix(target, "/auth"), now()))
	}
	r := formRequest(target, form)
	r.Header.Set("Accept", "text/html,application/xhtml+xml")
	r.Header.Set("Origin", site)
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	r.Header.Set("Sec-Fetch-Mode", "navigate")
	r.Header.Set("Sec-Fetch-Dest", "document")
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	return r
}

// issueFormToken is a token for the form posting to path (relative to
// base_path) as the test gates would issue it at at.
func issueFormToken(path string, at time.Time) string {
	c, err := formtoken.New([][]byte{[]byte(testSecret)}, formTokenLifetime)
	if err != nil {
		panic(err)
	}
	tok, err := c.Issue(path, at)
	if err != nil {
		panic(err)
	}
	return tok
}

var formTokenInput = regexp.MustCompile(`<input type="hidden" name="formToken" value="([^"]+)">`)

// pageFormToken is the form token of the page at target, as a browser
// would take it from the page.
func pageFormToken(t *testing.T, tg *testGate, target string) string {
	t.Helper()
	body := wantPage(t, tg.do(req("GET", target, "")), http.StatusOK)
	m := formTokenInput.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("page %s has no form token:\n%s", target, body)
	}
	return html.UnescapeString(m[1])
}

// withoutFormToken blanks a page's form token, which differs on every
// render, so that pages can be compared.
func withoutFormToken(body string) string {
	return formTokenInput.ReplaceAllLiteralString(body, `<input type="hidden" name="formToken" value="">`)
}

func formOf(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v.Encode()
}

// wantPage checks that w is a page with the given status, and returns its
// body.
func wantPage(t *testing.T, w *httptest.ResponseRecorder, status int) string {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d; body %s", w.Code, status, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Fatalf("Content-Type %q, want text/html; charset=utf-8", ct)
	}
	return w.Body.String()
}

// wantSeeOther checks a 303 to location.
func wantSeeOther(t *testing.T, w *httptest.ResponseRecorder, location string) {
	t.Helper()
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != location {
		t.Fatalf("got %d Location %q, want 303 to %q; body %s", w.Code, w.Header().Get("Location"), location, w.Body)
	}
}

var (
	styleElement = regexp.MustCompile(`(?s)<style>(.*?)</style>`)
	inputTag     = regexp.MustCompile(`<input [^>]*>`)
	attrPattern  = regexp.MustCompile(`([a-z-]+)(?:="([^"]*)")?`)
	eventHandler = regexp.MustCompile(`\son[a-z]+=`)
)

func attrs(tag string) map[string]string {
	m := map[string]string{}
	for _, a := range attrPattern.FindAllStringSubmatch(strings.TrimSuffix(strings.TrimPrefix(tag, "<input "), ">"), -1) {
		m[a[1]] = a[2]
	}
	return m
}

func TestPages_RenderAccessibleWithAStrictPolicy(t *testing.T) {
	mb := newMailbox(t)
	tg := newPagesGate(t, testsupport.SQLiteDSN(t), "email_webhook "+mb.URL)
	token := strings.Repeat("a", 24)
	for _, path := range []string{"/auth/sign-in", "/auth/sign-up", "/auth/forgot-password", "/auth/reset-password?token=" + token, "/auth/sign-out"} {
		t.Run(path, func(t *testing.T) {
			w := tg.do(req("GET", path, "", "Accept", "text/html"))
			body := wantPage(t, w, http.StatusOK)

			h := w.Header()
			for k, want := range map[string]string{
				"X-Content-Type-Options": "nosniff",
				"Referrer-Policy":        "same-origin",
				"Cache-Control":          "no-store",
				"X-Frame-Options":        "DENY",
			} {
				if got := h.Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			// The policy allows the one inline stylesheet, by hash, and
			// nothing else: no script at all.
			style := styleElement.FindStringSubmatch(body)
			if style == nil {
				t.Fatal("no <style> element")
			}
			sum := sha256.Sum256([]byte(style[1]))
			wantCSP := "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) +
				"'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
			if got := h.Get("Content-Security-Policy"); got != wantCSP {
				t.Errorf("Content-Security-Policy\n got %q\nwant %q", got, wantCSP)
			}
			for _, banned := range []string{"<script", "http:", "https:", "//", "src=", "<link", "style="} {
				if strings.Contains(body, banned) {
					t.Errorf("page contains %q:\n%s", banned, body)
				}
			}
			if eventHandler.MatchString(body) {
				t.Errorf("page has an event handler attribute:\n%s", body)
			}

			if !strings.Contains(body, `<html lang="en">`) || !strings.Contains(body, "<title>") || !strings.Contains(body, "<h1>") {
				t.Errorf("page lacks lang, title or heading:\n%s", body)
			}
			if !strings.Contains(body, `<form method="post" action="/auth/`) {
				t.Errorf("page has no form posting under /auth:\n%s", body)
			}
			// Every visible field has a label and an autocomplete hint.
			for _, tag := range inputTag.FindAllString(body, -1) {
				a := attrs(tag)
				if a["type"] == "hidden" {
					continue
				}
				if a["id"] == "" || !strings.Contains(body, `<label for="`+a["id"]+`">`) {
					t.Errorf("field without a label: %s", tag)
				}
				if _, ok := a["autocomplete"]; !ok && a["type"] != "checkbox" {
					t.Errorf("field without autocomplete: %s", tag)
				}
			}
		})
	}
}

func TestPages_NotServedWhenOff(t *testing.T) {
	tg := newTestGate(t, testsupport.SQLiteDSN(t), "")
	for _, r := range []*http.Request{
		req("GET", "/auth/sign-in", "", "Accept", "text/html"),
		req("GET", "/auth/sign-up", ""),
		req("GET", "/auth/forgot-password", ""),
		req("GET", "/auth/reset-password", ""),
		req("GET", "/auth/sign-out", ""),
		browserPost("/auth/sign-in", formOf("email", "a@example.com", "password", "password123")),
		browserPost("/auth/sign-up", formOf("name", "A", "email", "a@example.com", "password", "password123")),
		browserPost("/auth/reset-password/form", formOf("token", "x", "newPassword", "password123")),
		browserPost("/auth/sign-out/form", ""),
	} {
		if w := tg.do(r); w.Code != http.StatusNotFound || w.Body.Len() != 0 {
			t.Errorf("%s %s with pages off: %d %s, want an empty 404", r.Method, r.URL.Path, w.Code, w.Body)
		}
	}
}

func TestPageSignUp_FormPostSignsInAndGoesToRedirect(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		tg := newPagesGate(t, dsn, "")
		w := tg.do(browserPost("/auth/sign-up", formOf("name", "Ada", "email", " Ada@Example.com", "password", "password123", "redirect", "/notes?id=1")))
		wantSeeOther(t, w, "/notes?id=1")
		cookie := sessionCookieFrom(t, w)
		if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control %q", cc)
		}

		// The session is an ordinary one: the app behind the gate sees Ada.
		if w := tg.do(req("GET", "/notes?id=1", "", "Cookie", cookie)); w.Code != http.StatusOK || tg.next.header.Get("X-User-Email") != "ada@example.com" {
			t.Fatalf("gated request with the page's cookie: %d, email %q", w.Code, tg.next.header.Get("X-User-Email"))
		}
		// And the JSON API knows the account.
		tg.signIn("ada@example.com", "password123")

		// The same address again: the page shows the API's error, keeps
		// what was typed except the password.
		w = tg.do(browserPost("/auth/sign-up", formOf("name", "Ada II", "email", "ada@example.com", "password", "secret-pass-2", "redirect", "/notes")))
		body := wantPage(t, w, http.StatusUnprocessableEntity)
		for _, want := range []string{`role="alert"`, "User already exists. Use another email.", `value="Ada II"`, `value="ada@example.com"`, `name="redirect" value="/notes"`} {
			if !strings.Contains(body, want) {
				t.Errorf("page lacks %q:\n%s", want, body)
			}
		}
		if strings.Contains(body, "secret-pass-2") {
			t.Error("the page refilled the password")
		}
		if sc := w.Header().Values("Set-Cookie"); len(sc) != 0 {
			t.Errorf("a failed sign-up set cookies %q", sc)
		}

		body = wantPage(t, tg.do(browserPost("/auth/sign-up", formOf("name", "B", "email", "b@example.com", "password", "short"))), http.StatusBadRequest)
		if !strings.Contains(body, "Password too short") {
			t.Errorf("short password: page lacks the API's message:\n%s", body)
		}
	})
}

func TestPageSignIn_WrongPasswordShowsErrorAndRefillsEmailOnly(t *testing.T) {
	tg := newPagesGate(t, testsupport.SQLiteDSN(t), "")
	tg.signUp("Alice", "alice@example.com", "password123")

	w := tg.do(browserPost("/auth/sign-in", formOf("email", "Alice@example.com", "password", "not-the-password", "redirect", "/x")))
	body := wantPage(t, w, http.StatusUnauthorized)
	for _, want := range []string{
		`<p class="error" id="form-error" role="alert">Invalid email or password</p>`,
		`value="Alice@example.com"`,
		`name="redirect" value="/x"`,
		`name="rememberMe" type="checkbox">`, // left unchecked, as it was
		`name="password" type="password" autocomplete="current-password" maxlength="128" required autofocus>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "not-the-password") {
		t.Error("the page refilled the password")
	}
	if sc := w.Header().Values("Set-Cookie"); len(sc) != 0 {
		t.Errorf("a failed sign-in set cookies %q", sc)
	}

	// An unknown email gets the same page.
	other := wantPage(t, tg.do(browserPost("/auth/sign-in", formOf("email", "Alice@example.com", "password", "password-two", "redirect", "/x"))), http.StatusUnauthorized)
	if withoutFormToken(other) != withoutFormToken(body) {
		t.Error("two wrong passwords gave different pages")
	}
	unknown := wantPage(t, tg.do(browserPost("/auth/sign-in", formOf("email", "nobody@example.com", "password", "not-the-password", "redirect", "/x"))), http.StatusUnauthorized)
	if withoutFormToken(strings.ReplaceAll(unknown, "nobody@example.com", "Alice@example.com")) != withoutFormToken(body) {
		t.Error("an unknown email and a wrong password gave different pages")
	}

	// The right password: a remembered session unless the box is unchecked.
	w = tg.do(browserPost("/auth/sign-in", formOf("email", "alice@example.com", "password", "password123", "rememberMe", "on", "redirect", "/x")))
	wantSeeOther(t, w, "/x")
	if sc := w.Header().Values("Set-Cookie"); len(sc) != 1 || !strings.Contains(sc[0], "Max-Age=604800") {
		t.Errorf("remembered sign-in cookies %q", sc)
	}
	w = tg.do(browserPost("/auth/sign-in", formOf("email", "alice@example.com", "password", "password123")))
	wantSeeOther(t, w, "/")
	if sc := strings.Join(w.Header().Values("Set-Cookie"), "\n"); strings.Contains(sc, "Max-Age") || !strings.Contains(sc, "better-auth.dont_remember=") {
		t.Errorf("unchecked 'keep me signed in' cookies %q", sc)
	}
}

func TestPageSignIn_RefusesRedirectsOffTheSite(t *testing.T) {
	tg := newPagesGate(t, testsupport.SQLiteDSN(t), "trusted_origins https://admin.example.com")
	tg.signUp("Alice", "alice@example.com", "password123")
	for _, target := range []string{"//evil.com", "https://evil.com/x", "/\\evil.com", "/%2F%2Fevil.com", "javascript:alert(1)", "/\t/evil.com"} {
		w := tg.do(browserPost("/auth/sign-in", formOf("email", "alice@example.com", "password", "password123", "redirect", target)))
		wantSeeOther(t, w, "/")

		body := wantPage(t, tg.do(req("GET", "/auth/sign-in?redirect="+url.QueryEscape(target), "")), http.StatusOK)
		if !strings.Contains(body, `name="redirect" value=""`) || strings.Contains(body, "redirect=") {
			t.Errorf("sign-in page kept the redirect %q:\n%s", target, body)
		}
	}

	// A trusted origin is a valid target; the page's policy then lets the
	// form's redirect go there.
	w := tg.do(browserPost("/auth/sign-in", formOf("email", "alice@example.com", "password", "password123", "redirect", "https://admin.example.com/panel")))
	wantSeeOther(t, w, "https://admin.example.com/panel")
	w = tg.do(req("GET", "/auth/sign-in?redirect="+url.QueryEscape("https://admin.example.com/panel"), ""))
	wantPage(t, w, http.StatusOK)
	if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' https://admin.example.com;") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
}

func TestPages_RedirectTargetFlowsFromTheGateThroughThePages(t *testing.T) {
	tg := newPagesGate(t, testsupport.SQLiteDSN(t), "login_url /auth/sign-in")
	w := tg.do(req("GET", "/reports?year=2024", "", "Accept", "text/html"))
	if w.Code != http.StatusFound || w.Header().Get("Location") != "/auth/sign-in?redirect=%2Freports%3Fyear%3D2024" {
		t.Fatalf("gate: %d %q", w.Code, w.Header().Get("Location"))
	}
	body := wantPage(t, tg.do(req("GET", w.Header().Get("Location"), "", "Accept", "text/html")), http.StatusOK)
	for _, want := range []string{
		`name="redirect" value="/reports?year=2024"`,
		`href="/auth/sign-up?redirect=%2freports%3fyear%3d2024"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("sign-in page lacks %q:\n%s", want, body)
		}
	}
	body = wantPage(t, tg.do(req("GET", "/auth/sign-up?redirect=%2freports%3fyear%3d2024", "")), http.StatusOK)
	if !strings.Contains(body, `name="redirect" value="/reports?year=2024"`) || !strings.Contains(body, `href="/auth/sign-in?redirect=%2freports%3fyear%3d2024"`) {
		t.Errorf("sign-up page does not carry the redirect:\n%s", body)
	}
	w = tg.do(browserPost("/auth/sign-up", formOf("name", "Ada", "email", "ada@example.com", "password", "password123", "redirect", "/reports?year=2024")))
	wantSeeOther(t, w, "/reports?year=2024")
}

func TestPageForgotAndResetPassword(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		mb := newMailbox(t)
		tg := newPagesGate(t, dsn, "email_webhook "+mb.URL)
		cookie, _ := tg.signUp("Alice", "alice@example.com", "password123")

		// The same page whether or not the address has an account.
		known := wantPage(t, tg.do(browserPost("/auth/forgot-password", formOf("email", "alice@example.com", "redirect", "/x"))), http.StatusOK)
		unknown := wantPage(t, tg.do(browserPost("/auth/forgot-password", formOf("email", "nobody@example.com", "redirect", "/x"))), http.StatusOK)
		if withoutFormToken(known) != withoutFormToken(unknown) {
			t.Errorf("known and unknown emails gave different pages:\n%s\n---\n%s", known, unknown)
		}
		if !strings.Contains(known, resetRequestedMessage) || strings.Contains(known, "alice@example.com") {
			t.Errorf("forgot-password answer:\n%s", known)
		}

		// The email's link leads to the reset page with the token and the
		// redirect target.
		msg := mb.last(t, "alice@example.com")
		link, _ := url.Parse(msg.URL)
		w := tg.do(req("GET", link.RequestURI(), ""))
		want := site + "/auth/reset-password?redirect=%2Fx&token=" + msg.Token
		if w.Code != http.StatusFound || w.Header().Get("Location") != want {
			t.Fatalf("reset link: %d %q, want %q", w.Code, w.Header().Get("Location"), want)
		}
		loc, _ := url.Parse(w.Header().Get("Location"))
		body := wantPage(t, tg.do(req("GET", loc.RequestURI(), "")), http.StatusOK)
		for _, s := range []string{`name="token" value="` + msg.Token + `"`, `name="redirect" value="/x"`, `autocomplete="new-password"`, `minlength="8"`} {
			if !strings.Contains(body, s) {
				t.Errorf("reset page lacks %q:\n%s", s, body)
			}
		}

		// Too short: the API's message, the form again with the token.
		body = wantPage(t, tg.do(browserPost("/auth/reset-password/form", formOf("token", msg.Token, "newPassword", "short", "redirect", "/x"))), http.StatusBadRequest)
		if !strings.Contains(body, "Password too short") || !strings.Contains(body, `value="`+msg.Token+`"`) {
			t.Errorf("short password page:\n%s", body)
		}

		w = tg.do(browserPost("/auth/reset-password/form", formOf("token", msg.Token, "newPassword", "new-password-1", "redirect", "/x")))
		wantSeeOther(t, w, "/auth/sign-in?notice=password-reset&redirect=%2Fx")
		if tg.do(req("GET", "/x", "", "Cookie", cookie)).Code != http.StatusUnauthorized {
			t.Error("a session survived the password reset")
		}
		body = wantPage(t, tg.do(req("GET", w.Header().Get("Location"), "")), http.StatusOK)
		if !strings.Contains(body, `role="status">Your password has been changed.`) {
			t.Errorf("sign-in page after the reset lacks the notice:\n%s", body)
		}
		wantSeeOther(t, tg.do(browserPost("/auth/sign-in", formOf("email", "alice@example.com", "password", "new-password-1", "redirect", "/x"))), "/x")

		// The token is used up: the page says so and offers a new link
		// instead of the form.
		body = wantPage(t, tg.do(browserPost("/auth/reset-password/form", formOf("token", msg.Token, "newPassword", "new-password-2"))), http.StatusBadRequest)
		if !strings.Contains(body, "This link is invalid or has expired.") || strings.Contains(body, "newPassword") || !strings.Contains(body, `href="/auth/forgot-password"`) {
			t.Errorf("used token page:\n%s", body)
		}
	})
}

func TestPageResetPassword_InvalidLink(t *testing.T) {
	tg := newPagesGate(t, testsupport.SQLiteDSN(t), "email_log")
	for _, path := range []string{"/auth/reset-password?error=INVALID_TOKEN", "/auth/reset-password", "/auth/reset-password?token=%3Cscript%3E"} {
		body := wantPage(t, tg.do(req("GET", path, "")), http.StatusOK)
		if strings.Contains(body, "newPassword") || !strings.Contains(body, "Request a new link") {
			t.Errorf("%s shows a form or no way out:\n%s", path, body)
		}
	}
	body := wantPage(t, tg.do(req("GET", "/auth/reset-password?error=INVALID_TOKEN", "")), http.StatusOK)
	if !strings.Contains(body, `role="alert">This link is invalid or has expired.</p>`) {
		t.Errorf("?error=INVALID_TOKEN shows no message:\n%s", body)
	}
	// Unknown codes show nothing: a page never displays text from its URL.
	body = wantPage(t, tg.do(req("GET", "/auth/sign-in?error=Your+account+is+locked&notice=Call+555", "")), http.StatusOK)
	if strings.Contains(body, "locked") || strings.Contains(body, "555") || strings.Contains(body, `role="alert"`) {
		t.Errorf("page shows text from its URL:\n%s", body)
	}
}

func TestPageForgotPassword_WithoutEmailDelivery(t *testing.T) {
	tg := newPagesGate(t, testsupport.SQLiteDSN(t), "")
	body := wantPage(t, tg.do(req("GET", "/auth/forgot-password", "")), http.StatusOK)
	if !strings.Contains(body, template.HTMLEscapeString(errResetDisabled.message)) || strings.Contains(body, "<form") {
		t.Errorf("forgot-password page without email delivery:\n%s", body)
	}
	body = wantPage(t, tg.do(browserPost("/auth/forgot-password", formOf("email", "a@example.com"))), http.StatusBadRequest)
	if !strings.Contains(body, template.HTMLEscapeString(errResetDisabled.message)) {
		t.Errorf("forgot-password post without email delivery:\n%s", body)
	}
	if body := wantPage(t, tg.do(req("GET", "/auth/sign-in", "")), http.StatusOK); strings.Contains(body, "forgot-password") {
		t.Errorf("sign-in page links to a password reset that cannot work:\n%s", body)
	}
}

func TestPageSignUp_Disabled(t *testing.T) {
	tg := newPagesGate(t, testsupport.SQLiteDSN(t), "disable_sign_up")
	body := wantPage(t, tg.do(req("GET", "/auth/sign-up", "")), http.StatusOK)
	if !strings.Contains(body, errSignUpDisabled.message) || strings.Contains(body, `name="password"`) {
		t.Errorf("sign-up page with sign-up disabled:\n%s", body)
	}
	wantPage(t, tg.do(browserPost("/auth/sign-up", formOf("name", "A", "email", "a@example.com", "password", "password123"))), http.StatusBadRequest)
	if body := wantPage(t, tg.do(req("GET", "/auth/sign-in", "")), http.StatusOK); strings.Contains(body, "/auth/sign-up") {
		t.Errorf("sign-in page links to a disabled sign-up:\n%s", body)
	}
}

func TestPageSignUp_RequireEmailVerification(t *testing.T) {
	mb := newMailbox(t)
	tg := newPagesGate(t, testsupport.SQLiteDSN(t), "require_email_verification\nemail_webhook "+mb.URL)
	w := tg.do(browserPost("/auth/sign-up", formOf("name", "Ada", "email", "ada@example.com", "password", "password123", "redirect", "/x")))
	wantSeeOther(t, w, "/auth/sign-in?notice=verify-email&redirect=%2Fx")
	if sc := w.Header().Values("Set-Cookie"); len(sc) != 0 {
		t.Errorf("sign-up before verification set cookies %q", sc)
	}
	// A taken address looks the same.
	wantSeeOther(t, tg.do(browserPost("/auth/sign-up", formOf("name", "Ada", "email", "ada@example.com", "password", "password123", "redirect", "/x"))),
		"/auth/sign-in?notice=verify-email&redirect=%2Fx")

	// The verification link comes back to the sign-in page.
	msg := mb.last(t, "ada@example.com")
	link, _ := url.Parse(msg.URL)
	w = tg.do(req("GET", link.RequestURI(), ""))
	if w.Code != http.StatusFound || w.Header().Get("Location") != "/auth/sign-in?notice=email-verified&redirect=%2Fx" {
		t.Fatalf("verification link: %d %q", w.Code, w.Header().Get("Location"))
	}
	body := wantPage(t, tg.do(req("GET", w.Header().Get("Location"), "")), http.StatusOK)
	if !strings.Contains(body, pageNotices["email-verified"]) {
		t.Errorf("sign-in page after verification:\n%s", body)
	}
	wantSeeOther(t, tg.do(browserPost("/auth/sign-in", formOf("email", "ada@example.com", "password", "password123", "redirect", "/x"))), "/x")
}

func TestPageSignOut_ClearsTheSessionAndRedirects(t *testing.T) {
	tg := newPagesGate(t, testsupport.SQLiteDSN(t), "")
	cookie, _ := tg.signUp("Alice", "alice@example.com", "password123")

	// Another site cannot sign the user out.
	w := tg.do(browserPost("/auth/sign-out/form", formOf("redirect", "/bye"), "Cookie", cookie, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"))
	wantPage(t, w, http.StatusForbidden)
	if tg.do(req("GET", "/x", "", "Cookie", cookie)).Code != http.StatusOK {
		t.Fatal("a cross-site post ended the session")
	}

	w = tg.do(browserPost("/auth/sign-out/form", formOf("redirect", "/bye"), "Cookie", cookie))
	wantSeeOther(t, w, "/bye")
	if sc := strings.Join(w.Header().Values("Set-Cookie"), "\n"); !strings.Contains(sc, "better-auth.session_token=; Max-Age=0") {
		t.Errorf("sign-out cookies %q", sc)
	}
	if tg.do(req("GET", "/x", "", "Cookie", cookie)).Code != http.StatusUnauthorized {
		t.Error("the session survived the sign-out")
	}
	// Without a session it still just goes on.
	wantSeeOther(t, tg.do(browserPost("/auth/sign-out/form", "")), "/")
}

func TestPageForms_FollowTheAPIsOriginRules(t *testing.T) {
	tg := newPagesGate(t, testsupport.SQLiteDSN(t), "")
	tg.signUp("Alice", "alice@example.com", "password123")
	form := formOf("email", "alice@example.com", "password", "password123")
	for name, r := range map[string]*http.Request{
		"cross-site navigation": browserPost("/auth/sign-in", form, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"),
		"foreign origin":        browserPost("/auth/sign-in", form, "Origin", "https://evil.example", "Sec-Fetch-Site", "same-site"),
		"cookie, no origin":     formRequest("/auth/sign-in", form),
	} {
		if name == "cookie, no origin" {
			r.Header.Set("Cookie", "a=b")
		}
		w := tg.do(r)
		body := wantPage(t, w, http.StatusForbidden)
		if len(w.Header().Values("Set-Cookie")) != 0 || !strings.Contains(body, `role="alert"`) {
			t.Errorf("%s: signed in or no error shown: %q\n%s", name, w.Header().Values("Set-Cookie"), body)
		}
	}
	// A client without any browser headers, as curl, is let through, as
	// by the JSON endpoint, once it has the form's token from the page.
	token := pageFormToken(t, tg, "/auth/sign-in")
	wantSeeOther(t, tg.do(formRequest("/auth/sign-in", form+"&formToken="+url.QueryEscape(token))), "/")
}

func TestPages_EscapeWhatTheyShow(t *testing.T) {
	tg := newPagesGate(t, testsupport.SQLiteDSN(t), "")
	evil := `"><script>alert(1)</script>`
	body := wantPage(t, tg.do(browserPost("/auth/sign-in", formOf("email", evil, "password", "x"))), http.StatusBadRequest)
	if strings.Contains(body, "<script>") || !strings.Contains(body, `value="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"`) {
		t.Errorf("refilled email not escaped:\n%s", body)
	}
	body = wantPage(t, tg.do(browserPost("/auth/sign-up", formOf("name", evil, "email", "a@example.com", "password", "short"))), http.StatusBadRequest)
	if strings.Contains(body, "<script>") {
		t.Errorf("refilled name not escaped:\n%s", body)
	}

	// Error messages too, whatever they hold.
	w := httptest.NewRecorder()
	p := tg.g.newPageData(req("GET", "/auth/sign-in", ""), "sign-in")
	p.Error, p.Redirect = "<script>alert(1)</script>", `/x"><script>`
	tg.g.renderPage(w, http.StatusBadRequest, p)
	if body := w.Body.String(); strings.Contains(body, "<script>") || !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("error message not escaped:\n%s", body)
	}
}

func TestPages_RateLimitedLikeTheAPI(t *testing.T) {
	tg := newLimitedGate(t, testsupport.SQLiteDSN(t), "pages on")
	setNow(t, time.Now())
	// Two API sign-ins and one page sign-in fill sign-in's bucket of 3:
	// the page is no way around the limit, and shows it as a page.
	for i := range 2 {
		if w := tg.from("198.51.100.1", signInReq("a@example.com")); w.Code != http.StatusUnauthorized {
			t.Fatalf("API sign-in %d: %d %s", i, w.Code, w.Body)
		}
	}
	form := formOf("email", "b@example.com", "password", "wrong-password")
	wantPage(t, tg.from("198.51.100.1", browserPost("/auth/sign-in", form)), http.StatusUnauthorized)
	w := tg.from("198.51.100.1", browserPost("/auth/sign-in", form))
	body := wantPage(t, w, http.StatusTooManyRequests)
	if !strings.Contains(body, rateLimitMessage) || w.Header().Get("Retry-After") == "" || w.Header().Get("X-Retry-After") == "" {
		t.Errorf("429 page: headers %v\n%s", w.Header(), body)
	}
	want429(t, tg.from("198.51.100.1", signInReq("c@example.com")), w.Header().Get("X-Retry-After"))

	// The per-email limit is per client, across page and API: attempts
	// from other clients never lock the address.
	for i, ip := range []string{"198.51.100.2", "198.51.100.3"} {
		if w := tg.from(ip, signInReq("victim@example.com")); w.Code != http.StatusUnauthorized {
			t.Fatalf("API sign-in %d: %d", i, w.Code)
		}
	}
	wantPage(t, tg.from("198.51.100.4", browserPost("/auth/sign-in", formOf("email", "victim@example.com", "password", "x"))), http.StatusUnauthorized)
	wantPage(t, tg.from("198.51.100.5", browserPost("/auth/sign-in", formOf("email", "victim@example.com", "password", "x"))), http.StatusUnauthorized)
}

func TestPages_LeaveTheJSONAPIAlone(t *testing.T) {
	tg := newPagesGate(t, testsupport.SQLiteDSN(t), "")
	cookie, _ := tg.signUp("Alice", "alice@example.com", "password123")
	tg.signIn("alice@example.com", "password123")

	// Form posts to the API still answer Better Auth's JSON.
	w := tg.do(browserPost("/auth/sign-in/email", formOf("email", "alice@example.com", "password", "password123", "callbackURL", "/x")))
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/json" || w.Header().Get("Location") != "/x" {
		t.Errorf("form post to /sign-in/email: %d %q %s", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
	wantError(t, tg.do(req("POST", "/auth/reset-password", `{"newPassword":"password456","token":"wrong"}`)), 400, "INVALID_TOKEN")
	w = tg.do(req("POST", "/auth/sign-out", "", "Cookie", cookie, "Origin", site))
	if w.Code != http.StatusOK || w.Body.String() != `{"success":true}` {
		t.Errorf("POST /sign-out: %d %s", w.Code, w.Body)
	}
	if w := tg.do(req("GET", "/auth/sign-in/email", "")); w.Code != http.StatusNotFound {
		t.Errorf("GET /sign-in/email: %d", w.Code)
	}
}

func TestPageForms_RequireAFormTokenForTheirOwnForm(t *testing.T) {
	tg := newPagesGate(t, testsupport.SQLiteDSN(t), "email_log")
	tg.signUp("Alice", "alice@example.com", "password123")
	start := time.Now().Truncate(time.Second)
	setNow(t, start)
	forged, err := formtoken.New([][]byte{[]byte(strings.Repeat("f", 32))}, formTokenLifetime)
	if err != nil {
		t.Fatal(err)
	}
	forms := map[string]string{
		"/sign-in":             formOf("email", "alice@example.com", "password", "password123"),
		"/sign-up":             formOf("name", "Bob", "email", "bob@example.com", "password", "password123"),
		"/forgot-password":     formOf("email", "alice@example.com"),
		"/reset-password/form": formOf("token", "tokentokentokentokentoke", "newPassword", "new-password-1"),
	}
	for path, form := range forms {
		forgedToken, err := forged.Issue(path, start)
		if err != nil {
			t.Fatal(err)
		}
		anotherForm := "/sign-up"
		if path == "/sign-up" {
			anotherForm = "/sign-in"
		}
		for name, token := range map[string]string{
			"no token":             "",
			"another form's token": issueFormToken(anotherForm, start),
			"expired token":        issueFormToken(path, start.Add(-formTokenLifetime-time.Second)),
			"forged token":         forgedToken,
			"garbage":              "not-a-token",
		} {
			t.Run(path+"/"+name, func(t *testing.T) {
				w := tg.do(browserPost("/auth"+path, form+"&redirect=%2Fnext&formToken="+url.QueryEscape(token)))
				body := wantPage(t, w, http.StatusForbidden)
				if !strings.Contains(body, "Reload the page and try again.") || !strings.Contains(body, `role="alert"`) ||
					!strings.Contains(body, `name="redirect" value="/next"`) {
					t.Errorf("refusal page lacks the message:\n%s", body)
				}
				if sc := w.Header().Values("Set-Cookie"); len(sc) != 0 {
					t.Errorf("a refused post set cookies %q", sc)
				}
				// The refusal page carries a fresh token that posts.
				fresh := formTokenInput.FindStringSubmatch(body)
				if fresh == nil || formtokenCheck(path, html.UnescapeString(fresh[1]), start) != nil {
					t.Errorf("refusal page has no valid fresh token:\n%s", body)
				}
			})
		}
	}
	// Nothing happened: no account for Bob, no reset email for Alice.
	if w := tg.do(req("POST", "/auth/sign-in/email", `{"email":"bob@example.com","password":"password123"}`)); w.Code != http.StatusUnauthorized {
		t.Errorf("Bob's sign-up went through a refused form: %d", w.Code)
	}

	// A token from the page itself posts, until its lifetime is over.
	token := pageFormToken(t, tg, "/auth/sign-in")
	setNow(t, start.Add(formTokenLifetime))
	wantSeeOther(t, tg.do(browserPost("/auth/sign-in", forms["/sign-in"]+"&formToken="+url.QueryEscape(token))), "/")
	setNow(t, start.Add(formTokenLifetime+time.Second))
	wantPage(t, tg.do(browserPost("/auth/sign-in", forms["/sign-in"]+"&formToken="+url.QueryEscape(token))), http.StatusForbidden)
}

// formtokenCheck checks a token as the test gates would.
func formtokenCheck(path, token string, at time.Time) error {
	c, err := formtoken.New([][]byte{[]byte(testSecret)}, formTokenLifetime)
	if err != nil {
		return err
	}
	return c.Check(path, token, at)
}

// The sign-out button may sit on the app's own pages, where no token can
// be had: it needs none, and the origin rules still guard it.
func TestPageSignOut_NeedsNoFormToken(t *testing.T) {
	tg := newPagesGate(t, testsupport.SQLiteDSN(t), "")
	cookie, _ := tg.signUp("Alice", "alice@example.com", "password123")
	body := wantPage(t, tg.do(req("GET", "/auth/sign-out", "")), http.StatusOK)
	if strings.Contains(body, "formToken") {
		t.Errorf("sign-out page carries a form token it does not need:\n%s", body)
	}
	w := tg.do(browserPost("/auth/sign-out/form", "redirect=%2Fbye&formToken=", "Cookie", cookie))
	wantSeeOther(t, w, "/bye")
	if tg.do(req("GET", "/x", "", "Cookie", cookie)).Code != http.StatusUnauthorized {
		t.Error("the session survived the sign-out")
	}
}

func TestPageForms_TokensFromARetiredSecretStillPost(t *testing.T) {
	tg := newPagesGate(t, testsupport.SQLiteDSN(t), "")
	tg.signUp("Alice", "alice@example.com", "password123")
	// A gate whose current secret is new and whose old one is the tests'.
	rotated, err := provisionFromCaddyfile(t, "database "+tg.g.Database+"\nsecret "+strings.Repeat("n", 32)+" "+testSecret+"\nrate_limit off\npages on")
	if err != nil {
		t.Fatal(err)
	}
	tr := &testGate{t: t, g: rotated, next: &recordingNext{}}
	wantSeeOther(t, tr.do(browserPost("/auth/sign-in", formOf("email", "alice@example.com", "password", "password123"))), "/")
}

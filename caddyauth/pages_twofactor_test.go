package caddyauth

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/authgate/authgate/caddyauth/internal/twofactor"
	"github.com/authgate/authgate/internal/testsupport"
)

var (
	pageSecret      = regexp.MustCompile(`<code id="totp-secret">([A-Z2-7]+)</code>`)
	pageBackupCodes = regexp.MustCompile(`<li><code>([A-Za-z0-9]{5}-[A-Za-z0-9]{5})</code></li>`)
)

// pageEnrol turns two-factor on through the settings page for the user of
// cookie, as a browser would, and returns the secret read from the page,
// the backup codes and the new session cookie.
func pageEnrol(t *testing.T, tg *testGate, cookie string) (secret string, codes []string, newCookie string) {
	t.Helper()
	body := wantPage(t, tg.do(req("GET", "/auth/two-factor", "", "Cookie", cookie)), http.StatusOK)
	if !strings.Contains(body, `action="/auth/two-factor/setup"`) {
		t.Fatalf("settings page of a user without two-factor has no setup form:\n%s", body)
	}
	wantPage(t, tg.do(browserPost("/auth/two-factor/setup", formOf("password", "wrong-password"), "Cookie", cookie)), http.StatusBadRequest)
	w := tg.do(browserPost("/auth/two-factor/setup", formOf("password", tfPassword), "Cookie", cookie))
	body = wantPage(t, w, http.StatusOK)
	m := pageSecret.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("setup page shows no secret:\n%s", body)
	}
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(m[1])
	if err != nil {
		t.Fatalf("secret %q: %v", m[1], err)
	}
	for _, c := range pageBackupCodes.FindAllStringSubmatch(body, -1) {
		codes = append(codes, c[1])
	}
	if len(codes) != twofactor.BackupCodeCount {
		t.Fatalf("setup page shows %d backup codes:\n%s", len(codes), body)
	}
	if !strings.Contains(body, "<svg viewBox=") || !strings.Contains(body, `action="/auth/two-factor/confirm"`) {
		t.Fatalf("setup page lacks the QR code or the confirm form:\n%s", body)
	}
	// Not on until a code from the app proves the secret was taken.
	wrong := wrongCode(string(raw))
	body = wantPage(t, tg.do(browserPost("/auth/two-factor/confirm", formOf("code", wrong), "Cookie", cookie)), http.StatusUnauthorized)
	if !strings.Contains(body, "Invalid code") || !strings.Contains(body, `action="/auth/two-factor/confirm"`) {
		t.Fatalf("wrong first code:\n%s", body)
	}
	code := twofactor.Code(raw, now())
	w = tg.do(browserPost("/auth/two-factor/confirm", formOf("code", code[:3]+" "+code[3:], "redirect", "/notes"), "Cookie", cookie))
	wantSeeOther(t, w, "/auth/two-factor?notice=two-factor-enabled&redirect=%2Fnotes")
	return string(raw), codes, sessionCookieFrom(t, w)
}

// pageChallenge signs in on the sign-in page and returns the two_factor
// cookie the code page needs.
func pageChallenge(t *testing.T, tg *testGate, email, extraCookies string) string {
	t.Helper()
	w := tg.do(browserPost("/auth/sign-in", formOf("email", email, "password", tfPassword, "rememberMe", "on", "redirect", "/notes"), "Cookie", extraCookies))
	wantSeeOther(t, w, "/auth/two-factor/code?redirect=%2Fnotes")
	for _, sc := range w.Header().Values("Set-Cookie") {
		if strings.HasPrefix(sc, "better-auth.session_token=") && !strings.Contains(sc, "Max-Age=0") {
			t.Fatalf("the password alone set a session: %q", sc)
		}
	}
	line := setCookieLine(w, "two_factor")
	if line == "" {
		t.Fatalf("no two_factor cookie: %q", w.Header().Values("Set-Cookie"))
	}
	return cookiePair(line)
}

func TestPageTwoFactor_EnrolThenSignInWithACode(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		tg := newPagesGate(t, dsn, "two_factor")
		cookie, _ := tg.signUp("Ada", "ada@example.com", tfPassword)
		secret, _, cookie := pageEnrol(t, tg, cookie)

		// The settings page now offers to turn it off.
		body := wantPage(t, tg.do(req("GET", "/auth/two-factor?notice=two-factor-enabled", "", "Cookie", cookie)), http.StatusOK)
		if !strings.Contains(body, `action="/auth/two-factor/turn-off"`) || !strings.Contains(body, "Two-factor authentication is on") {
			t.Fatalf("settings page after enrolment:\n%s", body)
		}

		tf := pageChallenge(t, tg, "ada@example.com", "")
		body = wantPage(t, tg.do(req("GET", "/auth/two-factor/code?redirect=/notes", "", "Cookie", tf)), http.StatusOK)
		if !strings.Contains(body, `action="/auth/two-factor/code"`) || !strings.Contains(body, `name="trustDevice"`) || !strings.Contains(body, `name="redirect" value="/notes"`) {
			t.Fatalf("code page:\n%s", body)
		}
		body = wantPage(t, tg.do(browserPost("/auth/two-factor/code", formOf("code", wrongCode(secret), "redirect", "/notes"), "Cookie", tf)), http.StatusUnauthorized)
		if !strings.Contains(body, "Invalid code") {
			t.Fatalf("wrong code:\n%s", body)
		}
		w := tg.do(browserPost("/auth/two-factor/code", formOf("code", twofactor.Code([]byte(secret), now()), "redirect", "/notes"), "Cookie", tf))
		wantSeeOther(t, w, "/notes")
		session := sessionCookieFrom(t, w)
		if setCookieLine(w, "trust_device") != "" {
			t.Error("trusted the device without the box checked")
		}
		if w := tg.do(req("GET", "/notes", "", "Cookie", session)); w.Code != http.StatusOK || tg.next.header.Get("X-User-Email") != "ada@example.com" {
			t.Fatalf("gated request after the code: %d", w.Code)
		}
		// The challenge is spent: the same cookie cannot sign in again.
		w = tg.do(browserPost("/auth/two-factor/code", formOf("code", twofactor.Code([]byte(secret), now())), "Cookie", tf))
		wantSeeOther(t, w, "/auth/sign-in?error=INVALID_TWO_FACTOR_COOKIE")
		body = wantPage(t, tg.do(req("GET", "/auth/sign-in?error=INVALID_TWO_FACTOR_COOKIE", "")), http.StatusOK)
		if !strings.Contains(body, "Please sign in again") {
			t.Fatalf("sign-in page after a spent challenge:\n%s", body)
		}
	})
}

func TestPageTwoFactor_BackupCodeAndTrustedDevice(t *testing.T) {
	tg := newPagesGate(t, testsupport.SQLiteDSN(t), "two_factor")
	cookie, _ := tg.signUp("Bo", "bo@example.com", tfPassword)
	_, codes, _ := pageEnrol(t, tg, cookie)

	tf := pageChallenge(t, tg, "bo@example.com", "")
	w := tg.do(browserPost("/auth/two-factor/code", formOf("code", codes[0], "trustDevice", "on", "redirect", "/notes"), "Cookie", tf))
	wantSeeOther(t, w, "/notes")
	sessionCookieFrom(t, w)
	trust := cookiePair(setCookieLine(w, "trust_device"))
	if trust == "" {
		t.Fatalf("no trust_device cookie: %q", w.Header().Values("Set-Cookie"))
	}
	// A backup code works once.
	tf = pageChallenge(t, tg, "bo@example.com", "")
	body := wantPage(t, tg.do(browserPost("/auth/two-factor/code", formOf("code", codes[0]), "Cookie", tf)), http.StatusUnauthorized)
	if !strings.Contains(body, "Invalid backup code") || !strings.Contains(body, `name="trustDevice"`) {
		t.Fatalf("reused backup code:\n%s", body)
	}
	// The trusted device skips the code page.
	w = tg.do(browserPost("/auth/sign-in", formOf("email", "bo@example.com", "password", tfPassword, "redirect", "/notes"), "Cookie", trust))
	wantSeeOther(t, w, "/notes")
	sessionCookieFrom(t, w)
}

func TestPageTwoFactor_FiveWrongCodesSendBackToSignIn(t *testing.T) {
	tg := newPagesGate(t, testsupport.SQLiteDSN(t), "two_factor")
	cookie, _ := tg.signUp("Cy", "cy@example.com", tfPassword)
	secret, _, _ := pageEnrol(t, tg, cookie)
	tf := pageChallenge(t, tg, "cy@example.com", "")
	for i := 0; i < 5; i++ {
		wantPage(t, tg.do(browserPost("/auth/two-factor/code", formOf("code", wrongCode(secret), "redirect", "/notes"), "Cookie", tf)), http.StatusUnauthorized)
	}
	w := tg.do(browserPost("/auth/two-factor/code", formOf("code", twofactor.Code([]byte(secret), now()), "redirect", "/notes"), "Cookie", tf))
	wantSeeOther(t, w, "/auth/sign-in?error=TOO_MANY_ATTEMPTS_REQUEST_NEW_CODE&redirect=%2Fnotes")
}

func TestPageTwoFactor_TurnOffWithThePassword(t *testing.T) {
	tg := newPagesGate(t, testsupport.SQLiteDSN(t), "two_factor")
	cookie, _ := tg.signUp("Dee", "dee@example.com", tfPassword)
	_, _, cookie = pageEnrol(t, tg, cookie)
	body := wantPage(t, tg.do(browserPost("/auth/two-factor/turn-off", formOf("password", "wrong-password"), "Cookie", cookie)), http.StatusBadRequest)
	if !strings.Contains(body, `action="/auth/two-factor/turn-off"`) {
		t.Fatalf("wrong password:\n%s", body)
	}
	w := tg.do(browserPost("/auth/two-factor/turn-off", formOf("password", tfPassword), "Cookie", cookie))
	wantSeeOther(t, w, "/auth/two-factor?notice=two-factor-disabled")
	cookie = sessionCookieFrom(t, w)
	body = wantPage(t, tg.do(req("GET", "/auth/two-factor", "", "Cookie", cookie)), http.StatusOK)
	if !strings.Contains(body, `action="/auth/two-factor/setup"`) {
		t.Fatalf("settings page after turning off:\n%s", body)
	}
	// The password alone signs in again.
	w = tg.do(browserPost("/auth/sign-in", formOf("email", "dee@example.com", "password", tfPassword, "redirect", "/notes")))
	wantSeeOther(t, w, "/notes")
}

func TestPageTwoFactor_SettingsNeedASignedInUser(t *testing.T) {
	tg := newPagesGate(t, testsupport.SQLiteDSN(t), "two_factor")
	for _, w := range []*httptest.ResponseRecorder{
		tg.do(req("GET", "/auth/two-factor", "")),
		tg.do(browserPost("/auth/two-factor/setup", formOf("password", tfPassword))),
	} {
		wantSeeOther(t, w, "/auth/sign-in?redirect=%2Fauth%2Ftwo-factor")
	}
	// Without the plugin's schema the pages say so, as the API answers 404.
	plain := newPagesGate(t, testsupport.SQLiteDSN(t), "")
	body := wantPage(t, plain.do(req("GET", "/auth/two-factor/code", "")), http.StatusNotFound)
	if !strings.Contains(body, "not available") {
		t.Fatalf("code page without the schema:\n%s", body)
	}
}

// The setup page, which shows the QR code, keeps to the pages' strict
// policy: no script, nothing fetched, no inline style attribute.
func TestPageTwoFactor_SetupPageKeepsTheStrictPolicy(t *testing.T) {
	tg := newPagesGate(t, testsupport.SQLiteDSN(t), "two_factor")
	cookie, _ := tg.signUp("Eve", "eve@example.com", tfPassword)
	w := tg.do(browserPost("/auth/two-factor/setup", formOf("password", tfPassword), "Cookie", cookie))
	body := wantPage(t, w, http.StatusOK)
	style := styleElement.FindStringSubmatch(body)
	sum := sha256.Sum256([]byte(style[1]))
	wantCSP := "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) +
		"'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
	if got := w.Header().Get("Content-Security-Policy"); got != wantCSP || w.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("CSP %q, Cache-Control %q", got, w.Header().Get("Cache-Control"))
	}
	for _, banned := range []string{"<script", "http:", "https:", "//", "src=", "<link", "style=", "otpauth"} {
		if strings.Contains(body, banned) {
			t.Errorf("setup page contains %q", banned)
		}
	}
	if eventHandler.MatchString(body) {
		t.Error("setup page has an event handler attribute")
	}
	if strings.Contains(html.UnescapeString(body), tfPassword) {
		t.Error("setup page shows the password")
	}
}

func TestQRSVG_DrawsEveryModule(t *testing.T) {
	svg, err := qrSVG("otpauth://totp/Acme:ada%40example.com?secret=JBSWY3DPEHPK3PXP&issuer=Acme&digits=6&period=30")
	if err != nil {
		t.Fatal(err)
	}
	s := string(svg)
	// A QR code is 17 + 4·version modules a side, plus the four-module
	// quiet zone each side; this URI needs version 5 or more at level M.
	var side int
	if _, err := fmt.Sscanf(s, `<svg viewBox="0 0 %d %d"`, &side, &side); err != nil {
		t.Fatalf("svg: %.80s", s)
	}
	if v := (side - 8 - 17) / 4; (side-8-17)%4 != 0 || v < 5 || v > 10 {
		t.Fatalf("%d modules a side is no QR code of this URI", side)
	}
	// The three finder patterns alone are 3 × 33 black modules.
	if n := strings.Count(s, "h1v1h-1z"); n < 99 {
		t.Fatalf("only %d black modules", n)
	}
}

// The two-factor step adds no password hash: a password sign-in of an
// enrolled user runs exactly one scrypt, through the API or the sign-in
// page, like anyone's, and the code step runs none.
func TestTwoFactor_SignInRunsOneScrypt(t *testing.T) {
	tg := newPagesGate(t, testsupport.SQLiteDSN(t), "two_factor")
	u := (&tfGate{tg, ""}).enrol("hash@example.com")
	for _, via := range []struct {
		name      string
		challenge func() string
	}{
		{"api", func() string { c, _ := (&tfGate{tg, ""}).challenge(u.email, ""); return c }},
		{"page", func() string { return pageChallenge(t, tg, u.email, "") }},
	} {
		t.Run(via.name, func(t *testing.T) {
			before := histogramCount(t, passwordHashSeconds)
			tf := via.challenge()
			if n := histogramCount(t, passwordHashSeconds) - before; n != 1 {
				t.Errorf("password step ran %d scrypts, want 1", n)
			}
			before = histogramCount(t, passwordHashSeconds)
			w := tg.do(req("POST", "/auth/two-factor/verify-totp", `{"code":"`+twofactor.Code([]byte(u.secret), now())+`"}`, "Origin", site, "Cookie", tf))
			if w.Code != http.StatusOK {
				t.Fatalf("verify-totp: %d %s", w.Code, w.Body)
			}
			if n := histogramCount(t, passwordHashSeconds) - before; n != 0 {
				t.Errorf("verify-totp ran %d scrypts, want none", n)
			}
		})
	}
}

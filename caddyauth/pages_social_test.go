package caddyauth

import (
	"html"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/testsupport"
	"github.com/authgate/authgate/internal/testsupport/fakeidp"
)

var continueLink = regexp.MustCompile(`<a href="([^"]*)">Continue with ([^<]*)</a>`)

// continueLinks are a page's "Continue with" links: name → href, as a
// browser reads them.
func continueLinks(body string) map[string]string {
	m := map[string]string{}
	for _, l := range continueLink.FindAllStringSubmatch(body, -1) {
		m[html.UnescapeString(l[2])] = html.UnescapeString(l[1])
	}
	return m
}

// stateCookieOf is the state cookie a start set ("name=value"), or "".
func stateCookieOf(w *httptest.ResponseRecorder) string {
	for _, sc := range w.Header().Values("Set-Cookie") {
		if strings.HasPrefix(sc, "better-auth.gate_oauth_state=") {
			return strings.SplitN(sc, ";", 2)[0]
		}
	}
	return ""
}

func TestPageSocial_ContinueWithLinks(t *testing.T) {
	const providers = "base_url " + siteURL + "\n" +
		"oidc corp {\n issuer https://idp.example\n client_id c\n client_secret s\n name \"Corp SSO\"\n}\n" +
		"oidc okta {\n issuer https://okta.example\n client_id c\n client_secret s\n}\n" +
		"social github {\n client_id c\n client_secret s\n}\n"
	tg := newPagesGate(t, testsupport.SQLiteDSN(t), providers)
	want := map[string]string{
		"Corp SSO": "/auth/sign-in/social?provider=corp&redirect=%2Fdash%3Ftab%3D1",
		"okta":     "/auth/sign-in/social?provider=okta&redirect=%2Fdash%3Ftab%3D1",
		"GitHub":   "/auth/sign-in/social?provider=github&redirect=%2Fdash%3Ftab%3D1",
	}
	for _, page := range []string{"/auth/sign-in", "/auth/sign-up"} {
		w := tg.do(req("GET", page+"?redirect=%2Fdash%3Ftab%3D1", ""))
		body := wantPage(t, w, http.StatusOK)
		got := continueLinks(body)
		if len(got) != len(want) {
			t.Errorf("%s: links %v, want %v", page, got, want)
		}
		for name, href := range want {
			if got[name] != href {
				t.Errorf("%s: Continue with %s → %q, want %q", page, name, got[name], href)
			}
		}
		// Still no script, nothing off the site, the same strict policy.
		for _, banned := range []string{"<script", "http:", "https:", "//", "src=", "style="} {
			if strings.Contains(body, banned) {
				t.Errorf("%s contains %q:\n%s", page, banned, body)
			}
		}
		if eventHandler.MatchString(body) {
			t.Errorf("%s has an event handler attribute", page)
		}
		if csp := w.Header().Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'none'; style-src 'sha256-") || strings.Contains(csp, "script") {
			t.Errorf("%s policy %q", page, csp)
		}
	}
	// A redirect target off the site is not carried into the links.
	body := wantPage(t, tg.do(req("GET", "/auth/sign-in?redirect=https%3A%2F%2Fevil.example%2F", "")), http.StatusOK)
	if got := continueLinks(body)["GitHub"]; got != "/auth/sign-in/social?provider=github" {
		t.Errorf("link with an off-site redirect: %q", got)
	}

	for _, tc := range []struct{ name, block string }{
		{"no provider", ""},
		{"sign-up disabled", providers + "disable_sign_up\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg := newPagesGate(t, testsupport.SQLiteDSN(t), tc.block)
			body := wantPage(t, tg.do(req("GET", "/auth/sign-up", "")), http.StatusOK)
			if strings.Contains(body, "Continue with") {
				t.Errorf("sign-up page shows provider links:\n%s", body)
			}
			body = wantPage(t, tg.do(req("GET", "/auth/sign-in", "")), http.StatusOK)
			if got := len(continueLinks(body)); got != strings.Count(tc.block, "client_id") {
				t.Errorf("sign-in page shows %d provider links:\n%s", got, body)
			}
		})
	}
}

// A browser walks from the sign-in page through the provider and back,
// signed in, at the page's redirect target; a flow the user cancels comes
// back to the sign-in page, which says so.
func TestPageSocial_SignInThroughTheFakeProvider(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		s := newOIDCSite(t, dsn, "pages on")
		body := wantPage(t, s.tg.do(req("GET", "/auth/sign-in?redirect=/dash", "")), http.StatusOK)
		href := continueLinks(body)["corp"]
		if href == "" {
			t.Fatalf("no Continue with corp link:\n%s", body)
		}

		// Starting a flow writes nothing: the state travels in the cookie.
		var w *httptest.ResponseRecorder
		noWrites(t, s.db, func() { w = s.tg.do(req("GET", href, "")) })
		loc := w.Header().Get("Location")
		if w.Code != http.StatusFound || !strings.HasPrefix(loc, s.idp.URL+"/authorize?") {
			t.Fatalf("start: %d Location %q; body %s", w.Code, loc, w.Body)
		}
		if w.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("start: Cache-Control %q", w.Header().Get("Cache-Control"))
		}
		cookie := stateCookieOf(w)
		if cookie == "" {
			t.Fatalf("start set no state cookie: %q", w.Header().Values("Set-Cookie"))
		}
		a := s.authorize(loc)
		if ar, _ := s.idp.LastAuthorize(); ar.CodeChallengeMethod != "S256" || ar.Nonce == "" {
			t.Errorf("authorize request: %+v", ar)
		}
		w = s.callback(a, cookie)
		redirected(t, w, "/dash")
		if user := s.sessionUser(sessionCookieFrom(t, w)); user["email"] != fakeidp.DefaultUser.Email {
			t.Errorf("signed in as %v", user)
		}

		s.idp.DenyNext()
		w = s.tg.do(req("GET", href, ""))
		w = s.callback(s.authorize(w.Header().Get("Location")), stateCookieOf(w))
		q := redirected(t, w, "/auth/sign-in")
		if q.Get("error") != "access_denied" || q.Get("redirect") != "/dash" {
			t.Fatalf("cancelled flow back at the sign-in page with %v", q)
		}
		for _, sc := range w.Header().Values("Set-Cookie") {
			if strings.Contains(sc, "session_token=") {
				t.Errorf("cancelled flow set a session cookie: %q", sc)
			}
		}
		body = wantPage(t, s.tg.do(req("GET", w.Header().Get("Location"), "")), http.StatusOK)
		if !strings.Contains(body, socialPageErrors["access_denied"]) || continueLinks(body)["corp"] != href {
			t.Errorf("sign-in page after a cancelled flow:\n%s", body)
		}
	})
}

func TestPageSocial_StartRefusals(t *testing.T) {
	s := newOIDCSite(t, testsupport.SQLiteDSN(t), "pages on")

	w := s.tg.do(req("GET", "/auth/sign-in/social?provider=nope&redirect=/dash", ""))
	body := wantPage(t, w, http.StatusNotFound)
	if !strings.Contains(body, errProviderNotFound.message) || stateCookieOf(w) != "" {
		t.Errorf("unknown provider: cookies %q\n%s", w.Header().Values("Set-Cookie"), body)
	}
	if continueLinks(body)["corp"] != "/auth/sign-in/social?provider=corp&redirect=%2Fdash" {
		t.Errorf("the error page lost the redirect target:\n%s", body)
	}

	// An off-site target is dropped, as everywhere on the pages: the flow
	// ends at /.
	w = s.tg.do(req("GET", "/auth/sign-in/social?provider=corp&redirect=https%3A%2F%2Fevil.example%2Fx", ""))
	redirected(t, s.callback(s.authorize(w.Header().Get("Location")), stateCookieOf(w)), "/")

	other := newOIDCSite(t, testsupport.SQLiteDSN(t), "pages on") // discovery not yet done
	other.idp.Fail(fakeidp.Discovery, fakeidp.Failure{Status: http.StatusServiceUnavailable})
	w = other.tg.do(req("GET", "/auth/sign-in/social?provider=corp", ""))
	if body := wantPage(t, w, http.StatusBadGateway); !strings.Contains(body, errProviderUnavailable.message) || stateCookieOf(w) != "" {
		t.Errorf("provider down: cookies %q\n%s", w.Header().Values("Set-Cookie"), body)
	}

	// Without pages there is no GET route: Better Auth has none.
	off := newOIDCSite(t, testsupport.SQLiteDSN(t), "")
	if w := off.tg.do(req("GET", "/auth/sign-in/social?provider=corp", "")); w.Code != http.StatusNotFound || stateCookieOf(w) != "" {
		t.Errorf("pages off: %d %q", w.Code, w.Header().Values("Set-Cookie"))
	}
}

// The link shares the API's bucket (3 starts per 10 s per client): the
// page is no way around the limit, and shows it as a page.
func TestPageSocial_RateLimitedWithTheAPI(t *testing.T) {
	idp := fakeidp.Start(t)
	tg := newLimitedGate(t, testsupport.SQLiteDSN(t), "pages on\nbase_url "+siteURL+"\n"+
		"oidc corp {\n issuer "+idp.URL+"\n client_id "+idp.ClientID+"\n client_secret "+idp.ClientSecret+"\n}")
	setNow(t, time.Now())
	for i := range 2 {
		if w := tg.from("198.51.100.1", req("POST", "/auth/sign-in/social", `{"provider":"corp"}`)); w.Code != http.StatusOK {
			t.Fatalf("API start %d: %d %s", i, w.Code, w.Body)
		}
	}
	if w := tg.from("198.51.100.1", req("GET", "/auth/sign-in/social?provider=corp", "")); w.Code != http.StatusFound {
		t.Fatalf("page start: %d %s", w.Code, w.Body)
	}
	w := tg.from("198.51.100.1", req("GET", "/auth/sign-in/social?provider=corp", ""))
	if body := wantPage(t, w, http.StatusTooManyRequests); !strings.Contains(body, rateLimitMessage) || w.Header().Get("Retry-After") == "" || stateCookieOf(w) != "" {
		t.Errorf("429 page: headers %v\n%s", w.Header(), body)
	}
	if w := tg.from("198.51.100.1", req("POST", "/auth/sign-in/social", `{"provider":"corp"}`)); w.Code != http.StatusTooManyRequests {
		t.Errorf("API start after the page's: %d, want 429", w.Code)
	}
	// Another client has its own bucket.
	if w := tg.from("198.51.100.2", req("GET", "/auth/sign-in/social?provider=corp", "")); w.Code != http.StatusFound {
		t.Errorf("another client: %d", w.Code)
	}
}

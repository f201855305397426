package caddyauth

import (
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/jmoiron/sqlx"

	"github.com/authgate/authgate/caddyauth/internal/social"
	"github.com/authgate/authgate/internal/testsupport"
	"github.com/authgate/authgate/internal/testsupport/fakeidp"
)

// socialSite is a gate on http://example.com with one provider "corp" (or
// "github") served by a fake provider.
type socialSite struct {
	t   *testing.T
	tg  *testGate
	idp *fakeidp.Provider
	db  *sqlx.DB
	id  string
}

const siteURL = "http://example.com"

func newOIDCSite(t *testing.T, dsn, extra string) *socialSite {
	t.Helper()
	idp := fakeidp.Start(t, fakeidp.WithRedirectURI(siteURL+"/auth/callback/corp"))
	tg := newTestGate(t, dsn, "base_url "+siteURL+"\n"+
		"oidc corp {\n issuer "+idp.URL+"\n client_id "+idp.ClientID+"\n client_secret "+idp.ClientSecret+"\n}\n"+extra)
	return &socialSite{t: t, tg: tg, idp: idp, db: testsupport.OpenDB(t, dsn), id: "corp"}
}

func newGitHubSite(t *testing.T, dsn string) *socialSite {
	t.Helper()
	idp := fakeidp.Start(t, fakeidp.GitHub(), fakeidp.WithRedirectURI(siteURL+"/auth/callback/github"))
	tg := newTestGate(t, dsn, "base_url "+siteURL+"\n"+
		"social github {\n client_id "+idp.ClientID+"\n client_secret "+idp.ClientSecret+
		"\n authorization_url "+idp.AuthURL()+"\n token_url "+idp.TokenURL()+"\n userinfo_url "+idp.UserinfoURL()+"\n}")
	return &socialSite{t: t, tg: tg, idp: idp, db: testsupport.OpenDB(t, dsn), id: "github"}
}

// start posts /sign-in/social and returns the state cookie ("name=value")
// and the authorization URL.
func (s *socialSite) start(extra string) (cookie, authURL string) {
	s.t.Helper()
	w := s.tg.do(req("POST", "/auth/sign-in/social", `{"provider":"`+s.id+`"`+extra+`}`))
	if w.Code != http.StatusOK {
		s.t.Fatalf("sign-in/social: %d %s", w.Code, w.Body)
	}
	var resp struct {
		URL      string `json:"url"`
		Redirect bool   `json:"redirect"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
		s.t.Fatal(err)
	}
	if resp.URL == "" || w.Header().Get("Location") != resp.URL {
		s.t.Fatalf("url %q, Location %q", resp.URL, w.Header().Get("Location"))
	}
	for _, sc := range w.Header().Values("Set-Cookie") {
		if strings.HasPrefix(sc, "better-auth.gate_oauth_state=") {
			return strings.SplitN(sc, ";", 2)[0], resp.URL
		}
	}
	s.t.Fatalf("no state cookie in %q", w.Header().Values("Set-Cookie"))
	return "", ""
}

// authorize follows the authorization URL at the fake provider and returns
// the path and query of the callback it redirects to.
func (s *socialSite) authorize(authURL string) string {
	s.t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(authURL)
	if err != nil {
		s.t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, siteURL+"/auth/callback/") {
		s.t.Fatalf("authorize: %d Location %q", resp.StatusCode, loc)
	}
	return strings.TrimPrefix(loc, siteURL)
}

// callback serves the callback with the state cookie, if any.
func (s *socialSite) callback(target, cookie string) *httptest.ResponseRecorder {
	s.t.Helper()
	r := req("GET", target, "")
	if cookie != "" {
		r.Header.Set("Cookie", cookie)
	}
	return s.tg.do(r)
}

// flow runs a whole sign-in and returns the callback's answer.
func (s *socialSite) flow(extra string) *httptest.ResponseRecorder {
	s.t.Helper()
	cookie, authURL := s.start(extra)
	return s.callback(s.authorize(authURL), cookie)
}

// redirected checks a 302 to want (compared without the query) and returns
// its query.
func redirected(t *testing.T, w *httptest.ResponseRecorder, want string) url.Values {
	t.Helper()
	if w.Code != http.StatusFound {
		t.Fatalf("status %d, want 302; body %s", w.Code, w.Body)
	}
	u, err := url.Parse(w.Header().Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	u.RawQuery = ""
	if u.String() != want {
		t.Fatalf("redirect to %q, want %q (error %q)", w.Header().Get("Location"), want, q.Get("error"))
	}
	return q
}

// wantSocialError checks an error redirect that started no session.
func (s *socialSite) wantSocialError(w *httptest.ResponseRecorder, errorURL, code string) {
	s.t.Helper()
	q := redirected(s.t, w, errorURL)
	if q.Get("error") != code {
		s.t.Fatalf("error = %q, want %q", q.Get("error"), code)
	}
	for _, sc := range w.Header().Values("Set-Cookie") {
		if strings.Contains(sc, "session_token=") {
			s.t.Errorf("error redirect set a session cookie: %q", sc)
		}
	}
}

func (s *socialSite) sessionUser(cookie string) map[string]any {
	s.t.Helper()
	w := s.tg.do(req("GET", "/auth/get-session", "", "Cookie", cookie))
	if w.Code != http.StatusOK || strings.TrimSpace(w.Body.String()) == "null" {
		s.t.Fatalf("get-session: %d %s", w.Code, w.Body)
	}
	return decodeJSON(s.t, w)["user"].(map[string]any)
}

func TestSocialSignIn_OIDCSignUpThenSignIn(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		s := newOIDCSite(t, dsn, "")
		// Starting a flow writes nothing: the state travels in the cookie.
		var cookie, authURL string
		noWrites(t, s.db, func() {
			cookie, authURL = s.start(`,"callbackURL":"/dashboard","newUserCallbackURL":"/welcome","loginHint":"ada@example.com"`)
		})
		w := s.tg.do(req("POST", "/auth/sign-in/social", `{"provider":"corp","disableRedirect":true}`))
		if m := decodeJSON(t, w); w.Code != http.StatusOK || m["redirect"] != false || w.Header().Get("Location") != "" {
			t.Errorf("disableRedirect: %d %v", w.Code, m)
		}
		for _, sc := range w.Header().Values("Set-Cookie") {
			if strings.HasPrefix(sc, "better-auth.gate_oauth_state=") &&
				(!strings.Contains(sc, "Max-Age=600") || !strings.Contains(sc, "HttpOnly") || !strings.Contains(sc, "SameSite=Lax") || !strings.Contains(sc, "Path=/")) {
				t.Errorf("state cookie attributes: %q", sc)
			}
		}
		target := s.authorize(authURL)
		a, _ := s.idp.LastAuthorize()
		if a.CodeChallengeMethod != "S256" || a.Nonce == "" || a.LoginHint != "ada@example.com" {
			t.Errorf("authorize request: %+v", a)
		}

		w = s.callback(target, cookie)
		redirected(t, w, "/welcome")
		var cleared bool
		for _, sc := range w.Header().Values("Set-Cookie") {
			cleared = cleared || strings.HasPrefix(sc, "better-auth.gate_oauth_state=;")
		}
		if !cleared {
			t.Errorf("state cookie not cleared: %q", w.Header().Values("Set-Cookie"))
		}
		session := sessionCookieFrom(t, w)
		user := s.sessionUser(session)
		if user["email"] != fakeidp.DefaultUser.Email || user["emailVerified"] != true || user["name"] != fakeidp.DefaultUser.Name || user["image"] != fakeidp.DefaultUser.Picture {
			t.Errorf("user %v", user)
		}
		var acc struct {
			ProviderID, AccountID, UserID string
			Access, ID                    *string
			Scope                         *string
			Password                      *string
		}
		if err := s.db.QueryRow(`SELECT "providerId", "accountId", "userId", "accessToken", "idToken", "scope", "password" FROM "account"`).
			Scan(&acc.ProviderID, &acc.AccountID, &acc.UserID, &acc.Access, &acc.ID, &acc.Scope, &acc.Password); err != nil {
			t.Fatal(err)
		}
		if acc.ProviderID != "corp" || acc.AccountID != fakeidp.DefaultUser.Sub || acc.UserID != user["id"] ||
			acc.Access == nil || acc.ID == nil || acc.Password != nil {
			t.Errorf("account row %+v", acc)
		}
		// The gate passes the new session on with identity.
		gw := s.tg.do(req("GET", "/app", "", "Cookie", session))
		if gw.Code != http.StatusOK || s.tg.next.header.Get("X-User-Id") != user["id"] {
			t.Errorf("gate: %d, X-User-Id %q", gw.Code, s.tg.next.header.Get("X-User-Id"))
		}

		// Signing in again finds the same user through the account.
		w = s.flow(`,"callbackURL":"/dashboard","newUserCallbackURL":"/welcome"`)
		redirected(t, w, "/dashboard")
		if again := s.sessionUser(sessionCookieFrom(t, w)); again["id"] != user["id"] {
			t.Errorf("second sign-in as %v, want %v", again["id"], user["id"])
		}
		if n := rowCount(t, s.db, "user"); n != 1 {
			t.Errorf("%d users after two sign-ins, want 1", n)
		}
		if n := rowCount(t, s.db, "account"); n != 1 {
			t.Errorf("%d accounts after two sign-ins, want 1", n)
		}
	})
}

func TestSocialSignIn_StartErrors(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		s := newOIDCSite(t, dsn, "")
		wantError(t, s.tg.do(req("POST", "/auth/sign-in/social", `{"provider":"nope"}`)), http.StatusNotFound, "PROVIDER_NOT_FOUND")
		for _, field := range []string{"callbackURL", "newUserCallbackURL", "errorCallbackURL"} {
			w := s.tg.do(req("POST", "/auth/sign-in/social", `{"provider":"corp","`+field+`":"https://evil.example/x"}`))
			wantError(t, w, http.StatusForbidden, "INVALID_CALLBACK_URL")
		}
	})
}

func TestSocialSignIn_Linking(t *testing.T) {
	{
		cases := []struct {
			name          string
			extra         string
			localVerified bool
			idpVerified   bool
			wantLinked    bool
		}{
			{"provider verified the email", "", true, true, true},
			{"provider did not verify, not trusted", "", true, false, false},
			{"provider did not verify, trusted", "trusted_providers corp", true, false, true},
			// Better Auth 1.7's requireLocalEmailVerified: an unverified
			// local address is never linked to.
			{"local address unverified", "trusted_providers corp", false, true, false},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				testsupport.Both(t, func(t *testing.T, dsn string) {
					s := newOIDCSite(t, dsn, tc.extra)
					_, resp := s.tg.signUp("Bob", "bob@example.com", "password123")
					userID := resp["user"].(map[string]any)["id"].(string)
					if tc.localVerified {
						if _, err := s.tg.g.store().MarkEmailVerified(t.Context(), userID, time.Now()); err != nil {
							t.Fatal(err)
						}
					}
					u := fakeidp.DefaultUser
					u.Email, u.EmailVerified = "Bob@Example.com", tc.idpVerified
					s.idp.SetUser(u)
					w := s.flow(`,"errorCallbackURL":"/oops"`)
					if !tc.wantLinked {
						s.wantSocialError(w, "/oops", "account_not_linked")
						if n := rowCount(t, s.db, "account"); n != 1 {
							t.Errorf("%d accounts, want only the credential one", n)
						}
						return
					}
					redirected(t, w, "/")
					if got := s.sessionUser(sessionCookieFrom(t, w)); got["id"] != userID {
						t.Errorf("signed in as %v, want the existing user %v", got["id"], userID)
					}
					if n := rowCount(t, s.db, "user"); n != 1 {
						t.Errorf("%d users, want 1", n)
					}
					// The password still works after linking.
					s.tg.signIn("bob@example.com", "password123")
				})
			})
		}
	}
}

// stateCodecCopy is the sealing of package social under testSecret,
// copied so that a test can reseal a state with another issue time. A real
// state cookie must open with it (see reseal), so a drift fails loudly.
func stateCodecCopy(t *testing.T) *securecookie.SecureCookie {
	t.Helper()
	hashKey, err := hkdf.Key(sha256.New, []byte(testSecret), nil, "auth_gate oauth state v1 hash", 64)
	if err != nil {
		t.Fatal(err)
	}
	blockKey, err := hkdf.Key(sha256.New, []byte(testSecret), nil, "auth_gate oauth state v1 block", 32)
	if err != nil {
		t.Fatal(err)
	}
	return securecookie.New(hashKey, blockKey).SetSerializer(securecookie.JSONEncoder{})
}

// reseal opens a real state cookie ("name=value") and seals its state again
// as issued at issued.
func reseal(t *testing.T, cookie string, issued time.Time) string {
	t.Helper()
	sc := stateCodecCopy(t)
	var st social.State
	name, value, _ := strings.Cut(cookie, "=")
	if err := sc.Decode("auth_gate_oauth_state", value, &st); err != nil {
		t.Fatalf("the copied codec does not open a real state cookie: %v", err)
	}
	st.IssuedAt = issued.UTC().Truncate(time.Second)
	v, err := sc.Encode("auth_gate_oauth_state", st)
	if err != nil {
		t.Fatal(err)
	}
	return name + "=" + v
}

func TestSocialCallback_RefusesBadState(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		s := newOIDCSite(t, dsn, "")
		const errURL = siteURL + "/auth/error"

		// No cookie.
		_, authURL := s.start("")
		s.wantSocialError(s.callback(s.authorize(authURL), ""), errURL, "state_mismatch")
		// A forged cookie.
		_, authURL = s.start("")
		s.wantSocialError(s.callback(s.authorize(authURL), "better-auth.gate_oauth_state=forged"), errURL, "state_mismatch")
		// The cookie of another flow.
		other, _ := s.start("")
		_, authURL = s.start("")
		s.wantSocialError(s.callback(s.authorize(authURL), other), errURL, "state_mismatch")
		// No state parameter at all.
		s.wantSocialError(s.callback("/auth/callback/corp?code=x", other), errURL, "state_not_found")

		// A state older than ten minutes; the same state sealed now passes,
		// so the refusal is the age's.
		cookie, authURL := s.start("")
		target := s.authorize(authURL)
		s.wantSocialError(s.callback(target, reseal(t, cookie, time.Now().Add(-11*time.Minute))), errURL, "state_mismatch")
		redirected(t, s.callback(target, reseal(t, cookie, time.Now())), "/")

		if n := rowCount(t, s.db, "user"); n != 1 {
			t.Errorf("%d users, want only the one of the fresh state", n)
		}
	})
}

func TestSocialCallback_ProviderFailures(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		s := newOIDCSite(t, dsn, "")
		// The user said no at the provider.
		s.idp.DenyNext()
		w := s.flow(`,"errorCallbackURL":"/oops?x=1"`)
		q := redirected(t, w, "/oops")
		if q.Get("error") != "access_denied" || q.Get("error_description") == "" || q.Get("x") != "1" {
			t.Errorf("error redirect query %v", q)
		}
		// The token endpoint fails: an error redirect, never a 500.
		s.idp.Fail(fakeidp.Token, fakeidp.Failure{Status: http.StatusInternalServerError})
		w = s.flow("")
		s.wantSocialError(w, siteURL+"/auth/error", social.CodeInvalidCode)
		// Down altogether.
		s.idp.Fail(fakeidp.Token, fakeidp.Failure{})
		cookie, authURL := s.start("")
		target := s.authorize(authURL)
		s.idp.Close()
		w = s.callback(target, cookie)
		if w.Code != http.StatusFound || !strings.Contains(w.Header().Get("Location"), "error=") {
			t.Errorf("provider down: %d %q", w.Code, w.Header().Get("Location"))
		}
		if n := rowCount(t, s.db, "user"); n != 0 {
			t.Errorf("%d users after failed flows", n)
		}
	})
}

func TestSocialSignIn_DisableSignUp(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		s := newOIDCSite(t, dsn, "disable_sign_up")
		s.wantSocialError(s.flow(""), siteURL+"/auth/error", "signup_disabled")
		if n := rowCount(t, s.db, "user"); n != 0 {
			t.Errorf("%d users with sign-up disabled", n)
		}
	})
}

func TestSocialSignIn_GitHubPrivateEmail(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		s := newGitHubSite(t, dsn)
		u := fakeidp.DefaultUser
		u.PrivateEmail = true
		u.Emails = []fakeidp.GitHubEmail{
			{Email: "old@example.com", Verified: true},
			{Email: "gh@example.com", Primary: true, Verified: true},
		}
		s.idp.SetUser(u)
		w := s.flow("")
		redirected(t, w, "/")
		user := s.sessionUser(sessionCookieFrom(t, w))
		if user["email"] != "gh@example.com" || user["emailVerified"] != true {
			t.Errorf("user %v", user)
		}
		var accountID, scope string
		if err := s.db.QueryRow(`SELECT "accountId", "scope" FROM "account" WHERE "providerId" = 'github'`).Scan(&accountID, &scope); err != nil {
			t.Fatal(err)
		}
		if accountID != "1001" || !strings.Contains(scope, ",") {
			t.Errorf("account id %q scope %q", accountID, scope)
		}
	})
}

func TestSocialCallback_FormPostRedirectsToGET(t *testing.T) {
	s := newOIDCSite(t, testsupport.SQLiteDSN(t), "")
	r := formRequest("/auth/callback/corp", "code=abc&state=xyz")
	r.Header.Set("Origin", "https://idp.example")
	r.Header.Set("Cookie", "better-auth.gate_oauth_state=v")
	w := s.tg.do(r)
	q := redirected(t, w, siteURL+"/auth/callback/corp")
	if q.Get("code") != "abc" || q.Get("state") != "xyz" {
		t.Errorf("query %v", q)
	}
	if len(w.Header().Values("Set-Cookie")) != 0 {
		t.Errorf("form_post redirect touched cookies: %q", w.Header().Values("Set-Cookie"))
	}
}

// TestSocialSignIn_BetterAuthAccountsAndPluginGuards: a user whose provider
// account Better Auth wrote signs in into the same user, on every layout
// Better Auth leaves; a ban and a two-factor enrolment hold for social
// sign-in as for the password.
func TestSocialSignIn_BetterAuthAccountsAndPluginGuards(t *testing.T) {
	for _, lc := range adoptionLayouts() {
		t.Run(lc.name, func(t *testing.T) {
			p := newPluginDB(t, lc)
			created := lc.timeFn(time.Now())
			p.exec(t, `INSERT INTO "account" ("id", {accountId}, {providerId}, {userId}, {createdAt}, {updatedAt}) VALUES (?, ?, ?, ?, ?, ?)`,
				"baAccountRow0000000000000000000", "ba-subject", "corp", p.rows.userID, created, created)
			s := newOIDCSite(t, p.dsn, "schema auto")
			u := fakeidp.DefaultUser
			u.Sub, u.Email = "ba-subject", "someone-else@example.com"
			s.idp.SetUser(u)

			w := s.flow("")
			redirected(t, w, "/")
			if got := s.sessionUser(sessionCookieFrom(t, w)); got["id"] != p.rows.userID {
				t.Fatalf("signed in as %v, want Better Auth's user %v", got["id"], p.rows.userID)
			}

			p.exec(t, `UPDATE "user" SET {banned} = ? WHERE "id" = ?`, true, p.rows.userID)
			before := p.sessionCount(t)
			s.wantSocialError(s.flow(""), siteURL+"/auth/error", "banned")
			// The idToken branch answers with the guards' JSON errors.
			idTok := `{"token":` + jsonString(s.idToken(u, "")) + `}`
			wantError(t, s.signInIDToken(idTok), http.StatusForbidden, "BANNED_USER")
			if n := p.sessionCount(t); n != before {
				t.Errorf("sessions %d -> %d: a refused sign-in created one", before, n)
			}

			// Better Auth's two-factor after-hook runs on password sign-in
			// only: a user enrolled in two-factor signs in through the
			// provider without a code, in the flow and with an id_token.
			p.exec(t, `UPDATE "user" SET {banned} = ?, {twoFactorEnabled} = ? WHERE "id" = ?`, false, true, p.rows.userID)
			w = s.flow("")
			redirected(t, w, "/")
			if got := s.sessionUser(sessionCookieFrom(t, w)); got["id"] != p.rows.userID {
				t.Fatalf("enrolled user: signed in as %v, want %v", got["id"], p.rows.userID)
			}
			w = s.signInIDToken(idTok)
			if w.Code != http.StatusOK {
				t.Fatalf("enrolled user, id_token: %d %s", w.Code, w.Body)
			}
			if got := s.sessionUser(sessionCookieFrom(t, w)); got["id"] != p.rows.userID {
				t.Fatalf("enrolled user, id_token: signed in as %v, want %v", got["id"], p.rows.userID)
			}
			if n := p.sessionCount(t); n != before+2 {
				t.Errorf("sessions %d -> %d, want two more", before, n)
			}
		})
	}
}

// Starting flows is limited as sign-in is (3 per 10 s per client), since
// each start costs a provider round trip at most and a cookie.
func TestSocialSignIn_StartIsRateLimitedAsSignIn(t *testing.T) {
	idp := fakeidp.Start(t)
	tg := newLimitedGate(t, testsupport.SQLiteDSN(t), "base_url "+siteURL+"\n"+
		"oidc corp {\n issuer "+idp.URL+"\n client_id "+idp.ClientID+"\n client_secret "+idp.ClientSecret+"\n}")
	for i := range 3 {
		if w := tg.do(req("POST", "/auth/sign-in/social", `{"provider":"corp"}`)); w.Code != http.StatusOK {
			t.Fatalf("start %d: %d %s", i, w.Code, w.Body)
		}
	}
	if w := tg.do(req("POST", "/auth/sign-in/social", `{"provider":"corp"}`)); w.Code != http.StatusTooManyRequests {
		t.Fatalf("fourth start: %d, want 429", w.Code)
	}
}

// A provider whose discovery cannot be read gives a clean 502 and no state
// cookie; the gate itself started without reaching it.
func TestSocialSignIn_DiscoveryDown(t *testing.T) {
	idp := fakeidp.Start(t)
	idp.Fail(fakeidp.Discovery, fakeidp.Failure{Status: http.StatusServiceUnavailable})
	tg := newTestGate(t, testsupport.SQLiteDSN(t), "base_url "+siteURL+"\n"+
		"oidc corp {\n issuer "+idp.URL+"\n client_id "+idp.ClientID+"\n client_secret "+idp.ClientSecret+"\n}")
	wantCleanError(t, tg.do(req("POST", "/auth/sign-in/social", `{"provider":"corp"}`)), http.StatusBadGateway, "PROVIDER_UNAVAILABLE")
	// Discovery is retried: once the provider answers, flows start.
	idp.Fail(fakeidp.Discovery, fakeidp.Failure{})
	if w := tg.do(req("POST", "/auth/sign-in/social", `{"provider":"corp"}`)); w.Code != http.StatusOK {
		t.Fatalf("after recovery: %d %s", w.Code, w.Body)
	}
}

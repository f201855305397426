package caddyauth

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/caddyauth/internal/social"
	"github.com/authgate/authgate/internal/testsupport"
	"github.com/authgate/authgate/internal/testsupport/fakeidp"
)

// idToken mints an id_token at the site's provider for u.
func (s *socialSite) idToken(u fakeidp.User, nonce string) string {
	s.t.Helper()
	tok, err := s.idp.IDToken(u, nonce)
	if err != nil {
		s.t.Fatal(err)
	}
	return tok
}

// signInIDToken posts the idToken branch of /sign-in/social; idToken is the
// JSON of the idToken object.
func (s *socialSite) signInIDToken(idToken string) *httptest.ResponseRecorder {
	s.t.Helper()
	return s.tg.do(req("POST", "/auth/sign-in/social", `{"provider":"`+s.id+`","idToken":`+idToken+`}`))
}

func jsonString(v string) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// newGoogleSite is a gate whose `social google` provider is the fake one,
// its issuer and keys overridden.
func newGoogleSite(t *testing.T, dsn, extra string) *socialSite {
	t.Helper()
	idp := fakeidp.Start(t, fakeidp.WithRedirectURI(siteURL+"/auth/callback/google"))
	tg := newTestGate(t, dsn, "base_url "+siteURL+"\n"+
		"social google {\n client_id "+idp.ClientID+"\n client_secret "+idp.ClientSecret+"\n issuer "+idp.URL+
		"\n authorization_url "+idp.AuthURL()+"\n token_url "+idp.TokenURL()+"\n jwks_url "+idp.JWKSURL()+"\n}\n"+extra)
	return &socialSite{t: t, tg: tg, idp: idp, db: testsupport.OpenDB(t, dsn), id: "google"}
}

func TestSocialIDToken_SignsInAndUp(t *testing.T) {
	for _, kind := range []string{"oidc", "google"} {
		t.Run(kind, func(t *testing.T) {
			testsupport.Both(t, func(t *testing.T, dsn string) {
				s := newOIDCSite(t, dsn, "")
				if kind == "google" {
					s = newGoogleSite(t, dsn, "")
				}
				tok := s.idToken(fakeidp.DefaultUser, "n-1")
				w := s.signInIDToken(`{"token":` + jsonString(tok) + `,"nonce":"n-1","accessToken":"at-1"}`)
				if w.Code != http.StatusOK {
					t.Fatalf("idToken sign-in: %d %s", w.Code, w.Body)
				}
				m := decodeJSON(t, w)
				user, _ := m["user"].(map[string]any)
				if m["redirect"] != false || m["token"] == "" || m["token"] == nil || user["email"] != fakeidp.DefaultUser.Email ||
					user["emailVerified"] != true || user["name"] != fakeidp.DefaultUser.Name {
					t.Fatalf("answer %s", w.Body)
				}
				if _, ok := m["url"]; ok {
					t.Errorf("url present in %s; Better Auth leaves it undefined", w.Body)
				}
				cookie := sessionCookieFrom(t, w)
				if got := s.sessionUser(cookie); got["id"] != user["id"] {
					t.Errorf("session user %v, want %v", got["id"], user["id"])
				}
				var idTok, access string
				if err := s.db.QueryRow(`SELECT "idToken", "accessToken" FROM "account" WHERE "providerId" = '`+s.id+`'`).Scan(&idTok, &access); err != nil {
					t.Fatal(err)
				}
				if idTok != tok || access != "at-1" {
					t.Errorf("account tokens %q %q", idTok, access)
				}
				// Again, without a nonce (the client chose not to bind one):
				// the same user, no second one.
				w = s.signInIDToken(`{"token":` + jsonString(s.idToken(fakeidp.DefaultUser, "")) + `}`)
				if w.Code != http.StatusOK || decodeJSON(t, w)["user"].(map[string]any)["id"] != user["id"] {
					t.Fatalf("second idToken sign-in: %d %s", w.Code, w.Body)
				}
				if n := rowCount(t, s.db, "user"); n != 1 {
					t.Errorf("%d users", n)
				}
			})
		})
	}
}

func TestSocialIDToken_Refusals(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		s := newOIDCSite(t, dsn, "")
		for _, tc := range []struct {
			name  string
			fault fakeidp.IDTokenFault
			nonce string // sent by the client; the token carries "n-1"
		}{
			{"wrong audience", fakeidp.IDTokenWrongAudience, ""},
			{"signed with an unpublished key", fakeidp.IDTokenWrongKey, ""},
			{"expired", fakeidp.IDTokenExpired, ""},
			{"another issuer", fakeidp.IDTokenWrongIssuer, ""},
			{"another nonce", fakeidp.IDTokenOK, "n-2"},
		} {
			s.idp.SetIDTokenFault(tc.fault)
			tok := s.idToken(fakeidp.DefaultUser, "n-1")
			body := `{"token":` + jsonString(tok) + `}`
			if tc.nonce != "" {
				body = `{"token":` + jsonString(tok) + `,"nonce":"` + tc.nonce + `"}`
			}
			noWrites(t, s.db, func() {
				w := s.signInIDToken(body)
				if w.Code != http.StatusUnauthorized || decodeJSON(t, w)["code"] != "INVALID_TOKEN" {
					t.Errorf("%s: %d %s, want 401 INVALID_TOKEN", tc.name, w.Code, w.Body)
				}
			})
		}
		s.idp.SetIDTokenFault(fakeidp.IDTokenOK)
		noWrites(t, s.db, func() {
			wantError(t, s.signInIDToken(`{"token":"not.a.jwt"}`), http.StatusUnauthorized, "INVALID_TOKEN")
			wantError(t, s.signInIDToken(`{"nonce":"x"}`), http.StatusBadRequest, "VALIDATION_ERROR")
			wantError(t, s.signInIDToken(`"tok"`), http.StatusBadRequest, "VALIDATION_ERROR")
			wantError(t, s.signInIDToken(`{"token":7}`), http.StatusBadRequest, "VALIDATION_ERROR")
			// Fields Better Auth types but does not store for these
			// providers are still checked.
			wantError(t, s.signInIDToken(`{"token":"a.b.c","expiresAt":"soon"}`), http.StatusBadRequest, "VALIDATION_ERROR")
			wantError(t, s.signInIDToken(`{"token":"a.b.c","user":"ada"}`), http.StatusBadRequest, "VALIDATION_ERROR")
			// A generic provider's id_token must name the address itself.
			noEmail := fakeidp.DefaultUser
			noEmail.Email = ""
			wantError(t, s.signInIDToken(`{"token":`+jsonString(s.idToken(noEmail, ""))+`}`), http.StatusUnauthorized, "FAILED_TO_GET_USER_INFO")
			wantError(t, s.tg.do(req("POST", "/auth/sign-in/social", `{"provider":"nope","idToken":{"token":"x"}}`)), http.StatusNotFound, "PROVIDER_NOT_FOUND")
		})

		g := newGoogleSite(t, dsn, "")
		noEmail := fakeidp.DefaultUser
		noEmail.Email = ""
		wantError(t, g.signInIDToken(`{"token":`+jsonString(g.idToken(noEmail, ""))+`}`), http.StatusUnauthorized, "USER_EMAIL_NOT_FOUND")

		gh := newGitHubSite(t, dsn)
		wantError(t, gh.signInIDToken(`{"token":"x"}`), http.StatusNotFound, "ID_TOKEN_NOT_SUPPORTED")
	})
}

// The idToken branch follows the callback's rules, with Better Auth's
// JSON errors in place of its redirects.
func TestSocialIDToken_LinkingRulesAndGuards(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		s := newOIDCSite(t, dsn, "")
		_, resp := s.tg.signUp("Bob", "bob@example.com", "password123")
		bobID := resp["user"].(map[string]any)["id"].(string)
		if _, err := s.tg.g.store().MarkEmailVerified(t.Context(), bobID, time.Now()); err != nil {
			t.Fatal(err)
		}
		u := fakeidp.DefaultUser
		u.Email, u.EmailVerified = "bob@example.com", false
		w := s.signInIDToken(`{"token":` + jsonString(s.idToken(u, "")) + `}`)
		if m := decodeJSON(t, w); w.Code != http.StatusUnauthorized || m["code"] != "OAUTH_LINK_ERROR" || m["message"] != "account not linked" {
			t.Errorf("unverified provider address of a local user: %d %s", w.Code, w.Body)
		}
		u.EmailVerified = true
		w = s.signInIDToken(`{"token":` + jsonString(s.idToken(u, "")) + `}`)
		if w.Code != http.StatusOK || decodeJSON(t, w)["user"].(map[string]any)["id"] != bobID {
			t.Fatalf("verified provider address: %d %s", w.Code, w.Body)
		}

		ds := newOIDCSite(t, testsupport.SQLiteDSN(t), "disable_sign_up")
		w = ds.signInIDToken(`{"token":` + jsonString(ds.idToken(fakeidp.DefaultUser, "")) + `}`)
		if m := decodeJSON(t, w); w.Code != http.StatusUnauthorized || m["code"] != "OAUTH_LINK_ERROR" || m["message"] != "signup disabled" {
			t.Errorf("sign-up disabled: %d %s", w.Code, w.Body)
		}
	})
}

// require_email_verification is Better Auth's requireEmailVerification on
// every provider: a user whose address nobody verified is created (and sent
// the verification email) but gets no session.
func TestSocialSignIn_RequireEmailVerification(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		mb := newMailbox(t)
		s := newOIDCSite(t, dsn, "require_email_verification\nemail_webhook "+mb.URL)
		u := fakeidp.DefaultUser
		u.EmailVerified = false
		s.idp.SetUser(u)
		s.wantSocialError(s.flow(`,"callbackURL":"/dash"`), siteURL+"/auth/error", "email_not_verified")
		if n := rowCount(t, s.db, "session"); n != 0 {
			t.Errorf("%d sessions for an unverified user", n)
		}
		if n := rowCount(t, s.db, "account"); n != 1 {
			t.Errorf("%d accounts: Better Auth creates the user and its account before refusing", n)
		}
		if msg := mb.last(t, u.Email); msg.Type != "verify-email" || !strings.Contains(msg.URL, "callbackURL=%2Fdash") {
			t.Errorf("verification email %+v", msg)
		}
		// The idToken branch answers 403 EMAIL_NOT_VERIFIED.
		wantError(t, s.signInIDToken(`{"token":`+jsonString(s.idToken(u, ""))+`}`), http.StatusForbidden, "EMAIL_NOT_VERIFIED")

		// The provider now vouches for the address: the user is marked
		// verified, as Better Auth does on sign-in, and let in.
		u.EmailVerified = true
		s.idp.SetUser(u)
		w := s.flow("")
		redirected(t, w, "/")
		if got := s.sessionUser(sessionCookieFrom(t, w)); got["emailVerified"] != true {
			t.Errorf("user after a verified sign-in: %v", got)
		}
	})
}

// linkStart posts /link-social for the session cookie and returns the state
// cookie and the authorization URL.
func (s *socialSite) linkStart(session, extra string) (stateCookie, authURL string) {
	s.t.Helper()
	w := s.tg.post("/auth/link-social", session, `{"provider":"`+s.id+`"`+extra+`}`)
	if w.Code != http.StatusOK {
		s.t.Fatalf("link-social: %d %s", w.Code, w.Body)
	}
	m := decodeJSON(s.t, w)
	authURL, _ = m["url"].(string)
	if authURL == "" || m["redirect"] != true || w.Header().Get("Location") != authURL {
		s.t.Fatalf("link-social answer %s, Location %q", w.Body, w.Header().Get("Location"))
	}
	for _, sc := range w.Header().Values("Set-Cookie") {
		if strings.HasPrefix(sc, "better-auth.gate_oauth_state=") {
			return strings.SplitN(sc, ";", 2)[0], authURL
		}
	}
	s.t.Fatalf("no state cookie in %q", w.Header().Values("Set-Cookie"))
	return "", ""
}

// linkFlow runs a whole link for the session and returns the callback's
// answer.
func (s *socialSite) linkFlow(session, extra string) *httptest.ResponseRecorder {
	s.t.Helper()
	state, authURL := s.linkStart(session, extra)
	return s.callback(s.authorize(authURL), state+"; "+session)
}

type listedAccount struct {
	ID         string   `json:"id"`
	ProviderID string   `json:"providerId"`
	AccountID  string   `json:"accountId"`
	UserID     string   `json:"userId"`
	Scopes     []string `json:"scopes"`
}

func (s *socialSite) listAccounts(session string) []listedAccount {
	s.t.Helper()
	w := s.tg.do(req("GET", "/auth/list-accounts", "", "Cookie", session))
	if w.Code != http.StatusOK {
		s.t.Fatalf("list-accounts: %d %s", w.Code, w.Body)
	}
	var out []listedAccount
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
		s.t.Fatalf("list-accounts: %v: %s", err, w.Body)
	}
	return out
}

func TestLinkSocial_ThroughTheCallback(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		s := newOIDCSite(t, dsn, "")
		bob, resp := s.tg.signUp("Bob", "bob@example.com", "password123")
		bobID := resp["user"].(map[string]any)["id"].(string)
		u := fakeidp.DefaultUser
		u.Email = "Bob@Example.com"
		s.idp.SetUser(u)

		sessions := rowCount(t, s.db, "session")
		w := s.linkFlow(bob, `,"callbackURL":"/settings"`)
		redirected(t, w, "/settings")
		for _, sc := range w.Header().Values("Set-Cookie") {
			if strings.Contains(sc, "session_token=") {
				t.Errorf("linking set a session cookie: %q", sc)
			}
		}
		if n := rowCount(t, s.db, "session"); n != sessions {
			t.Errorf("sessions %d -> %d: linking starts none", sessions, n)
		}
		list := s.listAccounts(bob)
		if len(list) != 2 || list[1].ProviderID != "corp" || list[1].AccountID != u.Sub || list[1].UserID != bobID {
			t.Fatalf("accounts after linking: %+v", list)
		}
		// Linking again with more scopes keeps one account and merges them.
		before := list[1].Scopes
		redirected(t, s.linkFlow(bob, `,"scopes":["extra"]`), "/")
		list = s.listAccounts(bob)
		if len(list) != 2 || !slices.Contains(list[1].Scopes, "extra") || len(list[1].Scopes) != len(before)+1 {
			t.Errorf("scopes after linking again: %v (before %v)", list[1].Scopes, before)
		}
		// The linked provider now signs Bob in.
		w = s.flow("")
		redirected(t, w, "/")
		if got := s.sessionUser(sessionCookieFrom(t, w)); got["id"] != bobID {
			t.Errorf("signed in as %v, want %v", got["id"], bobID)
		}
	})
}

func TestLinkSocial_CallbackRefusals(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		s := newOIDCSite(t, dsn, "")
		// Alice owns the provider account "shared".
		alice := fakeidp.DefaultUser
		alice.Sub, alice.Email = "shared", "alice@example.com"
		s.idp.SetUser(alice)
		redirected(t, s.flow(""), "/")
		bob, _ := s.tg.signUp("Bob", "bob@example.com", "password123")

		for _, tc := range []struct {
			name string
			user fakeidp.User
			code string
		}{
			{"another address", fakeidp.User{Sub: "b1", Email: "other@example.com", EmailVerified: true}, "email_does_not_match"},
			{"address not verified by an untrusted provider", fakeidp.User{Sub: "b1", Email: "bob@example.com"}, "unable_to_link_account"},
			{"provider account of another user", fakeidp.User{Sub: "shared", Email: "bob@example.com", EmailVerified: true}, "account_already_linked_to_different_user"},
		} {
			s.idp.SetUser(tc.user)
			state, authURL := s.linkStart(bob, `,"errorCallbackURL":"/oops"`)
			target := s.authorize(authURL)
			noWrites(t, s.db, func() {
				s.wantSocialError(s.callback(target, state+"; "+bob), "/oops", tc.code)
			})
		}

		// The session that asked is gone by the time the provider answers.
		s.idp.SetUser(fakeidp.User{Sub: "b1", Email: "bob@example.com", EmailVerified: true})
		state, authURL := s.linkStart(bob, "")
		target := s.authorize(authURL)
		if w := s.tg.post("/auth/sign-out", bob, ""); w.Code != http.StatusOK {
			t.Fatalf("sign-out: %d %s", w.Code, w.Body)
		}
		bob2, _ := s.tg.signIn("bob@example.com", "password123")
		s.wantSocialError(s.callback(target, state+"; "+bob2), siteURL+"/auth/error", "unable_to_link_account")
		if n := rowCount(t, s.db, "account"); n != 2 {
			t.Errorf("%d accounts, want Alice's and Bob's credential", n)
		}

		// Starting needs a session and a known provider.
		wantError(t, s.tg.do(req("POST", "/auth/link-social", `{"provider":"corp"}`)), http.StatusUnauthorized, "UNAUTHORIZED")
		wantError(t, s.tg.post("/auth/link-social", bob2, `{"provider":"nope"}`), http.StatusNotFound, "PROVIDER_NOT_FOUND")
		wantError(t, s.tg.post("/auth/link-social", bob2, `{"provider":"corp","callbackURL":"https://evil.example/"}`), http.StatusForbidden, "INVALID_CALLBACK_URL")
		w := s.tg.post("/auth/link-social", bob2, `{"provider":"corp","disableRedirect":true}`)
		if m := decodeJSON(t, w); w.Code != http.StatusOK || m["redirect"] != false || w.Header().Get("Location") != "" {
			t.Errorf("disableRedirect: %d %s Location %q", w.Code, w.Body, w.Header().Get("Location"))
		}
	})
}

func TestLinkSocial_IDToken(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		s := newOIDCSite(t, dsn, "")
		alice := fakeidp.User{Sub: "shared", Email: "alice@example.com", EmailVerified: true}
		s.idp.SetUser(alice)
		redirected(t, s.flow(""), "/")
		bob, _ := s.tg.signUp("Bob", "bob@example.com", "password123")
		link := func(u fakeidp.User) *httptest.ResponseRecorder {
			return s.tg.post("/auth/link-social", bob, `{"provider":"corp","idToken":{"token":`+jsonString(s.idToken(u, ""))+`,"accessToken":"at-x"}}`)
		}
		noWrites(t, s.db, func() {
			wantError(t, link(fakeidp.User{Sub: "b1", Email: "bob@example.com"}), http.StatusUnauthorized, "LINKING_NOT_ALLOWED")
			wantError(t, link(fakeidp.User{Sub: "b1", Email: "other@example.com", EmailVerified: true}), http.StatusUnauthorized, "LINKING_DIFFERENT_EMAILS_NOT_ALLOWED")
			wantError(t, link(fakeidp.User{Sub: "shared", Email: "bob@example.com", EmailVerified: true}), http.StatusConflict, "SOCIAL_ACCOUNT_ALREADY_LINKED")
			wantError(t, s.tg.post("/auth/link-social", bob, `{"provider":"corp","idToken":{"token":"bad"}}`), http.StatusUnauthorized, "INVALID_TOKEN")
		})
		for i := range 2 {
			w := link(fakeidp.User{Sub: "b1", Email: "bob@example.com", EmailVerified: true})
			if w.Code != http.StatusOK || strings.TrimSpace(w.Body.String()) != `{"url":"","status":true,"redirect":false}` {
				t.Fatalf("link %d: %d %s", i, w.Code, w.Body)
			}
		}
		if list := s.listAccounts(bob); len(list) != 2 || list[1].AccountID != "b1" {
			t.Errorf("accounts %+v", list)
		}
	})
}

func TestListAccounts_BetterAuthShape(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		s := newOIDCSite(t, dsn, "")
		wantError(t, s.tg.do(req("GET", "/auth/list-accounts", "")), http.StatusUnauthorized, "UNAUTHORIZED")
		bob, resp := s.tg.signUp("Bob", "bob@example.com", "password123")
		bobID := resp["user"].(map[string]any)["id"].(string)
		s.idp.SetUser(fakeidp.User{Sub: "b1", Email: "bob@example.com", EmailVerified: true})
		redirected(t, s.linkFlow(bob, `,"scopes":["profile","email"]`), "/")

		w := s.tg.do(req("GET", "/auth/list-accounts", "", "Cookie", bob))
		var raw []map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &raw); err != nil || len(raw) != 2 {
			t.Fatalf("list-accounts: %d %s", w.Code, w.Body)
		}
		for _, a := range raw {
			keys := make([]string, 0, len(a))
			for k := range a {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			// No tokens, no password: Better Auth's parseAccountOutput.
			if want := []string{"accountId", "createdAt", "id", "providerId", "scopes", "updatedAt", "userId"}; !slices.Equal(keys, want) {
				t.Errorf("keys %v, want %v", keys, want)
			}
			if _, err := time.Parse(time.RFC3339Nano, a["createdAt"].(string)); err != nil {
				t.Errorf("createdAt %v", a["createdAt"])
			}
		}
		if raw[0]["providerId"] != "credential" || raw[0]["accountId"] != bobID || len(raw[0]["scopes"].([]any)) != 0 {
			t.Errorf("credential account %v", raw[0])
		}
		var stored string
		if err := s.db.QueryRow(`SELECT "scope" FROM "account" WHERE "providerId" = 'corp'`).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		var scopes []string
		for _, sc := range raw[1]["scopes"].([]any) {
			scopes = append(scopes, sc.(string))
		}
		if strings.Join(scopes, ",") != stored || !slices.Contains(scopes, "openid") {
			t.Errorf("scopes %v, stored %q", scopes, stored)
		}
	})
}

func TestUnlinkAccount(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		s := newOIDCSite(t, dsn, "")
		bob, _ := s.tg.signUp("Bob", "bob@example.com", "password123")
		alice, _ := s.tg.signUp("Alice", "alice@example.com", "password123")
		s.idp.SetUser(fakeidp.User{Sub: "b1", Email: "bob@example.com", EmailVerified: true})
		redirected(t, s.linkFlow(bob, ""), "/")
		list := s.listAccounts(bob)
		corp := list[1].ID

		wantError(t, s.tg.do(req("POST", "/auth/unlink-account", `{"accountId":"`+corp+`"}`)), http.StatusUnauthorized, "UNAUTHORIZED")
		// Better Auth validates the body before it looks at the session.
		wantError(t, s.tg.do(req("POST", "/auth/unlink-account", `{}`)), http.StatusBadRequest, "VALIDATION_ERROR")
		wantError(t, s.tg.do(req("POST", "/auth/link-social", `{}`)), http.StatusBadRequest, "VALIDATION_ERROR")
		wantError(t, s.tg.post("/auth/unlink-account", bob, `{"providerId":"corp"}`), http.StatusBadRequest, "VALIDATION_ERROR")
		wantError(t, s.tg.post("/auth/unlink-account", bob, `{"accountId":"nope"}`), http.StatusBadRequest, "ACCOUNT_NOT_FOUND")
		// Alice has one account: the last-account rule comes first.
		wantError(t, s.tg.post("/auth/unlink-account", alice, `{"accountId":"`+corp+`"}`), http.StatusBadRequest, "FAILED_TO_UNLINK_LAST_ACCOUNT")

		w := s.tg.post("/auth/unlink-account", bob, `{"accountId":"`+corp+`"}`)
		if w.Code != http.StatusOK || strings.TrimSpace(w.Body.String()) != `{"status":true}` {
			t.Fatalf("unlink: %d %s", w.Code, w.Body)
		}
		if l := s.listAccounts(bob); len(l) != 1 || l[0].ProviderID != "credential" {
			t.Fatalf("accounts after unlinking: %+v", l)
		}
		wantError(t, s.tg.post("/auth/unlink-account", bob, `{"accountId":"`+list[0].ID+`"}`), http.StatusBadRequest, "FAILED_TO_UNLINK_LAST_ACCOUNT")

		// A session older than a day must sign in again first (freshAge).
		setNow(t, time.Now().Add(25*time.Hour))
		wantError(t, s.tg.post("/auth/unlink-account", bob, `{"accountId":"x"}`), http.StatusForbidden, "SESSION_NOT_FRESH")
	})
}

// A provider that hangs, answers garbage or fails ends the callback in an
// error redirect within the bound, never a 500 or a hang, and writes
// nothing.
func TestSocialCallback_ProviderFaultsWriteNothing(t *testing.T) {
	old := providerTimeout
	providerTimeout = 500 * time.Millisecond
	t.Cleanup(func() { providerTimeout = old })
	cases := []struct {
		name     string
		github   bool
		endpoint fakeidp.Endpoint
		failure  fakeidp.Failure
		code     string
	}{
		{"token endpoint hangs", false, fakeidp.Token, fakeidp.Failure{Delay: time.Minute}, social.CodeInvalidCode},
		{"token endpoint answers garbage", false, fakeidp.Token, fakeidp.Failure{Garbage: true}, social.CodeInvalidCode},
		{"token endpoint fails", false, fakeidp.Token, fakeidp.Failure{Status: http.StatusInternalServerError}, social.CodeInvalidCode},
		{"keys cannot be read", false, fakeidp.JWKS, fakeidp.Failure{Status: http.StatusInternalServerError}, social.CodeUnableToGetUserInfo},
		{"userinfo hangs", true, fakeidp.Userinfo, fakeidp.Failure{Delay: time.Minute}, social.CodeUnableToGetUserInfo},
		{"userinfo answers garbage", true, fakeidp.Userinfo, fakeidp.Failure{Garbage: true}, social.CodeUnableToGetUserInfo},
		{"userinfo fails", true, fakeidp.Userinfo, fakeidp.Failure{Status: http.StatusBadGateway}, social.CodeUnableToGetUserInfo},
	}
	testsupport.Both(t, func(t *testing.T, dsn string) {
		oidc, gh := newOIDCSite(t, dsn, ""), newGitHubSite(t, dsn)
		// One existing user, so that "unchanged" covers updates too.
		oidc.tg.signUp("Bob", "bob@example.com", "password123")
		for _, tc := range cases {
			s := oidc
			if tc.github {
				s = gh
			}
			cookie, authURL := s.start(`,"errorCallbackURL":"/oops"`)
			target := s.authorize(authURL)
			s.idp.Fail(tc.endpoint, tc.failure)
			noWrites(t, s.db, func() {
				began := time.Now()
				w := s.callback(target, cookie)
				if took := time.Since(began); took > providerTimeout+2*time.Second {
					t.Errorf("%s: took %v, over the bound %v", tc.name, took, providerTimeout)
				}
				q := redirected(t, w, "/oops")
				if q.Get("error") != tc.code {
					t.Errorf("%s: error %q, want %q", tc.name, q.Get("error"), tc.code)
				}
			})
			s.idp.Fail(tc.endpoint, fakeidp.Failure{})
		}
	})
}

// The bound itself: a provider gets ten seconds, as the contract says.
func TestSocialProviderTimeoutIsTenSeconds(t *testing.T) {
	if providerTimeout != 10*time.Second {
		t.Errorf("providerTimeout = %v, want 10s", providerTimeout)
	}
}

// Routes that features add from their own files' init count per route in
// the rate limiter, as the routes of the map literal do, not in the one
// bucket of paths that are no route.
func TestLimitRoute_KnowsRoutesAddedByInit(t *testing.T) {
	for _, p := range []string{"/link-social", "/list-accounts", "/unlink-account", "/sign-in/social"} {
		if got := limitRoute(p); got != p {
			t.Errorf("limitRoute(%q) = %q", p, got)
		}
	}
	if got := limitRoute("/no-such-route"); got != "" {
		t.Errorf("limitRoute of a non-route = %q", got)
	}
}

// Linking, listing and unlinking work on every layout Better Auth leaves
// (camelCase and snake_case, text or integer times on SQLite).
func TestSocialAccounts_OnBetterAuthLayouts(t *testing.T) {
	for _, lc := range adoptionLayouts() {
		t.Run(lc.name, func(t *testing.T) {
			p := newPluginDB(t, lc)
			s := newOIDCSite(t, p.dsn, "schema auto")
			cookie, _ := s.tg.signIn(p.rows.email, p.rows.password)
			s.idp.SetUser(fakeidp.User{Sub: "l1", Email: p.rows.email, EmailVerified: true})
			redirected(t, s.linkFlow(cookie, ""), "/")
			// Linking again with more scopes rewrites the row in place.
			redirected(t, s.linkFlow(cookie, `,"scopes":["extra"]`), "/")
			list := s.listAccounts(cookie)
			if len(list) != 2 || list[1].ProviderID != "corp" || list[1].AccountID != "l1" || !slices.Equal(list[1].Scopes, []string{"openid", "extra"}) {
				t.Fatalf("accounts %+v", list)
			}
			w := s.tg.post("/auth/link-social", cookie, `{"provider":"corp","idToken":{"token":`+jsonString(s.idToken(fakeidp.User{Sub: "l1", Email: p.rows.email, EmailVerified: true}, ""))+`}}`)
			if w.Code != http.StatusOK {
				t.Fatalf("idToken link of the linked account: %d %s", w.Code, w.Body)
			}
			if w := s.tg.post("/auth/unlink-account", cookie, `{"accountId":"`+list[1].ID+`"}`); w.Code != http.StatusOK {
				t.Fatalf("unlink: %d %s", w.Code, w.Body)
			}
			wantError(t, s.tg.post("/auth/unlink-account", cookie, `{"accountId":"`+list[0].ID+`"}`), http.StatusBadRequest, "FAILED_TO_UNLINK_LAST_ACCOUNT")
		})
	}
}

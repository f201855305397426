package caddyauth

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/testsupport"
	"github.com/authgate/authgate/internal/testsupport/fakeidp"
)

// accountTokens is what the account row holds, read back with SQL.
type accountTokens struct{ access, refresh, scope string }

func (s *socialSite) storedTokens(accountRowID string) accountTokens {
	s.t.Helper()
	var a accountTokens
	if err := s.db.QueryRow(s.db.Rebind(`SELECT "accessToken", "refreshToken", "scope" FROM "account" WHERE "id" = ?`), accountRowID).
		Scan(&a.access, &a.refresh, &a.scope); err != nil {
		s.t.Fatal(err)
	}
	return a
}

// accountRowID is the id of the session user's account at the site's
// provider, from /list-accounts.
func (s *socialSite) accountRowID(cookie, providerID string) string {
	s.t.Helper()
	w := s.tg.do(req("GET", "/auth/list-accounts", "", "Cookie", cookie))
	var list []map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &list); err != nil || w.Code != http.StatusOK {
		s.t.Fatalf("list-accounts: %d %s", w.Code, w.Body)
	}
	for _, a := range list {
		if a["providerId"] == providerID {
			return a["id"].(string)
		}
	}
	s.t.Fatalf("no %s account in %s", providerID, w.Body)
	return ""
}

func (s *socialSite) tokenCall(path, cookie, body string) *httptest.ResponseRecorder {
	s.t.Helper()
	return s.tg.do(req("POST", "/auth/"+path, body, "Cookie", cookie, "Origin", siteURL))
}

// lastGrant is the grant type of the provider's last token request.
func (s *socialSite) lastGrant() string {
	tr, _ := s.idp.LastToken()
	return tr.GrantType
}

func TestProviderTokens_GetAndRefresh(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		s := newOIDCSite(t, dsn, "")
		w := s.flow("")
		cookie := sessionCookieFrom(t, w)
		id := s.accountRowID(cookie, "corp")
		first := s.storedTokens(id)
		sel := `{"accountId":"` + id + `"}`

		// A token far from its end is handed out as stored, with no call
		// to the provider.
		w = s.tokenCall("get-access-token", cookie, sel)
		if w.Code != http.StatusOK {
			t.Fatalf("get-access-token: %d %s", w.Code, w.Body)
		}
		m := decodeJSON(t, w)
		exp, _ := time.Parse(time.RFC3339, m["accessTokenExpiresAt"].(string))
		if first.scope == "" || m["accessToken"] != first.access || time.Until(exp) < 50*time.Minute || m["idToken"] == nil ||
			!slices.Equal(anyStrings(m["scopes"]), strings.Split(first.scope, ",")) {
			t.Errorf("get-access-token = %s", w.Body)
		}
		if s.lastGrant() != "authorization_code" {
			t.Errorf("the provider was asked for %q; the stored token was still good", s.lastGrant())
		}

		// /refresh-token always refreshes, and stores what it got.
		w = s.tokenCall("refresh-token", cookie, sel)
		if w.Code != http.StatusOK {
			t.Fatalf("refresh-token: %d %s", w.Code, w.Body)
		}
		m = decodeJSON(t, w)
		second := s.storedTokens(id)
		if s.lastGrant() != "refresh_token" || second.access == first.access || second.refresh == first.refresh ||
			m["accessToken"] != second.access || m["refreshToken"] != second.refresh ||
			m["providerId"] != "corp" || m["accountId"] != id || m["scope"] != first.scope || second.scope != first.scope ||
			m["accessTokenExpiresAt"] == nil || m["idToken"] == nil {
			t.Errorf("refresh-token = %s; stored %+v, before %+v", w.Body, second, first)
		}
		if v, ok := m["refreshTokenExpiresAt"]; !ok || v != nil {
			t.Errorf("refreshTokenExpiresAt = %v (present %v), want null as Better Auth answers", v, ok)
		}

		// A token within five seconds of its end is refreshed before
		// /get-access-token hands it out.
		s.idp.SetTokenLifetime(1)
		if w := s.tokenCall("refresh-token", cookie, sel); w.Code != http.StatusOK {
			t.Fatalf("refresh-token: %d %s", w.Code, w.Body)
		}
		short := s.storedTokens(id)
		s.idp.SetTokenLifetime(0)
		w = s.tokenCall("get-access-token", cookie, sel)
		fresh := s.storedTokens(id)
		if w.Code != http.StatusOK || s.lastGrant() != "refresh_token" || fresh.access == short.access ||
			decodeJSON(t, w)["accessToken"] != fresh.access {
			t.Errorf("get-access-token near the end: %d %s; stored %+v, before %+v", w.Code, w.Body, fresh, short)
		}

		// The provider refusing leaves the stored tokens as they were.
		s.idp.Fail(fakeidp.Token, fakeidp.Failure{Status: http.StatusBadRequest})
		wantError(t, s.tokenCall("refresh-token", cookie, sel), http.StatusBadRequest, "FAILED_TO_REFRESH_ACCESS_TOKEN")
		s.idp.SetTokenLifetime(1)
		s.idp.Fail(fakeidp.Token, fakeidp.Failure{})
		if w := s.tokenCall("refresh-token", cookie, sel); w.Code != http.StatusOK {
			t.Fatalf("refresh-token: %d %s", w.Code, w.Body)
		}
		s.idp.Fail(fakeidp.Token, fakeidp.Failure{Status: http.StatusServiceUnavailable})
		before := s.storedTokens(id)
		wantError(t, s.tokenCall("get-access-token", cookie, sel), http.StatusBadRequest, "FAILED_TO_GET_ACCESS_TOKEN")
		if after := s.storedTokens(id); after != before {
			t.Errorf("a refused refresh changed the row: %+v -> %+v", before, after)
		}
	})
}

func TestProviderTokens_Refusals(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		s := newOIDCSite(t, dsn, "")
		cookie := sessionCookieFrom(t, s.flow(""))
		id := s.accountRowID(cookie, "corp")

		bob, _ := s.tg.signUp("Bob", "bob@example.com", "password1234")
		bobCredential := s.accountRowID(bob, "credential")
		for _, path := range []string{"get-access-token", "refresh-token"} {
			t.Run(path, func(t *testing.T) {
				// Better Auth's ctx.error("UNAUTHORIZED"): no body at all.
				w := s.tokenCall(path, "", `{"accountId":"`+id+`"}`)
				if w.Code != http.StatusUnauthorized || w.Body.Len() != 0 {
					t.Errorf("no session: %d %q", w.Code, w.Body)
				}
				for body, msg := range map[string]string{
					`{}`:                               "[body] Invalid input",
					`{"accountId":5}`:                  "[body] Invalid input",
					`{"useAccountCookie":false}`:       "[body] Invalid input",
					`{"accountId":"x","userId":7}`:     "[body] Invalid input",
					`{"accountId":"x","foo":1}`:        `[body] Unrecognized key: "foo"`,
					`{"accountId":"x","b":1,"a":2}`:    `[body] Unrecognized keys: "a", "b"`,
					`{"useAccountCookie":true,"x":""}`: `[body] Unrecognized key: "x"`,
				} {
					w := s.tokenCall(path, cookie, body)
					wantError(t, w, http.StatusBadRequest, "VALIDATION_ERROR")
					if got := decodeJSON(t, w)["message"]; got != msg {
						t.Errorf("%s: message %q, want %q", body, got, msg)
					}
				}
				// No account cookie is kept (Better Auth's storeAccountCookie
				// is off by default); an unknown id, or another user's,
				// is no account of this user's.
				for _, body := range []string{`{"useAccountCookie":true}`, `{"accountId":"nope"}`,
					`{"accountId":"` + bobCredential + `"}`} {
					wantError(t, s.tokenCall(path, cookie, body), http.StatusBadRequest, "ACCOUNT_NOT_FOUND")
				}
				// userId never reaches another user's account.
				wantError(t, s.tokenCall(path, bob, `{"accountId":"`+id+`","userId":"`+s.sessionUser(cookie)["id"].(string)+`"}`),
					http.StatusBadRequest, "ACCOUNT_NOT_FOUND")
				w = s.tokenCall(path, bob, `{"accountId":"`+bobCredential+`"}`)
				wantError(t, w, http.StatusBadRequest, "PROVIDER_NOT_SUPPORTED")
				if got := decodeJSON(t, w)["message"]; got != "Provider credential is not supported." {
					t.Errorf("message %q", got)
				}
			})
		}
	})
}

// An account created from a client's id_token without a refresh token has
// nothing to refresh with: /refresh-token says so, /get-access-token hands
// out the access token the client gave.
func TestProviderTokens_NoRefreshToken(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		s := newOIDCSite(t, dsn, "")
		w := s.signInIDToken(`{"token":` + jsonString(s.idToken(fakeidp.DefaultUser, "")) + `,"accessToken":"at-1"}`)
		if w.Code != http.StatusOK {
			t.Fatalf("idToken sign-in: %d %s", w.Code, w.Body)
		}
		cookie := sessionCookieFrom(t, w)
		sel := `{"accountId":"` + s.accountRowID(cookie, "corp") + `"}`
		wantError(t, s.tokenCall("refresh-token", cookie, sel), http.StatusBadRequest, "REFRESH_TOKEN_NOT_FOUND")
		w = s.tokenCall("get-access-token", cookie, sel)
		m := decodeJSON(t, w)
		if w.Code != http.StatusOK || m["accessToken"] != "at-1" {
			t.Fatalf("get-access-token: %d %s", w.Code, w.Body)
		}
		if _, ok := m["accessTokenExpiresAt"]; ok {
			t.Errorf("accessTokenExpiresAt present in %s; Better Auth leaves an unknown expiry out", w.Body)
		}
	})
}

func anyStrings(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

func (s *socialSite) accountInfo(cookie, query string) *httptest.ResponseRecorder {
	s.t.Helper()
	return s.tg.do(req("GET", "/auth/account-info"+query, "", "Cookie", cookie))
}

// /account-info answers as each Better Auth provider's getUserInfo does;
// the generic OIDC shape is also checked against the real Better Auth by
// the official client's script (cmd/caddy).
func TestAccountInfo_ProviderShapes(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		u := fakeidp.DefaultUser
		for _, tc := range []struct {
			site             func() *socialSite
			wantUser         string
			dataKey, dataVal string
		}{
			{func() *socialSite { return newOIDCSite(t, dsn, "") },
				`{"email":"user@example.com","emailVerified":true,"image":"https://example.com/avatar.png","name":"Fake User"}`, "id", u.Sub},
			{func() *socialSite { return newGoogleSite(t, dsn, "") },
				`{"name":"Fake User","email":"user@example.com","image":"https://example.com/avatar.png","emailVerified":true}`, "sub", u.Sub},
			{func() *socialSite { return newGitHubSite(t, dsn) },
				`{"name":"Fake User","email":"user@example.com","image":"https://example.com/avatar.png","emailVerified":true}`, "login", u.Login},
		} {
			s := tc.site()
			t.Run(s.id, func(t *testing.T) {
				cookie := sessionCookieFrom(t, s.flow(""))
				id := s.accountRowID(cookie, s.id)
				w := s.accountInfo(cookie, "?accountId="+id)
				if w.Code != http.StatusOK {
					t.Fatalf("account-info: %d %s", w.Code, w.Body)
				}
				var got struct {
					User    json.RawMessage
					Data    map[string]any
					Account map[string]any
				}
				if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
					t.Fatal(err)
				}
				if string(got.User) != tc.wantUser {
					t.Errorf("user = %s, want %s", got.User, tc.wantUser)
				}
				if got.Data[tc.dataKey] != tc.dataVal || got.Account["id"] != id || got.Account["providerId"] != s.id || got.Account["accountId"] == "" {
					t.Errorf("answer %s", w.Body)
				}
			})
		}
	})
}

func TestAccountInfo_Refusals(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		s := newOIDCSite(t, dsn, "")
		cookie := sessionCookieFrom(t, s.flow(""))
		id := s.accountRowID(cookie, "corp")

		if w := s.accountInfo("", "?accountId="+id); w.Code != http.StatusUnauthorized || w.Body.Len() != 0 {
			t.Errorf("no session: %d %q", w.Code, w.Body)
		}
		for query, msg := range map[string]string{
			"":                              "[query] Invalid input",
			"?useAccountCookie=true":        "[query] Invalid input",
			"?accountId=a&accountId=b":      "[query] Invalid input",
			"?accountId=" + id + "&extra=1": `[query] Unrecognized key: "extra"`,
		} {
			w := s.accountInfo(cookie, query)
			wantError(t, w, http.StatusBadRequest, "VALIDATION_ERROR")
			if got := decodeJSON(t, w)["message"]; got != msg {
				t.Errorf("%q: message %q, want %q", query, got, msg)
			}
		}
		wantError(t, s.accountInfo(cookie, "?accountId=nope"), http.StatusBadRequest, "ACCOUNT_NOT_FOUND")
		bob, _ := s.tg.signUp("Bob", "bob@example.com", "password1234")
		w := s.accountInfo(bob, "?accountId="+s.accountRowID(bob, "credential"))
		wantError(t, w, http.StatusBadRequest, "PROVIDER_NOT_CONFIGURED")
		wantError(t, s.accountInfo(bob, "?accountId="+id), http.StatusBadRequest, "ACCOUNT_NOT_FOUND")

		// The provider failing to describe the account (here: userinfo
		// down, for an account whose id_token is gone).
		if _, err := s.db.Exec(s.db.Rebind(`UPDATE "account" SET "idToken" = NULL WHERE "id" = ?`), id); err != nil {
			t.Fatal(err)
		}
		s.idp.Fail(fakeidp.Userinfo, fakeidp.Failure{Status: http.StatusInternalServerError})
		wantError(t, s.accountInfo(cookie, "?accountId="+id), http.StatusUnauthorized, "FAILED_TO_GET_USER_INFO")
		s.idp.Fail(fakeidp.Userinfo, fakeidp.Failure{})
		if w := s.accountInfo(cookie, "?accountId="+id); w.Code != http.StatusOK || decodeJSON(t, w)["data"].(map[string]any)["sub"] != fakeidp.DefaultUser.Sub {
			t.Errorf("from userinfo: %d %s", w.Code, w.Body)
		}

		// An account from a client's id_token without an access token.
		w = s.signInIDToken(`{"token":` + jsonString(s.idToken(fakeidp.User{Sub: "other", Email: "other@example.com", EmailVerified: true}, "")) + `}`)
		if w.Code != http.StatusOK {
			t.Fatalf("idToken sign-in: %d %s", w.Code, w.Body)
		}
		other := sessionCookieFrom(t, w)
		wantError(t, s.accountInfo(other, "?accountId="+s.accountRowID(other, "corp")), http.StatusBadRequest, "ACCESS_TOKEN_NOT_FOUND")
	})
}

package caddyauth

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/authgate/authgate/internal/testsupport"
	"github.com/authgate/authgate/internal/testsupport/fakeidp"
)

// answer is a response reduced to what a client can tell apart.
type answer struct {
	status int
	header http.Header
	body   []byte
	cookie string // the session cookie it set, "name=value"
}

func (a answer) json(t *testing.T) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(a.body, &v); err != nil {
		t.Fatalf("not JSON (%d): %s", a.status, a.body)
	}
	return v
}

// shape is the error code and message of an error answer, or the sorted
// keys of an object (and of its "user"), or of each element of an array.
func (a answer) shape(t *testing.T) string {
	t.Helper()
	keys := func(v any) string {
		m, _ := v.(map[string]any)
		ks := make([]string, 0, len(m))
		for k := range m {
			ks = append(ks, k)
		}
		slices.Sort(ks)
		return strings.Join(ks, ",")
	}
	v := a.json(t)
	if m, ok := v.(map[string]any); ok && a.status >= 400 {
		msg, _ := m["message"].(string)
		code, _ := m["code"].(string)
		return code + ": " + msg
	}
	switch v := v.(type) {
	case map[string]any:
		s := keys(v)
		if u, ok := v["user"]; ok {
			s += " user{" + keys(u) + "}"
		}
		return s
	case []any:
		var parts []string
		for _, e := range v {
			parts = append(parts, "{"+keys(e)+"}")
		}
		return "[" + strings.Join(parts, " ") + "]"
	}
	return string(a.body)
}

// authServer is the gate or Better Auth, spoken to over the same API.
type authServer interface {
	do(t *testing.T, method, path, cookie, body string) answer
}

type gateServer struct{ tg *testGate }

func (g gateServer) do(t *testing.T, method, path, cookie, body string) answer {
	r := req(method, "/auth"+path, body, "Origin", site)
	if cookie != "" {
		r.Header.Set("Cookie", cookie)
	}
	return recorded(g.tg.do(r))
}

func recorded(w *httptest.ResponseRecorder) answer {
	return answer{status: w.Code, header: w.Header(), body: w.Body.Bytes(), cookie: setSessionCookieIn(w.Header())}
}

func setSessionCookieIn(h http.Header) string {
	for _, sc := range h.Values("Set-Cookie") {
		if strings.HasPrefix(sc, "better-auth.session_token=") && !strings.HasPrefix(sc, "better-auth.session_token=;") {
			return strings.SplitN(sc, ";", 2)[0]
		}
	}
	return ""
}

type betterAuthServer struct{ url string }

func (b betterAuthServer) do(t *testing.T, method, path, cookie, body string) answer {
	t.Helper()
	r, err := http.NewRequest(method, b.url+"/auth"+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	r.Header.Set("Origin", b.url)
	if cookie != "" {
		r.Header.Set("Cookie", cookie)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return answer{status: res.StatusCode, header: res.Header, body: raw, cookie: setSessionCookieIn(res.Header)}
}

// The idToken branch, /link-social with an idToken, /list-accounts and
// /unlink-account answer as Better Auth 1.7.25 does, step by step, and
// accounts either one links are the other's too.
func TestSocialAccounts_AnswerAsBetterAuth(t *testing.T) {
	dsn := testsupport.PostgresDSN(t)
	s := newOIDCSite(t, dsn, "")
	ba := testsupport.StartBetterAuth(t, testsupport.BetterAuth{
		DatabaseURL: dsn, Secret: testSecret,
		Plugins: map[string]any{"genericOAuth": map[string]any{"config": []any{map[string]any{
			"providerId": "corp", "clientId": s.idp.ClientID, "clientSecret": s.idp.ClientSecret,
			"discoveryUrl": s.idp.URL + "/.well-known/openid-configuration",
		}}}},
	})
	servers := map[string]authServer{"gate": gateServer{s.tg}, "better-auth": betterAuthServer{ba.URL}}
	idTok := func(sub, email string, verified bool) string {
		return jsonString(s.idToken(fakeidp.User{Sub: sub, Email: email, EmailVerified: verified, Name: "N"}, ""))
	}
	type step struct {
		name   string
		method string
		path   string
		body   func(who string, st map[string]string) string
		cookie string // "session" for the user's session
	}
	steps := []step{
		{"link, another address", "POST", "/link-social", func(w string, _ map[string]string) string {
			return `{"provider":"corp","idToken":{"token":` + idTok(w+"-s1", w+"-other@example.com", true) + `}}`
		}, "session"},
		{"link, unverified", "POST", "/link-social", func(w string, _ map[string]string) string {
			return `{"provider":"corp","idToken":{"token":` + idTok(w+"-s1", w+"@example.com", false) + `}}`
		}, "session"},
		{"link, bad token", "POST", "/link-social", func(string, map[string]string) string {
			return `{"provider":"corp","idToken":{"token":"x.y.z"}}`
		}, "session"},
		{"link", "POST", "/link-social", func(w string, _ map[string]string) string {
			return `{"provider":"corp","idToken":{"token":` + idTok(w+"-s1", w+"@example.com", true) + `,"accessToken":"at"}}`
		}, "session"},
		{"link again", "POST", "/link-social", func(w string, _ map[string]string) string {
			return `{"provider":"corp","idToken":{"token":` + idTok(w+"-s1", w+"@example.com", true) + `}}`
		}, "session"},
		{"link without a session", "POST", "/link-social", func(string, map[string]string) string { return `{"provider":"corp"}` }, ""},
		{"list", "GET", "/list-accounts", nil, "session"},
		{"list without a session", "GET", "/list-accounts", nil, ""},
		{"unlink, no accountId", "POST", "/unlink-account", func(string, map[string]string) string { return `{}` }, "session"},
		{"unlink, unknown", "POST", "/unlink-account", func(string, map[string]string) string { return `{"accountId":"nope"}` }, "session"},
		{"unlink", "POST", "/unlink-account", func(_ string, st map[string]string) string { return `{"accountId":"` + st["corp"] + `"}` }, "session"},
		{"unlink the last", "POST", "/unlink-account", func(_ string, st map[string]string) string { return `{"accountId":"` + st["credential"] + `"}` }, "session"},
		{"sign in, id_token of a new user", "POST", "/sign-in/social", func(w string, _ map[string]string) string {
			return `{"provider":"corp","idToken":{"token":` + idTok(w+"-new", w+"-new@example.com", true) + `}}`
		}, ""},
		{"sign in, id_token naming a local user's unverified address", "POST", "/sign-in/social", func(w string, _ map[string]string) string {
			return `{"provider":"corp","idToken":{"token":` + idTok(w+"-s2", w+"@example.com", true) + `}}`
		}, ""},
		{"sign in, bad id_token", "POST", "/sign-in/social", func(string, map[string]string) string {
			return `{"provider":"corp","idToken":{"token":"x.y.z"}}`
		}, ""},
		{"sign in, id_token not an object", "POST", "/sign-in/social", func(string, map[string]string) string {
			return `{"provider":"corp","idToken":"x"}`
		}, ""},
	}
	got := map[string][]string{}
	for _, who := range []string{"gate", "better-auth"} {
		srv := servers[who]
		signUp := srv.do(t, "POST", "/sign-up/email", "", `{"name":"N","email":"`+who+`@example.com","password":"password123"}`)
		if signUp.status != http.StatusOK || signUp.cookie == "" {
			t.Fatalf("%s sign-up: %d %s\n%s", who, signUp.status, signUp.body, ba.Logs())
		}
		st := map[string]string{}
		for _, sp := range steps {
			body := ""
			if sp.body != nil {
				body = sp.body(who, st)
			}
			cookie := ""
			if sp.cookie == "session" {
				cookie = signUp.cookie
			}
			a := srv.do(t, sp.method, sp.path, cookie, body)
			if sp.name == "list" {
				for _, acc := range a.json(t).([]any) {
					m := acc.(map[string]any)
					st[m["providerId"].(string)] = m["id"].(string)
				}
			}
			got[who] = append(got[who], sp.name+": "+http.StatusText(a.status)+" "+a.shape(t))
		}
	}
	for i := range steps {
		t.Log(got["better-auth"][i])
		if got["gate"][i] != got["better-auth"][i] {
			t.Errorf("gate:        %s\nbetter-auth: %s", got["gate"][i], got["better-auth"][i])
		}
	}

	// What one links, the other signs in with: Better Auth signs the gate's
	// user in by the account the gate linked, and the other way round.
	for _, tc := range []struct{ linker, signer string }{{"gate", "better-auth"}, {"better-auth", "gate"}} {
		email := tc.linker + "-x@example.com"
		up := servers[tc.linker].do(t, "POST", "/sign-up/email", "", `{"name":"N","email":"`+email+`","password":"password123"}`)
		userID := up.json(t).(map[string]any)["user"].(map[string]any)["id"]
		link := servers[tc.linker].do(t, "POST", "/link-social", up.cookie,
			`{"provider":"corp","idToken":{"token":`+idTok(tc.linker+"-x", email, true)+`}}`)
		if link.status != http.StatusOK {
			t.Fatalf("%s link: %d %s", tc.linker, link.status, link.body)
		}
		in := servers[tc.signer].do(t, "POST", "/sign-in/social", "",
			`{"provider":"corp","idToken":{"token":`+idTok(tc.linker+"-x", email, true)+`}}`)
		if in.status != http.StatusOK || in.json(t).(map[string]any)["user"].(map[string]any)["id"] != userID {
			t.Errorf("%s signs in the user %s linked: %d %s", tc.signer, tc.linker, in.status, in.body)
		}
		list := servers[tc.signer].do(t, "GET", "/list-accounts", in.cookie, "")
		if list.status != http.StatusOK || !strings.Contains(string(list.body), `"providerId":"corp"`) {
			t.Errorf("%s lists %s's link: %d %s", tc.signer, tc.linker, list.status, list.body)
		}
	}
}

// Linking through the provider's redirect ends as Better Auth's does: the
// same redirect, or the same error code, for each of its rules.
func TestLinkSocialCallback_EndsAsBetterAuth(t *testing.T) {
	dsn := testsupport.PostgresDSN(t)
	s := newOIDCSite(t, dsn, "")
	ba := testsupport.StartBetterAuth(t, testsupport.BetterAuth{
		DatabaseURL: dsn, Secret: testSecret,
		Plugins: map[string]any{"genericOAuth": map[string]any{"config": []any{map[string]any{
			"providerId": "corp", "clientId": s.idp.ClientID, "clientSecret": s.idp.ClientSecret,
			"discoveryUrl": s.idp.URL + "/.well-known/openid-configuration",
		}}}},
	})
	s.idp.AllowRedirectURI(ba.URL + "/auth/callback/corp")
	noFollow := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	// ends runs one link for the session and says where it ended: the
	// redirect target, or "error=<code>".
	ends := map[string]func(session string) string{
		"gate": func(session string) string {
			w := s.linkFlow(session, `,"callbackURL":"/settings"`)
			loc := w.Header().Get("Location")
			if i := strings.Index(loc, "error="); i >= 0 {
				return loc[i:]
			}
			return loc
		},
		"better-auth": func(session string) string {
			bs := betterAuthServer{ba.URL}
			start := bs.do(t, "POST", "/link-social", session, `{"provider":"corp","callbackURL":"/settings"}`)
			if start.status != http.StatusOK {
				t.Fatalf("better-auth link-social: %d %s", start.status, start.body)
			}
			authURL := start.json(t).(map[string]any)["url"].(string)
			c := &http.Client{CheckRedirect: noFollow}
			res, err := c.Get(authURL)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			r, _ := http.NewRequest("GET", res.Header.Get("Location"), nil)
			// The state cookie Better Auth set, and the session.
			var cookies []string
			for _, sc := range start.header.Values("Set-Cookie") {
				cookies = append(cookies, strings.SplitN(sc, ";", 2)[0])
			}
			r.Header.Set("Cookie", strings.Join(append(cookies, session), "; "))
			res, err = c.Do(r)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			loc := res.Header.Get("Location")
			if i := strings.Index(loc, "error="); i >= 0 {
				return loc[i:]
			}
			return loc
		},
	}
	servers := map[string]authServer{"gate": gateServer{s.tg}, "better-auth": betterAuthServer{ba.URL}}
	for _, who := range []string{"gate", "better-auth"} {
		signUp := func(email string) string {
			a := servers[who].do(t, "POST", "/sign-up/email", "", `{"name":"N","email":"`+email+`","password":"password123"}`)
			if a.status != http.StatusOK {
				t.Fatalf("%s sign-up: %d %s", who, a.status, a.body)
			}
			return a.cookie
		}
		x, y := signUp(who+"-x@example.com"), signUp(who+"-y@example.com")
		for _, tc := range []struct {
			name    string
			session string
			user    fakeidp.User
			want    string
		}{
			{"another address", x, fakeidp.User{Sub: who + "-1", Email: who + "-z@example.com", EmailVerified: true}, "error=email_does_not_match"},
			{"unverified", x, fakeidp.User{Sub: who + "-1", Email: who + "-x@example.com"}, "error=unable_to_link_account"},
			{"links", x, fakeidp.User{Sub: who + "-1", Email: who + "-x@example.com", EmailVerified: true}, "/settings"},
			{"again", x, fakeidp.User{Sub: who + "-1", Email: who + "-x@example.com", EmailVerified: true}, "/settings"},
			{"another user's", y, fakeidp.User{Sub: who + "-1", Email: who + "-y@example.com", EmailVerified: true}, "error=account_already_linked_to_different_user"},
		} {
			s.idp.SetUser(tc.user)
			if got := ends[who](tc.session); got != tc.want {
				t.Errorf("%s, %s: ended at %q, want %q", who, tc.name, got, tc.want)
			}
		}
	}
}

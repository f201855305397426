package caddyauth

import (
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/testsupport"
)

func TestSecretRotation_OldCookiesStillWorkNewOnesUseTheFirstSecret(t *testing.T) {
	dsn := testsupport.SQLiteDSN(t)
	oldGate := newTestGate(t, dsn, "")
	oldCookie, up := oldGate.signUp("Alice", "alice@example.com", "password123")

	newSecret := strings.Repeat("n", 40)
	g, err := provisionFromCaddyfile(t, "database "+dsn+"\nsecret "+newSecret+" "+testSecret)
	if err != nil {
		t.Fatal(err)
	}
	tg := &testGate{t: t, g: g, next: &recordingNext{}}
	if w := tg.do(req("GET", "/app", "", "Cookie", oldCookie)); w.Code != 200 {
		t.Fatalf("cookie signed with the older secret refused: %d", w.Code)
	}
	if w := tg.do(req("GET", "/auth/get-session", "", "Cookie", oldCookie)); decodeJSON(t, w)["user"].(map[string]any)["id"] != up["user"].(map[string]any)["id"] {
		t.Fatalf("get-session with old cookie: %s", w.Body)
	}
	cookie, in := tg.signIn("alice@example.com", "password123")
	if want := "better-auth.session_token=" + wireCookie(newSecret, in["token"].(string)); cookie != want {
		t.Errorf("new cookie %q, want it signed with the first secret: %q", cookie, want)
	}
	// A gate that knows only the old secret refuses the new cookie.
	if w := oldGate.do(req("GET", "/app", "", "Cookie", cookie)); w.Code != 401 {
		t.Errorf("old-secret gate accepted a new-secret cookie: %d", w.Code)
	}
}

func TestHTTPSBaseURL_UsesSecurePrefixedCookies(t *testing.T) {
	tg := newTestGate(t, testsupport.SQLiteDSN(t), "base_url https://app.example.com")
	w := tg.do(req("POST", "/auth/sign-up/email", `{"name":"A","email":"a@example.com","password":"password123","rememberMe":false}`))
	token := decodeJSON(t, w)["token"].(string)
	want := []string{
		"__Secure-better-auth.session_token=" + wireCookie(testSecret, token) + "; Path=/; HttpOnly; Secure; SameSite=Lax",
		"__Secure-better-auth.dont_remember=true.1bXlcnrqtmSepkNJviBBMNg0%2BTFE%2FNL3hULlLOhQEEc%3D; Path=/; HttpOnly; Secure; SameSite=Lax",
	}
	if got := w.Header().Values("Set-Cookie"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("Set-Cookie\n%q\nwant\n%q", got, want)
	}
	secure := "__Secure-better-auth.session_token=" + wireCookie(testSecret, token)
	if w := tg.do(req("GET", "/app", "", "Cookie", secure)); w.Code != 200 {
		t.Errorf("__Secure- cookie refused: %d", w.Code)
	}
	// Better Auth reads only the exact configured name.
	plain := "better-auth.session_token=" + wireCookie(testSecret, token)
	if w := tg.do(req("GET", "/app", "", "Cookie", plain)); w.Code != 401 {
		t.Errorf("unprefixed cookie accepted on an https site: %d", w.Code)
	}
	// The link origin is base_url's, whatever Host the request had.
	if got := tg.g.apiURL(req("GET", "/", ""), "/x"); got != "https://app.example.com/auth/x" {
		t.Errorf("apiURL = %q", got)
	}
}

func TestBearer_TokenInHeaderAndSetAuthToken(t *testing.T) {
	tg := newTestGate(t, testsupport.SQLiteDSN(t), "bearer")
	w := tg.do(req("POST", "/auth/sign-up/email", `{"name":"A","email":"a@example.com","password":"password123"}`))
	token := decodeJSON(t, w)["token"].(string)
	signed := w.Header().Get("Set-Auth-Token")
	if !strings.HasPrefix(signed, token+".") || len(signed) != len(token)+45 {
		t.Fatalf("set-auth-token %q for token %q", signed, token)
	}
	if !strings.Contains(strings.ToLower(w.Header().Get("Access-Control-Expose-Headers")), "set-auth-token") {
		t.Errorf("set-auth-token not exposed: %q", w.Header().Get("Access-Control-Expose-Headers"))
	}
	for name, auth := range map[string]string{
		"signed":      "Bearer " + signed,
		"url-encoded": "Bearer " + wireCookie(testSecret, token),
		"raw token":   "bearer " + token,
	} {
		if w := tg.do(req("GET", "/app", "", "Authorization", auth)); w.Code != 200 {
			t.Errorf("%s bearer refused: %d", name, w.Code)
		}
	}
	for name, auth := range map[string]string{
		"bad signature": "Bearer " + token + ".AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"unknown token": "Bearer " + strings.Repeat("z", 32),
		"junk":          "Bearer ../../etc/passwd",
	} {
		if w := tg.do(req("GET", "/app", "", "Authorization", auth)); w.Code != 401 {
			t.Errorf("%s bearer accepted: %d", name, w.Code)
		}
	}
	// Without `bearer`, the header means nothing.
	off := newTestGate(t, testsupport.SQLiteDSN(t), "")
	off.signUp("B", "b@example.com", "password123")
	if w := off.do(req("GET", "/app", "", "Authorization", "Bearer "+signed)); w.Code != 401 {
		t.Errorf("bearer accepted while disabled: %d", w.Code)
	}
}

func TestGate_SlidingRefreshSetsCookieOnTheProxiedResponse(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		tg := newTestGate(t, dsn, "session_cache 0")
		cookie, _ := tg.signUp("Alice", "alice@example.com", "password123")
		if w := tg.do(req("GET", "/app", "", "Cookie", cookie)); len(w.Header().Values("Set-Cookie")) != 0 {
			t.Fatalf("fresh session refreshed on a gated request: %q", w.Header().Values("Set-Cookie"))
		}
		later := time.Now().Add(36 * time.Hour)
		setNow(t, later)
		w := tg.do(req("GET", "/app", "", "Cookie", cookie))
		if w.Code != 200 || w.Body.String() != "upstream" {
			t.Fatalf("gated request %d %s", w.Code, w.Body)
		}
		if got, want := w.Header().Values("Set-Cookie"), cookie+"; Max-Age=604800; Path=/; HttpOnly; SameSite=Lax"; len(got) != 1 || got[0] != want {
			t.Errorf("refresh cookie on the proxied response %q, want %q", got, want)
		}
		exp := decodeJSON(t, tg.do(req("GET", "/auth/get-session?disableRefresh=true", "", "Cookie", cookie)))["session"].(map[string]any)["expiresAt"].(string)
		at, _ := time.Parse(time.RFC3339, exp)
		if d := at.Sub(later); d < 7*24*time.Hour-time.Second || d > 7*24*time.Hour+time.Second {
			t.Errorf("gated refresh moved expiry to now+%v, want now+7d", d)
		}
	})
}

func TestSignIn_FormEncoded(t *testing.T) {
	tg := newTestGate(t, testsupport.SQLiteDSN(t), "")
	tg.signUp("Alice", "alice@example.com", "password123")
	w := tg.do(formRequest("/auth/sign-in/email", "email=alice%40example.com&password=password123&rememberMe=false"))
	if w.Code != 200 {
		t.Fatalf("form sign-in %d %s", w.Code, w.Body)
	}
	if n := len(w.Header().Values("Set-Cookie")); n != 2 {
		t.Errorf("form rememberMe=false gave %d cookies, want session + dont_remember", n)
	}
}

package caddyauth

import (
	"bytes"
	"encoding/base32"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/authgate/authgate/caddyauth/internal/bacodec"
	"github.com/authgate/authgate/caddyauth/internal/twofactor"
	"github.com/authgate/authgate/internal/testsupport"
)

const tfPassword = "password123"

// tfGate is a gate with two_factor on, and helpers that speak to it as a
// browser would (Origin set, cookies carried by hand).
type tfGate struct {
	*testGate
	dsn string
}

func newTwoFactorGate(t *testing.T, dsn string) *tfGate {
	return &tfGate{newTestGate(t, dsn, "two_factor {\n\tissuer \"Acme Inc\"\n}"), dsn}
}

// post sends a JSON body with the given cookies ("a=b; c=d").
func (tg *tfGate) post(path, body, cookies string) *httptest.ResponseRecorder {
	tg.t.Helper()
	h := []string{"Origin", site}
	if cookies != "" {
		h = append(h, "Cookie", cookies)
	}
	return tg.do(req("POST", "/auth"+path, body, h...))
}

// setCookie returns the Set-Cookie line of the cookie base name (with the
// better-auth. prefix), or "".
func setCookieLine(w *httptest.ResponseRecorder, base string) string {
	for _, sc := range w.Header().Values("Set-Cookie") {
		if strings.HasPrefix(sc, "better-auth."+base+"=") {
			return sc
		}
	}
	return ""
}

// cookiePair is "name=value" of a Set-Cookie line.
func cookiePair(line string) string { return strings.SplitN(line, ";", 2)[0] }

// enrolled is a user with verified two-factor.
type enrolled struct {
	email, secret string
	codes         []string
	cookie        string // a session cookie after enrolment
	userID        string
}

// enrol signs a user up and completes enrolment with a code.
func (tg *tfGate) enrol(email string) enrolled {
	t := tg.t
	t.Helper()
	cookie, resp := tg.signUp("Ada", email, tfPassword)
	userID := resp["user"].(map[string]any)["id"].(string)
	w := tg.post("/two-factor/enable", `{"password":"`+tfPassword+`"}`, cookie)
	if w.Code != http.StatusOK {
		t.Fatalf("enable: %d %s", w.Code, w.Body)
	}
	var en struct {
		Method      string
		TOTPURI     string `json:"totpURI"`
		BackupCodes []string
	}
	if err := json.Unmarshal(w.Body.Bytes(), &en); err != nil {
		t.Fatal(err)
	}
	secret := secretFromURI(t, en.TOTPURI)
	w = tg.post("/two-factor/verify-totp", `{"code":"`+twofactor.Code([]byte(secret), now())+`"}`, cookie)
	if w.Code != http.StatusOK {
		t.Fatalf("verify enrolment: %d %s", w.Code, w.Body)
	}
	return enrolled{email, secret, en.BackupCodes, sessionCookieFrom(t, w), userID}
}

func secretFromURI(t *testing.T, uri string) string {
	t.Helper()
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(u.Query().Get("secret"))
	if err != nil {
		t.Fatalf("secret of %s: %v", uri, err)
	}
	return string(raw)
}

// challenge signs in with the password and returns the two_factor cookie
// pair, checking Better Auth's redirect answer.
func (tg *tfGate) challenge(email, extra string) (string, *httptest.ResponseRecorder) {
	t := tg.t
	t.Helper()
	w := tg.post("/sign-in/email", `{"email":"`+email+`","password":"`+tfPassword+`"`+extra+`}`, "")
	if w.Code != http.StatusOK || w.Body.String() != `{"twoFactorRedirect":true,"twoFactorMethods":["totp"]}` {
		t.Fatalf("sign-in of an enrolled user: %d %s", w.Code, w.Body)
	}
	line := setCookieLine(w, "two_factor")
	if line == "" {
		t.Fatalf("no two_factor cookie: %q", w.Header().Values("Set-Cookie"))
	}
	return cookiePair(line), w
}

func (tg *tfGate) sessions(userID string) int {
	tg.t.Helper()
	db := testsupport.OpenDB(tg.t, tg.dsn)
	var n int
	if err := db.Get(&n, db.Rebind(`SELECT count(*) FROM "session" WHERE "userId" = ?`), userID); err != nil {
		tg.t.Fatal(err)
	}
	return n
}

func TestTwoFactor_EnrolThenSignInWithTOTP(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		tg := newTwoFactorGate(t, dsn)
		cookie, resp := tg.signUp("Ada", "ada@example.com", tfPassword)
		userID := resp["user"].(map[string]any)["id"].(string)

		w := tg.post("/two-factor/enable", `{"password":"wrong-password"}`, cookie)
		wantError(t, w, http.StatusBadRequest, "INVALID_PASSWORD")
		w = tg.post("/two-factor/enable", `{"password":"`+tfPassword+`","method":"otp"}`, cookie)
		wantError(t, w, http.StatusBadRequest, "OTP_NOT_CONFIGURED")
		w = tg.post("/two-factor/enable", `{"password":"`+tfPassword+`"}`, cookie)
		if w.Code != http.StatusOK {
			t.Fatalf("enable: %d %s", w.Code, w.Body)
		}
		m := decodeJSON(t, w)
		uri, _ := m["totpURI"].(string)
		codes, _ := m["backupCodes"].([]any)
		if m["method"] != "totp" || len(codes) != 10 || len(m) != 3 {
			t.Fatalf("enable answer %s", w.Body)
		}
		if !strings.HasPrefix(uri, "otpauth://totp/Acme%20Inc:ada%40example.com?secret=") || !strings.HasSuffix(uri, "&issuer=Acme+Inc&digits=6&period=30") {
			t.Fatalf("totpURI %s", uri)
		}
		secret := secretFromURI(t, uri)

		// Not enabled until a code is verified: sign-in is still plain.
		if _, in := tg.signIn("ada@example.com", tfPassword); in["token"] == nil {
			t.Fatalf("sign-in before verification: %v", in)
		}
		w = tg.post("/two-factor/generate-backup-codes", `{"password":"`+tfPassword+`"}`, cookie)
		wantError(t, w, http.StatusBadRequest, "TWO_FACTOR_NOT_ENABLED")

		w = tg.post("/two-factor/verify-totp", `{"code":"000000"}`, cookie)
		if twofactor.Code([]byte(secret), now()) != "000000" {
			wantError(t, w, http.StatusUnauthorized, "INVALID_CODE")
		}
		w = tg.post("/two-factor/verify-totp", `{"code":"`+twofactor.Code([]byte(secret), now())+`"}`, cookie)
		if w.Code != http.StatusOK {
			t.Fatalf("verify: %d %s", w.Code, w.Body)
		}
		m = decodeJSON(t, w)
		if u := m["user"].(map[string]any); u["twoFactorEnabled"] != true {
			t.Fatalf("verify answer %s", w.Body)
		}
		// Enrolment rotates the session: the old cookie is dead, the new one
		// (whose token the answer carries) works.
		newCookie := sessionCookieFrom(t, w)
		if newCookie == cookie || !strings.Contains(newCookie, url.QueryEscape(m["token"].(string))) {
			t.Fatalf("session not rotated: old %s new %s token %v", cookie, newCookie, m["token"])
		}
		if w := tg.do(req("GET", "/auth/get-session", "", "Cookie", cookie)); w.Body.String() != "null" {
			t.Fatalf("old session after enrolment: %s", w.Body)
		}
		w = tg.post("/two-factor/enable", `{"password":"`+tfPassword+`"}`, newCookie)
		wantError(t, w, http.StatusBadRequest, "TOTP_ALREADY_ENABLED")
		w = tg.post("/two-factor/get-totp-uri", `{"password":"`+tfPassword+`"}`, newCookie)
		if w.Code != http.StatusOK || decodeJSON(t, w)["totpURI"] != uri {
			t.Fatalf("get-totp-uri: %d %s, want %s", w.Code, w.Body, uri)
		}

		// The password alone: no session, only the challenge.
		before := tg.sessions(userID)
		tfCookie, w := tg.challenge("ada@example.com", "")
		if tg.sessions(userID) != before {
			t.Fatal("a session row was created on the password alone")
		}
		line := setCookieLine(w, "two_factor")
		if !strings.Contains(line, "; Max-Age=600; Path=/; HttpOnly; SameSite=Lax") {
			t.Fatalf("two_factor cookie %q", line)
		}
		for _, base := range []string{"session_token", "session_data"} {
			if l := setCookieLine(w, base); !strings.Contains(l, "Max-Age=0") {
				t.Fatalf("%s not expired: %q", base, l)
			}
		}
		value, ok := bacodec.Verify([][]byte{[]byte(testSecret)}, strings.TrimPrefix(tfCookie, "better-auth.two_factor="))
		if !ok || !strings.HasPrefix(value, "2fa-") || len(value) != 24 {
			t.Fatalf("two_factor cookie value %q is not Better Auth's signed 2fa-<20>", value)
		}

		w = tg.post("/two-factor/verify-totp", `{"code":"12345"}`, tfCookie)
		wantError(t, w, http.StatusUnauthorized, "INVALID_CODE")
		w = tg.post("/two-factor/verify-totp", `{"code":"`+twofactor.Code([]byte(secret), now())+`"}`, tfCookie)
		if w.Code != http.StatusOK {
			t.Fatalf("verify sign-in: %d %s", w.Code, w.Body)
		}
		m = decodeJSON(t, w)
		signedIn := sessionCookieFrom(t, w)
		if m["token"] == nil || !strings.Contains(setCookieLine(w, "two_factor"), "Max-Age=0") {
			t.Fatalf("verify answer %s, cookies %q", w.Body, w.Header().Values("Set-Cookie"))
		}
		if w := tg.do(req("GET", "/dashboard", "", "Cookie", signedIn)); w.Code != http.StatusOK {
			t.Fatalf("gate with the new session: %d", w.Code)
		}
		// The challenge is spent: the same cookie and a good code fail.
		w = tg.post("/two-factor/verify-totp", `{"code":"`+twofactor.Code([]byte(secret), now())+`"}`, tfCookie)
		wantError(t, w, http.StatusUnauthorized, "INVALID_TWO_FACTOR_COOKIE")
	})
}

func TestTwoFactor_BackupCodesWorkOnce(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		tg := newTwoFactorGate(t, dsn)
		u := tg.enrol("bob@example.com")
		tfCookie, _ := tg.challenge(u.email, "")
		w := tg.post("/two-factor/verify-backup-code", `{"code":"`+u.codes[3]+`"}`, tfCookie)
		if w.Code != http.StatusOK || decodeJSON(t, w)["token"] == nil {
			t.Fatalf("backup code: %d %s", w.Code, w.Body)
		}
		sessionCookieFrom(t, w)
		tfCookie, _ = tg.challenge(u.email, "")
		w = tg.post("/two-factor/verify-backup-code", `{"code":"`+u.codes[3]+`"}`, tfCookie)
		wantError(t, w, http.StatusUnauthorized, "INVALID_BACKUP_CODE")
		w = tg.post("/two-factor/verify-backup-code", `{"code":"`+u.codes[4]+`"}`, tfCookie)
		if w.Code != http.StatusOK {
			t.Fatalf("another backup code: %d %s", w.Code, w.Body)
		}

		// New codes replace the old ones.
		w = tg.post("/two-factor/generate-backup-codes", `{"password":"`+tfPassword+`"}`, u.cookie)
		m := decodeJSON(t, w)
		fresh, _ := m["backupCodes"].([]any)
		if w.Code != http.StatusOK || m["status"] != true || len(fresh) != 10 {
			t.Fatalf("generate-backup-codes: %d %s", w.Code, w.Body)
		}
		tfCookie, _ = tg.challenge(u.email, "")
		w = tg.post("/two-factor/verify-backup-code", `{"code":"`+u.codes[5]+`"}`, tfCookie)
		wantError(t, w, http.StatusUnauthorized, "INVALID_BACKUP_CODE")
		w = tg.post("/two-factor/verify-backup-code", `{"code":"`+fresh[0].(string)+`"}`, tfCookie)
		if w.Code != http.StatusOK {
			t.Fatalf("new backup code: %d %s", w.Code, w.Body)
		}
	})
}

func TestTwoFactor_FiveTriesPerChallenge(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		tg := newTwoFactorGate(t, dsn)
		u := tg.enrol("cy@example.com")
		tfCookie, _ := tg.challenge(u.email, "")
		wrong := wrongCode(u.secret)
		for i := 0; i < 5; i++ {
			wantError(t, tg.post("/two-factor/verify-totp", `{"code":"`+wrong+`"}`, tfCookie), http.StatusUnauthorized, "INVALID_CODE")
		}
		w := tg.post("/two-factor/verify-totp", `{"code":"`+twofactor.Code([]byte(u.secret), now())+`"}`, tfCookie)
		wantError(t, w, http.StatusBadRequest, "TOO_MANY_ATTEMPTS_REQUEST_NEW_CODE")
		if !strings.Contains(setCookieLine(w, "two_factor"), "Max-Age=0") {
			t.Error("two_factor cookie not expired with the challenge")
		}
		w = tg.post("/two-factor/verify-totp", `{"code":"`+twofactor.Code([]byte(u.secret), now())+`"}`, tfCookie)
		wantError(t, w, http.StatusUnauthorized, "INVALID_TWO_FACTOR_COOKIE")
		// A new challenge works.
		tfCookie, _ = tg.challenge(u.email, "")
		if w := tg.post("/two-factor/verify-totp", `{"code":"`+twofactor.Code([]byte(u.secret), now())+`"}`, tfCookie); w.Code != http.StatusOK {
			t.Fatalf("fresh challenge: %d %s", w.Code, w.Body)
		}
	})
}

// wrongCode is a six-digit code that is not the secret's at any step of
// the window.
func wrongCode(secret string) string {
	key := []byte(secret)
	for _, c := range []string{"000000", "111111", "222222", "333333"} {
		if _, ok := twofactor.Verify(key, c, now()); !ok {
			return c
		}
	}
	panic("unreachable")
}

func TestTwoFactor_TenFailuresLockTheAccount(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		tg := newTwoFactorGate(t, dsn)
		u := tg.enrol("dee@example.com")
		wrong := wrongCode(u.secret)
		for i := 0; i < 10; i++ {
			tfCookie, _ := tg.challenge(u.email, "")
			wantError(t, tg.post("/two-factor/verify-totp", `{"code":"`+wrong+`"}`, tfCookie), http.StatusUnauthorized, "INVALID_CODE")
		}
		tfCookie, _ := tg.challenge(u.email, "")
		good := `{"code":"` + twofactor.Code([]byte(u.secret), now()) + `"}`
		wantError(t, tg.post("/two-factor/verify-totp", good, tfCookie), http.StatusTooManyRequests, "ACCOUNT_TEMPORARILY_LOCKED")
		wantError(t, tg.post("/two-factor/verify-backup-code", `{"code":"`+u.codes[0]+`"}`, tfCookie), http.StatusTooManyRequests, "ACCOUNT_TEMPORARILY_LOCKED")

		// Fifteen minutes later the lock is lifted (the challenge has
		// expired by then: a new one).
		defer func(old func() time.Time) { now = old }(now)
		later := time.Now().Add(15*time.Minute + time.Second)
		now = func() time.Time { return later }
		tfCookie, _ = tg.challenge(u.email, "")
		if w := tg.post("/two-factor/verify-totp", `{"code":"`+twofactor.Code([]byte(u.secret), now())+`"}`, tfCookie); w.Code != http.StatusOK {
			t.Fatalf("after the lock: %d %s", w.Code, w.Body)
		}
	})
}

func TestTwoFactor_HostileCookies(t *testing.T) {
	dsn := testsupport.SQLiteDSN(t)
	tg := newTwoFactorGate(t, dsn)
	a := tg.enrol("eve@example.com")
	b := tg.enrol("fay@example.com")
	good := func(u enrolled) string { return `{"code":"` + twofactor.Code([]byte(u.secret), now()) + `"}` }
	aCookie, _ := tg.challenge(a.email, "")
	aValue := strings.TrimPrefix(aCookie, "better-auth.two_factor=")
	id, _ := bacodec.Verify([][]byte{[]byte(testSecret)}, aValue)
	sessionToken := strings.TrimPrefix(b.cookie, "better-auth.session_token=")

	for _, tc := range []struct {
		name, cookie string
	}{
		{"none", ""},
		{"unsigned identifier", "better-auth.two_factor=" + id},
		{"signed with another secret", "better-auth.two_factor=" + bacodec.SignCookie([]byte("another-secret-another-secret-12"), id)},
		{"signature of another value", "better-auth.two_factor=" + bacodec.SignCookie([]byte(testSecret), id+"x")},
		{"a session token, validly signed", "better-auth.two_factor=" + sessionToken},
		{"the try counter's identifier", "better-auth.two_factor=" + bacodec.SignCookie([]byte(testSecret), "2fa-attempts-"+id)},
		{"unknown challenge", "better-auth.two_factor=" + bacodec.SignCookie([]byte(testSecret), "2fa-AAAAAAAAAAAAAAAAAAAA")},
		{"Secure name on a plain site", "__Secure-better-auth.two_factor=" + aValue},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, tg.post("/two-factor/verify-totp", good(a), tc.cookie), http.StatusUnauthorized, "INVALID_TWO_FACTOR_COOKIE")
		})
	}
	t.Run("another user's code", func(t *testing.T) {
		wantError(t, tg.post("/two-factor/verify-totp", good(b), aCookie), http.StatusUnauthorized, "INVALID_CODE")
	})
	t.Run("malformed codes", func(t *testing.T) {
		aCookie, _ = tg.challenge(a.email, "")
		for i, c := range []string{`""`, `"12345"`, `"1234567"`, `" 123456"`, `"abcdef"`, `"１２３４５６"`} {
			if i == 5 { // five tries per challenge
				aCookie, _ = tg.challenge(a.email, "")
			}
			wantError(t, tg.post("/two-factor/verify-totp", `{"code":`+c+`}`, aCookie), http.StatusUnauthorized, "INVALID_CODE")
		}
		// These used up five tries; a fresh challenge for the rest.
		aCookie, _ = tg.challenge(a.email, "")
		for _, body := range []string{`{"code":123456}`, `{}`, `{"code":null}`, `[]`, `{"code":"12345\u0000"}`} {
			if w := tg.post("/two-factor/verify-totp", body, aCookie); w.Code != http.StatusBadRequest {
				t.Errorf("%s: %d %s, want 400", body, w.Code, w.Body)
			}
		}
	})
	t.Run("expired", func(t *testing.T) {
		c, _ := tg.challenge(a.email, "")
		defer func(old func() time.Time) { now = old }(now)
		later := time.Now().Add(601 * time.Second)
		now = func() time.Time { return later }
		wantError(t, tg.post("/two-factor/verify-totp", `{"code":"`+twofactor.Code([]byte(a.secret), later)+`"}`, c), http.StatusUnauthorized, "INVALID_TWO_FACTOR_COOKIE")
	})
	t.Run("replayed after success", func(t *testing.T) {
		c, _ := tg.challenge(a.email, "")
		if w := tg.post("/two-factor/verify-backup-code", `{"code":"`+a.codes[0]+`"}`, c); w.Code != http.StatusOK {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
		wantError(t, tg.post("/two-factor/verify-totp", good(a), c), http.StatusUnauthorized, "INVALID_TWO_FACTOR_COOKIE")
		wantError(t, tg.post("/two-factor/verify-backup-code", `{"code":"`+a.codes[1]+`"}`, c), http.StatusUnauthorized, "INVALID_TWO_FACTOR_COOKIE")
	})
	t.Run("session endpoints refuse a challenge cookie", func(t *testing.T) {
		c, _ := tg.challenge(a.email, "")
		for _, p := range []string{"/two-factor/enable", "/two-factor/get-totp-uri", "/two-factor/generate-backup-codes", "/two-factor/disable"} {
			wantError(t, tg.post(p, `{"password":"`+tfPassword+`"}`, c), http.StatusUnauthorized, "UNAUTHORIZED")
		}
		if w := tg.do(req("GET", "/dashboard", "", "Cookie", c)); w.Code == http.StatusOK {
			t.Fatal("the gate let a challenge cookie through")
		}
	})
}

// Better Auth keeps no record of used TOTP steps: a code stays valid for its
// window (±1 step) and may be used again in it. So does ours, so that the
// servers agree; a challenge is single-use all the same.
func TestTwoFactor_SameStepTwiceAsBetterAuth(t *testing.T) {
	tg := newTwoFactorGate(t, testsupport.SQLiteDSN(t))
	u := tg.enrol("gus@example.com")
	code := `{"code":"` + twofactor.Code([]byte(u.secret), now()) + `"}`
	for i := 0; i < 2; i++ {
		c, _ := tg.challenge(u.email, "")
		if w := tg.post("/two-factor/verify-totp", code, c); w.Code != http.StatusOK {
			t.Fatalf("use %d: %d %s", i+1, w.Code, w.Body)
		}
	}
}

func TestTwoFactor_TrustDevice(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		tg := newTwoFactorGate(t, dsn)
		u := tg.enrol("hal@example.com")
		other := tg.enrol("ida@example.com")
		c, _ := tg.challenge(u.email, "")
		w := tg.post("/two-factor/verify-totp", `{"code":"`+twofactor.Code([]byte(u.secret), now())+`","trustDevice":true}`, c)
		line := setCookieLine(w, "trust_device")
		if w.Code != http.StatusOK || !strings.Contains(line, "; Max-Age=2592000; Path=/; HttpOnly; SameSite=Lax") {
			t.Fatalf("trust: %d %s %q", w.Code, w.Body, line)
		}
		trust := cookiePair(line)
		v, ok := bacodec.Verify([][]byte{[]byte(testSecret)}, strings.TrimPrefix(trust, "better-auth.trust_device="))
		if tok, id, _ := strings.Cut(v, "!"); !ok || tok != twofactor.TrustToken(testSecret, u.userID, id) || !strings.HasPrefix(id, "trust-device-") {
			t.Fatalf("trust_device value %q is not Better Auth's", v)
		}

		// The trusted device skips the step, and its trust is renewed.
		w = tg.post("/sign-in/email", `{"email":"`+u.email+`","password":"`+tfPassword+`"}`, trust)
		if w.Code != http.StatusOK || decodeJSON(t, w)["token"] == nil {
			t.Fatalf("trusted sign-in: %d %s", w.Code, w.Body)
		}
		renewed := cookiePair(setCookieLine(w, "trust_device"))
		if renewed == "" || renewed == trust {
			t.Fatalf("trust not renewed: %q", w.Header().Values("Set-Cookie"))
		}
		// The old one was rotated out; the renewed one works.
		_, w = tg.challengeWith(u.email, trust)
		if !strings.Contains(setCookieLine(w, "trust_device"), "Max-Age=0") {
			t.Error("a dead trust cookie is not expired")
		}
		w = tg.post("/sign-in/email", `{"email":"`+u.email+`","password":"`+tfPassword+`"}`, renewed)
		if decodeJSON(t, w)["token"] == nil {
			t.Fatalf("renewed trust: %s", w.Body)
		}
		// Another user's sign-in on that device still needs the code.
		tg.challengeWith(other.email, renewed)

		// Disabling two-factor forgets the device.
		w = tg.post("/two-factor/disable", `{"password":"`+tfPassword+`"}`, u.cookie+"; "+renewed)
		if w.Code != http.StatusOK || w.Body.String() != `{"status":true}` || !strings.Contains(setCookieLine(w, "trust_device"), "Max-Age=0") {
			t.Fatalf("disable: %d %s %q", w.Code, w.Body, w.Header().Values("Set-Cookie"))
		}
	})
}

// challengeWith is challenge with extra cookies.
func (tg *tfGate) challengeWith(email, cookies string) (string, *httptest.ResponseRecorder) {
	tg.t.Helper()
	w := tg.post("/sign-in/email", `{"email":"`+email+`","password":"`+tfPassword+`"}`, cookies)
	if w.Body.String() != `{"twoFactorRedirect":true,"twoFactorMethods":["totp"]}` {
		tg.t.Fatalf("sign-in with %s: %d %s", cookies, w.Code, w.Body)
	}
	return cookiePair(setCookieLine(w, "two_factor")), w
}

func TestTwoFactor_DontRememberCarriedThrough(t *testing.T) {
	tg := newTwoFactorGate(t, testsupport.SQLiteDSN(t))
	u := tg.enrol("jo@example.com")
	c, w := tg.challenge(u.email, `,"rememberMe":false`)
	dr := setCookieLine(w, "dont_remember")
	if dr == "" || strings.Contains(dr, "Max-Age=0") {
		t.Fatalf("dont_remember not kept through the challenge: %q", w.Header().Values("Set-Cookie"))
	}
	w = tg.post("/two-factor/verify-totp", `{"code":"`+twofactor.Code([]byte(u.secret), now())+`"}`, c+"; "+cookiePair(dr))
	if st := setCookieLine(w, "session_token"); w.Code != http.StatusOK || strings.Contains(st, "Max-Age") {
		t.Fatalf("session cookie after rememberMe=false: %d %q", w.Code, st)
	}
	// Without it, a remembered session.
	c, _ = tg.challenge(u.email, "")
	w = tg.post("/two-factor/verify-totp", `{"code":"`+twofactor.Code([]byte(u.secret), now())+`"}`, c)
	if st := setCookieLine(w, "session_token"); !strings.Contains(st, "Max-Age=") {
		t.Fatalf("remembered session cookie: %q", st)
	}
}

func TestTwoFactor_DisableEndsTheStep(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		tg := newTwoFactorGate(t, dsn)
		u := tg.enrol("kim@example.com")
		wantError(t, tg.post("/two-factor/disable", `{"password":"nope-nope-nope"}`, u.cookie), http.StatusBadRequest, "INVALID_PASSWORD")
		w := tg.post("/two-factor/disable", `{"password":"`+tfPassword+`"}`, u.cookie)
		if w.Code != http.StatusOK {
			t.Fatalf("disable: %d %s", w.Code, w.Body)
		}
		rotated := sessionCookieFrom(t, w)
		if w := tg.do(req("GET", "/auth/get-session", "", "Cookie", u.cookie)); w.Body.String() != "null" {
			t.Fatalf("old session after disable: %s", w.Body)
		}
		if w := tg.do(req("GET", "/dashboard", "", "Cookie", rotated)); w.Code != http.StatusOK {
			t.Fatalf("rotated session: %d", w.Code)
		}
		if _, in := tg.signIn(u.email, tfPassword); in["token"] == nil {
			t.Fatalf("sign-in after disable: %v", in)
		}
		wantError(t, tg.post("/two-factor/get-totp-uri", `{"password":"`+tfPassword+`"}`, rotated), http.StatusBadRequest, "TOTP_NOT_ENABLED")
	})
}

// SPEC §8: a database that has the plugin's schema holds its enrolled users
// to the second factor even when this gate does not configure two_factor.
func TestTwoFactor_SchemaPresentWithoutConfig(t *testing.T) {
	dsn := testsupport.SQLiteDSN(t)
	u := newTwoFactorGate(t, dsn).enrol("lee@example.com")
	plain := &tfGate{newTestGate(t, dsn, ""), dsn}
	c, _ := plain.challenge(u.email, "")
	if w := plain.post("/two-factor/verify-totp", `{"code":"`+twofactor.Code([]byte(u.secret), now())+`"}`, c); w.Code != http.StatusOK {
		t.Fatalf("verify on a gate without two_factor: %d %s", w.Code, w.Body)
	}
	// A database without the schema has no two-factor endpoints.
	fresh := &tfGate{newTestGate(t, testsupport.SQLiteDSN(t), ""), ""}
	if w := fresh.post("/two-factor/verify-totp", `{"code":"123456"}`, ""); w.Code != http.StatusNotFound {
		t.Fatalf("two-factor endpoint on a database without the schema: %d", w.Code)
	}
}

func TestTwoFactor_RateLimited(t *testing.T) {
	tg := newLimitedGate(t, testsupport.SQLiteDSN(t), "two_factor")
	for i := 1; i <= 4; i++ {
		w := tg.from("198.51.100.9", req("POST", "/auth/two-factor/verify-totp", `{"code":"123456"}`))
		if (w.Code == http.StatusTooManyRequests) != (i == 4) {
			t.Fatalf("request %d: %d %s", i, w.Code, w.Body)
		}
	}
	// Per path, as Better Auth keys it.
	if w := tg.from("198.51.100.9", req("POST", "/auth/two-factor/verify-backup-code", `{"code":"x"}`)); w.Code == http.StatusTooManyRequests {
		t.Fatal("another two-factor path shares the counter")
	}
}

// TestTwoFactor_LogsNoSecret drives every endpoint and checks the handler's
// log for the TOTP secret, codes, backup codes and cookie values.
func TestTwoFactor_LogsNoSecret(t *testing.T) {
	tg := newTwoFactorGate(t, testsupport.SQLiteDSN(t))
	var buf bytes.Buffer
	tg.g.logger = zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(&buf), zap.DebugLevel))
	secrets := map[string]string{}
	keep := func(what string, w *httptest.ResponseRecorder) {
		for _, sc := range w.Header().Values("Set-Cookie") {
			if v := strings.SplitN(strings.SplitN(sc, ";", 2)[0], "=", 2)[1]; len(v) > 6 {
				secrets[v] = what + " cookie"
				if dec, err := url.QueryUnescape(v); err == nil {
					secrets[dec] = what + " cookie, decoded"
				}
			}
		}
	}
	u := tg.enrol("max@example.com")
	secrets[u.secret] = "TOTP secret"
	for _, c := range u.codes {
		secrets[c] = "backup code"
	}
	c, w := tg.challenge(u.email, "")
	keep("challenge", w)
	wrong := wrongCode(u.secret)
	tg.post("/two-factor/verify-totp", `{"code":"`+wrong+`"}`, c)
	// The six-digit code itself is not looked for: timestamps hold as many digits.
	code := twofactor.Code([]byte(u.secret), now())
	w = tg.post("/two-factor/verify-totp", `{"code":"`+code+`","trustDevice":true}`, c)
	keep("verify", w)
	c, w = tg.challenge(u.email, "")
	keep("challenge", w)
	tg.post("/two-factor/verify-backup-code", `{"code":"`+u.codes[1]+`"}`, c)
	w = tg.post("/two-factor/generate-backup-codes", `{"password":"`+tfPassword+`"}`, u.cookie)
	for _, c := range decodeJSON(t, w)["backupCodes"].([]any) {
		secrets[c.(string)] = "new backup code"
	}
	tg.post("/two-factor/get-totp-uri", `{"password":"`+tfPassword+`"}`, u.cookie)
	logs := buf.String()
	for _, want := range []string{"two-factor-challenge", "two-factor-verify failed", u.userID} {
		if !strings.Contains(logs, want) {
			t.Fatalf("the log lacks %q: not the handler's log?\n%s", want, logs)
		}
	}
	for s, what := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("the log contains the %s %q", what, s)
		}
	}
}

func TestTwoFactor_Caddyfile(t *testing.T) {
	for _, tc := range []struct {
		block  string
		issuer string
		err    bool
	}{
		{"two_factor", "", false},
		{"two_factor {\n}", "", false},
		{"two_factor {\n\tissuer \"Acme Inc\"\n}", "Acme Inc", false},
		{"two_factor on", "", true},
		{"two_factor {\n\tissuer\n}", "", true},
		{"two_factor {\n\tissuer a b\n}", "", true},
		{"two_factor {\n\tperiod 60\n}", "", true},
	} {
		d := caddyfile.NewTestDispenser("auth_gate {\n" + tc.block + "\n}")
		g := new(Gate)
		err := g.UnmarshalCaddyfile(d)
		if (err != nil) != tc.err {
			t.Errorf("%q: err %v, want error %v", tc.block, err, tc.err)
			continue
		}
		if err == nil && (g.TwoFactor == nil || g.TwoFactor.Issuer != tc.issuer) {
			t.Errorf("%q: TwoFactor %+v, want issuer %q", tc.block, g.TwoFactor, tc.issuer)
		}
	}
	b, _ := json.Marshal(&Gate{TwoFactor: &TwoFactor{Issuer: "Acme"}})
	if !strings.Contains(string(b), `"two_factor":{"issuer":"Acme"}`) {
		t.Errorf("JSON config %s", b)
	}
}

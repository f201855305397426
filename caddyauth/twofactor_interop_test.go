package caddyauth

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/authgate/authgate/caddyauth/internal/twofactor"
	"github.com/authgate/authgate/internal/testsupport"
)

// baClient speaks to a real Better Auth server the way a browser would,
// cookies carried by hand.
type baClient struct {
	t   *testing.T
	url string
}

func (c baClient) post(path, body, cookies string) (int, string, http.Header) {
	c.t.Helper()
	r, err := http.NewRequest("POST", c.url+"/auth"+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Origin", c.url)
	if cookies != "" {
		r.Header.Set("Cookie", cookies)
	}
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b), res.Header
}

func headerCookie(h http.Header, base string) string {
	for _, sc := range h.Values("Set-Cookie") {
		if strings.HasPrefix(sc, "better-auth."+base+"=") && !strings.Contains(sc, "Max-Age=0") {
			return cookiePair(sc)
		}
	}
	return ""
}

// TestTwoFactor_InteropWithBetterAuth runs Better Auth 1.7.25 with its
// twoFactor plugin on the database our two_factor config laid out (no
// Better Auth migrate: its schema check is a test of our DDL), and moves
// users, codes and even a half-done sign-in between the two servers.
func TestTwoFactor_InteropWithBetterAuth(t *testing.T) {
	dsn := testsupport.PostgresDSN(t)
	tg := newTwoFactorGate(t, dsn)
	ba := baClient{t, ""}
	srv := testsupport.StartBetterAuth(t, testsupport.BetterAuth{
		DatabaseURL: dsn,
		Secret:      testSecret,
		Plugins:     map[string]any{"twoFactor": map[string]any{"issuer": "Acme Inc"}},
	})
	ba.url = srv.URL
	db := testsupport.OpenDB(t, dsn)

	t.Run("enrolled at Better Auth, signs in here", func(t *testing.T) {
		st, body, h := ba.post("/sign-up/email", `{"name":"Ann","email":"ann@example.com","password":"`+tfPassword+`"}`, "")
		if st != 200 {
			t.Fatalf("BA sign-up: %d %s\n%s", st, body, srv.Logs())
		}
		session := headerCookie(h, "session_token")
		st, body, _ = ba.post("/two-factor/enable", `{"password":"`+tfPassword+`"}`, session)
		if st != 200 {
			t.Fatalf("BA enable: %d %s\n%s", st, body, srv.Logs())
		}
		var en struct {
			TOTPURI     string `json:"totpURI"`
			BackupCodes []string
		}
		_ = json.Unmarshal([]byte(body), &en)
		secret := secretFromURI(t, en.TOTPURI)
		st, body, _ = ba.post("/two-factor/verify-totp", `{"code":"`+twofactor.Code([]byte(secret), now())+`"}`, session)
		if st != 200 {
			t.Fatalf("BA verify: %d %s", st, body)
		}
		// The stored secret, decrypted here, is the one Better Auth showed.
		var stored string
		if err := db.Get(&stored, `SELECT t."secret" FROM "twoFactor" t JOIN "user" u ON u."id" = t."userId" WHERE u."email" = 'ann@example.com'`); err != nil {
			t.Fatal(err)
		}
		plain, err := twofactor.Decrypt([]string{testSecret}, stored)
		if err != nil || plain != secret {
			t.Fatalf("decrypting Better Auth's secret: %q, %v; want %q", plain, err, secret)
		}

		c, _ := tg.challenge("ann@example.com", "")
		if w := tg.post("/two-factor/verify-totp", `{"code":"`+twofactor.Code([]byte(plain), now())+`"}`, c); w.Code != 200 {
			t.Fatalf("TOTP here: %d %s", w.Code, w.Body)
		}
		c, _ = tg.challenge("ann@example.com", "")
		if w := tg.post("/two-factor/verify-backup-code", `{"code":"`+en.BackupCodes[2]+`"}`, c); w.Code != 200 {
			t.Fatalf("Better Auth's backup code here: %d %s", w.Code, w.Body)
		}
		// Spent here, refused there too.
		st, body, h = ba.post("/sign-in/email", `{"email":"ann@example.com","password":"`+tfPassword+`"}`, "")
		if st != 200 || !strings.Contains(body, `"twoFactorRedirect":true`) {
			t.Fatalf("BA sign-in: %d %s", st, body)
		}
		st, body, _ = ba.post("/two-factor/verify-backup-code", `{"code":"`+en.BackupCodes[2]+`"}`, headerCookie(h, "two_factor"))
		if st != 401 || !strings.Contains(body, "INVALID_BACKUP_CODE") {
			t.Fatalf("a backup code spent here, at Better Auth: %d %s", st, body)
		}
	})

	t.Run("enrolled here, held to two-factor by Better Auth", func(t *testing.T) {
		u := tg.enrol("bea@example.com")
		st, body, h := ba.post("/sign-in/email", `{"email":"bea@example.com","password":"`+tfPassword+`"}`, "")
		if st != 200 || body != `{"twoFactorRedirect":true,"twoFactorMethods":["totp"]}` {
			t.Fatalf("BA sign-in of a user enrolled here: %d %s", st, body)
		}
		if headerCookie(h, "session_token") != "" {
			t.Fatal("Better Auth gave a session on the password alone")
		}
		st, body, h = ba.post("/two-factor/verify-totp", `{"code":"`+twofactor.Code([]byte(u.secret), now())+`"}`, headerCookie(h, "two_factor"))
		if st != 200 || headerCookie(h, "session_token") == "" {
			t.Fatalf("BA verify-totp with our secret: %d %s\n%s", st, body, srv.Logs())
		}
		_, _, h = ba.post("/sign-in/email", `{"email":"bea@example.com","password":"`+tfPassword+`"}`, "")
		st, body, _ = ba.post("/two-factor/verify-backup-code", `{"code":"`+u.codes[0]+`"}`, headerCookie(h, "two_factor"))
		if st != 200 {
			t.Fatalf("BA with our backup code: %d %s", st, body)
		}
		c, _ := tg.challenge(u.email, "")
		wantError(t, tg.post("/two-factor/verify-backup-code", `{"code":"`+u.codes[0]+`"}`, c), 401, "INVALID_BACKUP_CODE")
	})

	t.Run("a sign-in begun here is finished at Better Auth, and back", func(t *testing.T) {
		u := tg.enrol("cal@example.com")
		c, _ := tg.challenge(u.email, "")
		st, body, h := ba.post("/two-factor/verify-totp", `{"code":"`+twofactor.Code([]byte(u.secret), now())+`","trustDevice":true}`, c)
		if st != 200 || headerCookie(h, "session_token") == "" {
			t.Fatalf("BA finishing our challenge: %d %s", st, body)
		}
		trust := headerCookie(h, "trust_device")
		// Better Auth's trusted device is trusted here.
		w := tg.post("/sign-in/email", `{"email":"cal@example.com","password":"`+tfPassword+`"}`, trust)
		if w.Code != 200 || decodeJSON(t, w)["token"] == nil {
			t.Fatalf("sign-in here with Better Auth's trust cookie: %d %s", w.Code, w.Body)
		}
		_, _, h = ba.post("/sign-in/email", `{"email":"cal@example.com","password":"`+tfPassword+`"}`, "")
		w = tg.post("/two-factor/verify-totp", `{"code":"`+twofactor.Code([]byte(u.secret), now())+`"}`, headerCookie(h, "two_factor"))
		if w.Code != 200 {
			t.Fatalf("finishing Better Auth's challenge here: %d %s", w.Code, w.Body)
		}
	})
}

package main

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base32"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/testsupport"
	"github.com/authgate/authgate/internal/testsupport/fakeidp"
)

// totpNow is the code an authenticator app shows for an otpauth:// URI now.
func totpNow(t *testing.T, otpauth string) string {
	t.Helper()
	u, err := url.Parse(otpauth)
	if err != nil {
		t.Fatal(err)
	}
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(u.Query().Get("secret")))
	if err != nil {
		t.Fatalf("otpauth secret: %v", err)
	}
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(time.Now().Unix()/30))
	m := hmac.New(sha1.New, key)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	code := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	return fmt.Sprintf("%06d", code%1_000_000)
}

// TestPgBouncer_EverythingThroughThePooler is SPEC §13's deployment with
// every feature on: two instances reach the database only through a
// transaction-mode PgBouncer, notices come over a direct connection, rate
// limits live in the database. Password sign-up and sign-in, the gate,
// roles and require rules, an admin's ban, two-factor enrolment and sign-in,
// the signed assertion and social sign-in all work across the two
// instances, and every change reaches the other instance within a second.
func TestPgBouncer_EverythingThroughThePooler(t *testing.T) {
	pooled, direct := testsupport.PgBouncerDSN(t)
	idp := fakeidp.Start(t, fakeidp.UsersFromLoginHint())
	up := testsupport.NewUpstream(t)
	extra := strings.Join([]string{
		"session_cache 1m",
		"notify_database " + direct,
		"rate_limit {\n\t\t\tstorage database\n\t\t\trule /sign-in/* 10s 50\n\t\t\trule /sign-up/* 10s 50\n\t\t\trule /two-factor/* 10s 50\n\t\t}",
		"two_factor {\n\t\t\tissuer Pooler\n\t\t}",
		"admin on",
		"assertion",
		"require /admin /admin/* role admin",
		"oidc corp {\n\t\t\tissuer " + idp.URL + "\n\t\t\tclient_id " + idp.ClientID + "\n\t\t\tclient_secret " + idp.ClientSecret + "\n\t\t}",
	}, "\n\t\t")
	siteA := testsupport.StartCaddy(t, gatedSite(pooled, up.HostPort(), extra))
	siteB := testsupport.StartCaddy(t, gatedSite(pooled, up.HostPort(), extra))
	idp.AllowRedirectURI(siteA.BaseURL + "/auth/callback/corp")
	idp.AllowRedirectURI(siteB.BaseURL + "/auth/callback/corp")
	waitListeners(t, direct, 2)
	db := testsupport.OpenDB(t, direct)
	logs := func() string { return "--- A ---\n" + siteA.Logs() + "\n--- B ---\n" + siteB.Logs() }

	// Password sign-up on A; the session works on B.
	alice, body := signUpClient(t, siteA.BaseURL, "alice@example.com")
	var signUp struct{ User struct{ ID string } }
	_ = json.Unmarshal([]byte(body), &signUp)
	// Cookies are per host, not port: the same jar carries her session to B.
	aliceOnB := &client{t: t, http: alice.http, base: siteB.BaseURL}
	if code := gateCode(aliceOnB, "/app"); code != 200 {
		t.Fatalf("alice's session on B: %d\n%s", code, logs())
	}

	// A role granted by SQL reaches B's require rule within a second.
	if code := gateCode(aliceOnB, "/admin"); code != 403 {
		t.Fatalf("/admin before the role: %d, want 403", code)
	}
	if _, err := db.Exec(`UPDATE "user" SET "role" = 'admin' WHERE "id" = $1`, signUp.User.ID); err != nil {
		t.Fatal(err)
	}
	within(t, time.Second, func() bool { return gateCode(aliceOnB, "/admin") == 200 },
		"B still refuses /admin after the role was granted")
	if got := up.Last().Header.Get("X-User-Role"); got != "admin" {
		t.Errorf("X-User-Role %q", got)
	}

	// The assertion B sends verifies against A's JWKS: one key set, shared.
	_, claims := verifyEd25519(t, up.Last().Header.Get("X-Auth-Assertion"), jwksOf(t, newClient(t, siteA.BaseURL)))
	if claims["sub"] != signUp.User.ID || claims["role"] != "admin" {
		t.Errorf("assertion claims %v", claims)
	}

	// An admin on A bans Bob, signed in on B: B refuses him within a second.
	bob, body := signUpClient(t, siteB.BaseURL, "bob@example.com")
	var bobUp struct{ User struct{ ID string } }
	_ = json.Unmarshal([]byte(body), &bobUp)
	if code := gateCode(bob, "/app"); code != 200 {
		t.Fatalf("bob on B: %d", code)
	}
	if resp, body := alice.do("POST", "/auth/admin/ban-user", `{"userId":"`+bobUp.User.ID+`"}`, "Origin", siteA.BaseURL); resp.StatusCode != 200 {
		t.Fatalf("ban-user on A: %d %s", resp.StatusCode, body)
	}
	within(t, time.Second, func() bool { return gateCode(bob, "/app") == 401 }, "B still lets the banned user in")

	// Alice enrols in two-factor on A, then signs in on B with a code.
	resp, body := alice.do("POST", "/auth/two-factor/enable", `{"password":"password123"}`, "Origin", siteA.BaseURL)
	var enable struct {
		TotpURI     string `json:"totpURI"`
		BackupCodes []string
	}
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &enable) != nil || enable.TotpURI == "" {
		t.Fatalf("two-factor/enable on A: %d %s", resp.StatusCode, body)
	}
	if resp, body := alice.do("POST", "/auth/two-factor/verify-totp", `{"code":"`+totpNow(t, enable.TotpURI)+`"}`, "Origin", siteA.BaseURL); resp.StatusCode != 200 {
		t.Fatalf("two-factor/verify-totp (enrolment) on A: %d %s", resp.StatusCode, body)
	}
	phone := newClient(t, siteB.BaseURL)
	resp, body = phone.do("POST", "/auth/sign-in/email", `{"email":"alice@example.com","password":"password123"}`, "Origin", siteB.BaseURL)
	if resp.StatusCode != 200 || !strings.Contains(body, `"twoFactorRedirect":true`) {
		t.Fatalf("password sign-in of an enrolled user on B: %d %s", resp.StatusCode, body)
	}
	if code := gateCode(phone, "/app"); code != 401 {
		t.Fatalf("after the password alone the gate answered %d, want 401", code)
	}
	if resp, body := phone.do("POST", "/auth/two-factor/verify-totp", `{"code":"`+totpNow(t, enable.TotpURI)+`"}`, "Origin", siteB.BaseURL); resp.StatusCode != 200 {
		t.Fatalf("two-factor/verify-totp on B: %d %s\n%s", resp.StatusCode, body, logs())
	}
	if code := gateCode(phone, "/admin"); code != 200 {
		t.Fatalf("after the code, /admin on B: %d", code)
	}

	// Social sign-up on B, then sign-in through the provider on A: one user.
	for _, base := range []string{siteB.BaseURL, siteA.BaseURL} {
		if ok, err := socialSignIn(base, "carol@example.com"); err != nil || !ok {
			t.Fatalf("social sign-in on %s: %v %v\n%s", base, ok, err, logs())
		}
	}
	var carols int
	if err := db.Get(&carols, `SELECT count(*) FROM "user" u JOIN "account" a ON a."userId" = u."id" AND a."providerId" = 'corp' WHERE u."email" = 'carol@example.com'`); err != nil || carols != 1 {
		t.Errorf("carol: %d user+account rows (%v)", carols, err)
	}

	// Rate-limit counters went to the database through the pooler.
	var counters int
	if err := db.Get(&counters, `SELECT count(*) FROM auth_gate.auth_gate_rate_limit`); err != nil || counters == 0 {
		t.Errorf("%d rate-limit counters in the database (%v)", counters, err)
	}
	for _, site := range []*testsupport.Caddy{siteA, siteB} {
		if strings.Contains(site.Logs(), "revocation notices") || strings.Contains(site.Logs(), "panic") {
			t.Errorf("an instance warned or panicked:\n%s", site.Logs())
		}
	}
}

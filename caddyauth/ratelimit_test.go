package caddyauth

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/authgate/authgate/internal/testsupport"
)

// newLimitedGate is newTestGate without its default `rate_limit off`: block
// configures rate limiting (or leaves the defaults).
func newLimitedGate(t *testing.T, dsn, block string) *testGate {
	t.Helper()
	g, err := provisionFromCaddyfile(t, "database "+dsn+"\nsecret "+testSecret+"\n"+withSiteBaseURL(block))
	if err != nil {
		t.Fatalf("provision: %v", err)
	}
	return &testGate{t: t, g: g, next: &recordingNext{}}
}

// from serves r as if Caddy had determined ip as the client IP (what
// trusted_proxies and client_ip_headers decide; see cmd/caddy for that).
func (tg *testGate) from(ip string, r *http.Request) *httptest.ResponseRecorder {
	tg.t.Helper()
	ctx := context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer())
	ctx = context.WithValue(ctx, caddyhttp.VarsCtxKey, map[string]any{caddyhttp.ClientIPVarKey: ip})
	w := httptest.NewRecorder()
	if err := tg.g.ServeHTTP(w, r.WithContext(ctx), tg.next); err != nil {
		tg.t.Fatalf("ServeHTTP returned %v", err)
	}
	return w
}

func signInReq(email string) *http.Request {
	return req("POST", "/auth/sign-in/email", `{"email":"`+email+`","password":"wrong-password"}`)
}

// want429 checks Better Auth's rate-limit answer, byte for byte.
func want429(t *testing.T, w *httptest.ResponseRecorder, retryAfter string) {
	t.Helper()
	if w.Code != http.StatusTooManyRequests {
		t.Fatalf("status %d, want 429; body %s", w.Code, w.Body)
	}
	if got := w.Body.String(); got != `{"message":"Too many requests. Please try again later."}` {
		t.Errorf("body %s", got)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if got := w.Header().Get("X-Retry-After"); got != retryAfter {
		t.Errorf("X-Retry-After %q, want %q", got, retryAfter)
	}
	if got := w.Header().Get("Retry-After"); got != retryAfter {
		t.Errorf("Retry-After %q, want %q", got, retryAfter)
	}
}

func TestRateLimit_FourthSignInWithinTenSecondsGets429(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		for _, storage := range []string{"memory", "database"} {
			t.Run(storage, func(t *testing.T) {
				tg := newLimitedGate(t, dsn, "rate_limit {\n storage "+storage+"\n}")
				t0 := time.Now().Truncate(time.Second)
				setNow(t, t0)
				// Different emails, so that only the per-IP limit is at work.
				for i := range 3 {
					if w := tg.from("203.0.113.7", signInReq(fmt.Sprintf("u%d-%s@example.com", i, storage))); w.Code != 401 {
						t.Fatalf("sign-in %d: %d %s", i+1, w.Code, w.Body)
					}
				}
				want429(t, tg.from("203.0.113.7", signInReq("u3@example.com")), "10")

				// Another client is not affected, nor is another endpoint.
				if w := tg.from("198.51.100.1", signInReq("u4@example.com")); w.Code != 401 {
					t.Fatalf("other IP: %d %s", w.Code, w.Body)
				}
				if w := tg.from("203.0.113.7", req("GET", "/auth/get-session", "")); w.Code != 200 {
					t.Fatalf("get-session: %d %s", w.Code, w.Body)
				}

				// The wait counts from the last allowed request, rounded up.
				setNow(t, t0.Add(2500*time.Millisecond))
				want429(t, tg.from("203.0.113.7", signInReq("u5@example.com")), "8")
				setNow(t, t0.Add(10*time.Second))
				if w := tg.from("203.0.113.7", signInReq("u6@example.com")); w.Code != 401 {
					t.Fatalf("after the window: %d %s", w.Code, w.Body)
				}
				if tg.next.calls != 0 {
					t.Errorf("API requests reached the next handler")
				}
			})
		}
	})
}

func TestRateLimit_NobodyCanLockAUserOut(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		for _, storage := range []string{"memory", "database"} {
			t.Run(storage, func(t *testing.T) {
				tg := newLimitedGate(t, dsn, "rate_limit {\n storage "+storage+"\n}")
				victim := "victim-" + storage + "@example.com"
				tg.signUp("Victim", victim, "password123")
				setNow(t, time.Now())
				right := func() *http.Request {
					return req("POST", "/auth/sign-in/email", `{"email":"`+victim+`","password":"password123"}`)
				}
				// The attacker's own address is limited...
				for i := range 3 {
					if w := tg.from("192.0.2.1", signInReq(victim)); w.Code != 401 {
						t.Fatalf("attempt %d: %d %s", i+1, w.Code, w.Body)
					}
				}
				want429(t, tg.from("192.0.2.1", signInReq(victim)), "10")
				// ...and so are others of its /64, the attacker's own.
				for i := range 3 {
					if w := tg.from("2001:db8:1:2::1", signInReq(victim)); w.Code != 401 {
						t.Fatalf("IPv6 attempt %d: %d %s", i+1, w.Code, w.Body)
					}
				}
				want429(t, tg.from("2001:db8:1:2:ffff::9", right()), "10")
				// Wrong passwords from many addresses, one each.
				for i := range 5 {
					if w := tg.from(fmt.Sprintf("192.0.2.%d", 10+i), signInReq(" Victim-"+storage+"@Example.COM")); w.Code != 401 {
						t.Fatalf("attempt from client %d: %d %s", i, w.Code, w.Body)
					}
				}
				// The owner, from anywhere else, is not locked out.
				for _, ip := range []string{"198.51.100.7", "2001:db8:1:3::1"} {
					if w := tg.from(ip, right()); w.Code != 200 {
						t.Fatalf("the owner's right password from %s: %d %s", ip, w.Code, w.Body)
					}
				}
			})
		}
	})
}

// signInLimit runs the per-email limit of sign-in for a request from ip,
// then settles it with outcome, and tells whether it was allowed.
func signInLimit(t *testing.T, g *Gate, ip, email string, outcome *apiError) bool {
	t.Helper()
	r := req("POST", "/auth/sign-in/email", "")
	r = r.WithContext(context.WithValue(r.Context(), caddyhttp.VarsCtxKey, map[string]any{caddyhttp.ClientIPVarKey: ip}))
	d, settle := g.limitSignIn(r, email)
	if !d.Allowed {
		return false
	}
	settle(outcome)
	return true
}

func TestRateLimit_PerEmailLimitCountsFailuresPerClient(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		for _, storage := range []string{"memory", "database"} {
			t.Run(storage, func(t *testing.T) {
				g := newLimitedGate(t, dsn, "rate_limit {\n storage "+storage+"\n}").g
				setNow(t, time.Now())
				email := "target-" + storage + "@example.com"
				// Successes, and refusals that say nothing about the password
				// being wrong, are not counted.
				for i, outcome := range []*apiError{nil, nil, nil, errEmailNotVerified, errHashingBusy, errStoreUnavailable, errPasswordTooLong, nil} {
					if !signInLimit(t, g, "203.0.113.7", email, outcome) {
						t.Fatalf("attempt %d (after %v) was limited", i+1, outcome)
					}
				}
				for i := range 3 {
					if !signInLimit(t, g, "203.0.113.7", email, errInvalidEmailOrPassword) {
						t.Fatalf("failure %d was limited", i+1)
					}
				}
				for _, c := range []struct {
					ip, email string
					allowed   bool
				}{
					{"203.0.113.7", email, false},
					{"::ffff:203.0.113.7", email, false},
					{"203.0.113.8", email, true},
					{"203.0.113.7", "other-" + email, true},
				} {
					if got := signInLimit(t, g, c.ip, c.email, nil); got != c.allowed {
						t.Errorf("%s for %s: allowed %v, want %v", c.ip, c.email, got, c.allowed)
					}
				}
				// IPv6 clients count by /64.
				for range 3 {
					signInLimit(t, g, "2001:db8::1", email, errInvalidEmailOrPassword)
				}
				if signInLimit(t, g, "2001:db8::ffff:1", email, nil) {
					t.Error("another address of the /64 was not limited")
				}
				if !signInLimit(t, g, "2001:db8:0:1::1", email, nil) {
					t.Error("another /64 was limited")
				}
			})
		}
	})
}

func TestRateLimit_OffDisablesIt(t *testing.T) {
	tg := newLimitedGate(t, testsupport.SQLiteDSN(t), "rate_limit off")
	for i := range 10 {
		if w := tg.from("203.0.113.7", req("POST", "/auth/sign-in/email", `{}`)); w.Code != 400 {
			t.Fatalf("request %d: %d %s", i+1, w.Code, w.Body)
		}
	}
}

func TestRateLimit_RulesOverrideDefaults(t *testing.T) {
	tg := newLimitedGate(t, testsupport.SQLiteDSN(t), `rate_limit {
		window 1m
		max 2
		rule /sign-in/* 30s 5
		rule /ok 10s 0
	}`)
	setNow(t, time.Now())
	for i := range 5 {
		if w := tg.from("203.0.113.7", req("POST", "/auth/sign-in/email", `{}`)); w.Code != 400 {
			t.Fatalf("sign-in %d: %d %s", i+1, w.Code, w.Body)
		}
	}
	want429(t, tg.from("203.0.113.7", req("POST", "/auth/sign-in/email", `{}`)), "30")
	// max 0: no limit.
	for i := range 20 {
		if w := tg.from("203.0.113.7", req("GET", "/auth/ok", "")); w.Code != 200 {
			t.Fatalf("ok %d: %d", i+1, w.Code)
		}
	}
	// The general limit, configured; the defaults still apply elsewhere.
	for range 2 {
		if w := tg.from("203.0.113.7", req("GET", "/auth/get-session", "")); w.Code != 200 {
			t.Fatalf("get-session: %d", w.Code)
		}
	}
	want429(t, tg.from("203.0.113.7", req("GET", "/auth/get-session", "")), "60")
	for range 3 {
		tg.from("203.0.113.7", req("POST", "/auth/sign-up/email", `{}`))
	}
	want429(t, tg.from("203.0.113.7", req("POST", "/auth/sign-up/email", `{}`)), "10")
}

func TestRateLimit_CountsUnknownPathsInOneBucketBeforeRouting(t *testing.T) {
	tg := newLimitedGate(t, testsupport.SQLiteDSN(t), "rate_limit {\n max 3\n}")
	setNow(t, time.Now())
	for i := range 3 {
		if w := tg.from("203.0.113.7", req("GET", fmt.Sprintf("/auth/nothing-%d", i), "")); w.Code != 404 {
			t.Fatalf("unknown path %d: %d", i, w.Code)
		}
	}
	// Better Auth limits before routing: the over-limit client gets 429
	// even where it would get 404.
	want429(t, tg.from("203.0.113.7", req("GET", "/auth/nothing-else", "")), "10")
	if w := tg.from("203.0.113.7", req("GET", "/auth/ok", "")); w.Code != 200 {
		t.Fatalf("a route has its own counter: %d", w.Code)
	}
}

func TestRateLimit_FailsOpenToMemoryWhenTheDatabaseIsDown(t *testing.T) {
	// Provisioned but not started: nothing listens on port 1.
	g := new(Gate)
	g.Database = "postgres://postgres@127.0.0.1:1/x?sslmode=disable&connect_timeout=2"
	g.Secret = []string{testSecret}
	g.RateLimit = &RateLimit{Storage: "database", Rules: []RateLimitRule{{Path: "/ok", Window: caddy.Duration(10 * time.Second), Max: 2}}}
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	ctx, err := caddy.ProvisionContext(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Cleanup() })
	if err := g.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	tg := &testGate{t: t, g: g, next: &recordingNext{}}
	setNow(t, time.Now())
	for i := range 2 {
		if w := tg.from("203.0.113.7", req("GET", "/auth/ok", "")); w.Code != 200 {
			t.Fatalf("ok %d with the database down: %d %s", i+1, w.Code, w.Body)
		}
	}
	want429(t, tg.from("203.0.113.7", req("GET", "/auth/ok", "")), "10")
	// Endpoints that need the database answer 503 as before.
	if w := tg.from("198.51.100.1", signInReq("a@example.com")); w.Code != 503 {
		t.Fatalf("sign-in with the database down: %d %s", w.Code, w.Body)
	}
}

func TestRateLimit_ProvisionRejectsBadSettings(t *testing.T) {
	sqlite := testsupport.SQLiteDSN(t)
	for _, setting := range []string{"rule sign-in 10s 3", "rule /auth/sign-in/* 10s 3", "rule /x[ 10s 3", "rule /x 0s 3", "rule /x 10s -1", "storage redis"} {
		t.Run(setting, func(t *testing.T) {
			_, err := provisionFromCaddyfile(t, "database "+sqlite+"\nsecret "+testSecret+"\nrate_limit {\n "+setting+"\n}")
			if err == nil || !strings.HasPrefix(err.Error(), "rate_limit: ") {
				t.Fatalf("error %v does not name rate_limit", err)
			}
		})
	}
}

func TestRateLimit_JSONStorageIsCheckedInProvision(t *testing.T) {
	g := new(Gate)
	g.Database = testsupport.SQLiteDSN(t)
	g.Secret = []string{testSecret}
	g.RateLimit = &RateLimit{Storage: "Memory"}
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	ctx, err := caddy.ProvisionContext(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Cleanup() })
	if err := g.Provision(ctx); err == nil || err.Error() != `rate_limit: storage must be memory or database, got "Memory"` {
		t.Fatalf("Provision = %v", err)
	}
}

func TestEmailDigest_KeepsTheAddressOutOfTheLimitersKeys(t *testing.T) {
	g := &Gate{cfg: config{keys: [][]byte{[]byte(testSecret)}}}
	other := &Gate{cfg: config{keys: [][]byte{[]byte(testSecret + "x")}}}
	d := g.emailDigest("target@example.com")
	for _, c := range []struct {
		name string
		ok   bool
	}{
		{"the same address, the same digest", g.emailDigest("target@example.com") == d},
		{"another address, another digest", g.emailDigest("other@example.com") != d},
		{"another key, another digest", other.emailDigest("target@example.com") != d},
		{"no part of the address", !strings.Contains(strings.ToLower(d), "target") && !strings.Contains(d, "example")},
		{"key-safe characters", !strings.ContainsAny(d, "|?\x00") && len(d) == 24},
	} {
		if !c.ok {
			t.Errorf("%s: digest %q", c.name, d)
		}
	}
}

func TestRateLimit_BearerTokenMissesAreLimitedPerClient(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		tg := newLimitedGate(t, dsn, "bearer\npublic /public/*")
		w := tg.do(req("POST", "/auth/sign-up/email", `{"name":"A","email":"a@example.com","password":"password123"}`))
		token, signed, cookie := decodeJSON(t, w)["token"].(string), w.Header().Get("Set-Auth-Token"), sessionCookieFrom(t, w)
		t0 := time.Now()
		setNow(t, t0)
		const attacker = "2001:db8:bad::1"
		madeUp := func(i int) string { return "Bearer " + fmt.Sprintf("madeUp%026d", i) }
		const tokenMissMax = 20 // the limiter's
		for i := range tokenMissMax {
			if w := tg.from(attacker, req("GET", "/app", "", "Authorization", madeUp(i))); w.Code != 401 {
				t.Fatalf("made-up token %d: %d %s", i+1, w.Code, w.Body)
			}
		}
		// Past the limit, made-up tokens cost no query and reach nothing,
		// not even a public path.
		queries := counterDelta(cacheMisses)
		want429(t, tg.from(attacker, req("GET", "/app", "", "Authorization", madeUp(1001))), "10")
		want429(t, tg.from("2001:db8:bad::2", req("GET", "/public/x", "", "Authorization", madeUp(1002))), "10")
		if queries() != 0 || tg.next.calls != 0 {
			t.Fatalf("refused tokens cost %v lookups and reached the app %d times", queries(), tg.next.calls)
		}
		// Credentials nobody can make up without the secret are still
		// looked up, from the same client: a signed-in user is not affected.
		for name, h := range map[string][]string{
			"cookie":        {"Cookie", cookie},
			"signed bearer": {"Authorization", "Bearer " + signed},
		} {
			if w := tg.from(attacker, req("GET", "/app", "", h...)); w.Code != 200 {
				t.Errorf("%s from the limited client: %d %s", name, w.Code, w.Body)
			}
		}
		// Nor is a raw token from another client, and once the session is
		// known (session_cache), not even from the limited one.
		for _, ip := range []string{"2001:db8:600d::1", attacker} {
			if w := tg.from(ip, req("GET", "/app", "", "Authorization", "Bearer "+token)); w.Code != 200 {
				t.Errorf("raw token from %s: %d %s", ip, w.Code, w.Body)
			}
		}
		// Other clients' made-up tokens are looked up and refused as before.
		if w := tg.from("198.51.100.1", req("GET", "/app", "", "Authorization", madeUp(1003))); w.Code != 401 {
			t.Errorf("made-up token from another client: %d %s", w.Code, w.Body)
		}
		// After the window, lookups resume.
		setNow(t, t0.Add(10*time.Second))
		if w := tg.from(attacker, req("GET", "/app", "", "Authorization", madeUp(1004))); w.Code != 401 {
			t.Errorf("made-up token after the window: %d %s", w.Code, w.Body)
		}
	})
}

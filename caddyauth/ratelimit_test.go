package caddyauth

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/authgate/authgate/internal/testsupport"
	"github.com/authgate/authgate/store"
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
	w := httptest.NewRecorder()
	ok, settle := g.allowSignInEmail(w, r, email)
	if !ok {
		want429(t, w, w.Header().Get("X-Retry-After"))
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
				// No email address is kept as a key (the database store is
				// given the same keys).
				if storage == "memory" {
					if len(g.limiter.local.entries) == 0 {
						t.Fatal("no keys")
					}
					for k := range g.limiter.local.entries {
						if strings.Contains(strings.ToLower(k), "target") {
							t.Errorf("key %q holds the address", k)
						}
					}
				}
			})
		}
	})
}

func TestRateLimit_DatabaseStorageIsSharedByInstances(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		block := "rate_limit {\n storage database\n}"
		a, b := newLimitedGate(t, dsn, block), newLimitedGate(t, dsn, block)
		// Two handlers of one process share a pool; an instance of its own
		// is a second pool on the same database, here opened directly.
		other, err := acquireIsolated(t, dsn)
		if err != nil {
			t.Fatal(err)
		}
		b.g.limiter.store.(*dbLimitStore).h = other
		for i, tg := range []*testGate{a, b, a} {
			if w := tg.from("203.0.113.9", signInReq(fmt.Sprintf("shared%d@example.com", i))); w.Code != 401 {
				t.Fatalf("sign-in %d: %d %s", i+1, w.Code, w.Body)
			}
		}
		want429(t, b.from("203.0.113.9", signInReq("shared3@example.com")), "10")
		if n := b.g.limiter.local.len(); n != 0 {
			t.Errorf("database storage used the memory store (%d keys)", n)
		}
	})
}

// acquireIsolated opens a second pool on dsn that no Gate shares, as another
// Caddy process would have.
func acquireIsolated(t *testing.T, dsn string) (*dbHandle, error) {
	st, err := store.Open(dsn, store.Options{})
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { _ = st.Close() })
	h := &dbHandle{st: st, migrate: true}
	return h, h.ensureReady(context.Background())
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
	if n := tg.g.limiter.local.len(); n != 2 {
		t.Errorf("%d keys, want 2 (one for all unknown paths, one for /ok)", n)
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

func TestRateLimit_ProvisionRejectsBadRules(t *testing.T) {
	sqlite := testsupport.SQLiteDSN(t)
	for _, rule := range []string{"sign-in 10s 3", "/auth/sign-in/* 10s 3", "/x[ 10s 3"} {
		t.Run(rule, func(t *testing.T) {
			_, err := provisionFromCaddyfile(t, "database "+sqlite+"\nsecret "+testSecret+"\nrate_limit {\n rule "+rule+"\n}")
			if err == nil || !strings.Contains(err.Error(), "rate_limit") {
				t.Fatalf("error %v does not name rate_limit", err)
			}
		})
	}
}

func TestIPKey_GroupsIPv6By64AndUnmapsIPv4(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.7":               "203.0.113.7",
		"::ffff:203.0.113.7":        "203.0.113.7",
		"2001:db8:1:2:3:4:5:6":      "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1":      "2001:db8:1:2::/64",
		"fe80::1%eth0":              "fe80::/64",
		"not an address":            "not an address",
		"2001:db8:1:3:0:0:0:1":      "2001:db8:1:3::/64",
		"2001:0db8:0001:0002::0001": "2001:db8:1:2::/64",
	} {
		if got := ipKey(in); got != want {
			t.Errorf("ipKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMatchLimitPath(t *testing.T) {
	for _, c := range []struct {
		pattern, path string
		want          bool
	}{
		{"/sign-in/*", "/sign-in/email", true},
		{"/sign-in/*", "/sign-in", false},
		{"/sign-in/*", "/Sign-In/email", false},
		{"/ok", "/ok", true},
		{"/ok", "/ok/", false},
		{"*-session", "/get-session", true},
		{"*session*", "/revoke-sessions", true},
		{"/*/email", "/sign-up/email", true},
		{"/*/email", "/a/b/email", false},
		{"*", "/anything", true},
	} {
		if got := matchLimitPath(c.pattern, c.path); got != c.want {
			t.Errorf("matchLimitPath(%q, %q) = %v", c.pattern, c.path, got)
		}
	}
}

// floodKey is the i-th of a flood of distinct clients (one /64 each).
func floodKey(i int) string {
	return fmt.Sprintf("2001:db8:%x:%x::/64|/sign-in/email", i>>16, i&0xffff)
}

func TestMemoryLimitStore_StaysBoundedUnderAFloodOfKeys(t *testing.T) {
	const flood = 200_000
	// Twice: sync.Pool contents survive one collection.
	runtime.GC()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	m := newMemoryLimitStore(memoryLimitKeys)
	t0 := time.Now()
	for i := range flood {
		// All within one window: nothing expires.
		m.hit(context.Background(), floodKey(i), 10*time.Second, 3, t0.Add(time.Duration(i)*time.Microsecond))
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(m)
	if n := m.len(); n > memoryLimitKeys+overflowBuckets {
		t.Fatalf("%d keys after %d distinct ones, want at most %d", n, flood, memoryLimitKeys+overflowBuckets)
	}
	heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("%d keys hold %.1f MiB of heap", m.len(), float64(heap)/(1<<20))
	if heap > 40<<20 {
		t.Errorf("memory store holds %d MiB, want under 40", heap>>20)
	}
	// Once their window has passed, counters go and make room.
	m.hit(context.Background(), "k", 10*time.Second, 3, t0.Add(time.Hour))
	if n := m.len(); n != 1 {
		t.Errorf("%d keys after the window, want 1", n)
	}
}

func TestMemoryLimitStore_AFloodOfNewKeysNeverFreesALimitedKey(t *testing.T) {
	for _, capacity := range []int{4, 1000, memoryLimitKeys} {
		t.Run(fmt.Sprint(capacity), func(t *testing.T) {
			m := newMemoryLimitStore(capacity)
			t0 := time.Now()
			const window, max = 10 * time.Second, 3
			hit := func(key string, at time.Duration) bool {
				ok, _, _ := m.hit(context.Background(), key, window, max, t0.Add(at))
				return ok
			}
			for range max {
				hit("attacker|email:victim", 0)
			}
			if hit("attacker|email:victim", time.Millisecond) {
				t.Fatal("the fourth hit was allowed")
			}
			// Ten times the capacity of new keys, all within the window.
			for i := range 10 * capacity {
				hit(floodKey(i), 2*time.Millisecond)
			}
			if hit("attacker|email:victim", 3*time.Millisecond) {
				t.Fatal("the flood reset a key that was limiting")
			}
			// Newcomers on a full table are counted, if coarsely: one that
			// keeps coming is limited like any other.
			newcomer := floodKey(20 * capacity)
			limited := false
			for range 2 * max * (1 + 10*capacity/overflowBuckets) {
				if !hit(newcomer, 4*time.Millisecond) {
					limited = true
					break
				}
			}
			if !limited {
				t.Fatal("a newcomer on a full table was never limited")
			}
			// After the window everyone is counted one by one again.
			if !hit("attacker|email:victim", window+time.Millisecond) {
				t.Fatal("the limited key was not freed by its window")
			}
			if !hit(newcomer, window+5*time.Millisecond) {
				t.Fatal("the newcomer was not freed by the window")
			}
		})
	}
}

func TestMemoryLimitStore_FreesRoomOnlyFromCountersWhoseWindowPassed(t *testing.T) {
	m := newMemoryLimitStore(2)
	t0 := time.Now()
	hit := func(key string, window, d time.Duration) bool {
		ok, _, _ := m.hit(context.Background(), key, window, 1, t0.Add(d))
		return ok
	}
	hit("long", time.Hour, 0)
	hit("short", time.Second, 0)
	// "short" has had its window by now; "long" has not, though it was
	// used earlier: "short" makes room for "c".
	hit("c", time.Minute, 2*time.Second)
	if _, ok := m.entries["short"]; ok {
		t.Fatal("the expired counter was kept")
	}
	if hit("long", time.Hour, 3*time.Second) {
		t.Fatal("long was forgotten")
	}
}

func TestMemoryLimitStore_ConcurrentHitsAllowExactlyMax(t *testing.T) {
	m := newMemoryLimitStore(memoryLimitKeys)
	t0 := time.Now()
	var allowed atomic.Int32
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if ok, _, _ := m.hit(context.Background(), "k", time.Minute, 7, t0); ok {
				allowed.Add(1)
			}
		})
	}
	wg.Wait()
	if n := allowed.Load(); n != 7 {
		t.Fatalf("%d of 50 concurrent hits allowed, want 7", n)
	}
}

func TestMemoryLimitStore_PeekAndUndo(t *testing.T) {
	const window, max = 10 * time.Second, 2
	t0 := time.Now()
	for _, c := range []struct {
		name      string
		steps     string // h: hit, u: undo
		wantPeek  bool   // at t0+1s
		wantRetry time.Duration
	}{
		{"nothing counted", "", true, 0},
		{"below max", "h", true, 0},
		{"at max", "hh", false, 9 * time.Second},
		{"an undone hit does not count", "hhu", true, 0},
		{"undo with nothing counted", "uhh", false, 9 * time.Second},
		{"undone twice", "hhuuh", true, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := newMemoryLimitStore(10)
			for _, s := range c.steps {
				if s == 'h' {
					m.hit(context.Background(), "k", window, max, t0)
				} else {
					_ = m.undo(context.Background(), "k", max)
				}
			}
			ok, retry := m.peek("k", window, max, t0.Add(time.Second))
			if ok != c.wantPeek || retry != c.wantRetry {
				t.Fatalf("peek = %v %v, want %v %v", ok, retry, c.wantPeek, c.wantRetry)
			}
			// A peek counts nothing.
			if ok2, _ := m.peek("k", window, max, t0.Add(time.Second)); ok2 != ok {
				t.Fatal("peek changed the count")
			}
			if ok, _ := m.peek("k", window, max, t0.Add(window)); !ok {
				t.Fatal("limited after the window")
			}
		})
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

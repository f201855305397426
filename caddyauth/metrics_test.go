package caddyauth

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/authgate/authgate/caddyauth/internal/ratelimit"
	"github.com/authgate/authgate/internal/testsupport"
	"github.com/authgate/authgate/store"
)

// The collectors are per process, so these tests read how much a counter
// moved (counterDelta) rather than its value. None of them runs in
// parallel.

// metricGate provisions a Gate from a Caddyfile block body (not started)
// and returns it with the registry of its config.
func metricGate(t *testing.T, block string) (*testGate, *prometheus.Registry) {
	t.Helper()
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	g := new(Gate)
	if err := g.UnmarshalCaddyfile(caddyfile.NewTestDispenser("auth_gate {\n" + block + "\n}")); err != nil {
		t.Fatal(err)
	}
	ctx, err := caddy.ProvisionContext(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Cleanup() })
	if err := g.Provision(ctx); err != nil {
		t.Fatalf("provision: %v", err)
	}
	return &testGate{t: t, g: g, next: &recordingNext{}}, ctx.GetMetricsRegistry()
}

// counterDelta returns a function that tells how much c moved since.
func counterDelta(c prometheus.Counter) func() float64 {
	start := testutil.ToFloat64(c)
	return func() float64 { return testutil.ToFloat64(c) - start }
}

func apiCounter(endpoint, status string) prometheus.Counter {
	return apiRequestsVec.WithLabelValues(endpoint, status)
}

func histogramCount(t *testing.T, h prometheus.Histogram) uint64 {
	t.Helper()
	var m dto.Metric
	if err := h.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}

func TestMetrics_RegisteredOnTheConfigRegistry(t *testing.T) {
	dsn := testsupport.SQLiteDSN(t)
	tg, reg := metricGate(t, "database "+dsn+"\nsecret "+testSecret)
	// A second handler in the same config registers the same collectors
	// again: that must not fail.
	ctx, err := caddy.ProvisionContext(nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := registerMetrics(ctx); err != nil {
			t.Fatalf("registering: %v", err)
		}
	}

	tg.do(req("GET", "/auth/ok", ""))
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather (a pedantic registry checks the collectors): %v", err)
	}
	got := map[string]bool{}
	for _, f := range families {
		got[f.GetName()] = true
	}
	for _, name := range []string{
		"caddy_auth_gate_gate_decisions_total",
		"caddy_auth_gate_api_requests_total",
		"caddy_auth_gate_sign_in_total",
		"caddy_auth_gate_sign_up_total",
		"caddy_auth_gate_password_hash_seconds",
		"caddy_auth_gate_password_hash_queue",
		"caddy_auth_gate_password_hash_running",
		"caddy_auth_gate_session_cache_total",
		"caddy_auth_gate_session_cache_invalidations_total",
		"caddy_auth_gate_store_errors_total",
		"caddy_auth_gate_rate_limited_total",
	} {
		if !got[name] {
			t.Errorf("%s is not on the config's registry", name)
		}
	}
}

func TestMetrics_AFlowMovesTheCounters(t *testing.T) {
	tg := newTestGate(t, testsupport.SQLiteDSN(t), "public /public\nlogin_url /login")

	unauthorized, redirected, public := counterDelta(gateUnauthorized), counterDelta(gateRedirected), counterDelta(gatePublic)
	tg.do(req("GET", "/private", ""))
	tg.do(req("GET", "/private", "", "Accept", "text/html"))
	tg.do(req("GET", "/public", ""))
	if unauthorized() != 1 || redirected() != 1 || public() != 1 {
		t.Errorf("gate decisions moved by unauthorized %v, redirected %v, public %v; want 1 each", unauthorized(), redirected(), public())
	}

	hashes := histogramCount(t, passwordHashSeconds)
	signUpOK, signUp200 := counterDelta(signUpOutcomes[signUpSuccess]), counterDelta(apiCounter("sign-up/email", "200"))
	tg.signUp("Alice", "alice@example.com", "password123")
	if signUpOK() != 1 || signUp200() != 1 {
		t.Errorf("sign-up: outcome success moved by %v, api_requests{sign-up/email,200} by %v", signUpOK(), signUp200())
	}
	exists, signUp422 := counterDelta(signUpOutcomes[signUpExists]), counterDelta(apiCounter("sign-up/email", "422"))
	tg.do(req("POST", "/auth/sign-up/email", `{"name":"A","email":"alice@example.com","password":"password123"}`))
	invalid := counterDelta(signUpOutcomes[signUpInvalid])
	tg.do(req("POST", "/auth/sign-up/email", `{"name":"A","email":"bob@example.com","password":"short"}`))
	if exists() != 1 || signUp422() != 1 || invalid() != 1 {
		t.Errorf("sign-up: exists moved by %v (422s by %v), invalid by %v; want 1 each", exists(), signUp422(), invalid())
	}

	badCreds, signIn401 := counterDelta(signInOutcomes[signInInvalidCredentials]), counterDelta(apiCounter("sign-in/email", "401"))
	tg.do(req("POST", "/auth/sign-in/email", `{"email":"alice@example.com","password":"wrong-password"}`))
	tg.do(req("POST", "/auth/sign-in/email", `{"email":"nobody@example.com","password":"password123"}`))
	if badCreds() != 2 || signIn401() != 2 {
		t.Errorf("failed sign-ins: invalid_credentials moved by %v, api_requests{sign-in/email,401} by %v; want 2", badCreds(), signIn401())
	}
	signInOK := counterDelta(signInOutcomes[signInSuccess])
	cookie, _ := tg.signIn("alice@example.com", "password123")
	if signInOK() != 1 {
		t.Errorf("sign-in success moved by %v", signInOK())
	}
	if n := histogramCount(t, passwordHashSeconds) - hashes; n != 5 {
		t.Errorf("the hash histogram counted %d runs, want 5 (two sign-ups, wrong password, unknown email, sign-in)", n)
	}

	authenticated, hits, misses := counterDelta(gateAuthenticated), counterDelta(cacheHits), counterDelta(cacheMisses)
	tg.do(req("GET", "/private", "", "Cookie", cookie))
	tg.do(req("GET", "/private", "", "Cookie", cookie))
	if authenticated() != 2 || misses() != 1 || hits() != 1 {
		t.Errorf("two gated requests: authenticated %v, cache misses %v, hits %v; want 2, 1, 1", authenticated(), misses(), hits())
	}

	local := counterDelta(cacheInvalidatedLocal)
	if w := tg.do(req("POST", "/auth/sign-out", "", "Cookie", cookie, "Origin", "http://example.com")); w.Code != 200 {
		t.Fatalf("sign-out: %d %s", w.Code, w.Body)
	}
	if local() != 1 {
		t.Errorf("sign-out: local invalidations moved by %v", local())
	}

	// Endpoint labels are route names, never request paths.
	unknown, callback := counterDelta(apiCounter("unknown", "404")), counterDelta(apiCounter("reset-password/:token", "302"))
	tg.do(req("GET", "/auth/no-such-route-x7", ""))
	tg.do(req("GET", "/auth/sign-in/email", "")) // a route's path, another method
	tg.do(req("GET", "/auth/reset-password/abcdef?callbackURL=/reset", ""))
	if unknown() != 2 || callback() != 1 {
		t.Errorf("unknown 404s moved by %v (want 2), reset-password/:token by %v (want 1)", unknown(), callback())
	}
}

func TestMetrics_RateLimitedByScope(t *testing.T) {
	tg := newLimitedGate(t, testsupport.SQLiteDSN(t), "")
	ip, email, signIn429 := counterDelta(rateLimited[ratelimit.ScopeIP]), counterDelta(rateLimited[ratelimit.ScopeEmail]), counterDelta(apiCounter("sign-in/email", "429"))
	limited := counterDelta(signInOutcomes[signInRateLimited])
	for range 4 {
		tg.from("198.51.100.1", signInReq("a@example.com"))
	}
	// One address from other clients: the per-email limit is per client,
	// so nobody is limited.
	for i := range 4 {
		if w := tg.from(fmt.Sprintf("192.0.2.%d", i+1), signInReq("target@example.com")); w.Code != 401 {
			t.Fatalf("attempt %d on one address: %d", i+1, w.Code)
		}
	}
	if ip() != 1 || email() != 0 {
		t.Errorf("rate_limited_total moved by ip %v, email %v; want 1 and 0", ip(), email())
	}
	if limited() != 1 || signIn429() != 1 {
		t.Errorf("sign-in rate_limited moved by %v, api_requests{sign-in/email,429} by %v; want 1", limited(), signIn429())
	}

	signUpLimited := counterDelta(signUpOutcomes[signUpRateLimited])
	for range 4 {
		tg.from("198.51.100.2", req("POST", "/auth/sign-up/email", `{}`))
	}
	if signUpLimited() != 1 {
		t.Errorf("sign-up rate_limited moved by %v, want 1", signUpLimited())
	}
}

func TestMetrics_StoreDown(t *testing.T) {
	tg, _ := metricGate(t, "database postgres://postgres@127.0.0.1:1/x?sslmode=disable&connect_timeout=2\nsecret "+testSecret)
	decision, gateOp, connectOp := counterDelta(gateStoreUnavailable), counterDelta(storeErrorOps[opGate]), counterDelta(storeErrorOps[opConnect])
	unavailable := counterDelta(apiCounter("get-session", "503"))
	cookie := "better-auth.session_token=" + wireCookie(testSecret, "J95RstBkQGJwxRcnjEdSkAf7lMZHdwxU")
	if w := tg.do(req("GET", "/private", "", "Cookie", cookie)); w.Code != 503 {
		t.Fatalf("gated request with the store down: %d", w.Code)
	}
	if w := tg.do(req("GET", "/auth/get-session", "", "Cookie", cookie)); w.Code != 503 {
		t.Fatalf("get-session with the store down: %d", w.Code)
	}
	if decision() != 1 || gateOp() != 1 || connectOp() != 1 || unavailable() != 1 {
		t.Errorf("store_unavailable %v, store_errors{gate} %v, store_errors{connect} %v, api_requests{get-session,503} %v; want 1 each",
			decision(), gateOp(), connectOp(), unavailable())
	}
}

func TestMetrics_CacheNoticesAndFlushes(t *testing.T) {
	c := newSessionCache(10)
	notice, flush := counterDelta(cacheInvalidatedNotice), counterDelta(cacheInvalidatedFlush)
	c.Notice(store.NoticeSession, "s1")
	c.Notice(store.NoticeUser, "u1")
	c.Resync()
	if notice() != 2 || flush() != 1 {
		t.Errorf("notice moved by %v (want 2), flush by %v (want 1)", notice(), flush())
	}
}

func TestMetrics_GateCountersDoNotAllocate(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() {
		gateAuthenticated.Inc()
		cacheHits.Inc()
	}); n != 0 {
		t.Errorf("the gate's counters allocate %v times", n)
	}
}

func TestMetrics_StatusWriterRecordsTheFirstFinalStatus(t *testing.T) {
	for _, tc := range []struct {
		name  string
		write func(w http.ResponseWriter)
		want  string
	}{
		{"nothing written", func(http.ResponseWriter) {}, "200"},
		{"body only", func(w http.ResponseWriter) { _, _ = w.Write([]byte("x")) }, "200"},
		{"status then body", func(w http.ResponseWriter) { w.WriteHeader(404); _, _ = w.Write([]byte("x")) }, "404"},
		{"informational first", func(w http.ResponseWriter) { w.WriteHeader(103); w.WriteHeader(429) }, "429"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := counterDelta(apiCounter("status-writer-test", tc.want))
			sw := &statusWriter{ResponseWriter: &discardResponse{header: http.Header{}}}
			tc.write(sw)
			sw.count("status-writer-test")
			if c() != 1 {
				t.Errorf("status %s not counted", tc.want)
			}
		})
	}
}

// TestMetrics_EveryTypedLabelHasAName: a label constant added without its
// name would export an empty label value, and two with one name would
// count in one series.
func TestMetrics_EveryTypedLabelHasAName(t *testing.T) {
	for name, values := range map[string][]string{
		"sign_in_total outcome": signInOutcomeNames[:],
		"sign_up_total outcome": signUpOutcomeNames[:],
		"store_errors_total op": storeOpNames[:],
	} {
		seen := map[string]bool{}
		for i, v := range values {
			if v == "" || seen[v] {
				t.Errorf("%s: value %d is %q (empty or repeated)", name, i, v)
			}
			seen[v] = true
		}
	}
}

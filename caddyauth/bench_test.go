package caddyauth

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/authgate/authgate/internal/testsupport"
)

// The gate's per-request cost with a valid session cookie, on SQLite:
//
//	go test ./caddyauth -run '^$' -bench BenchmarkGate -benchmem
//
// Cached, a request costs no query; uncached (session_cache 0) every
// request reads the session and its user.
func BenchmarkGate_CachedSession(b *testing.B) { benchmarkGate(b, "") }

func BenchmarkGate_Uncached(b *testing.B) { benchmarkGate(b, "session_cache 0") }

// BenchmarkGate_CachedSessionAssertion is BenchmarkGate_CachedSession with
// the signed assertion on: the session's token is signed once and reused,
// so the difference is the token cache's lookup. Compare the two in one run.
func BenchmarkGate_CachedSessionAssertion(b *testing.B) {
	benchmarkGate(b, "base_url http://example.com\nassertion")
}

// BenchmarkGate_UncachedPostgres is the uncached lookup on PostgreSQL: one
// round trip per request, the cost authbench's session_cache 0 legs show.
func BenchmarkGate_UncachedPostgres(b *testing.B) {
	benchmarkGateOn(b, testsupport.PostgresDSN(b), "session_cache 0")
}

// BenchmarkGate_UncachedPostgresParallel is the uncached lookup on
// PostgreSQL under concurrent load from many sessions, as a busy gate sees
// it: lookups that arrive together share a query (see store's
// lookupBatcher). Run it with -cpu to vary the goroutines (×16 each).
func BenchmarkGate_UncachedPostgresParallel(b *testing.B) {
	g := newBenchGate(b, "database "+testsupport.PostgresDSN(b)+"\nsecret "+testSecret+"\nsession_cache 0\nrate_limit off")
	cookies := []string{benchSignUp(b, g)}
	for len(cookies) < 64 {
		cookies = append(cookies, benchSignIn(b, g))
	}
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	var worker atomic.Int64
	b.SetParallelism(16)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		r := httptest.NewRequest("GET", "/dashboard", nil)
		r.Header.Set("Cookie", cookies[int(worker.Add(1))%len(cookies)])
		r = r.WithContext(benchContext(r.Context()))
		w := &discardResponse{header: http.Header{}}
		for pb.Next() {
			if err := g.ServeHTTP(w, r, next); err != nil || w.status != 0 {
				b.Errorf("status %d, err %v", w.status, err)
				return
			}
		}
	})
}

func benchmarkGate(b *testing.B, extra string) { benchmarkGateOn(b, testsupport.SQLiteDSN(b), extra) }

func benchmarkGateOn(b *testing.B, dsn, extra string) {
	g := newBenchGate(b, "database "+dsn+"\nsecret "+testSecret+"\n"+extra)
	cookie := benchSignUp(b, g)

	// One request, reused: Caddy's own per-request work (the replacer, the
	// request and its context) is not the gate's cost. ServeHTTP sets the
	// identity headers again on every pass.
	r := httptest.NewRequest("GET", "/dashboard", nil)
	r.Header.Set("Cookie", cookie)
	r = r.WithContext(benchContext(r.Context()))
	w := &discardResponse{header: http.Header{}}
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	if err := g.ServeHTTP(w, r, next); err != nil || w.status != 0 || r.Header.Get("X-User-Id") == "" {
		b.Fatalf("warm-up: status %d, err %v", w.status, err)
	}

	b.ReportAllocs()
	for b.Loop() {
		if err := g.ServeHTTP(w, r, next); err != nil || w.status != 0 {
			b.Fatalf("status %d, err %v", w.status, err)
		}
	}
}

// BenchmarkGate_CachedSessionParallel is BenchmarkGate_CachedSession from
// all CPUs at once, one request per goroutine, to show lock contention.
func BenchmarkGate_CachedSessionParallel(b *testing.B) {
	g := newBenchGate(b, "database "+testsupport.SQLiteDSN(b)+"\nsecret "+testSecret)
	cookie := benchSignUp(b, g)
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		r := httptest.NewRequest("GET", "/dashboard", nil)
		r.Header.Set("Cookie", cookie)
		r = r.WithContext(benchContext(r.Context()))
		w := &discardResponse{header: http.Header{}}
		for pb.Next() {
			if err := g.ServeHTTP(w, r, next); err != nil || w.status != 0 {
				b.Errorf("status %d, err %v", w.status, err)
				return
			}
		}
	})
}

// newBenchGate provisions and starts a gate, as newTestGate does for tests.
func newBenchGate(b *testing.B, block string) *Gate {
	b.Helper()
	b.Setenv("XDG_DATA_HOME", b.TempDir())
	g := new(Gate)
	if err := g.UnmarshalCaddyfile(caddyfile.NewTestDispenser("auth_gate {\n" + block + "\n}")); err != nil {
		b.Fatal(err)
	}
	ctx, err := caddy.ProvisionContext(nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = g.Cleanup() })
	if err := g.Provision(ctx); err != nil {
		b.Fatal(err)
	}
	app, err := ctx.App(appID)
	if err != nil {
		b.Fatal(err)
	}
	if err := app.(caddy.App).Start(); err != nil {
		b.Fatal(err)
	}
	return g
}

// benchSignUp creates a user and returns its session cookie.
func benchSignUp(b *testing.B, g *Gate) string {
	b.Helper()
	r := httptest.NewRequest("POST", "/auth/sign-up/email",
		strings.NewReader(`{"name":"Bench","email":"bench@example.com","password":"password123"}`))
	r.Header.Set("Content-Type", "application/json")
	r = r.WithContext(benchContext(r.Context()))
	w := httptest.NewRecorder()
	if err := g.ServeHTTP(w, r, nil); err != nil || w.Code != 200 {
		b.Fatalf("sign-up: %d %s %v", w.Code, w.Body, err)
	}
	return sessionCookieOf(b, w)
}

// sessionCookieOf is the Cookie header value of the session w set.
func sessionCookieOf(b *testing.B, w *httptest.ResponseRecorder) string {
	b.Helper()
	for _, sc := range w.Header().Values("Set-Cookie") {
		if strings.HasPrefix(sc, "better-auth.session_token=") {
			return strings.SplitN(sc, ";", 2)[0]
		}
	}
	b.Fatal("no session cookie")
	return ""
}

// benchSignIn signs benchSignUp's user in again and returns the new
// session's cookie.
func benchSignIn(b *testing.B, g *Gate) string {
	b.Helper()
	r := httptest.NewRequest("POST", "/auth/sign-in/email",
		strings.NewReader(`{"email":"bench@example.com","password":"password123"}`))
	r.Header.Set("Content-Type", "application/json")
	r = r.WithContext(benchContext(r.Context()))
	w := httptest.NewRecorder()
	if err := g.ServeHTTP(w, r, nil); err != nil || w.Code != 200 {
		b.Fatalf("sign-in: %d %s %v", w.Code, w.Body, err)
	}
	return sessionCookieOf(b, w)
}

// benchContext is what Caddy's server puts in a request's context.
func benchContext(ctx context.Context) context.Context {
	ctx = context.WithValue(ctx, caddy.ReplacerCtxKey, caddy.NewReplacer())
	return context.WithValue(ctx, caddyhttp.VarsCtxKey, map[string]any{caddyhttp.ClientIPVarKey: "203.0.113.7"})
}

// discardResponse is a ResponseWriter that records only the status.
type discardResponse struct {
	header http.Header
	status int
}

func (d *discardResponse) Header() http.Header         { return d.header }
func (d *discardResponse) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardResponse) WriteHeader(status int)      { d.status = status }

// BenchmarkGate_FreshRequest is the cached gate as Caddy runs it: every
// request is parsed anew from a browser's bytes with a new replacer, so
// the identity headers grow a header map sized for the client's headers
// and the placeholders a replacer's empty map; requests rotate through 64
// sessions, as authbench's do, so that the caches are not all hot. "parse"
// is that work alone; the gate's cost is the difference between it and the
// others, run together:
//
//	go test ./caddyauth -run '^$' -bench 'Gate_FreshRequest' -benchmem -count 6
func BenchmarkGate_FreshRequest(b *testing.B) {
	for _, bc := range []struct{ name, extra string }{
		{"parse", ""},
		{"cached", ""},
		{"everything", "base_url http://example.com\nassertion\nadmin on\n" + rulesForBench},
	} {
		b.Run(bc.name, func(b *testing.B) {
			g := newBenchGate(b, "database "+testsupport.SQLiteDSN(b)+"\nsecret "+testSecret+"\nrate_limit off\n"+bc.extra)
			cookies := []string{benchSignUp(b, g)}
			for len(cookies) < 64 {
				cookies = append(cookies, benchSignIn(b, g))
			}
			raws := make([][]byte, len(cookies))
			for i, c := range cookies {
				raws[i] = []byte("GET /dashboard HTTP/1.1\r\nHost: app.example.com\r\n" +
					"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0\r\n" +
					"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n" +
					"Accept-Language: en-GB,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br, zstd\r\n" +
					"Cookie: " + c + "\r\n\r\n")
			}
			next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
			w := &discardResponse{header: http.Header{}}
			rd := new(bytes.Reader)
			br := bufio.NewReader(rd)
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				rd.Reset(raws[i%len(raws)])
				i++
				br.Reset(rd)
				r, err := http.ReadRequest(br)
				if err != nil {
					b.Fatal(err)
				}
				r = r.WithContext(benchContext(r.Context()))
				if bc.name == "parse" {
					continue
				}
				if err := g.ServeHTTP(w, r, next); err != nil || w.status != 0 || r.Header.Get("X-User-Id") == "" {
					b.Fatalf("status %d, err %v", w.status, err)
				}
			}
		})
	}
}

package caddyauth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lib/pq"
	"go.uber.org/zap"

	"github.com/authgate/authgate/internal/testsupport"
	"github.com/authgate/authgate/store"
)

// storeDownRequests are requests of every endpoint family that need the
// store, with the session cookie of a signed-in user.
func storeDownRequests(cookie string) map[string]*http.Request {
	const site = "http://example.com"
	post := func(path, body string) *http.Request {
		return req("POST", path, body, "Cookie", cookie, "Origin", site)
	}
	return map[string]*http.Request{
		"sign-in":                req("POST", "/auth/sign-in/email", `{"email":"ada@example.com","password":"password123"}`),
		"sign-up":                req("POST", "/auth/sign-up/email", `{"name":"Bob","email":"bob@example.com","password":"password123"}`),
		"get-session":            req("GET", "/auth/get-session", "", "Cookie", cookie),
		"sign-out":               post("/auth/sign-out", ""),
		"list-sessions":          req("GET", "/auth/list-sessions", "", "Cookie", cookie),
		"update-user":            post("/auth/update-user", `{"name":"Ada L."}`),
		"change-password":        post("/auth/change-password", `{"currentPassword":"password123","newPassword":"password456"}`),
		"request-password-reset": req("POST", "/auth/request-password-reset", `{"email":"ada@example.com"}`),
		"reset-password":         req("POST", "/auth/reset-password", `{"token":"AbCdEfGhIjKlMnOpQrStUvWx","newPassword":"password456"}`),
		"reset-password link":    req("GET", "/auth/reset-password/AbCdEfGhIjKlMnOpQrStUvWx?callbackURL=/", ""),
		"send-verification":      post("/auth/send-verification-email", `{"email":"ada@example.com"}`),
		"gate":                   req("GET", "/private", "", "Cookie", cookie),
	}
}

// answersStoreUnavailable checks that each request, served in parallel from
// a client IP of its own (so that the per-IP limits of the in-memory
// fallback never answer instead), gets 503 AUTH_STORE_UNAVAILABLE with
// Retry-After within limit.
func answersStoreUnavailable(t *testing.T, tg *testGate, reqs map[string]*http.Request, limit time.Duration) {
	t.Helper()
	type answer struct {
		name string
		code int
		body string
		ra   string
	}
	answers := make(chan answer, len(reqs))
	var wg sync.WaitGroup
	i := 0
	for name, r := range reqs {
		i++
		ip := fmt.Sprintf("198.51.100.%d", i)
		wg.Go(func() {
			w := tg.from(ip, r)
			answers <- answer{name, w.Code, w.Body.String(), w.Header().Get("Retry-After")}
		})
	}
	timeout := time.After(limit)
	waiting := map[string]bool{}
	for name := range reqs {
		waiting[name] = true
	}
	for range len(reqs) {
		select {
		case a := <-answers:
			delete(waiting, a.name)
			if a.code != http.StatusServiceUnavailable || !strings.Contains(a.body, `"AUTH_STORE_UNAVAILABLE"`) {
				t.Errorf("%s: %d %s, want 503 AUTH_STORE_UNAVAILABLE", a.name, a.code, a.body)
			}
			if a.ra == "" {
				t.Errorf("%s: no Retry-After", a.name)
			}
		case <-timeout:
			t.Fatalf("no answer within %v from: %v", limit, waiting)
		}
	}
	wg.Wait()
}

// TestStoreFailure_ADatabaseThatRefusesTheRoleAnswers503: the database
// refuses the product's connections (its role may no longer log in, a
// connection limit of 0 on the role or the database, as a suspended or
// over-quota hosted database answers, or the database closed to
// connections). Every endpoint that needs the store answers 503
// AUTH_STORE_UNAVAILABLE with Retry-After, never 500, and the gate passes
// nothing on.
func TestStoreFailure_ADatabaseThatRefusesTheRoleAnswers503(t *testing.T) {
	for _, tc := range []struct {
		name, refuse string // refuse: %[1]s is the role, %[2]s the database
	}{
		{"role NOLOGIN", `ALTER ROLE %[1]s NOLOGIN`},
		{"role connection limit 0", `ALTER ROLE %[1]s CONNECTION LIMIT 0`},
		{"database connection limit 0", `ALTER DATABASE %[2]s CONNECTION LIMIT 0`},
		{"database closed to connections", `ALTER DATABASE %[2]s ALLOW_CONNECTIONS false`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			admin, dsn, role, dbname := roleDatabase(t)
			mail := newMailbox(t)
			tg := newTestGate(t, dsn, "session_cache 0\nemail_webhook "+mail.URL)
			cookie, _ := tg.signUp("Ada", "ada@example.com", "password123")
			if w := tg.do(req("GET", "/private", "", "Cookie", cookie)); w.Code != 200 {
				t.Fatalf("before: %d %s", w.Code, w.Body)
			}
			adminExec(t, admin, fmt.Sprintf(tc.refuse, pq.QuoteIdentifier(role), pq.QuoteIdentifier(dbname)))
			// What is refused is a new connection: end the pooled ones.
			adminExec(t, admin, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '`+role+`'`)
			before := tg.next.calls
			answersStoreUnavailable(t, tg, storeDownRequests(cookie), 30*time.Second)
			if tg.next.calls != before {
				t.Errorf("the upstream was reached %d times while the database refused", tg.next.calls-before)
			}
		})
	}
}

// TestStoreFailure_AFrozenDatabaseAnswers503WithinTheDeadline: PostgreSQL
// behind a proxy that stops forwarding (nothing refused, nothing answered),
// with the rate limits kept in the database: every endpoint family, the
// gate and the database rate limiter on the way included, answers 503
// AUTH_STORE_UNAVAILABLE with Retry-After after about one store deadline
// (5 s), however many store calls the request makes, never as late as the
// client is willing to wait.
func TestStoreFailure_AFrozenDatabaseAnswers503WithinTheDeadline(t *testing.T) {
	dsn, proxy := testsupport.PostgresDSNBehindProxy(t)
	mail := newMailbox(t)
	g, err := provisionFromCaddyfile(t, "database "+dsn+"\nsecret "+testSecret+
		"\nsession_cache 0\nbase_url http://example.com\nemail_webhook "+mail.URL+"\nrate_limit {\n storage database\n}")
	if err != nil {
		t.Fatal(err)
	}
	tg := &testGate{t: t, g: g, next: &recordingNext{}}
	cookie, _ := tg.signUp("Ada", "ada@example.com", "password123")
	proxy.Freeze()
	t.Cleanup(proxy.Thaw)
	before := tg.next.calls
	answersStoreUnavailable(t, tg, storeDownRequests(cookie), 10*time.Second)
	if tg.next.calls != before {
		t.Errorf("the upstream was reached %d times while the database did not answer", tg.next.calls-before)
	}
}

// TestStoreError_EveryStoreFailureIs503: whatever the driver said, a store
// failure that is no domain answer is the store failing, not the request:
// 503 AUTH_STORE_UNAVAILABLE (with Retry-After, as writeAPIError adds to
// every 503), never 500.
func TestStoreError_EveryStoreFailureIs503(t *testing.T) {
	g := &Gate{logger: zap.NewNop()}
	r := req("GET", "/auth/get-session", "")
	for _, err := range []error{
		fmt.Errorf("op: %w: %w", store.ErrUnavailable, context.DeadlineExceeded),
		fmt.Errorf("op: %w", &pq.Error{Code: "XX000", Message: "couldn't connect to compute node"}),
		fmt.Errorf("op: %w", &pq.Error{Code: "42P01", Message: `relation "session" does not exist`}),
		errors.New("something no one classified"),
	} {
		if got := g.storeError(r, opGetSession, err); got != errStoreUnavailable {
			t.Errorf("storeError(%v) = %v, want %v", err, got, errStoreUnavailable)
		}
	}
}

// roleDatabase is a fresh database owned by a fresh login role that is no
// superuser (superusers pass connection limits), and the DSNs to reach it
// as the server's admin and as that role.
func roleDatabase(t *testing.T) (admin *sql.DB, dsn, role, dbname string) {
	t.Helper()
	adminDSN := testsupport.PostgresAdminDSN(t)
	admin, err := sql.Open("postgres", adminDSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Close() })
	role = "authgate_outage_" + store.RandomString(12)
	adminExec(t, admin, "CREATE ROLE "+pq.QuoteIdentifier(role)+" LOGIN")
	t.Cleanup(func() {
		// Registered before the database, so run after its drop: the role
		// owns it.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP ROLE IF EXISTS "+pq.QuoteIdentifier(role)); err != nil {
			t.Errorf("drop role: %v", err)
		}
	})
	u, err := url.Parse(testsupport.PostgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	dbname = strings.TrimPrefix(u.Path, "/")
	adminExec(t, admin, "ALTER DATABASE "+pq.QuoteIdentifier(dbname)+" OWNER TO "+pq.QuoteIdentifier(role))
	u.User = url.User(role)
	return admin, u.String(), role, dbname
}

func adminExec(t *testing.T, admin *sql.DB, stmt string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, stmt); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
}

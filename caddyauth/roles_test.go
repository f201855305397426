package caddyauth

import (
	"context"
	"fmt"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/authgate/authgate/internal/testsupport"
)

// TestRole_HeaderAndPlaceholder: the gate passes the user's role list on
// as X-User-Role and {http.auth.user.role}: `user` when the role is unset
// or the database has no role column, the comma list as stored otherwise,
// seen within session_cache of a change by SQL. Client-sent copies never
// get through, in any spelling, and the header can be renamed.
func TestRole_HeaderAndPlaceholder(t *testing.T) {
	for _, lc := range adoptionLayouts() {
		t.Run(lc.name, func(t *testing.T) {
			p := newPluginDB(t, lc)
			tg := newTestGate(t, p.dsn, "schema auto")
			cookie := "better-auth.session_token=" + wireCookie(testSecret, p.rows.token)
			role := func() (string, string) {
				t.Helper()
				w := tg.do(req("GET", "/app", "", "Cookie", cookie, "X-User-Role", "admin", "X_User_Role", "admin"))
				if w.Code != 200 {
					t.Fatalf("gate: %d %s", w.Code, w.Body)
				}
				if got := tg.next.header.Values("X-User-Role"); len(got) != 1 {
					t.Fatalf("X-User-Role values %q: a client copy got through", got)
				}
				for k := range tg.next.header {
					if strings.EqualFold(k, "X_User_Role") {
						t.Fatalf("client header %s got through", k)
					}
				}
				return tg.next.header.Get("X-User-Role"), tg.next.repl["http.auth.user.role"]
			}
			if h, pl := role(); h != "user" || pl != "user" {
				t.Errorf("unset role: header %q, placeholder %q; want user", h, pl)
			}
			p.exec(t, `UPDATE "user" SET "role" = 'admin,analyst' WHERE "id" = ?`, p.rows.userID)
			setNow(t, time.Now().Add(11*time.Second))
			if h, pl := role(); h != "admin,analyst" || pl != "admin,analyst" {
				t.Errorf("role set: header %q, placeholder %q; want admin,analyst", h, pl)
			}
		})
	}
	t.Run("no role column, renamed header", func(t *testing.T) {
		tg := newTestGate(t, testsupport.SQLiteDSN(t), "identity_headers {\nrole X-Roles\n}")
		cookie, _ := tg.signUp("Ada", "ada@example.com", "password123")
		w := tg.do(req("GET", "/app", "", "Cookie", cookie, "X-Roles", "admin", "X-User-Role", "admin"))
		if w.Code != 200 {
			t.Fatalf("gate: %d", w.Code)
		}
		if got := tg.next.header.Values("X-Roles"); len(got) != 1 || got[0] != "user" {
			t.Errorf("X-Roles = %q, want [user]", got)
		}
		// Renamed, the default name is the client's business.
		if got := tg.next.header.Get("X-User-Role"); got != "admin" {
			t.Errorf("X-User-Role = %q: the renamed gate should leave it alone", got)
		}
	})
}

// roleSite is a gate with the admin columns (added by `admin on`) and a few
// users whose role and verification are set by SQL.
type roleSite struct {
	tg      *testGate
	cookies map[string]string // by user label
}

func newRoleSite(t *testing.T, dsn, block string) *roleSite {
	t.Helper()
	tg := newTestGate(t, dsn, "admin on\n"+block)
	db := testsupport.OpenDB(t, dsn)
	s := &roleSite{tg: tg, cookies: map[string]string{}}
	for _, u := range []struct {
		label, role string
		verified    bool
	}{
		{"user", "", false},
		{"verified", "user", true},
		{"admin", "admin", false},
		{"analyst", "user,analyst", true},
	} {
		email := u.label + "@example.com"
		cookie, resp := tg.signUp(u.label, email, "password123")
		id := resp["user"].(map[string]any)["id"].(string)
		role := any(u.role)
		if u.role == "" {
			role = nil
		}
		if _, err := db.Exec(db.Rebind(`UPDATE "user" SET "role" = ?, "emailVerified" = ? WHERE "id" = ?`), role, u.verified, id); err != nil {
			t.Fatal(err)
		}
		s.cookies[u.label] = cookie
	}
	return s
}

const requireBlock = `public /pub/*
require /admin/* /api/admin/* role admin
require /billing/* email_verified
require /reports/open/* email_verified
require /reports/* role admin analyst
require /pub/* role admin
`

// TestRequire_RulesDecideInOrder: after authentication, the first rule
// whose paths match decides; no match lets any signed-in user through.
// Paths match as public ones do, on the cleaned, decoded, lower-cased path,
// so no spelling of a guarded path slips past. Refusals are 403 FORBIDDEN
// (an HTML page for a browser navigation), never reach the app, and are
// audited; the unauthenticated still get 401. A public path is open to all.
func TestRequire_RulesDecideInOrder(t *testing.T) {
	s := newRoleSite(t, testsupport.SQLiteDSN(t), requireBlock)
	audit := captureAudit(t, s.tg.g)
	for _, tc := range []struct {
		who, target string
		want        int
	}{
		{"user", "/admin/users", 403},
		{"user", "/api/admin/x", 403},
		{"admin", "/admin/users", 200},
		{"analyst", "/admin/users", 403},
		// Spellings of /admin/users.
		{"user", "/ADMIN/users", 403},
		{"user", "//admin/users", 403},
		{"user", "/admin//users", 403},
		{"user", "/x/../admin/users", 403},
		{"user", "/admin/../admin/users", 403},
		{"user", "/x/%2e%2e/admin/users", 403},
		{"user", "/x/%2E%2E/admin/users", 403},
		{"user", "/admin%2Fusers", 403},
		{"user", "/%61dmin/users", 403},
		{"user", "/./admin/users", 403},
		{"user", "/admin/users?x=/other", 403},
		// As with public, /admin/* does not name /admin itself.
		{"user", "/admin", 200},
		{"user", "/administrator", 200},
		// email_verified.
		{"user", "/billing/invoice", 403},
		{"verified", "/billing/invoice", 200},
		{"analyst", "/billing/invoice", 200},
		// Any one of the roles; the first matching rule decides.
		{"analyst", "/reports/q1", 200},
		{"admin", "/reports/q1", 200},
		{"verified", "/reports/q1", 403},
		{"verified", "/reports/open/q1", 200},
		{"user", "/reports/open/q1", 403},
		// No rule: any signed-in user.
		{"user", "/dashboard", 200},
		// Public paths are open to all, rules or not.
		{"user", "/pub/page", 200},
		{"", "/pub/page", 200},
		// Unauthenticated: 401 before any rule.
		{"", "/admin/users", 401},
	} {
		t.Run(tc.who+" "+tc.target, func(t *testing.T) {
			calls := s.tg.next.calls
			r := httptest.NewRequest("GET", tc.target, nil)
			r.Header.Set("Accept", "application/json")
			r.Header.Set("User-Agent", auditUA)
			if c := s.cookies[tc.who]; c != "" {
				r.Header.Set("Cookie", c)
			}
			w := s.tg.do(r)
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.want, w.Body)
			}
			reached := s.tg.next.calls > calls
			if reached != (tc.want == 200) {
				t.Errorf("the app was reached: %v", reached)
			}
			if tc.want == 403 {
				wantError(t, w, 403, "FORBIDDEN")
				reason := reasonRole
				if strings.Contains(tc.target, "billing") || strings.Contains(tc.target, "open") {
					reason = reasonUnverified
				}
				audit.want(eventAccessDenied, reason, "*", "*")
			} else {
				audit.since()
			}
		})
	}

	t.Run("browser navigation", func(t *testing.T) {
		w := s.tg.do(req("GET", "/admin/users", "", "Cookie", s.cookies["user"], "Accept", "text/html,application/xhtml+xml", "Sec-Fetch-Mode", "navigate"))
		if w.Code != 403 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") || !strings.Contains(w.Body.String(), "Forbidden") {
			t.Fatalf("navigation: %d %q %s", w.Code, w.Header().Get("Content-Type"), w.Body)
		}
		if strings.Contains(w.Body.String(), "user@example.com") {
			t.Error("the page names the user")
		}
	})
}

// TestRequire_RoleChangeReachesTheGate: a role granted or taken by SQL,
// or a ban, decides the next request once the cached identity is gone
// (here: past session_cache; across instances on PostgreSQL, user-row
// notices make it sooner, see cmd/caddy).
func TestRequire_RoleChangeReachesTheGate(t *testing.T) {
	dsn := testsupport.SQLiteDSN(t)
	s := newRoleSite(t, dsn, requireBlock)
	db := testsupport.OpenDB(t, dsn)
	get := func() int {
		return s.tg.do(req("GET", "/admin/users", "", "Cookie", s.cookies["user"], "Accept", "application/json")).Code
	}
	if code := get(); code != 403 {
		t.Fatalf("before: %d", code)
	}
	if _, err := db.Exec(`UPDATE "user" SET "role" = 'user,admin' WHERE "email" = 'user@example.com'`); err != nil {
		t.Fatal(err)
	}
	setNow(t, time.Now().Add(11*time.Second))
	if code := get(); code != 200 {
		t.Fatalf("after the role was granted: %d", code)
	}
	if _, err := db.Exec(`UPDATE "user" SET "banned" = 1 WHERE "email" = 'user@example.com'`); err != nil {
		t.Fatal(err)
	}
	setNow(t, time.Now().Add(22*time.Second))
	if code := get(); code != 401 {
		t.Fatalf("after the ban: %d", code)
	}
}

// caddyfileDispenser dispenses lines of `require` subdirectives, each
// positioned on its directive name.
func caddyfileDispenser(lines string) *caddyfile.Dispenser {
	return caddyfile.NewTestDispenser(lines)
}

// TestRequire_Config: the Caddyfile forms and the errors that name the
// mistake.
func TestRequire_Config(t *testing.T) {
	for _, tc := range []struct {
		block string
		want  string // error substring; "" for success
		rules []RequireRule
	}{
		{"require /admin/* /api/admin/* role admin", "", []RequireRule{{Paths: []string{"/admin/*", "/api/admin/*"}, Roles: []string{"admin"}}}},
		{"require /billing/* email_verified", "", []RequireRule{{Paths: []string{"/billing/*"}, EmailVerified: true}}},
		{"require /r/* role admin analyst email_verified", "", []RequireRule{{Paths: []string{"/r/*"}, Roles: []string{"admin", "analyst"}, EmailVerified: true}}},
		{"require *.pdf role admin", "", []RequireRule{{Paths: []string{"*.pdf"}, Roles: []string{"admin"}}}},
		{"require /admin/*", "expects a condition", nil},
		{"require role admin", "expects path patterns", nil},
		{"require /admin/* role", "at least one role", nil},
		{"require /admin/* roles admin", `"roles" is neither`, nil},
		{"require /admin/* email_verified extra", `unexpected "extra"`, nil},
		{"require /a/[ role admin", "bad pattern", nil},
		{"require /a/* role a,b", "not a role name", nil},
	} {
		t.Run(tc.block, func(t *testing.T) {
			g, err := provisionFromCaddyfile(t, "database "+testsupport.SQLiteDSN(t)+"\nsecret "+testSecret+"\n"+tc.block)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error %v, want one containing %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(g.Require) != fmt.Sprint(tc.rules) {
				t.Errorf("rules %+v, want %+v", g.Require, tc.rules)
			}
		})
	}
}

// TestMatchPath_IsCaddysPathMatcher: the compiled patterns decide as
// caddyhttp.MatchPath does, for every kind of pattern and spellings of
// paths meant to slip past.
func TestMatchPath_IsCaddysPathMatcher(t *testing.T) {
	patterns := []string{"/admin/*", "/admin", "/admin/", "*.pdf", "*/secret/*", "/a/*/b", "/r/[ab]x", "/Admin/*",
		"/a%2Fb", "/a//b/*", "/{http.request.host}/*", "/files/*.txt", "/x?", "*"}
	paths := []string{"/admin/users", "/admin", "/admin/", "/ADMIN/x", "//admin/x", "/a/../admin/x", "/admin/x.pdf",
		"/z/secret/q", "/a/q/b", "/r/ax", "/r/cx", "/a/b", "/a//b/c", "/example.com/x", "/files/a.txt", "/files/a/b.txt",
		"/xy", "/", "/a%2Fb", "/%2e%2e/admin/x", "/admin/%2e%2e/x", "/admin%2fx"}
	// One rule per pattern, indexed: the first rule Caddy's matcher
	// accepts must be the one the index finds.
	g := &Gate{}
	for _, pat := range patterns {
		g.Require = append(g.Require, RequireRule{Paths: []string{pat}, Roles: []string{"x"}})
	}
	if err := g.provisionRequire(); err != nil || !g.rules.indexed {
		t.Fatalf("provision: %v, indexed %v", err, g.rules != nil && g.rules.indexed)
	}
	for _, p := range append(paths, "/d", "/", "/b/c") {
		r := httptest.NewRequest("GET", "http://example.com"+p, nil)
		r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddyhttp.NewTestReplacer(r)))
		want := -1
		for i, pat := range patterns {
			m := caddyhttp.MatchPath{pat}
			_ = m.Provision(caddy.Context{})
			if m.Match(r) {
				want = i
				break
			}
		}
		if _, got := g.rules.match(r); got != want {
			t.Errorf("path %q: rule %d matched first, Caddy says %d", p, got, want)
		}
	}
	for _, pat := range patterns {
		pp, err := compilePathPattern(pat)
		if err != nil {
			t.Fatalf("%s: %v", pat, err)
		}
		caddyM := caddyhttp.MatchPath{pat}
		if err := caddyM.Provision(caddy.Context{}); err != nil {
			t.Fatal(err)
		}
		for _, p := range paths {
			r := httptest.NewRequest("GET", "http://example.com"+p, nil)
			r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddyhttp.NewTestReplacer(r)))
			if got, want := pp.match(r, matchPath(r)), caddyM.Match(r); got != want {
				t.Errorf("pattern %q, path %q: %v, Caddy says %v", pat, p, got, want)
			}
		}
	}
}

// rulesForBench are ten rules, none matching the benchmark's /dashboard:
// every request checks them all.
const rulesForBench = `require /admin/* /api/admin/* role admin
require /billing/* email_verified
require /reports/* role admin analyst
require /ops/* role ops
require /internal/* role staff
require /finance/* role finance
require *.csv role analyst
require /hr/* /people/* role hr
require /support/* role support
require /beta/* role beta
`

func BenchmarkGate_CachedSessionTenRules(b *testing.B) { benchmarkGate(b, rulesForBench) }

// BenchmarkRequire_TenRules is what the ten rules add to a gated request
// on their own, steadier on a busy machine than the difference of two
// whole-gate benchmarks: the path cleaned once, every pattern tried.
func BenchmarkRequire_TenRules(b *testing.B) {
	g := &Gate{}
	d := caddyfileDispenser(rulesForBench)
	for d.Next() {
		if err := g.unmarshalRequire(d); err != nil {
			b.Fatal(err)
		}
	}
	if err := g.provisionRequire(); err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/dashboard", nil)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if rule, _ := g.rules.match(r); rule != nil {
			b.Fatal("a rule matched")
		}
	}
}

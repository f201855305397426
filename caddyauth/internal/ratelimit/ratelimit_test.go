package ratelimit

import (
	"context"
	"strings"
	"testing"
	"time"
)

// clock is a settable time for a limiter under test.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func (c *clock) set(d time.Duration, t0 time.Time) { c.t = t0.Add(d) }

// testRoutes stands for the API's routes.
func testRoutes(p string) string {
	switch {
	case p == "/sign-in/email", p == "/sign-up/email", p == "/get-session", p == "/ok":
		return p
	case strings.HasPrefix(p, "/reset-password/"):
		return "/reset-password/:token"
	}
	return ""
}

// newTestLimiter builds a limiter on memory storage with a clock at t0
// unless cfg says otherwise.
func newTestLimiter(t *testing.T, cfg Config) (*Limiter, *clock) {
	t.Helper()
	c := &clock{t: time.UnixMilli(1_800_000_000_000)}
	if cfg.Now == nil {
		cfg.Now = c.now
	}
	if cfg.Route == nil {
		cfg.Route = testRoutes
	}
	l, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return l, c
}

func TestNew_RejectsEachBadSettingOnce(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"negative window", Config{Window: -time.Second}, "window"},
		{"negative max", Config{Max: -1}, "max"},
		{"max beyond a 32-bit count", Config{Max: maxMax + 1}, "max"},
		{"rule path without a slash", Config{Rules: []Rule{{Path: "sign-in", Window: time.Second, Max: 3}}}, `rule "sign-in"`},
		{"rule path with the base path", Config{BasePath: "/auth", Rules: []Rule{{Path: "/auth/sign-in/*", Window: time.Second, Max: 3}}}, "leave the base path out"},
		{"rule path that is no pattern", Config{Rules: []Rule{{Path: "/x[", Window: time.Second, Max: 3}}}, `rule "/x["`},
		{"rule without a window", Config{Rules: []Rule{{Path: "/x", Max: 3}}}, "positive window"},
		{"rule with a negative max", Config{Rules: []Rule{{Path: "/x", Window: time.Second, Max: -1}}}, "max from 0"},
		{"unknown storage", Config{Storage: "redis"}, `storage must be memory or database, got "redis"`},
		{"database storage without a database", Config{Storage: "database"}, "no database"},
		{"negative key cap", Config{KeyCap: -1}, "key cap"},
	} {
		t.Run(c.name, func(t *testing.T) {
			l, err := New(c.cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("New = %v, %v; want an error containing %q", l, err, c.want)
			}
		})
	}
}

func TestNew_DefaultsAndValidSettings(t *testing.T) {
	for _, cfg := range []Config{
		{},
		{Storage: "memory"},
		{Window: time.Minute, Max: maxMax, Rules: []Rule{{Path: "*-session", Window: time.Second, Max: 0}}},
	} {
		if _, err := New(cfg); err != nil {
			t.Errorf("New(%+v): %v", cfg, err)
		}
	}
	l, _ := New(Config{})
	if l.general != (rule{window: 10 * time.Second, max: 100}) {
		t.Errorf("general limit %+v, want 100 per 10s", l.general)
	}
	if got := l.ruleFor("/sign-up/email"); got.max != 3 || got.window != 10*time.Second {
		t.Errorf("sign-up limit %+v, want the built-in 3 per 10s", got)
	}
}

func TestRequest_RefusesThePathsFourthWithinTheWindow(t *testing.T) {
	l, c := newTestLimiter(t, Config{})
	t0 := c.t
	for i := range 3 {
		if d := l.Request(context.Background(), "203.0.113.7", "/sign-in/email"); !d.Allowed {
			t.Fatalf("request %d refused: %+v", i+1, d)
		}
	}
	want := Decision{Allowed: false, RetryAfter: 10 * time.Second, Scope: ScopeIP}
	if d := l.Request(context.Background(), "203.0.113.7", "/sign-in/email"); d != want {
		t.Fatalf("fourth: %+v, want %+v", d, want)
	}
	// Another client is not affected, nor is another path.
	if d := l.Request(context.Background(), "198.51.100.1", "/sign-in/email"); !d.Allowed {
		t.Fatal("another client was refused")
	}
	if d := l.Request(context.Background(), "203.0.113.7", "/get-session"); !d.Allowed {
		t.Fatal("another path was refused")
	}
	// The wait counts from the last allowed request; a refusal does not
	// move it.
	c.set(2500*time.Millisecond, t0)
	if d := l.Request(context.Background(), "203.0.113.7", "/sign-in/email"); d.Allowed || d.RetryAfter != 7500*time.Millisecond {
		t.Fatalf("at +2.5s: %+v, want refused for 7.5s", d)
	}
	c.set(10*time.Second, t0)
	if d := l.Request(context.Background(), "203.0.113.7", "/sign-in/email"); !d.Allowed {
		t.Fatalf("after the window: %+v", d)
	}
}

func TestRequest_RulesOverrideDefaults(t *testing.T) {
	l, _ := newTestLimiter(t, Config{
		Window: time.Minute, Max: 2,
		Rules: []Rule{{Path: "/sign-in/*", Window: 30 * time.Second, Max: 5}, {Path: "/ok", Window: 10 * time.Second, Max: 0}},
	})
	ctx := context.Background()
	for _, c := range []struct {
		path    string
		allowed int
		retry   time.Duration
	}{
		{"/sign-in/email", 5, 30 * time.Second}, // the configured rule before the built-in one
		{"/get-session", 2, time.Minute},        // the configured general limit
		{"/sign-up/email", 3, 10 * time.Second}, // the built-in rules still apply elsewhere
		{"/ok", 50, 0},                          // max 0: no limit
	} {
		for i := range c.allowed {
			if d := l.Request(ctx, "203.0.113.7", c.path); !d.Allowed {
				t.Fatalf("%s request %d refused", c.path, i+1)
			}
		}
		if c.retry == 0 {
			continue
		}
		if d := l.Request(ctx, "203.0.113.7", c.path); d.Allowed || d.RetryAfter != c.retry {
			t.Errorf("%s after %d: %+v, want refused for %v", c.path, c.allowed, d, c.retry)
		}
	}
}

func TestRequest_CountsPathsThatAreNoRouteInOneBucket(t *testing.T) {
	l, _ := newTestLimiter(t, Config{Max: 3})
	ctx := context.Background()
	for _, p := range []string{"/nothing-0", "/nothing-1", "/nothing-2"} {
		if d := l.Request(ctx, "203.0.113.7", p); !d.Allowed {
			t.Fatalf("%s refused", p)
		}
	}
	if d := l.Request(ctx, "203.0.113.7", "/nothing-else"); d.Allowed {
		t.Fatal("a fourth unknown path was allowed")
	}
	if d := l.Request(ctx, "203.0.113.7", "/ok"); !d.Allowed {
		t.Fatal("a route shares the unknown paths' counter")
	}
	// Reset-password links hold a token: one counter for all of them.
	for _, p := range []string{"/reset-password/a", "/reset-password/b"} {
		l.Request(ctx, "203.0.113.7", p)
	}
	if n := l.local.len(); n != 3 {
		t.Errorf("%d keys, want 3 (all unknown paths, /ok, all reset links)", n)
	}
}

func TestSignIn_KeyIsTheClientAndTheDigest(t *testing.T) {
	l, _ := newTestLimiter(t, Config{})
	l.SignIn(context.Background(), "::ffff:203.0.113.7", "/sign-in/email", "DIGEST")
	if _, ok := l.local.entries["203.0.113.7|email:DIGEST"]; !ok || l.local.len() != 1 {
		t.Fatalf("keys %v, want only 203.0.113.7|email:DIGEST", l.local.entries)
	}
}

func TestToken_MissesAreLimitedPerClient(t *testing.T) {
	l, c := newTestLimiter(t, Config{})
	t0 := c.t
	const attacker = "2001:db8:bad::1"
	for i := range tokenMissMax {
		if d := l.Token(attacker); !d.Allowed {
			t.Fatalf("lookup before miss %d refused", i+1)
		}
		l.TokenMiss(attacker)
	}
	c.set(time.Second, t0)
	want := Decision{Allowed: false, RetryAfter: 9 * time.Second, Scope: ScopeToken}
	for _, ip := range []string{attacker, "2001:db8:bad::2"} {
		if d := l.Token(ip); d != want {
			t.Fatalf("Token(%s) = %+v, want %+v", ip, d, want)
		}
	}
	if d := l.Token("2001:db8:600d::1"); !d.Allowed {
		t.Fatal("another /64 was refused")
	}
	// Token only looks: asking often does not extend the wait.
	c.set(tokenMissWindow, t0)
	if d := l.Token(attacker); !d.Allowed {
		t.Fatalf("after the window: %+v", d)
	}
	// Misses are counted in memory whatever the storage, and never against
	// a path's limit.
	if d := l.Request(context.Background(), attacker, "/get-session"); !d.Allowed {
		t.Fatal("token misses counted against the API")
	}
}

func TestScope_StringIsTheMetricLabel(t *testing.T) {
	for s, want := range map[Scope]string{ScopeIP: "ip", ScopeEmail: "email", ScopeToken: "token", Scope(9): "Scope(9)"} {
		if got := s.String(); got != want {
			t.Errorf("%d: %q, want %q", s, got, want)
		}
	}
	if len(Scopes) != 3 {
		t.Errorf("Scopes has %d entries, want 3", len(Scopes))
	}
	for i, s := range Scopes {
		if int(s) != i {
			t.Errorf("Scopes[%d] = %v: the metric index is the scope", i, s)
		}
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

func TestMatchPath(t *testing.T) {
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
		if got := matchPath(c.pattern, c.path); got != c.want {
			t.Errorf("matchPath(%q, %q) = %v", c.pattern, c.path, got)
		}
	}
}

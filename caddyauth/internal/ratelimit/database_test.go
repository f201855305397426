package ratelimit

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/authgate/authgate/internal/testsupport"
	"github.com/authgate/authgate/store"
)

// migratedStore opens dsn as an instance of its own would: a pool of its
// own, with the migrations applied.
func migratedStore(t *testing.T, dsn string) *store.Store {
	t.Helper()
	st, err := store.Open(dsn, store.Options{})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return st
}

// bothStorages runs fn with a limiter on memory storage and one on each
// database.
func bothStorages(t *testing.T, cfg Config, fn func(t *testing.T, l *Limiter, c *clock)) {
	t.Run("memory", func(t *testing.T) {
		l, c := newTestLimiter(t, cfg)
		fn(t, l, c)
	})
	testsupport.Both(t, func(t *testing.T, dsn string) {
		cfg := cfg
		cfg.Storage, cfg.Database = "database", migratedStore(t, dsn)
		l, c := newTestLimiter(t, cfg)
		fn(t, l, c)
	})
}

func TestSignIn_CountsOnlyUnforgivenAttemptsPerClient(t *testing.T) {
	bothStorages(t, Config{}, func(t *testing.T, l *Limiter, c *clock) {
		ctx := context.Background()
		attempt := func(ip, digest string, forgiven bool) Decision {
			t.Helper()
			d, forgive := l.SignIn(ctx, ip, "/sign-in/email", digest)
			if forgiven {
				forgive(ctx)
			}
			return d
		}
		// Forgiven attempts (successes, and refusals that say nothing about
		// the password) leave no count behind.
		for i := range 8 {
			if d := attempt("203.0.113.7", "target", true); !d.Allowed {
				t.Fatalf("forgiven attempt %d refused", i+1)
			}
		}
		for i := range 3 {
			if d := attempt("203.0.113.7", "target", false); !d.Allowed {
				t.Fatalf("failure %d refused", i+1)
			}
		}
		c.set(time.Second, c.t)
		for _, tc := range []struct {
			ip, digest string
			allowed    bool
		}{
			{"203.0.113.7", "target", false},
			{"::ffff:203.0.113.7", "target", false},
			{"203.0.113.8", "target", true},
			{"203.0.113.7", "other", true},
		} {
			d := attempt(tc.ip, tc.digest, true)
			if d.Allowed != tc.allowed || d.Scope != ScopeEmail {
				t.Errorf("%s for %s: %+v, want allowed %v", tc.ip, tc.digest, d, tc.allowed)
			}
			if !d.Allowed && d.RetryAfter != 9*time.Second {
				t.Errorf("%s for %s: retry after %v, want 9s", tc.ip, tc.digest, d.RetryAfter)
			}
		}
		// IPv6 clients count by /64.
		for range 3 {
			attempt("2001:db8::1", "target", false)
		}
		if attempt("2001:db8::ffff:1", "target", true).Allowed {
			t.Error("another address of the /64 was not limited")
		}
		if !attempt("2001:db8:0:1::1", "target", true).Allowed {
			t.Error("another /64 was limited")
		}
	})
}

func TestDatabaseStorage_IsSharedByInstances(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		// Two pools on one database stand for two Caddy processes.
		a, c := newTestLimiter(t, Config{Storage: "database", Database: migratedStore(t, dsn)})
		b, _ := newTestLimiter(t, Config{Storage: "database", Database: migratedStore(t, dsn), Now: c.now})
		ctx := context.Background()
		for i, l := range []*Limiter{a, b, a} {
			if d := l.Request(ctx, "203.0.113.9", "/sign-in/email"); !d.Allowed {
				t.Fatalf("request %d refused", i+1)
			}
		}
		want := Decision{Allowed: false, RetryAfter: 10 * time.Second, Scope: ScopeIP}
		if d := b.Request(ctx, "203.0.113.9", "/sign-in/email"); d != want {
			t.Fatalf("fourth: %+v, want %+v", d, want)
		}
		if n := a.local.len() + b.local.len(); n != 0 {
			t.Errorf("database storage used the memory store (%d keys)", n)
		}
	})
}

func TestDatabaseStorage_FailsOpenToMemoryAndWarnsOnce(t *testing.T) {
	// Nothing listens on port 1: every query fails at once.
	st, err := store.Open("postgres://postgres@127.0.0.1:1/x?sslmode=disable&connect_timeout=2", store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	core, logs := observer.New(zap.WarnLevel)
	l, _ := newTestLimiter(t, Config{Storage: "database", Database: st, Logger: zap.New(core),
		Rules: []Rule{{Path: "/ok", Window: 10 * time.Second, Max: 2}}})
	ctx := context.Background()
	for i := range 2 {
		if d := l.Request(ctx, "203.0.113.7", "/ok"); !d.Allowed {
			t.Fatalf("request %d with the database down refused", i+1)
		}
	}
	if d := l.Request(ctx, "203.0.113.7", "/ok"); d.Allowed || d.RetryAfter != 10*time.Second {
		t.Fatalf("third with the database down: %+v, want refused for 10s", d)
	}
	// A sign-in counted in memory is forgiven there.
	for range 5 {
		_, forgive := l.SignIn(ctx, "198.51.100.1", "/sign-in/email", "d")
		forgive(ctx)
	}
	if d, _ := l.SignIn(ctx, "198.51.100.1", "/sign-in/email", "d"); !d.Allowed {
		t.Fatal("forgiven sign-ins stayed counted in memory")
	}
	if n := logs.FilterMessage("rate limit store failed: limiting per instance until it recovers").Len(); n != 1 {
		t.Errorf("%d warnings within a minute, want 1", n)
	}
}

func ExampleLimiter_Request() {
	l, _ := New(Config{Rules: []Rule{{Path: "/sign-in/*", Window: time.Minute, Max: 1}}})
	for range 2 {
		d := l.Request(context.Background(), "203.0.113.7", "/sign-in/email")
		fmt.Println(d.Allowed, d.Scope)
	}
	// Output:
	// true ip
	// false ip
}

// Interface guards
var _ Store = (*store.Store)(nil)

package caddyauth

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/authgate/authgate/internal/testsupport"
)

// TestSweeper_DeletesExpiredRowsSoonAfterStartThenPeriodically: expired
// verification rows and sessions must not pile up: a sweep soon
// after start, then one every interval, until the last user of the
// database is gone.
func TestSweeper_DeletesExpiredRowsSoonAfterStartThenPeriodically(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		h, key, err := acquireDB(dsn, "", "auto", true, false, zap.NewNop())
		if err != nil {
			t.Fatal(err)
		}
		released := false
		release := func() {
			if !released {
				released = true
				if _, err := dbPool.Delete(key); err != nil {
					t.Errorf("release: %v", err)
				}
			}
		}
		t.Cleanup(release)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := h.st.Ready(ctx); err != nil {
			t.Fatal(err)
		}
		h.sweepFirst, h.sweepEvery = 20*time.Millisecond, 50*time.Millisecond

		past := time.Now().Add(-time.Minute)
		expire := func(identifier string) {
			t.Helper()
			if err := h.st.CreateVerification(ctx, identifier, "v", past, past); err != nil {
				t.Fatal(err)
			}
		}
		left := func() int {
			t.Helper()
			var n int
			if err := testsupport.OpenDB(t, dsn).Get(&n, `SELECT count(*) FROM "verification"`); err != nil {
				t.Fatal(err)
			}
			return n
		}
		waitEmpty := func(what string) {
			t.Helper()
			for deadline := time.Now().Add(5 * time.Second); left() > 0; time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("%s: expired rows still there", what)
				}
			}
		}

		expire("reset-password:first")
		h.startSweeper()
		h.startSweeper() // a config reload starts the app again: still one sweeper
		waitEmpty("first sweep")
		expire("2fa-later")
		waitEmpty("a later sweep")

		release()
		h.mu.Lock()
		running := h.stopSweeper != nil
		h.mu.Unlock()
		if running {
			t.Error("the sweeper outlived the last user of the database")
		}
	})
}

func TestSweeper_StartsWithTheConfig(t *testing.T) {
	g, err := provisionFromCaddyfile(t, "database "+testsupport.SQLiteDSN(t)+"\nsecret "+testSecret)
	if err != nil {
		t.Fatal(err)
	}
	g.db.mu.Lock()
	running := g.db.stopSweeper != nil
	g.db.mu.Unlock()
	if !running {
		t.Error("App.Start did not start the sweep of expired rows")
	}
}

// A tool that re-creates a table while Caddy runs (drizzle-kit push) takes
// the revocation triggers with it; the periodic sweep puts them back.
func TestSweeper_RestoresRevocationTriggersDroppedWhileRunning(t *testing.T) {
	dsn := testsupport.PostgresDirectDSN(t)
	h, key, err := acquireDB(dsn, "", "auto", true, false, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = dbPool.Delete(key) })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.st.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	h.sweepFirst, h.sweepEvery = 20*time.Millisecond, 50*time.Millisecond
	db := testsupport.OpenDB(t, dsn)
	count := func() int {
		var n int
		if err := db.Get(&n, `SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'auth_gate_%'`); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(); n != 4 {
		t.Fatalf("%d triggers after start, want 4", n)
	}
	h.startSweeper()
	if _, err := db.Exec(`DROP TRIGGER auth_gate_user_notify ON "user"`); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); count() != 4; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the dropped trigger was not restored by the sweep")
		}
	}
}

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

package store

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/testsupport"
)

// hit is one HitRateLimit call and what it must answer.
type hit struct {
	at      time.Duration // after t0
	allowed bool
	retry   time.Duration // when denied
}

func TestHitRateLimit_FollowsBetterAuthsAlgorithm(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		st := migratedStore(t, dsn)
		t0 := time.UnixMilli(1_800_000_000_000)
		const window, max = 10 * time.Second, 3
		for i, h := range []hit{
			{0, true, 0},
			{1 * time.Second, true, 0},
			{2 * time.Second, true, 0},
			// The 4th within the window: denied until 10 s after the last
			// counted request (t0+2s).
			{2 * time.Second, false, 10 * time.Second},
			{5 * time.Second, false, 7 * time.Second},
			{11*time.Second + 500*time.Millisecond, false, 500 * time.Millisecond},
			// A denial does not move the window: at t0+12s it has passed.
			{12 * time.Second, true, 0},
			{13 * time.Second, true, 0},
			// Every allowed request slides the window (Better Auth's
			// lastRequest = now): t0+21s is 8 s after the last one.
			{21 * time.Second, true, 0},
			{22 * time.Second, false, 9 * time.Second},
		} {
			allowed, retry, err := st.HitRateLimit(testCtx(t), "203.0.113.7|/sign-in/email", window, max, t0.Add(h.at))
			if err != nil {
				t.Fatalf("hit %d: %v", i, err)
			}
			if allowed != h.allowed || retry != h.retry {
				t.Fatalf("hit %d at +%v: allowed=%v retry=%v, want %v %v", i, h.at, allowed, retry, h.allowed, h.retry)
			}
		}
		// Another key is counted on its own.
		if allowed, _, err := st.HitRateLimit(testCtx(t), "198.51.100.1|/sign-in/email", window, max, t0.Add(22*time.Second)); err != nil || !allowed {
			t.Fatalf("other key: allowed=%v err=%v", allowed, err)
		}
	})
}

func TestHitRateLimit_ConcurrentHitsAllowExactlyMax(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		// Two pools on one database stand for two instances.
		stores := []*Store{migratedStore(t, dsn), migratedStore(t, dsn)}
		now := time.Now()
		const n, max = 40, 7
		var allowed atomic.Int32
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, _, err := stores[i%2].HitRateLimit(context.Background(), "k", time.Minute, max, now)
				if err != nil {
					errs <- err
				}
				if ok {
					allowed.Add(1)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if got := allowed.Load(); got != max {
			t.Fatalf("%d of %d concurrent hits allowed, want exactly %d", got, n, max)
		}
	})
}

func TestDeleteRateLimitsBefore_RemovesOnlyOldCounters(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		st := migratedStore(t, dsn)
		t0 := time.UnixMilli(1_800_000_000_000)
		for i, k := range []string{"old-1", "old-2", "new"} {
			at := t0
			if k == "new" {
				at = t0.Add(time.Minute)
			}
			if _, _, err := st.HitRateLimit(testCtx(t), k, time.Second, 1, at); err != nil {
				t.Fatalf("hit %d: %v", i, err)
			}
		}
		n, err := st.DeleteRateLimitsBefore(testCtx(t), t0.Add(30*time.Second))
		if err != nil || n != 2 {
			t.Fatalf("deleted %d, %v; want 2", n, err)
		}
		if got := count(t, st, `SELECT count(*) FROM `+st.dialect.ownTable("auth_gate_rate_limit")); got != 1 {
			t.Fatalf("%d rows left, want 1", got)
		}
	})
}

func TestUndoRateLimit_TakesBackOneCountedHit(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		st := migratedStore(t, dsn)
		t0 := time.UnixMilli(1_800_000_000_000)
		const window, max = 10 * time.Second, 2
		hitAt := func(key string, d time.Duration) bool {
			t.Helper()
			ok, _, err := st.HitRateLimit(testCtx(t), key, window, max, t0.Add(d))
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		undo := func(key string) {
			t.Helper()
			if err := st.UndoRateLimit(testCtx(t), key, max); err != nil {
				t.Fatal(err)
			}
		}
		// Each success is taken back: no number of them limits.
		for i := range 5 {
			if !hitAt("ok", time.Duration(i)*time.Millisecond) {
				t.Fatalf("hit %d after undoing the ones before was denied", i)
			}
			undo("ok")
		}
		// Counts never go below zero: two undos, then max hits still fill it.
		undo("floor")
		hitAt("floor", 0)
		undo("floor")
		undo("floor")
		hitAt("floor", 1)
		hitAt("floor", 2)
		if hitAt("floor", 3) {
			t.Fatal("an undo below zero was banked")
		}
		// A denial counts nothing (though the row marks it above max): an
		// undo after one frees a place, as in the memory store.
		undo("floor")
		if !hitAt("floor", 4) {
			t.Fatal("an undo after a denial freed nothing")
		}
		if hitAt("floor", 5) {
			t.Fatal("an undo after a denial freed more than one place")
		}
		// An undo of a key never counted creates nothing.
		undo("never")
		if got := count(t, st, `SELECT count(*) FROM `+st.dialect.ownTable("auth_gate_rate_limit")+` WHERE "key" = 'never'`); got != 0 {
			t.Fatalf("%d rows for an undone key that was never hit", got)
		}
	})
}

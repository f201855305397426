package store

import (
	"fmt"
	"testing"
	"time"
)

// pluginIdentifiers are verification identifiers Better Auth and its plugins
// write (plugins reference §7): the sweep must remove them by expiry alone,
// whatever their shape.
var pluginIdentifiers = []string{
	"reset-password:tok", "delete-account-abc", "auth-state:s", "2fa-0123456789abcdefghij",
	"2fa-attempts-2fa-0123456789abcdefghij", "trust-device-0123456789abcdefghij0123456789ab",
	"2fa-otp-k", "magic-link:t", "sign-in-otp-a@example.com", "0123456789abcdefghij0123456789ab",
	"", "not:a:known:shape",
}

func TestDeleteExpired_RemovesExpiredRowsInBoundedBatchesOnEveryLayout(t *testing.T) {
	eachLayout(t, func(t *testing.T, st *Store) {
		now := testNow.Add(time.Hour)
		u := mkUser(t, st, "sweep@example.com")
		const expired = 23
		for i := range expired {
			id := pluginIdentifiers[i%len(pluginIdentifiers)] + fmt.Sprint(i)
			// Expired at or before now, some long ago.
			mkVerification(t, st, id, "v", now.Add(-time.Duration(i)*24*time.Hour), testNow)
			if _, err := st.CreateSession(testCtx(t), NewSession{UserID: u.ID, ExpiresAt: now.Add(-time.Duration(i) * time.Minute)}, testNow); err != nil {
				t.Fatal(err)
			}
		}
		mkVerification(t, st, "live", "v", now.Add(time.Millisecond), testNow)
		live := mkSession(t, st, u.ID, now) // expires a week after now

		// One batch deletes at most its bound.
		q, err := st.queries(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		n, err := st.sweepBatch(testCtx(t), sweepStatements(q.layout, st.dialect, 7)[0], now)
		if err != nil || n != 7 {
			t.Fatalf("one batch of 7 deleted %d, %v", n, err)
		}

		v, s, err := st.deleteExpired(testCtx(t), now, 7)
		if err != nil {
			t.Fatal(err)
		}
		if v != expired-7 || s != expired {
			t.Errorf("deleted %d verifications and %d sessions, want %d and %d", v, s, expired-7, expired)
		}
		if got := count(t, st, `SELECT count(*) FROM "verification"`); got != 1 {
			t.Errorf("%d verification rows left, want only the live one", got)
		}
		if got := count(t, st, `SELECT count(*) FROM "session" WHERE "id" = ?`, live.ID); got != 1 {
			t.Errorf("the live session was deleted")
		}
		if got := count(t, st, `SELECT count(*) FROM "session"`); got != 1 {
			t.Errorf("%d sessions left, want only the live one", got)
		}

		// Nothing left to do: a second sweep deletes nothing.
		if v, s, err := st.DeleteExpired(testCtx(t), now); err != nil || v != 0 || s != 0 {
			t.Errorf("second sweep = %d, %d, %v; want 0, 0", v, s, err)
		}
	})
}

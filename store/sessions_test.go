package store

import (
	"testing"
	"time"
)

func TestListSessions_ReturnsTheUsersLiveSessionsOldestFirst(t *testing.T) {
	eachLayout(t, func(t *testing.T, st *Store) {
		ctx := testCtx(t)
		u := mkUser(t, st, "ada@example.com")
		other := mkUser(t, st, "bob@example.com")
		now := testNow.Add(30 * 24 * time.Hour)

		// Created out of order, so that the order comes from createdAt.
		newer := mkSession(t, st, u.ID, now.Add(-2*time.Hour))
		older := mkSession(t, st, u.ID, now.Add(-3*time.Hour))
		mkSession(t, st, other.ID, now.Add(-4*time.Hour))
		for _, expiresAt := range []time.Time{now.Add(-time.Second), now} {
			if _, err := st.CreateSession(ctx, NewSession{UserID: u.ID, ExpiresAt: expiresAt}, now.Add(-5*time.Hour)); err != nil {
				t.Fatal(err)
			}
		}

		got, err := st.ListSessions(ctx, u.ID, now)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 {
			t.Fatalf("ListSessions = %d sessions %+v, want 2", len(got), got)
		}
		assertSession(t, got[0], older)
		assertSession(t, got[1], newer)

		none, err := st.ListSessions(ctx, "ghost", now)
		if err != nil || len(none) != 0 {
			t.Errorf("unknown user: %v, %v; want no sessions and no error", none, err)
		}
	})
}

func TestDeleteUserSession_DeletesOnlyTheCallersOwnSession(t *testing.T) {
	eachLayout(t, func(t *testing.T, st *Store) {
		ctx := testCtx(t)
		u := mkUser(t, st, "ada@example.com")
		other := mkUser(t, st, "bob@example.com")
		mine := mkSession(t, st, u.ID, testNow)
		theirs := mkSession(t, st, other.ID, testNow)

		cases := []struct {
			name, token, want string
		}{
			{"AnotherUsersTokenIsRefused", theirs.Token, ""},
			{"UnknownTokenDeletesNothing", "no-such-token", ""},
			{"OwnTokenIsDeleted", mine.Token, mine.ID},
			{"SecondTimeDeletesNothing", mine.Token, ""},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				id, err := st.DeleteUserSession(ctx, u.ID, tc.token)
				if err != nil || id != tc.want {
					t.Fatalf("DeleteUserSession = %q, %v; want %q", id, err, tc.want)
				}
			})
		}
		if _, _, err := st.SessionByToken(ctx, theirs.Token); err != nil {
			t.Errorf("the other user's session: %v", err)
		}
	})
}

func TestDeleteSessions_DeletesAllOrAllButTheKeptOne(t *testing.T) {
	eachLayout(t, func(t *testing.T, st *Store) {
		cases := []struct {
			name string
			keep bool
		}{
			{"KeepNone", false},
			{"KeepCurrent", true},
		}
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				ctx := testCtx(t)
				u := mkUser(t, st, string(rune('a'+i))+"@example.com")
				other := mkUser(t, st, string(rune('a'+i))+"-other@example.com")
				cur, s2, s3 := mkSession(t, st, u.ID, testNow), mkSession(t, st, u.ID, testNow), mkSession(t, st, u.ID, testNow)
				theirs := mkSession(t, st, other.ID, testNow)

				keep, want := "", []string{cur.ID, s2.ID, s3.ID}
				if tc.keep {
					keep, want = cur.Token, []string{s2.ID, s3.ID}
				}
				ids, err := st.DeleteSessions(ctx, u.ID, keep)
				if err != nil {
					t.Fatal(err)
				}
				if !sameIDs(ids, want) {
					t.Errorf("deleted %v, want %v", ids, want)
				}
				left := count(t, st, `SELECT count(*) FROM "session" WHERE {userId} = ?`, u.ID)
				if left != 3-len(want) {
					t.Errorf("%d sessions left, want %d", left, 3-len(want))
				}
				if tc.keep {
					if _, _, err := st.SessionByToken(ctx, cur.Token); err != nil {
						t.Errorf("kept session: %v", err)
					}
				}
				if _, _, err := st.SessionByToken(ctx, theirs.Token); err != nil {
					t.Errorf("the other user's session: %v", err)
				}

				again, err := st.DeleteSessions(ctx, u.ID, keep)
				if err != nil || len(again) != 0 {
					t.Errorf("second call = %v, %v; want nothing deleted", again, err)
				}
			})
		}
	})
}

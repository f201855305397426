package store

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/testsupport"
)

// resetID is a password-reset identifier as Better Auth writes it; its token
// part must never appear in an error.
const resetID = "reset-password:A1RSlbtD4xQizyFi7j5rbF7u"

func mkVerification(t *testing.T, st *Store, identifier, value string, expiresAt, now time.Time) {
	t.Helper()
	if err := st.CreateVerification(testCtx(t), identifier, value, expiresAt, now); err != nil {
		t.Fatalf("CreateVerification: %v", err)
	}
}

// assertNotFound checks err is ErrNotFound and does not repeat the token.
func assertNotFound(t *testing.T, err error, sentinel error) {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Fatalf("err = %v, want %v", err, sentinel)
	}
	if strings.Contains(err.Error(), "A1RSlbtD4xQizyFi7j5rbF7u") {
		t.Errorf("error repeats the token: %v", err)
	}
}

func TestCreateVerification_StoresUTCMillisecondsAndReadsWithoutConsuming(t *testing.T) {
	eachLayout(t, func(t *testing.T, st *Store) {
		ctx := testCtx(t)
		expires := testNow.Add(time.Hour)
		mkVerification(t, st, resetID, "user-1", expires, testNow)

		for _, c := range []struct {
			col  string
			want time.Time
		}{
			{"expiresAt", normTime(expires)},
			{"createdAt", normTime(testNow)},
			{"updatedAt", normTime(testNow)},
		} {
			got := readTime(t, st, `SELECT {`+c.col+`} FROM "verification" WHERE "identifier" = ?`, resetID)
			assertTime(t, c.col, got, c.want)
		}
		if n := count(t, st, `SELECT count(*) FROM "verification" WHERE "identifier" = ? AND "value" = 'user-1' AND length("id") = 32`, resetID); n != 1 {
			t.Errorf("rows = %d, want 1 with a 32-character id", n)
		}

		for i := range 2 {
			v, err := st.VerificationValue(ctx, resetID, testNow)
			if err != nil || v != "user-1" {
				t.Fatalf("VerificationValue #%d = %q, %v; want user-1", i+1, v, err)
			}
		}
	})
}

func TestVerificationValue_ErrNotFoundWhenMissingOrExpired(t *testing.T) {
	eachLayout(t, func(t *testing.T, st *Store) {
		ctx := testCtx(t)
		mkVerification(t, st, resetID, "user-1", testNow.Add(time.Hour), testNow)
		cases := []struct {
			name       string
			identifier string
			now        time.Time
			want       string // "" means ErrNotFound
		}{
			{"Unexpired", resetID, testNow.Add(time.Hour - time.Millisecond), "user-1"},
			{"ExpiresNow", resetID, testNow.Add(time.Hour), ""},
			{"Expired", resetID, testNow.Add(2 * time.Hour), ""},
			{"Unknown", "reset-password:nope", testNow, ""},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				v, err := st.VerificationValue(ctx, tc.identifier, tc.now)
				if tc.want == "" {
					assertNotFound(t, err, ErrNotFound)
					return
				}
				if err != nil || v != tc.want {
					t.Fatalf("VerificationValue = %q, %v; want %q", v, err, tc.want)
				}
			})
		}
	})
}

func TestVerification_NewestUnexpiredRowWins(t *testing.T) {
	eachLayout(t, func(t *testing.T, st *Store) {
		ctx := testCtx(t)
		now := testNow.Add(10 * time.Minute)
		mkVerification(t, st, resetID, "old", now.Add(time.Hour), testNow)
		mkVerification(t, st, resetID, "new", now.Add(time.Hour), testNow.Add(time.Minute))
		mkVerification(t, st, resetID, "newest-but-expired", now.Add(-time.Second), testNow.Add(2*time.Minute))
		mkVerification(t, st, "other", "unrelated", now.Add(time.Hour), testNow)

		if v, err := st.VerificationValue(ctx, resetID, now); err != nil || v != "new" {
			t.Fatalf("VerificationValue = %q, %v; want new", v, err)
		}
		if v, err := st.ConsumeVerification(ctx, resetID, now); err != nil || v != "new" {
			t.Fatalf("ConsumeVerification = %q, %v; want new", v, err)
		}
		if n := count(t, st, `SELECT count(*) FROM "verification" WHERE "identifier" = ?`, resetID); n != 0 {
			t.Errorf("%d rows of the identifier left, want all deleted", n)
		}
		if n := count(t, st, `SELECT count(*) FROM "verification"`); n != 1 {
			t.Errorf("%d rows left, want the unrelated one", n)
		}
	})
}

func TestConsumeVerification_IsSingleUseAndRejectsExpiredRows(t *testing.T) {
	eachLayout(t, func(t *testing.T, st *Store) {
		ctx := testCtx(t)
		t.Run("SingleUse", func(t *testing.T) {
			mkVerification(t, st, resetID, "user-1", testNow.Add(time.Hour), testNow)
			if v, err := st.ConsumeVerification(ctx, resetID, testNow); err != nil || v != "user-1" {
				t.Fatalf("first = %q, %v; want user-1", v, err)
			}
			_, err := st.ConsumeVerification(ctx, resetID, testNow)
			assertNotFound(t, err, ErrNotFound)
			_, err = st.VerificationValue(ctx, resetID, testNow)
			assertNotFound(t, err, ErrNotFound)
		})
		t.Run("ExpiredIsErrNotFoundAndDeleted", func(t *testing.T) {
			mkVerification(t, st, resetID, "user-1", testNow.Add(time.Hour), testNow)
			_, err := st.ConsumeVerification(ctx, resetID, testNow.Add(time.Hour))
			assertNotFound(t, err, ErrNotFound)
			if n := count(t, st, `SELECT count(*) FROM "verification" WHERE "identifier" = ?`, resetID); n != 0 {
				t.Errorf("%d expired rows left, want them deleted", n)
			}
		})
	})
}

// consumers are the two ways of using up a verification row.
var consumers = []struct {
	name string
	use  func(ctx context.Context, st *Store, identifier string) error
}{
	{"ConsumeVerification", func(ctx context.Context, st *Store, id string) error {
		_, err := st.ConsumeVerification(ctx, id, testNow)
		return err
	}},
	{"ResetPassword", func(ctx context.Context, st *Store, id string) error {
		_, _, err := st.ResetPassword(ctx, id, "new:hash", testNow)
		return err
	}},
}

func TestConsumeVerification_ConcurrentConsumersExactlyOneWins(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		st := migratedStore(t, dsn)
		for _, c := range consumers {
			t.Run(c.name, func(t *testing.T) {
				for round := range 5 {
					u := mkUser(t, st, c.name+string(rune('a'+round))+"@example.com")
					mkVerification(t, st, resetID, u.ID, testNow.Add(time.Hour), testNow)

					const racers = 8
					ctx := testCtx(t)
					start := make(chan struct{})
					errs := make([]error, racers)
					var wg sync.WaitGroup
					for i := range racers {
						wg.Go(func() {
							<-start
							errs[i] = c.use(ctx, st, resetID)
						})
					}
					close(start)
					wg.Wait()

					wins := 0
					for _, err := range errs {
						switch {
						case err == nil:
							wins++
						case !errors.Is(err, ErrNotFound):
							t.Errorf("round %d: a loser failed otherwise than ErrNotFound: %v", round, err)
						}
					}
					if wins != 1 {
						t.Fatalf("round %d: %d consumers won, want exactly 1", round, wins)
					}
				}
			})
		}
	})
}

func TestResetPassword_SetsPasswordRevokesSessionsAndConsumesToken(t *testing.T) {
	eachLayout(t, func(t *testing.T, st *Store) {
		cases := []struct {
			name    string
			fixture string // run on the user's accounts before the reset
		}{
			{"UpdatesCredentialAccount", ""},
			{"CreatesMissingCredentialAccount", `DELETE FROM "account" WHERE {userId} = ?`},
		}
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				ctx := testCtx(t)
				u := mkUser(t, st, string(rune('a'+i))+"@example.com")
				if tc.fixture != "" {
					raw(t, st, tc.fixture, u.ID)
				}
				s1, s2 := mkSession(t, st, u.ID, testNow), mkSession(t, st, u.ID, testNow)
				other := mkUser(t, st, string(rune('a'+i))+"-other@example.com")
				so := mkSession(t, st, other.ID, testNow)
				id := resetID + string(rune('a'+i))
				mkVerification(t, st, id, u.ID, testNow.Add(time.Hour), testNow)

				later := testNow.Add(time.Minute)
				userID, revoked, err := st.ResetPassword(ctx, id, "new:hash", later)
				if err != nil {
					t.Fatal(err)
				}
				if userID != u.ID || !sameIDs(revoked, []string{s1.ID, s2.ID}) {
					t.Errorf("ResetPassword = %q, %v; want %q, [%s %s]", userID, revoked, u.ID, s1.ID, s2.ID)
				}
				if h, err := st.PasswordHash(ctx, u.ID); err != nil || h != "new:hash" {
					t.Errorf("PasswordHash = %q, %v; want new:hash", h, err)
				}
				assertTime(t, "account updatedAt", readTime(t, st,
					`SELECT {updatedAt} FROM "account" WHERE {userId} = ? AND {providerId} = 'credential'`, u.ID), normTime(later))
				if n := count(t, st, `SELECT count(*) FROM "session" WHERE {userId} = ?`, u.ID); n != 0 {
					t.Errorf("%d sessions left, want none", n)
				}
				if _, _, err := st.SessionByToken(ctx, so.Token); err != nil {
					t.Errorf("the other user's session: %v", err)
				}
				if h, err := st.PasswordHash(ctx, other.ID); err != nil || h != "s:k" {
					t.Errorf("the other user's password = %q, %v", h, err)
				}

				_, _, err = st.ResetPassword(ctx, id, "again:hash", later)
				assertNotFound(t, err, ErrNotFound)
			})
		}
	})
}

func TestResetPassword_ErrNotFoundForMissingOrExpiredToken(t *testing.T) {
	eachLayout(t, func(t *testing.T, st *Store) {
		ctx := testCtx(t)
		u := mkUser(t, st, "ada@example.com")
		mkVerification(t, st, resetID, u.ID, testNow.Add(time.Hour), testNow)

		_, _, err := st.ResetPassword(ctx, "reset-password:nope", "new:hash", testNow)
		assertNotFound(t, err, ErrNotFound)
		_, _, err = st.ResetPassword(ctx, resetID, "new:hash", testNow.Add(time.Hour))
		assertNotFound(t, err, ErrNotFound)
		if h, err := st.PasswordHash(ctx, u.ID); err != nil || h != "s:k" {
			t.Errorf("password = %q, %v; want it unchanged", h, err)
		}
	})
}

func TestResetPassword_FailureLeavesTheTokenUsable(t *testing.T) {
	eachLayout(t, func(t *testing.T, st *Store) {
		ctx := testCtx(t)
		u := mkUser(t, st, "ada@example.com")
		mkVerification(t, st, resetID, u.ID, testNow.Add(time.Hour), testNow)
		raw(t, st, `DELETE FROM "session" WHERE {userId} = ?`, u.ID)
		raw(t, st, `DELETE FROM "account" WHERE {userId} = ?`, u.ID)
		raw(t, st, `DELETE FROM "user" WHERE "id" = ?`, u.ID)

		_, _, err := st.ResetPassword(ctx, resetID, "new:hash", testNow)
		assertNotFound(t, err, ErrUserNotFound)
		if errors.Is(err, ErrNotFound) {
			t.Errorf("a vanished user is not a bad token: %v", err)
		}
		if n := count(t, st, `SELECT count(*) FROM "verification" WHERE "identifier" = ?`, resetID); n != 1 {
			t.Errorf("verification rows = %d, want the token still there", n)
		}
		if v, err := st.VerificationValue(ctx, resetID, testNow); err != nil || v != u.ID {
			t.Errorf("VerificationValue after the failed reset = %q, %v", v, err)
		}
		if n := count(t, st, `SELECT count(*) FROM "account" WHERE {userId} = ?`, u.ID); n != 0 {
			t.Errorf("the failed reset left %d accounts behind", n)
		}
	})
}

// Drizzle's SQLite schema stores times as integer milliseconds, and rows
// written by Better Auth then sit next to ours (ISO text) in one column.
// SQLite sorts every integer before every text, so only a comparison by time
// gets expiry and order right.
func TestSQLite_DrizzleIntegerTimesCompareByTime(t *testing.T) {
	st := openStore(t, testsupport.SQLiteDSN(t), Options{})
	if err := ensureSQLiteFile(st.sqlitePath); err != nil {
		t.Fatal(err)
	}
	execAll(t, st, testsupport.DrizzleSQLiteDDL...)
	st = adopted(t, st, layoutSnake)
	ctx := testCtx(t)
	now := normTime(testNow)
	ms := func(d time.Duration) int64 { return now.Add(d).UnixMilli() }

	u := mkUser(t, st, "ada@example.com")
	ours := mkSession(t, st, u.ID, now.Add(-time.Hour)) // ISO text
	raw(t, st, `INSERT INTO "session" ("id", "token", {userId}, {expiresAt}, {createdAt}, {updatedAt}) VALUES
		('live', 'tok-live', ?, ?, ?, ?), ('dead', 'tok-dead', ?, ?, ?, ?)`,
		u.ID, ms(time.Hour), ms(-2*time.Hour), ms(-2*time.Hour),
		u.ID, ms(-time.Second), ms(-3*time.Hour), ms(-3*time.Hour))

	list, err := st.ListSessions(ctx, u.ID, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != "live" || list[1].ID != ours.ID {
		t.Fatalf("ListSessions = %+v, want live (integer, older) then ours", list)
	}
	assertTime(t, "integer expiresAt", list[0].ExpiresAt, now.Add(time.Hour))

	raw(t, st, `INSERT INTO "verification" ("id", "identifier", "value", {expiresAt}, {createdAt}, {updatedAt}) VALUES
		('v1', 'int-live', 'a', ?, ?, ?), ('v2', 'int-dead', 'b', ?, ?, ?)`,
		ms(time.Hour), ms(0), ms(0), ms(-time.Millisecond), ms(-time.Hour), ms(-time.Hour))
	mkVerification(t, st, "text-live", "c", now.Add(time.Hour), now)
	mkVerification(t, st, "text-dead", "d", now.Add(-time.Hour), now.Add(-2*time.Hour))

	if v, err := st.VerificationValue(ctx, "int-live", now); err != nil || v != "a" {
		t.Errorf("VerificationValue(int-live) = %q, %v", v, err)
	}
	if _, err := st.VerificationValue(ctx, "int-dead", now); !errors.Is(err, ErrNotFound) {
		t.Errorf("VerificationValue(int-dead): err = %v, want ErrNotFound", err)
	}
	n, _, err := st.DeleteExpired(ctx, now)
	if err != nil || n != 2 {
		t.Fatalf("DeleteExpired = %d verifications, %v; want 2 (int-dead, text-dead)", n, err)
	}
	if v, err := st.ConsumeVerification(ctx, "int-live", now); err != nil || v != "a" {
		t.Errorf("ConsumeVerification(int-live) = %q, %v", v, err)
	}
	if v, err := st.ConsumeVerification(ctx, "text-live", now); err != nil || v != "c" {
		t.Errorf("ConsumeVerification(text-live) = %q, %v", v, err)
	}
}

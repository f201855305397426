package store

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/testsupport"
)

func TestCRUD_RoundTripsOnFreshDatabase(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		exerciseCRUD(t, migratedStore(t, dsn))
	})
}

// raw runs a test fixture statement written as a query template ({field}
// for column names), in the layout and dialect of st.
func raw(t *testing.T, st *Store, tmpl string, args ...any) {
	t.Helper()
	q, err := st.queries(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.db.ExecContext(testCtx(t), expand(tmpl, q.layout, st.dialect), args...); err != nil {
		t.Fatalf("%s: %v", tmpl, err)
	}
}

// count returns the result of a SELECT count(*) template.
func count(t *testing.T, st *Store, tmpl string, args ...any) int {
	t.Helper()
	q, err := st.queries(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := st.db.QueryRowContext(testCtx(t), expand(tmpl, q.layout, st.dialect), args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", tmpl, err)
	}
	return n
}

func assertTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) || got.Location() != time.UTC {
		t.Errorf("%s = %v (%v), want %v in UTC", what, got, got.Location(), want)
	}
}

func assertUser(t *testing.T, got, want User) {
	t.Helper()
	if got.ID != want.ID || got.Name != want.Name || got.Email != want.Email || got.EmailVerified != want.EmailVerified {
		t.Errorf("user = %+v, want %+v", got, want)
	}
	if (got.Image == nil) != (want.Image == nil) || (got.Image != nil && *got.Image != *want.Image) {
		t.Errorf("user image = %v, want %v", got.Image, want.Image)
	}
	assertTime(t, "user createdAt", got.CreatedAt, want.CreatedAt)
	assertTime(t, "user updatedAt", got.UpdatedAt, want.UpdatedAt)
}

func assertSession(t *testing.T, got, want Session) {
	t.Helper()
	if got.ID != want.ID || got.Token != want.Token || got.UserID != want.UserID {
		t.Errorf("session = %+v, want %+v", got, want)
	}
	if got.IPAddress == nil || want.IPAddress == nil || *got.IPAddress != *want.IPAddress ||
		got.UserAgent == nil || want.UserAgent == nil || *got.UserAgent != *want.UserAgent {
		t.Errorf("session ip/ua = %v/%v, want %v/%v", got.IPAddress, got.UserAgent, want.IPAddress, want.UserAgent)
	}
	assertTime(t, "session expiresAt", got.ExpiresAt, want.ExpiresAt)
	assertTime(t, "session createdAt", got.CreatedAt, want.CreatedAt)
	assertTime(t, "session updatedAt", got.UpdatedAt, want.UpdatedAt)
}

// exerciseCRUD runs every store method against st, whatever its dialect and
// layout.
func exerciseCRUD(t *testing.T, st *Store) {
	ctx := testCtx(t)
	// Not UTC and with nanoseconds: the store must write UTC and keep
	// milliseconds.
	ist := time.FixedZone("IST", 5*3600+1800)
	now := time.Date(2031, 5, 6, 7, 8, 9, 123456789, ist)
	wantNow := time.Date(2031, 5, 6, 1, 38, 9, 123000000, time.UTC)
	img := "https://example.com/a.png"

	created, err := st.CreateUserWithPassword(ctx, NewUser{
		Name: "Ada", Email: "ada@example.com", Image: &img, PasswordHash: "salt:key",
	}, now)
	if err != nil {
		t.Fatalf("CreateUserWithPassword: %v", err)
	}
	want := User{ID: created.ID, Name: "Ada", Email: "ada@example.com", Image: &img, CreatedAt: wantNow, UpdatedAt: wantNow}
	assertUser(t, created, want)
	if len(created.ID) != 32 {
		t.Errorf("user id %q is not 32 characters", created.ID)
	}

	t.Run("UserByIDReturnsTheCreatedUser", func(t *testing.T) {
		got, err := st.UserByID(ctx, created.ID)
		if err != nil {
			t.Fatal(err)
		}
		assertUser(t, got, want)
	})

	t.Run("CredentialByEmailReturnsUserAndHash", func(t *testing.T) {
		got, hash, err := st.CredentialByEmail(ctx, "ada@example.com")
		if err != nil {
			t.Fatal(err)
		}
		assertUser(t, got, want)
		if hash != "salt:key" {
			t.Errorf("hash = %q", hash)
		}
	})

	t.Run("SignUpWritesOneCredentialAccountLikeBetterAuth", func(t *testing.T) {
		n := count(t, st, `SELECT count(*) FROM "account" WHERE {userId} = ? AND {accountId} = ? AND {providerId} = 'credential'`,
			created.ID, created.ID)
		if n != 1 {
			t.Errorf("credential accounts = %d, want 1", n)
		}
	})

	t.Run("DuplicateEmailIsErrEmailTakenAndWritesNothing", func(t *testing.T) {
		accounts := count(t, st, `SELECT count(*) FROM "account"`)
		_, err := st.CreateUserWithPassword(ctx, NewUser{Name: "Eve", Email: "ada@example.com", PasswordHash: "x:y"}, now)
		if !errors.Is(err, ErrEmailTaken) {
			t.Fatalf("err = %v, want ErrEmailTaken", err)
		}
		if errors.Is(err, ErrUnavailable) {
			t.Errorf("a duplicate email is not an outage: %v", err)
		}
		if n := count(t, st, `SELECT count(*) FROM "account"`); n != accounts {
			t.Errorf("accounts = %d, want %d as before", n, accounts)
		}
	})

	t.Run("UnknownEmailIsErrNotFound", func(t *testing.T) {
		if _, _, err := st.CredentialByEmail(ctx, "nobody@example.com"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	})

	t.Run("UnknownUserIDIsErrNotFound", func(t *testing.T) {
		if _, err := st.UserByID(ctx, "missing"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	})

	t.Run("UnusableCredentialAccountIsErrNotFound", func(t *testing.T) {
		other, err := st.CreateUserWithPassword(ctx, NewUser{Name: "Bob", Email: "bob@example.com", PasswordHash: "s:k"}, now)
		if err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			name, update string
		}{
			{"NullPassword", `UPDATE "account" SET "password" = NULL WHERE {userId} = ?`},
			{"EmptyPassword", `UPDATE "account" SET "password" = '' WHERE {userId} = ?`},
			{"AccountIDNotTheUserID", `UPDATE "account" SET "password" = 's:k', {accountId} = 'other' WHERE {userId} = ?`},
			{"OtherProvider", `UPDATE "account" SET {accountId} = {userId}, {providerId} = 'github' WHERE {userId} = ?`},
			{"NoAccountAtAll", `DELETE FROM "account" WHERE {userId} = ?`},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				raw(t, st, tc.update, other.ID)
				if _, _, err := st.CredentialByEmail(ctx, "bob@example.com"); !errors.Is(err, ErrNotFound) {
					t.Fatalf("err = %v, want ErrNotFound", err)
				}
			})
		}
	})

	expires := now.Add(7 * 24 * time.Hour)
	sess, err := st.CreateSession(ctx, NewSession{
		UserID: created.ID, ExpiresAt: expires, IPAddress: "203.0.113.9", UserAgent: "curl/8",
	}, now)
	if err != nil {
		t.Fatalf("CreateSession: %v", err)
	}

	t.Run("SessionByTokenReturnsSessionAndUserWithUTCMilliseconds", func(t *testing.T) {
		if len(sess.ID) != 32 || len(sess.Token) != 32 || sess.ID == sess.Token {
			t.Errorf("session id %q / token %q: want two different 32-character ids", sess.ID, sess.Token)
		}
		ip, ua := "203.0.113.9", "curl/8"
		wantSess := Session{ID: sess.ID, Token: sess.Token, UserID: created.ID,
			ExpiresAt: wantNow.Add(7 * 24 * time.Hour), CreatedAt: wantNow, UpdatedAt: wantNow,
			IPAddress: &ip, UserAgent: &ua}
		assertSession(t, sess, wantSess)
		gotSess, gotUser, err := st.SessionByToken(ctx, sess.Token)
		if err != nil {
			t.Fatal(err)
		}
		assertSession(t, gotSess, wantSess)
		assertUser(t, gotUser, want)
	})

	t.Run("EmptyIPAndUserAgentAreStoredAsGiven", func(t *testing.T) {
		s2, err := st.CreateSession(ctx, NewSession{UserID: created.ID, ExpiresAt: expires}, now)
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := st.SessionByToken(ctx, s2.Token)
		if err != nil {
			t.Fatal(err)
		}
		if got.IPAddress == nil || *got.IPAddress != "" || got.UserAgent == nil || *got.UserAgent != "" {
			t.Errorf("ip/ua = %v/%v, want empty strings", got.IPAddress, got.UserAgent)
		}
	})

	t.Run("UnknownTokenIsErrNotFound", func(t *testing.T) {
		_, _, err := st.SessionByToken(ctx, "no-such-token")
		if !errors.Is(err, ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
		if strings.Contains(err.Error(), "no-such-token") {
			t.Errorf("error repeats the token: %v", err)
		}
	})

	t.Run("ExtendSessionMovesExpiryAndUpdatedAt", func(t *testing.T) {
		later := now.Add(36 * time.Hour)
		newExpiry := later.Add(7 * 24 * time.Hour)
		ok, err := st.ExtendSession(ctx, sess.ID, newExpiry, later)
		if err != nil || !ok {
			t.Fatalf("ExtendSession = %v, %v; want true, nil", ok, err)
		}
		got, _, err := st.SessionByToken(ctx, sess.Token)
		if err != nil {
			t.Fatal(err)
		}
		assertTime(t, "expiresAt", got.ExpiresAt, normTime(newExpiry))
		assertTime(t, "updatedAt", got.UpdatedAt, normTime(later))
		assertTime(t, "createdAt", got.CreatedAt, wantNow)
	})

	t.Run("DeleteSessionByTokenRemovesItAndToleratesAbsence", func(t *testing.T) {
		if err := st.DeleteSessionByToken(ctx, sess.Token); err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.SessionByToken(ctx, sess.Token); !errors.Is(err, ErrNotFound) {
			t.Fatalf("after delete: err = %v, want ErrNotFound", err)
		}
		if err := st.DeleteSessionByToken(ctx, sess.Token); err != nil {
			t.Fatalf("second delete: %v", err)
		}
	})

	t.Run("ExtendSessionOnDeletedRowReturnsFalse", func(t *testing.T) {
		ok, err := st.ExtendSession(ctx, sess.ID, expires, now)
		if err != nil || ok {
			t.Fatalf("ExtendSession = %v, %v; want false, nil", ok, err)
		}
	})

	t.Run("DeletingTheUserCascadesToSessionsAndAccounts", func(t *testing.T) {
		// On SQLite this proves foreign_keys is on for every connection.
		s3, err := st.CreateSession(ctx, NewSession{UserID: created.ID, ExpiresAt: expires}, now)
		if err != nil {
			t.Fatal(err)
		}
		raw(t, st, `DELETE FROM "user" WHERE "id" = ?`, created.ID)
		if _, _, err := st.SessionByToken(ctx, s3.Token); !errors.Is(err, ErrNotFound) {
			t.Errorf("session of deleted user: err = %v, want ErrNotFound", err)
		}
		if n := count(t, st, `SELECT count(*) FROM "account" WHERE {userId} = ?`, created.ID); n != 0 {
			t.Errorf("accounts of deleted user = %d", n)
		}
	})

	t.Run("SessionForUnknownUserIsRejected", func(t *testing.T) {
		_, err := st.CreateSession(ctx, NewSession{UserID: "ghost", ExpiresAt: expires}, now)
		if err == nil {
			t.Fatal("CreateSession for a missing user succeeded")
		}
		if errors.Is(err, ErrUnavailable) {
			t.Errorf("a foreign-key violation is not an outage: %v", err)
		}
	})
}

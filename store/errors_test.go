package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/authgate/authgate/internal/testsupport"
)

// closedAddr returns a local address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// everyMethod calls each data method of st once and returns the errors by
// method name.
func everyMethod(ctx context.Context, st *Store) map[string]error {
	now := time.Now()
	errs := map[string]error{}
	_, errs["CreateUserWithPassword"] = st.CreateUserWithPassword(ctx, NewUser{Name: "n", Email: "e@example.com", PasswordHash: "s:k"}, now)
	_, _, errs["CredentialByEmail"] = st.CredentialByEmail(ctx, "e@example.com")
	_, errs["UserByID"] = st.UserByID(ctx, "id")
	_, errs["CreateSession"] = st.CreateSession(ctx, NewSession{UserID: "id", ExpiresAt: now}, now)
	_, _, errs["SessionByToken"] = st.SessionByToken(ctx, "tok")
	errs["DeleteSessionByToken"] = st.DeleteSessionByToken(ctx, "tok")
	_, errs["ExtendSession"] = st.ExtendSession(ctx, "id", now, now)
	_, errs["UserByEmail"] = st.UserByEmail(ctx, "e@example.com")
	_, errs["PasswordHash"] = st.PasswordHash(ctx, "id")
	_, errs["ListSessions"] = st.ListSessions(ctx, "id", now)
	_, errs["DeleteUserSession"] = st.DeleteUserSession(ctx, "id", "tok")
	_, errs["DeleteSessions"] = st.DeleteSessions(ctx, "id", "")
	_, errs["UpdateUser"] = st.UpdateUser(ctx, "id", UserUpdate{}, now)
	_, errs["SetPassword"] = st.SetPassword(ctx, "id", "s:k", true, now)
	_, errs["MarkEmailVerified"] = st.MarkEmailVerified(ctx, "id", now)
	_, errs["DeleteUser"] = st.DeleteUser(ctx, "id")
	errs["CreateVerification"] = st.CreateVerification(ctx, "ident", "v", now, now)
	_, errs["VerificationValue"] = st.VerificationValue(ctx, "ident", now)
	_, errs["ConsumeVerification"] = st.ConsumeVerification(ctx, "ident", now)
	_, errs["DeleteExpiredVerifications"] = st.DeleteExpiredVerifications(ctx, now)
	_, _, errs["ResetPassword"] = st.ResetPassword(ctx, "ident", "s:k", now)
	errs["Ping"] = st.Ping(ctx)
	return errs
}

func TestErrUnavailable_WhenServerIsUnreachable(t *testing.T) {
	for _, schema := range []string{"camel", "auto"} {
		t.Run(schema, func(t *testing.T) {
			st := openStore(t, "postgres://u:p@"+closedAddr(t)+"/db?sslmode=disable&connect_timeout=2",
				Options{Schema: schema})
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			errs := everyMethod(ctx, st)
			errs["Migrate"] = st.Migrate(ctx)
			errs["Detect"] = st.Detect(ctx)
			for method, err := range errs {
				if !errors.Is(err, ErrUnavailable) {
					t.Errorf("%s: err = %v, want ErrUnavailable", method, err)
				}
			}
		})
	}
}

func TestErrUnavailable_AfterClose(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		st := migratedStore(t, dsn)
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		for method, err := range everyMethod(testCtx(t), st) {
			if !errors.Is(err, ErrUnavailable) {
				t.Errorf("%s: err = %v, want ErrUnavailable", method, err)
			}
		}
	})
}

func TestErrUnavailable_WhenContextDeadlinePassesWhileBlocked(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		st := migratedStore(t, dsn)
		ctx := testCtx(t)
		u, err := st.CreateUserWithPassword(ctx, NewUser{Name: "n", Email: "e@example.com", PasswordHash: "s:k"}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		sess, err := st.CreateSession(ctx, NewSession{UserID: u.ID, ExpiresAt: time.Now().Add(time.Hour)}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		// Another writer holds the row (PostgreSQL) or the database
		// (SQLite, where BEGIN is IMMEDIATE) and does not let go.
		blocker, err := st.db.BeginTxx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = blocker.Rollback() }()
		if _, err := blocker.ExecContext(ctx, expand(`UPDATE "session" SET "token" = "token" WHERE "id" = ?`, layoutCamel, st.dialect), sess.ID); err != nil {
			t.Fatal(err)
		}

		short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		started := time.Now()
		_, err = st.ExtendSession(short, sess.ID, time.Now().Add(2*time.Hour), time.Now())
		t.Logf("blocked ExtendSession: %v", err)
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("err = %v, want ErrUnavailable", err)
		}
		if waited := time.Since(started); waited > 3*time.Second {
			t.Errorf("gave up after %v; the context allowed 300ms", waited)
		}
	})
}

func TestUnavailable_ClassifiesDriverErrors(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"ConnectionRefused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, true},
		{"EOF", fmt.Errorf("read: %w", io.EOF), true},
		{"UnexpectedEOF", io.ErrUnexpectedEOF, true},
		{"DeadlineExceeded", context.DeadlineExceeded, true},
		{"ConnDone", sql.ErrConnDone, true},
		{"PoolClosed", errDBClosed, true},
		{"AdminShutdown", &pq.Error{Code: "57P01"}, true},
		{"CannotConnectNow", &pq.Error{Code: "57P03"}, true},
		{"TooManyConnections", &pq.Error{Code: "53300"}, true},
		{"ConnectionFailure", &pq.Error{Code: "08006"}, true},
		{"UniqueViolation", &pq.Error{Code: "23505"}, false},
		{"UndefinedTable", &pq.Error{Code: "42P01"}, false},
		{"NoRows", sql.ErrNoRows, false},
		{"NotFound", ErrNotFound, false},
		{"Canceled", context.Canceled, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := unavailable(tc.err); got != tc.want {
				t.Errorf("unavailable(%v) = %v, want %v", tc.err, got, tc.want)
			}
			wrapped := wrap("op", tc.err)
			if errors.Is(wrapped, ErrUnavailable) != tc.want {
				t.Errorf("errors.Is(wrap(%v), ErrUnavailable) = %v", tc.err, !tc.want)
			}
			if !errors.Is(wrapped, tc.err) {
				t.Errorf("wrap lost the cause %v", tc.err)
			}
		})
	}
}

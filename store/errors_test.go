package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
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

// storeCalls calls each exported method of st that takes a context, by
// method name: every one of them is a store call that must answer
// ErrUnavailable when the database cannot.
func storeCalls(st *Store) map[string]func(ctx context.Context) error {
	now := time.Now()
	return map[string]func(ctx context.Context) error{
		"CreateUserWithPassword": func(ctx context.Context) error {
			_, err := st.CreateUserWithPassword(ctx, NewUser{Name: "n", Email: "e@example.com", PasswordHash: "s:k"}, now)
			return err
		},
		"CredentialByEmail": func(ctx context.Context) error { _, _, err := st.CredentialByEmail(ctx, "e@example.com"); return err },
		"UserByID":          func(ctx context.Context) error { _, err := st.UserByID(ctx, "id"); return err },
		"CreateSession": func(ctx context.Context) error {
			_, err := st.CreateSession(ctx, NewSession{UserID: "id", ExpiresAt: now}, now)
			return err
		},
		"SessionByToken":       func(ctx context.Context) error { _, _, err := st.SessionByToken(ctx, "tok"); return err },
		"DeleteSessionByToken": func(ctx context.Context) error { return st.DeleteSessionByToken(ctx, "tok") },
		"ExtendSession":        func(ctx context.Context) error { _, err := st.ExtendSession(ctx, "id", now, now); return err },
		"UserByEmail":          func(ctx context.Context) error { _, err := st.UserByEmail(ctx, "e@example.com"); return err },
		"PasswordHash":         func(ctx context.Context) error { _, err := st.PasswordHash(ctx, "id"); return err },
		"ListSessions":         func(ctx context.Context) error { _, err := st.ListSessions(ctx, "id", now); return err },
		"DeleteUserSession":    func(ctx context.Context) error { _, err := st.DeleteUserSession(ctx, "id", "tok"); return err },
		"DeleteSessions":       func(ctx context.Context) error { _, err := st.DeleteSessions(ctx, "id", ""); return err },
		"UpdateUser":           func(ctx context.Context) error { _, err := st.UpdateUser(ctx, "id", UserUpdate{}, now); return err },
		"SetPassword":          func(ctx context.Context) error { _, err := st.SetPassword(ctx, "id", "s:k", true, now); return err },
		"MarkEmailVerified":    func(ctx context.Context) error { _, err := st.MarkEmailVerified(ctx, "id", now); return err },
		"DeleteUser":           func(ctx context.Context) error { _, err := st.DeleteUser(ctx, "id"); return err },
		"CreateVerification":   func(ctx context.Context) error { return st.CreateVerification(ctx, "ident", "v", now, now) },
		"VerificationValue":    func(ctx context.Context) error { _, err := st.VerificationValue(ctx, "ident", now); return err },
		"ConsumeVerification":  func(ctx context.Context) error { _, err := st.ConsumeVerification(ctx, "ident", now); return err },
		"Ready":                func(ctx context.Context) error { return st.Ready(ctx) },
		"UsePreparedLookups":   func(ctx context.Context) error { _, err := st.UsePreparedLookups(ctx); return err },
		"ResetPassword":        func(ctx context.Context) error { _, _, err := st.ResetPassword(ctx, "ident", "s:k", now); return err },
		"HitRateLimit": func(ctx context.Context) error {
			_, _, err := st.HitRateLimit(ctx, "key", time.Second, 1, now)
			return err
		},
		"DeleteRateLimitsBefore": func(ctx context.Context) error { _, err := st.DeleteRateLimitsBefore(ctx, now); return err },
		"ListUsers":              func(ctx context.Context) error { _, err := st.ListUsers(ctx, 10, 0); return err },
		"DeleteSessionByID":      func(ctx context.Context) error { _, err := st.DeleteSessionByID(ctx, "id"); return err },
		"Ping":                   func(ctx context.Context) error { return st.Ping(ctx) },
		"UndoRateLimit":          func(ctx context.Context) error { return st.UndoRateLimit(ctx, "key", 1) },
		"LiftExpiredBan":         func(ctx context.Context) error { return st.LiftExpiredBan(ctx, "id", now) },
		"DeleteExpired":          func(ctx context.Context) error { _, _, err := st.DeleteExpired(ctx, now); return err },
		"CheckNoticeTriggers":    func(ctx context.Context) error { _, err := st.CheckNoticeTriggers(ctx); return err },
		"Migrate":                func(ctx context.Context) error { return st.Migrate(ctx) },
		"MigrateApplied":         func(ctx context.Context) error { _, err := st.MigrateApplied(ctx); return err },
		"Detect":                 func(ctx context.Context) error { return st.Detect(ctx) },
		"AccountByProvider":      func(ctx context.Context) error { _, err := st.AccountByProvider(ctx, "p", "a"); return err },
		"CreateOAuthUser": func(ctx context.Context) error {
			_, _, err := st.CreateOAuthUser(ctx, NewOAuthUser{Name: "n", Email: "e@example.com", Account: OAuthAccount{ProviderID: "p", AccountID: "a"}}, now)
			return err
		},
		"LinkAccount": func(ctx context.Context) error {
			_, err := st.LinkAccount(ctx, "id", OAuthAccount{ProviderID: "p", AccountID: "a"}, now)
			return err
		},
		"UpdateAccountTokens": func(ctx context.Context) error { return st.UpdateAccountTokens(ctx, "id", AccountTokens{}, now) },
		"ListAccounts":        func(ctx context.Context) error { _, err := st.ListAccounts(ctx, "id"); return err },
		"UnlinkAccount":       func(ctx context.Context) error { return st.UnlinkAccount(ctx, "id", "acc", false) },
		"UpdateLinkedAccount": func(ctx context.Context) error { return st.UpdateLinkedAccount(ctx, "id", AccountTokens{}, "s", now) },

		"EnsureTwoFactorSchema":  func(ctx context.Context) error { return st.EnsureTwoFactorSchema(ctx) },
		"TwoFactorByUser":        func(ctx context.Context) error { _, err := st.TwoFactorByUser(ctx, "id"); return err },
		"SaveTwoFactor":          func(ctx context.Context) error { return st.SaveTwoFactor(ctx, "id", "s", "c", false) },
		"SetTwoFactorVerified":   func(ctx context.Context) error { return st.SetTwoFactorVerified(ctx, "id") },
		"SwapBackupCodes":        func(ctx context.Context) error { _, err := st.SwapBackupCodes(ctx, "id", "a", "b"); return err },
		"SetBackupCodes":         func(ctx context.Context) error { return st.SetBackupCodes(ctx, "id", "c") },
		"SetTwoFactorEnabled":    func(ctx context.Context) error { return st.SetTwoFactorEnabled(ctx, "id", true, now) },
		"DisableTwoFactor":       func(ctx context.Context) error { return st.DisableTwoFactor(ctx, "id", now) },
		"ResetTwoFactor":         func(ctx context.Context) error { _, err := st.ResetTwoFactor(ctx, "id", now); return err },
		"RecordTwoFactorFailure": func(ctx context.Context) error { return st.RecordTwoFactorFailure(ctx, "id", 10, time.Minute, now) },
		"ResetTwoFactorFailures": func(ctx context.Context) error { return st.ResetTwoFactorFailures(ctx, "id") },
		"UnlockExpiredTwoFactor": func(ctx context.Context) error { return st.UnlockExpiredTwoFactor(ctx, "id", now) },
		"VerificationEntry":      func(ctx context.Context) error { _, _, err := st.VerificationEntry(ctx, "ident", now); return err },
		"EnsureJWKSTable":        func(ctx context.Context) error { return st.EnsureJWKSTable(ctx) },
		"JWKs":                   func(ctx context.Context) error { _, err := st.JWKs(ctx); return err },
		"InsertJWK":              func(ctx context.Context) error { return st.InsertJWK(ctx, JWK{ID: "k", CreatedAt: now}) },
		"SetJWKExpiry":           func(ctx context.Context) error { return st.SetJWKExpiry(ctx, "k", now) },

		// The admin plugin's (adminusers.go).
		"EnsureAdminSchema": func(ctx context.Context) error { return st.EnsureAdminSchema(ctx) },
		"QueryUsers":        func(ctx context.Context) error { _, _, err := st.QueryUsers(ctx, UserQuery{}); return err },
		"CreateUser": func(ctx context.Context) error {
			_, err := st.CreateUser(ctx, NewAdminUser{Name: "n", Email: "e@example.com", Role: "user"}, now)
			return err
		},
		"SetRole":   func(ctx context.Context) error { _, err := st.SetRole(ctx, "id", "admin", now); return err },
		"BanUser":   func(ctx context.Context) error { _, _, err := st.BanUser(ctx, "id", "r", nil, now); return err },
		"UnbanUser": func(ctx context.Context) error { _, err := st.UnbanUser(ctx, "id", now); return err },
		"RevokeSessionByToken": func(ctx context.Context) error {
			_, _, err := st.RevokeSessionByToken(ctx, "tok")
			return err
		},
		"CreateImpersonationSession": func(ctx context.Context) error {
			_, err := st.CreateImpersonationSession(ctx, NewSession{UserID: "id", ExpiresAt: now}, "adm", now)
			return err
		},
	}
}

// withoutQuery names the methods that, on a database without the plugin
// columns they work on (the test databases), answer at once without a
// query: nil is right for them when the database cannot answer.
var withoutQuery = map[string]bool{"LiftExpiredBan": true,
	// These refuse with ErrNoAdminColumns instead.
	"SetRole": true, "BanUser": true, "UnbanUser": true, "CreateImpersonationSession": true}

// checkUnavailable fails the test unless err is ErrUnavailable (or nil from
// a method of withoutQuery).
func checkUnavailable(t *testing.T, method string, err error) {
	t.Helper()
	if withoutQuery[method] && (err == nil || errors.Is(err, ErrNoAdminColumns)) {
		return
	}
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("%s: err = %v, want ErrUnavailable", method, err)
	}
}

// everyMethod calls each data method of st once and returns the errors by
// method name. Migrate, MigrateApplied and Detect are left out: they create
// the tables that the other methods need.
func everyMethod(ctx context.Context, st *Store) map[string]error {
	errs := map[string]error{}
	for name, call := range storeCalls(st) {
		if name == "Migrate" || name == "MigrateApplied" || name == "Detect" {
			continue
		}
		if name == "UsePreparedLookups" && st.Driver() == "sqlite" {
			continue // nothing to test on SQLite, so nothing to fail
		}
		errs[name] = call(ctx)
	}
	return errs
}

// TestStoreCalls_CoverEveryMethodThatTakesAContext: a method added to Store
// later is tested with the others, or this fails.
func TestStoreCalls_CoverEveryMethodThatTakesAContext(t *testing.T) {
	calls := storeCalls(&Store{})
	ctxType := reflect.TypeFor[context.Context]()
	typ := reflect.TypeFor[*Store]()
	for i := range typ.NumMethod() {
		m := typ.Method(i)
		if m.Type.NumIn() > 1 && m.Type.In(1) == ctxType {
			if _, ok := calls[m.Name]; !ok {
				t.Errorf("storeCalls lacks %s", m.Name)
			}
		}
	}
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
				checkUnavailable(t, method, err)
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
		errs := everyMethod(testCtx(t), st)
		delete(errs, "Ready") // the store was ready: it asks the database nothing
		for method, err := range errs {
			checkUnavailable(t, method, err)
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
		{"RoleNotPermittedToLogIn", &pq.Error{Code: "28000"}, true},
		{"PasswordAuthenticationFailed", &pq.Error{Code: "28P01"}, true},
		{"DatabaseDoesNotExist", &pq.Error{Code: "3D000"}, true},
		{"DatabaseNotAcceptingConnections", &pq.Error{Code: "55000"}, true},
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

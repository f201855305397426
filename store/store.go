// Package store is the data access layer of auth_gate: Better Auth's core
// tables (user, session, account, verification) on PostgreSQL (lib/pq) or
// SQLite (modernc.org/sqlite), through sqlx.
//
// It speaks in domain words (CreateUserWithPassword, SessionByToken,
// DeleteSession) and knows nothing of HTTP. Dialect differences (bind
// variables, time representation, error codes, DSN forms, migration
// locking) live in dialect.go; the column naming of the adopted layout in
// layout.go, and rows are read into the structs of rows.go by sqlx.
package store

import (
	"errors"
	"time"
)

// Errors callers branch on. Everything else is an infrastructure failure
// (ErrUnavailable wraps those that mean "the database cannot answer").
var (
	// ErrNotFound: no row matched.
	ErrNotFound = errors.New("store: not found")
	// ErrEmailTaken: a user with that (normalised) email already exists.
	ErrEmailTaken = errors.New("store: email already registered")
	// ErrUserNotFound: a token named a user that no longer exists.
	ErrUserNotFound = errors.New("store: user not found")
	// ErrUnavailable wraps connection-level failures: refused connection,
	// closed pool, server shutting down, context deadline. The gate turns it
	// into 503.
	ErrUnavailable = errors.New("store: database unavailable")
)

// User is a row of Better Auth's "user" table.
type User struct {
	ID            string
	Name          string
	Email         string
	EmailVerified bool
	Image         *string // NULL when unset
	CreatedAt     time.Time
	UpdatedAt     time.Time

	// Columns of Better Auth's two-factor and admin plugins: false or nil when unset or when the
	// database lacks the column.
	TwoFactorEnabled bool       // two-factor plugin: enrolled
	Banned           bool       // admin plugin; see BannedAt
	BanExpires       *time.Time // admin plugin; nil means a ban never runs out
	Role             string     // admin plugin: the comma list as stored; "" when NULL or no column
	BanReason        *string    // admin plugin
	// AdminColumns says the database has the admin plugin's user columns:
	// Better Auth with that plugin shows them in the user's JSON.
	AdminColumns bool
	// TwoFactorColumn says the database has user.twoFactorEnabled: Better
	// Auth with the two-factor plugin shows it in the user's JSON.
	TwoFactorColumn bool
}

// Session is a row of Better Auth's "session" table.
type Session struct {
	ID        string
	Token     string
	UserID    string
	ExpiresAt time.Time
	CreatedAt time.Time
	UpdatedAt time.Time
	IPAddress *string
	UserAgent *string
	// ImpersonatedBy is the admin plugin's column (the admin's user id);
	// ImpersonationColumn says the database has it, so that the session's
	// JSON carries it as Better Auth's does with that plugin.
	ImpersonatedBy      *string
	ImpersonationColumn bool
}

// NewUser is what sign-up hands to CreateUserWithPassword.
type NewUser struct {
	Name         string
	Email        string // already trimmed and lower-cased by the caller
	Image        *string
	PasswordHash string // "<saltHex>:<keyHex>", written to the credential account row
}

// NewSession is what sign-in/sign-up hand to CreateSession.
type NewSession struct {
	UserID    string
	ExpiresAt time.Time
	IPAddress string // stored as given ("" allowed, as Better Auth does)
	UserAgent string
}

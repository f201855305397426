package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// AccountTokens are a provider's tokens as Better Auth keeps them in the
// account row. An empty string or zero time is stored as NULL.
type AccountTokens struct {
	AccessToken           string
	RefreshToken          string
	IDToken               string
	AccessTokenExpiresAt  time.Time
	RefreshTokenExpiresAt time.Time
	// Scope is the granted scopes joined with "," as Better Auth joins them.
	Scope string
}

// OAuthAccount is a new account row of a social or OpenID Connect provider.
type OAuthAccount struct {
	ProviderID string // the provider id: "google", "github", an oidc id
	AccountID  string // the provider's subject for the user
	// Issuer is the OpenID Connect issuer of a generic provider; it only
	// fills the legacy account.issuer column, where one exists.
	Issuer string
	AccountTokens
}

// Account is an account row of a provider (not the credential row).
type Account struct {
	ID         string
	UserID     string
	ProviderID string
	AccountID  string
	AccountTokens
	CreatedAt time.Time
	UpdatedAt time.Time
}

// NewOAuthUser is a user signing up through a provider, with its account.
type NewOAuthUser struct {
	Name          string
	Email         string // already trimmed and lower-cased by the caller
	EmailVerified bool   // as the provider says
	Image         *string
	Account       OAuthAccount
}

// ErrDuplicateAccount is more than one account row for one provider
// subject, which Better Auth also refuses to sign in with.
var ErrDuplicateAccount = errors.New("store: more than one account for this provider subject")

type accountQueries struct {
	byProvider   string
	insert       string // takes the legacy issuer last when the column exists
	updateTokens string
	linkQueries
}

var accountFields = []string{"id", "userId", "providerId", "accountId", "accessToken", "refreshToken", "idToken",
	"accessTokenExpiresAt", "refreshTokenExpiresAt", "scope", "createdAt", "updatedAt"}

func buildAccountQueries(l layout, d *dialect, p Plugins) accountQueries {
	x := func(tmpl string) string { return expand(tmpl, l, d) }
	insert := `INSERT INTO "account" ("id", {userId}, {providerId}, {accountId}, {accessToken}, {refreshToken}, {idToken},
		{accessTokenExpiresAt}, {refreshTokenExpiresAt}, {scope}, {createdAt}, {updatedAt}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	if p.AccountIssuer {
		insert = `INSERT INTO "account" ("id", {userId}, {providerId}, {accountId}, {accessToken}, {refreshToken}, {idToken},
		{accessTokenExpiresAt}, {refreshTokenExpiresAt}, {scope}, {createdAt}, {updatedAt}, "issuer") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	}
	return accountQueries{
		linkQueries: buildLinkQueries(x, d),
		// Two rows are enough to tell a duplicate.
		byProvider: x(`SELECT ` + selectList("a.", "", accountFields...) + ` FROM "account" a
			WHERE a.{providerId} = ? AND a.{accountId} = ? LIMIT 2`),
		insert: x(insert),
		// A token the provider did not send this time is kept, as Better
		// Auth drops undefined fields from the update; scope is never
		// rewritten on sign-in.
		updateTokens: x(`UPDATE "account" SET {accessToken} = COALESCE(?, {accessToken}),
			{refreshToken} = COALESCE(?, {refreshToken}), {idToken} = COALESCE(?, {idToken}),
			{accessTokenExpiresAt} = COALESCE(?, {accessTokenExpiresAt}),
			{refreshTokenExpiresAt} = COALESCE(?, {refreshTokenExpiresAt}), {updatedAt} = ?
			WHERE "id" = ?`),
	}
}

// accountRow is a row of "account" without the password.
type accountRow struct {
	ID                    string  `db:"id"`
	UserID                string  `db:"user_id"`
	ProviderID            string  `db:"provider_id"`
	AccountID             string  `db:"account_id"`
	AccessToken           *string `db:"access_token"`
	RefreshToken          *string `db:"refresh_token"`
	IDToken               *string `db:"id_token"`
	AccessTokenExpiresAt  *dbTime `db:"access_token_expires_at"`
	RefreshTokenExpiresAt *dbTime `db:"refresh_token_expires_at"`
	Scope                 *string `db:"scope"`
	CreatedAt             dbTime  `db:"created_at"`
	UpdatedAt             dbTime  `db:"updated_at"`
}

func (r *accountRow) account() Account {
	deref := func(s *string) string {
		if s == nil {
			return ""
		}
		return *s
	}
	at := func(t *dbTime) time.Time {
		if t == nil {
			return time.Time{}
		}
		return time.Time(*t)
	}
	return Account{
		ID: r.ID, UserID: r.UserID, ProviderID: r.ProviderID, AccountID: r.AccountID,
		AccountTokens: AccountTokens{
			AccessToken:           deref(r.AccessToken),
			RefreshToken:          deref(r.RefreshToken),
			IDToken:               deref(r.IDToken),
			AccessTokenExpiresAt:  at(r.AccessTokenExpiresAt),
			RefreshTokenExpiresAt: at(r.RefreshTokenExpiresAt),
			Scope:                 deref(r.Scope),
		},
		CreatedAt: time.Time(r.CreatedAt),
		UpdatedAt: time.Time(r.UpdatedAt),
	}
}

// nullString writes "" as NULL, as Better Auth leaves an absent token.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// nullTime writes the zero time as NULL.
func (q *queries) nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return q.timeArg(normTime(t))
}

// AccountByProvider returns the account of a provider subject, or
// ErrNotFound; ErrDuplicateAccount when there are several.
func (s *Store) AccountByProvider(ctx context.Context, providerID, accountID string) (Account, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	op := "look up account of " + providerID
	q, err := s.queries(ctx)
	if err != nil {
		return Account{}, wrap(op, err)
	}
	var rows []accountRow
	if err := s.db.SelectContext(ctx, &rows, q.accounts.byProvider, providerID, accountID); err != nil {
		return Account{}, wrap(op, err)
	}
	switch len(rows) {
	case 0:
		return Account{}, wrap(op, ErrNotFound)
	case 1:
		return rows[0].account(), nil
	}
	return Account{}, wrap(op, ErrDuplicateAccount)
}

func (q *queries) insertOAuthAccount(ctx context.Context, db sqlx.ExecerContext, userID string, a OAuthAccount, now time.Time) (Account, error) {
	acc := Account{
		ID: NewID(), UserID: userID, ProviderID: a.ProviderID, AccountID: a.AccountID,
		AccountTokens: a.AccountTokens, CreatedAt: now, UpdatedAt: now,
	}
	acc.AccessTokenExpiresAt = optionalNorm(a.AccessTokenExpiresAt)
	acc.RefreshTokenExpiresAt = optionalNorm(a.RefreshTokenExpiresAt)
	t := q.timeArg(now)
	args := []any{acc.ID, userID, a.ProviderID, a.AccountID, nullString(a.AccessToken), nullString(a.RefreshToken),
		nullString(a.IDToken), q.nullTime(a.AccessTokenExpiresAt), q.nullTime(a.RefreshTokenExpiresAt), nullString(a.Scope), t, t}
	if q.accountIssuer {
		args = append(args, legacyIssuer(a.ProviderID, a.Issuer))
	}
	if _, err := db.ExecContext(ctx, q.accounts.insert, args...); err != nil {
		return Account{}, err
	}
	return acc, nil
}

func optionalNorm(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return normTime(t)
}

// CreateOAuthUser inserts the user and its provider account in one
// transaction. ErrEmailTaken when the email exists.
func (s *Store) CreateOAuthUser(ctx context.Context, nu NewOAuthUser, now time.Time) (User, Account, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	now = normTime(now)
	u := User{ID: NewID(), Name: nu.Name, Email: nu.Email, EmailVerified: nu.EmailVerified, Image: nu.Image, CreatedAt: now, UpdatedAt: now}
	q, err := s.queries(ctx)
	if err != nil {
		return User{}, Account{}, wrap("create user", err)
	}
	var acc Account
	t := q.timeArg(now)
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		if err := s.insertUserRow(ctx, tx, q, &u, t); err != nil {
			return err
		}
		var err error
		acc, err = q.insertOAuthAccount(ctx, tx, u.ID, nu.Account, now)
		return err
	})
	if err != nil {
		return User{}, Account{}, wrap("create user "+u.ID, err)
	}
	return u, acc, nil
}

// LinkAccount adds a provider account to an existing user. ErrUserNotFound
// when the user is gone.
func (s *Store) LinkAccount(ctx context.Context, userID string, a OAuthAccount, now time.Time) (Account, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	now = normTime(now)
	op := fmt.Sprintf("link %s account to user %s", a.ProviderID, userID)
	q, err := s.queries(ctx)
	if err != nil {
		return Account{}, wrap(op, err)
	}
	var acc Account
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		// Checked in the transaction rather than read from a foreign-key
		// error, whose form differs between drivers.
		var n int
		if err := tx.GetContext(ctx, &n, q.userExists, userID); err != nil {
			return err
		}
		if n == 0 {
			return ErrUserNotFound
		}
		acc, err = q.insertOAuthAccount(ctx, tx, userID, a, now)
		return err
	})
	if err != nil {
		return Account{}, wrap(op, err)
	}
	return acc, nil
}

// UpdateAccountTokens stores the tokens of a new sign-in on account row id,
// as Better Auth's updateAccountOnSignIn: a token the provider did not send
// is kept, and the scope is left alone. ErrNotFound when the row is gone.
func (s *Store) UpdateAccountTokens(ctx context.Context, id string, tok AccountTokens, now time.Time) error {
	ctx, cancel := bound(ctx)
	defer cancel()
	op := "update tokens of account " + id
	q, err := s.queries(ctx)
	if err != nil {
		return wrap(op, err)
	}
	res, err := s.db.ExecContext(ctx, q.accounts.updateTokens, nullString(tok.AccessToken), nullString(tok.RefreshToken),
		nullString(tok.IDToken), q.nullTime(tok.AccessTokenExpiresAt), q.nullTime(tok.RefreshTokenExpiresAt),
		q.timeArg(normTime(now)), id)
	if err != nil {
		return wrap(op, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return wrap(op, err)
	} else if n == 0 {
		return wrap(op, ErrNotFound)
	}
	return nil
}

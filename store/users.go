package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// scanner is a single row: *sql.Row or *sqlx.Row.
type scanner interface{ Scan(dest ...any) error }

// userDest returns the Scan destinations for userColumns.
func userDest(u *User) []any {
	return []any{&u.ID, &u.Name, &u.Email, &u.EmailVerified, &u.Image,
		scanTime(&u.CreatedAt), scanTime(&u.UpdatedAt)}
}

// CreateUserWithPassword inserts the user and its credential account in one
// transaction. ErrEmailTaken when the email exists.
func (s *Store) CreateUserWithPassword(ctx context.Context, nu NewUser, now time.Time) (User, error) {
	now = normTime(now)
	u := User{
		ID:            NewID(),
		Name:          nu.Name,
		Email:         nu.Email,
		EmailVerified: false,
		Image:         nu.Image,
		CreatedAt:     now,
		UpdatedAt:     now,
	}
	q, err := s.queries(ctx)
	if err != nil {
		return User{}, wrap("create user", err)
	}
	t := s.dialect.timeArg(now)
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, q.insertUser, u.ID, u.Name, u.Email, u.EmailVerified, u.Image, t, t)
		if err != nil {
			// The id is fresh from crypto/rand, so the unique key that
			// can collide is the email.
			if s.dialect.isUniqueViolation(err) {
				return ErrEmailTaken
			}
			return err
		}
		_, err = tx.ExecContext(ctx, q.insertAccount, NewID(), u.ID, "credential", u.ID, nu.PasswordHash, t, t)
		return err
	})
	if err != nil {
		return User{}, wrap("create user "+u.ID, err)
	}
	return u, nil
}

// CredentialByEmail returns the user and the password hash of its credential
// account. ErrNotFound when there is no such user, no credential account or
// no password.
func (s *Store) CredentialByEmail(ctx context.Context, email string) (User, string, error) {
	q, err := s.queries(ctx)
	if err != nil {
		return User{}, "", wrap("look up credential", err)
	}
	var u User
	var hash string
	err = s.db.QueryRowxContext(ctx, q.credentialByEmail, email).Scan(append(userDest(&u), &hash)...)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, "", wrap("look up credential", ErrNotFound)
	}
	if err != nil {
		return User{}, "", wrap("look up credential", err)
	}
	return u, hash, nil
}

// UserByID returns one user or ErrNotFound.
func (s *Store) UserByID(ctx context.Context, id string) (User, error) {
	q, err := s.queries(ctx)
	if err != nil {
		return User{}, wrap("load user "+id, err)
	}
	var u User
	err = s.db.QueryRowxContext(ctx, q.userByID, id).Scan(userDest(&u)...)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return User{}, wrap("load user "+id, err)
	}
	return u, nil
}

// inTx runs fn in a transaction, committing when fn returns nil.
func (s *Store) inTx(ctx context.Context, fn func(*sqlx.Tx) error) error {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// insertAccountRow inserts an account row, filling the issuer column that
// Better Auth 1.7.0–1.7.2 left required when the database has it.
func (q *queries) insertAccountRow(ctx context.Context, db sqlx.ExecerContext, userID, accountID, providerID, password string, t any) error {
	args := []any{NewID(), accountID, providerID, userID, password, t, t}
	if q.accountIssuer {
		args = append(args, legacyIssuer(providerID, ""))
	}
	_, err := db.ExecContext(ctx, q.insertAccount, args...)
	return err
}

// CreateUserWithPassword inserts the user and its credential account in one
// transaction. ErrEmailTaken when the email exists.
func (s *Store) CreateUserWithPassword(ctx context.Context, nu NewUser, now time.Time) (User, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
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
	t := q.timeArg(now)
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		if err := s.insertUserRow(ctx, tx, q, &u, t); err != nil {
			return err
		}
		return q.insertAccountRow(ctx, tx, u.ID, u.ID, "credential", nu.PasswordHash, t)
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
	ctx, cancel := bound(ctx)
	defer cancel()
	q, err := s.queries(ctx)
	if err != nil {
		return User{}, "", wrap("look up credential", err)
	}
	var r credentialRow
	err = s.db.GetContext(ctx, &r, q.credentialByEmail, email)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, "", wrap("look up credential", ErrNotFound)
	}
	if err != nil {
		return User{}, "", wrap("look up credential", err)
	}
	return r.user(), r.Password, nil
}

// UserByID returns one user or ErrNotFound.
func (s *Store) UserByID(ctx context.Context, id string) (User, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	q, err := s.queries(ctx)
	if err != nil {
		return User{}, wrap("load user "+id, err)
	}
	u, err := s.getUser(ctx, q.userByID, id)
	if err != nil {
		return User{}, wrap("load user "+id, err)
	}
	return u, nil
}

// UserUpdate lists the user fields update-user may change; nil leaves a
// field alone. Image set to a nil *string inside a non-nil pointer means
// "set NULL".
type UserUpdate struct {
	Name  *string
	Image **string
}

// UserByEmail returns the user with that (already normalised) email, or
// ErrNotFound.
func (s *Store) UserByEmail(ctx context.Context, email string) (User, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	// An email identifies a person: it stays out of errors, as in
	// CredentialByEmail.
	const op = "load user by email"
	q, err := s.queries(ctx)
	if err != nil {
		return User{}, wrap(op, err)
	}
	u, err := s.getUser(ctx, q.userByEmail, email)
	if err != nil {
		return User{}, wrap(op, err)
	}
	return u, nil
}

// PasswordHash returns the password of the user's credential account
// (providerId "credential", accountId = userId). ErrNotFound when there is no
// such account or its password is NULL/empty.
func (s *Store) PasswordHash(ctx context.Context, userID string) (string, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	op := "load password of " + userID
	q, err := s.queries(ctx)
	if err != nil {
		return "", wrap(op, err)
	}
	var hash string
	err = s.db.GetContext(ctx, &hash, q.passwordHash, userID)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return "", wrap(op, err)
	}
	return hash, nil
}

// UpdateUser applies u and bumps updatedAt; returns the updated user or
// ErrNotFound.
func (s *Store) UpdateUser(ctx context.Context, userID string, u UserUpdate, now time.Time) (User, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	op := "update user " + userID
	q, err := s.queries(ctx)
	if err != nil {
		return User{}, wrap(op, err)
	}
	var image *string
	if u.Image != nil {
		image = *u.Image
	}
	out, err := s.getUser(ctx, q.updateUser, u.Name, u.Image != nil, image, q.timeArg(normTime(now)), userID)
	if err != nil {
		return User{}, wrap(op, err)
	}
	return out, nil
}

// MarkEmailVerified sets emailVerified=true (and updatedAt) and returns the
// user; ErrNotFound when absent.
func (s *Store) MarkEmailVerified(ctx context.Context, userID string, now time.Time) (User, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	op := "mark email of " + userID + " verified"
	q, err := s.queries(ctx)
	if err != nil {
		return User{}, wrap(op, err)
	}
	out, err := s.getUser(ctx, q.markEmailVerified, true, q.timeArg(normTime(now)), userID)
	if err != nil {
		return User{}, wrap(op, err)
	}
	return out, nil
}

// SetPassword writes hash to the user's credential account, creating that
// account (id NewID(), accountId = userId, providerId "credential") when the
// user has none. With revokeSessions, all of the user's sessions are deleted
// in the same transaction and their ids returned. ErrNotFound when the user
// does not exist.
func (s *Store) SetPassword(ctx context.Context, userID, hash string, revokeSessions bool, now time.Time) ([]string, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	op := "set password of " + userID
	q, err := s.queries(ctx)
	if err != nil {
		return nil, wrap(op, err)
	}
	var revoked []string
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		if err := s.setPassword(ctx, tx, q, userID, hash, now); err != nil || !revokeSessions {
			return err
		}
		return tx.SelectContext(ctx, &revoked, q.deleteSessions, userID)
	})
	if err != nil {
		return nil, wrap(op, err)
	}
	return revoked, nil
}

// setPassword is SetPassword's write inside tx: ErrNotFound when the user is
// missing. The user is checked first, so that an account left behind by a
// deleted user (a database without ON DELETE CASCADE) is not mistaken for
// the user.
func (s *Store) setPassword(ctx context.Context, tx *sqlx.Tx, q *queries, userID, hash string, now time.Time) error {
	var n int
	if err := tx.GetContext(ctx, &n, q.userExists, userID); err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	t := q.timeArg(normTime(now))
	res, err := tx.ExecContext(ctx, q.updatePassword, hash, t, userID)
	if err != nil {
		return err
	}
	updated, err := res.RowsAffected()
	if err != nil || updated > 0 {
		return err
	}
	return q.insertAccountRow(ctx, tx, userID, userID, "credential", hash, t)
}

// DeleteUser deletes the user with its sessions and accounts in one
// transaction (explicitly, not relying on ON DELETE CASCADE, which an adopted
// database may lack). It returns the deleted session ids; ErrNotFound when
// absent.
func (s *Store) DeleteUser(ctx context.Context, userID string) ([]string, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	op := "delete user " + userID
	q, err := s.queries(ctx)
	if err != nil {
		return nil, wrap(op, err)
	}
	var revoked []string
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		// Children first: without a cascade, a foreign key would refuse
		// the user's deletion.
		if err := tx.SelectContext(ctx, &revoked, q.deleteSessions, userID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, q.deleteAccounts, userID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, q.deleteUser, userID)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err == nil && n == 0 {
			err = ErrNotFound
		}
		return err
	})
	if err != nil {
		return nil, wrap(op, err)
	}
	return revoked, nil
}

// getUser runs a statement that returns at most one user row: ErrNotFound
// when it returns none.
func (s *Store) getUser(ctx context.Context, query string, args ...any) (User, error) {
	var r userRow
	err := s.db.GetContext(ctx, &r, query, args...)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, ErrNotFound
	}
	if err != nil {
		return User{}, err
	}
	return r.user(), nil
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

// insertUserRow inserts u in tx, answering ErrEmailTaken for a taken email:
// the id is fresh from crypto/rand, so the unique key that can collide is
// the email.
func (s *Store) insertUserRow(ctx context.Context, tx *sqlx.Tx, q *queries, u *User, t any) error {
	_, err := tx.ExecContext(ctx, q.insertUser, q.insertUserArgs(u, t)...)
	if err != nil && s.dialect.isUniqueViolation(err) {
		return ErrEmailTaken
	}
	return err
}

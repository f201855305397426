package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// sessionDest returns the Scan destinations for sessionColumns.
func sessionDest(ss *Session) []any {
	return []any{&ss.ID, &ss.Token, &ss.UserID, scanTime(&ss.ExpiresAt),
		scanTime(&ss.CreatedAt), scanTime(&ss.UpdatedAt), &ss.IPAddress, &ss.UserAgent}
}

// CreateSession inserts a session with a fresh id and token.
func (s *Store) CreateSession(ctx context.Context, ns NewSession, now time.Time) (Session, error) {
	now = normTime(now)
	ip, ua := ns.IPAddress, ns.UserAgent
	ss := Session{
		ID:        NewID(),
		Token:     NewID(),
		UserID:    ns.UserID,
		ExpiresAt: normTime(ns.ExpiresAt),
		CreatedAt: now,
		UpdatedAt: now,
		IPAddress: &ip,
		UserAgent: &ua,
	}
	op := "create session for " + ns.UserID
	q, err := s.queries(ctx)
	if err != nil {
		return Session{}, wrap(op, err)
	}
	t := s.dialect.timeArg(now)
	_, err = s.db.ExecContext(ctx, q.insertSession, ss.ID, ss.Token, ss.UserID,
		s.dialect.timeArg(ss.ExpiresAt), t, t, ip, ua)
	if err != nil {
		return Session{}, wrap(op, err)
	}
	return ss, nil
}

// SessionByToken returns the session and its user in one query, expired or
// not (the caller decides). ErrNotFound when absent.
func (s *Store) SessionByToken(ctx context.Context, token string) (Session, User, error) {
	// The token is a bearer credential: it never appears in an error.
	const op = "load session by token"
	q, err := s.queries(ctx)
	if err != nil {
		return Session{}, User{}, wrap(op, err)
	}
	var ss Session
	var u User
	err = s.db.QueryRowxContext(ctx, q.sessionByToken, token).Scan(append(sessionDest(&ss), userDest(&u)...)...)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return Session{}, User{}, wrap(op, err)
	}
	return ss, u, nil
}

// DeleteSessionByToken deletes one session; absent is not an error.
func (s *Store) DeleteSessionByToken(ctx context.Context, token string) error {
	const op = "delete session by token"
	q, err := s.queries(ctx)
	if err != nil {
		return wrap(op, err)
	}
	if _, err := s.db.ExecContext(ctx, q.deleteSessionByToken, token); err != nil {
		return wrap(op, err)
	}
	return nil
}

// ExtendSession sets expiresAt and updatedAt; false when the row is gone.
func (s *Store) ExtendSession(ctx context.Context, id string, expiresAt, now time.Time) (bool, error) {
	op := "extend session " + id
	q, err := s.queries(ctx)
	if err != nil {
		return false, wrap(op, err)
	}
	res, err := s.db.ExecContext(ctx, q.extendSession,
		s.dialect.timeArg(normTime(expiresAt)), s.dialect.timeArg(normTime(now)), id)
	if err != nil {
		return false, wrap(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, wrap(op, err)
	}
	return n > 0, nil
}

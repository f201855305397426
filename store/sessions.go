package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// CreateSession inserts a session with a fresh id and token.
func (s *Store) CreateSession(ctx context.Context, ns NewSession, now time.Time) (Session, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
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
	ss.ImpersonationColumn = q.info.Plugins.ImpersonatedBy
	t := q.timeArg(now)
	_, err = s.db.ExecContext(ctx, q.insertSession, ss.ID, ss.Token, ss.UserID,
		q.timeArg(ss.ExpiresAt), t, t, ip, ua)
	if err != nil {
		return Session{}, wrap(op, err)
	}
	return ss, nil
}

// SessionByToken returns the session and its user in one query, expired or
// not (the caller decides). ErrNotFound when absent.
func (s *Store) SessionByToken(ctx context.Context, token string) (Session, User, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	// The token is a bearer credential: it never appears in an error.
	const op = "load session by token"
	q, err := s.queries(ctx)
	if err != nil {
		return Session{}, User{}, wrap(op, err)
	}
	if q.sessionsByTokens != "" {
		return s.sessionByTokenBatched(ctx, q, token)
	}
	var r sessionUserRow
	err = s.db.GetContext(ctx, &r, q.sessionByToken, token)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return Session{}, User{}, wrap(op, err)
	}
	return r.session(), r.User.user(), nil
}

// DeleteSessionByToken deletes one session; absent is not an error.
func (s *Store) DeleteSessionByToken(ctx context.Context, token string) error {
	ctx, cancel := bound(ctx)
	defer cancel()
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
	ctx, cancel := bound(ctx)
	defer cancel()
	op := "extend session " + id
	q, err := s.queries(ctx)
	if err != nil {
		return false, wrap(op, err)
	}
	// On the gate's path, like SessionByToken: a caller with a deadline
	// must not wait past it for a database that stopped answering.
	extended, err := await(ctx, func() (bool, error) {
		res, err := s.db.ExecContext(ctx, q.extendSession,
			q.timeArg(normTime(expiresAt)), q.timeArg(normTime(now)), id)
		if err != nil {
			return false, err
		}
		n, err := res.RowsAffected()
		return n > 0, err
	})
	if err != nil {
		return false, wrap(op, err)
	}
	return extended, nil
}

// ListSessions returns the user's sessions with expiresAt > now, oldest first.
func (s *Store) ListSessions(ctx context.Context, userID string, now time.Time) ([]Session, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	op := "list sessions of " + userID
	q, err := s.queries(ctx)
	if err != nil {
		return nil, wrap(op, err)
	}
	var rows []sessionRow
	if err := s.db.SelectContext(ctx, &rows, q.listSessions, userID, s.dialect.cmpTimeArg(normTime(now))); err != nil {
		return nil, wrap(op, err)
	}
	var list []Session
	for i := range rows {
		list = append(list, rows[i].session())
	}
	return list, nil
}

// DeleteUserSession deletes the session with that token only if it belongs to
// userID. It returns the deleted session's id ("" when nothing was deleted).
func (s *Store) DeleteUserSession(ctx context.Context, userID, token string) (string, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	op := "delete a session of " + userID
	q, err := s.queries(ctx)
	if err != nil {
		return "", wrap(op, err)
	}
	var id string
	err = s.db.GetContext(ctx, &id, q.deleteUserSession, token, userID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", wrap(op, err)
	}
	return id, nil
}

// DeleteSessions deletes all of the user's sessions except the one whose
// token is keepToken ("" keeps none). It returns the deleted ids.
func (s *Store) DeleteSessions(ctx context.Context, userID, keepToken string) ([]string, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	op := "delete sessions of " + userID
	q, err := s.queries(ctx)
	if err != nil {
		return nil, wrap(op, err)
	}
	var ids []string
	if keepToken == "" {
		err = s.db.SelectContext(ctx, &ids, q.deleteSessions, userID)
	} else {
		err = s.db.SelectContext(ctx, &ids, q.deleteOtherSessions, userID, keepToken)
	}
	if err != nil {
		return nil, wrap(op, err)
	}
	return ids, nil
}

package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/jmoiron/sqlx"
)

// The identifier of a verification row embeds its secret (e.g.
// "reset-password:<token>"), and the value may be a user id that the token
// unlocks: neither appears in an error.

// CreateVerification inserts a verification row (id NewID()).
func (s *Store) CreateVerification(ctx context.Context, identifier, value string, expiresAt, now time.Time) error {
	ctx, cancel := bound(ctx)
	defer cancel()
	const op = "create verification"
	q, err := s.queries(ctx)
	if err != nil {
		return wrap(op, err)
	}
	t := q.timeArg(normTime(now))
	_, err = s.db.ExecContext(ctx, q.insertVerification, NewID(), identifier, value,
		q.timeArg(normTime(expiresAt)), t, t)
	if err != nil {
		return wrap(op, err)
	}
	return nil
}

// VerificationValue returns the value of an unexpired row with that
// identifier without consuming it; ErrNotFound otherwise.
func (s *Store) VerificationValue(ctx context.Context, identifier string, now time.Time) (string, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	const op = "look up verification"
	q, err := s.queries(ctx)
	if err != nil {
		return "", wrap(op, err)
	}
	var value string
	err = s.db.GetContext(ctx, &value, q.verificationValue, identifier, s.dialect.cmpTimeArg(normTime(now)))
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return "", wrap(op, err)
	}
	return value, nil
}

// ConsumeVerification atomically deletes every row with that identifier and
// returns the value of an unexpired one; ErrNotFound when none was unexpired.
// Two concurrent consumers of one token: exactly one succeeds.
func (s *Store) ConsumeVerification(ctx context.Context, identifier string, now time.Time) (string, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	const op = "consume verification"
	q, err := s.queries(ctx)
	if err != nil {
		return "", wrap(op, err)
	}
	// One statement, so no transaction: expired rows go too, as Better
	// Auth deletes every row of the identifier.
	value, err := consume(ctx, s.db, q, identifier, now)
	if err != nil {
		return "", wrap(op, err)
	}
	return value, nil
}

// consume deletes the rows of identifier and returns the value of the newest
// unexpired one, or ErrNotFound. Expiry is checked here, on the returned
// rows, because RETURNING cannot filter.
func consume(ctx context.Context, db sqlx.QueryerContext, q *queries, identifier string, now time.Time) (string, error) {
	var rows []verificationRow
	if err := sqlx.SelectContext(ctx, db, &rows, q.consumeVerification, identifier); err != nil {
		return "", err
	}
	now = normTime(now)
	var value string
	var newest time.Time
	found := false
	for _, r := range rows {
		expiresAt, createdAt := time.Time(r.ExpiresAt), time.Time(r.CreatedAt)
		if expiresAt.After(now) && (!found || createdAt.After(newest)) {
			value, newest, found = r.Value, createdAt, true
		}
	}
	if !found {
		return "", ErrNotFound
	}
	return value, nil
}

// ResetPassword consumes the verification row identifier (as
// ConsumeVerification), takes its value as the user id, and sets the
// password (as SetPassword, revoking all sessions), all in ONE transaction:
// a failure leaves the token usable. ErrNotFound when the token is missing
// or expired; ErrUserNotFound when the user it names is gone.
func (s *Store) ResetPassword(ctx context.Context, identifier, hash string, now time.Time) (userID string, revoked []string, err error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	const op = "reset password"
	q, err := s.queries(ctx)
	if err != nil {
		return "", nil, wrap(op, err)
	}
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		id, err := consume(ctx, tx, q, identifier, now)
		if err != nil {
			return err
		}
		if err := s.setPassword(ctx, tx, q, id, hash, now); err != nil {
			if errors.Is(err, ErrNotFound) {
				// Rolling back puts the token row back.
				return ErrUserNotFound
			}
			return err
		}
		var ids []string
		if err := tx.SelectContext(ctx, &ids, q.deleteSessions, id); err != nil {
			return err
		}
		userID, revoked = id, ids
		return nil
	})
	if err != nil {
		return "", nil, wrap(op, err)
	}
	return userID, revoked, nil
}

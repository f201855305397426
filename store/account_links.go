package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// ErrLastAccount refuses to unlink a user's only account (Better Auth's
// FAILED_TO_UNLINK_LAST_ACCOUNT): the user could not sign in any more.
var ErrLastAccount = errors.New("store: the user's last account cannot be unlinked")

// linkQueries are the statements of /list-accounts, /unlink-account and
// re-linking an account.
type linkQueries struct {
	listByUser string
	// lockUser serialises unlinks of one user, so that two at once cannot
	// both see two accounts and leave none; "" on SQLite, whose write
	// transactions are serial already.
	lockUser     string
	deleteOfUser string
	updateLinked string
}

func buildLinkQueries(x func(string) string, d *dialect) linkQueries {
	q := linkQueries{
		listByUser: x(`SELECT ` + selectList("a.", "", accountFields...) + ` FROM "account" a
			WHERE a.{userId} = ? ORDER BY a.{createdAt}, a."id"`),
		deleteOfUser: x(`DELETE FROM "account" WHERE "id" = ? AND {userId} = ?`),
		// As Better Auth's link: tokens not sent are kept, and the scope is
		// the union the caller computed (kept when it computed none).
		updateLinked: x(`UPDATE "account" SET {accessToken} = COALESCE(?, {accessToken}),
			{refreshToken} = COALESCE(?, {refreshToken}), {idToken} = COALESCE(?, {idToken}),
			{accessTokenExpiresAt} = COALESCE(?, {accessTokenExpiresAt}),
			{refreshTokenExpiresAt} = COALESCE(?, {refreshTokenExpiresAt}),
			{scope} = COALESCE(?, {scope}), {updatedAt} = ?
			WHERE "id" = ?`),
	}
	if d.driver == "postgres" {
		q.lockUser = x(`SELECT "id" FROM "user" WHERE "id" = ? FOR UPDATE`)
	}
	return q
}

// ListAccounts is every account row of userID, the credential one included,
// oldest first.
func (s *Store) ListAccounts(ctx context.Context, userID string) ([]Account, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	op := "list accounts of user " + userID
	q, err := s.queries(ctx)
	if err != nil {
		return nil, wrap(op, err)
	}
	var rows []accountRow
	if err := s.db.SelectContext(ctx, &rows, q.accounts.listByUser, userID); err != nil {
		return nil, wrap(op, err)
	}
	out := make([]Account, len(rows))
	for i := range rows {
		out[i] = rows[i].account()
	}
	return out, nil
}

// UnlinkAccount deletes account row accountID (account.id) of userID, in
// Better Auth's order: ErrLastAccount when it is the user's only account
// (whatever accountID names) unless allowLast, then ErrNotFound when the
// user has no such account.
func (s *Store) UnlinkAccount(ctx context.Context, userID, accountID string, allowLast bool) error {
	ctx, cancel := bound(ctx)
	defer cancel()
	op := fmt.Sprintf("unlink account %s of user %s", accountID, userID)
	q, err := s.queries(ctx)
	if err != nil {
		return wrap(op, err)
	}
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		if q.accounts.lockUser != "" {
			var ids []string
			if err := tx.SelectContext(ctx, &ids, q.accounts.lockUser, userID); err != nil {
				return err
			}
		}
		var rows []accountRow
		if err := tx.SelectContext(ctx, &rows, q.accounts.listByUser, userID); err != nil {
			return err
		}
		if len(rows) == 1 && !allowLast {
			return ErrLastAccount
		}
		res, err := tx.ExecContext(ctx, q.accounts.deleteOfUser, accountID, userID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return ErrNotFound
		}
		return nil
	})
	if err != nil {
		return wrap(op, err)
	}
	return nil
}

// UpdateLinkedAccount stores the tokens and scope of a provider account
// linked again to the user who owns it (Better Auth's linkOAuthAccount on
// an existing account): tokens not sent are kept, an empty scope keeps the
// stored one. ErrNotFound when the row is gone.
func (s *Store) UpdateLinkedAccount(ctx context.Context, id string, tok AccountTokens, scope string, now time.Time) error {
	ctx, cancel := bound(ctx)
	defer cancel()
	op := "update linked account " + id
	q, err := s.queries(ctx)
	if err != nil {
		return wrap(op, err)
	}
	res, err := s.db.ExecContext(ctx, q.accounts.updateLinked, nullString(tok.AccessToken), nullString(tok.RefreshToken),
		nullString(tok.IDToken), q.nullTime(tok.AccessTokenExpiresAt), q.nullTime(tok.RefreshTokenExpiresAt),
		nullString(scope), q.timeArg(normTime(now)), id)
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

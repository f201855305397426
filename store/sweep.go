package store

import (
	"context"
	"strconv"
	"time"
)

// sweepBatchSize bounds one DELETE of the sweep: a backlog of millions of
// rows goes in short statements, so that none holds locks (or SQLite's
// single writer) for long, and the revocation notices one of them sends on
// PostgreSQL stay few.
const sweepBatchSize = 500

// sweepStatements are the batched DELETEs of expired verification rows and
// sessions. Rows are chosen by expiry alone: identifiers and values, in
// whatever form Better Auth or a plugin wrote them, are never read. Where
// the dialect locks rows, SKIP LOCKED lets instances sweeping at the same
// time (and a request consuming a token) pass each other instead of
// queueing.
func sweepStatements(l layout, d *dialect, batch int) [2]string {
	stmt := func(table string) string {
		return expand(`DELETE FROM "`+table+`" WHERE "id" IN (SELECT "id" FROM "`+table+`"
			WHERE `+d.cmpTime(`{expiresAt}`)+` <= ? LIMIT `+strconv.Itoa(batch)+d.skipLocked+`)`, l, d)
	}
	return [2]string{stmt("verification"), stmt("session")}
}

// DeleteExpired removes the verification rows and sessions that expired at
// or before now, in bounded batches until one comes back short, and returns
// how many of each it removed. A row whose expiry cannot be read as a time
// (SQLite text that is no date) is left alone.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time) (verifications, sessions int64, err error) {
	return s.deleteExpired(ctx, now, sweepBatchSize)
}

func (s *Store) deleteExpired(ctx context.Context, now time.Time, batch int) (verifications, sessions int64, err error) {
	const op = "delete expired rows"
	qctx, cancel := bound(ctx)
	q, err := s.queries(qctx)
	cancel()
	if err != nil {
		return 0, 0, wrap(op, err)
	}
	stmts := sweepStatements(q.layout, s.dialect, batch)
	counts := [2]int64{}
	for i, stmt := range stmts {
		for {
			n, err := s.sweepBatch(ctx, stmt, now)
			counts[i] += n
			if err != nil {
				return counts[0], counts[1], wrap(op, err)
			}
			if n < int64(batch) {
				break
			}
		}
	}
	return counts[0], counts[1], nil
}

// sweepBatch runs one batched DELETE of sweepStatements. Each batch has a
// store call's deadline; a long backlog takes as many as it needs.
func (s *Store) sweepBatch(ctx context.Context, stmt string, now time.Time) (int64, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	res, err := s.db.ExecContext(ctx, stmt, s.dialect.cmpTimeArg(normTime(now)))
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

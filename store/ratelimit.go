package store

import (
	"context"
	"strings"
	"time"
)

// The rate-limit counters live in our own table auth_gate_rate_limit
// (migration 0003; on PostgreSQL in our own schema, 0004), one row per key: the number of requests counted in the
// current window and the time of the last counted request, in milliseconds
// since the epoch, as Better Auth's rateLimit table keeps them.
//
// hitRateLimitSQL is Better Auth's algorithm as a single atomic upsert, so
// that a check costs one round trip and concurrent instances cannot both
// pass on a stale read:
//
//   - no row, or the last counted request is a window or more ago: count 1,
//     last request now (allowed);
//   - count already at max: denied, last request unchanged; the count is
//     set to max+1, which marks the denial for the caller and stays at or
//     above max until the window has passed;
//   - otherwise: count+1, last request now (allowed), so the window slides
//     with every allowed request, as in Better Auth.
//
// Every SET expression sees the row as it was before the update (both
// PostgreSQL and SQLite ≥ 3.35 with RETURNING), and excluded."last_request"
// is the new time. Parameters: key, now, window, max, max, window, max.
const hitRateLimitSQL = `INSERT INTO auth_gate_rate_limit AS r ("key", "count", "last_request") VALUES (?, 1, ?)
ON CONFLICT ("key") DO UPDATE SET
	"count" = CASE
		WHEN excluded."last_request" - r."last_request" >= ? THEN 1
		WHEN r."count" >= ? THEN ? + 1
		ELSE r."count" + 1 END,
	"last_request" = CASE
		WHEN excluded."last_request" - r."last_request" >= ? THEN excluded."last_request"
		WHEN r."count" >= ? THEN r."last_request"
		ELSE excluded."last_request" END
RETURNING "count", "last_request"`

// undoRateLimitSQL takes back one counted hit; a count above max (a denial's
// mark, which counted nothing) comes down to max-1 as if it were max.
// Parameters: max, max, key.
const undoRateLimitSQL = `UPDATE auth_gate_rate_limit SET "count" = CASE WHEN "count" > ? THEN ? - 1 ELSE "count" - 1 END
WHERE "key" = ? AND "count" > 0`

const deleteRateLimitsSQL = `DELETE FROM auth_gate_rate_limit WHERE "last_request" < ?`

// rateLimitStmts are the statements above in one dialect's placeholders
// and table name; they do not depend on the column layout of Better Auth's
// tables.
type rateLimitStmts struct{ hit, undo, del string }

// rateLimitSQL holds rateLimitStmts for every dialect.
var rateLimitSQL = func() map[*dialect]rateLimitStmts {
	m := make(map[*dialect]rateLimitStmts, len(dialects))
	for _, d := range dialects {
		stmt := func(q string) string {
			return d.rebind(strings.Replace(q, "auth_gate_rate_limit", d.ownTable("auth_gate_rate_limit"), 1))
		}
		m[d] = rateLimitStmts{hit: stmt(hitRateLimitSQL), undo: stmt(undoRateLimitSQL), del: stmt(deleteRateLimitsSQL)}
	}
	return m
}()

// HitRateLimit counts one request against key, at most max per window, and
// reports whether it is allowed; when it is not, retryAfter is the time left
// until the window has passed (always positive). max must be at least 1.
// The key is stored as given: callers keep secrets and personal data out of
// it.
func (s *Store) HitRateLimit(ctx context.Context, key string, window time.Duration, max int, now time.Time) (allowed bool, retryAfter time.Duration, err error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	const op = "rate limit"
	if _, err := s.queries(ctx); err != nil { // the table comes with the migrations
		return false, 0, wrap(op, err)
	}
	nowMs, windowMs := now.UnixMilli(), window.Milliseconds()
	if windowMs < 1 {
		windowMs = 1
	}
	var row struct {
		Count       int   `db:"count"`
		LastRequest int64 `db:"last_request"`
	}
	err = s.db.GetContext(ctx, &row, rateLimitSQL[s.dialect].hit,
		key, nowMs, windowMs, max, max, windowMs, max)
	if err != nil {
		return false, 0, wrap(op, err)
	}
	if row.Count <= max {
		return true, 0, nil
	}
	retryAfter = time.Duration(row.LastRequest+windowMs-nowMs) * time.Millisecond
	if retryAfter <= 0 {
		// Only when the clocks of instances sharing the table disagree.
		retryAfter = time.Millisecond
	}
	return false, retryAfter, nil
}

// UndoRateLimit takes back one allowed hit on key, for limits that count
// only some outcomes (failed sign-ins): the caller counts first, so that
// concurrent requests cannot all pass, and undoes the count when the outcome
// is one that is not limited. The window is left as it is. max is the limit
// the hit was counted with.
func (s *Store) UndoRateLimit(ctx context.Context, key string, max int) error {
	ctx, cancel := bound(ctx)
	defer cancel()
	if _, err := s.queries(ctx); err != nil {
		return wrap("undo rate limit", err)
	}
	_, err := s.db.ExecContext(ctx, rateLimitSQL[s.dialect].undo, max, max, key)
	return wrap("undo rate limit", err)
}

// DeleteRateLimitsBefore removes the counters whose last counted request is
// older than cutoff (a cutoff of now minus the longest window loses nothing
// that could still deny a request) and returns how many it removed.
func (s *Store) DeleteRateLimitsBefore(ctx context.Context, cutoff time.Time) (int64, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	if _, err := s.queries(ctx); err != nil {
		return 0, wrap("delete expired rate limits", err)
	}
	res, err := s.db.ExecContext(ctx, rateLimitSQL[s.dialect].del, cutoff.UnixMilli())
	if err != nil {
		return 0, wrap("delete expired rate limits", err)
	}
	n, err := res.RowsAffected()
	return n, wrap("delete expired rate limits", err)
}

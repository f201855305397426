package ratelimit

import (
	"context"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// sweepInterval is how often an instance deletes old counter rows from the
// database.
const sweepInterval = time.Minute

// Store keeps counters in a database, shared by every instance on it.
// *store.Store satisfies it.
type Store interface {
	// HitRateLimit counts one request against key, at most max per window,
	// and reports whether it is allowed; when it is not, retryAfter is the
	// time left until the window has passed.
	HitRateLimit(ctx context.Context, key string, window time.Duration, max int, now time.Time) (allowed bool, retryAfter time.Duration, err error)
	// UndoRateLimit takes back one allowed hit on key, counted with max.
	UndoRateLimit(ctx context.Context, key string, max int) error
	// DeleteRateLimitsBefore removes the counters whose last counted
	// request is older than cutoff.
	DeleteRateLimitsBefore(ctx context.Context, cutoff time.Time) (int64, error)
}

// dbStore keeps counters in the database: one atomic upsert per request.
// Once a minute an instance deletes the rows older than the longest window
// it knows of, in the background.
type dbStore struct {
	db        Store
	longest   time.Duration
	logger    *zap.Logger
	nextSweep atomic.Int64 // unix nanoseconds
}

func (s *dbStore) hit(ctx context.Context, key string, window time.Duration, max int, t time.Time) (bool, time.Duration, error) {
	allowed, retry, err := s.db.HitRateLimit(ctx, key, window, max, t)
	if err != nil {
		return false, 0, err
	}
	if next := s.nextSweep.Load(); t.UnixNano() >= next && s.nextSweep.CompareAndSwap(next, t.Add(sweepInterval).UnixNano()) {
		go s.sweep(t.Add(-s.longest))
	}
	return allowed, retry, nil
}

func (s *dbStore) undo(ctx context.Context, key string, max int) error {
	return s.db.UndoRateLimit(ctx, key, max)
}

func (s *dbStore) sweep(cutoff time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.db.DeleteRateLimitsBefore(ctx, cutoff); err != nil {
		s.logger.Warn("deleting old rate limit rows failed", zap.Error(err))
	}
}

// Interface guards
var _ limitStore = (*dbStore)(nil)

package caddyauth

import (
	"context"
	"time"

	"go.uber.org/zap"
)

// Expired verification rows and sessions are deleted in the background, so
// that the tables do not grow without end: Better Auth deletes a
// row only when it happens to read it after expiry, and nothing else ever
// does.
const (
	// sweepFirstDelay is within a minute of start, as promised, yet
	// leaves the start itself (and a fleet restarting at once) alone.
	sweepFirstDelay = 30 * time.Second
	sweepInterval   = time.Hour
	// sweepTimeout bounds one sweep; what is left goes at the next one.
	sweepTimeout = 5 * time.Minute
)

// startSweeper starts the sweep of this database, once, when the config
// starts (App.Start): never under `caddy validate`. Destruct stops it.
func (h *dbHandle) startSweeper() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopSweeper != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go h.sweepLoop(ctx, done)
	h.stopSweeper = func() {
		cancel() // also ends a sweep in progress
		<-done
	}
}

func (h *dbHandle) sweepLoop(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	timer := time.NewTimer(h.sweepFirst)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		h.sweep(ctx)
		timer.Reset(h.sweepEvery)
	}
}

func (h *dbHandle) sweep(parent context.Context) {
	ctx, cancel := context.WithTimeout(parent, sweepTimeout)
	defer cancel()
	// The revocation triggers vanish with a table that a tool re-creates
	// while Caddy runs (drizzle-kit push); the store restores them, or
	// warns when it may not migrate.
	if _, err := h.st.CheckNoticeTriggers(ctx); err != nil && parent.Err() == nil {
		h.logger.Warn("checking the revocation triggers failed; the next sweep tries again", zap.Error(err))
	}
	// A connection test that could not run at start runs now.
	h.decideLookups(ctx)
	v, s, err := h.st.DeleteExpired(ctx, time.Now())
	if err != nil {
		if parent.Err() != nil {
			return // stopped because the last user is gone: nothing to report
		}
		h.logger.Warn("deleting expired verification rows and sessions failed; the next sweep tries again",
			zap.Int64("verifications_deleted", v), zap.Int64("sessions_deleted", s), zap.Error(err))
		return
	}
	if v+s > 0 {
		h.logger.Info("deleted expired verification rows and sessions",
			zap.Int64("verifications", v), zap.Int64("sessions", s))
	}
}

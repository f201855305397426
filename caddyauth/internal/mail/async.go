package mail

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"
)

const (
	// asyncSlots bounds background sends process-wide; asyncTimeout bounds
	// each one.
	asyncSlots   = 64
	asyncTimeout = 30 * time.Second
)

// asyncSender runs sends in the background with a bounded number in flight.
type asyncSender struct {
	slots   chan struct{}
	timeout time.Duration
}

// background is process-wide: the bound holds across sites and reloads.
var background = &asyncSender{slots: make(chan struct{}, asyncSlots), timeout: asyncTimeout}

// SendAsync delivers m through s in the background, for answers that must
// not wait on (or reveal, by their timing) the delivery: asking for a
// password reset must look the same whether or not the account exists. The
// send gets its own 30 s context, not the request's. When 64 sends are
// already in flight, m is dropped and logged rather than queued: a flood
// must not pile up goroutines. A nil s (no delivery configured) is logged.
func SendAsync(s Sender, m Message, logger *zap.Logger) {
	background.send(s, m, logger)
}

func (a *asyncSender) send(s Sender, m Message, logger *zap.Logger) {
	if logger == nil {
		logger = zap.NewNop()
	}
	fields := []zap.Field{
		zap.String("type", m.Type),
		zap.String("to_domain", recipientDomain(m.To)),
		zap.String("user_id", m.UserID),
	}
	if s == nil {
		logger.Error("email not sent: no delivery configured", fields...)
		return
	}
	select {
	case a.slots <- struct{}{}:
	default:
		logger.Error("email dropped: too many deliveries in flight", append(fields, zap.Int("limit", cap(a.slots)))...)
		return
	}
	go func() {
		defer func() { <-a.slots }()
		// A bug here must not take the server down with it.
		defer func() {
			if r := recover(); r != nil {
				logger.Error("email delivery panicked", append(fields, zap.Any("panic", r))...)
			}
		}()
		ctx, cancel := context.WithTimeout(context.Background(), a.timeout)
		defer cancel()
		// Delivery failures are logged by the sender; anything else is not.
		if err := s.Send(ctx, m); err != nil && !errors.Is(err, ErrDelivery) {
			logger.Error("email delivery failed", append(fields, zap.Error(err))...)
		}
	}()
}

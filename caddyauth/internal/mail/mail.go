// Package mail delivers auth_gate's account emails (address verification,
// password reset) to the operator's mail service: posted to a signed
// webhook, written to the log in development, or both. It knows nothing of
// HTTP handlers or users beyond the message it is given.
package mail

import (
	"context"
	"errors"

	"go.uber.org/zap"
)

// Email types carried in Message.Type.
const (
	TypeVerifyEmail   = "verify-email"
	TypeResetPassword = "reset-password"
)

// Message is one email for the delivery hook. URL and Token grant access to
// the account: they go to the recipient and nowhere else (never into an
// error or, outside email_log, a log entry).
type Message struct {
	Type  string `json:"type"` // TypeVerifyEmail or TypeResetPassword
	To    string `json:"to"`
	URL   string `json:"url"`
	Token string `json:"token"`
	// User is the account as the receiver gets it (Better Auth's user
	// object), encoded as given.
	User any `json:"user"`
	// UserID names the account in logs; it is not sent.
	UserID string `json:"-"`
}

// Sender delivers one email. A failed delivery returns an error wrapping
// ErrDelivery, and the sender has already logged the details, so callers
// only choose the answer.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// ErrDelivery is wrapped by every failed send, so that the HTTP layer can
// answer one clear code whatever the cause.
var ErrDelivery = errors.New("email delivery failed")

// New builds the delivery hook from the email_webhook URL and the email_log
// switch (placeholders already expanded). It returns nil, nil when neither
// is set: endpoints that must send mail then refuse. With both, every
// message is logged and posted. key signs webhook bodies (see WebhookKey).
// Errors name email_webhook and never echo the URL, which often carries a
// credential.
func New(webhookURL string, log bool, key []byte, logger *zap.Logger) (Sender, error) {
	if logger == nil {
		logger = zap.NewNop()
	}
	var ss multiSender
	if log {
		// The links grant access to accounts: anyone who can read the log
		// can take them over.
		logger.Warn("email_log is on: verification and password-reset links are written to the log; use it only in development")
		ss = append(ss, logSender{logger: logger})
	}
	if webhookURL != "" {
		w, err := newWebhookSender(webhookURL, key, logger)
		if err != nil {
			return nil, err
		}
		ss = append(ss, w)
	}
	switch len(ss) {
	case 0:
		return nil, nil
	case 1:
		return ss[0], nil
	default:
		return ss, nil
	}
}

// logSender writes each link to the log instead of sending it (email_log,
// development only): reading the log is then how one follows a link.
type logSender struct {
	logger *zap.Logger
}

func (l logSender) Send(_ context.Context, m Message) error {
	l.logger.Info("email (email_log)",
		zap.String("type", m.Type),
		zap.String("to", m.To),
		zap.String("url", m.URL),
		zap.String("user_id", m.UserID))
	return nil
}

// multiSender sends to each in turn (email_log together with email_webhook).
type multiSender []Sender

func (ss multiSender) Send(ctx context.Context, m Message) error {
	var errs []error
	for _, s := range ss {
		if err := s.Send(ctx, m); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Interface guards
var (
	_ Sender = logSender{}
	_ Sender = multiSender(nil)
)

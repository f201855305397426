package caddyauth

import (
	"net/http"

	"go.uber.org/zap"
)

// audit writes one structured entry per auth event: who, which session,
// from where, and how it went. Nothing secret ever goes in: ids, the client
// address and the user agent only.
func (g *Gate) audit(r *http.Request, event, userID, sessionID string, extra ...zap.Field) {
	fields := make([]zap.Field, 0, 5+len(extra))
	fields = append(fields,
		zap.String("event", event),
		zap.String("user_id", userID),
		zap.String("session_id", sessionID),
		zap.String("client_ip", clientIP(r)),
		zap.String("user_agent", r.UserAgent()),
	)
	fields = append(fields, extra...)
	g.logger.Info("auth event", fields...)
}

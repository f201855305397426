package caddyauth

import (
	"net/http"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// The audit log has one entry per auth event, on its own logger
// (http.handlers.auth_gate.audit) so that operators can route it with
// Caddy's `log { include … }`. An entry's message is the event, with
// " failed" for failures, and its fields are:
//
//	event       one of the event* names below
//	outcome     success or failure
//	reason      why it failed (failures only)
//	user_id     when known
//	session_id  when known: the session used, or the one revoked
//	client_ip   Caddy's client address (trusted_proxies honoured)
//	user_agent  at most maxAuditUserAgent bytes
//
// plus a few event-specific fields (revoked: a count). Nothing secret goes
// in, and no email address either: an unknown address is logged with no
// identifier at all.

// Events.
const (
	eventSignUp                = "sign-up"
	eventSignIn                = "sign-in"
	eventSignOut               = "sign-out"
	eventRevokeSession         = "revoke-session"
	eventRevokeSessions        = "revoke-sessions"
	eventRevokeOtherSessions   = "revoke-other-sessions"
	eventChangePassword        = "change-password"
	eventPasswordResetRequest  = "password-reset-requested"
	eventPasswordReset         = "password-reset"
	eventVerificationEmailSent = "verification-email-sent"
	eventEmailVerified         = "email-verified"
	eventUpdateUser            = "update-user"
	eventDeleteUser            = "delete-user"
)

// Failure reasons.
const (
	reasonUnknownEmail  = "unknown_email"
	reasonWrongPassword = "wrong_password"
	reasonUnverified    = "unverified"
	reasonBanned        = "banned"
	reasonTwoFactor     = "two_factor_required"
	reasonRateLimited   = "rate_limited"
	reasonExists        = "exists"
	reasonInvalidToken  = "invalid_token"
)

// maxAuditUserAgent bounds what a client can put in one entry.
const maxAuditUserAgent = 256

// audit records an auth event that succeeded.
func (g *Gate) audit(r *http.Request, event, userID, sessionID string, extra ...zap.Field) {
	g.writeAudit(r, event, "", userID, sessionID, extra)
}

// auditFailure records an auth event that failed, and why.
func (g *Gate) auditFailure(r *http.Request, event, reason, userID, sessionID string, extra ...zap.Field) {
	g.writeAudit(r, event, reason, userID, sessionID, extra)
}

func (g *Gate) writeAudit(r *http.Request, event, reason, userID, sessionID string, extra []zap.Field) {
	// Derived from g.logger on each event, so that whatever replaces or
	// silences the handler's logger does the same to its audit log.
	log := g.logger.Named("audit")
	msg, outcome := event, "success"
	if reason != "" {
		msg, outcome = event+" failed", "failure"
	}
	ce := log.Check(zapcore.InfoLevel, msg)
	if ce == nil {
		return
	}
	fields := make([]zap.Field, 0, 7+len(extra))
	fields = append(fields, zap.String("event", event), zap.String("outcome", outcome))
	if reason != "" {
		fields = append(fields, zap.String("reason", reason))
	}
	if userID != "" {
		fields = append(fields, zap.String("user_id", userID))
	}
	if sessionID != "" {
		fields = append(fields, zap.String("session_id", sessionID))
	}
	fields = append(fields, zap.String("client_ip", clientIP(r)), zap.String("user_agent", auditUserAgent(r.UserAgent())))
	fields = append(fields, extra...)
	ce.Write(fields...)
}

// auditUserAgent cuts a long User-Agent, at a character boundary.
func auditUserAgent(ua string) string {
	if len(ua) <= maxAuditUserAgent {
		return ua
	}
	return strings.ToValidUTF8(ua[:maxAuditUserAgent], "")
}

// signedIn records a successful sign-in.
func (g *Gate) signedIn(r *http.Request, userID, sessionID string) {
	g.audit(r, eventSignIn, userID, sessionID)
	signInOutcomes[signInSuccess].Inc()
}

// signInRefused records a sign-in refused for reason; userID is empty
// when the address is unknown or was not looked up.
func (g *Gate) signInRefused(r *http.Request, reason, userID string) {
	g.auditFailure(r, eventSignIn, reason, userID, "")
	switch reason {
	case reasonRateLimited:
		signInOutcomes[signInRateLimited].Inc()
	case reasonUnverified:
		signInOutcomes[signInUnverified].Inc()
	case reasonBanned:
		signInOutcomes[signInBanned].Inc()
	case reasonTwoFactor:
		signInOutcomes[signInTwoFactorRequired].Inc()
	default:
		signInOutcomes[signInInvalidCredentials].Inc()
	}
}

// signedUp records a new account; sessionID is empty when sign-up starts
// no session (require_email_verification) or starting it failed.
func (g *Gate) signedUp(r *http.Request, userID, sessionID string) {
	g.audit(r, eventSignUp, userID, sessionID)
	signUpOutcomes[signUpSuccess].Inc()
}

// signUpExists records a sign-up for an address that has an account.
func (g *Gate) signUpExists(r *http.Request) {
	g.auditFailure(r, eventSignUp, reasonExists, "", "")
	signUpOutcomes[signUpExists].Inc()
}

// apiRateLimited records a request refused by the per-client limit before
// routing, as an outcome of the endpoint it was for.
func (g *Gate) apiRateLimited(r *http.Request, ep endpoint) {
	switch ep {
	case endpointSignIn:
		g.signInRefused(r, reasonRateLimited, "")
	case endpointSignUp:
		signUpOutcomes[signUpRateLimited].Inc()
	}
}

// sessionOwner names the session of token for the audit log before it is
// deleted: from the session cache when it is there, else from the store.
// It returns empty ids when neither knows it; a store error is not this
// function's to report (the deletion that follows meets it too).
func (g *Gate) sessionOwner(r *http.Request, token string) (userID, sessionID string) {
	if ttl := g.cfg.cacheTTL; ttl > 0 {
		if res := g.db.cache.Get(token, now(), ttl); res != nil {
			return res.user.ID, res.session.ID
		}
	}
	sess, _, err := g.store().SessionByToken(r.Context(), token)
	if err != nil {
		return "", ""
	}
	return sess.UserID, sess.ID
}

// auditPasswordRefused records a change-password or delete-user refused
// because the current password was wrong; other failures of the
// confirmation (no credential account, the store, the pool) are no auth
// event.
func (g *Gate) auditPasswordRefused(r *http.Request, event string, res *authResult, e *apiError) {
	if e == errInvalidPassword {
		g.auditFailure(r, event, reasonWrongPassword, res.user.ID, res.session.ID)
	}
}

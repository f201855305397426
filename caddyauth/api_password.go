package caddyauth

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/authgate/authgate/caddyauth/internal/bacodec"
	"github.com/authgate/authgate/caddyauth/internal/mail"
	"github.com/authgate/authgate/caddyauth/internal/wire"
	"github.com/authgate/authgate/store"
)

// resetTokenLifetime is Better Auth's resetPasswordTokenExpiresIn default.
const resetTokenLifetime = time.Hour

const resetIdentifierPrefix = "reset-password:"

var (
	errResetDisabled = newAPIError(http.StatusBadRequest, "RESET_PASSWORD_DISABLED", "Reset password isn't enabled")
	errInvalidToken  = newAPIError(http.StatusBadRequest, "INVALID_TOKEN", "Invalid token")
	errUserNotFound  = newAPIError(http.StatusBadRequest, "USER_NOT_FOUND", "User not found")
)

const resetRequestedMessage = "If this email exists in our system, check your email for the reset link"

// handleRequestPasswordReset is POST /request-password-reset. It answers the
// same whether or not the address exists, and sends the mail in the
// background so that its latency does not tell either.
func (g *Gate) handleRequestPasswordReset(w http.ResponseWriter, r *http.Request) *apiError {
	if g.mail == nil {
		return errResetDisabled
	}
	b, e := readBody(w, r, false)
	if e != nil {
		return e
	}
	email := b.email("email")
	redirectTo, _ := b.str("redirectTo", false)
	if e := b.err(); e != nil {
		return e
	}
	if e := g.checkCallback(r, redirectTo); e != nil {
		return e
	}
	if e := g.requestPasswordReset(r, email, redirectTo); e != nil {
		return e
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": true, "message": resetRequestedMessage})
	return nil
}

// requestPasswordReset sends a reset link to a normalised, valid email,
// whose link leads to redirectTo (already checked) with ?token=. An unknown
// address is no error: callers answer the same either way. The JSON
// endpoint and the forgot-password page share it; g.mail must be set.
func (g *Gate) requestPasswordReset(r *http.Request, email, redirectTo string) *apiError {
	user, err := g.store().UserByEmail(r.Context(), email)
	if errors.Is(err, store.ErrNotFound) {
		// One more round trip, as a known address costs one insert: the
		// answer's timing should not tell the two apart.
		_, _ = g.store().VerificationValue(r.Context(), resetIdentifierPrefix+store.RandomString(24), now())
		g.auditFailure(r, eventPasswordResetRequest, reasonUnknownEmail, "", "")
		return nil
	}
	if err != nil {
		return g.storeError(r, opRequestPasswordReset, err)
	}
	token := store.RandomString(24)
	t := now()
	if err := g.store().CreateVerification(r.Context(), resetIdentifierPrefix+token, user.ID, t.Add(resetTokenLifetime), t); err != nil {
		return g.storeError(r, opRequestPasswordReset, err)
	}
	link := g.emailLink("/reset-password/"+token) + "?callbackURL=" + bacodec.EncodeURIComponent(redirectTo)
	mail.SendAsync(g.mail, mail.Message{Type: mail.TypeResetPassword, To: user.Email, URL: link, Token: token, User: wire.FromUser(user), UserID: user.ID}, g.logger)
	g.audit(r, eventPasswordResetRequest, user.ID, "")
	return nil
}

// handleResetPasswordCallback is GET /reset-password/:token, the link in the
// email: it checks the token without consuming it and redirects to the
// app's page with ?token= (or ?error=INVALID_TOKEN).
func (g *Gate) handleResetPasswordCallback(w http.ResponseWriter, r *http.Request, token string) *apiError {
	callbackURL := r.URL.Query().Get("callbackURL")
	if e := g.checkCallback(r, callbackURL); e != nil {
		return e
	}
	if token == "" || callbackURL == "" {
		redirectJSON(w, g.apiURL(r, "/error")+"?error=INVALID_TOKEN")
		return nil
	}
	target, err := url.Parse(g.apiURL(r, "/"))
	if err == nil {
		target, err = target.Parse(callbackURL)
	}
	if err != nil {
		return errInvalidCallbackURL
	}
	q := target.Query()
	if !validTokenShape(token) {
		q.Set("error", "INVALID_TOKEN")
	} else if _, err := g.store().VerificationValue(r.Context(), resetIdentifierPrefix+token, now()); err == nil {
		q.Set("token", token)
	} else if errors.Is(err, store.ErrNotFound) {
		q.Set("error", "INVALID_TOKEN")
	} else {
		return g.storeError(r, opResetPasswordCallback, err)
	}
	target.RawQuery = q.Encode()
	redirectJSON(w, target.String())
	return nil
}

// handleResetPassword is POST /reset-password: consume the token, set the
// new password and revoke every session of the user, atomically.
func (g *Gate) handleResetPassword(w http.ResponseWriter, r *http.Request) *apiError {
	b, e := readBody(w, r, false)
	if e != nil {
		return e
	}
	newPassword, _ := b.str("newPassword", true)
	token, _ := b.str("token", false)
	if e := b.err(); e != nil {
		return e
	}
	if token == "" {
		token = r.URL.Query().Get("token")
	}
	if e := g.resetPassword(r, token, newPassword); e != nil {
		return e
	}
	writeJSON(w, http.StatusOK, map[string]bool{"status": true})
	return nil
}

// resetPassword consumes a reset token, sets the new password and revokes
// every session of the user. The JSON endpoint and the reset-password page
// share it.
func (g *Gate) resetPassword(r *http.Request, token, newPassword string) (e *apiError) {
	defer func() {
		if e == errInvalidToken {
			g.auditFailure(r, eventPasswordReset, reasonInvalidToken, "", "")
		}
	}()
	if !validTokenShape(token) {
		// Also keeps bytes PostgreSQL cannot compare (NUL, invalid UTF-8)
		// away from the query.
		return errInvalidToken
	}
	if e := g.checkNewPassword(newPassword); e != nil {
		return e
	}
	// Refuse unknown tokens before paying for a hash.
	if _, err := g.store().VerificationValue(r.Context(), resetIdentifierPrefix+token, now()); errors.Is(err, store.ErrNotFound) {
		return errInvalidToken
	} else if err != nil {
		return g.storeError(r, opResetPassword, err)
	}
	hash, err := passwords.Hash(r.Context(), newPassword)
	if err != nil {
		return g.hashError(r, err)
	}
	userID, revoked, err := g.store().ResetPassword(r.Context(), resetIdentifierPrefix+token, hash, now())
	switch {
	case errors.Is(err, store.ErrNotFound):
		return errInvalidToken
	case errors.Is(err, store.ErrUserNotFound):
		return errUserNotFound
	case err != nil:
		return g.storeError(r, opResetPassword, err)
	}
	g.forgetSessions(revoked...)
	g.audit(r, eventPasswordReset, userID, "")
	return nil
}

// handleErrorPage is GET /error, where Better Auth sends flows that have no
// callback to return to.
func (g *Gate) handleErrorPage(w http.ResponseWriter, r *http.Request) *apiError {
	code := r.URL.Query().Get("error")
	if code == "" || strings.Trim(code, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_'-") != "" {
		code = "UNKNOWN"
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Error</title></head>" +
		"<body><main><h1>Something went wrong</h1><p>Error code: <code>" + code + "</code></p></main></body></html>"))
	return nil
}

// emailLink is the absolute URL of a path under base_path for a link sent
// by email. It comes from base_url only: a link built from the request's
// Host would let whoever sends the request choose where the victim's token
// goes. Provision makes base_url a requirement of email delivery.
func (g *Gate) emailLink(sub string) string {
	u := g.cfg.baseURL
	return u.Scheme + "://" + strings.ToLower(u.Host) + g.cfg.basePath + sub
}

// apiURL is the absolute URL of a path under base_path, on base_url or the
// request's own origin, for redirects answered to that same request.
func (g *Gate) apiURL(r *http.Request, sub string) string {
	scheme, host := g.requestOrigin(r)
	return scheme + "://" + host + g.cfg.basePath + sub
}

package caddyauth

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/authgate/authgate/caddyauth/internal/bacodec"
	"github.com/authgate/authgate/caddyauth/internal/emailaddr"
	"github.com/authgate/authgate/caddyauth/internal/mail"
	"github.com/authgate/authgate/caddyauth/internal/wire"
	"github.com/authgate/authgate/store"
)

// verifyTokenLifetime is Better Auth's emailVerification.expiresIn default.
const verifyTokenLifetime = time.Hour

// unauthenticatedVerifyFloor is Better Auth's minimum answer time of
// send-verification-email without a session, so that timing does not tell
// whether the address has an unverified account.
const unauthenticatedVerifyFloor = 500 * time.Millisecond

var (
	errVerificationDisabled = newAPIError(http.StatusBadRequest, "VERIFICATION_EMAIL_NOT_ENABLED", "Verification email isn't enabled")
	errEmailMismatch        = newAPIError(http.StatusBadRequest, "EMAIL_MISMATCH", "Email mismatch")
	errEmailAlreadyVerified = newAPIError(http.StatusBadRequest, "EMAIL_ALREADY_VERIFIED", "Email is already verified")
	errEmailDeliveryFailed  = newAPIError(http.StatusBadGateway, "EMAIL_DELIVERY_FAILED", "The email could not be sent. Please try again later.")
)

// verificationMessage builds the email-verification mail for user.
func (g *Gate) verificationMessage(r *http.Request, user store.User, callbackURL string) (mail.Message, error) {
	t := now()
	token, err := bacodec.SignEmailToken(g.cfg.keys[0], bacodec.EmailClaims{
		Email: user.Email, UserID: user.ID, IssuedAt: t.Unix(), ExpiresAt: t.Add(verifyTokenLifetime).Unix(),
	})
	if err != nil {
		return mail.Message{}, err
	}
	if callbackURL == "" {
		callbackURL = "/"
	}
	link := g.emailLink("/verify-email") + "?token=" + token + "&callbackURL=" + bacodec.EncodeURIComponent(callbackURL)
	return mail.Message{Type: mail.TypeVerifyEmail, To: user.Email, URL: link, Token: token, User: wire.FromUser(user), UserID: user.ID}, nil
}

// handleSendVerificationEmail is POST /send-verification-email.
func (g *Gate) handleSendVerificationEmail(w http.ResponseWriter, r *http.Request) *apiError {
	if g.mail == nil {
		return errVerificationDisabled
	}
	b, e := readBody(w, r, false)
	if e != nil {
		return e
	}
	email := b.email("email")
	callbackURL, _ := b.str("callbackURL", false)
	if e := b.err(); e != nil {
		return e
	}
	if e := g.checkCallback(r, callbackURL); e != nil {
		return e
	}

	res, err := g.authenticate(r.Context(), r, g.credentialFrom(r), true)
	if err != nil && !errors.Is(err, errNoSession) {
		return g.storeError(r, opSendVerificationEmail, err)
	}
	if res != nil {
		if res.user.Email != email {
			return errEmailMismatch
		}
		if res.user.EmailVerified {
			return errEmailAlreadyVerified
		}
		msg, err := g.verificationMessage(r, res.user, callbackURL)
		if err != nil {
			return errInternal
		}
		if err := g.mail.Send(r.Context(), msg); err != nil {
			// The sender has logged the cause.
			return errEmailDeliveryFailed
		}
		g.audit(r, eventVerificationEmailSent, res.user.ID, res.session.ID)
		writeJSON(w, http.StatusOK, map[string]bool{"status": true})
		return nil
	}

	// Without a session the answer is always the same, after at least the
	// same time, and the mail goes out in the background.
	deadline := time.Now().Add(unauthenticatedVerifyFloor)
	user, err := g.store().UserByEmail(r.Context(), email)
	switch {
	case err == nil && !user.EmailVerified:
		if msg, err := g.verificationMessage(r, user, callbackURL); err == nil {
			mail.SendAsync(g.mail, msg, g.logger)
			g.audit(r, eventVerificationEmailSent, user.ID, "")
		}
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return g.storeError(r, opSendVerificationEmail, err)
	}
	if err := sleepUntil(r.Context(), deadline); err != nil {
		return nil // the client went away
	}
	writeJSON(w, http.StatusOK, map[string]bool{"status": true})
	return nil
}

func sleepUntil(ctx context.Context, t time.Time) error {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// handleVerifyEmail is GET /verify-email?token=…&callbackURL=…, the link in
// the email.
func (g *Gate) handleVerifyEmail(w http.ResponseWriter, r *http.Request) *apiError {
	q := r.URL.Query()
	callbackURL := q.Get("callbackURL")
	if e := g.checkCallback(r, callbackURL); e != nil {
		return e
	}
	fail := func(code, message string) *apiError {
		if callbackURL != "" {
			redirectJSON(w, appendQuery(callbackURL, "error", code))
			return nil
		}
		return newAPIError(http.StatusUnauthorized, code, message)
	}
	claims, err := bacodec.VerifyEmailToken(g.cfg.keys, q.Get("token"), now())
	switch {
	case errors.Is(err, bacodec.ErrExpiredToken):
		return fail("TOKEN_EXPIRED", "Token expired")
	case err != nil || claims.UpdateTo != "" || !emailaddr.Valid(claims.Email):
		// Change-email tokens belong to a flow auth_gate does not offer.
		return fail("INVALID_TOKEN", "Invalid token")
	}
	user, err := g.store().UserByEmail(r.Context(), emailaddr.Normalize(claims.Email))
	if errors.Is(err, store.ErrNotFound) {
		return fail("USER_NOT_FOUND", "User not found")
	}
	if err != nil {
		return g.storeError(r, opVerifyEmail, err)
	}
	if claims.UserID != "" && claims.UserID != user.ID {
		return fail("INVALID_TOKEN", "Invalid token")
	}
	if !user.EmailVerified {
		if _, err := g.store().MarkEmailVerified(r.Context(), user.ID, now()); err != nil {
			return g.storeError(r, opVerifyEmail, err)
		}
		g.forgetUsers(user.ID)
		g.audit(r, eventEmailVerified, user.ID, "")
	}
	if callbackURL != "" {
		redirectJSON(w, callbackURL)
		return nil
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": true, "user": nil})
	return nil
}

// redirectJSON is Better Auth's ctx.redirect: 302, Location, JSON content
// type, empty body.
func redirectJSON(w http.ResponseWriter, location string) {
	w.Header().Set("Location", location)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusFound)
}

// appendQuery adds k=v to a relative or absolute URL, keeping it relative
// when it was.
func appendQuery(target, k, v string) string {
	u, err := url.Parse(target)
	if err != nil {
		return target
	}
	q := u.Query()
	q.Set(k, v)
	u.RawQuery = q.Encode()
	return u.String()
}

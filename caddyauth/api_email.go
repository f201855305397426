package caddyauth

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/authgate/authgate/store"
)

// passwords is the process-wide bounded scrypt pool: one worker per CPU and
// a bounded wait queue; a request that would wait longer than hashMaxWait
// is shed with 503 + Retry-After, so that under overload every sign-in is
// still answered within about two seconds (SPEC §6).
var passwords = func() *hasher {
	h := newHasher(runtime.NumCPU(), 16*runtime.NumCPU())
	h.maxWait = hashMaxWait
	return h
}()

// hashMaxWait leaves room for one scrypt run (50–200 ms) inside 2 s.
const hashMaxWait = 1500 * time.Millisecond

// hashError maps a hashing failure to its answer.
func (g *Gate) hashError(r *http.Request, err error) *apiError {
	if errors.Is(err, errHashBusy) {
		g.logger.Warn("password hashing saturated: shedding request", zap.String("client_ip", clientIP(r)))
		return errHashingBusy
	}
	if isHashCapacityError(err) {
		return errHashingBusy
	}
	g.logger.Error("password hashing failed", zap.Error(err))
	return errInternal
}

// isHashCapacityError tells "the pool could not run it" (busy, or the
// client gave up while queued) from a failure of the hash itself.
func isHashCapacityError(err error) bool {
	return errors.Is(err, errHashBusy) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// handleSignUp is POST /sign-up/email.
func (g *Gate) handleSignUp(w http.ResponseWriter, r *http.Request) *apiError {
	if e := g.checkFormCSRF(r); e != nil {
		return e
	}
	if g.cfg.disableSignUp {
		return errSignUpDisabled
	}
	b, e := readBody(w, r, true)
	if e != nil {
		return e
	}
	name, _ := b.str("name", true)
	rawEmail, ok := b.str("email", true)
	email := normalizeEmail(rawEmail)
	if ok && !validEmail(email) {
		b.issue("email", "Invalid email address")
	}
	password, _ := b.str("password", true)
	image, hasImage := b.str("image", false)
	callbackURL, _ := b.str("callbackURL", false)
	rememberMe, hasRemember := b.optBool("rememberMe")
	if e := b.err(); e != nil {
		return e
	}
	if e := g.checkCallback(r, callbackURL); e != nil {
		return e
	}
	if n := passwordLength(password); n < g.cfg.minPassword {
		return errPasswordTooShort
	} else if n > g.cfg.maxPassword {
		return errPasswordTooLong
	}

	// Hash before looking at the email: a taken address then costs the same
	// as a free one.
	hash, err := passwords.hash(r.Context(), password)
	if err != nil {
		return g.hashError(r, err)
	}
	t := now()
	nu := store.NewUser{Name: name, Email: email, PasswordHash: hash}
	if hasImage {
		nu.Image = &image
	}
	user, err := g.store().CreateUserWithPassword(r.Context(), nu, t)
	if errors.Is(err, store.ErrEmailTaken) {
		if g.cfg.requireVerified {
			// Better Auth's anti-enumeration answer: the same 200 a new
			// account gets, with a synthetic user.
			writeJSON(w, http.StatusOK, map[string]any{"token": nil, "user": toUserJSON(store.User{
				ID: store.NewID(), Name: name, Email: email, Image: nu.Image, CreatedAt: t, UpdatedAt: t,
			})})
			return nil
		}
		return errUserExists
	}
	if err != nil {
		return g.storeError(r, "sign-up", err)
	}
	g.logger.Info("sign-up", zap.String("user_id", user.ID), zap.String("client_ip", clientIP(r)))

	if g.cfg.requireVerified {
		// Better Auth's sendOnSignUp defaults to requireEmailVerification.
		if g.mail != nil {
			if msg, err := g.verificationMessage(r, user, callbackURL); err == nil {
				sendAsync(g.mail, msg, g.logger)
			}
		}
		writeJSON(w, http.StatusOK, map[string]any{"token": nil, "user": toUserJSON(user)})
		return nil
	}
	dontRemember := hasRemember && !rememberMe
	sess, err := g.startSession(r, user.ID, dontRemember)
	if err != nil {
		return g.storeError(r, "sign-up session", err)
	}
	g.setSessionCookie(w, r, sess.Token, dontRemember)
	writeJSON(w, http.StatusOK, struct {
		Token string   `json:"token"`
		User  userJSON `json:"user"`
	}{sess.Token, toUserJSON(user)})
	return nil
}

// handleSignIn is POST /sign-in/email.
func (g *Gate) handleSignIn(w http.ResponseWriter, r *http.Request) *apiError {
	if e := g.checkFormCSRF(r); e != nil {
		return e
	}
	b, e := readBody(w, r, true)
	if e != nil {
		return e
	}
	email, _ := b.str("email", true)
	password, _ := b.str("password", true)
	callbackURL, hasCallback := b.str("callbackURL", false)
	rememberMe, hasRemember := b.optBool("rememberMe")
	if e := b.err(); e != nil {
		return e
	}
	if e := g.checkCallback(r, callbackURL); e != nil {
		return e
	}
	email = normalizeEmail(email)
	if !validEmail(email) {
		return errInvalidEmail
	}
	if !g.allowSignInEmail(w, r, email) {
		return nil // answered 429
	}
	if passwordLength(password) > g.cfg.maxPassword {
		return errPasswordTooLong
	}

	user, hash, err := g.store().CredentialByEmail(r.Context(), email)
	switch {
	case errors.Is(err, store.ErrNotFound):
		// Burn one scrypt so that an unknown email costs what a wrong
		// password costs: timing must not reveal which accounts exist.
		if err := passwords.verifyDummy(r.Context(), password); err != nil {
			return g.hashError(r, err)
		}
		g.logger.Info("sign-in failed", zap.String("reason", "unknown_email"), zap.String("client_ip", clientIP(r)))
		return errInvalidEmailOrPassword
	case err != nil:
		return g.storeError(r, "sign-in", err)
	}
	ok, err := passwords.verify(r.Context(), hash, password)
	if err != nil && !isHashCapacityError(err) {
		// A malformed stored hash can never match; log it for the operator.
		g.logger.Error("stored password hash is malformed", zap.String("user_id", user.ID))
		ok, err = false, nil
	}
	if err != nil {
		return g.hashError(r, err)
	}
	if !ok {
		g.logger.Info("sign-in failed", zap.String("reason", "wrong_password"), zap.String("user_id", user.ID), zap.String("client_ip", clientIP(r)))
		return errInvalidEmailOrPassword
	}
	if g.cfg.requireVerified && !user.EmailVerified {
		return errEmailNotVerified
	}

	dontRemember := hasRemember && !rememberMe
	sess, err := g.startSession(r, user.ID, dontRemember)
	if err != nil {
		return g.storeError(r, "sign-in session", err)
	}
	g.logger.Info("sign-in", zap.String("user_id", user.ID), zap.String("session_id", sess.ID), zap.String("client_ip", clientIP(r)))
	g.setSessionCookie(w, r, sess.Token, dontRemember)
	resp := struct {
		Redirect bool     `json:"redirect"`
		Token    string   `json:"token"`
		URL      string   `json:"url,omitempty"`
		User     userJSON `json:"user"`
	}{Token: sess.Token, User: toUserJSON(user)}
	if hasCallback && callbackURL != "" {
		resp.Redirect, resp.URL = true, callbackURL
		w.Header().Set("Location", callbackURL)
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// storableText makes client-supplied text (a User-Agent may carry Latin-1
// bytes or NULs) storable in a PostgreSQL text column: valid UTF-8, no NUL.
func storableText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.ReplaceAll(s, "\x00", "")
}

// dontRememberLifetime is Better Auth's fixed lifetime of a rememberMe=false
// session.
const dontRememberLifetime = 24 * time.Hour

// startSession creates a session row: a day long for rememberMe=false, as
// Better Auth hard-codes, the configured lifetime otherwise.
func (g *Gate) startSession(r *http.Request, userID string, dontRemember bool) (store.Session, error) {
	t := now()
	life := g.cfg.expiresIn
	if dontRemember {
		life = dontRememberLifetime
	}
	return g.store().CreateSession(r.Context(), store.NewSession{
		UserID:    userID,
		ExpiresAt: t.Add(life),
		IPAddress: clientIP(r),
		UserAgent: storableText(r.UserAgent()),
	}, t)
}

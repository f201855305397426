package caddyauth

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/authgate/authgate/caddyauth/internal/emailaddr"
	"github.com/authgate/authgate/caddyauth/internal/mail"
	"github.com/authgate/authgate/caddyauth/internal/password"
	"github.com/authgate/authgate/caddyauth/internal/wire"
	"github.com/authgate/authgate/store"
)

// passwords is the process-wide bounded scrypt pool: one worker per CPU and
// a bounded wait queue; a request that would wait longer than hashMaxWait
// is shed with 503 + Retry-After, so that under overload every sign-in is
// still answered within about two seconds.
var passwords = password.NewPool(password.Config{
	Workers: runtime.NumCPU(),
	Queue:   16 * runtime.NumCPU(),
	MaxWait: hashMaxWait,
	Observe: func(d time.Duration) { passwordHashSeconds.Observe(d.Seconds()) },
})

// hashMaxWait leaves room for one scrypt run (50–200 ms) inside 2 s.
const hashMaxWait = 1500 * time.Millisecond

// hashError maps a hashing failure to its answer.
func (g *Gate) hashError(r *http.Request, err error) *apiError {
	if errors.Is(err, password.ErrBusy) {
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
	return errors.Is(err, password.ErrBusy) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// handleSignUp is POST /sign-up/email.
func (g *Gate) handleSignUp(w http.ResponseWriter, r *http.Request) *apiError {
	if e := g.checkFormCSRF(r); e != nil {
		return e
	}
	if g.cfg.disableSignUp {
		signUpOutcomes[signUpDisabled].Inc()
		return errSignUpDisabled
	}
	b, e := readBody(w, r, true)
	if e != nil {
		return e
	}
	name, _ := b.str("name", true)
	email := b.email("email")
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
	a := newAccount{name: name, email: email, password: password, callbackURL: callbackURL, dontRemember: hasRemember && !rememberMe}
	if hasImage {
		a.image = &image
	}
	user, sess, e := g.signUp(w, r, a)
	if e != nil {
		return e
	}
	if sess == nil {
		writeJSON(w, http.StatusOK, map[string]any{"token": nil, "user": wire.FromUser(user)})
		return nil
	}
	writeJSON(w, http.StatusOK, struct {
		Token string    `json:"token"`
		User  wire.User `json:"user"`
	}{sess.Token, wire.FromUser(user)})
	return nil
}

// newAccount is a sign-up whose fields have been read: email normalised and
// valid, callbackURL checked.
type newAccount struct {
	name, email, password string
	image                 *string
	callbackURL           string // where the verification email leads back to
	dontRemember          bool
}

// signUp creates the account and, unless email verification is required,
// its first session, whose cookie it sets on w. The JSON endpoint and the
// sign-up page share it. A nil session means none was created: the user
// must verify the address first. With require_email_verification a taken
// address gives a synthetic user and no error, Better Auth's
// anti-enumeration answer, the same as a new account gets.
func (g *Gate) signUp(w http.ResponseWriter, r *http.Request, a newAccount) (_ store.User, _ *store.Session, e *apiError) {
	defer func() { countSignUpAnswer(e) }()
	if n := password.Length(a.password); n < g.cfg.minPassword {
		return store.User{}, nil, errPasswordTooShort
	} else if n > g.cfg.maxPassword {
		return store.User{}, nil, errPasswordTooLong
	}

	// Hash before looking at the email: a taken address then costs the same
	// as a free one.
	hash, err := passwords.Hash(r.Context(), a.password)
	if err != nil {
		return store.User{}, nil, g.hashError(r, err)
	}
	t := now()
	nu := store.NewUser{Name: a.name, Email: a.email, PasswordHash: hash, Image: a.image}
	user, err := g.store().CreateUserWithPassword(r.Context(), nu, t)
	if errors.Is(err, store.ErrEmailTaken) {
		g.signUpExists(r)
		if g.cfg.requireVerified {
			return store.User{ID: store.NewID(), Name: a.name, Email: a.email, Image: a.image, CreatedAt: t, UpdatedAt: t}, nil, nil
		}
		return store.User{}, nil, errUserExists
	}
	if err != nil {
		return store.User{}, nil, g.storeError(r, opSignUp, err)
	}

	if g.cfg.requireVerified {
		// Better Auth's sendOnSignUp defaults to requireEmailVerification.
		if g.mail != nil {
			if msg, err := g.verificationMessage(r, user, a.callbackURL); err == nil {
				mail.SendAsync(g.mail, msg, g.logger)
			}
		}
		g.signedUp(r, user.ID, "")
		return user, nil, nil
	}
	sess, err := g.startSession(r, user.ID, a.dontRemember)
	if err != nil {
		g.audit(r, eventSignUp, user.ID, "") // the account exists all the same
		return store.User{}, nil, g.storeError(r, opSignUpSession, err)
	}
	g.signedUp(r, user.ID, sess.ID)
	g.setSessionCookie(w, r, sess.Token, a.dontRemember)
	return user, &sess, nil
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
	email = emailaddr.Normalize(email)
	if !emailaddr.Valid(email) {
		return errInvalidEmail
	}
	d, settle := g.limitSignIn(r, email)
	if !d.Allowed {
		writeRateLimited(w, d)
		return nil
	}
	user, sess, e := g.signIn(w, r, email, password, hasRemember && !rememberMe)
	settle(e)
	if e == errTwoFactorPending {
		return g.writeTwoFactorRedirect(w, r, user.ID)
	}
	if e != nil {
		return e
	}
	resp := struct {
		Redirect bool      `json:"redirect"`
		Token    string    `json:"token"`
		URL      string    `json:"url,omitempty"`
		User     wire.User `json:"user"`
	}{Token: sess.Token, User: wire.FromUser(user)}
	if hasCallback && callbackURL != "" {
		resp.Redirect, resp.URL = true, callbackURL
		w.Header().Set("Location", callbackURL)
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// signIn checks the password of a normalised, valid email that has passed
// the per-email rate limit, then starts a session and sets its cookie on w.
// The JSON endpoint and the sign-in page share it.
func (g *Gate) signIn(w http.ResponseWriter, r *http.Request, email, pw string, dontRemember bool) (_ store.User, _ store.Session, e *apiError) {
	defer func() { countSignInAnswer(e) }()
	if password.Length(pw) > g.cfg.maxPassword {
		return store.User{}, store.Session{}, errPasswordTooLong
	}

	user, hash, err := g.store().CredentialByEmail(r.Context(), email)
	switch {
	case errors.Is(err, store.ErrNotFound):
		// Burn one scrypt so that an unknown email costs what a wrong
		// password costs: timing must not reveal which accounts exist.
		if err := passwords.VerifyDummy(r.Context(), pw); err != nil {
			return store.User{}, store.Session{}, g.hashError(r, err)
		}
		g.signInRefused(r, reasonUnknownEmail, "")
		return store.User{}, store.Session{}, errInvalidEmailOrPassword
	case err != nil:
		return store.User{}, store.Session{}, g.storeError(r, opSignIn, err)
	}
	ok, err := passwords.Verify(r.Context(), hash, pw)
	if errors.Is(err, password.ErrMalformedHash) {
		// A malformed stored hash can never match; log it for the operator.
		g.logger.Error("stored password hash is malformed", zap.String("user_id", user.ID))
		ok, err = false, nil
	}
	if err != nil {
		return store.User{}, store.Session{}, g.hashError(r, err)
	}
	if !ok {
		g.signInRefused(r, reasonWrongPassword, user.ID)
		return store.User{}, store.Session{}, errInvalidEmailOrPassword
	}
	if g.cfg.requireVerified && !user.EmailVerified {
		g.signInRefused(r, reasonUnverified, user.ID)
		return store.User{}, store.Session{}, errEmailNotVerified
	}
	if e := g.checkPluginGuards(r, &user); e != nil {
		return store.User{}, store.Session{}, e
	}
	if user.TwoFactorEnabled { // checkPluginGuards let it through to the two-factor step
		if e := g.secondFactor(w, r, user, dontRemember); e != nil {
			return user, store.Session{}, e
		}
	}

	sess, err := g.startSession(r, user.ID, dontRemember)
	if err != nil {
		return store.User{}, store.Session{}, g.storeError(r, opSignInSession, err)
	}
	g.signedIn(r, user.ID, sess.ID)
	g.setSessionCookie(w, r, sess.Token, dontRemember)
	return user, sess, nil
}

// checkPluginGuards refuses a password sign-in that Better Auth's plugins
// would have stopped, in Better Auth's order: the admin plugin's ban (see
// checkBan), then two-factor, whose step only a password sign-in can take.
func (g *Gate) checkPluginGuards(r *http.Request, user *store.User) *apiError {
	if e := g.checkBan(r, user); e != nil {
		return e
	}
	if user.TwoFactorEnabled && !g.twoFactorDetour(r) {
		g.signInRefused(r, reasonTwoFactor, user.ID)
		return errTwoFactorRequired
	}
	return nil
}

// checkBan refuses a sign-in of a banned user, by any method, as the admin
// plugin does when the session would be created. A ban that has run out is
// lifted instead, as Better Auth does, and user updated to match.
//
// Sign-in through a provider checks only this: Better Auth's two-factor
// after-hook runs on password sign-in alone, so a user enrolled in it signs
// in with Google or an OIDC provider, whose own sign-in stands in for the
// second factor, as they did under Better Auth.
func (g *Gate) checkBan(r *http.Request, user *store.User) *apiError {
	t := now()
	if user.BannedAt(t) {
		g.signInRefused(r, reasonBanned, user.ID)
		return errBannedUser
	}
	if user.Banned {
		if err := g.store().LiftExpiredBan(r.Context(), user.ID, t); err != nil {
			return g.storeError(r, opSignIn, err)
		}
		user.Banned, user.BanExpires = false, nil
	}
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

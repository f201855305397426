package caddyauth

import (
	"errors"
	"github.com/authgate/authgate/caddyauth/internal/wire"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/authgate/authgate/caddyauth/internal/bacodec"
	"github.com/authgate/authgate/caddyauth/internal/twofactor"
	"github.com/authgate/authgate/store"
)

// The code check of Better Auth's two-factor plugin (verify-two-factor.mjs,
// totp and backup-codes): one flow for a signed-in user and for a sign-in
// waiting on its second factor.

// twoFactorAttempt is the state of one verification request: either the
// caller's session (enrolment, or a signed-in user checking a code), or a
// sign-in challenge named by the two_factor cookie.
type twoFactorAttempt struct {
	user store.User
	res  *authResult // session mode; nil during sign-in

	challenge    string // sign-in: the 2fa-<20> identifier
	expiresAt    time.Time
	tries        int // tries already spent on the challenge
	dontRemember bool
}

func (a *twoFactorAttempt) signIn() bool { return a.res == nil }

// beginTwoFactorAttempt is Better Auth's verifyTwoFactor: a session wins,
// else the signed two_factor cookie must name a live challenge of an
// existing user.
func (g *Gate) beginTwoFactorAttempt(w http.ResponseWriter, r *http.Request) (*twoFactorAttempt, *apiError) {
	res, err := g.authenticate(r.Context(), r, g.credentialFrom(r), false)
	switch {
	case err == nil:
		if res.refreshed {
			g.setSessionCookie(w, r, res.session.Token, false)
		}
		user, e := g.freshUser(r, res)
		if e != nil {
			return nil, e
		}
		return &twoFactorAttempt{user: user, res: res}, nil
	case !errors.Is(err, errNoSession):
		return nil, g.storeError(r, opSession, err)
	}
	secure := g.isSecure(r)
	raw, ok := readCookie(r.Header, cookieName(twoFactorCookie, secure))
	if !ok {
		return nil, errTwoFactorCookie
	}
	id, ok := bacodec.Verify(g.cfg.keys, raw)
	// Only a challenge identifier: the same key signs session tokens and
	// trust cookies, whose values must not pass for one.
	if !ok || !strings.HasPrefix(id, twoFactorChallengePrefix) || strings.HasPrefix(id, twoFactorAttemptsPrefix) {
		return nil, errTwoFactorCookie
	}
	userID, exp, err := g.store().VerificationEntry(r.Context(), id, now())
	if errors.Is(err, store.ErrNotFound) {
		return nil, errTwoFactorCookie
	}
	if err != nil {
		return nil, g.storeError(r, opTwoFactor, err)
	}
	user, err := g.store().UserByID(r.Context(), userID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errTwoFactorCookie
	}
	if err != nil {
		return nil, g.storeError(r, opTwoFactor, err)
	}
	a := &twoFactorAttempt{user: user, challenge: id, expiresAt: exp}
	if raw, ok := readCookie(r.Header, cookieName(dontRememberCookie, secure)); ok {
		a.dontRemember = bacodec.IsDontRemember(g.cfg.keys, raw)
	}
	return a, nil
}

// takeTry spends one of the challenge's tries (sign-in only): the counter
// row is consumed, and put back by fail or restore. Past the fifth try the
// challenge itself is spent and the user must sign in again.
func (g *Gate) takeTry(w http.ResponseWriter, r *http.Request, a *twoFactorAttempt) *apiError {
	if !a.signIn() {
		return nil
	}
	v, err := g.store().ConsumeVerification(r.Context(), twoFactorAttemptsPrefix+a.challenge, now())
	if errors.Is(err, store.ErrNotFound) {
		return errTwoFactorCookie
	}
	if err != nil {
		return g.storeError(r, opTwoFactor, err)
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		n = twoFactorTriesPerChallenge
	}
	a.tries = n
	if n >= twoFactorTriesPerChallenge {
		if _, err := g.store().ConsumeVerification(r.Context(), a.challenge, now()); err != nil && !errors.Is(err, store.ErrNotFound) {
			return g.storeError(r, opTwoFactor, err)
		}
		secure := g.isSecure(r)
		expireCookie(w.Header(), cookieName(twoFactorCookie, secure), secure)
		return errTooManyAttempts
	}
	return nil
}

// rearm puts the try counter back at n.
func (g *Gate) rearm(r *http.Request, a *twoFactorAttempt, n int) {
	if !a.signIn() {
		return
	}
	if err := g.store().CreateVerification(r.Context(), twoFactorAttemptsPrefix+a.challenge, strconv.Itoa(n), a.expiresAt, now()); err != nil {
		g.logTwoFactorStoreError("re-arm the try counter of a challenge", err)
	}
}

// checkLock is Better Auth's assertTwoFactorNotLocked, for sign-in only.
func (g *Gate) checkLock(r *http.Request, a *twoFactorAttempt, tf store.TwoFactor) *apiError {
	if !a.signIn() || tf.LockedUntil == nil {
		return nil
	}
	t := now()
	if tf.LockedUntil.After(t) {
		g.auditFailure(r, "two-factor-verify", "locked", a.user.ID, "")
		return errAccountLocked
	}
	if err := g.store().UnlockExpiredTwoFactor(r.Context(), tf.ID, t); err != nil {
		return g.storeError(r, opTwoFactor, err)
	}
	return nil
}

// failed records a wrong code: one more try spent on the challenge, one
// more failure in a row on the account (sign-in only).
func (g *Gate) failed(r *http.Request, a *twoFactorAttempt, tf store.TwoFactor, method string) {
	if !a.signIn() {
		return
	}
	g.rearm(r, a, a.tries+1)
	if err := g.store().RecordTwoFactorFailure(r.Context(), tf.ID, twoFactorLockAfter, twoFactorLockFor, now()); err != nil {
		g.logTwoFactorStoreError("record a failed verification", err)
	}
	g.auditFailure(r, "two-factor-verify", "wrong_"+method, a.user.ID, "")
}

// handleTwoFactorVerifyTOTP is POST /two-factor/verify-totp.
func (g *Gate) handleTwoFactorVerifyTOTP(w http.ResponseWriter, r *http.Request) *apiError {
	if !g.twoFactorEndpoint(w) {
		return nil
	}
	b, e := readBody(w, r, false)
	if e != nil {
		return e
	}
	code, _ := b.str("code", true)
	trust, _ := b.optBool("trustDevice")
	if e := b.err(); e != nil {
		return e
	}
	a, token, e := g.verifyTOTP(w, r, code, trust)
	if e != nil {
		return e
	}
	writeTwoFactorVerified(w, token, a)
	return nil
}

// writeTwoFactorVerified is the answer of a verified code: the session
// token and the user.
func writeTwoFactorVerified(w http.ResponseWriter, token string, a *twoFactorAttempt) {
	writeJSON(w, http.StatusOK, struct {
		Token string    `json:"token"`
		User  wire.User `json:"user"`
	}{token, userWithTwoFactor(a.user)})
}

// verifyTOTP is the code check of verify-totp, shared by the API and the
// built-in pages: it returns the attempt and the token of the session the
// caller now holds (started here during sign-in, rotated on enrolment).
func (g *Gate) verifyTOTP(w http.ResponseWriter, r *http.Request, code string, trust bool) (*twoFactorAttempt, string, *apiError) {
	a, e := g.beginTwoFactorAttempt(w, r)
	if e != nil {
		return nil, "", e
	}
	tf, err := g.store().TwoFactorByUser(r.Context(), a.user.ID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && a.signIn() && !tf.IsVerified()) {
		return nil, "", errTOTPNotEnabled
	}
	if err != nil {
		return nil, "", g.storeError(r, opTwoFactor, err)
	}
	if e := g.checkLock(r, a, tf); e != nil {
		return nil, "", e
	}
	if e := g.takeTry(w, r, a); e != nil {
		return nil, "", e
	}
	secret, err := twofactor.Decrypt(g.secrets(), tf.Secret)
	if err != nil {
		g.rearm(r, a, a.tries)
		return nil, "", g.undecryptable(r, a.user.ID, err)
	}
	key, ok := twofactor.Key(secret)
	if !ok {
		g.rearm(r, a, a.tries)
		return nil, "", g.undecryptable(r, a.user.ID, errors.New("bad base32 secret"))
	}
	if _, ok := twofactor.Verify(key, code, now()); !ok {
		g.failed(r, a, tf, "totp")
		return nil, "", errInvalidCode
	}
	if a.signIn() {
		if err := g.store().ResetTwoFactorFailures(r.Context(), tf.ID); err != nil {
			return nil, "", g.storeError(r, opTwoFactor, err)
		}
	}
	var rotated *store.Session
	if tf.Verified == nil || !*tf.Verified {
		// The first correct code completes the enrolment.
		if !a.user.TwoFactorEnabled {
			if err := g.store().SetTwoFactorEnabled(r.Context(), a.user.ID, true, now()); err != nil {
				return nil, "", g.storeError(r, opTwoFactor, err)
			}
			g.forgetUsers(a.user.ID)
			a.user.TwoFactorEnabled = true
			if !a.signIn() {
				s, e := g.rotateSession(w, r, a.res)
				if e != nil {
					return nil, "", e
				}
				rotated = &s
			}
			g.audit(r, "two-factor-enabled", a.user.ID, "")
		}
		if err := g.store().SetTwoFactorVerified(r.Context(), tf.ID); err != nil {
			return nil, "", g.storeError(r, opTwoFactor, err)
		}
	}
	token, e := g.twoFactorVerified(w, r, a, trust, rotated)
	return a, token, e
}

// twoFactorVerified is Better Auth's valid(): during sign-in, the challenge
// is consumed (once: a replayed cookie finds nothing) and the session
// starts; with a session, the caller's (or the rotated) token is returned.
func (g *Gate) twoFactorVerified(w http.ResponseWriter, r *http.Request, a *twoFactorAttempt, trust bool, rotated *store.Session) (string, *apiError) {
	if !a.signIn() {
		// Better Auth answers the pre-rotation token here, which it has
		// just deleted; the new one is what the client can use.
		if rotated != nil {
			return rotated.Token, nil
		}
		return a.res.session.Token, nil
	}
	secure := g.isSecure(r)
	t := now()
	userID, err := g.store().ConsumeVerification(r.Context(), a.challenge, t)
	if errors.Is(err, store.ErrNotFound) || (err == nil && userID != a.user.ID) {
		expireCookie(w.Header(), cookieName(twoFactorCookie, secure), secure)
		return "", errTwoFactorCookie
	}
	if err != nil {
		return "", g.storeError(r, opTwoFactor, err)
	}
	sess, err := g.startSession(r, a.user.ID, a.dontRemember)
	if err != nil {
		return "", g.storeError(r, opSignInSession, err)
	}
	g.signedIn(r, a.user.ID, sess.ID)
	g.setSessionCookie(w, r, sess.Token, a.dontRemember)
	expireCookie(w.Header(), cookieName(twoFactorCookie, secure), secure)
	if trust {
		if e := g.trustDevice(w, r, a.user.ID, t); e != nil {
			return "", e
		}
		// As Better Auth: a trusted device drops the rememberMe=false marker
		// (the session cookie itself stays a browser-session cookie).
		expireCookie(w.Header(), cookieName(dontRememberCookie, secure), secure)
	}
	return sess.Token, nil
}

// handleTwoFactorVerifyBackupCode is POST /two-factor/verify-backup-code.
func (g *Gate) handleTwoFactorVerifyBackupCode(w http.ResponseWriter, r *http.Request) *apiError {
	if !g.twoFactorEndpoint(w) {
		return nil
	}
	b, e := readBody(w, r, false)
	if e != nil {
		return e
	}
	code, _ := b.str("code", true)
	disableSession, _ := b.optBool("disableSession")
	trust, _ := b.optBool("trustDevice")
	if e := b.err(); e != nil {
		return e
	}
	a, token, e := g.verifyBackupCode(w, r, code, trust, disableSession)
	if e != nil {
		return e
	}
	if !disableSession {
		writeTwoFactorVerified(w, token, a)
		return nil
	}
	// Better Auth answers without a session here; during sign-in the
	// token is absent (undefined) and the challenge stays.
	resp := struct {
		Token *string   `json:"token,omitempty"`
		User  wire.User `json:"user"`
	}{User: userWithTwoFactor(a.user)}
	if !a.signIn() {
		resp.Token = &a.res.session.Token
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// verifyBackupCode is the code check of verify-backup-code, shared by the
// API and the built-in pages. Unless disableSession, it returns the token
// of the session the caller now holds.
func (g *Gate) verifyBackupCode(w http.ResponseWriter, r *http.Request, code string, trust, disableSession bool) (*twoFactorAttempt, string, *apiError) {
	a, e := g.beginTwoFactorAttempt(w, r)
	if e != nil {
		return nil, "", e
	}
	tf, err := g.store().TwoFactorByUser(r.Context(), a.user.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, "", errBackupCodesNotEnabled
	}
	if err != nil {
		return nil, "", g.storeError(r, opTwoFactor, err)
	}
	if e := g.checkLock(r, a, tf); e != nil {
		return nil, "", e
	}
	if e := g.takeTry(w, r, a); e != nil {
		return nil, "", e
	}
	codes, err := twofactor.DecryptBackupCodes(g.secrets(), tf.BackupCodes)
	if errors.Is(err, twofactor.ErrDecrypt) {
		g.rearm(r, a, a.tries)
		return nil, "", g.undecryptable(r, a.user.ID, err)
	}
	// A list that is not JSON verifies nothing, as Better Auth's
	// safeJSONParse gives null.
	rest, ok := twofactor.UseBackupCode(codes, code)
	if err != nil || !ok {
		g.failed(r, a, tf, "backup_code")
		return nil, "", errInvalidBackupCode
	}
	enc, err := twofactor.EncryptBackupCodes(g.secrets()[0], rest)
	if err != nil {
		return nil, "", errInternal
	}
	swapped, err := g.store().SwapBackupCodes(r.Context(), tf.ID, tf.BackupCodes, enc)
	if err != nil {
		return nil, "", g.storeError(r, opTwoFactor, err)
	}
	if !swapped {
		// Another request spent a code of this list meanwhile.
		return nil, "", errBackupCodeConflict
	}
	if a.signIn() {
		if err := g.store().ResetTwoFactorFailures(r.Context(), tf.ID); err != nil {
			return nil, "", g.storeError(r, opTwoFactor, err)
		}
	}
	g.audit(r, "two-factor-backup-code-used", a.user.ID, "", zap.Int("backup_codes_left", len(rest)))
	if disableSession {
		return a, "", nil
	}
	token, e := g.twoFactorVerified(w, r, a, trust, nil)
	return a, token, e
}

package caddyauth

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/authgate/authgate/caddyauth/internal/bacodec"
	"github.com/authgate/authgate/caddyauth/internal/password"
	"github.com/authgate/authgate/caddyauth/internal/twofactor"
	"github.com/authgate/authgate/caddyauth/internal/wire"
	"github.com/authgate/authgate/store"
)

// Better Auth's two-factor plugin endpoints (plugins/two-factor): the same
// paths, bodies, answers and error codes. There is no email/SMS code
// (send-otp, verify-otp): enable with method "otp" answers OTP_NOT_CONFIGURED
// as Better Auth does without a sendOTP hook.
var twoFactorRoutes = map[string]apiHandler{
	"POST /two-factor/enable":                (*Gate).handleTwoFactorEnable,
	"POST /two-factor/disable":               (*Gate).handleTwoFactorDisable,
	"POST /two-factor/get-totp-uri":          (*Gate).handleTwoFactorTOTPURI,
	"POST /two-factor/verify-totp":           (*Gate).handleTwoFactorVerifyTOTP,
	"POST /two-factor/verify-backup-code":    (*Gate).handleTwoFactorVerifyBackupCode,
	"POST /two-factor/generate-backup-codes": (*Gate).handleTwoFactorGenerateBackupCodes,
}

func init() {
	for k, h := range twoFactorRoutes {
		routes[k] = h
		// routePaths was built from routes before this ran.
		_, p, _ := strings.Cut(k, " ")
		routePaths[p] = true
	}
}

// Better Auth's TWO_FACTOR_ERROR_CODES, with the status each is thrown with.
var (
	errTwoFactorCookie       = newAPIError(http.StatusUnauthorized, "INVALID_TWO_FACTOR_COOKIE", "Invalid two factor cookie")
	errInvalidCode           = newAPIError(http.StatusUnauthorized, "INVALID_CODE", "Invalid code")
	errInvalidBackupCode     = newAPIError(http.StatusUnauthorized, "INVALID_BACKUP_CODE", "Invalid backup code")
	errTOTPNotEnabled        = newAPIError(http.StatusBadRequest, "TOTP_NOT_ENABLED", "TOTP not enabled")
	errTOTPAlreadyEnabled    = newAPIError(http.StatusBadRequest, "TOTP_ALREADY_ENABLED", "TOTP is already enabled")
	errTwoFactorNotEnabled   = newAPIError(http.StatusBadRequest, "TWO_FACTOR_NOT_ENABLED", "Two factor isn't enabled")
	errBackupCodesNotEnabled = newAPIError(http.StatusBadRequest, "BACKUP_CODES_NOT_ENABLED", "Backup codes aren't enabled")
	errOTPNotConfigured      = newAPIError(http.StatusBadRequest, "OTP_NOT_CONFIGURED", "OTP is not available")
	errTooManyAttempts       = newAPIError(http.StatusBadRequest, "TOO_MANY_ATTEMPTS_REQUEST_NEW_CODE", "Too many attempts. Please request a new code.")
	errAccountLocked         = newAPIError(http.StatusTooManyRequests, "ACCOUNT_TEMPORARILY_LOCKED", "Too many failed verification attempts. Your account is temporarily locked. Please try again later.")
	errBackupCodeConflict    = newAPIError(http.StatusConflict, "", "Failed to verify backup code. Please try again.")
)

// twoFactorUser is the User object with the plugin's field, as Better Auth
// sends it once the plugin is on.
type twoFactorUser struct {
	wire.User
	TwoFactorEnabled bool `json:"twoFactorEnabled"`
}

func userWithTwoFactor(u store.User) twoFactorUser {
	return twoFactorUser{wire.FromUser(u), u.TwoFactorEnabled}
}

// twoFactorEndpoint starts every endpoint: without the plugin's schema the
// routes do not exist (Better Auth without the plugin answers 404).
func (g *Gate) twoFactorEndpoint(w http.ResponseWriter) bool {
	if g.twoFactorUsable() {
		return true
	}
	w.WriteHeader(http.StatusNotFound)
	return false
}

// checkTwoFactorPassword is Better Auth's validatePassword/checkPassword:
// a user without a password answers INVALID_PASSWORD too.
func (g *Gate) checkTwoFactorPassword(r *http.Request, userID, pw string) *apiError {
	if password.Length(pw) > g.cfg.maxPassword {
		return errPasswordTooLong
	}
	e := g.confirmPassword(r, userID, pw)
	if e == errCredentialNotFound {
		return errInvalidPassword
	}
	return e
}

// freshUser re-reads the session's user: the cached copy may predate a
// change of twoFactorEnabled made a moment ago on another instance.
func (g *Gate) freshUser(r *http.Request, res *authResult) (store.User, *apiError) {
	u, err := g.store().UserByID(r.Context(), res.user.ID)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, errUnauthorized
	}
	if err != nil {
		return store.User{}, g.storeError(r, opTwoFactor, err)
	}
	return u, nil
}

// rotateSession replaces the caller's session by a new one, as Better Auth
// does whenever twoFactorEnabled changes: a session token from before the
// change stops working. The row gets the full lifetime and the cookie keeps
// the caller's rememberMe choice, as Better Auth's createSession and
// setSessionCookie do.
func (g *Gate) rotateSession(w http.ResponseWriter, r *http.Request, res *authResult) (store.Session, *apiError) {
	sess, err := g.startSession(r, res.user.ID, false)
	if err != nil {
		return store.Session{}, g.storeError(r, opTwoFactor, err)
	}
	g.setSessionCookie(w, r, sess.Token, res.dontRemember)
	if err := g.store().DeleteSessionByToken(r.Context(), res.session.Token); err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.Session{}, g.storeError(r, opTwoFactor, err)
	}
	g.forgetSessions(res.session.ID)
	return sess, nil
}

// handleTwoFactorEnable is POST /two-factor/enable: a new secret and backup
// codes, stored unverified; twoFactorEnabled is set by the first correct
// code (verify-totp).
func (g *Gate) handleTwoFactorEnable(w http.ResponseWriter, r *http.Request) *apiError {
	if !g.twoFactorEndpoint(w) {
		return nil
	}
	res, b, e := g.sessionAndBody(w, r)
	if e != nil {
		return e
	}
	pw, _ := b.str("password", true)
	method, hasMethod := b.str("method", false)
	issuer, _ := b.str("issuer", false)
	if hasMethod && method != "totp" && method != "otp" {
		b.issue("method", `Invalid option: expected one of "otp"|"totp"`)
	}
	if e := b.err(); e != nil {
		return e
	}
	if e := g.checkTwoFactorPassword(r, res.user.ID, pw); e != nil {
		return e
	}
	if method == "otp" {
		return errOTPNotConfigured
	}
	existing, err := g.store().TwoFactorByUser(r.Context(), res.user.ID)
	switch {
	case err == nil && existing.IsVerified():
		return errTOTPAlreadyEnabled
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return g.storeError(r, opTwoFactor, err)
	}
	codes := twofactor.NewBackupCodes()
	secret := twofactor.NewSecret()
	key := g.secrets()[0]
	encSecret, err := twofactor.Encrypt(key, secret)
	if err != nil {
		return errInternal
	}
	encCodes, err := twofactor.EncryptBackupCodes(key, codes)
	if err != nil {
		return errInternal
	}
	if err := g.store().SaveTwoFactor(r.Context(), res.user.ID, encSecret, encCodes, false); err != nil {
		return g.storeError(r, opTwoFactor, err)
	}
	if issuer == "" {
		issuer = g.twoFactorIssuer()
	}
	g.audit(r, "two-factor-enrolment-started", res.user.ID, res.session.ID)
	writeJSON(w, http.StatusOK, struct {
		Method      string   `json:"method"`
		TOTPURI     string   `json:"totpURI"`
		BackupCodes []string `json:"backupCodes"`
	}{"totp", twofactor.URI(issuer, res.user.Email, secret), codes})
	return nil
}

// handleTwoFactorTOTPURI is POST /two-factor/get-totp-uri.
func (g *Gate) handleTwoFactorTOTPURI(w http.ResponseWriter, r *http.Request) *apiError {
	if !g.twoFactorEndpoint(w) {
		return nil
	}
	res, b, e := g.sessionAndBody(w, r)
	if e != nil {
		return e
	}
	pw, _ := b.str("password", true)
	if e := b.err(); e != nil {
		return e
	}
	tf, err := g.store().TwoFactorByUser(r.Context(), res.user.ID)
	if errors.Is(err, store.ErrNotFound) {
		return errTOTPNotEnabled
	}
	if err != nil {
		return g.storeError(r, opTwoFactor, err)
	}
	if e := g.checkTwoFactorPassword(r, res.user.ID, pw); e != nil {
		return e
	}
	secret, err := twofactor.Decrypt(g.secrets(), tf.Secret)
	if err != nil {
		return g.undecryptable(r, res.user.ID, err)
	}
	writeJSON(w, http.StatusOK, struct {
		TOTPURI string `json:"totpURI"`
	}{twofactor.URI(g.twoFactorIssuer(), res.user.Email, secret)})
	return nil
}

// undecryptable answers a stored secret that no configured secret opens:
// the secret was changed without keeping the old one.
func (g *Gate) undecryptable(r *http.Request, userID string, err error) *apiError {
	g.logger.Error("two-factor secret of a user cannot be decrypted with any configured secret: keep the old secret after the new one in `secret`",
		zap.String("user_id", userID), zap.Error(err))
	return errInternal
}

// handleTwoFactorGenerateBackupCodes is POST /two-factor/generate-backup-codes.
func (g *Gate) handleTwoFactorGenerateBackupCodes(w http.ResponseWriter, r *http.Request) *apiError {
	if !g.twoFactorEndpoint(w) {
		return nil
	}
	res, b, e := g.sessionAndBody(w, r)
	if e != nil {
		return e
	}
	pw, _ := b.str("password", true)
	if e := b.err(); e != nil {
		return e
	}
	user, e := g.freshUser(r, res)
	if e != nil {
		return e
	}
	if !user.TwoFactorEnabled {
		return errTwoFactorNotEnabled
	}
	if e := g.checkTwoFactorPassword(r, user.ID, pw); e != nil {
		return e
	}
	tf, err := g.store().TwoFactorByUser(r.Context(), user.ID)
	if errors.Is(err, store.ErrNotFound) {
		return errTwoFactorNotEnabled
	}
	if err != nil {
		return g.storeError(r, opTwoFactor, err)
	}
	codes := twofactor.NewBackupCodes()
	enc, err := twofactor.EncryptBackupCodes(g.secrets()[0], codes)
	if err != nil {
		return errInternal
	}
	if err := g.store().SetBackupCodes(r.Context(), tf.ID, enc); err != nil {
		return g.storeError(r, opTwoFactor, err)
	}
	g.audit(r, "two-factor-backup-codes-generated", user.ID, res.session.ID)
	writeJSON(w, http.StatusOK, struct {
		Status      bool     `json:"status"`
		BackupCodes []string `json:"backupCodes"`
	}{true, codes})
	return nil
}

// handleTwoFactorDisable is POST /two-factor/disable: flag off, row gone,
// session rotated, trusted device forgotten.
func (g *Gate) handleTwoFactorDisable(w http.ResponseWriter, r *http.Request) *apiError {
	if !g.twoFactorEndpoint(w) {
		return nil
	}
	res, b, e := g.sessionAndBody(w, r)
	if e != nil {
		return e
	}
	pw, _ := b.str("password", true)
	if e := b.err(); e != nil {
		return e
	}
	// Better Auth's sensitive session: read from the database, not a cache.
	if _, _, err := g.store().SessionByToken(r.Context(), res.session.Token); errors.Is(err, store.ErrNotFound) {
		return errUnauthorized
	} else if err != nil {
		return g.storeError(r, opTwoFactor, err)
	}
	if e := g.checkTwoFactorPassword(r, res.user.ID, pw); e != nil {
		return e
	}
	t := now()
	if err := g.store().DisableTwoFactor(r.Context(), res.user.ID, t); err != nil {
		return g.storeError(r, opTwoFactor, err)
	}
	g.forgetUsers(res.user.ID)
	if _, e := g.rotateSession(w, r, res); e != nil {
		return e
	}
	secure := g.isSecure(r)
	trustName := cookieName(trustDeviceCookie, secure)
	if raw, ok := readCookie(r.Header, trustName); ok {
		if v, ok := bacodec.Verify(g.cfg.keys, raw); ok {
			if _, id, ok := strings.Cut(v, "!"); ok && id != "" {
				if _, err := g.store().ConsumeVerification(r.Context(), id, t); err != nil && !errors.Is(err, store.ErrNotFound) {
					return g.storeError(r, opTwoFactor, err)
				}
			}
			expireCookie(w.Header(), trustName, secure)
		}
	}
	g.audit(r, "two-factor-disabled", res.user.ID, res.session.ID)
	writeJSON(w, http.StatusOK, map[string]bool{"status": true})
	return nil
}

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
	a, e := g.beginTwoFactorAttempt(w, r)
	if e != nil {
		return e
	}
	tf, err := g.store().TwoFactorByUser(r.Context(), a.user.ID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && a.signIn() && !tf.IsVerified()) {
		return errTOTPNotEnabled
	}
	if err != nil {
		return g.storeError(r, opTwoFactor, err)
	}
	if e := g.checkLock(r, a, tf); e != nil {
		return e
	}
	if e := g.takeTry(w, r, a); e != nil {
		return e
	}
	secret, err := twofactor.Decrypt(g.secrets(), tf.Secret)
	if err != nil {
		g.rearm(r, a, a.tries)
		return g.undecryptable(r, a.user.ID, err)
	}
	key, ok := twofactor.Key(secret)
	if !ok {
		g.rearm(r, a, a.tries)
		return g.undecryptable(r, a.user.ID, errors.New("bad base32 secret"))
	}
	if _, ok := twofactor.Verify(key, code, now()); !ok {
		g.failed(r, a, tf, "totp")
		return errInvalidCode
	}
	if a.signIn() {
		if err := g.store().ResetTwoFactorFailures(r.Context(), tf.ID); err != nil {
			return g.storeError(r, opTwoFactor, err)
		}
	}
	var rotated *store.Session
	if tf.Verified == nil || !*tf.Verified {
		// The first correct code completes the enrolment.
		if !a.user.TwoFactorEnabled {
			if err := g.store().SetTwoFactorEnabled(r.Context(), a.user.ID, true, now()); err != nil {
				return g.storeError(r, opTwoFactor, err)
			}
			g.forgetUsers(a.user.ID)
			a.user.TwoFactorEnabled = true
			if !a.signIn() {
				s, e := g.rotateSession(w, r, a.res)
				if e != nil {
					return e
				}
				rotated = &s
			}
			g.audit(r, "two-factor-enabled", a.user.ID, "")
		}
		if err := g.store().SetTwoFactorVerified(r.Context(), tf.ID); err != nil {
			return g.storeError(r, opTwoFactor, err)
		}
	}
	return g.twoFactorVerified(w, r, a, trust, rotated)
}

// twoFactorVerified is Better Auth's valid(): during sign-in, the challenge
// is consumed (once: a replayed cookie finds nothing) and the session
// starts; with a session, the caller's (or the rotated) token is returned.
func (g *Gate) twoFactorVerified(w http.ResponseWriter, r *http.Request, a *twoFactorAttempt, trust bool, rotated *store.Session) *apiError {
	if !a.signIn() {
		// Better Auth answers the pre-rotation token here, which it has
		// just deleted; the new one is what the client can use.
		token := a.res.session.Token
		if rotated != nil {
			token = rotated.Token
		}
		writeJSON(w, http.StatusOK, struct {
			Token string        `json:"token"`
			User  twoFactorUser `json:"user"`
		}{token, userWithTwoFactor(a.user)})
		return nil
	}
	secure := g.isSecure(r)
	t := now()
	userID, err := g.store().ConsumeVerification(r.Context(), a.challenge, t)
	if errors.Is(err, store.ErrNotFound) || (err == nil && userID != a.user.ID) {
		expireCookie(w.Header(), cookieName(twoFactorCookie, secure), secure)
		return errTwoFactorCookie
	}
	if err != nil {
		return g.storeError(r, opTwoFactor, err)
	}
	sess, err := g.startSession(r, a.user.ID, a.dontRemember)
	if err != nil {
		return g.storeError(r, opSignInSession, err)
	}
	g.signedIn(r, a.user.ID, sess.ID)
	g.setSessionCookie(w, r, sess.Token, a.dontRemember)
	expireCookie(w.Header(), cookieName(twoFactorCookie, secure), secure)
	if trust {
		if e := g.trustDevice(w, r, a.user.ID, t); e != nil {
			return e
		}
		// As Better Auth: a trusted device drops the rememberMe=false marker
		// (the session cookie itself stays a browser-session cookie).
		expireCookie(w.Header(), cookieName(dontRememberCookie, secure), secure)
	}
	writeJSON(w, http.StatusOK, struct {
		Token string        `json:"token"`
		User  twoFactorUser `json:"user"`
	}{sess.Token, userWithTwoFactor(a.user)})
	return nil
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
	a, e := g.beginTwoFactorAttempt(w, r)
	if e != nil {
		return e
	}
	tf, err := g.store().TwoFactorByUser(r.Context(), a.user.ID)
	if errors.Is(err, store.ErrNotFound) {
		return errBackupCodesNotEnabled
	}
	if err != nil {
		return g.storeError(r, opTwoFactor, err)
	}
	if e := g.checkLock(r, a, tf); e != nil {
		return e
	}
	if e := g.takeTry(w, r, a); e != nil {
		return e
	}
	codes, err := twofactor.DecryptBackupCodes(g.secrets(), tf.BackupCodes)
	if errors.Is(err, twofactor.ErrDecrypt) {
		g.rearm(r, a, a.tries)
		return g.undecryptable(r, a.user.ID, err)
	}
	// A list that is not JSON verifies nothing, as Better Auth's
	// safeJSONParse gives null.
	rest, ok := twofactor.UseBackupCode(codes, code)
	if err != nil || !ok {
		g.failed(r, a, tf, "backup_code")
		return errInvalidBackupCode
	}
	enc, err := twofactor.EncryptBackupCodes(g.secrets()[0], rest)
	if err != nil {
		return errInternal
	}
	swapped, err := g.store().SwapBackupCodes(r.Context(), tf.ID, tf.BackupCodes, enc)
	if err != nil {
		return g.storeError(r, opTwoFactor, err)
	}
	if !swapped {
		// Another request spent a code of this list meanwhile.
		return errBackupCodeConflict
	}
	if a.signIn() {
		if err := g.store().ResetTwoFactorFailures(r.Context(), tf.ID); err != nil {
			return g.storeError(r, opTwoFactor, err)
		}
	}
	g.audit(r, "two-factor-backup-code-used", a.user.ID, "", zap.Int("backup_codes_left", len(rest)))
	if !disableSession {
		return g.twoFactorVerified(w, r, a, trust, nil)
	}
	// Better Auth answers without a session here; during sign-in the
	// token is absent (undefined) and the challenge stays.
	resp := struct {
		Token *string       `json:"token,omitempty"`
		User  twoFactorUser `json:"user"`
	}{User: userWithTwoFactor(a.user)}
	if !a.signIn() {
		resp.Token = &a.res.session.Token
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

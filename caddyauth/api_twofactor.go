package caddyauth

import (
	"errors"
	"net/http"
	"strings"

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

// userWithTwoFactor is the User object with the plugin's field, as Better
// Auth sends it once the plugin is on, even when u was read without it.
func userWithTwoFactor(u store.User) wire.User {
	w := wire.FromUser(u)
	w.TwoFactor = &wire.TwoFactorFields{TwoFactorEnabled: u.TwoFactorEnabled}
	return w
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
	if method == "otp" {
		// Better Auth checks the password first: a wrong one answers that.
		if e := g.checkTwoFactorPassword(r, res.user.ID, pw); e != nil {
			return e
		}
		return errOTPNotConfigured
	}
	uri, codes, e := g.enableTwoFactor(r, res, pw, issuer)
	if e != nil {
		return e
	}
	writeJSON(w, http.StatusOK, struct {
		Method      string   `json:"method"`
		TOTPURI     string   `json:"totpURI"`
		BackupCodes []string `json:"backupCodes"`
	}{"totp", uri, codes})
	return nil
}

// enableTwoFactor checks the password, then stores a new secret and backup
// codes, unverified, and returns the otpauth URI and the codes: the core of
// POST /two-factor/enable, shared with the enrolment page.
func (g *Gate) enableTwoFactor(r *http.Request, res *authResult, pw, issuer string) (string, []string, *apiError) {
	if e := g.checkTwoFactorPassword(r, res.user.ID, pw); e != nil {
		return "", nil, e
	}
	existing, err := g.store().TwoFactorByUser(r.Context(), res.user.ID)
	switch {
	case err == nil && existing.IsVerified():
		return "", nil, errTOTPAlreadyEnabled
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return "", nil, g.storeError(r, opTwoFactor, err)
	}
	codes := twofactor.NewBackupCodes()
	secret := twofactor.NewSecret()
	key := g.secrets()[0]
	encSecret, err := twofactor.Encrypt(key, secret)
	if err != nil {
		return "", nil, errInternal
	}
	encCodes, err := twofactor.EncryptBackupCodes(key, codes)
	if err != nil {
		return "", nil, errInternal
	}
	if err := g.store().SaveTwoFactor(r.Context(), res.user.ID, encSecret, encCodes, false); err != nil {
		return "", nil, g.storeError(r, opTwoFactor, err)
	}
	if issuer == "" {
		issuer = g.twoFactorIssuer()
	}
	g.audit(r, "two-factor-enrolment-started", res.user.ID, res.session.ID)
	return twofactor.URI(issuer, res.user.Email, secret), codes, nil
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
	if e := g.disableTwoFactor(w, r, res, pw); e != nil {
		return e
	}
	writeJSON(w, http.StatusOK, map[string]bool{"status": true})
	return nil
}

// disableTwoFactor is the core of POST /two-factor/disable, shared with the
// enrolment page: on success the caller holds a new session cookie.
func (g *Gate) disableTwoFactor(w http.ResponseWriter, r *http.Request, res *authResult, pw string) *apiError {
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
	return nil
}

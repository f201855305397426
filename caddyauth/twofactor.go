package caddyauth

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/authgate/authgate/caddyauth/internal/bacodec"
	"github.com/authgate/authgate/caddyauth/internal/ratelimit"
	"github.com/authgate/authgate/caddyauth/internal/twofactor"
	"github.com/authgate/authgate/store"
)

// TwoFactor configures two-factor sign-in with an authenticator app (TOTP)
// and backup codes, as Better Auth's twoFactor plugin (SPEC §10). Setting
// it adds the plugin's table and user column to the database when they are
// missing. A database that already has them (the old service ran the
// plugin) gets the two-factor step and the /two-factor/* endpoints even
// without this setting: its enrolled users must never sign in with the
// password alone.
type TwoFactor struct {
	// Issuer names the site in authenticator apps (the otpauth:// URI's
	// issuer). Default: "Better Auth", Better Auth's default appName, so that
	// the two servers show the same name.
	Issuer string `json:"issuer,omitempty"`
}

// Better Auth's two-factor constants (plugins/two-factor).
const (
	twoFactorCookie            = "two_factor"
	trustDeviceCookie          = "trust_device"
	twoFactorChallengeLife     = 600 * time.Second   // twoFactorCookieMaxAge
	trustDeviceLife            = 30 * 24 * time.Hour // trustDeviceMaxAge
	twoFactorTriesPerChallenge = 5                   // beginAttempt(5)
	twoFactorLockAfter         = 10                  // accountLockout.maxFailedAttempts
	twoFactorLockFor           = 15 * time.Minute    // accountLockout.durationSeconds
	defaultTwoFactorIssuer     = "Better Auth"
	// Identifier prefixes of the verification rows: the challenge
	// "2fa-<20>", its try counter "2fa-attempts-2fa-<20>", and a trusted
	// device "trust-device-<32>". The same rows as Better Auth's, so a
	// challenge begun on one server can be finished on the other.
	twoFactorChallengePrefix = "2fa-"
	twoFactorAttemptsPrefix  = "2fa-attempts-"
	trustDevicePrefix        = "trust-device-"
)

// unmarshalTwoFactor parses the two_factor subdirective:
//
//	two_factor [{
//		issuer <name>
//	}]
func (g *Gate) unmarshalTwoFactor(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	tf := &TwoFactor{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "issuer":
			if !d.NextArg() {
				return d.ArgErr()
			}
			tf.Issuer = d.Val()
			if d.NextArg() {
				return d.ArgErr()
			}
		default:
			return d.Errf("two_factor: unknown subdirective %q", d.Val())
		}
	}
	g.TwoFactor = tf
	return nil
}

// provisionTwoFactor records that this handler wants the two-factor schema;
// the app adds it when the config starts, as it migrates (provisioning
// must not touch the database).
func (g *Gate) provisionTwoFactor() {
	if g.TwoFactor != nil {
		g.db.twoFactor.Store(true)
	}
}

// ensureTwoFactorSchema is the start-time step of a database whose handlers
// configure two_factor.
func (h *dbHandle) ensureTwoFactorSchema(ctx context.Context) error {
	if !h.twoFactor.Load() {
		return nil
	}
	return h.st.EnsureTwoFactorSchema(ctx)
}

// twoFactorRateRules is Better Auth's plugin limit: 3 requests per 10 s per
// client on every /two-factor/* path. It follows the operator's rules, which
// may override it.
func twoFactorRateRules() []ratelimit.Rule {
	return []ratelimit.Rule{{Path: "/two-factor/*", Window: 10 * time.Second, Max: 3}}
}

// twoFactorUsable reports whether the database has the plugin's table and
// user column, which is when the two-factor step and endpoints run.
func (g *Gate) twoFactorUsable() bool {
	p := g.store().Schema().Plugins
	return p.TwoFactorTable && p.TwoFactorEnabled
}

// twoFactorDetour reports whether a sign-in of an enrolled user may go on
// to the two-factor step rather than be refused: a password sign-in through
// the JSON API or the sign-in page, which posts as /sign-in/email (Better
// Auth's after-hook runs on /sign-in/email only), on a database that has the
// plugin.
func (g *Gate) twoFactorDetour(r *http.Request) bool {
	return r.URL.Path == g.cfg.basePath+"/sign-in/email" && g.twoFactorUsable()
}

// secrets are the configured secrets as Better Auth's secret strings,
// current first: the encryption key of stored TOTP secrets and codes.
func (g *Gate) secrets() []string {
	out := make([]string, len(g.cfg.keys))
	for i, k := range g.cfg.keys {
		out[i] = string(k)
	}
	return out
}

func (g *Gate) twoFactorIssuer() string {
	if g.TwoFactor != nil && g.TwoFactor.Issuer != "" {
		return g.TwoFactor.Issuer
	}
	return defaultTwoFactorIssuer
}

// errTwoFactorPending is what signIn returns, with the user, when it sent
// the two-factor challenge instead of starting a session: handleSignIn
// answers it with Better Auth's redirect body.
var errTwoFactorPending = &apiError{status: http.StatusOK}

// secondFactor runs after the password of an enrolled user checked out
// (twoFactorDetour said yes). A device the user trusted earlier skips the
// step, with its trust renewed under a new identifier, as Better Auth does;
// it returns nil and the caller starts the session. Otherwise it sends the
// challenge: no session, the session cookies expired, the signed two_factor
// cookie naming a verification row, and errTwoFactorPending.
func (g *Gate) secondFactor(w http.ResponseWriter, r *http.Request, user store.User, dontRemember bool) *apiError {
	secure := g.isSecure(r)
	t := now()
	trustName := cookieName(trustDeviceCookie, secure)
	raw, hasTrust := readCookie(r.Header, trustName)
	if hasTrust {
		trusted, e := g.checkTrustedDevice(r, user.ID, raw, t)
		if e != nil {
			return e
		}
		if trusted != "" {
			if _, err := g.store().ConsumeVerification(r.Context(), trusted, t); err != nil && !errors.Is(err, store.ErrNotFound) {
				return g.storeError(r, opTwoFactor, err)
			}
			if e := g.trustDevice(w, r, user.ID, t); e != nil {
				return e
			}
			g.audit(r, "two-factor-trusted-device", user.ID, "")
			return nil
		}
		expireCookie(w.Header(), trustName, secure)
	}
	id := twoFactorChallengePrefix + twofactor.RandomID(20)
	exp := t.Add(twoFactorChallengeLife)
	if err := g.store().CreateVerification(r.Context(), id, user.ID, exp, t); err != nil {
		return g.storeError(r, opTwoFactor, err)
	}
	if err := g.store().CreateVerification(r.Context(), twoFactorAttemptsPrefix+id, "0", exp, t); err != nil {
		return g.storeError(r, opTwoFactor, err)
	}
	// Better Auth's credential sign-in set the session cookies before its
	// after-hook expired them, keeping dont_remember: the choice made here
	// must survive until the code is verified.
	expireCookie(w.Header(), cookieName(sessionTokenCookie, secure), secure)
	expireCookie(w.Header(), cookieName(sessionDataCookie, secure), secure)
	if dontRemember {
		setCookie(w.Header(), cookieName(dontRememberCookie, secure), bacodec.DontRememberCookie(g.cfg.keys[0]), -1, secure)
	}
	setCookie(w.Header(), cookieName(twoFactorCookie, secure), bacodec.SignCookie(g.cfg.keys[0], id),
		int(twoFactorChallengeLife/time.Second), secure)
	g.audit(r, "two-factor-challenge", user.ID, "")
	signInOutcomes[signInTwoFactorRequired].Inc()
	return errTwoFactorPending
}

// writeTwoFactorRedirect is Better Auth's sign-in answer for an enrolled
// user: "totp" is offered only once the enrolment was verified (there is
// no email/SMS code here, so no "otp").
func (g *Gate) writeTwoFactorRedirect(w http.ResponseWriter, r *http.Request, userID string) *apiError {
	methods := []string{}
	tf, err := g.store().TwoFactorByUser(r.Context(), userID)
	switch {
	case err == nil && tf.IsVerified():
		methods = append(methods, "totp")
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return g.storeError(r, opTwoFactor, err)
	}
	writeJSON(w, http.StatusOK, struct {
		TwoFactorRedirect bool     `json:"twoFactorRedirect"`
		TwoFactorMethods  []string `json:"twoFactorMethods"`
	}{true, methods})
	return nil
}

// checkTrustedDevice returns the verification identifier of a valid
// trust_device cookie of userID, or "" when the cookie does not hold.
func (g *Gate) checkTrustedDevice(r *http.Request, userID, raw string, t time.Time) (string, *apiError) {
	value, ok := bacodec.Verify(g.cfg.keys, raw)
	if !ok {
		return "", nil
	}
	id, ok := twofactor.CheckTrust(g.secrets(), userID, value)
	if !ok || !strings.HasPrefix(id, trustDevicePrefix) {
		return "", nil
	}
	v, err := g.store().VerificationValue(r.Context(), id, t)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", g.storeError(r, opTwoFactor, err)
	}
	if v != userID {
		return "", nil
	}
	return id, nil
}

// trustDevice records a trusted device for userID and sets its cookie.
func (g *Gate) trustDevice(w http.ResponseWriter, r *http.Request, userID string, t time.Time) *apiError {
	id := trustDevicePrefix + twofactor.RandomID(32)
	if err := g.store().CreateVerification(r.Context(), id, userID, t.Add(trustDeviceLife), t); err != nil {
		return g.storeError(r, opTwoFactor, err)
	}
	secure := g.isSecure(r)
	value := twofactor.TrustCookieValue(g.secrets()[0], userID, id)
	setCookie(w.Header(), cookieName(trustDeviceCookie, secure), bacodec.SignCookie(g.cfg.keys[0], value),
		int(trustDeviceLife/time.Second), secure)
	return nil
}

// logTwoFactorStoreError is for failures after the answer is decided (a
// counter that could not be re-armed): logged, not answered.
func (g *Gate) logTwoFactorStoreError(what string, err error) {
	g.logger.Warn("two-factor: "+what, zap.Error(err))
}

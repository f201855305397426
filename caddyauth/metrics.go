package caddyauth

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/authgate/authgate/caddyauth/internal/ratelimit"
)

// Metrics. The collectors are created once, at package level, and
// registered on the metrics registry of every config that provisions a
// Gate (Caddy gives each config load a new registry; the admin endpoint's
// /metrics serves it): the counts are per process and survive reloads, as
// Caddy's own do. Labels take values from fixed sets only, never a user id,
// email, client address or raw path, so that their number stays bounded
// whatever the traffic.
//
// The gate's hot path only increments counters resolved here once
// (WithLabelValues at init), which neither allocates nor takes a lock.

const metricsNamespace, metricsSubsystem = "caddy", "auth_gate"

func counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: name, Help: help,
	}, labels)
}

var (
	gateDecisionsVec = counterVec("gate_decisions_total",
		"Requests outside base_path by what the gate did: authenticated (passed on with identity, public paths included), public (passed on without identity), redirected (to login_url), unauthorized (401), store_unavailable (503).",
		"outcome")
	apiRequestsVec = counterVec("api_requests_total",
		"Auth API requests by endpoint (the route, e.g. sign-in/email or reset-password/:token; unknown for paths that are no route) and HTTP status.",
		"endpoint", "status")
	signInVec = counterVec("sign_in_total",
		"Sign-in attempts by outcome: success, invalid_credentials, unverified, rate_limited, busy (hashing pool full), error (store). Requests refused before the password is checked (malformed body or email, bad origin) count only in api_requests_total.",
		"outcome")
	signUpVec = counterVec("sign_up_total",
		"Sign-up attempts by outcome: success, exists, invalid (password too short or long), disabled, rate_limited, busy (hashing pool full), error (store). Requests refused before the password is checked (malformed body or email, bad origin) count only in api_requests_total.",
		"outcome")
	passwordHashSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: "password_hash_seconds",
		Help:    "Time of one scrypt computation (hash or verification) on the hashing pool, without the wait for a worker.",
		Buckets: []float64{.01, .025, .05, .075, .1, .15, .2, .3, .5, .75, 1, 2},
	})
	passwordHashQueue = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: "password_hash_queue",
		Help: "Callers waiting for a password-hashing worker.",
	}, func() float64 { return float64(passwords.Queued()) })
	passwordHashRunning = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: "password_hash_running",
		Help: "Password hashes and verifications in progress.",
	}, func() float64 { return float64(passwords.Running()) })
	sessionCacheVec = counterVec("session_cache_total",
		"Session lookups with session_cache on, by result: hit (served from memory) or miss (read from the database).",
		"result")
	cacheInvalidationsVec = counterVec("session_cache_invalidations_total",
		"Session cache invalidations by reason: local (a revocation or change made by this instance), notice (one announced by another instance), flush (everything dropped, after a lost notice connection).",
		"reason")
	storeErrorsVec = counterVec("store_errors_total",
		"Database failures by operation; the answer was 503 (unavailable) or 500.",
		"op")
	rateLimitedVec = counterVec("rate_limited_total",
		"Requests refused with 429, by limit: ip (auth API requests per client address and path), email (failed sign-ins per address and client) or token (gated requests with raw bearer tokens from a client whose tokens keep missing).",
		"scope")

	collectors = []prometheus.Collector{
		gateDecisionsVec, apiRequestsVec, signInVec, signUpVec,
		passwordHashSeconds, passwordHashQueue, passwordHashRunning,
		sessionCacheVec, cacheInvalidationsVec, storeErrorsVec, rateLimitedVec,
	}
)

// Pre-resolved children.
var (
	gateAuthenticated    = gateDecisionsVec.WithLabelValues("authenticated")
	gatePublic           = gateDecisionsVec.WithLabelValues("public")
	gateRedirected       = gateDecisionsVec.WithLabelValues("redirected")
	gateUnauthorized     = gateDecisionsVec.WithLabelValues("unauthorized")
	gateStoreUnavailable = gateDecisionsVec.WithLabelValues("store_unavailable")

	cacheHits   = sessionCacheVec.WithLabelValues("hit")
	cacheMisses = sessionCacheVec.WithLabelValues("miss")

	cacheInvalidatedLocal  = cacheInvalidationsVec.WithLabelValues("local")
	cacheInvalidatedNotice = cacheInvalidationsVec.WithLabelValues("notice")
	cacheInvalidatedFlush  = cacheInvalidationsVec.WithLabelValues("flush")

	// rateLimited is indexed by the limit's scope, so that no label can be
	// misspelt.
	rateLimited = func() (c [len(ratelimit.Scopes)]prometheus.Counter) {
		for _, s := range ratelimit.Scopes {
			c[s] = rateLimitedVec.WithLabelValues(s.String())
		}
		return c
	}()
)

// registerMetrics adds the collectors to the config's registry. A registry
// that already has them (a second Gate in the same config) is fine.
func registerMetrics(ctx caddy.Context) error {
	reg := ctx.GetMetricsRegistry()
	if reg == nil {
		return nil
	}
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return err
			}
		}
	}
	return nil
}

// countLocalInvalidation counts one invalidation of n sessions or users,
// when there was anything to invalidate.
func countLocalInvalidation(n int) {
	if n > 0 {
		cacheInvalidatedLocal.Inc()
	}
}

// signInOutcome is the outcome label of sign_in_total.
type signInOutcome uint8

const (
	signInSuccess signInOutcome = iota
	signInInvalidCredentials
	signInUnverified
	signInBanned
	signInTwoFactorRequired
	signInRateLimited
	signInBusy
	signInError
	numSignInOutcomes
)

var signInOutcomeNames = [numSignInOutcomes]string{
	signInSuccess:            "success",
	signInInvalidCredentials: "invalid_credentials",
	signInUnverified:         "unverified",
	signInBanned:             "banned",
	signInTwoFactorRequired:  "two_factor_required",
	signInRateLimited:        "rate_limited",
	signInBusy:               "busy",
	signInError:              "error",
}

// signUpOutcome is the outcome label of sign_up_total.
type signUpOutcome uint8

const (
	signUpSuccess signUpOutcome = iota
	signUpExists
	signUpInvalid
	signUpDisabled
	signUpRateLimited
	signUpBusy
	signUpError
	numSignUpOutcomes
)

var signUpOutcomeNames = [numSignUpOutcomes]string{
	signUpSuccess:     "success",
	signUpExists:      "exists",
	signUpInvalid:     "invalid",
	signUpDisabled:    "disabled",
	signUpRateLimited: "rate_limited",
	signUpBusy:        "busy",
	signUpError:       "error",
}

// storeOp names a database operation in store_errors_total and in the log
// entry of its failure.
type storeOp uint8

const (
	opGate storeOp = iota // the gate's session lookup
	opConnect
	opSession
	opGetSession
	opListSessions
	opSignUp
	opSignUpSession
	opSignIn
	opSignInSession
	opSignOut
	opRevokeSession
	opRevokeSessions
	opUpdateUser
	opChangePassword
	opChangePasswordSession
	opDeleteUser
	opReadCredential
	opRequestPasswordReset
	opResetPasswordCallback
	opResetPassword
	opSendVerificationEmail
	opVerifyEmail
	opTwoFactor
	opSigningKeys
	numStoreOps
)

var storeOpNames = [numStoreOps]string{
	opGate:                  "gate",
	opConnect:               "connect",
	opSession:               "session",
	opGetSession:            "get-session",
	opListSessions:          "list-sessions",
	opSignUp:                "sign-up",
	opSignUpSession:         "sign-up session",
	opSignIn:                "sign-in",
	opSignInSession:         "sign-in session",
	opSignOut:               "sign-out",
	opRevokeSession:         "revoke-session",
	opRevokeSessions:        "revoke-sessions",
	opUpdateUser:            "update-user",
	opChangePassword:        "change-password",
	opChangePasswordSession: "change-password session",
	opDeleteUser:            "delete-user",
	opReadCredential:        "read credential",
	opRequestPasswordReset:  "request-password-reset",
	opResetPasswordCallback: "reset-password callback",
	opResetPassword:         "reset-password",
	opSendVerificationEmail: "send-verification-email",
	opVerifyEmail:           "verify-email",
	opTwoFactor:             "two-factor",
	opSigningKeys:           "signing keys",
}

func (op storeOp) String() string { return storeOpNames[op] }

// resolveAll returns the children of v for each of names, indexed as names
// is, so that they are exported (as 0) before their first use and cost no
// lookup.
func resolveAll(v *prometheus.CounterVec, names []string) []prometheus.Counter {
	c := make([]prometheus.Counter, len(names))
	for i, name := range names {
		c[i] = v.WithLabelValues(name)
	}
	return c
}

// The children of the labelled counters, indexed by their typed labels, so
// that no label value can be misspelt.
var (
	signInOutcomes = resolveAll(signInVec, signInOutcomeNames[:])
	signUpOutcomes = resolveAll(signUpVec, signUpOutcomeNames[:])
	storeErrorOps  = resolveAll(storeErrorsVec, storeOpNames[:])
)

// endpoint is the endpoint label of api_requests_total: the path of a
// route without its leading slash, or one of the names below.
type endpoint string

const (
	endpointSignIn         endpoint = "sign-in/email"
	endpointSignUp         endpoint = "sign-up/email"
	endpointResetCallback  endpoint = "reset-password/:token"
	endpointSocialCallback endpoint = "callback/:id"
	endpointUnknown        endpoint = "unknown"
)

// countSignInAnswer counts the outcomes of sign-in that show in the error it
// answers with; the others are counted where they are audited (signedIn,
// signInRefused).
func countSignInAnswer(e *apiError) {
	switch e {
	case errHashingBusy:
		signInOutcomes[signInBusy].Inc()
	case errInternal, errStoreUnavailable:
		signInOutcomes[signInError].Inc()
	}
}

// countSignUpAnswer counts the outcome of a sign-up that ended with an error
// answer, except "exists", which is counted where it is audited.
func countSignUpAnswer(e *apiError) {
	switch e {
	case nil, errUserExists:
	case errSignUpDisabled:
		signUpOutcomes[signUpDisabled].Inc()
	case errHashingBusy:
		signUpOutcomes[signUpBusy].Inc()
	case errInternal, errStoreUnavailable:
		signUpOutcomes[signUpError].Inc()
	default:
		signUpOutcomes[signUpInvalid].Inc()
	}
}

// statusLabels are the status label values, made once: strconv.Itoa
// allocates for numbers of three digits.
var statusLabels = func() (s [600]string) {
	for i := range s {
		s[i] = strconv.Itoa(i)
	}
	return s
}()

// statusWriter remembers the status of an API answer for the request
// counter. It is the one allocation metrics add to an API request.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// count adds the answer to api_requests_total. A handler that wrote
// nothing was answered 200 by the server.
func (w *statusWriter) count(ep endpoint) {
	status := w.status
	if status == 0 {
		status = http.StatusOK
	}
	label := "other"
	if status < len(statusLabels) {
		label = statusLabels[status]
	}
	apiRequestsVec.WithLabelValues(string(ep), label).Inc()
}

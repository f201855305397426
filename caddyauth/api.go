package caddyauth

import (
	"errors"
	"net/http"
	"strings"

	"go.uber.org/zap"

	"github.com/authgate/authgate/store"
)

// apiHandler serves one endpoint. It returns an *apiError to answer with,
// or nil when it has written the response itself.
type apiHandler func(g *Gate, w http.ResponseWriter, r *http.Request) *apiError

// routes maps "METHOD /path" (relative to base_path) to its handler. Better
// Auth's router answers anything else, including a trailing slash and any
// other method, with an empty 404.
var routes = map[string]apiHandler{
	"POST /sign-up/email": (*Gate).handleSignUp,
	"POST /sign-in/email": (*Gate).handleSignIn,
	"POST /sign-out":      (*Gate).handleSignOut,
	"GET /get-session":    (*Gate).handleGetSession,
	"POST /get-session":   (*Gate).handleGetSessionPOST,
	"GET /ok":             (*Gate).handleOK,
	"GET /error":          (*Gate).handleErrorPage,

	"GET /list-sessions":          (*Gate).handleListSessions,
	"POST /revoke-session":        (*Gate).handleRevokeSession,
	"POST /revoke-sessions":       (*Gate).handleRevokeSessions,
	"POST /revoke-other-sessions": (*Gate).handleRevokeOtherSessions,
	"POST /update-user":           (*Gate).handleUpdateUser,
	"POST /change-password":       (*Gate).handleChangePassword,
	"POST /delete-user":           (*Gate).handleDeleteUser,

	"POST /request-password-reset":  (*Gate).handleRequestPasswordReset,
	"POST /reset-password":          (*Gate).handleResetPassword,
	"POST /send-verification-email": (*Gate).handleSendVerificationEmail,
	"GET /verify-email":             (*Gate).handleVerifyEmail,

	"POST /sign-in/social": (*Gate).handleSignInSocial,
}

// resetCallbackPrefix is the one parameterised route, GET
// /reset-password/:token.
const resetCallbackPrefix = "/reset-password/"

// serveAPI routes a request under base_path. Requests here never reach the
// next handler.
func (g *Gate) serveAPI(w http.ResponseWriter, r *http.Request) error {
	sub := r.URL.Path[len(g.cfg.basePath):]
	// The request's store calls (a database rate limit, then the
	// endpoint's own) end within one deadline together: a database that
	// stops answering costs a client one deadline, not one per call.
	r = r.WithContext(store.WithSharedDeadline(r.Context()))
	// The built-in pages answer in HTML, rate limits included (pages.go).
	if route, ok := g.pageRouteFor(r, sub); ok {
		return g.servePage(w, r, sub, route)
	}
	h, endpoint := apiRoute(r.Method, sub)
	sw := &statusWriter{ResponseWriter: w}
	defer sw.count(endpoint)
	w = sw
	// Before answering 404, as Better Auth's onRequest: see ratelimit.go.
	if d := g.limitRequest(r, sub); !d.Allowed {
		writeRateLimited(w, d)
		g.apiRateLimited(r, endpoint)
		return nil
	}
	if h == nil {
		w.WriteHeader(http.StatusNotFound)
		return nil
	}
	// Better Auth's router-wide origin check: a state-changing request that
	// carries cookies must come from the site itself or a trusted origin.
	// A provider's form_post callback comes from the provider's origin; it
	// only redirects to the GET callback, which checks the flow's state.
	if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Header.Get("Cookie") != "" && endpoint != endpointSocialCallback {
		if e := g.checkOrigin(r); e != nil {
			writeAPIError(w, e)
			return nil
		}
	}
	// Every endpoint but these two needs the database: one that cannot be
	// reached is answered 503 before the request is looked at.
	if sub != "/ok" && sub != "/error" {
		if err := g.store().Ready(r.Context()); err != nil {
			writeAPIError(w, g.storeError(r, opConnect, err))
			return nil
		}
	}
	if e := h(g, w, r); e != nil {
		writeAPIError(w, e)
	}
	return nil
}

// apiRoute finds the handler of a request for sub (the path relative to
// base_path) and the endpoint name the metrics know it by: the route's path
// without its leading slash, or endpointUnknown (and a nil handler) when it
// is no route.
func apiRoute(method, sub string) (apiHandler, endpoint) {
	if strings.Contains(sub, "//") {
		return nil, endpointUnknown
	}
	if h, ok := routes[method+" "+sub]; ok {
		return h, endpoint(sub[1:])
	}
	if method == http.MethodGet && strings.HasPrefix(sub, resetCallbackPrefix) {
		if token := sub[len(resetCallbackPrefix):]; token != "" && !strings.Contains(token, "/") {
			return func(g *Gate, w http.ResponseWriter, r *http.Request) *apiError {
				return g.handleResetPasswordCallback(w, r, token)
			}, endpointResetCallback
		}
	}
	if id, ok := strings.CutPrefix(sub, callbackPrefix); ok && id != "" && !strings.Contains(id, "/") {
		switch method {
		case http.MethodGet:
			return func(g *Gate, w http.ResponseWriter, r *http.Request) *apiError {
				return g.handleSocialCallback(w, r, id)
			}, endpointSocialCallback
		case http.MethodPost:
			return func(g *Gate, w http.ResponseWriter, r *http.Request) *apiError {
				return g.handleSocialCallbackPOST(w, r, id)
			}, endpointSocialCallback
		}
	}
	return nil, endpointUnknown
}

// storeError maps a store failure to the answer the client gets: 503
// AUTH_STORE_UNAVAILABLE with Retry-After, whatever the failure. Handlers
// turn the store's domain answers (ErrNotFound, ErrEmailTaken, ...) into
// their own answers first; anything else is the store failing, not the
// request, and drivers do not classify every way a database can refuse
// (a hosted one's proxy answers with codes of its own). The log keeps the
// cause, and tells a known outage from an unexpected error.
func (g *Gate) storeError(r *http.Request, op storeOp, err error) *apiError {
	storeErrorOps[op].Inc()
	msg := "auth store error"
	if errors.Is(err, store.ErrUnavailable) {
		msg = "auth store unavailable"
	}
	g.logger.Error(msg, zap.String("op", op.String()), zap.String("client_ip", clientIP(r)), zap.Error(err))
	return errStoreUnavailable
}

func (g *Gate) handleOK(w http.ResponseWriter, r *http.Request) *apiError {
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
	return nil
}

// checkCallback validates an optional redirect target from a body or query.
func (g *Gate) checkCallback(r *http.Request, v string) *apiError {
	if v != "" && !g.validRedirect(r, v) {
		return errInvalidCallbackURL
	}
	return nil
}

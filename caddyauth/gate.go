package caddyauth

import (
	"errors"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

// ServeHTTP answers the auth API under the base path and gates everything
// else. It fails closed: whatever goes wrong, an unauthenticated request is
// never passed on unless its path is public.
func (g *Gate) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if g.underBasePath(r.URL.Path) {
		return g.serveAPI(w, r)
	}

	// Identity headers are stripped before anything else, on every route,
	// so that no client-sent copy survives any later branch.
	stripHeaders(r.Header, g.cfg.headerSet)

	cred := g.credentialFrom(r)
	if !g.allowTokenLookup(w, r, cred) {
		return nil // answered 429 (ratelimit.go)
	}
	res, err := g.authenticate(r.Context(), r, cred, false)
	switch {
	case err == nil:
		gateAuthenticated.Inc()
		g.setIdentity(r, res)
		if res.refreshed {
			g.setSessionCookie(w, r, res.session.Token, false)
		}
		return next.ServeHTTP(w, r)
	case !errors.Is(err, errNoSession):
		// The store could not answer: we cannot tell who this is, so we
		// pass nothing on, not even to a public path, because a public
		// page rendered without identity for a signed-in user would be
		// wrong in ways the app cannot detect.
		g.logger.Error("session lookup failed", zap.String("client_ip", clientIP(r)), zap.Error(err))
		gateStoreUnavailable.Inc()
		countStoreError("gate")
		writeAPIError(w, errStoreUnavailable)
		return nil
	}
	g.countTokenMiss(r, cred)

	if g.public != nil && g.public.Match(r) {
		gatePublic.Inc()
		return next.ServeHTTP(w, r)
	}
	if g.cfg.loginURL != "" && isBrowserNavigation(r) {
		status := http.StatusFound
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			status = http.StatusSeeOther
		}
		gateRedirected.Inc()
		http.Redirect(w, r, g.loginRedirect(r), status)
		return nil
	}
	gateUnauthorized.Inc()
	writeAPIError(w, errUnauthorized)
	return nil
}

// underBasePath reports whether p is the base path or below it.
func (g *Gate) underBasePath(p string) bool {
	bp := g.cfg.basePath
	return strings.HasPrefix(p, bp) && (len(p) == len(bp) || p[len(bp)] == '/')
}

// identityPlaceholders are set, in identity's order, for the next handler.
var identityPlaceholders = [5]string{
	"http.auth.user.id", "http.auth.user.email", "http.auth.user.name",
	"http.auth.user.email_verified", "http.auth.session.id",
}

// setIdentity writes the identity headers and placeholders for the next
// handler. Values are made header-safe once per session read (no CR/LF,
// non-ASCII percent-encoded); here the five header slices share one
// allocation, on this path that every gated request takes.
func (g *Gate) setIdentity(r *http.Request, a *authResult) {
	vals := make([]string, len(a.ident.header))
	copy(vals, a.ident.header[:])
	for i, name := range g.cfg.headerKeys {
		r.Header[name] = vals[i : i+1 : i+1]
	}
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		for i, key := range identityPlaceholders {
			repl.Set(key, a.ident.repl[i])
		}
	}
}

// isBrowserNavigation tells a top-level page load (which a redirect to the
// login page helps) from an API call (which needs a plain 401).
func isBrowserNavigation(r *http.Request) bool {
	if !strings.Contains(r.Header.Get("Accept"), "text/html") {
		return false
	}
	if r.Header.Get("X-Requested-With") != "" {
		return false
	}
	mode := r.Header.Get("Sec-Fetch-Mode")
	return mode == "" || mode == "navigate"
}

// validHeaderName accepts RFC 9110 token characters only.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

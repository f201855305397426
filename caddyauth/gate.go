package caddyauth

import (
	"errors"
	"io"
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
	g.guardTrailers(r)

	cred := g.credentialFrom(r)
	if d := g.limitTokenLookup(r, cred); !d.Allowed {
		writeRateLimited(w, d)
		return nil
	}
	res, err := g.authenticate(r.Context(), r, cred, false)
	switch {
	case err == nil:
		gateAuthenticated.Inc()
		g.setIdentity(r, res)
		if res.refreshed {
			g.setSessionCookie(w, r, res.session.Token, false)
			w = &privateCacheWriter{ResponseWriterWrapper: &caddyhttp.ResponseWriterWrapper{ResponseWriter: w}}
		}
		return next.ServeHTTP(w, r)
	case !errors.Is(err, errNoSession):
		// The store could not answer: we cannot tell who this is, so we
		// pass nothing on, not even to a public path, because a public
		// page rendered without identity for a signed-in user would be
		// wrong in ways the app cannot detect.
		g.logger.Error("session lookup failed", zap.String("client_ip", clientIP(r)), zap.Error(err))
		gateStoreUnavailable.Inc()
		storeErrorOps[opGate].Inc()
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

// guardTrailers keeps identity headers out of the request's trailers. The
// server fills r.Trailer when the body ends, long after the headers were
// stripped, and reverse_proxy forwards trailers: a chunked request that
// declares any trailer (say `Trailer: X-Other`) has every trailer it sends
// merged in, X-User-Id included. So declared names are removed now, and
// whatever arrives is scrubbed in the same Read that reaches the end of the
// body, before the handler that reads it (reverse_proxy copies trailers at
// that EOF) can see them. Requests without trailers, nearly all, pay nothing.
func (g *Gate) guardTrailers(r *http.Request) {
	if r.Trailer == nil || r.Body == nil || r.Body == http.NoBody {
		return
	}
	stripHeaders(r.Trailer, g.cfg.headerSet)
	r.Body = &trailerScrubber{ReadCloser: r.Body, trailer: r.Trailer, names: g.cfg.headerSet}
}

// trailerScrubber strips identity headers from trailer once the body it
// wraps ends; the server has filled trailer by then.
type trailerScrubber struct {
	io.ReadCloser
	trailer http.Header
	names   map[string]struct{}
}

func (b *trailerScrubber) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		stripHeaders(b.trailer, b.names)
	}
	return n, err
}

// privateCacheWriter marks the app's response `Cache-Control: private` when
// the gate adds a Set-Cookie to it (the sliding refresh), so that no shared
// cache stores one user's session cookie and hands it to others. An app
// that already said private or no-store is left alone; other directives
// (max-age, say) are kept, minus `public`, which would contradict.
type privateCacheWriter struct {
	*caddyhttp.ResponseWriterWrapper
	done bool
}

func (w *privateCacheWriter) WriteHeader(status int) {
	// 1xx answers (103 Early Hints) come before the real one.
	if !w.done && status >= 200 {
		w.done = true
		markPrivate(w.Header())
	}
	w.ResponseWriterWrapper.WriteHeader(status)
}

func (w *privateCacheWriter) Write(p []byte) (int, error) {
	if !w.done {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriterWrapper.Write(p)
}

// ReadFrom keeps io.Copy from going around Write to the wrapped writer.
func (w *privateCacheWriter) ReadFrom(r io.Reader) (int64, error) {
	if !w.done {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriterWrapper.ReadFrom(r)
}

// markPrivate makes h's Cache-Control say private, unless it already says
// private or no-store.
func markPrivate(h http.Header) {
	var kept []string
	for _, v := range h.Values("Cache-Control") {
		for d := range strings.SplitSeq(v, ",") {
			d = strings.TrimSpace(d)
			name, _, _ := strings.Cut(d, "=")
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "private", "no-store":
				return
			case "public", "":
				continue
			}
			kept = append(kept, d)
		}
	}
	h.Set("Cache-Control", strings.Join(append([]string{"private"}, kept...), ", "))
}

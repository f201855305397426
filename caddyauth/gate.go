package caddyauth

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/authgate/authgate/caddyauth/internal/bacodec"
	"github.com/authgate/authgate/caddyauth/internal/ratelimit"
	"github.com/authgate/authgate/store"
)

// ServeHTTP answers the auth API under the base path and gates everything
// else. It fails closed: whatever goes wrong, an unauthenticated request is
// never passed on unless its path is public. What only the gate uses
// follows in this file in the order a gated request meets it.
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
		if g.rules != nil && g.refuseByRule(w, r, res) {
			return nil
		}
		g.setIdentity(r, res)
		if err := g.addAssertion(r, res); err != nil {
			g.logger.Error("no assertion signed", zap.String("client_ip", clientIP(r)), zap.Error(err))
			storeErrorOps[opSigningKeys].Inc()
			writeAPIError(w, errStoreUnavailable)
			return nil
		}
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

// credential is what a request presents: the session token, whether one was
// presented at all (a cookie with a bad signature counts as presented),
// whether it came from a cookie (so that a stale one should be cleared), and
// whether it is a raw bearer token, unsigned (so that anyone can make one up).
type credential struct {
	token     string
	presented bool
	cookie    bool
	raw       bool
}

// credentialFrom extracts the session token from the bearer header (when
// enabled) or the session cookie. A bad signature yields no token.
func (g *Gate) credentialFrom(r *http.Request) credential {
	if g.cfg.bearer {
		if auth := r.Header.Get("Authorization"); len(auth) > 7 && strings.EqualFold(auth[:7], "bearer ") {
			v := strings.TrimSpace(auth[7:])
			if strings.Contains(v, ".") {
				// Better Auth's bearer plugin: a signed value, URL-encoded or not.
				if tok, ok := bacodec.Verify(g.cfg.keys, v); ok {
					return credential{token: tok, presented: true}
				}
			} else if validTokenShape(v) {
				// A raw token, as returned in JSON bodies: Better Auth signs it
				// itself and accepts it.
				return credential{token: v, presented: true, raw: true}
			}
		}
	}
	raw, ok := readCookie(r.Header, cookieName(sessionTokenCookie, g.isSecure(r)))
	if !ok {
		return credential{}
	}
	tok, ok := bacodec.Verify(g.cfg.keys, raw)
	if !ok {
		return credential{presented: true, cookie: true}
	}
	return credential{token: tok, presented: true, cookie: true}
}

// validTokenShape rejects bearer values that cannot be a session token
// before they cost a query.
func validTokenShape(s string) bool {
	if len(s) == 0 || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// isSecure tells whether cookies for this request get the __Secure- prefix
// and the Secure attribute.
func (g *Gate) isSecure(r *http.Request) bool {
	if g.cfg.baseURL != nil {
		return g.cfg.secure
	}
	return r.TLS != nil
}

// limitTokenLookup limits what made-up bearer tokens cost (see
// ratelimit.Limiter.Token). Signed credentials (cookies, signed bearer
// values) are never refused here: a made-up one fails its signature check
// without a query, so a signed-in user on the same address is not affected;
// nor is a raw token the session cache knows. The refusal is 429 rather
// than 401: the gate cannot tell whether the token is valid, so it must not
// pass the request on (not even to a public path, as for a store failure),
// and a 401 would tell a client with a valid token to throw it away.
func (g *Gate) limitTokenLookup(r *http.Request, cred credential) ratelimit.Decision {
	if g.limiter == nil || !cred.raw {
		return allowed
	}
	ip := clientIP(r)
	d := g.limiter.Token(ip)
	if d.Allowed || g.cfg.cacheTTL > 0 && g.db.cache.Get(cred.token, now(), g.cfg.cacheTTL) != nil {
		return allowed
	}
	g.logRateLimited(d, ip)
	return d
}

// countTokenMiss counts a raw bearer token that found no valid session.
func (g *Gate) countTokenMiss(r *http.Request, cred credential) {
	if g.limiter != nil && cred.raw {
		g.limiter.TokenMiss(clientIP(r))
	}
}

// errNoSession means the request has no valid session; any other error from
// authenticate means the store could not answer.
var errNoSession = errors.New("no valid session")

// lookupTimeout bounds a session lookup, and the write of a sliding
// refresh. A database that stops answering without refusing (a network
// partition, a paused server) would otherwise hold every gated request for
// as long as that lasts; past this the gate answers 503
// AUTH_STORE_UNAVAILABLE, failing closed. Long enough for a hosted database
// waking from scale-to-zero. A variable for tests.
var lookupTimeout = 5 * time.Second

// authResult is a valid session found on a request. A result may be shared
// with the session cache: callers read it and never modify it.
type authResult struct {
	session      store.Session
	user         store.User
	dontRemember bool
	refreshed    bool // the expiry was just extended: re-issue the cookie
	ident        identity
}

// identity is what setIdentity writes, computed once per session read
// rather than on every request the cache serves: the header-safe values
// and the placeholder values already boxed as interfaces.
type identity struct {
	header [identityFields]string // id, email, name, email_verified, session id, role
	repl   [identityFields]any
	roles  []string // for require rules: see roles.go
}

// identityFields is the number of identity headers and placeholders.
const identityFields = 6

func newAuthResult(sess store.Session, user store.User) *authResult {
	verified := "false"
	if user.EmailVerified {
		verified = "true"
	}
	role := effectiveRole(user.Role)
	raw := [identityFields]string{user.ID, user.Email, user.Name, verified, sess.ID, role}
	res := &authResult{session: sess, user: user}
	for i, v := range raw {
		res.ident.header[i] = identityHeaderValue(v)
		res.ident.repl[i] = v
	}
	res.ident.roles = splitRoles(role)
	return res
}

// authenticate resolves the request's session, applying the sliding refresh
// unless disableRefresh is set. It returns errNoSession when the request is
// unauthenticated, and a store error when that cannot be decided.
//
// A session validated within session_cache is served from memory without a
// query (and without allocating): see sessioncache. The cache never serves
// one past its expiresAt, revocations drop entries at once (locally, and on
// PostgreSQL through notices from every other instance), and a refresh that
// falls due still writes to the database.
func (g *Gate) authenticate(ctx context.Context, r *http.Request, cred credential, disableRefresh bool) (*authResult, error) {
	if cred.token == "" {
		return nil, errNoSession
	}
	t := now()
	ttl, cache := g.cfg.cacheTTL, g.db.cache
	var gen uint64
	if ttl > 0 {
		// Read before the lookup: Put refuses the entry when a revocation
		// happened in between.
		gen = cache.Generation()
		if hit := cache.Get(cred.token, t, ttl); hit != nil {
			cacheHits.Inc()
			return g.finishAuth(ctx, r, hit, t, disableRefresh, gen)
		}
		cacheMisses.Inc()
	}

	lctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	sess, user, err := g.store().SessionByToken(lctx, cred.token)
	cancel()
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNoSession
	}
	if err != nil {
		return nil, err
	}
	if !sess.ExpiresAt.After(t) {
		// Better Auth deletes an expired row when it meets it; so do we, but a
		// failure to do so must not turn "expired" into "unavailable".
		_ = g.store().DeleteSessionByToken(ctx, cred.token)
		return nil, errNoSession
	}
	if user.BannedAt(t) {
		// Better Auth deletes a user's sessions when it bans them; one that
		// survived (a ban written by SQL, or by a tool that kept them) is no
		// session here either. It is not cached, so the check holds for
		// every request; unbanning needs no invalidation.
		return nil, errNoSession
	}
	res := newAuthResult(sess, user)
	if ttl > 0 {
		g.cacheSession(res, t, gen)
	}
	return g.finishAuth(ctx, r, res, t, disableRefresh, gen)
}

// finishAuth applies the request's dont_remember marker and the sliding
// refresh to a valid session. res may be the cache's: it is copied, not
// changed, when the answer differs.
func (g *Gate) finishAuth(ctx context.Context, r *http.Request, res *authResult, t time.Time, disableRefresh bool, gen uint64) (*authResult, error) {
	dontRemember := false
	if raw, ok := readCookie(r.Header, cookieName(dontRememberCookie, g.isSecure(r))); ok {
		dontRemember = bacodec.IsDontRemember(g.cfg.keys, raw)
	}
	refresh := !disableRefresh && !dontRemember && g.refreshDue(res.session, t)
	if !dontRemember && !refresh {
		return res, nil
	}
	out := *res
	out.dontRemember = dontRemember
	if !refresh {
		return &out, nil
	}
	exp := t.Add(g.cfg.expiresIn)
	rctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	ok, err := g.store().ExtendSession(rctx, out.session.ID, exp, t)
	cancel()
	if err != nil {
		return nil, err
	}
	if !ok { // deleted meanwhile: revoked
		g.forgetSessions(out.session.ID)
		return nil, errNoSession
	}
	out.session.ExpiresAt, out.session.UpdatedAt = exp.UTC(), t.UTC()
	out.refreshed = true
	if g.cfg.cacheTTL > 0 {
		g.cacheSession(&out, t, gen)
	}
	return &out, nil
}

// cacheSession caches res, read from the database at t, unless a
// revocation happened since gen was read. What is particular to one request
// (its dont_remember marker, a refresh it caused) stays out of the cache.
func (g *Gate) cacheSession(res *authResult, t time.Time, gen uint64) {
	v := *res
	v.dontRemember, v.refreshed = false, false
	g.db.cache.Put(&v.session, v, t, g.cfg.cacheTTL, gen)
}

// refreshDue is Better Auth's sliding rule: the session was last extended at
// least updateAge ago.
func (g *Gate) refreshDue(s store.Session, t time.Time) bool {
	return !s.ExpiresAt.Add(-g.cfg.expiresIn).Add(g.cfg.updateAge).After(t)
}

// identityPlaceholders are set, in identity's order, for the next handler.
var identityPlaceholders = [identityFields]string{
	"http.auth.user.id", "http.auth.user.email", "http.auth.user.name",
	"http.auth.user.email_verified", "http.auth.session.id", "http.auth.user.role",
}

// setIdentity writes the identity headers and placeholders for the next
// handler. Values are made header-safe once per session read (no CR/LF,
// non-ASCII percent-encoded); here the header slices share one
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

// loginRedirect builds login_url?redirect=<original path and query>.
func (g *Gate) loginRedirect(r *http.Request) string {
	sep := "?"
	if strings.Contains(g.cfg.loginURL, "?") {
		sep = "&"
	}
	// The request path comes from the client: a request for //evil.com/x
	// must not hand the login page a redirect target that leaves the site.
	target := r.URL.RequestURI()
	if !safeRelativePath(target) {
		target = "/"
	}
	return g.cfg.loginURL + sep + "redirect=" + url.QueryEscape(target)
}

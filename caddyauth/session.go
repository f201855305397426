package caddyauth

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/authgate/authgate/caddyauth/internal/bacodec"
	"github.com/authgate/authgate/store"
)

// now is the clock; tests replace it to cross expiry and refresh boundaries
// exactly instead of sleeping.
var now = time.Now

const (
	sessionTokenCookie = "session_token"
	sessionDataCookie  = "session_data"
	dontRememberCookie = "dont_remember"
)

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
	header [5]string // id, email, name, email_verified, session id
	repl   [5]any
}

func newAuthResult(sess store.Session, user store.User) *authResult {
	verified := "false"
	if user.EmailVerified {
		verified = "true"
	}
	raw := [5]string{user.ID, user.Email, user.Name, verified, sess.ID}
	res := &authResult{session: sess, user: user}
	for i, v := range raw {
		res.ident.header[i] = identityHeaderValue(v)
		res.ident.repl[i] = v
	}
	return res
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

// lookupTimeout bounds a session lookup, and the write of a sliding
// refresh. A database that stops answering without refusing (a network
// partition, a paused server) would otherwise hold every gated request for
// as long as that lasts; past this the gate answers 503
// AUTH_STORE_UNAVAILABLE, failing closed. Long enough for a hosted database
// waking from scale-to-zero. A variable for tests.
var lookupTimeout = 5 * time.Second

// errNoSession means the request has no valid session; any other error from
// authenticate means the store could not answer.
var errNoSession = errors.New("no valid session")

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

	if err := g.db.ensureReady(ctx); err != nil {
		return nil, err
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
		// survived (a ban written by SQL, or by a tool that kept them) is
		// no session here (SPEC §8). It is not cached, so the check holds
		// for every request; unbanning needs no invalidation.
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
	if err := g.db.ensureReady(ctx); err != nil {
		return nil, err
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

// forgetToken, forgetSessions and forgetUsers drop cached sessions right
// after the store revoked or changed them, so that this instance stops
// serving them at once (other instances learn of it through notices on
// PostgreSQL). The cache is the database's, shared by every handler.
func (g *Gate) forgetToken(token string) {
	g.db.cache.DropToken(token)
	countLocalInvalidation(1)
}

func (g *Gate) forgetSessions(ids ...string) {
	g.db.cache.DropSessions(ids...)
	countLocalInvalidation(len(ids))
}

func (g *Gate) forgetUsers(userIDs ...string) {
	g.db.cache.DropUsers(userIDs...)
	countLocalInvalidation(len(userIDs))
}

// refreshDue is Better Auth's sliding rule: the session was last extended at
// least updateAge ago.
func (g *Gate) refreshDue(s store.Session, t time.Time) bool {
	return !s.ExpiresAt.Add(-g.cfg.expiresIn).Add(g.cfg.updateAge).After(t)
}

// setSessionCookie issues the signed session cookie; rememberMe=false gives
// a browser-session cookie plus the signed dont_remember marker.
func (g *Gate) setSessionCookie(w http.ResponseWriter, r *http.Request, token string, dontRemember bool) {
	secure := g.isSecure(r)
	signed := bacodec.Sign(g.cfg.keys[0], token)
	maxAge := int(g.cfg.expiresIn / time.Second)
	if dontRemember {
		maxAge = -1
	}
	setCookie(w.Header(), cookieName(sessionTokenCookie, secure), bacodec.EncodeURIComponent(signed), maxAge, secure)
	if dontRemember {
		setCookie(w.Header(), cookieName(dontRememberCookie, secure), bacodec.DontRememberCookie(g.cfg.keys[0]), -1, secure)
	}
	if g.cfg.bearer {
		w.Header().Set("Set-Auth-Token", signed)
		exposeHeader(w.Header(), "set-auth-token")
	}
}

// clearSessionCookies expires all of Better Auth's session cookies, in its
// order.
func (g *Gate) clearSessionCookies(w http.ResponseWriter, r *http.Request) {
	secure := g.isSecure(r)
	for _, c := range []string{sessionTokenCookie, sessionDataCookie, dontRememberCookie} {
		expireCookie(w.Header(), cookieName(c, secure), secure)
	}
}

func exposeHeader(h http.Header, name string) {
	cur := h.Get("Access-Control-Expose-Headers")
	for _, p := range strings.Split(cur, ",") {
		if strings.EqualFold(strings.TrimSpace(p), name) {
			return
		}
	}
	if cur != "" {
		cur += ", "
	}
	h.Set("Access-Control-Expose-Headers", cur+name)
}

// clientIP is Caddy's idea of the client address, which honours the
// server's trusted_proxies setting.
func clientIP(r *http.Request) string {
	if v, ok := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string); ok && v != "" {
		return v
	}
	return remoteHost(r)
}

func remoteHost(r *http.Request) string {
	host := r.RemoteAddr
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.HasSuffix(host, "]") {
		host = host[:i]
	}
	return strings.Trim(host, "[]")
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

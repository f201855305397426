package caddyauth

import (
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/authgate/authgate/caddyauth/internal/bacodec"
)

// now is the clock; tests replace it to cross expiry and refresh boundaries
// exactly instead of sleeping.
var now = time.Now

const (
	sessionTokenCookie = "session_token"
	sessionDataCookie  = "session_data"
	dontRememberCookie = "dont_remember"
)

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

package caddyauth

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/authgate/authgate/caddyauth/internal/bacodec"
	"github.com/authgate/authgate/caddyauth/internal/wire"
	"github.com/authgate/authgate/store"
)

// Impersonation, as Better Auth's admin plugin does it: an admin takes a
// one-hour, not-remembered session of a user who is no admin, keeping their
// own session in the signed admin_session cookie, "<token>:<dont_remember
// marker or empty>", until stop-impersonating brings it back.

func init() {
	routes["POST /admin/impersonate-user"] = (*Gate).handleAdminImpersonateUser
	routes["POST /admin/stop-impersonating"] = (*Gate).handleAdminStopImpersonating
}

const (
	adminSessionCookie    = "admin_session"
	impersonationLifetime = time.Hour // Better Auth's impersonationSessionDuration default

	eventAdminImpersonate     = "admin-impersonate-user"
	eventAdminStopImpersonate = "admin-stop-impersonating"
)

var (
	errNotAllowedImpersonate  = adminForbidden("YOU_ARE_NOT_ALLOWED_TO_IMPERSONATE_USERS", "You are not allowed to impersonate users")
	errCannotImpersonateAdmin = adminForbidden("YOU_CANNOT_IMPERSONATE_ADMINS", "You cannot impersonate admins")
	errNotImpersonating       = newAPIError(http.StatusBadRequest, "", "You are not impersonating anyone")
	errAdminSessionLost       = newAPIError(http.StatusInternalServerError, "", "Failed to find admin session")
	errAdminUserLost          = newAPIError(http.StatusInternalServerError, "", "Failed to find user")
)

// handleAdminImpersonateUser is POST /admin/impersonate-user: {userId}.
func (g *Gate) handleAdminImpersonateUser(w http.ResponseWriter, r *http.Request) *apiError {
	c, b, e := g.adminBody(w, r, errNotAllowedImpersonate)
	if e != nil {
		return e
	}
	id := b.userID()
	if e := b.err(); e != nil {
		return e
	}
	target, err := g.store().UserByID(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return errAdminUserNotFound
	}
	if err != nil {
		return g.storeError(r, opSession, err)
	}
	// Better Auth's default admin role lacks impersonate-admins.
	if hasAnyRole(splitRoles(effectiveRole(target.Role)), g.admin.roles) {
		return errCannotImpersonateAdmin
	}
	t := now()
	sess, err := g.store().CreateImpersonationSession(r.Context(), store.NewSession{
		UserID: target.ID, ExpiresAt: t.Add(impersonationLifetime), IPAddress: clientIP(r), UserAgent: storableText(r.UserAgent()),
	}, c.user.ID, t)
	if err != nil {
		return g.storeError(r, opSignInSession, err)
	}
	secure := g.isSecure(r)
	g.clearSessionCookies(w, r)
	marker := ""
	if raw, ok := readCookie(r.Header, cookieName(dontRememberCookie, secure)); ok && bacodec.IsDontRemember(g.cfg.keys, raw) {
		marker = "true"
	}
	value := bacodec.Sign(g.cfg.keys[0], c.res.session.Token+":"+marker)
	setCookie(w.Header(), cookieName(adminSessionCookie, secure), bacodec.EncodeURIComponent(value), int(g.cfg.expiresIn/time.Second), secure)
	g.setSessionCookie(w, r, sess.Token, true)
	g.adminAudit(r, c, eventAdminImpersonate, target.ID)
	writeJSON(w, http.StatusOK, struct {
		Session wire.Session `json:"session"`
		User    wire.User    `json:"user"`
	}{wire.FromSession(sess), wire.FromUser(target)})
	return nil
}

// handleAdminStopImpersonating is POST /admin/stop-impersonating: the
// impersonation session ends and the admin's own comes back.
func (g *Gate) handleAdminStopImpersonating(w http.ResponseWriter, r *http.Request) *apiError {
	if g.admin == nil {
		return errAdminOff
	}
	res, e := g.adminSession(w, r)
	if e != nil {
		return e
	}
	if res.session.ImpersonatedBy == nil {
		return errNotImpersonating
	}
	adminID := *res.session.ImpersonatedBy
	admin, err := g.store().UserByID(r.Context(), adminID)
	if errors.Is(err, store.ErrNotFound) {
		return errAdminUserLost
	}
	if err != nil {
		return g.storeError(r, opSession, err)
	}
	secure := g.isSecure(r)
	raw, ok := readCookie(r.Header, cookieName(adminSessionCookie, secure))
	if !ok {
		return errAdminSessionLost
	}
	value, ok := bacodec.Verify(g.cfg.keys, raw)
	if !ok {
		return errAdminSessionLost
	}
	adminToken, marker, _ := strings.Cut(value, ":")
	adminSess, adminUser, err := g.store().SessionByToken(r.Context(), adminToken)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return g.storeError(r, opSession, err)
	}
	if err != nil || adminSess.UserID != admin.ID || !adminSess.ExpiresAt.After(now()) {
		return errAdminSessionLost
	}
	if err := g.store().DeleteSessionByToken(r.Context(), res.session.Token); err != nil {
		return g.storeError(r, opSignOut, err)
	}
	g.forgetSessions(res.session.ID)
	g.setSessionCookie(w, r, adminToken, marker != "")
	expireCookie(w.Header(), cookieName(adminSessionCookie, secure), secure)
	g.audit(r, eventAdminStopImpersonate, admin.ID, adminSess.ID, zapTarget(res.user.ID))
	writeJSON(w, http.StatusOK, struct {
		Session wire.Session `json:"session"`
		User    wire.User    `json:"user"`
	}{wire.FromSession(adminSess), wire.FromUser(adminUser)})
	return nil
}

// withoutImpersonations drops impersonation sessions from a user's own
// session list, as the admin plugin's hook on /list-sessions does: the
// user is not shown (nor can revoke by listing) an admin's session.
func withoutImpersonations(list []store.Session) []store.Session {
	out := list[:0]
	for _, s := range list {
		if s.ImpersonatedBy == nil {
			out = append(out, s)
		}
	}
	return out
}

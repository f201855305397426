package caddyauth

import (
	"errors"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/authgate/authgate/caddyauth/internal/password"
	"github.com/authgate/authgate/caddyauth/internal/wire"
	"github.com/authgate/authgate/store"
)

// freshAge is Better Auth's default session.freshAge: list-sessions and a
// password-less delete-user need a session created this recently.
const freshAge = 24 * time.Hour

var (
	errSessionNotFresh    = newAPIError(http.StatusForbidden, "SESSION_NOT_FRESH", "Session is not fresh")
	errSessionExpired     = newAPIError(http.StatusBadRequest, "SESSION_EXPIRED", "Session expired. Re-authenticate to perform this action.")
	errEmailNotUpdatable  = newAPIError(http.StatusBadRequest, "EMAIL_CAN_NOT_BE_UPDATED", "Email can not be updated")
	errNoFieldsToUpdate   = newAPIError(http.StatusBadRequest, "", "No fields to update")
	errCredentialNotFound = newAPIError(http.StatusBadRequest, "CREDENTIAL_ACCOUNT_NOT_FOUND", "Credential account not found")
	errInvalidPassword    = newAPIError(http.StatusBadRequest, "INVALID_PASSWORD", "Invalid password")
	errDeleteUserDisabled = &apiError{status: http.StatusNotFound} // Better Auth: empty 404
	errFailedToUpdateUser = newAPIError(http.StatusBadRequest, "FAILED_TO_UPDATE_USER", "Failed to update user")
)

// requireSession is Better Auth's session middleware: a valid session or
// 401, with the sliding refresh applied (and its cookie re-set).
func (g *Gate) requireSession(w http.ResponseWriter, r *http.Request) (*authResult, *apiError) {
	res, err := g.authenticate(r.Context(), r, g.credentialFrom(r), false)
	if errors.Is(err, errNoSession) {
		return nil, errUnauthorized
	}
	if err != nil {
		return nil, g.storeError(r, opSession, err)
	}
	if res.refreshed {
		g.setSessionCookie(w, r, res.session.Token, false)
	}
	return res, nil
}

// sessionAndBody is the start of every session-protected endpoint that
// takes a JSON body.
func (g *Gate) sessionAndBody(w http.ResponseWriter, r *http.Request) (*authResult, *body, *apiError) {
	res, e := g.requireSession(w, r)
	if e != nil {
		return nil, nil, e
	}
	b, e := readBody(w, r, false)
	if e != nil {
		return nil, nil, e
	}
	return res, b, nil
}

// handleListSessions is GET /list-sessions: the caller's unexpired sessions.
func (g *Gate) handleListSessions(w http.ResponseWriter, r *http.Request) *apiError {
	res, e := g.requireSession(w, r)
	if e != nil {
		return e
	}
	if now().Sub(res.session.CreatedAt) >= freshAge {
		return errSessionNotFresh
	}
	list, err := g.store().ListSessions(r.Context(), res.user.ID, now())
	if err != nil {
		return g.storeError(r, opListSessions, err)
	}
	list = withoutImpersonations(list)
	out := make([]wire.Session, len(list))
	for i, s := range list {
		out[i] = wire.FromSession(s)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// handleRevokeSession is POST /revoke-session: delete one of the caller's
// own sessions by token; another user's token is silently ignored.
func (g *Gate) handleRevokeSession(w http.ResponseWriter, r *http.Request) *apiError {
	res, b, e := g.sessionAndBody(w, r)
	if e != nil {
		return e
	}
	token, _ := b.str("token", true)
	if e := b.err(); e != nil {
		return e
	}
	id, err := g.store().DeleteUserSession(r.Context(), res.user.ID, token)
	if err != nil {
		return g.storeError(r, opRevokeSession, err)
	}
	if id != "" {
		g.forgetSessions(id)
		g.audit(r, eventRevokeSession, res.user.ID, id)
	}
	if token == res.session.Token {
		g.clearSessionCookies(w, r)
	}
	writeJSON(w, http.StatusOK, map[string]bool{"status": true})
	return nil
}

// handleRevokeSessions is POST /revoke-sessions: all of the caller's
// sessions, the current one included.
func (g *Gate) handleRevokeSessions(w http.ResponseWriter, r *http.Request) *apiError {
	return g.revokeAll(w, r, false)
}

// handleRevokeOtherSessions is POST /revoke-other-sessions: all but the
// current one.
func (g *Gate) handleRevokeOtherSessions(w http.ResponseWriter, r *http.Request) *apiError {
	return g.revokeAll(w, r, true)
}

func (g *Gate) revokeAll(w http.ResponseWriter, r *http.Request, keepCurrent bool) *apiError {
	res, e := g.requireSession(w, r)
	if e != nil {
		return e
	}
	if _, e := readBody(w, r, false); e != nil {
		return e
	}
	keep := ""
	if keepCurrent {
		keep = res.session.Token
	}
	ids, err := g.store().DeleteSessions(r.Context(), res.user.ID, keep)
	if err != nil {
		return g.storeError(r, opRevokeSessions, err)
	}
	g.forgetSessions(ids...)
	event := eventRevokeSessions
	if keepCurrent {
		event = eventRevokeOtherSessions
	}
	g.audit(r, event, res.user.ID, res.session.ID, zap.Int("revoked", len(ids)))
	if !keepCurrent {
		g.clearSessionCookies(w, r)
	}
	writeJSON(w, http.StatusOK, map[string]bool{"status": true})
	return nil
}

// handleUpdateUser is POST /update-user: name and image only.
func (g *Gate) handleUpdateUser(w http.ResponseWriter, r *http.Request) *apiError {
	res, b, e := g.sessionAndBody(w, r)
	if e != nil {
		return e
	}
	if b.has("email") {
		return errEmailNotUpdatable
	}
	var upd store.UserUpdate
	if name, ok := b.str("name", false); ok {
		upd.Name = &name
	}
	if b.isNull("image") {
		var none *string
		upd.Image = &none
	} else if image, ok := b.str("image", false); ok {
		p := &image
		upd.Image = &p
	}
	if e := b.err(); e != nil {
		return e
	}
	if upd.Name == nil && upd.Image == nil {
		return errNoFieldsToUpdate
	}
	if _, err := g.store().UpdateUser(r.Context(), res.user.ID, upd, now()); errors.Is(err, store.ErrNotFound) {
		return errFailedToUpdateUser
	} else if err != nil {
		return g.storeError(r, opUpdateUser, err)
	}
	g.forgetUsers(res.user.ID)
	g.audit(r, eventUpdateUser, res.user.ID, res.session.ID)
	// Better Auth re-issues the session cookie, unchanged, with the update.
	g.setSessionCookie(w, r, res.session.Token, res.dontRemember)
	writeJSON(w, http.StatusOK, map[string]bool{"status": true})
	return nil
}

// handleChangePassword is POST /change-password.
func (g *Gate) handleChangePassword(w http.ResponseWriter, r *http.Request) *apiError {
	res, b, e := g.sessionAndBody(w, r)
	if e != nil {
		return e
	}
	newPassword, _ := b.str("newPassword", true)
	currentPassword, _ := b.str("currentPassword", true)
	revokeOthers, _ := b.optBool("revokeOtherSessions")
	if e := b.err(); e != nil {
		return e
	}
	if e := g.checkNewPassword(newPassword); e != nil {
		return e
	}
	if password.Length(currentPassword) > g.cfg.maxPassword {
		return errPasswordTooLong
	}
	if e := g.confirmPassword(r, res.user.ID, currentPassword); e != nil {
		g.auditPasswordRefused(r, eventChangePassword, res, e)
		return e
	}
	hash, err := passwords.Hash(r.Context(), newPassword)
	if err != nil {
		return g.hashError(r, err)
	}
	revoked, err := g.store().SetPassword(r.Context(), res.user.ID, hash, revokeOthers, now())
	if err != nil {
		return g.storeError(r, opChangePassword, err)
	}
	g.forgetSessions(revoked...)
	g.audit(r, eventChangePassword, res.user.ID, res.session.ID, zap.Bool("revoke_other_sessions", revokeOthers))

	resp := struct {
		Token *string   `json:"token"`
		User  wire.User `json:"user"`
	}{User: wire.FromUser(res.user)}
	if revokeOthers {
		// Better Auth revokes every session, the current one included, and
		// starts a new one for this client.
		sess, err := g.startSession(r, res.user.ID, res.dontRemember)
		if err != nil {
			return g.storeError(r, opChangePasswordSession, err)
		}
		g.setSessionCookie(w, r, sess.Token, res.dontRemember)
		resp.Token = &sess.Token
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// handleDeleteUser is POST /delete-user, enabled by `delete_user`.
func (g *Gate) handleDeleteUser(w http.ResponseWriter, r *http.Request) *apiError {
	if !g.cfg.deleteUser {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		return nil
	}
	res, b, e := g.sessionAndBody(w, r)
	if e != nil {
		return e
	}
	pw, hasPassword := b.str("password", false)
	callbackURL, _ := b.str("callbackURL", false)
	if e := b.err(); e != nil {
		return e
	}
	if e := g.checkCallback(r, callbackURL); e != nil {
		return e
	}
	if hasPassword && pw != "" {
		if password.Length(pw) > g.cfg.maxPassword {
			return errPasswordTooLong
		}
		if e := g.confirmPassword(r, res.user.ID, pw); e != nil {
			g.auditPasswordRefused(r, eventDeleteUser, res, e)
			return e
		}
	} else if now().Sub(res.session.CreatedAt) >= freshAge {
		return errSessionExpired
	}
	revoked, err := g.store().DeleteUser(r.Context(), res.user.ID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return g.storeError(r, opDeleteUser, err)
	}
	g.forgetSessions(revoked...)
	g.forgetUsers(res.user.ID)
	g.audit(r, eventDeleteUser, res.user.ID, res.session.ID)
	g.clearSessionCookies(w, r)
	writeJSON(w, http.StatusOK, struct {
		Success bool   `json:"success"`
		Message string `json:"message"`
	}{true, "User deleted"})
	return nil
}

// confirmPassword checks the caller's current password against its
// credential account.
func (g *Gate) confirmPassword(r *http.Request, userID, pw string) *apiError {
	hash, err := g.store().PasswordHash(r.Context(), userID)
	if errors.Is(err, store.ErrNotFound) {
		return errCredentialNotFound
	}
	if err != nil {
		return g.storeError(r, opReadCredential, err)
	}
	ok, err := passwords.Verify(r.Context(), hash, pw)
	if errors.Is(err, password.ErrMalformedHash) {
		g.logger.Error("stored password hash is malformed", zap.String("user_id", userID))
		ok, err = false, nil
	}
	if err != nil {
		return g.hashError(r, err)
	}
	if !ok {
		return errInvalidPassword
	}
	return nil
}

// checkNewPassword applies the configured length limits to a new password.
func (g *Gate) checkNewPassword(pw string) *apiError {
	switch n := password.Length(pw); {
	case n < g.cfg.minPassword:
		return errPasswordTooShort
	case n > g.cfg.maxPassword:
		return errPasswordTooLong
	}
	return nil
}

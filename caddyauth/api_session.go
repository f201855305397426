package caddyauth

import (
	"errors"
	"net/http"

	"github.com/authgate/authgate/caddyauth/internal/wire"
)

// handleSignOut is POST /sign-out: delete the session the cookie names (if
// its signature is good) and always expire the cookies.
func (g *Gate) handleSignOut(w http.ResponseWriter, r *http.Request) *apiError {
	if _, e := readBody(w, r, false); e != nil {
		return e
	}
	if e := g.signOut(w, r); e != nil {
		return e
	}
	writeJSON(w, http.StatusOK, map[string]bool{"success": true})
	return nil
}

// signOut deletes the session the request's cookie names and expires the
// cookies on w. The JSON endpoint and the sign-out page share it.
func (g *Gate) signOut(w http.ResponseWriter, r *http.Request) *apiError {
	if cred := g.credentialFrom(r); cred.token != "" {
		userID, sessionID := g.sessionOwner(r, cred.token)
		if err := g.store().DeleteSessionByToken(r.Context(), cred.token); err != nil {
			return g.storeError(r, opSignOut, err)
		}
		g.forgetToken(cred.token)
		if sessionID != "" { // else there was no such session to end
			g.audit(r, eventSignOut, userID, sessionID)
		}
	}
	g.clearSessionCookies(w, r)
	return nil
}

// handleGetSession is GET /get-session: `{session, user}` or the literal
// null, never an error for a missing or bad session.
func (g *Gate) handleGetSession(w http.ResponseWriter, r *http.Request) *apiError {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	q := r.URL.Query()
	disableRefresh := queryBool(q.Get("disableRefresh"))

	cred := g.credentialFrom(r)
	res, err := g.authenticate(r.Context(), r, cred, disableRefresh)
	if errors.Is(err, errNoSession) {
		// Better Auth clears the cookies of a session that verified but no
		// longer exists; a cookie with a bad signature is left alone.
		if cred.token != "" && cred.cookie {
			g.clearSessionCookies(w, r)
		}
		writeJSON(w, http.StatusOK, nil)
		return nil
	}
	if err != nil {
		return g.storeError(r, opGetSession, err)
	}
	if res.refreshed {
		g.setSessionCookie(w, r, res.session.Token, false)
	}
	g.setAuthJWT(w, r, res)
	writeJSON(w, http.StatusOK, struct {
		Session wire.Session `json:"session"`
		User    wire.User    `json:"user"`
	}{wire.FromSession(res.session), wire.FromUser(res.user)})
	return nil
}

// handleGetSessionPOST: Better Auth allows POST only with
// deferSessionRefresh, which auth_gate does not have.
func (g *Gate) handleGetSessionPOST(w http.ResponseWriter, r *http.Request) *apiError {
	return errGetSessionPOST
}

// queryBool is zod's z.coerce.boolean() as Better Auth uses it for query
// flags, minus its JavaScript quirk that "false" is truthy.
func queryBool(s string) bool {
	return s == "true" || s == "1"
}

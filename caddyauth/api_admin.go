package caddyauth

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/authgate/authgate/caddyauth/internal/emailaddr"
	"github.com/authgate/authgate/caddyauth/internal/password"
	"github.com/authgate/authgate/caddyauth/internal/wire"
	"github.com/authgate/authgate/store"
)

// Better Auth's admin endpoints (its admin plugin, routes.mjs), served when
// `admin` is configured: same paths, bodies, answers and error codes. The
// permission rule is the plugin's with its default access control, where
// the admin roles may do everything listed here and other roles nothing:
// a caller passes when one of their roles is one of `admin { roles … }`.
// Impersonation is in api_admin_impersonate.go; update-user and
// has-permission are not served.

func init() {
	for k, h := range adminRoutes {
		routes[k] = h
	}
}

var adminRoutes = map[string]apiHandler{
	"GET /admin/list-users":            (*Gate).handleAdminListUsers,
	"GET /admin/get-user":              (*Gate).handleAdminGetUser,
	"POST /admin/create-user":          (*Gate).handleAdminCreateUser,
	"POST /admin/set-role":             (*Gate).handleAdminSetRole,
	"POST /admin/ban-user":             (*Gate).handleAdminBanUser,
	"POST /admin/unban-user":           (*Gate).handleAdminUnbanUser,
	"POST /admin/list-user-sessions":   (*Gate).handleAdminListUserSessions,
	"POST /admin/revoke-user-session":  (*Gate).handleAdminRevokeUserSession,
	"POST /admin/revoke-user-sessions": (*Gate).handleAdminRevokeUserSessions,
	"POST /admin/remove-user":          (*Gate).handleAdminRemoveUser,
	"POST /admin/set-user-password":    (*Gate).handleAdminSetUserPassword,
}

// The admin plugin's errors (error-codes.mjs) and Better Auth's own that
// its routes throw.
var (
	errAdminOff = &apiError{status: http.StatusNotFound} // as an unknown route
	// The plugin's middleware throws APIError.fromStatus("UNAUTHORIZED"),
	// without the code and message of the core session routes' 401.
	errAdminUnauthorized       = &apiError{status: http.StatusUnauthorized}
	errAdminUserNotFound       = newAPIError(http.StatusNotFound, "USER_NOT_FOUND", "User not found")
	errNotAllowedListUsers     = adminForbidden("YOU_ARE_NOT_ALLOWED_TO_LIST_USERS", "You are not allowed to list users")
	errNotAllowedGetUser       = adminForbidden("YOU_ARE_NOT_ALLOWED_TO_GET_USER", "You are not allowed to get user")
	errNotAllowedCreateUsers   = adminForbidden("YOU_ARE_NOT_ALLOWED_TO_CREATE_USERS", "You are not allowed to create users")
	errNotAllowedChangeRole    = adminForbidden("YOU_ARE_NOT_ALLOWED_TO_CHANGE_USERS_ROLE", "You are not allowed to change users role")
	errNotAllowedBanUsers      = adminForbidden("YOU_ARE_NOT_ALLOWED_TO_BAN_USERS", "You are not allowed to ban users")
	errNotAllowedListSessions  = adminForbidden("YOU_ARE_NOT_ALLOWED_TO_LIST_USERS_SESSIONS", "You are not allowed to list users sessions")
	errNotAllowedRevokeSession = adminForbidden("YOU_ARE_NOT_ALLOWED_TO_REVOKE_USERS_SESSIONS", "You are not allowed to revoke users sessions")
	errNotAllowedDeleteUsers   = adminForbidden("YOU_ARE_NOT_ALLOWED_TO_DELETE_USERS", "You are not allowed to delete users")
	errNotAllowedSetPassword   = adminForbidden("YOU_ARE_NOT_ALLOWED_TO_SET_USERS_PASSWORD", "You are not allowed to set users password")
	errCannotBanYourself       = newAPIError(http.StatusBadRequest, "YOU_CANNOT_BAN_YOURSELF", "You cannot ban yourself")
	errCannotRemoveYourself    = newAPIError(http.StatusBadRequest, "YOU_CANNOT_REMOVE_YOURSELF", "You cannot remove yourself")
	errUserExistsUseAnother    = newAPIError(http.StatusBadRequest, "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL", "User already exists. Use another email.")
	errInvalidRoleType         = newAPIError(http.StatusBadRequest, "INVALID_ROLE_TYPE", "Invalid role type")
)

func adminForbidden(code, msg string) *apiError {
	return newAPIError(http.StatusForbidden, code, msg)
}

// Audit events of the admin endpoints, reads included: the acting admin is
// user_id, the user acted on target_user_id.
const (
	eventAdminListUsers      = "admin-list-users"
	eventAdminGetUser        = "admin-get-user"
	eventAdminListSessions   = "admin-list-user-sessions"
	eventAdminCreateUser     = "admin-create-user"
	eventAdminSetRole        = "admin-set-role"
	eventAdminBanUser        = "admin-ban-user"
	eventAdminUnbanUser      = "admin-unban-user"
	eventAdminRevokeSession  = "admin-revoke-session"
	eventAdminRevokeSessions = "admin-revoke-sessions"
	eventAdminRemoveUser     = "admin-remove-user"
	eventAdminSetPassword    = "admin-set-user-password"
	eventAdminDenied         = "admin"
	reasonNotAdmin           = "not_admin"
)

// adminCall is the caller of an admin endpoint, once checked.
type adminCall struct {
	res  *authResult
	user store.User // read from the database for this call
}

// adminCaller is the admin plugin's middleware and permission check: a
// valid session (401), whose user, read afresh from the database rather
// than from the session cache, as Better Auth reads it, has an admin role
// (403 with the endpoint's own error).
func (g *Gate) adminCaller(w http.ResponseWriter, r *http.Request, denied *apiError) (*adminCall, *apiError) {
	if g.admin == nil {
		return nil, errAdminOff
	}
	res, e := g.adminSession(w, r)
	if e != nil {
		return nil, e
	}
	u, err := g.store().UserByID(r.Context(), res.user.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errAdminUnauthorized
	}
	if err != nil {
		return nil, g.storeError(r, opSession, err)
	}
	if u.BannedAt(now()) {
		return nil, errAdminUnauthorized
	}
	if !hasAnyRole(splitRoles(effectiveRole(u.Role)), g.admin.roles) {
		g.auditFailure(r, eventAdminDenied, reasonNotAdmin, u.ID, res.session.ID, zap.String("endpoint", strings.TrimPrefix(r.URL.Path, g.cfg.basePath)))
		return nil, denied
	}
	return &adminCall{res: res, user: u}, nil
}

// adminSession is requireSession with the admin plugin's 401.
func (g *Gate) adminSession(w http.ResponseWriter, r *http.Request) (*authResult, *apiError) {
	res, e := g.requireSession(w, r)
	if e == errUnauthorized {
		return nil, errAdminUnauthorized
	}
	return res, e
}

// adminAudit records an admin action on target.
func (g *Gate) adminAudit(r *http.Request, c *adminCall, event, target string, extra ...zap.Field) {
	g.audit(r, event, c.user.ID, c.res.session.ID, append([]zap.Field{zapTarget(target)}, extra...)...)
}

func zapTarget(userID string) zap.Field { return zap.String("target_user_id", userID) }

// adminBody reads the JSON body of an admin POST after the caller check.
func (g *Gate) adminBody(w http.ResponseWriter, r *http.Request, denied *apiError) (*adminCall, *body, *apiError) {
	c, e := g.adminCaller(w, r, denied)
	if e != nil {
		return nil, nil, e
	}
	b, e := readBody(w, r, false)
	if e != nil {
		return nil, nil, e
	}
	return c, b, nil
}

// userID reads Better Auth's `userId: z.coerce.string()`: a string, or a
// number or boolean written as one.
func (b *body) userID() string {
	if raw, ok := b.fields[fieldUserID]; ok && b.form == nil {
		switch jsonKind(raw) {
		case "number", "boolean":
			return string(raw)
		}
	}
	id, _ := b.str(fieldUserID, true)
	return id
}

const fieldUserID = "userId"

// roles reads a `role: string | string[]` field as the comma list Better
// Auth stores; present says whether it was given.
func (b *body) roles(name string, required bool) (list string, present bool, e *apiError) {
	raw, ok := b.fields[name]
	if !ok || b.form != nil {
		if required {
			b.issue(name, "Invalid input")
		}
		return "", false, nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return one, true, nil
	}
	var many []json.RawMessage
	if json.Unmarshal(raw, &many) != nil {
		b.issue(name, "Invalid input")
		return "", false, nil
	}
	names := make([]string, len(many))
	for i, m := range many {
		if json.Unmarshal(m, &names[i]) != nil {
			return "", false, errInvalidRoleType
		}
	}
	return strings.Join(names, ","), true, nil
}

// handleAdminListUsers is GET /admin/list-users.
func (g *Gate) handleAdminListUsers(w http.ResponseWriter, r *http.Request) *apiError {
	c, e := g.adminCaller(w, r, errNotAllowedListUsers)
	if e != nil {
		return e
	}
	q := r.URL.Query()
	uq := store.UserQuery{
		SearchValue: q.Get("searchValue"), SearchField: q.Get("searchField"), SearchOperator: q.Get("searchOperator"),
		FilterField: q.Get("filterField"), FilterOperator: q.Get("filterOperator"), FilterValues: q["filterValue"],
		SortBy: q.Get("sortBy"), SortDirection: q.Get("sortDirection"),
	}
	uq.Filter = len(uq.FilterValues) > 0
	for _, v := range []struct{ name, value, allowed string }{
		{"searchField", uq.SearchField, `"email"|"name"`},
		{"searchOperator", uq.SearchOperator, `"contains"|"starts_with"|"ends_with"`},
		{"sortDirection", uq.SortDirection, `"asc"|"desc"`},
		{"filterOperator", uq.FilterOperator, `"eq"|"ne"|"lt"|"lte"|"gt"|"gte"|"in"|"not_in"|"contains"|"starts_with"|"ends_with"`},
	} {
		if _, given := q[v.name]; given && !strings.Contains(v.allowed, `"`+v.value+`"`) {
			return newAPIError(http.StatusBadRequest, "VALIDATION_ERROR", "[query."+v.name+"] Invalid option: expected one of "+v.allowed)
		}
	}
	// Number(x) || undefined: a page size or offset that is not a positive
	// number is none.
	uq.Limit, uq.Offset = jsNumber(q.Get("limit")), jsNumber(q.Get("offset"))
	g.audit(r, eventAdminListUsers, c.user.ID, c.res.session.ID)
	users, total, err := g.store().QueryUsers(r.Context(), uq)
	if errors.Is(err, store.ErrBadQuery) {
		// Better Auth answers a query its adapter refuses with no users.
		writeJSON(w, http.StatusOK, map[string]any{"users": []wire.User{}, "total": 0})
		return nil
	}
	if err != nil {
		return g.storeError(r, opUpdateUser, err)
	}
	out := struct {
		Users  []wire.User `json:"users"`
		Total  int         `json:"total"`
		Limit  int         `json:"limit,omitempty"`
		Offset int         `json:"offset,omitempty"`
	}{Users: make([]wire.User, len(users)), Total: total, Limit: uq.Limit, Offset: uq.Offset}
	for i, u := range users {
		out.Users[i] = wire.FromUser(u)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// jsNumber is JavaScript's Number(s) || undefined for a count: 0 when s is
// no positive number; a fraction is cut.
func jsNumber(s string) int {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || !(f >= 1) || math.IsInf(f, 0) {
		return 0
	}
	return int(min(f, math.MaxInt32))
}

// handleAdminGetUser is GET /admin/get-user?id=: the user, bare.
func (g *Gate) handleAdminGetUser(w http.ResponseWriter, r *http.Request) *apiError {
	c, e := g.adminCaller(w, r, errNotAllowedGetUser)
	if e != nil {
		return e
	}
	id, ok := r.URL.Query()["id"]
	if !ok {
		return newAPIError(http.StatusBadRequest, "VALIDATION_ERROR", "[query.id] Invalid input: expected string, received undefined")
	}
	g.adminAudit(r, c, eventAdminGetUser, id[len(id)-1])
	u, err := g.store().UserByID(r.Context(), id[len(id)-1])
	if errors.Is(err, store.ErrNotFound) {
		return errAdminUserNotFound
	}
	if err != nil {
		return g.storeError(r, opUpdateUser, err)
	}
	writeJSON(w, http.StatusOK, wire.FromUser(u))
	return nil
}

// handleAdminCreateUser is POST /admin/create-user: {email, password?, name,
// role?, data?}. Of data, only role is used.
func (g *Gate) handleAdminCreateUser(w http.ResponseWriter, r *http.Request) *apiError {
	c, b, e := g.adminBody(w, r, errNotAllowedCreateUsers)
	if e != nil {
		return e
	}
	rawEmail, _ := b.str("email", true)
	pw, _ := b.str("password", false)
	name, _ := b.str("name", true)
	role, given, e := b.roles("role", false)
	if e != nil {
		return e
	}
	if !given {
		if data, ok := b.fields["data"]; ok {
			var d map[string]json.RawMessage
			if json.Unmarshal(data, &d) == nil {
				sub := &body{fields: d}
				if role, given, e = sub.roles("role", false); e != nil {
					return e
				}
			}
		}
	}
	if e := b.err(); e != nil {
		return e
	}
	if !given {
		role = defaultUserRole
	}
	email := strings.ToLower(rawEmail)
	if !emailaddr.Valid(email) {
		return errInvalidEmail
	}
	if pw != "" && password.Length(pw) > g.cfg.maxPassword {
		return errPasswordTooLong
	}
	switch _, err := g.store().UserByEmail(r.Context(), email); {
	case err == nil:
		return errUserExistsUseAnother
	case !errors.Is(err, store.ErrNotFound):
		return g.storeError(r, opUpdateUser, err)
	}
	var hash string
	if pw != "" {
		var err error
		if hash, err = passwords.Hash(r.Context(), pw); err != nil {
			return g.hashError(r, err)
		}
	}
	u, err := g.store().CreateUser(r.Context(), store.NewAdminUser{Name: name, Email: email, Role: role, PasswordHash: hash}, now())
	if errors.Is(err, store.ErrEmailTaken) {
		return errUserExistsUseAnother
	}
	if err != nil {
		return g.storeError(r, opUpdateUser, err)
	}
	g.adminAudit(r, c, eventAdminCreateUser, u.ID, zap.String("role", role))
	writeJSON(w, http.StatusOK, map[string]wire.User{"user": wire.FromUser(u)})
	return nil
}

// handleAdminSetRole is POST /admin/set-role: {userId, role}.
func (g *Gate) handleAdminSetRole(w http.ResponseWriter, r *http.Request) *apiError {
	c, b, e := g.adminBody(w, r, errNotAllowedChangeRole)
	if e != nil {
		return e
	}
	id := b.userID()
	role, _, e := b.roles("role", true)
	if e != nil {
		return e
	}
	if e := b.err(); e != nil {
		return e
	}
	u, err := g.store().SetRole(r.Context(), id, role, now())
	if errors.Is(err, store.ErrNotFound) {
		return errAdminUserNotFound
	}
	if err != nil {
		return g.storeError(r, opUpdateUser, err)
	}
	g.forgetUsers(id)
	g.adminAudit(r, c, eventAdminSetRole, id, zap.String("role", role))
	writeJSON(w, http.StatusOK, map[string]wire.User{"user": wire.FromUser(u)})
	return nil
}

// handleAdminBanUser is POST /admin/ban-user: {userId, banReason?,
// banExpiresIn? (seconds)}. The user's sessions are deleted: refused at the
// gate from now on.
func (g *Gate) handleAdminBanUser(w http.ResponseWriter, r *http.Request) *apiError {
	c, b, e := g.adminBody(w, r, errNotAllowedBanUsers)
	if e != nil {
		return e
	}
	id := b.userID()
	reason, _ := b.str("banReason", false)
	var expiresIn float64
	if raw, ok := b.fields["banExpiresIn"]; ok {
		if jsonKind(raw) != "number" || json.Unmarshal(raw, &expiresIn) != nil {
			b.issue("banExpiresIn", "Invalid input: expected number, received "+jsonKind(raw))
		}
	}
	if e := b.err(); e != nil {
		return e
	}
	switch _, err := g.store().UserByID(r.Context(), id); {
	case errors.Is(err, store.ErrNotFound):
		return errAdminUserNotFound
	case err != nil:
		return g.storeError(r, opUpdateUser, err)
	}
	if id == c.user.ID {
		return errCannotBanYourself
	}
	if reason == "" {
		reason = "No reason"
	}
	t := now()
	var expires *time.Time
	if expiresIn != 0 {
		at := t.Add(time.Duration(expiresIn * float64(time.Second)))
		expires = &at
	}
	u, revoked, err := g.store().BanUser(r.Context(), id, reason, expires, t)
	if errors.Is(err, store.ErrNotFound) {
		return errAdminUserNotFound
	}
	if err != nil {
		return g.storeError(r, opUpdateUser, err)
	}
	g.forgetSessions(revoked...)
	g.forgetUsers(id)
	g.adminAudit(r, c, eventAdminBanUser, id, zap.Int("revoked", len(revoked)))
	writeJSON(w, http.StatusOK, map[string]wire.User{"user": wire.FromUser(u)})
	return nil
}

// handleAdminUnbanUser is POST /admin/unban-user: {userId}.
func (g *Gate) handleAdminUnbanUser(w http.ResponseWriter, r *http.Request) *apiError {
	c, b, e := g.adminBody(w, r, errNotAllowedBanUsers)
	if e != nil {
		return e
	}
	id := b.userID()
	if e := b.err(); e != nil {
		return e
	}
	u, err := g.store().UnbanUser(r.Context(), id, now())
	if errors.Is(err, store.ErrNotFound) {
		return errAdminUserNotFound
	}
	if err != nil {
		return g.storeError(r, opUpdateUser, err)
	}
	g.forgetUsers(id)
	g.adminAudit(r, c, eventAdminUnbanUser, id)
	writeJSON(w, http.StatusOK, map[string]wire.User{"user": wire.FromUser(u)})
	return nil
}

// handleAdminListUserSessions is POST /admin/list-user-sessions: {userId}.
func (g *Gate) handleAdminListUserSessions(w http.ResponseWriter, r *http.Request) *apiError {
	c, b, e := g.adminBody(w, r, errNotAllowedListSessions)
	if e != nil {
		return e
	}
	id := b.userID()
	if e := b.err(); e != nil {
		return e
	}
	g.adminAudit(r, c, eventAdminListSessions, id)
	list, err := g.store().ListSessions(r.Context(), id, now())
	if err != nil {
		return g.storeError(r, opListSessions, err)
	}
	out := make([]wire.Session, len(list))
	for i, s := range list {
		out[i] = wire.FromSession(s)
	}
	writeJSON(w, http.StatusOK, map[string][]wire.Session{"sessions": out})
	return nil
}

// handleAdminRevokeUserSession is POST /admin/revoke-user-session:
// {sessionToken}; success whether or not it existed.
func (g *Gate) handleAdminRevokeUserSession(w http.ResponseWriter, r *http.Request) *apiError {
	c, b, e := g.adminBody(w, r, errNotAllowedRevokeSession)
	if e != nil {
		return e
	}
	token, _ := b.str("sessionToken", true)
	if e := b.err(); e != nil {
		return e
	}
	id, userID, err := g.store().RevokeSessionByToken(r.Context(), token)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return g.storeError(r, opRevokeSession, err)
	}
	if err == nil {
		g.forgetSessions(id)
		g.adminAudit(r, c, eventAdminRevokeSession, userID, zap.String("revoked_session_id", id))
	}
	writeJSON(w, http.StatusOK, map[string]bool{"success": true})
	return nil
}

// handleAdminRevokeUserSessions is POST /admin/revoke-user-sessions:
// {userId}.
func (g *Gate) handleAdminRevokeUserSessions(w http.ResponseWriter, r *http.Request) *apiError {
	c, b, e := g.adminBody(w, r, errNotAllowedRevokeSession)
	if e != nil {
		return e
	}
	id := b.userID()
	if e := b.err(); e != nil {
		return e
	}
	revoked, err := g.store().DeleteSessions(r.Context(), id, "")
	if err != nil {
		return g.storeError(r, opRevokeSessions, err)
	}
	g.forgetSessions(revoked...)
	g.adminAudit(r, c, eventAdminRevokeSessions, id, zap.Int("revoked", len(revoked)))
	writeJSON(w, http.StatusOK, map[string]bool{"success": true})
	return nil
}

// handleAdminRemoveUser is POST /admin/remove-user: {userId}.
func (g *Gate) handleAdminRemoveUser(w http.ResponseWriter, r *http.Request) *apiError {
	c, b, e := g.adminBody(w, r, errNotAllowedDeleteUsers)
	if e != nil {
		return e
	}
	id := b.userID()
	if e := b.err(); e != nil {
		return e
	}
	if id == c.user.ID {
		return errCannotRemoveYourself
	}
	revoked, err := g.store().DeleteUser(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return errAdminUserNotFound
	}
	if err != nil {
		return g.storeError(r, opDeleteUser, err)
	}
	g.forgetSessions(revoked...)
	g.forgetUsers(id)
	g.adminAudit(r, c, eventAdminRemoveUser, id)
	writeJSON(w, http.StatusOK, map[string]bool{"success": true})
	return nil
}

// handleAdminSetUserPassword is POST /admin/set-user-password: {userId,
// newPassword}. The user's sessions stay, as in Better Auth.
func (g *Gate) handleAdminSetUserPassword(w http.ResponseWriter, r *http.Request) *apiError {
	c, b, e := g.adminBody(w, r, errNotAllowedSetPassword)
	if e != nil {
		return e
	}
	pw, ok := b.str("newPassword", true)
	if ok && pw == "" {
		b.issue("newPassword", "newPassword cannot be empty")
	}
	id := b.userID()
	if b.has(fieldUserID) && id == "" {
		b.issue(fieldUserID, "userId cannot be empty")
	}
	if e := b.err(); e != nil {
		return e
	}
	if e := g.checkNewPassword(pw); e != nil {
		return e
	}
	switch _, err := g.store().UserByID(r.Context(), id); {
	case errors.Is(err, store.ErrNotFound):
		return errAdminUserNotFound
	case err != nil:
		return g.storeError(r, opChangePassword, err)
	}
	hash, err := passwords.Hash(r.Context(), pw)
	if err != nil {
		return g.hashError(r, err)
	}
	if _, err := g.store().SetPassword(r.Context(), id, hash, false, now()); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errAdminUserNotFound
		}
		return g.storeError(r, opChangePassword, err)
	}
	g.adminAudit(r, c, eventAdminSetPassword, id)
	writeJSON(w, http.StatusOK, map[string]bool{"status": true})
	return nil
}

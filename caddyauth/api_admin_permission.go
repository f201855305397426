package caddyauth

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
)

// POST /admin/has-permission, Better Auth 1.7.25's userHasPermission
// (plugins/admin/routes.mjs, has-permission.mjs, access/access.mjs): may
// the signed-in user do these actions? An app asks it, through the admin
// client's hasPermission, to decide what to show.

func init() {
	routes["POST /admin/has-permission"] = (*Gate).handleAdminHasPermission
}

// adminStatements are what Better Auth's default admin role may do
// (adminAc in access/statement.mjs). The roles of `admin { roles … }` get
// them here, as they get every admin endpoint; any other role may do
// nothing, as Better Auth's "user" role (userAc) and its unknown roles.
var adminStatements = map[string][]string{
	"user": {"create", "list", "set-role", "ban", "impersonate", "delete", "set-password",
		"set-email", "set-phone", "get", "update"},
	"session": {"list", "revoke", "delete"},
}

var errNoPermissionsPassed = newAPIError(http.StatusBadRequest, "", "invalid permission check. no permission(s) were passed.")

func (g *Gate) handleAdminHasPermission(w http.ResponseWriter, r *http.Request) *apiError {
	if g.admin == nil {
		return errAdminOff
	}
	b, e := readBody(w, r, false)
	if e != nil {
		return e
	}
	perms, e := permissionBody(b)
	if e != nil {
		return e
	}
	res, e := g.adminSession(w, r)
	if e != nil {
		return e
	}
	ok := false
	// Better Auth splits on "," without trimming; so do we, so that
	// " admin" is no admin here either.
	for _, rl := range strings.Split(effectiveRole(res.user.Role), ",") {
		if slices.Contains(g.admin.roles, rl) && authorizeActions(adminStatements, perms) {
			ok = true
			break
		}
	}
	writeJSON(w, http.StatusOK, struct {
		Error   *string `json:"error"`
		Success bool    `json:"success"`
	}{nil, ok})
	return nil
}

// permissionBody checks the body as userHasPermissionBodySchema does
// ({userId?, role?} and exactly one of permission or permissions, each a
// record of string arrays), and returns permissions. Only "permissions" is
// read, as in Better Auth: a body with "permission" alone is refused after
// validation.
func permissionBody(b *body) (map[string][]string, *apiError) {
	invalid := newAPIError(http.StatusBadRequest, "VALIDATION_ERROR", "[body] Invalid input")
	if b.form != nil {
		return nil, invalid
	}
	if raw, ok := b.fields["role"]; ok && jsonKind(raw) != "string" {
		return nil, invalid
	}
	records := map[string]map[string][]string{}
	for _, name := range []string{"permission", "permissions"} {
		raw, ok := b.fields[name]
		if !ok {
			continue
		}
		rec, ok := stringArrayRecord(raw)
		if !ok {
			return nil, invalid
		}
		records[name] = rec
	}
	switch len(records) {
	case 0:
		return nil, invalid
	case 2:
		return nil, newAPIError(http.StatusBadRequest, "VALIDATION_ERROR", "[body] Invalid input: more than one option matched")
	}
	perms, ok := records["permissions"]
	if !ok {
		return nil, errNoPermissionsPassed
	}
	return perms, nil
}

// stringArrayRecord reads z.record(z.string(), z.array(z.string())).
func stringArrayRecord(raw json.RawMessage) (map[string][]string, bool) {
	if jsonKind(raw) != "object" {
		return nil, false
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(raw, &fields) != nil {
		return nil, false
	}
	out := make(map[string][]string, len(fields))
	for k, v := range fields {
		var list []string
		if jsonKind(v) != "array" || json.Unmarshal(v, &list) != nil {
			return nil, false
		}
		out[k] = list
	}
	return out, true
}

// authorizeActions is Better Auth's role.authorize with the AND connector:
// every requested resource must be known and every action on it allowed;
// asking for nothing, or for no action on a resource, is no permission.
func authorizeActions(statements, request map[string][]string) bool {
	if len(request) == 0 {
		return false
	}
	for resource, actions := range request {
		allowed, known := statements[resource]
		if !known || len(actions) == 0 {
			return false
		}
		for _, a := range actions {
			if !slices.Contains(allowed, a) {
				return false
			}
		}
	}
	return true
}

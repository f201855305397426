package caddyauth

import (
	"context"
	"fmt"
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// AdminConfig turns on Better Auth's admin endpoints (`/admin/*` under the
// base path, SPEC §11). At start, the admin plugin's columns are added where
// missing (unless migrate is off), named per the detected layout.
type AdminConfig struct {
	// Roles may call the admin endpoints: a user with any one of them
	// (in their comma list) may. Default: `admin`.
	Roles []string `json:"roles,omitempty"`
}

// adminConfig is the provisioned AdminConfig.
type adminConfig struct {
	roles []string
}

// provisionRoles provisions the require rules and the admin endpoints.
func (g *Gate) provisionRoles() error {
	if err := g.provisionRequire(); err != nil {
		return err
	}
	if g.Admin == nil {
		return nil
	}
	a := &adminConfig{roles: []string{"admin"}}
	if len(g.Admin.Roles) > 0 {
		a.roles = nil
		for _, r := range g.Admin.Roles {
			if r = strings.TrimSpace(r); r == "" || strings.Contains(r, ",") {
				return fmt.Errorf("admin: %q is not a role name", r)
			}
			a.roles = append(a.roles, r)
		}
	}
	g.admin = a
	return nil
}

// provisionAdminSchema asks the database's start to add the admin plugin's
// columns; called once the pool is taken.
func (g *Gate) provisionAdminSchema() {
	if g.admin != nil && g.Migrate != "off" {
		g.db.adminSchema.Store(true)
	}
	if g.rules != nil && g.rules.needRoles() {
		g.db.roleRules.Store(true)
	}
}

// warnRoleRulesWithoutRoles warns, once the database is ready, when a
// require rule asks for a role and the database has no role column (Better
// Auth's admin plugin was never set up there, and no handler has admin on):
// every user then counts as "user", so such a rule lets only rules for
// "user" pass, which is rarely what its author meant.
func (h *dbHandle) warnRoleRulesWithoutRoles() {
	if h.roleRules.Load() && !h.st.Schema().Plugins.Role {
		h.logger.Warn("a require rule asks for a role, but the database has no role column: every user counts as \"user\" until it has one (admin on adds it, as Better Auth's admin plugin does)")
	}
}

// ensureAdminSchema adds the admin plugin's columns when a handler serves
// the admin endpoints. App.Start calls it once the database is ready.
func (h *dbHandle) ensureAdminSchema(ctx context.Context) error {
	if !h.adminSchema.Load() {
		return nil
	}
	return h.st.EnsureAdminSchema(ctx)
}

// unmarshalAdmin parses
//
//	admin [on|off] [{
//		roles <role...>
//	}]
//
// `roles` names the roles allowed to call the admin endpoints (default
// admin).
func (g *Gate) unmarshalAdmin(d *caddyfile.Dispenser) error {
	on := true
	if d.NextArg() {
		switch d.Val() {
		case "on":
		case "off":
			on = false
		default:
			return d.Errf("admin: expects on or off, got %q", d.Val())
		}
		if d.NextArg() {
			return d.Errf("admin: unexpected %q", d.Val())
		}
	}
	cfg := &AdminConfig{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "roles":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.Errf("admin: roles expects at least one role name")
			}
			cfg.Roles = append(cfg.Roles, args...)
		default:
			return d.Errf("admin: unknown subdirective %q (roles)", d.Val())
		}
	}
	if on {
		g.Admin = cfg
	} else {
		g.Admin = nil
	}
	return nil
}

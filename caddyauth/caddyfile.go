package caddyauth

import (
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("auth_gate", parseCaddyfile)
	// Ordered right after forward_auth, Caddy's other authentication
	// directive, so that it runs before handle, route and reverse_proxy
	// without a global `order` line.
	httpcaddyfile.RegisterDirectiveOrder("auth_gate", httpcaddyfile.After, "forward_auth")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	g := new(Gate)
	err := g.UnmarshalCaddyfile(h.Dispenser)
	return g, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	auth_gate {
//		database  <dsn>
//		secret    <value> [<older>...]
//		base_path <path>
//		base_url  <url>
//		trusted_origins <origin...>
//		public    <path-pattern...>
//		login_url <url>
//		session_expires_in <duration>
//		session_update_age <duration>
//		session_cache      <duration>
//		password_min_length <n>
//		password_max_length <n>
//		disable_sign_up
//		require_email_verification
//		identity_headers {
//			id|email|name|email_verified|session_id|role <header>
//		}
//		bearer
//		require <path-pattern...> [role <role...>] [email_verified]
//		admin [on|off] [{ roles <role...> }]
//		rate_limit off | {
//			window  <duration>
//			max     <n>
//			rule    <path> <window> <max>
//			storage memory|database
//		}
//		migrate auto|off
//		schema  auto|camel|snake
//		notify_database <dsn>
//		email_webhook <url> [{
//			secret <value>
//		}]
//		email_log
//		delete_user [on|off]
//		pages [on|off]
//		social google|github|microsoft {
//			client_id <id>
//			client_secret <secret>
//			[scopes <scope...>]
//			[tenant <tenant>]
//			[pkce on|off]
//			[authorization_url|token_url|userinfo_url|jwks_url <url>]
//		}
//		oidc <id> {
//			issuer <url>
//			client_id <id>
//			client_secret <secret>
//			[scopes <scope...>]
//			[pkce on|off]
//			[authorization_url|token_url|userinfo_url|jwks_url <url>]
//			[name <shown on the pages>]
//		}
//		trusted_providers <id...>
//		two_factor [{ issuer <name> }]
//		assertion [<header>] [{ audience <aud>  ttl <duration> }]
//		jwt [on|off]
//	}
func (g *Gate) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.Errf("auth_gate takes no arguments on its first line; put settings in its block")
	}
	for d.NextBlock(0) {
		sub := d.Val()
		switch sub {
		case "database", "base_path", "base_url", "login_url", "migrate", "schema", "notify_database":
			var v string
			if !d.AllArgs(&v) {
				return d.Errf("%s: expects exactly one value", sub)
			}
			g.setString(sub, v)
		case "secret":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.Errf("secret: expects at least one value")
			}
			g.Secret = append(g.Secret, args...)
		case "trusted_origins":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.Errf("trusted_origins: expects at least one origin")
			}
			g.TrustedOrigins = append(g.TrustedOrigins, args...)
		case "public":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.Errf("public: expects at least one path pattern")
			}
			g.Public = append(g.Public, args...)
		case "session_expires_in", "session_update_age", "session_cache":
			var v string
			if !d.AllArgs(&v) {
				return d.Errf("%s: expects exactly one duration", sub)
			}
			// Ranges are checked in Provision, for JSON too.
			dur, err := caddy.ParseDuration(v)
			if err != nil {
				return d.Errf("%s: invalid duration %q (use forms like 30m, 12h, 7d)", sub, v)
			}
			cd := caddy.Duration(dur)
			switch sub {
			case "session_expires_in":
				g.SessionExpiresIn = cd
			case "session_update_age":
				g.SessionUpdateAge = cd
			default:
				g.SessionCache = &cd
			}
		case "password_min_length", "password_max_length":
			var v string
			if !d.AllArgs(&v) {
				return d.Errf("%s: expects exactly one number", sub)
			}
			// 0 is refused here because in JSON it means the default, which
			// a Caddyfile gets by leaving the setting out; ranges are checked
			// in Provision, for JSON too.
			n, err := strconv.Atoi(v)
			if err != nil || n == 0 {
				return d.Errf("%s: %q is not a positive whole number", sub, v)
			}
			if sub == "password_min_length" {
				g.PasswordMinLength = n
			} else {
				g.PasswordMaxLength = n
			}
		case "disable_sign_up", "require_email_verification", "bearer", "email_log", "delete_user", "pages":
			on, err := flagArg(d, sub)
			if err != nil {
				return err
			}
			switch sub {
			case "disable_sign_up":
				g.DisableSignUp = on
			case "require_email_verification":
				g.RequireEmailVerification = on
			case "bearer":
				g.Bearer = on
			case "email_log":
				g.EmailLog = on
			case "delete_user":
				g.DeleteUser = on
			default:
				g.Pages = on
			}
		case "email_webhook":
			if err := g.unmarshalEmailWebhook(d); err != nil {
				return err
			}
		case "require":
			if err := g.unmarshalRequire(d); err != nil {
				return err
			}
		case "admin":
			if err := g.unmarshalAdmin(d); err != nil {
				return err
			}
		case "identity_headers":
			if err := g.unmarshalIdentityHeaders(d); err != nil {
				return err
			}
		case "rate_limit":
			if err := g.unmarshalRateLimit(d); err != nil {
				return err
			}
		case "social", "oidc":
			if err := g.unmarshalSocial(d, sub); err != nil {
				return err
			}
		case "two_factor":
			if err := g.unmarshalTwoFactor(d); err != nil {
				return err
			}
		case "trusted_providers":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.Errf("trusted_providers: expects at least one provider id")
			}
			g.TrustedProviders = append(g.TrustedProviders, args...)
		case "assertion":
			if err := g.unmarshalAssertion(d); err != nil {
				return err
			}
		case "jwt":
			on, err := flagArg(d, sub)
			if err != nil {
				return err
			}
			g.JWT = on
		default:
			return d.Errf("unrecognized auth_gate subdirective %q", sub)
		}
	}
	return nil
}

// setString sets a one-value subdirective; Provision checks the values, for
// JSON configs too.
func (g *Gate) setString(sub, v string) {
	switch sub {
	case "database":
		g.Database = v
	case "base_path":
		g.BasePath = v
	case "base_url":
		g.BaseURL = v
	case "login_url":
		g.LoginURL = v
	case "migrate":
		g.Migrate = v
	case "schema":
		g.Schema = v
	case "notify_database":
		g.NotifyDatabase = v
	}
}

// flagArg reads an optional on/off after a flag subdirective; the bare flag
// means on.
func flagArg(d *caddyfile.Dispenser, sub string) (bool, error) {
	args := d.RemainingArgs()
	switch {
	case len(args) == 0:
		return true, nil
	case len(args) == 1 && (args[0] == "on" || args[0] == "true"):
		return true, nil
	case len(args) == 1 && (args[0] == "off" || args[0] == "false"):
		return false, nil
	}
	return false, d.Errf("%s: expects no value, or on/off", sub)
}

func (g *Gate) unmarshalIdentityHeaders(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.Errf("identity_headers: takes a block, not arguments")
	}
	if g.IdentityHeaders == nil {
		g.IdentityHeaders = new(IdentityHeaders)
	}
	h := g.IdentityHeaders
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		key := d.Val()
		var v string
		if !d.AllArgs(&v) {
			return d.Errf("identity_headers: %s expects exactly one header name", key)
		}
		switch key {
		case "id":
			h.ID = v
		case "email":
			h.Email = v
		case "name":
			h.Name = v
		case "email_verified":
			h.EmailVerified = v
		case "session_id":
			h.SessionID = v
		case "role":
			h.Role = v
		default:
			return d.Errf("identity_headers: unknown key %q (id, email, name, email_verified, session_id, role)", key)
		}
	}
	return nil
}

// unmarshalEmailWebhook reads `email_webhook <url> [{ secret <value> }]`.
func (g *Gate) unmarshalEmailWebhook(d *caddyfile.Dispenser) error {
	if !d.NextArg() {
		return d.Errf("email_webhook: expects a URL")
	}
	g.EmailWebhook = d.Val()
	if d.NextArg() {
		return d.Errf("email_webhook: expects one URL, then an optional block")
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "secret":
			var v string
			if !d.AllArgs(&v) {
				return d.Errf("email_webhook: secret expects exactly one value")
			}
			g.EmailWebhookSecret = v
		default:
			return d.Errf("email_webhook: unrecognized setting %q", d.Val())
		}
	}
	return nil
}

func (g *Gate) unmarshalRateLimit(d *caddyfile.Dispenser) error {
	if g.RateLimit == nil {
		g.RateLimit = new(RateLimit)
	}
	rl := g.RateLimit
	if d.NextArg() {
		switch d.Val() {
		case "off":
			rl.Disabled = true
		case "on":
		default:
			return d.Errf("rate_limit: expects on, off or a block, got %q", d.Val())
		}
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		key := d.Val()
		args := d.RemainingArgs()
		switch key {
		// window and max refuse 0 here because in JSON it means the
		// default, which a Caddyfile gets by leaving the setting out.
		case "window":
			if len(args) != 1 {
				return d.Errf("rate_limit: window expects one duration")
			}
			dur, err := caddy.ParseDuration(args[0])
			if err != nil || dur <= 0 {
				return d.Errf("rate_limit: invalid window %q", args[0])
			}
			rl.Window = caddy.Duration(dur)
		case "max":
			if len(args) != 1 {
				return d.Errf("rate_limit: max expects one number")
			}
			n, err := strconv.Atoi(args[0])
			if err != nil || n < 1 {
				return d.Errf("rate_limit: invalid max %q", args[0])
			}
			rl.Max = n
		case "rule":
			if len(args) != 3 {
				return d.Errf("rate_limit: rule expects <path> <window> <max>")
			}
			// Ranges, as the path, are checked in Provision, for JSON too.
			dur, err := caddy.ParseDuration(args[1])
			if err != nil {
				return d.Errf("rate_limit: rule %s: invalid window %q", args[0], args[1])
			}
			n, err := strconv.Atoi(args[2])
			if err != nil {
				return d.Errf("rate_limit: rule %s: invalid max %q", args[0], args[2])
			}
			rl.Rules = append(rl.Rules, RateLimitRule{Path: args[0], Window: caddy.Duration(dur), Max: n})
		case "storage":
			if len(args) != 1 {
				return d.Errf("rate_limit: storage expects memory or database")
			}
			rl.Storage = args[0]
		case "off":
			rl.Disabled = true
		default:
			return d.Errf("rate_limit: unknown setting %q", key)
		}
	}
	return nil
}

// Interface guards
var _ caddyfile.Unmarshaler = (*Gate)(nil)

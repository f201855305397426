// Package caddyauth implements auth_gate, a Caddy HTTP handler that is the
// front door of a web app: it serves a Better Auth compatible email/password
// API under a base path and gates every other request on a valid session,
// passing it on with the caller's identity in request headers.
package caddyauth

import (
	"errors"
	"fmt"
	"net/textproto"
	"net/url"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	// The module owns its SQL drivers so that any Caddy build that links
	// auth_gate can open both kinds of database.
	_ "github.com/lib/pq"
	_ "modernc.org/sqlite"

	// The `caddy auth` command registers itself when linked: importing it
	// here gives it to every binary built with the module, such as
	// `xcaddy build --with github.com/authgate/authgate`.
	_ "github.com/authgate/authgate/caddyauth/internal/authcmd"

	"github.com/authgate/authgate/caddyauth/internal/appdata"
	"github.com/authgate/authgate/caddyauth/internal/formtoken"
	"github.com/authgate/authgate/caddyauth/internal/mail"
	"github.com/authgate/authgate/caddyauth/internal/password"
	"github.com/authgate/authgate/caddyauth/internal/ratelimit"
	"github.com/authgate/authgate/caddyauth/internal/social"
	"github.com/authgate/authgate/store"
)

func init() {
	caddy.RegisterModule(Gate{})
}

// Gate is the auth_gate HTTP handler. Requests under BasePath are answered by
// the auth API and never reach the next handler; every other request needs a
// valid session (unless its path is Public) and is passed on with identity
// headers. Client-sent copies of the identity headers are always removed.
//
// When a session is found, these placeholders are set:
//
//	Placeholder                    | Description
//	-------------------------------|-------------------------------
//	`{http.auth.user.id}`          | user id
//	`{http.auth.user.email}`       | email address
//	`{http.auth.user.name}`        | display name
//	`{http.auth.user.email_verified}` | `true` or `false`
//	`{http.auth.session.id}`       | session id (never the token)
//	`{http.auth.user.role}`        | roles, comma-separated (`user` when none)
type Gate struct {
	// Database is the DSN of the database holding Better Auth's tables:
	// `postgres://…` or `postgresql://…` (lib/pq), or `sqlite://<path>`.
	// Runtime placeholders such as `{env.DATABASE_URL}` are expanded at
	// provision time; a value that expands to empty means the default, a
	// SQLite file `auth_gate/auth.db` in Caddy's data directory.
	Database string `json:"database,omitempty"`

	// Secret holds the HMAC keys for cookies and tokens. The first signs,
	// all verify (rotation). None may be empty; one under 32 characters
	// starts with a warning, as in Better Auth. Runtime placeholders are
	// expanded. Default: 32 random bytes generated once and
	// stored with mode 0600 as `auth_gate/secret` in Caddy's data directory.
	Secret []string `json:"secret,omitempty"`

	// BasePath is where the auth API lives. Default: `/auth`.
	BasePath string `json:"base_path,omitempty"`

	// BaseURL is the public origin of the site (`https://app.example.com`,
	// as Better Auth's BETTER_AUTH_URL). Links in emails are built from it,
	// never from the request's Host, which a client chooses; so it is
	// required when EmailWebhook or EmailLog is set. It also decides whether
	// cookies are `Secure` (https). Without it, cookies follow the request's
	// scheme.
	BaseURL string `json:"base_url,omitempty"`

	// TrustedOrigins may make cookie-bearing state-changing requests and be
	// redirect targets. Entries are origins (`https://app.example.com`) or
	// host patterns with `*` (`*.example.com`, `https://*.example.com`).
	// The site's own origin is always trusted.
	TrustedOrigins []string `json:"trusted_origins,omitempty"`

	// Public lists path patterns (Caddy path matcher syntax) that pass
	// without a session. A valid session on a public path still gets the
	// identity headers. Patterns match the cleaned, decoded path.
	Public []string `json:"public,omitempty"`

	// LoginURL is where unauthenticated browser navigations are redirected,
	// with `?redirect=<original path and query>`. Without it they get 401.
	LoginURL string `json:"login_url,omitempty"`

	// SessionExpiresIn is the session lifetime. Default: 7 days.
	SessionExpiresIn caddy.Duration `json:"session_expires_in,omitempty"`

	// SessionUpdateAge: once this much of the lifetime has passed, a use of
	// the session extends it by SessionExpiresIn. Default: 1 day.
	SessionUpdateAge caddy.Duration `json:"session_update_age,omitempty"`

	// SessionCache is the longest time a validated session may be served
	// from memory. 0 disables the cache. Default: 10 seconds.
	SessionCache *caddy.Duration `json:"session_cache,omitempty"`

	// PasswordMinLength is the shortest accepted new password, in UTF-16
	// code units as Better Auth counts. Default: 8.
	PasswordMinLength int `json:"password_min_length,omitempty"`

	// PasswordMaxLength is the longest accepted password. Default: 128.
	PasswordMaxLength int `json:"password_max_length,omitempty"`

	// DisableSignUp makes sign-up answer 400 EMAIL_PASSWORD_SIGN_UP_DISABLED.
	DisableSignUp bool `json:"disable_sign_up,omitempty"`

	// RequireEmailVerification refuses sign-in to unverified users (403
	// EMAIL_NOT_VERIFIED) and makes sign-up create no session.
	RequireEmailVerification bool `json:"require_email_verification,omitempty"`

	// IdentityHeaders renames the headers injected into gated requests.
	IdentityHeaders *IdentityHeaders `json:"identity_headers,omitempty"`

	// Bearer also accepts `Authorization: Bearer <token>` (signed or raw
	// session token), and makes sign-in and sign-up return the signed token
	// in a `set-auth-token` response header.
	Bearer bool `json:"bearer,omitempty"`

	// RateLimit configures per-client limits on the auth API. Default: on,
	// 100 requests per 10 s, 3 per 10 s on sign-in, sign-up and password
	// endpoints.
	RateLimit *RateLimit `json:"rate_limit,omitempty"`

	// Migrate is `auto` (apply migrations when the config starts, the
	// default) or `off`.
	Migrate string `json:"migrate,omitempty"`

	// Schema is the column naming of the Better Auth tables: `auto` (detect,
	// the default), `camel` (Better Auth's own migrate) or `snake` (Better
	// Auth's Drizzle generator).
	Schema string `json:"schema,omitempty"`

	// NotifyDatabase is a PostgreSQL DSN used only to LISTEN for revocation
	// notices; set it to a direct, unpooled endpoint when Database goes
	// through a pooler. Default: Database.
	NotifyDatabase string `json:"notify_database,omitempty"`

	// EmailWebhook receives verification and password-reset emails as a
	// signed JSON POST `{type, to, url, token, user}`. Needs BaseURL.
	EmailWebhook string `json:"email_webhook,omitempty"`

	// EmailWebhookSecret is the key that signs webhook bodies (its UTF-8
	// bytes are the HMAC key). Runtime placeholders are expanded; empty
	// means a key derived from the main secret, which `caddy auth
	// webhook-key` prints. Either way the receiver never holds a key that
	// can sign cookies or tokens.
	EmailWebhookSecret string `json:"email_webhook_secret,omitempty"`

	// EmailLog writes email links to the log instead (development only).
	EmailLog bool `json:"email_log,omitempty"`

	// DeleteUser enables POST /delete-user. Default: off (404).
	DeleteUser bool `json:"delete_user,omitempty"`

	// Pages serves built-in sign-in, sign-up and password pages under
	// BasePath. Default: off.
	Pages bool `json:"pages,omitempty"`

	// Social lists the sign-in providers (SPEC §9). Needs BaseURL.
	Social []SocialProvider `json:"social,omitempty"`

	// TrustedProviders may link a sign-in to an existing user with the same
	// email even when the provider does not say it verified the address
	// (Better Auth's accountLinking.trustedProviders).
	TrustedProviders []string `json:"trusted_providers,omitempty"`

	// Two-factor sign-in (SPEC §10).

	// TwoFactor turns on two-factor sign-in with an authenticator app and
	// backup codes, adding Better Auth's twoFactor table and
	// user.twoFactorEnabled column when missing. Default: off; a database
	// that already has them gets two-factor sign-in all the same.
	TwoFactor *TwoFactor `json:"two_factor,omitempty"`

	// Signed identity assertion and Better Auth's jwt plugin (SPEC §12).

	// Assertion adds a signed JWT identifying the caller to every request
	// passed on with a session (see Assertion). Needs BaseURL. Default: off.
	Assertion *Assertion `json:"assertion,omitempty"`

	// JWT serves Better Auth's jwt plugin endpoints: GET /token and the
	// set-auth-jwt header of get-session (GET /jwks is served whenever JWT
	// or Assertion is on). Needs BaseURL. Default: off.
	JWT bool `json:"jwt,omitempty"`

	// Roles and access rules (SPEC §11; roles.go, admin.go).
	// Require is the ordered list of access rules checked after
	// authentication; the first whose paths match decides.
	Require []RequireRule `json:"require,omitempty"`
	// Admin serves Better Auth's admin endpoints and adds the admin
	// plugin's columns when missing.
	Admin *AdminConfig `json:"admin,omitempty"`

	cfg    config
	mail   mail.Sender // nil: no email delivery configured
	db     *dbHandle
	dbKey  string
	logger *zap.Logger
	public caddyhttp.MatchPath

	limiter *ratelimit.Limiter // nil: rate_limit off
	forms   *formtoken.Codec   // nil: pages off

	social           map[string]*social.Provider // by id; nil: no provider
	stateCodec       *social.StateCodec
	trustedProviders []string

	assert *assertionState // nil: neither assertion nor jwt

	rules *accessRules // nil: no require rule
	admin *adminConfig // nil: admin endpoints off
}

// IdentityHeaders names the request headers that carry the caller's
// identity to the next handler.
type IdentityHeaders struct {
	// ID carries the user id. Default: `X-User-Id`.
	ID string `json:"id,omitempty"`
	// Email carries the email. Default: `X-User-Email`.
	Email string `json:"email,omitempty"`
	// Name carries the display name. Default: `X-User-Name`.
	Name string `json:"name,omitempty"`
	// EmailVerified carries `true` or `false`. Default: `X-User-Email-Verified`.
	EmailVerified string `json:"email_verified,omitempty"`
	// SessionID carries the session id. Default: `X-Session-Id`.
	SessionID string `json:"session_id,omitempty"`
	// Role carries the user's roles, comma-separated as Better Auth's admin
	// plugin stores them; `user` when none is set. Default: `X-User-Role`.
	Role string `json:"role,omitempty"`
}

// RateLimit configures request limits per client IP on the auth API.
type RateLimit struct {
	// Disabled turns rate limiting off.
	Disabled bool `json:"disabled,omitempty"`
	// Window of the general limit. Default: 10 s.
	Window caddy.Duration `json:"window,omitempty"`
	// Max requests per Window. Default: 100.
	Max int `json:"max,omitempty"`
	// Rules override the limit for paths relative to BasePath (`/sign-in/*`).
	Rules []RateLimitRule `json:"rules,omitempty"`
	// Storage is `memory` (default) or `database` (shared by instances).
	Storage string `json:"storage,omitempty"`
}

// RateLimitRule is a limit for one path pattern under BasePath.
type RateLimitRule struct {
	Path   string         `json:"path"`
	Window caddy.Duration `json:"window"`
	Max    int            `json:"max"`
}

// CaddyModule returns the Caddy module information.
func (Gate) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.auth_gate",
		New: func() caddy.Module { return new(Gate) },
	}
}

// config is the provisioned, defaulted form of Gate that the request paths
// read. It holds no secret in printable form except the keys themselves.
type config struct {
	basePath        string
	baseURL         *url.URL
	secure          bool // baseURL is https: __Secure- cookies, Secure attribute
	keys            [][]byte
	trusted         []originPattern
	loginURL        string
	expiresIn       time.Duration
	updateAge       time.Duration
	cacheTTL        time.Duration
	minPassword     int
	maxPassword     int
	headers         identityHeaderNames
	headerKeys      [identityFields]string // canonical forms of headers, in identity's order
	headerSet       map[string]struct{}
	bearer          bool
	disableSignUp   bool
	requireVerified bool
	deleteUser      bool
}

type identityHeaderNames struct {
	id, email, name, emailVerified, sessionID, role string
}

const (
	defaultBasePath  = "/auth"
	defaultExpiresIn = 7 * 24 * time.Hour
	defaultUpdateAge = 24 * time.Hour
	defaultCacheTTL  = 10 * time.Second
	minSecretLength  = 32 // recommended, as Better Auth does; shorter only warns
)

// Provision sets defaults, expands runtime placeholders and takes a shared
// connection pool. It never connects: `caddy validate` and `caddy adapt` must
// not touch the database. Connecting and migrating happen when the config
// starts (see App.Start) or, at the latest, on the first request.
func (g *Gate) Provision(ctx caddy.Context) error {
	g.logger = ctx.Logger()
	if err := registerMetrics(ctx); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	repl := caddy.NewReplacer()

	if err := g.provisionConfig(repl); err != nil {
		return err
	}

	secrets, err := g.loadSecrets(repl)
	if err != nil {
		return err
	}
	for _, s := range secrets {
		g.cfg.keys = append(g.cfg.keys, []byte(s))
	}
	if g.Pages {
		if g.forms, err = formtoken.New(g.cfg.keys, formTokenLifetime); err != nil {
			return err
		}
	}

	if err := g.provisionSocial(repl); err != nil {
		return err
	}
	if err := g.provisionAssertion(repl); err != nil {
		return err
	}
	if err := g.provisionRoles(); err != nil {
		return err
	}

	webhook := repl.ReplaceAll(g.EmailWebhook, "")
	if (webhook != "" || g.EmailLog) && g.cfg.baseURL == nil {
		return errors.New("base_url: required when email_webhook or email_log is set: links in emails are built from it, never from the request's Host (e.g. base_url https://app.example.com)")
	}
	webhookKey := mail.WebhookKey(repl.ReplaceAll(g.EmailWebhookSecret, ""), g.cfg.keys[0])
	g.mail, err = mail.New(webhook, g.EmailLog, webhookKey, g.logger)
	if err != nil {
		return err
	}

	dsn := appdata.DatabaseDSN(repl, g.Database)
	notify := strings.TrimSpace(repl.ReplaceAll(g.NotifyDatabase, ""))
	handle, key, err := acquireDB(dsn, notify, g.Schema, g.Migrate != "off", g.cfg.cacheTTL > 0, g.logger)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	g.db, g.dbKey = handle, key
	g.provisionTwoFactor()
	g.provisionAdminSchema()
	if err := g.provisionRateLimit(); err != nil {
		return err
	}

	app, err := ctx.App(appID)
	if err != nil {
		return fmt.Errorf("loading auth_gate app: %w", err)
	}
	app.(*App).register(handle)
	app.(*App).registerProviders(g.social)
	return nil
}

func (g *Gate) provisionConfig(repl *caddy.Replacer) error {
	c := &g.cfg
	c.basePath = g.BasePath
	if c.basePath == "" {
		c.basePath = defaultBasePath
	}
	c.basePath = strings.TrimRight(c.basePath, "/")
	if c.basePath == "" || !strings.HasPrefix(c.basePath, "/") {
		return fmt.Errorf("base_path: must be a path starting with / and not / itself, got %q", g.BasePath)
	}

	if g.BaseURL != "" {
		u, err := url.Parse(repl.ReplaceAll(g.BaseURL, ""))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("base_url: must be an absolute http(s) URL, got %q", g.BaseURL)
		}
		c.baseURL = u
		c.secure = u.Scheme == "https"
	}

	for _, o := range g.TrustedOrigins {
		p, err := parseOriginPattern(o)
		if err != nil {
			return fmt.Errorf("trusted_origins: %w", err)
		}
		c.trusted = append(c.trusted, p)
	}

	if len(g.Public) > 0 {
		g.public = append(caddyhttp.MatchPath(nil), g.Public...)
		if err := g.public.Provision(caddy.Context{}); err != nil {
			return fmt.Errorf("public: %w", err)
		}
	}

	c.loginURL = g.LoginURL
	if c.loginURL != "" {
		if err := checkLoginURL(c.loginURL); err != nil {
			return fmt.Errorf("login_url: %w", err)
		}
	}

	c.expiresIn = durationOr(g.SessionExpiresIn, defaultExpiresIn)
	c.updateAge = durationOr(g.SessionUpdateAge, defaultUpdateAge)
	c.cacheTTL = defaultCacheTTL
	if g.SessionCache != nil {
		c.cacheTTL = time.Duration(*g.SessionCache)
	}
	if c.expiresIn <= 0 {
		return fmt.Errorf("session_expires_in: must be positive")
	}
	if c.updateAge < 0 || c.updateAge > c.expiresIn {
		return fmt.Errorf("session_update_age: must be between 0 and session_expires_in")
	}
	if c.cacheTTL < 0 {
		return fmt.Errorf("session_cache: must not be negative")
	}

	c.minPassword, c.maxPassword = password.DefaultMinLength, password.DefaultMaxLength
	if g.PasswordMinLength != 0 {
		c.minPassword = g.PasswordMinLength
	}
	if g.PasswordMaxLength != 0 {
		c.maxPassword = g.PasswordMaxLength
	}
	if c.minPassword < 1 || c.maxPassword < c.minPassword {
		return fmt.Errorf("password_min_length/password_max_length: need 1 <= min <= max, got %d and %d", c.minPassword, c.maxPassword)
	}

	c.headers = identityHeaderNames{"X-User-Id", "X-User-Email", "X-User-Name", "X-User-Email-Verified", "X-Session-Id", "X-User-Role"}
	if h := g.IdentityHeaders; h != nil {
		for _, p := range []struct {
			dst *string
			val string
		}{{&c.headers.id, h.ID}, {&c.headers.email, h.Email}, {&c.headers.name, h.Name}, {&c.headers.emailVerified, h.EmailVerified}, {&c.headers.sessionID, h.SessionID}, {&c.headers.role, h.Role}} {
			if p.val == "" {
				continue
			}
			if !validHeaderName(p.val) {
				return fmt.Errorf("identity_headers: %q is not a valid header name", p.val)
			}
			*p.dst = p.val
		}
	}
	for i, h := range []string{c.headers.id, c.headers.email, c.headers.name, c.headers.emailVerified, c.headers.sessionID, c.headers.role} {
		c.headerKeys[i] = textproto.CanonicalMIMEHeaderKey(h)
	}
	c.headerSet = headerNameSet(c.headers.id, c.headers.email, c.headers.name, c.headers.emailVerified, c.headers.sessionID, c.headers.role)

	switch g.Migrate {
	case "", "auto", "off":
	default:
		return fmt.Errorf("migrate: must be auto or off, got %q", g.Migrate)
	}
	if err := store.CheckSchema(g.Schema); err != nil {
		return fmt.Errorf("schema: %w", err)
	}

	c.bearer = g.Bearer
	c.disableSignUp = g.DisableSignUp
	c.requireVerified = g.RequireEmailVerification
	c.deleteUser = g.DeleteUser
	return nil
}

// Validate checks what Provision could not reject on its own.
func (g *Gate) Validate() error {
	if len(g.cfg.keys) == 0 {
		return errors.New("secret: no signing key")
	}
	return nil
}

// Cleanup releases the shared pool. It also runs after a failed Provision,
// so it must cope with a pool that was never taken.
func (g *Gate) Cleanup() error {
	if g.dbKey == "" {
		return nil
	}
	_, err := dbPool.Delete(g.dbKey)
	g.dbKey = ""
	return err
}

// validHeaderName accepts RFC 9110 token characters only.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

func durationOr(d caddy.Duration, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return time.Duration(d)
}

// store returns the database's store, which gets ready on its first query
// when the app's Start has not made it so yet (Caddy starts apps in no
// fixed order).
func (g *Gate) store() *store.Store { return g.db.st }

// Interface guards
var (
	_ caddy.Provisioner           = (*Gate)(nil)
	_ caddy.Validator             = (*Gate)(nil)
	_ caddy.CleanerUpper          = (*Gate)(nil)
	_ caddyhttp.MiddlewareHandler = (*Gate)(nil)
)

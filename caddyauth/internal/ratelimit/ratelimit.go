// Package ratelimit is auth_gate's rate limiter, which follows Better Auth
// 1.7.25's (api/rate-limiter). It decides; the caller answers: a refused
// request gets a Decision that says for how long, and the caller renders its
// 429 (JSON for the API, HTML for the built-in pages).
//
//   - The caller asks for every request under the base path before routing,
//     as Better Auth's router-wide onRequest hook does: unknown paths and
//     wrong methods count too.
//   - The key is "<client ip>|<path relative to the base path>", so each
//     route has its own counter per client. IPv6 addresses count per /64, as
//     Better Auth normalises them. Paths that are no route share one counter
//     per client and rule, so that a scan of random paths cannot mint a key
//     per request.
//   - Sign-in is also limited per email address and client IP together, with
//     the limit of the sign-in path, counting failed attempts only: wrong
//     passwords from one client never lock the owner out from another. The
//     caller passes a digest of the address, never the address itself.
//   - The algorithm: when the last counted request is a window or more ago,
//     the count restarts at 1; otherwise a count at max denies, and anything
//     else counts the request and makes it the last one (so the window slides
//     with every allowed request). A denial's RetryAfter is the time until a
//     window has passed since the last counted request.
//
// The built-in rules differ from Better Auth where auth_gate's contract
// does: request-password-reset has a 10 s window (Better Auth: 60 s), and
// send-verification-email, which sends email, is as strict as sign-in (3 per
// 10 s) rather than under the general 100 per 10 s, which would make it an
// inbox-flooding tool.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

const (
	defaultWindow = 10 * time.Second
	defaultMax    = 100
	// maxMax keeps counts within a 32-bit integer column.
	maxMax = 1_000_000_000

	// defaultKeyCap bounds the keys the memory store counts one by one. An
	// entry takes about 200 bytes, so the store stays under ~25 MB.
	defaultKeyCap = 100_000
	// storeWarnInterval spaces out the warnings about a failing database
	// store, which would otherwise come with every request of an outage.
	storeWarnInterval = time.Minute

	// A client whose raw bearer tokens miss the database this often within
	// the window has its further unknown ones refused without a query (see
	// Limiter.Token). A client with a valid session makes no misses; one
	// with a stale token makes a few before it signs in again.
	tokenMissWindow = 10 * time.Second
	tokenMissMax    = 20
)

// defaultRules are the stricter limits on the endpoints that check or set
// passwords or send email, matched after the configured rules and before
// the general limit.
var defaultRules = []Rule{
	{Path: "/sign-in/*", Window: 10 * time.Second, Max: 3},
	{Path: "/sign-up/*", Window: 10 * time.Second, Max: 3},
	{Path: "/change-password", Window: 10 * time.Second, Max: 3},
	{Path: "/change-email", Window: 10 * time.Second, Max: 3},
	{Path: "/request-password-reset", Window: 10 * time.Second, Max: 3},
	{Path: "/send-verification-email", Window: 10 * time.Second, Max: 3},
}

// Config is a rate limiter's configuration. New checks it and fills in
// the defaults.
type Config struct {
	// Window of the general limit. Default: 10 s.
	Window time.Duration
	// Max requests per Window. Default: 100.
	Max int
	// Rules override the limit for path patterns relative to the base path
	// (Caddy path matcher syntax, case-sensitive), first match wins; the
	// built-in rules follow them.
	Rules []Rule
	// Storage is "memory" (counters in this process, the default) or
	// "database" (shared by every instance on it).
	Storage string
	// Database holds the counters with storage "database".
	Database Store
	// KeyCap bounds the keys the memory store counts one by one. Default:
	// 100 000.
	KeyCap int
	// BasePath is where the API lives: rule paths must leave it out.
	BasePath string
	// Route names the route a path belongs to, whatever the method, or ""
	// for a path that is no route. Requests are counted per route name, so
	// a route with a parameter (a token in the path) has one counter.
	Route func(path string) string
	// Now is the clock. Default: time.Now.
	Now func() time.Time
	// Logger takes the warnings about a failing database store.
	Logger *zap.Logger
}

// Rule is at most Max requests per Window on the paths Path matches. Max 0
// means no limit.
type Rule struct {
	Path   string
	Window time.Duration
	Max    int
}

// Scope tells which limit refused a request.
type Scope uint8

const (
	// ScopeIP is the limit on auth API requests per client address and path.
	ScopeIP Scope = iota
	// ScopeEmail is the limit on failed sign-ins per address and client.
	ScopeEmail
	// ScopeToken is the limit on raw bearer tokens from a client whose
	// tokens keep missing.
	ScopeToken
)

// Scopes are all scopes, in order.
var Scopes = [...]Scope{ScopeIP, ScopeEmail, ScopeToken}

// String is the scope's metric label.
func (s Scope) String() string {
	switch s {
	case ScopeIP:
		return "ip"
	case ScopeEmail:
		return "email"
	case ScopeToken:
		return "token"
	}
	return fmt.Sprintf("Scope(%d)", uint8(s))
}

// Decision is a limiter's answer to one request.
type Decision struct {
	Allowed bool
	// RetryAfter is, for a refused request, how long until it would be
	// allowed (always positive).
	RetryAfter time.Duration
	Scope      Scope
}

// rule is a provisioned limit; pattern "" is the general limit.
type rule struct {
	pattern string
	window  time.Duration
	max     int
}

// limitStore counts requests. hit counts one request against key and tells
// whether it is allowed, and if not, how long until it would be; undo takes
// back one allowed hit, counted with max.
type limitStore interface {
	hit(ctx context.Context, key string, window time.Duration, max int, t time.Time) (allowed bool, retryAfter time.Duration, err error)
	undo(ctx context.Context, key string, max int) error
}

// Limiter applies the limits of one configuration. It is safe for
// concurrent use.
type Limiter struct {
	general rule
	rules   []rule // configured rules first, then the defaults
	store   limitStore
	// local takes over when store is the database and fails: the limits then
	// hold per instance instead of not at all. The same as store for memory.
	local    *memoryStore
	route    func(string) string
	now      func() time.Time
	logger   *zap.Logger
	warnedAt atomic.Int64 // unix nanoseconds of the last store warning
}

// New checks cfg and builds its limiter. Errors name the setting at fault
// in the words of the `rate_limit` configuration.
func New(cfg Config) (*Limiter, error) {
	l := &Limiter{
		general: rule{window: cfg.Window, max: cfg.Max},
		route:   cfg.Route,
		now:     cfg.Now,
		logger:  cfg.Logger,
	}
	switch {
	case cfg.Window < 0:
		return nil, errors.New("window must be positive")
	case cfg.Window == 0:
		l.general.window = defaultWindow
	}
	switch {
	case cfg.Max < 0 || cfg.Max > maxMax:
		return nil, fmt.Errorf("max must be between 1 and %d", maxMax)
	case cfg.Max == 0:
		l.general.max = defaultMax
	}
	for _, r := range append(append([]Rule(nil), cfg.Rules...), defaultRules...) {
		p := r.Path
		if !strings.HasPrefix(p, "/") && !strings.HasPrefix(p, "*") {
			return nil, fmt.Errorf("rule %q: the path must start with / (it is relative to base_path)", p)
		}
		if cfg.BasePath != "" && strings.HasPrefix(p, cfg.BasePath+"/") {
			return nil, fmt.Errorf("rule %q: the path is relative to base_path %s; leave the base path out", p, cfg.BasePath)
		}
		if _, err := path.Match(p, "/"); err != nil {
			return nil, fmt.Errorf("rule %q: %v", p, err)
		}
		if r.Window <= 0 || r.Max < 0 || r.Max > maxMax {
			return nil, fmt.Errorf("rule %q: needs a positive window and a max from 0 (no limit) to %d", p, maxMax)
		}
		l.rules = append(l.rules, rule{pattern: p, window: r.Window, max: r.Max})
	}
	if cfg.KeyCap < 0 {
		return nil, errors.New("the memory store's key cap must not be negative")
	}
	keyCap := cfg.KeyCap
	if keyCap == 0 {
		keyCap = defaultKeyCap
	}
	l.local = newMemoryStore(keyCap)
	if l.route == nil {
		l.route = func(string) string { return "" }
	}
	if l.now == nil {
		l.now = time.Now
	}
	if l.logger == nil {
		l.logger = zap.NewNop()
	}

	switch cfg.Storage {
	case "", "memory":
		l.store = l.local
	case "database":
		if cfg.Database == nil {
			return nil, errors.New("storage database: no database")
		}
		longest := l.general.window
		for _, r := range l.rules {
			longest = max(longest, r.window)
		}
		l.store = &dbStore{db: cfg.Database, longest: longest, logger: l.logger}
	default:
		return nil, fmt.Errorf("storage must be memory or database, got %q", cfg.Storage)
	}
	return l, nil
}

// Request counts a request from ip for path (relative to the base path)
// against the path's limit.
func (l *Limiter) Request(ctx context.Context, ip, path string) Decision {
	r := l.ruleFor(path)
	if r.max == 0 {
		return Decision{Allowed: true, Scope: ScopeIP}
	}
	d, _ := l.hit(ctx, ipKey(ip)+"|"+l.pathKey(path, r), r)
	d.Scope = ScopeIP
	return d
}

// SignIn counts a sign-in attempt from ip for the address whose digest is
// emailDigest, with the limit of path. The attempt is counted before the
// password is checked, so that concurrent guesses cannot all pass a check
// made before any of them failed; the caller calls forgive, which is never
// nil, when the attempt turns out to be anything but a wrong password (or
// an unknown address, which must look the same). The key is the address and
// the client together, so that wrong passwords sent from elsewhere never
// lock the owner out, while the sender's own address is still limited.
func (l *Limiter) SignIn(ctx context.Context, ip, path, emailDigest string) (d Decision, forgive func(context.Context)) {
	forgive = func(context.Context) {}
	r := l.ruleFor(path)
	if r.max == 0 {
		return Decision{Allowed: true, Scope: ScopeEmail}, forgive
	}
	key := emailKey(ip, emailDigest)
	d, st := l.hit(ctx, key, r)
	d.Scope = ScopeEmail
	if d.Allowed {
		forgive = func(ctx context.Context) {
			if err := st.undo(ctx, key, r.max); err != nil {
				l.warn(ctx, l.now(), err)
			}
		}
	}
	return d, forgive
}

// Token tells whether a raw bearer token from ip may be looked up, without
// counting anything: a raw token (no signature) is the one credential a
// client can make up without the secret, and each costs a database query,
// so a client whose raw tokens have missed too often within the window (see
// TokenMiss) is refused until the window has passed. The counters are this
// instance's, in memory, whatever the storage: each instance protects its
// own queries, and counting misses in the database would cost a query each.
func (l *Limiter) Token(ip string) Decision {
	allowed, retry := l.local.peek(tokenMissKey(ip), tokenMissWindow, tokenMissMax, l.now())
	return Decision{Allowed: allowed, RetryAfter: retry, Scope: ScopeToken}
}

// TokenMiss counts a raw bearer token from ip that found no valid session.
func (l *Limiter) TokenMiss(ip string) {
	_, _, _ = l.local.hit(context.Background(), tokenMissKey(ip), tokenMissWindow, tokenMissMax, l.now())
}

// tokenMissKey cannot meet a path key: those go on with / or ?.
func tokenMissKey(ip string) string { return ipKey(ip) + "|token-miss" }

// emailKey is the per-email key of a client; the address is only a digest
// here, so that neither store holds email addresses.
func emailKey(ip, emailDigest string) string { return ipKey(ip) + "|email:" + emailDigest }

// ruleFor returns the limit of a path: the first configured rule that
// matches it, else the first default rule, else the general limit.
func (l *Limiter) ruleFor(path string) rule {
	for _, r := range l.rules {
		if matchPath(r.pattern, path) {
			return r
		}
	}
	return l.general
}

// hit counts a request, and returns the store that counted it, for undo. A
// failing database store fails open to the instance's memory store: the
// request goes on (and will meet the same database failure in its handler,
// which answers 503), while the limits still hold per instance, instead of
// the limiter turning a database outage into a wall of 429s or 503s of its
// own.
func (l *Limiter) hit(ctx context.Context, key string, r rule) (Decision, limitStore) {
	t := l.now()
	allowed, retry, err := l.store.hit(ctx, key, r.window, r.max, t)
	if err == nil {
		return Decision{Allowed: allowed, RetryAfter: retry}, l.store
	}
	l.warn(ctx, t, err)
	allowed, retry, _ = l.local.hit(ctx, key, r.window, r.max, t)
	return Decision{Allowed: allowed, RetryAfter: retry}, l.local
}

// warn logs a failing database store, at most once per storeWarnInterval.
func (l *Limiter) warn(ctx context.Context, t time.Time, err error) {
	// A client that went away is no news about the database.
	if last := l.warnedAt.Load(); ctx.Err() == nil && t.UnixNano()-last >= int64(storeWarnInterval) && l.warnedAt.CompareAndSwap(last, t.UnixNano()) {
		l.logger.Warn("rate limit store failed: limiting per instance until it recovers", zap.Error(err))
	}
}

// ipKey is the client part of a key: the address, or its /64 for IPv6
// (one subscriber usually holds a whole /64), with IPv4-mapped IPv6
// addresses unmapped so that one client has one key.
func ipKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.WithZone("").Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// pathKey is the path part of a key: the name of the path's route, and for
// anything else one bucket per rule.
func (l *Limiter) pathKey(path string, r rule) string {
	if name := l.route(path); name != "" {
		return name
	}
	return "?" + r.pattern
}

// matchPath matches a rule pattern the way Caddy's path matcher reads one
// (`/x/*` prefix, `*.x` suffix, `*x*` substring, other wildcards as
// path.Match, else exact), but case-sensitively, as the API routes are.
func matchPath(pattern, p string) bool {
	n := strings.Count(pattern, "*")
	switch {
	case pattern == "*":
		return true
	case n == 0:
		return pattern == p
	case n == 1 && strings.HasSuffix(pattern, "*"):
		return strings.HasPrefix(p, pattern[:len(pattern)-1])
	case n == 1 && strings.HasPrefix(pattern, "*"):
		return strings.HasSuffix(p, pattern[1:])
	case n == 2 && len(pattern) > 2 && strings.HasPrefix(pattern, "*") && strings.HasSuffix(pattern, "*"):
		return strings.Contains(p, pattern[1:len(pattern)-1])
	}
	ok, _ := path.Match(pattern, p)
	return ok
}

package caddyauth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/authgate/authgate/caddyauth/internal/ratelimit"
)

// Rate limiting (internal/ratelimit decides, the gate answers) follows
// Better Auth's limiter: it runs for every request under base_path before
// routing, so an over-limit client gets 429 even where it would have got
// 404. The client IP is Caddy's, which honours the server's
// trusted_proxies, so a forwarded-for header from an untrusted peer is
// ignored.

const rateLimitMessage = "Too many requests. Please try again later."

// allowed is the decision when no limit applies.
var allowed = ratelimit.Decision{Allowed: true}

// routePaths are the paths of the API's routes, whatever the method: their
// requests are counted per path.
// Built on first use, after every file's init has added its routes.
var routePaths = sync.OnceValue(func() map[string]bool {
	m := make(map[string]bool, len(routes))
	for k := range routes {
		_, p, _ := strings.Cut(k, " ")
		m[p] = true
	}
	return m
})

// limitRoute names the route of a path for the limiter's keys: the path of
// a route, the route pattern for reset-password links (whose path holds a
// token), and "" for anything else.
func limitRoute(sub string) string {
	switch {
	case routePaths()[sub]:
		return sub
	case strings.HasPrefix(sub, resetCallbackPrefix):
		return resetCallbackPrefix + ":token"
	}
	return ""
}

// provisionRateLimit checks the rate_limit configuration, the one place
// that does, and builds the limiter; with `rate_limit off` there is none.
// It needs g.db and the keys.
func (g *Gate) provisionRateLimit() error {
	g.limiter = nil
	rl := g.RateLimit
	if rl == nil {
		rl = &RateLimit{}
	}
	if rl.Disabled {
		return nil
	}
	cfg := ratelimit.Config{
		Window:   time.Duration(rl.Window),
		Max:      rl.Max,
		Storage:  rl.Storage,
		BasePath: g.cfg.basePath,
		Route:    limitRoute,
		// Through the package's clock, so that tests that set it move the
		// limits' windows too.
		Now:    func() time.Time { return now() },
		Logger: g.logger,
	}
	if rl.Storage == "database" {
		cfg.Database = g.db.st
	}
	for _, r := range rl.Rules {
		cfg.Rules = append(cfg.Rules, ratelimit.Rule{Path: r.Path, Window: time.Duration(r.Window), Max: r.Max})
	}
	cfg.Rules = append(cfg.Rules, twoFactorRateRules()...)
	l, err := ratelimit.New(cfg)
	if err != nil {
		return fmt.Errorf("rate_limit: %w", err)
	}
	g.limiter = l
	return nil
}

// limitRequest applies the per-client limit to a request for sub (the path
// relative to base_path). A refusal is logged and counted; the caller
// answers it.
func (g *Gate) limitRequest(r *http.Request, sub string) ratelimit.Decision {
	if g.limiter == nil {
		return allowed
	}
	ip := clientIP(r)
	d := g.limiter.Request(r.Context(), ip, sub)
	if !d.Allowed {
		g.logRateLimited(d, ip, zap.String("path", sub))
	}
	return d
}

// limitSignIn applies the per-email limit of sign-in, after the body has
// been read; email is normalised. A refusal is logged, counted and audited;
// the caller answers it. Otherwise the caller signs in and hands the
// outcome to settle: only a wrong password (or an unknown address, which
// must look the same) stays counted.
func (g *Gate) limitSignIn(r *http.Request, email string) (_ ratelimit.Decision, settle func(*apiError)) {
	settle = func(*apiError) {}
	if g.limiter == nil {
		return allowed, settle
	}
	ip := clientIP(r)
	d, forgive := g.limiter.SignIn(r.Context(), ip, strings.TrimPrefix(r.URL.Path, g.cfg.basePath), g.emailDigest(email))
	if !d.Allowed {
		// The address is not logged: the log must not tell an attacker's
		// targets to whoever reads it, and the client IP identifies the
		// event well enough.
		g.logRateLimited(d, ip)
		g.signInRefused(r, reasonRateLimited, "")
		return d, settle
	}
	return d, func(e *apiError) {
		if e == errInvalidEmailOrPassword {
			return
		}
		// After the request's work, and not ending with the request: a
		// client that hangs up after a successful sign-in must not leave it
		// counted as a failure.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), lookupTimeout)
		defer cancel()
		forgive(ctx)
	}
}

// emailDigest stands for an address in the limiter's keys, so that the
// memory store and the database table hold no email addresses.
func (g *Gate) emailDigest(email string) string {
	var key []byte
	if len(g.cfg.keys) > 0 {
		key = g.cfg.keys[0]
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("auth_gate rate limit email\x00"))
	mac.Write([]byte(email))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:18])
}

// rateLimitedBy names the limits in log entries.
var rateLimitedBy = [len(ratelimit.Scopes)]string{
	ratelimit.ScopeIP:    "client_ip",
	ratelimit.ScopeEmail: "email",
	ratelimit.ScopeToken: "token_misses",
}

// logRateLimited logs and counts a refusal, the same for every limit.
func (g *Gate) logRateLimited(d ratelimit.Decision, ip string, extra ...zap.Field) {
	rateLimited[d.Scope].Inc()
	fields := append([]zap.Field{zap.String("by", rateLimitedBy[d.Scope]), zap.String("client_ip", ip)}, extra...)
	g.logger.Info("rate limited", append(fields, zap.Duration("retry_after", d.RetryAfter))...)
}

// setRetryAfter sends the wait in whole seconds, rounded up: in
// X-Retry-After as Better Auth does, and in Retry-After for HTTP clients
// that know only the standard header.
func setRetryAfter(h http.Header, retry time.Duration) {
	secs := int64((retry + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	v := strconv.FormatInt(secs, 10)
	h.Set("X-Retry-After", v)
	h.Set("Retry-After", v)
}

// writeRateLimited is Better Auth's 429.
func writeRateLimited(w http.ResponseWriter, d ratelimit.Decision) {
	setRetryAfter(w.Header(), d.RetryAfter)
	writeJSON(w, http.StatusTooManyRequests, struct {
		Message string `json:"message"`
	}{rateLimitMessage})
}

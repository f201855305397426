package caddyauth

import (
	"fmt"
	"math/bits"
	"net/http"
	"path"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

// Roles and access rules (SPEC §11): the role of Better Auth's admin plugin
// goes to the app as X-User-Role, and `require` rules refuse signed-in users
// who lack a role, or a verified email, on the paths they name.

// RequireRule is one access rule: a signed-in request whose path matches
// one of Paths passes only when the user has one of Roles (when Roles is
// set) and a verified email (when EmailVerified is set). Rules are checked
// in order and the first whose paths match decides; a request no rule
// matches passes.
type RequireRule struct {
	// Paths are path patterns, matched as `public` patterns are (Caddy's
	// path matcher, on the cleaned, decoded path).
	Paths []string `json:"paths"`
	// Roles: the user needs at least one of them. A user without a role
	// has the role `user`, as in Better Auth.
	Roles []string `json:"roles,omitempty"`
	// EmailVerified: the user's email must be verified.
	EmailVerified bool `json:"email_verified,omitempty"`
}

// defaultUserRole is the role of a user whose role column is empty or
// missing: Better Auth's admin plugin's defaultRole.
const defaultUserRole = "user"

// effectiveRole is the comma list that X-User-Role carries for a stored
// role.
func effectiveRole(stored string) string {
	if strings.TrimSpace(stored) == "" {
		return defaultUserRole
	}
	return stored
}

// splitRoles is the roles of a comma list, trimmed, without empty ones.
func splitRoles(list string) []string {
	var out []string
	for r := range strings.SplitSeq(list, ",") {
		if r = strings.TrimSpace(r); r != "" {
			out = append(out, r)
		}
	}
	return out
}

// hasAnyRole reports whether one of have is in want.
func hasAnyRole(have, want []string) bool {
	for _, h := range have {
		for _, w := range want {
			if h == w {
				return true
			}
		}
	}
	return false
}

// accessRules are the provisioned RequireRules. Their patterns, in rule
// order, are indexed by the byte that follows a path's leading slash: a
// pattern with a literal second byte can only match paths that have it.
// Most requests match no rule, and the index tells so with one lookup
// instead of trying every pattern.
// needRoles reports whether some rule asks for a role.
func (rs *accessRules) needRoles() bool {
	for _, r := range rs.list {
		if len(r.roles) > 0 {
			return true
		}
	}
	return false
}

type accessRules struct {
	list []accessRule
	pats []indexedPattern
	// byKey[k]: bit i set when pats[i] may match a path whose key (see
	// pathKey) is k. Used when there are at most 64 patterns.
	byKey   [256]uint64
	indexed bool
}

type indexedPattern struct {
	pathPattern
	rule int
}

// pathKey is the byte after the leading slash of a cleaned path, 0 for a
// path that has none ("/").
func pathKey(clean string) byte {
	if len(clean) < 2 {
		return 0
	}
	return clean[1]
}

// key returns the only key a path matching pp can have, or false when
// pp may match paths of several keys.
func (pp *pathPattern) key() (byte, bool) {
	switch pp.kind {
	case patternExact, patternPrefix, patternGlob:
	default:
		return 0, false
	}
	s := pp.s
	switch {
	case pp.kind == patternExact && s == "/":
		return 0, true
	case len(s) < 2 || s[0] != '/' || strings.IndexByte(`*?[\`, s[1]) >= 0:
		return 0, false
	}
	return s[1], true
}

// index builds byKey.
func (rs *accessRules) index() {
	if len(rs.pats) > 64 {
		return
	}
	rs.indexed = true
	for i := range rs.pats {
		bit := uint64(1) << i
		if k, ok := rs.pats[i].key(); ok {
			rs.byKey[k] |= bit
			continue
		}
		for k := range rs.byKey {
			rs.byKey[k] |= bit
		}
	}
}

type accessRule struct {
	patterns      []pathPattern
	roles         []string
	emailVerified bool
}

// pathPattern is one pattern of Caddy's path matcher, compiled so that a
// request's path is cleaned once for all rules rather than once per
// pattern, as caddyhttp.MatchPath does: with ten rules that is most of
// their cost. The matching itself is MatchPath's, case by case (see
// matchPathPattern); patterns whose matching depends on the request in
// other ways (placeholders, escapes, doubled slashes) are left to
// MatchPath itself.
type pathPattern struct {
	kind     patternKind
	s        string
	fallback caddyhttp.MatchPath
}

type patternKind uint8

const (
	patternAll patternKind = iota
	patternExact
	patternGlob
	patternPrefix
	patternSuffix
	patternSubstring
	patternCaddy
)

func compilePathPattern(p string) (pathPattern, error) {
	if strings.ContainsAny(p, "{%") || strings.Contains(p, "//") {
		m := caddyhttp.MatchPath{p}
		if err := m.Provision(caddy.Context{}); err != nil {
			return pathPattern{}, err
		}
		return pathPattern{kind: patternCaddy, fallback: m}, nil
	}
	p = strings.ToLower(p) // MatchPath.Provision does the same
	stars := strings.Count(p, "*")
	switch {
	case p == "*":
		return pathPattern{kind: patternAll}, nil
	case stars == 2 && strings.HasPrefix(p, "*") && strings.HasSuffix(p, "*"):
		return pathPattern{kind: patternSubstring, s: p[1 : len(p)-1]}, nil
	case stars == 1 && strings.HasPrefix(p, "*"):
		return pathPattern{kind: patternSuffix, s: p[1:]}, nil
	case stars == 1 && strings.HasSuffix(p, "*"):
		return pathPattern{kind: patternPrefix, s: p[:len(p)-1]}, nil
	}
	if _, err := path.Match(p, ""); err != nil {
		return pathPattern{}, fmt.Errorf("bad pattern %q: %w", p, err)
	}
	if strings.ContainsAny(p, `*?[\`) {
		return pathPattern{kind: patternGlob, s: p}, nil
	}
	return pathPattern{kind: patternExact, s: p}, nil
}

// match reports whether the pattern matches r, whose path cleaned as
// MatchPath cleans it is clean.
func (pp *pathPattern) match(r *http.Request, clean string) bool {
	switch pp.kind {
	case patternAll:
		return true
	case patternExact:
		return clean == pp.s
	case patternPrefix:
		return strings.HasPrefix(clean, pp.s)
	case patternSuffix:
		return strings.HasSuffix(clean, pp.s)
	case patternSubstring:
		return strings.Contains(clean, pp.s)
	case patternGlob:
		ok, _ := path.Match(pp.s, clean)
		return ok
	}
	return pp.fallback.Match(r)
}

// matchPath is the request path as MatchPath compares it with a pattern
// that has no placeholder, escape or doubled slash: lower-cased, dot
// segments resolved, slashes merged, a trailing slash kept. One scan finds
// whether any of that is needed; the usual path needs none, and costs no
// allocation and no path.Clean.
func matchPath(r *http.Request) string {
	p := r.URL.Path
	upper, unclean := false, p == "" || p[0] != '/'
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case 'A' <= c && c <= 'Z':
			upper = true
		case c == '/' && i+1 < len(p) && (p[i+1] == '/' || p[i+1] == '.'):
			unclean = true
		}
	}
	if upper {
		p = strings.ToLower(p)
	}
	if unclean {
		p = caddyhttp.CleanPath(p, true)
	}
	return p
}

// provisionRequire compiles the Require rules.
func (g *Gate) provisionRequire() error {
	for i, rr := range g.Require {
		if len(rr.Paths) == 0 {
			return fmt.Errorf("require: rule %d names no path", i+1)
		}
		if len(rr.Roles) == 0 && !rr.EmailVerified {
			return fmt.Errorf("require: rule %d (%s) has no condition: give roles or email_verified", i+1, strings.Join(rr.Paths, " "))
		}
		rule := accessRule{emailVerified: rr.EmailVerified}
		for _, role := range rr.Roles {
			if role = strings.TrimSpace(role); role == "" || strings.Contains(role, ",") {
				return fmt.Errorf("require: rule %d: %q is not a role name", i+1, role)
			}
			rule.roles = append(rule.roles, role)
		}
		for _, p := range rr.Paths {
			pp, err := compilePathPattern(p)
			if err != nil {
				return fmt.Errorf("require: rule %d: %w", i+1, err)
			}
			rule.patterns = append(rule.patterns, pp)
		}
		if g.rules == nil {
			g.rules = new(accessRules)
		}
		g.rules.list = append(g.rules.list, rule)
	}
	if g.rules != nil {
		for i := range g.rules.list {
			for _, pp := range g.rules.list[i].patterns {
				g.rules.pats = append(g.rules.pats, indexedPattern{pp, i})
			}
		}
		g.rules.index()
	}
	return nil
}

// match returns the first rule whose paths match r, and its index; nil
// when none does.
func (rs *accessRules) match(r *http.Request) (*accessRule, int) {
	clean := matchPath(r)
	if rs.indexed {
		for m := rs.byKey[pathKey(clean)]; m != 0; m &= m - 1 {
			p := &rs.pats[bits.TrailingZeros64(m)]
			if p.match(r, clean) {
				return &rs.list[p.rule], p.rule
			}
		}
		return nil, -1
	}
	for i := range rs.pats {
		if p := &rs.pats[i]; p.match(r, clean) {
			return &rs.list[p.rule], p.rule
		}
	}
	return nil, -1
}

// denial says why a rule refuses res; "" when it lets it through.
func (rule *accessRule) denial(res *authResult) string {
	if len(rule.roles) > 0 && !hasAnyRole(res.ident.roles, rule.roles) {
		return reasonRole
	}
	if rule.emailVerified && !res.user.EmailVerified {
		return reasonUnverified
	}
	return ""
}

// refuseByRule answers a signed-in request that the require rules refuse,
// and reports whether it did. It reads only the identity at hand, which
// the session cache holds: no query. A public path is open to everyone,
// signed in or not, so no rule applies to it: a signed-in user is never
// refused what an anonymous one gets.
func (g *Gate) refuseByRule(w http.ResponseWriter, r *http.Request, res *authResult) bool {
	rule, i := g.rules.match(r)
	if rule == nil {
		return false
	}
	reason := rule.denial(res)
	if reason == "" || g.public != nil && g.public.Match(r) {
		return false
	}
	g.auditFailure(r, eventAccessDenied, reason, res.user.ID, res.session.ID,
		zap.Int("rule", i+1), zap.String("path", r.URL.Path))
	if res.refreshed {
		// The session was extended in the database: the browser's cookie
		// should say so, refused or not.
		g.setSessionCookie(w, r, res.session.Token, false)
	}
	if isBrowserNavigation(r) {
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(forbiddenPage))
		return true
	}
	writeAPIError(w, errForbidden)
	return true
}

var errForbidden = newAPIError(http.StatusForbidden, "FORBIDDEN", "You are not allowed to access this resource")

// forbiddenPage is the answer to a refused browser navigation. It names
// nothing of the user or the rule.
const forbiddenPage = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Forbidden</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 32rem; margin: 4rem auto; padding: 0 1rem">
<h1>Forbidden</h1>
<p>You are signed in, but your account does not have access to this page.</p>
</body>
</html>
`

// Audit vocabulary of this file.
const (
	eventAccessDenied = "access"
	reasonRole        = "role"
)

// unmarshalRequire parses one rule:
//
//	require <path-pattern...> role <role...>
//	require <path-pattern...> email_verified
//	require <path-pattern...> role <role...> email_verified
//
// Path patterns start with / or *; a user passes `role` with any one of the
// roles named.
func (g *Gate) unmarshalRequire(d *caddyfile.Dispenser) error {
	var rule RequireRule
	args := d.RemainingArgs()
	i := 0
	for ; i < len(args) && args[i] != "role" && args[i] != "email_verified"; i++ {
		if !strings.HasPrefix(args[i], "/") && !strings.HasPrefix(args[i], "*") {
			return d.Errf("require: %q is neither a path pattern (starting with / or *) nor role or email_verified", args[i])
		}
		rule.Paths = append(rule.Paths, args[i])
	}
	if len(rule.Paths) == 0 {
		return d.Errf("require: expects path patterns, then role <role...> or email_verified")
	}
	if i == len(args) {
		return d.Errf("require: %s: expects a condition after the paths: role <role...> or email_verified", strings.Join(rule.Paths, " "))
	}
	for ; i < len(args); i++ {
		switch args[i] {
		case "email_verified":
			rule.EmailVerified = true
		case "role":
			n := len(rule.Roles)
			for i+1 < len(args) && args[i+1] != "email_verified" && args[i+1] != "role" {
				i++
				rule.Roles = append(rule.Roles, args[i])
			}
			if len(rule.Roles) == n {
				return d.Errf("require: role expects at least one role name")
			}
		default:
			return d.Errf("require: unexpected %q after the condition", args[i])
		}
	}
	g.Require = append(g.Require, rule)
	return nil
}

package caddyauth

import (
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
)

// originPattern is one trusted_origins entry: an exact origin, or a host
// pattern with `*` wildcards, with or without a scheme.
type originPattern struct {
	scheme string // "" matches http and https
	host   string // lower-cased; may contain '*' (any run of characters) and '?'
	exact  bool   // no wildcard: compare strings
}

func parseOriginPattern(s string) (originPattern, error) {
	s = strings.TrimRight(strings.TrimSpace(s), "/")
	var p originPattern
	rest := s
	if i := strings.Index(s, "://"); i >= 0 {
		p.scheme = strings.ToLower(s[:i])
		rest = s[i+3:]
		if p.scheme != "http" && p.scheme != "https" {
			return p, fmt.Errorf("%q: only http and https origins are supported", s)
		}
	}
	if rest == "" || strings.ContainsAny(rest, "/?#@ ") {
		return p, fmt.Errorf("%q is not an origin (scheme://host[:port]) or host pattern", s)
	}
	p.host = strings.ToLower(rest)
	p.exact = !strings.ContainsAny(p.host, "*?")
	if p.exact && p.scheme == "" {
		return p, fmt.Errorf("%q: an exact origin needs its scheme, e.g. https://%s", s, rest)
	}
	return p, nil
}

// matches reports whether origin (scheme://host[:port]) fits the pattern.
func (p originPattern) matches(scheme, host string) bool {
	if p.scheme != "" && p.scheme != scheme {
		return false
	}
	if p.exact {
		return p.host == host
	}
	ok, err := path.Match(p.host, host)
	if err == nil && ok {
		return true
	}
	// path.Match's '*' stops at '/', which hosts never contain, but it also
	// does not let "*.example.com" match "a.b.example.com"; Better Auth's
	// wildcard does, so fall back to a suffix test for the common form.
	if strings.HasPrefix(p.host, "*.") && !strings.ContainsAny(p.host[2:], "*?") {
		return strings.HasSuffix(host, p.host[1:])
	}
	return false
}

// requestOrigin is the site's own scheme and host: base_url's when set, the
// request's otherwise.
func (g *Gate) requestOrigin(r *http.Request) (scheme, host string) {
	if u := g.cfg.baseURL; u != nil {
		return u.Scheme, strings.ToLower(u.Host)
	}
	scheme = "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme, strings.ToLower(r.Host)
}

// trustedOrigin reports whether origin (as sent in an Origin header, or the
// origin of an absolute URL) is the site's own or a trusted one.
func (g *Gate) trustedOrigin(r *http.Request, origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil {
		return false
	}
	scheme, host := strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	if ownScheme, ownHost := g.requestOrigin(r); scheme == ownScheme && host == ownHost {
		return true
	}
	for _, p := range g.cfg.trusted {
		if p.matches(scheme, host) {
			return true
		}
	}
	return false
}

// safeRelativePath is Better Auth's rule for relative redirect targets
// (isSafeRelativeURL): one leading slash, no backslash, no control
// character (C0, DEL or C1), and no encoded slash or backslash in the path,
// which a browser or framework might decode into "//host". The query and
// fragment may hold encoded slashes ("/login?next=%2Fhome"): they cannot
// change where the path leads.
func safeRelativePath(s string) bool {
	if !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") || strings.ContainsRune(s, '\\') || hasControl(s) {
		return false
	}
	p := s
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	lower := strings.ToLower(p)
	return !strings.Contains(lower, "%2f") && !strings.Contains(lower, "%5c")
}

// hasControl reports whether s holds a C0 control, DEL or a C1 control
// (U+0080-U+009F), the characters Better Auth refuses in redirect targets:
// browsers drop tabs and line breaks from URLs, so "/\t/evil.com" would
// become "//evil.com".
func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) {
			return true
		}
	}
	return false
}

// validRedirect reports whether a callbackURL / redirectTo / redirect value
// is a safe relative path or an absolute URL on a trusted origin.
func (g *Gate) validRedirect(r *http.Request, s string) bool {
	if safeRelativePath(s) {
		return true
	}
	if hasControl(s) || strings.ContainsRune(s, '\\') {
		return false
	}
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() || u.Opaque != "" {
		return false
	}
	return g.trustedOrigin(r, u.Scheme+"://"+u.Host)
}

// checkLoginURL accepts a relative path or an absolute http(s) URL.
func checkLoginURL(s string) error {
	if safeRelativePath(s) {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("must be a path such as /login or an absolute http(s) URL, got %q", s)
	}
	return nil
}

// checkOrigin applies Better Auth's CSRF rule to a state-changing request
// that carries cookies: its Origin (or, without one, its Referer) must be
// the site's own or trusted. It returns the error to answer with, or nil
// when the request may proceed.
func (g *Gate) checkOrigin(r *http.Request) *apiError {
	origin := r.Header.Get("Origin")
	// Browsers send "null" for some same-origin requests (a redirect chain,
	// a sandboxed document); fetch metadata vouches for those.
	if origin == "null" && r.Header.Get("Sec-Fetch-Site") == "same-origin" {
		return nil
	}
	if origin == "" {
		origin = r.Header.Get("Referer")
	}
	if origin == "" || origin == "null" {
		return errMissingOrigin
	}
	// A Referer is a full URL; only its scheme and host count. One without
	// a host ("/page") names no origin that could be trusted.
	if !g.trustedOrigin(r, origin) {
		return errInvalidOrigin
	}
	return nil
}

// checkFormCSRF is Better Auth's formCsrfMiddleware for sign-in and sign-up,
// which browsers may reach with a plain cross-site form post that carries no
// cookie: fetch metadata, when present, must show a same-site or trusted
// request.
func (g *Gate) checkFormCSRF(r *http.Request) *apiError {
	if r.Header.Get("Cookie") != "" {
		return g.checkOrigin(r)
	}
	site, mode, dest := r.Header.Get("Sec-Fetch-Site"), r.Header.Get("Sec-Fetch-Mode"), r.Header.Get("Sec-Fetch-Dest")
	if site != "" || mode != "" || dest != "" {
		if site == "cross-site" && mode == "navigate" {
			return errCrossSiteNavigation
		}
		return g.checkOrigin(r)
	}
	if r.Header.Get("Origin") != "" || r.Header.Get("Referer") != "" {
		return g.checkOrigin(r)
	}
	return nil
}

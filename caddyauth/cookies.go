package caddyauth

import (
	"net/http"
	"strconv"
	"strings"
)

// Cookie names are Better Auth's: "<prefix>.<base>", with "__Secure-" in
// front on HTTPS sites (bases: session_token, session_data, dont_remember).
// Better Auth reads only the exact name it would write, so a plain cookie
// sent to an HTTPS site is ignored, and so it is here.
const (
	cookiePrefix       = "better-auth"
	secureCookiePrefix = "__Secure-"
)

// cookieName returns the full name of the cookie with the given base name.
// The names read on every request come back as constants, without allocating.
func cookieName(base string, secure bool) string {
	switch base {
	case "session_token":
		if secure {
			return secureCookiePrefix + cookiePrefix + ".session_token"
		}
		return cookiePrefix + ".session_token"
	case "session_data":
		if secure {
			return secureCookiePrefix + cookiePrefix + ".session_data"
		}
		return cookiePrefix + ".session_data"
	case "dont_remember":
		if secure {
			return secureCookiePrefix + cookiePrefix + ".dont_remember"
		}
		return cookiePrefix + ".dont_remember"
	}
	if secure {
		return secureCookiePrefix + cookiePrefix + "." + base
	}
	return cookiePrefix + "." + base
}

// readCookie returns the value of the first cookie called name in the
// request's Cookie header lines, in order, with surrounding whitespace and
// double quotes removed: Better Auth's parser, where the first occurrence of
// a name wins. It scans in place instead of using net/http's parser, which
// allocates every cookie of the header on every gated request. Pairs without
// '=' and empty pairs are skipped.
func readCookie(h http.Header, name string) (string, bool) {
	for _, line := range h["Cookie"] {
		for len(line) > 0 {
			var pair string
			if i := strings.IndexByte(line, ';'); i >= 0 {
				pair, line = line[:i], line[i+1:]
			} else {
				pair, line = line, ""
			}
			eq := strings.IndexByte(pair, '=')
			if eq < 0 || trimCookieOWS(pair[:eq]) != name {
				continue
			}
			v := trimCookieOWS(pair[eq+1:])
			if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			return v, true
		}
	}
	return "", false
}

// trimCookieOWS trims spaces and tabs, the whitespace HTTP allows around cookie pairs.
func trimCookieOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// setCookie adds a Set-Cookie header with Better Auth's attributes, in its
// order: "name=value; Max-Age=N; Path=/; HttpOnly; Secure; SameSite=Lax".
// value goes out as it is, so it must already be cookie-safe
// (bacodec.SignCookie, bacodec.EncodeURIComponent). maxAge < 0 leaves out Max-Age, making a browser-session
// cookie; 0 emits Max-Age=0, which deletes the cookie (see expireCookie).
// Secure is set only when secure, which is also when the name has the
// __Secure- prefix that browsers refuse without it.
func setCookie(w http.Header, name, value string, maxAge int, secure bool) {
	var b strings.Builder
	b.Grow(len(name) + len(value) + 64)
	b.WriteString(name)
	b.WriteByte('=')
	b.WriteString(value)
	if maxAge >= 0 {
		b.WriteString("; Max-Age=")
		b.WriteString(strconv.Itoa(maxAge))
	}
	b.WriteString("; Path=/; HttpOnly")
	if secure {
		b.WriteString("; Secure")
	}
	b.WriteString("; SameSite=Lax")
	w.Add("Set-Cookie", b.String())
}

// expireCookie adds a Set-Cookie header that deletes the cookie, the way
// Better Auth does: empty value, Max-Age=0, the same other attributes.
func expireCookie(w http.Header, name string, secure bool) {
	setCookie(w, name, "", 0, secure)
}

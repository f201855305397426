package caddyauth

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Cookie names are Better Auth's: "<prefix>.<base>", with "__Secure-" in
// front on HTTPS sites (bases: session_token, session_data, dont_remember).
// Better Auth reads only the exact name it would write, so a plain cookie
// sent to an HTTPS site is ignored, and so it is here.
const (
	cookiePrefix       = "better-auth"
	secureCookiePrefix = "__Secure-"
)

// cookieSignatureLen is the length of a base64 HMAC-SHA256 with its padding;
// Better Auth's getSignedCookie rejects any other length before verifying.
const cookieSignatureLen = 44

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

// signCookieValue returns value + "." + the standard base64 (padded) of
// HMAC-SHA256(key, value): better-call's signCookieValue, before URL-encoding.
// This is also the form of Better Auth's set-auth-token header.
func signCookieValue(key []byte, value string) string {
	sum := cookieMAC(key, value)
	var sig [cookieSignatureLen]byte
	base64.StdEncoding.Encode(sig[:], sum[:])
	return value + "." + string(sig[:])
}

// cookieMAC is HMAC-SHA256(key, value) (RFC 2104), written out over
// sha256.Sum256 with stack buffers: crypto/hmac allocates its state and
// buffers (seven allocations, about half the cost of a verification), and
// this runs for every gated request. Tests check it against crypto/hmac.
func cookieMAC(key []byte, value string) [sha256.Size]byte {
	const blockSize = sha256.BlockSize
	var k [blockSize]byte
	if len(key) > blockSize {
		sum := sha256.Sum256(key)
		copy(k[:], sum[:])
	} else {
		copy(k[:], key)
	}

	var stack [blockSize + 128]byte
	inner := stack[:]
	if len(value) > len(stack)-blockSize {
		inner = make([]byte, blockSize+len(value))
	}
	for i, c := range k {
		inner[i] = c ^ 0x36
	}
	n := copy(inner[blockSize:], value)
	innerSum := sha256.Sum256(inner[:blockSize+n])

	var outer [blockSize + sha256.Size]byte
	for i, c := range k {
		outer[i] = c ^ 0x5c
	}
	copy(outer[blockSize:], innerSum[:])
	return sha256.Sum256(outer[:])
}

// encodeCookieValue is JavaScript's encodeURIComponent, which Better Auth
// applies to every cookie value: bytes other than A-Z a-z 0-9 - _ . ! ~ * ' ( )
// become %XX (upper-case hex) of their UTF-8 encoding.
func encodeCookieValue(s string) string {
	return percentEncode(s, func(c byte) bool { return !uriUnreserved(c) })
}

// percentEncode writes every byte for which escape is true as %XX
// (upper-case hex), and returns s itself when nothing needs escaping.
func percentEncode(s string, escape func(byte) bool) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if escape(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !escape(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(percentHexDigits[c>>4])
		b.WriteByte(percentHexDigits[c&0xf])
	}
	return b.String()
}

const percentHexDigits = "0123456789ABCDEF"

// uriUnreserved reports whether encodeURIComponent leaves c as it is.
func uriUnreserved(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '-', '_', '.', '!', '~', '*', '\'', '(', ')':
		return true
	}
	return false
}

// verifySignedValue is better-call's getSignedCookie over a raw cookie value
// (or bearer token): it returns the signed value when raw is
// "<value>.<signature>", URL-encoded or not, and the signature is the HMAC of
// value under one of keys (the first key signs; older ones still verify
// during a rotation). The signature may use either base64 alphabet, as
// Better Auth's bearer path accepts both, but must be 44 characters ending
// in "=" like Better Auth requires.
//
// This runs on every gated request, so it does not allocate for a usual
// value (one up to 128 bytes whose only escapes are in the signature): it
// decodes into stack buffers and returns a substring of raw.
func verifySignedValue(keys [][]byte, raw string) (string, bool) {
	var stack [128]byte
	decoded := stack[:0]
	pct := strings.IndexByte(raw, '%')
	if pct >= 0 {
		var ok bool
		if decoded, ok = appendURIDecoded(decoded, raw); !ok {
			return "", false
		}
	} else {
		decoded = append(decoded, raw...)
	}

	dot := bytes.LastIndexByte(decoded, '.')
	// An empty value (dot at 0) is refused, as better-call does.
	if dot < 1 || len(decoded)-dot-1 != cookieSignatureLen || decoded[len(decoded)-1] != '=' {
		return "", false
	}
	var sig [sha256.Size]byte
	if !decodeSignature(&sig, decoded[dot+1:]) {
		return "", false
	}

	// Before the first '%' raw and decoded are the same bytes, so when the
	// value ends before it the value is a substring of raw.
	var value string
	if pct < 0 || pct >= dot {
		value = raw[:dot]
	} else {
		value = string(decoded[:dot])
	}
	for _, key := range keys {
		sum := cookieMAC(key, value)
		if hmac.Equal(sum[:], sig[:]) {
			return value, true
		}
	}
	return "", false
}

var strictBase64 = base64.StdEncoding.Strict()

// decodeSignature decodes a 44-character padded base64 signature in either
// alphabet (mixed ones too: the HMAC decides) into dst. Strict decoding turns
// away encodings with stray low bits, so each MAC has one accepted form per
// alphabet.
func decodeSignature(dst *[sha256.Size]byte, src []byte) bool {
	if len(src) != cookieSignatureLen {
		return false
	}
	var std [cookieSignatureLen]byte
	for i, c := range src {
		switch c {
		case '-':
			c = '+'
		case '_':
			c = '/'
		}
		std[i] = c
	}
	n, err := strictBase64.Decode(dst[:], std[:])
	return err == nil && n == sha256.Size
}

// appendURIDecoded appends JavaScript's decodeURIComponent(s) to dst. Like
// it, it fails on a '%' not followed by two hex digits and on escapes that
// decode to invalid UTF-8.
func appendURIDecoded(dst []byte, s string) ([]byte, bool) {
	start := len(dst)
	escaped := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			dst = append(dst, c)
			continue
		}
		if i+2 >= len(s) {
			return dst, false
		}
		hi, ok1 := fromHexDigit(s[i+1])
		lo, ok2 := fromHexDigit(s[i+2])
		if !ok1 || !ok2 {
			return dst, false
		}
		dst = append(dst, hi<<4|lo)
		escaped = true
		i += 2
	}
	if escaped && !utf8.Valid(dst[start:]) {
		return dst, false
	}
	return dst, true
}

func fromHexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
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
// (encodeCookieValue). maxAge < 0 leaves out Max-Age, making a browser-session
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

package bacodec

import (
	"strings"
	"unicode/utf8"
)

// EncodeURIComponent is JavaScript's encodeURIComponent, which Better Auth
// applies to every cookie value and to the callbackURL of its emailed links:
// bytes other than A-Z a-z 0-9 - _ . ! ~ * ' ( ) become %XX (upper-case hex)
// of their UTF-8 encoding.
func EncodeURIComponent(s string) string {
	return PercentEncode(s, func(c byte) bool { return !uriUnreserved(c) })
}

// PercentEncode writes every byte for which escape is true as %XX
// (upper-case hex), and returns s itself when nothing needs escaping.
func PercentEncode(s string, escape func(byte) bool) string {
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
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&0xf])
	}
	return b.String()
}

const hexDigits = "0123456789ABCDEF"

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

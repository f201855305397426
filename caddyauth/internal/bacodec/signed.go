package bacodec

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// signatureLen is the length of a base64 HMAC-SHA256 with its padding;
// Better Auth's getSignedCookie rejects any other length before verifying.
const signatureLen = 44

// Sign returns value + "." + the standard base64 (padded) of
// HMAC-SHA256(key, value): better-call's signCookieValue, before
// URL-encoding. This is also the form of Better Auth's set-auth-token header.
func Sign(key []byte, value string) string {
	sum := mac(key, value)
	var sig [signatureLen]byte
	base64.StdEncoding.Encode(sig[:], sum[:])
	return value + "." + string(sig[:])
}

// SignCookie is the value of a signed cookie as Better Auth writes it: Sign,
// then EncodeURIComponent.
func SignCookie(key []byte, value string) string {
	return EncodeURIComponent(Sign(key, value))
}

// dontRemember is the value Better Auth signs into its dont_remember cookie,
// which marks a session started with rememberMe false.
const dontRemember = "true"

// DontRememberCookie is the value of the dont_remember cookie.
func DontRememberCookie(key []byte) string { return SignCookie(key, dontRemember) }

// IsDontRemember reports whether raw, a dont_remember cookie's value, is
// validly signed by one of keys. A forged one counts as absent, as in
// Better Auth.
func IsDontRemember(keys [][]byte, raw string) bool {
	v, ok := Verify(keys, raw)
	return ok && v == dontRemember
}

// mac is HMAC-SHA256(key, value) (RFC 2104), written out over sha256.Sum256
// with stack buffers: crypto/hmac allocates its state and buffers (seven
// allocations, about half the cost of a verification), and this runs for
// every gated request. Tests check it against crypto/hmac.
func mac(key []byte, value string) [sha256.Size]byte {
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

// Verify is better-call's getSignedCookie over a raw cookie value (or bearer
// token): it returns the signed value when raw is "<value>.<signature>",
// URL-encoded or not, and the signature is the HMAC of value under one of
// keys. The signature may use either base64 alphabet, as Better Auth's bearer
// path accepts both, but must be 44 characters ending in "=" like Better
// Auth requires. Signatures are compared in constant time.
//
// This runs on every gated request, so it does not allocate for a usual
// value (one up to 128 bytes whose only escapes are in the signature): it
// decodes into stack buffers and returns a substring of raw.
func Verify(keys [][]byte, raw string) (string, bool) {
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
	if dot < 1 || len(decoded)-dot-1 != signatureLen || decoded[len(decoded)-1] != '=' {
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
		sum := mac(key, value)
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
	if len(src) != signatureLen {
		return false
	}
	var std [signatureLen]byte
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

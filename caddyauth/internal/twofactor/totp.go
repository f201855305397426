package twofactor

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base32"
	"encoding/binary"
	"strings"
	"time"

	"github.com/authgate/authgate/caddyauth/internal/bacodec"
)

// Better Auth's TOTP parameters (its defaults, which the plugin keeps).
const (
	Digits = 6
	Period = 30 * time.Second
	// window is the number of steps accepted either side of now.
	window = 1
)

// base32Prefix marks a secret imported from another provider: Better Auth
// keys the HMAC with its base32 decoding instead of the string's bytes.
const base32Prefix = "base32:"

// Key returns the HMAC key for a decrypted stored secret: its UTF-8 bytes,
// or for "base32:<secret>" the decoded bytes, as Better Auth's
// decryptTOTPSecret. ok is false for a base32 secret that does not decode.
func Key(secret string) (key []byte, ok bool) {
	if !strings.HasPrefix(secret, base32Prefix) {
		return []byte(secret), true
	}
	s := strings.ToUpper(secret[len(base32Prefix):])
	if i := strings.IndexByte(s, '='); i >= 0 {
		s = s[:i] // Better Auth's decoder stops at the first '='
	}
	k, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s)
	if err != nil {
		return nil, false
	}
	return k, true
}

// hotp is RFC 4226 with Better Auth's digits.
func hotp(key []byte, counter uint64) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], counter)
	m := hmac.New(sha1.New, key)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0xf
	v := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	const mod = 1_000_000
	code := v % mod
	var out [Digits]byte
	for i := Digits - 1; i >= 0; i-- {
		out[i] = byte('0' + code%10)
		code /= 10
	}
	return string(out[:])
}

func counter(t time.Time) int64 {
	return t.UnixMilli() / Period.Milliseconds()
}

// Code returns the TOTP code for key at t.
func Code(key []byte, t time.Time) string { return hotp(key, uint64(counter(t))) }

// Verify reports whether code is key's TOTP at now or one step either side,
// and which step matched (for callers that refuse a step twice). Every step
// is computed and compared in constant time, as Better Auth does, so the
// time taken says nothing about which part of the code was right.
func Verify(key []byte, code string, now time.Time) (step int64, ok bool) {
	c := counter(now)
	for i := int64(-window); i <= window; i++ {
		if c+i < 0 {
			continue
		}
		if hmac.Equal([]byte(code), []byte(hotp(key, uint64(c+i)))) && !ok {
			step, ok = c+i, true
		}
	}
	return step, ok
}

// URI is the otpauth:// URI Better Auth's createOTP(secret).url(issuer,
// account) returns: issuer and account in the label as encodeURIComponent,
// the query as URLSearchParams serialises it (space as '+'), the secret the
// unpadded base32 of the secret string's bytes.
func URI(issuer, account, secret string) string {
	return "otpauth://totp/" + bacodec.EncodeURIComponent(issuer) + ":" + bacodec.EncodeURIComponent(account) +
		"?secret=" + base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString([]byte(secret)) +
		"&issuer=" + formEncode(issuer) + "&digits=6&period=30"
}

// formEncode is the application/x-www-form-urlencoded serializer of the
// URL standard, which URLSearchParams uses: A-Z a-z 0-9 * - . _ kept, space
// as '+', every other byte as %XX.
func formEncode(s string) string {
	e := bacodec.PercentEncode(s, func(c byte) bool {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
			return false
		}
		switch c {
		case '*', '-', '.', '_', ' ':
			return false
		}
		return true
	})
	return strings.ReplaceAll(e, " ", "+")
}

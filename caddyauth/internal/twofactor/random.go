package twofactor

import (
	"crypto/rand"
	"strings"
)

// Better Auth's alphabets, in its order: generateRandomString defaults to
// a-z 0-9 A-Z -_, backup codes use a-z 0-9 A-Z.
const (
	secretAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-_"
	codeAlphabet   = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
)

// randomString is @better-auth/utils' createRandomStringGenerator: bytes at
// or above the largest multiple of the alphabet's length are dropped, so
// every character is equally likely.
func randomString(n int, alphabet string) string {
	maxValid := 256 / len(alphabet) * len(alphabet)
	var b strings.Builder
	b.Grow(n)
	buf := make([]byte, 2*n)
	for b.Len() < n {
		if _, err := rand.Read(buf); err != nil {
			panic("twofactor: crypto/rand failed: " + err.Error()) // cannot happen on supported platforms (Go 1.24+ never returns an error)
		}
		for _, c := range buf {
			if int(c) < maxValid && b.Len() < n {
				b.WriteByte(alphabet[int(c)%len(alphabet)])
			}
		}
	}
	return b.String()
}

// NewSecret returns a TOTP secret as Better Auth's /two-factor/enable makes
// it: 32 characters of a-z 0-9 A-Z - _. The authenticator is keyed with
// these characters' bytes.
func NewSecret() string { return randomString(32, secretAlphabet) }

// RandomID returns n characters of Better Auth's default alphabet, for the
// identifiers of the two-factor challenge ("2fa-" + 20) and of a trusted
// device ("trust-device-" + 32).
func RandomID(n int) string { return randomString(n, secretAlphabet) }

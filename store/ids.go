package store

import "crypto/rand"

// idAlphabet is Better Auth's id alphabet: [A-Za-z0-9].
const idAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// idLength is the length of Better Auth's ids and session tokens.
const idLength = 32

// NewID returns 32 characters from [A-Za-z0-9] drawn from crypto/rand, the
// format Better Auth uses for ids and session tokens.
func NewID() string { return RandomString(idLength) }

// RandomString returns n characters from [A-Za-z0-9] drawn from crypto/rand
// (Better Auth's generateId(n); password-reset tokens use n = 24).
//
// Bytes of 248 and above are rejected: 248 is the largest multiple of 62
// below 256, so byte % 62 is uniform over the alphabet (no modulo bias).
func RandomString(n int) string {
	out := make([]byte, 0, n)
	buf := make([]byte, n+n/2) // the margin usually covers rejections in one read
	for len(out) < n {
		_, _ = rand.Read(buf) // never fails: crypto/rand aborts the program instead
		for _, b := range buf {
			if b >= 248 {
				continue
			}
			out = append(out, idAlphabet[b%62])
			if len(out) == n {
				break
			}
		}
	}
	return string(out)
}

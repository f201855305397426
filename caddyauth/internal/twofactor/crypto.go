package twofactor

import (
	"github.com/authgate/authgate/caddyauth/internal/bacrypt"
)

// ErrDecrypt is returned when no configured secret opens a ciphertext.
var ErrDecrypt = bacrypt.ErrDecrypt

// Encrypt is Better Auth's symmetricEncrypt with a single secret (bacrypt).
func Encrypt(secret, plaintext string) (string, error) {
	return bacrypt.Encrypt([]byte(secret), plaintext)
}

// Decrypt is Better Auth's symmetricDecrypt, trying each secret in turn so
// that values written before a secret rotation still open (bacrypt).
func Decrypt(secrets []string, data string) (string, error) {
	keys := make([][]byte, len(secrets))
	for i, s := range secrets {
		keys[i] = []byte(s)
	}
	return bacrypt.Decrypt(keys, data)
}

package twofactor

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/chacha20poly1305"
)

// envelopePrefix marks Better Auth's versioned ciphertext, "$ba$<version>$<hex>",
// written when it runs with BETTER_AUTH_SECRETS.
const envelopePrefix = "$ba$"

// ErrDecrypt is returned when no configured secret opens a ciphertext.
var ErrDecrypt = errors.New("twofactor: no secret decrypts the value")

// Encrypt is Better Auth's symmetricEncrypt with a single secret: bare hex,
// which Better Auth reads back whether it runs with BETTER_AUTH_SECRET or
// (as its legacy secret) with BETTER_AUTH_SECRETS.
func Encrypt(secret, plaintext string) (string, error) {
	aead, err := cipherFor(secret)
	if err != nil {
		return "", err
	}
	// noble's managedNonce prepends a random 24-byte nonce to the sealed box.
	out := make([]byte, chacha20poly1305.NonceSizeX, chacha20poly1305.NonceSizeX+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(out); err != nil {
		return "", fmt.Errorf("twofactor: nonce: %w", err)
	}
	out = aead.Seal(out, out, []byte(plaintext), nil)
	return hex.EncodeToString(out), nil
}

// Decrypt is Better Auth's symmetricDecrypt, trying each secret in turn so
// that values written before a secret rotation still open. An envelope's
// version number is ignored: ours are not numbered, and the AEAD tag tells
// the right secret from a wrong one.
func Decrypt(secrets []string, data string) (string, error) {
	if strings.HasPrefix(data, envelopePrefix) {
		i := strings.IndexByte(data[len(envelopePrefix):], '$')
		if i < 0 {
			return "", ErrDecrypt
		}
		data = data[len(envelopePrefix)+i+1:]
	}
	raw, err := hex.DecodeString(data)
	if err != nil || len(raw) < chacha20poly1305.NonceSizeX+chacha20poly1305.Overhead {
		return "", ErrDecrypt
	}
	nonce, sealed := raw[:chacha20poly1305.NonceSizeX], raw[chacha20poly1305.NonceSizeX:]
	for _, s := range secrets {
		aead, err := cipherFor(s)
		if err != nil {
			return "", err
		}
		if plain, err := aead.Open(nil, nonce, sealed, nil); err == nil {
			return string(plain), nil
		}
	}
	return "", ErrDecrypt
}

func cipherFor(secret string) (interface {
	Seal(dst, nonce, plaintext, additionalData []byte) []byte
	Open(dst, nonce, ciphertext, additionalData []byte) ([]byte, error)
	Overhead() int
}, error) {
	key := sha256.Sum256([]byte(secret))
	aead, err := chacha20poly1305.NewX(key[:])
	if err != nil {
		return nil, fmt.Errorf("twofactor: cipher: %w", err)
	}
	return aead, nil
}

// Package bacrypt is Better Auth's symmetricEncrypt and symmetricDecrypt
// (better-auth dist/crypto): XChaCha20-Poly1305 keyed with SHA-256 of the
// secret, a random 24-byte nonce prepended to the sealed box, all as
// lower-case hex. Better Auth stores two-factor secrets, backup codes and
// the jwt plugin's private keys this way, so values either server writes
// open on the other with the same secret.
package bacrypt

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/chacha20poly1305"
)

// envelopePrefix marks Better Auth's versioned ciphertext,
// "$ba$<version>$<hex>", written when it runs with BETTER_AUTH_SECRETS.
const envelopePrefix = "$ba$"

// ErrDecrypt is returned when no secret opens a value.
var ErrDecrypt = errors.New("no configured secret decrypts the value")

// Encrypt seals plaintext with secret as bare hex, which Better Auth reads
// back whether it runs with BETTER_AUTH_SECRET or (as its legacy secret)
// with BETTER_AUTH_SECRETS.
func Encrypt(secret []byte, plaintext string) (string, error) {
	k := sha256.Sum256(secret)
	aead, err := chacha20poly1305.NewX(k[:])
	if err != nil {
		return "", fmt.Errorf("bacrypt: %w", err)
	}
	// noble's managedNonce: the nonce goes first, then the sealed box.
	out := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(out); err != nil {
		return "", fmt.Errorf("bacrypt: nonce: %w", err)
	}
	return hex.EncodeToString(aead.Seal(out, out, []byte(plaintext), nil)), nil
}

// Decrypt opens data with each secret in turn, so that values written
// before a secret rotation still open. An envelope's version number is
// ignored: our secrets are not numbered, and the AEAD tag tells the right
// secret from a wrong one.
func Decrypt(secrets [][]byte, data string) (string, error) {
	if rest, ok := strings.CutPrefix(data, envelopePrefix); ok {
		_, ct, ok := strings.Cut(rest, "$")
		if !ok {
			return "", ErrDecrypt
		}
		data = ct
	}
	raw, err := hex.DecodeString(data)
	if err != nil || len(raw) < chacha20poly1305.NonceSizeX+chacha20poly1305.Overhead {
		return "", ErrDecrypt
	}
	nonce, sealed := raw[:chacha20poly1305.NonceSizeX], raw[chacha20poly1305.NonceSizeX:]
	for _, s := range secrets {
		k := sha256.Sum256(s)
		aead, err := chacha20poly1305.NewX(k[:])
		if err != nil {
			return "", fmt.Errorf("bacrypt: %w", err)
		}
		if plain, err := aead.Open(nil, nonce, sealed, nil); err == nil {
			return string(plain), nil
		}
	}
	return "", ErrDecrypt
}

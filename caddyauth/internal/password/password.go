// Package password hashes and verifies passwords as Better Auth does, and
// runs that work on a bounded pool so that a burst of sign-ins can take
// neither every CPU nor unbounded memory.
//
// A hash is "<salt>:<keyHex>": scrypt (N=16384, r=16, p=1, 64-byte key)
// over the NFKC form of the password, with the salt's 32 hex characters
// themselves, not their decoded bytes, as scrypt's salt.
package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/scrypt"
	"golang.org/x/text/unicode/norm"
)

// Better Auth's scrypt parameters (@better-auth/utils password.node.mjs).
// Changing any of them makes every stored hash unverifiable.
const (
	scryptN         = 16384
	scryptR         = 16
	scryptP         = 1
	scryptKeyLen    = 64
	scryptSaltBytes = 16
)

// MemoryPerRun is the working memory one scrypt run holds, 128·r·N bytes
// (32 MiB): a pool of n workers holds about n times this while busy.
const MemoryPerRun = 128 * scryptR * scryptN

// ErrMalformedHash is the error of a stored hash that is not
// "<salt>:<128 hex characters>". Such a hash can never match; the errors
// wrapping it say what is wrong without quoting the hash.
var ErrMalformedHash = errors.New("invalid password hash")

// Hash hashes pw the way Better Auth does. It costs one full scrypt run
// (about 32 MiB of memory and tens of milliseconds of CPU) outside any
// pool: request handlers use Pool.Hash instead.
func Hash(pw string) (string, error) {
	var raw [scryptSaltBytes]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("password salt: %w", err)
	}
	salt := hex.EncodeToString(raw[:])
	key, err := deriveKey(pw, salt)
	if err != nil {
		return "", err
	}
	return salt + ":" + hex.EncodeToString(key), nil
}

// verify reports whether pw matches stored. A malformed hash is an error
// wrapping ErrMalformedHash, not a mismatch.
func verify(stored, pw string) (bool, error) {
	salt, want, err := parseHash(stored)
	if err != nil {
		return false, err
	}
	got, err := deriveKey(pw, salt)
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// parseHash splits a stored hash into its salt and decoded key. Better
// Auth uses the salt only as a string, so any non-empty salt is taken as
// it is; the key must be exactly scryptKeyLen bytes of hex.
func parseHash(stored string) (salt string, key []byte, err error) {
	salt, keyHex, ok := strings.Cut(stored, ":")
	switch {
	case !ok:
		return "", nil, fmt.Errorf("%w: no ':' separator", ErrMalformedHash)
	case salt == "":
		return "", nil, fmt.Errorf("%w: empty salt", ErrMalformedHash)
	case keyHex == "":
		return "", nil, fmt.Errorf("%w: empty key", ErrMalformedHash)
	case len(keyHex) != 2*scryptKeyLen:
		return "", nil, fmt.Errorf("%w: key has %d hex characters, want %d", ErrMalformedHash, len(keyHex), 2*scryptKeyLen)
	}
	key, err = hex.DecodeString(keyHex)
	if err != nil {
		return "", nil, fmt.Errorf("%w: key is not hex", ErrMalformedHash)
	}
	return salt, key, nil
}

// deriveKey runs scrypt over the NFKC form of pw. The salt is used as the
// ASCII bytes of its string form, as Better Auth does, not hex-decoded.
//
// scrypt.Key allocates its 32 MiB of working memory on every run. A copy of
// its core that reused that memory from a sync.Pool was measured against it
// and dropped: over 20 interleaved runs of each on 2 CPUs it saved 1 % of
// CPU time per hash with one hash at a time and 4 % with every CPU hashing,
// neither significant (p = 0.30 and 0.08), and no wall-time difference
// at all. What allocating does cost is memory: a burst of sign-ins on 2
// CPUs peaks at about 165 MiB of heap instead of 75 MiB, as the garbage of
// finished runs waits for the collector.
func deriveKey(pw, salt string) ([]byte, error) {
	key, err := scrypt.Key([]byte(norm.NFKC.String(pw)), []byte(salt), scryptN, scryptR, scryptP, scryptKeyLen)
	if err != nil {
		return nil, fmt.Errorf("scrypt: %w", err)
	}
	return key, nil
}

// Better Auth's default password lengths, in Length's units: the handler
// applies them unless configured otherwise, and so does an admin command
// that creates a user without a config to read them from.
const (
	DefaultMinLength = 8
	DefaultMaxLength = 128
)

// Length counts pw in UTF-16 code units, as JavaScript's String.length
// does: Better Auth's minimum and maximum lengths are in those units, so a
// character outside the BMP (an emoji) counts 2.
func Length(pw string) int {
	n := 0
	for _, r := range pw {
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}

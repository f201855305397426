// Package formtoken issues and checks the hidden token of the built-in
// pages' forms: signed and encrypted with gorilla/securecookie, bound to the
// path the form posts to, and valid for a limited time. A cross-site form
// cannot carry one, so a post without a valid token did not come from a
// page this site served recently.
//
// No Better Auth wire format binds these tokens: they never leave the
// pages, so they use securecookie rather than Better Auth's signed values.
package formtoken

import (
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/gorilla/securecookie"
)

var (
	// ErrInvalid is a token that is missing, forged, or for another form.
	ErrInvalid = errors.New("invalid form token")
	// ErrExpired is a genuine token older than the codec's lifetime.
	ErrExpired = errors.New("expired form token")
)

// The HKDF info strings: the form-token keys are derived from the main
// secret, and each use of it gets a key of its own.
const (
	hashInfo  = "auth_gate form token v1 hash"
	blockInfo = "auth_gate form token v1 block"
)

// Codec issues tokens with the first secret's keys and checks them with
// every secret's, so that forms served before a rotation still post.
type Codec struct {
	codecs   []securecookie.Codec
	lifetime time.Duration
}

// New returns a codec whose keys are derived from secrets (the first is
// current) and whose tokens live for lifetime.
func New(secrets [][]byte, lifetime time.Duration) (*Codec, error) {
	if len(secrets) == 0 {
		return nil, errors.New("form tokens: no secret")
	}
	c := &Codec{lifetime: lifetime}
	for _, s := range secrets {
		k := deriveKeys(s)
		// The issue time is checked by Check against the caller's clock;
		// securecookie's own check would use the wall clock.
		sc := securecookie.New(k.hash, k.block).MaxAge(0).SetSerializer(securecookie.JSONEncoder{})
		c.codecs = append(c.codecs, sc)
	}
	return c, nil
}

type keys struct{ hash, block []byte }

// deriveKeys derives a 32-byte HMAC key and a 32-byte AES-256 key from
// secret with HKDF-SHA256.
func deriveKeys(secret []byte) keys {
	return keys{hash: derive(secret, hashInfo), block: derive(secret, blockInfo)}
}

func derive(secret []byte, info string) []byte {
	// hkdf.Key fails only when asked for more than 255 hashes' worth.
	k, _ := hkdf.Key(sha256.New, secret, nil, info, 32)
	return k
}

// Issue returns a token for the form that posts to form, issued at at.
func (c *Codec) Issue(form string, at time.Time) (string, error) {
	tok, err := c.codecs[0].Encode(form, at.Unix())
	if err != nil {
		return "", fmt.Errorf("issue form token: %w", err)
	}
	return tok, nil
}

// Check reports whether token was issued for form by one of the codec's
// secrets, no longer than the lifetime before at.
func (c *Codec) Check(form, token string, at time.Time) error {
	if token == "" {
		return ErrInvalid
	}
	var issued int64
	if securecookie.DecodeMulti(form, token, &issued, c.codecs...) != nil {
		return ErrInvalid
	}
	// Whole seconds, as the token holds its issue time.
	if at.Unix()-issued > int64(c.lifetime/time.Second) {
		return ErrExpired
	}
	return nil
}

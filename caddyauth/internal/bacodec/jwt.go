package bacodec

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Email-verification tokens are Better Auth's: an HS256 JWT keyed with the
// secret's bytes, header exactly {"alg":"HS256"}, claims in the order below.
// Being stateless, a token Better Auth issued verifies here and the other
// way round.

var (
	// ErrInvalidToken is a token that is malformed, not signed by one of
	// the keys, or not yet valid: Better Auth's INVALID_TOKEN.
	ErrInvalidToken = errors.New("invalid token")
	// ErrExpiredToken is a validly signed token past its exp: Better
	// Auth's TOKEN_EXPIRED.
	ErrExpiredToken = errors.New("token expired")
)

// EmailClaims are the claims of an email-verification token. Change-email
// tokens carry UpdateTo and RequestType.
type EmailClaims struct {
	Email       string `json:"email"`
	UpdateTo    string `json:"updateTo,omitempty"`
	RequestType string `json:"requestType,omitempty"`
	UserID      string `json:"userId,omitempty"`
	IssuedAt    int64  `json:"iat"`
	ExpiresAt   int64  `json:"exp"`
}

// maxTokenLen bounds the work an unauthenticated token can cause; Better
// Auth's tokens are about 300 characters.
const maxTokenLen = 4096

var hs256 = []jose.SignatureAlgorithm{jose.HS256}

// SignEmailToken returns the token for c, signed with key. The payload is
// c marshalled in field order, as Better Auth's jose.SignJWT writes it; go-jose's
// claims builder would sort the keys.
func SignEmailToken(key []byte, c EmailClaims) (string, error) {
	payload, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("email token claims: %w", err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: hmacKey(key)}, nil)
	if err != nil {
		return "", fmt.Errorf("email token signer: %w", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign email token: %w", err)
	}
	return jws.CompactSerialize()
}

// VerifyEmailToken checks token against every key and its times at at, as
// jose's jwtVerify does for Better Auth, except that exp is required: a
// token without one would verify forever, and every token this module or
// Better Auth signs carries one.
//
// The time checks are written here rather than left to go-jose's
// Claims.Validate, whose boundaries differ from jose's by a second (jose
// counts a token as expired when exp equals now) and which would also
// refuse an iat in the future, which jose accepts.
func VerifyEmailToken(keys [][]byte, token string, at time.Time) (EmailClaims, error) {
	if len(token) > maxTokenLen {
		return EmailClaims{}, ErrInvalidToken
	}
	tok, err := jwt.ParseSigned(token, hs256)
	if err != nil || len(tok.Headers) != 1 {
		return EmailClaims{}, ErrInvalidToken
	}
	// jose's jwtVerify refuses any crit extension and an unencoded
	// payload (b64), both of which go-jose can accept.
	h := tok.Headers[0].ExtraHeaders
	if _, ok := h["crit"]; ok {
		return EmailClaims{}, ErrInvalidToken
	}
	if _, ok := h["b64"]; ok {
		return EmailClaims{}, ErrInvalidToken
	}

	var claims struct {
		EmailClaims
		NotBefore *int64 `json:"nbf"`
	}
	verified := false
	for _, key := range keys {
		if tok.Claims(hmacKey(key), &claims) == nil {
			verified = true
			break
		}
	}
	if !verified {
		return EmailClaims{}, ErrInvalidToken
	}
	c, sec := claims.EmailClaims, at.Unix()
	if claims.NotBefore != nil && *claims.NotBefore > sec {
		return c, ErrInvalidToken
	}
	if c.ExpiresAt == 0 {
		return c, ErrInvalidToken
	}
	if c.ExpiresAt <= sec {
		return c, ErrExpiredToken
	}
	return c, nil
}

// hmacKey returns a key go-jose accepts for HS256 with the same HMAC as
// key. go-jose refuses keys under 32 bytes, while Better Auth only warns
// about a short secret; HMAC pads keys up to the hash's block size with
// zero bytes (RFC 2104), so key padded with zeros to 32 bytes gives the
// same MAC.
func hmacKey(key []byte) []byte {
	const min = 32
	if len(key) >= min {
		return key
	}
	padded := make([]byte, min)
	copy(padded, key)
	return padded
}

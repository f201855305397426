package caddyauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// Email-verification tokens are Better Auth's: an HS256 JWT keyed with the
// secret's bytes, header exactly {"alg":"HS256"}, claims {email, userId, iat,
// exp}. Being stateless, a token Better Auth issued verifies here and the
// other way round.

var (
	errJWTInvalid = errors.New("invalid token")
	errJWTExpired = errors.New("token expired")
)

// verificationClaims are the claims of an email-verification token.
type verificationClaims struct {
	Email       string `json:"email"`
	UpdateTo    string `json:"updateTo,omitempty"`
	RequestType string `json:"requestType,omitempty"`
	UserID      string `json:"userId,omitempty"`
	IssuedAt    int64  `json:"iat"`
	ExpiresAt   int64  `json:"exp"`
}

const jwtHeader = `{"alg":"HS256"}`

func signJWT(key []byte, claims verificationClaims) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString([]byte(jwtHeader)) + "." + enc.EncodeToString(payload)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(signing))
	return signing + "." + enc.EncodeToString(mac.Sum(nil)), nil
}

// verifyJWT checks an HS256 token against every key (rotation) and its
// expiry, as jose's jwtVerify does for Better Auth, except that exp is
// required.
func verifyJWT(keys [][]byte, token string, at time.Time) (verificationClaims, error) {
	var c verificationClaims
	parts := strings.Split(token, ".")
	if len(parts) != 3 || len(token) > 4096 {
		return c, errJWTInvalid
	}
	enc := base64.RawURLEncoding
	header, err := enc.DecodeString(parts[0])
	if err != nil {
		return c, errJWTInvalid
	}
	var h struct {
		Alg  string   `json:"alg"`
		Crit []string `json:"crit"`
	}
	if json.Unmarshal(header, &h) != nil || h.Alg != "HS256" || len(h.Crit) > 0 {
		return c, errJWTInvalid
	}
	sig, err := enc.DecodeString(parts[2])
	if err != nil {
		return c, errJWTInvalid
	}
	signing := token[:len(parts[0])+1+len(parts[1])]
	valid := false
	for _, k := range keys {
		mac := hmac.New(sha256.New, k)
		mac.Write([]byte(signing))
		if hmac.Equal(mac.Sum(nil), sig) {
			valid = true
			break
		}
	}
	if !valid {
		return c, errJWTInvalid
	}
	payload, err := enc.DecodeString(parts[1])
	if err != nil {
		return c, errJWTInvalid
	}
	var raw struct {
		verificationClaims
		NotBefore *int64 `json:"nbf"`
	}
	if json.Unmarshal(payload, &raw) != nil {
		return c, errJWTInvalid
	}
	c = raw.verificationClaims
	sec := at.Unix()
	if raw.NotBefore != nil && *raw.NotBefore > sec {
		return c, errJWTInvalid
	}
	// A token without exp would verify forever: every token this module or
	// Better Auth signs carries one, so a token without is not ours.
	if c.ExpiresAt == 0 {
		return c, errJWTInvalid
	}
	if c.ExpiresAt <= sec {
		return c, errJWTExpired
	}
	return c, nil
}

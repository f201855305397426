package bacodec

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

// Email-verification tokens captured from Better Auth 1.7.25 with probeKey.
const (
	probeVerifyToken = "eyJhbGciOiJIUzI1NiJ9.eyJlbWFpbCI6ImFsaWNlQGV4YW1wbGUuY29tIiwidXNlcklkIjoibUJPVUg3aGFFcWNsYlo3Y1lRQnJkaHdCR25yYzZVVXgiLCJpYXQiOjE3OTU3MjEwMTYsImV4cCI6MTc5NTcyNDYxNn0.JWxR3SHq54h8SIYzggQQW95J3bL7BOZw4Yw25m9OtOc"
	probeChangeToken = "eyJhbGciOiJIUzI1NiJ9.eyJlbWFpbCI6ImFsaWNlQGV4YW1wbGUuY29tIiwidXBkYXRlVG8iOiJhbGljZS5uZXdAZXhhbXBsZS5jb20iLCJyZXF1ZXN0VHlwZSI6ImNoYW5nZS1lbWFpbC12ZXJpZmljYXRpb24iLCJ1c2VySWQiOiJtQk9VSDdoYUVxY2xiWjdjWVFCcmRod0JHbnJjNlVVeCIsImlhdCI6MTc5NTcyMTAxNywiZXhwIjoxNzk1NzI0NjE3fQ.L5v4LTH0a09xV70oKVMF9UqD9H0gUJBhEGmJbHBRw2A"
)

var (
	probeVerifyClaims = EmailClaims{Email: "alice@example.com", UserID: "mBOUH7haEqclbZ7cYQBrdhwBGnrc6UUx", IssuedAt: 1795721016, ExpiresAt: 1795724616}
	probeChangeClaims = EmailClaims{Email: "alice@example.com", UpdateTo: "alice.new@example.com", RequestType: "change-email-verification",
		UserID: "mBOUH7haEqclbZ7cYQBrdhwBGnrc6UUx", IssuedAt: 1795721017, ExpiresAt: 1795724617}
)

func TestSignEmailToken_IsBetterAuthsTokenByteForByte(t *testing.T) {
	for _, tc := range []struct {
		claims EmailClaims
		want   string
	}{
		{probeVerifyClaims, probeVerifyToken},
		{probeChangeClaims, probeChangeToken},
	} {
		got, err := SignEmailToken(probeKey, tc.claims)
		if err != nil || got != tc.want {
			t.Errorf("SignEmailToken(%+v):\n got %s, %v\nwant %s", tc.claims, got, err, tc.want)
		}
	}
}

func TestVerifyEmailToken_AcceptsBetterAuthsTokens(t *testing.T) {
	at := time.Unix(1795721100, 0)
	for _, tc := range []struct {
		token string
		want  EmailClaims
	}{
		{probeVerifyToken, probeVerifyClaims},
		{probeChangeToken, probeChangeClaims},
	} {
		got, err := VerifyEmailToken([][]byte{[]byte(strings.Repeat("n", 32)), probeKey}, tc.token, at)
		if err != nil || got != tc.want {
			t.Errorf("VerifyEmailToken = %+v, %v; want %+v", got, err, tc.want)
		}
	}
}

// A secret shorter than 32 bytes is allowed (Better Auth only warns), but
// go-jose refuses HS256 keys under 256 bits; the token must still be the
// HMAC under the secret itself.
func TestEmailToken_ShortSecret(t *testing.T) {
	for _, key := range [][]byte{[]byte("short"), []byte(strings.Repeat("s", 31)), {}} {
		tok, err := SignEmailToken(key, probeVerifyClaims)
		if err != nil {
			t.Fatalf("%d-byte key: %v", len(key), err)
		}
		i := strings.LastIndexByte(tok, '.')
		m := hmac.New(sha256.New, key)
		m.Write([]byte(tok[:i]))
		if want := base64.RawURLEncoding.EncodeToString(m.Sum(nil)); tok[i+1:] != want {
			t.Errorf("%d-byte key: signature %s, want HMAC %s", len(key), tok[i+1:], want)
		}
		if _, err := VerifyEmailToken([][]byte{key}, tok, time.Unix(1795721100, 0)); err != nil {
			t.Errorf("%d-byte key: own token does not verify: %v", len(key), err)
		}
		if _, err := VerifyEmailToken([][]byte{[]byte("other")}, tok, time.Unix(1795721100, 0)); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%d-byte key: verifies under another short key: %v", len(key), err)
		}
	}
}

// handToken builds a token with any header and payload, signed with key.
func handToken(key []byte, header, payload string) string {
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	m := hmac.New(sha256.New, key)
	m.Write([]byte(signing))
	return signing + "." + enc.EncodeToString(m.Sum(nil))
}

func TestVerifyEmailToken(t *testing.T) {
	key := probeKey
	at := time.Unix(1_700_000_000, 0)
	sec := at.Unix()
	claims := func(extra string) string {
		return `{"email":"a@example.com","iat":1699990000` + extra + `}`
	}
	valid := claims(`,"exp":1700003600`)
	signed := func(c EmailClaims) string {
		tok, err := SignEmailToken(key, c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	for _, tc := range []struct {
		name  string
		token string
		want  error
	}{
		{"valid", handToken(key, `{"alg":"HS256"}`, valid), nil},
		{"valid with typ", handToken(key, `{"alg":"HS256","typ":"JWT"}`, valid), nil},
		{"nbf in the past", handToken(key, `{"alg":"HS256"}`, claims(`,"exp":1700003600,"nbf":1699999999`)), nil},
		{"nbf now", handToken(key, `{"alg":"HS256"}`, claims(`,"exp":1700003600,"nbf":1700000000`)), nil},
		{"expires in a second", signed(EmailClaims{Email: "a@example.com", IssuedAt: sec, ExpiresAt: sec + 1}), nil},

		{"no exp", signed(EmailClaims{Email: "a@example.com", IssuedAt: sec}), ErrInvalidToken},
		{"expired", signed(EmailClaims{Email: "a@example.com", IssuedAt: sec - 7200, ExpiresAt: sec - 1}), ErrExpiredToken},
		{"exp now is expired, as in jose", signed(EmailClaims{Email: "a@example.com", IssuedAt: sec - 7200, ExpiresAt: sec}), ErrExpiredToken},
		{"nbf in the future", handToken(key, `{"alg":"HS256"}`, claims(`,"exp":1700003600,"nbf":1700000001`)), ErrInvalidToken},
		{"wrong key", handToken([]byte(strings.Repeat("n", 32)), `{"alg":"HS256"}`, valid), ErrInvalidToken},
		{"alg none", strings.Join(strings.Split(handToken(key, `{"alg":"none"}`, valid), ".")[:2], ".") + ".", ErrInvalidToken},
		{"alg HS512", handToken(key, `{"alg":"HS512"}`, valid), ErrInvalidToken},
		{"alg hs256", handToken(key, `{"alg":"hs256"}`, valid), ErrInvalidToken},
		{"no alg", handToken(key, `{}`, valid), ErrInvalidToken},
		{"crit", handToken(key, `{"alg":"HS256","crit":["exp"]}`, valid), ErrInvalidToken},
		{"crit b64", handToken(key, `{"alg":"HS256","crit":["b64"],"b64":true}`, valid), ErrInvalidToken},
		{"b64 false", handToken(key, `{"alg":"HS256","b64":false}`, valid), ErrInvalidToken},
		{"tampered payload", func() string {
			p := strings.Split(handToken(key, `{"alg":"HS256"}`, valid), ".")
			p[1] = base64.RawURLEncoding.EncodeToString([]byte(claims(`,"exp":1800000000`)))
			return strings.Join(p, ".")
		}(), ErrInvalidToken},
		{"payload not JSON", handToken(key, `{"alg":"HS256"}`, `not json`), ErrInvalidToken},
		{"exp not a number", handToken(key, `{"alg":"HS256"}`, claims(`,"exp":"1700003600"`)), ErrInvalidToken},
		{"two parts", "eyJhbGciOiJIUzI1NiJ9.e30", ErrInvalidToken},
		{"four parts", handToken(key, `{"alg":"HS256"}`, valid) + ".x", ErrInvalidToken},
		{"padded base64", strings.Replace(handToken(key, `{"alg":"HS256"}`, valid), ".", "=.", 1), ErrInvalidToken},
		{"too long", handToken(key, `{"alg":"HS256"}`, claims(`,"exp":1700003600,"pad":"`+strings.Repeat("p", 4096)+`"`)), ErrInvalidToken},
		{"empty", "", ErrInvalidToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := VerifyEmailToken([][]byte{key}, tc.token, at); err != tc.want {
				t.Errorf("VerifyEmailToken: %v, want %v", err, tc.want)
			}
		})
	}
}

func TestVerifyEmailToken_NoKeys(t *testing.T) {
	if _, err := VerifyEmailToken(nil, probeVerifyToken, time.Unix(1795721100, 0)); err != ErrInvalidToken {
		t.Errorf("without keys: %v", err)
	}
}

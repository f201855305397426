package twofactor

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// TrustToken is the first half of Better Auth's trust_device cookie value,
// base64url (unpadded) of HMAC-SHA256(secret, "<userID>!<identifier>"),
// which binds the verification row's identifier to the user.
func TrustToken(secret, userID, identifier string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(userID + "!" + identifier))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// TrustCookieValue is the (unsigned) trust_device cookie value.
func TrustCookieValue(secret, userID, identifier string) string {
	return TrustToken(secret, userID, identifier) + "!" + identifier
}

// CheckTrust splits a trust_device value and checks its token for userID
// against each secret. It returns the verification identifier the caller
// must still find, unexpired and holding userID.
func CheckTrust(secrets []string, userID, value string) (identifier string, ok bool) {
	token, id, found := strings.Cut(value, "!")
	if !found || token == "" || id == "" || strings.Contains(id, "!") {
		return "", false
	}
	for _, s := range secrets {
		if hmac.Equal([]byte(token), []byte(TrustToken(s, userID, id))) {
			return id, true
		}
	}
	return "", false
}

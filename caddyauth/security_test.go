package caddyauth

import (
	"net/http"
	"testing"
	"time"
)

// Verification tokens without exp would be valid forever.
func TestVerifyJWT_RequiresExp(t *testing.T) {
	key := []byte(testSecret)
	at := time.Unix(1_700_000_000, 0)
	for _, tc := range []struct {
		name   string
		claims verificationClaims
		want   error
	}{
		{"no exp", verificationClaims{Email: "a@example.com", IssuedAt: at.Unix()}, errJWTInvalid},
		{"expired", verificationClaims{Email: "a@example.com", IssuedAt: at.Unix() - 7200, ExpiresAt: at.Unix() - 1}, errJWTExpired},
		{"valid", verificationClaims{Email: "a@example.com", IssuedAt: at.Unix(), ExpiresAt: at.Unix() + 3600}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := signJWT(key, tc.claims)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := verifyJWT([][]byte{key}, tok, at); err != tc.want {
				t.Errorf("verify: %v, want %v", err, tc.want)
			}
		})
	}
}

func TestMarkPrivate(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want string
	}{
		{nil, "private"},
		{[]string{"public, max-age=600"}, "private, max-age=600"},
		{[]string{"max-age=60", "must-revalidate"}, "private, max-age=60, must-revalidate"},
		{[]string{"Public,s-maxage=10"}, "private, s-maxage=10"},
		{[]string{"no-store"}, "no-store"},
		{[]string{"NO-STORE, max-age=0"}, "NO-STORE, max-age=0"},
		{[]string{"private=\"Set-Cookie\""}, "private=\"Set-Cookie\""},
		{[]string{"max-age=5, private"}, "max-age=5, private"},
	} {
		h := http.Header{}
		for _, v := range tc.in {
			h.Add("Cache-Control", v)
		}
		markPrivate(h)
		if got := h.Values("Cache-Control"); len(got) != 1 || got[0] != tc.want {
			t.Errorf("%q: got %q, want %q", tc.in, got, tc.want)
		}
	}
}

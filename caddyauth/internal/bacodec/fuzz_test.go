package bacodec

import (
	"crypto/hmac"
	"crypto/sha256"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzVerify checks that Verify never panics, that whatever it accepts
// carries the HMAC of the value it returns, and that any value signed and
// encoded the Better Auth way verifies back to itself.
func FuzzVerify(f *testing.F) {
	for _, raw := range []string{
		probeTokenWire, probeDontRemember, probeSecureWire,
		Sign(probeKey, probeToken),
		"i2O97hTC1WMAPXdeAEtU7n8dgUVB9lee.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA%3D",
		probeToken, "", ".", "%", "%%%", "a%2Eb.%3D", "." + strings.Repeat("=", 44),
	} {
		f.Add("value", raw)
	}
	f.Add("a.b.c", "")
	f.Add("Zoë %;\"", "")
	keys := [][]byte{probeKey, []byte(strings.Repeat("o", 32))}

	f.Fuzz(func(t *testing.T, value, raw string) {
		if got, ok := Verify(keys, raw); ok {
			var matched bool
			for _, k := range keys {
				m := hmac.New(sha256.New, k)
				m.Write([]byte(got))
				want := m.Sum(nil)
				if back, ok := Verify(keys, SignCookie(k, got)); !ok || back != got {
					t.Fatalf("re-signed %q does not verify back", got)
				}
				var sig [sha256.Size]byte
				dec, _ := url.PathUnescape(raw)
				if decodeSignature(&sig, []byte(dec[len(dec)-signatureLen:])) && hmac.Equal(sig[:], want) {
					matched = true
				}
			}
			if !matched {
				t.Fatalf("accepted %q whose signature is no key's HMAC of %q", raw, got)
			}
		}

		if value == "" || !utf8.ValidString(value) {
			return // Better Auth never signs these: JS strings are UTF-16, and empty values are refused.
		}
		for _, k := range keys {
			wire := SignCookie(k, value)
			if got, ok := Verify(keys, wire); !ok || got != value {
				t.Fatalf("signed %q: Verify(%q) = %q, %v", value, wire, got, ok)
			}
		}
	})
}

// FuzzMAC checks the written-out HMAC against crypto/hmac.
func FuzzMAC(f *testing.F) {
	f.Add(probeKey, probeToken)
	f.Add([]byte{}, "")
	f.Add([]byte(strings.Repeat("k", 65)), strings.Repeat("v", 129))
	f.Fuzz(func(t *testing.T, key []byte, value string) {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(value))
		if got := mac(key, value); !hmac.Equal(got[:], m.Sum(nil)) {
			t.Fatalf("mac(%q, %q) differs from crypto/hmac", key, value)
		}
	})
}

// FuzzVerifyEmailToken checks that VerifyEmailToken never panics and that
// whatever it accepts is unexpired and signs back to a token that verifies.
func FuzzVerifyEmailToken(f *testing.F) {
	f.Add(probeVerifyToken)
	f.Add(probeChangeToken)
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("..")
	at := time.Unix(1795721100, 0)
	keys := [][]byte{probeKey}
	f.Fuzz(func(t *testing.T, token string) {
		c, err := VerifyEmailToken(keys, token, at)
		if err != nil {
			return
		}
		if c.ExpiresAt <= at.Unix() {
			t.Fatalf("accepted a token expiring at %d", c.ExpiresAt)
		}
		again, err := SignEmailToken(probeKey, c)
		if err != nil {
			t.Fatal(err)
		}
		if c2, err := VerifyEmailToken(keys, again, at); err != nil || c2 != c {
			t.Fatalf("re-signed claims %+v verify as %+v, %v", c, c2, err)
		}
	})
}

package caddyauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzVerifySignedValue checks that verifySignedValue never panics, that
// whatever it accepts carries the HMAC of the value it returns, and that any
// value signed and encoded the Better Auth way verifies back to itself.
func FuzzVerifySignedValue(f *testing.F) {
	for _, raw := range []string{
		probeTokenWire, probeDontRemember, probeSecureWire,
		signCookieValue(probeKey, probeToken),
		"i2O97hTC1WMAPXdeAEtU7n8dgUVB9lee.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA%3D",
		probeToken, "", ".", "%", "%%%", "a%2Eb.%3D", "." + strings.Repeat("=", 44),
	} {
		f.Add("value", raw)
	}
	f.Add("a.b.c", "")
	f.Add("Zoë %;\"", "")
	keys := [][]byte{probeKey, []byte(strings.Repeat("o", 32))}

	f.Fuzz(func(t *testing.T, value, raw string) {
		if got, ok := verifySignedValue(keys, raw); ok {
			var matched bool
			for _, k := range keys {
				mac := hmac.New(sha256.New, k)
				mac.Write([]byte(got))
				want := mac.Sum(nil)
				signed := signCookieValue(k, got)
				if back, ok := verifySignedValue(keys, encodeCookieValue(signed)); !ok || back != got {
					t.Fatalf("re-signed %q does not verify back", got)
				}
				var sig [sha256.Size]byte
				dec, _ := url.PathUnescape(raw)
				if decodeSignature(&sig, []byte(dec[len(dec)-cookieSignatureLen:])) && hmac.Equal(sig[:], want) {
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
			wire := encodeCookieValue(signCookieValue(k, value))
			if got, ok := verifySignedValue(keys, wire); !ok || got != value {
				t.Fatalf("signed %q: verifySignedValue(%q) = %q, %v", value, wire, got, ok)
			}
		}
	})
}

// FuzzCookieMAC checks the written-out HMAC against crypto/hmac.
func FuzzCookieMAC(f *testing.F) {
	f.Add(probeKey, probeToken)
	f.Add([]byte{}, "")
	f.Add([]byte(strings.Repeat("k", 65)), strings.Repeat("v", 129))
	f.Fuzz(func(t *testing.T, key []byte, value string) {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(value))
		if got := cookieMAC(key, value); !hmac.Equal(got[:], m.Sum(nil)) {
			t.Fatalf("cookieMAC(%q, %q) differs from crypto/hmac", key, value)
		}
	})
}

// FuzzReadCookie checks that readCookie never panics and returns a piece of
// the header that holds no separator.
func FuzzReadCookie(f *testing.F) {
	f.Add("better-auth.session_token="+probeTokenWire, "better-auth.session_token")
	f.Add(`a=1; better-auth.session_token="x"; b`, "better-auth.session_token")
	f.Add(";;=;\"\"; =\t", "")
	f.Add("a", "a")
	f.Fuzz(func(t *testing.T, header, name string) {
		v, ok := readCookie(http.Header{"Cookie": {header, header}}, name)
		if !ok {
			if v != "" {
				t.Fatalf("not found but value %q", v)
			}
			return
		}
		if !strings.Contains(header, v) || strings.Contains(v, ";") {
			t.Fatalf("value %q is not a single cookie value of %q", v, header)
		}
	})
}

// FuzzIdentityHeaderValue checks that the output is printable ASCII and
// percent-decodes back to the input exactly.
func FuzzIdentityHeaderValue(f *testing.F) {
	for _, s := range []string{"", "Alice", "Zoë", "a%b", "%41", "x\r\ny", "\x00", "😀", "\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := identityHeaderValue(in)
		for i := 0; i < len(out); i++ {
			if out[i] < 0x20 || out[i] > 0x7e {
				t.Fatalf("identityHeaderValue(%q) = %q has byte %#x", in, out, out[i])
			}
		}
		back, err := url.PathUnescape(out)
		if err != nil || back != in {
			t.Fatalf("unescape(%q) = %q, %v; want %q", out, back, err, in)
		}
	})
}

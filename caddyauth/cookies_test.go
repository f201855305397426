package caddyauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// The secret of the reference's probe: "x" * 32.
var probeKey = []byte(strings.Repeat("x", 32))

// Wire values captured from Better Auth 1.7.25 with probeKey (Appendix A).
const (
	probeToken        = "J95RstBkQGJwxRcnjEdSkAf7lMZHdwxU"
	probeTokenWire    = "J95RstBkQGJwxRcnjEdSkAf7lMZHdwxU.MZ7rO4hAfKocG1HsVKW7WsDvZQcxb2VzW%2FHMKcT%2FUTk%3D"
	probeDontRemember = "true.1bXlcnrqtmSepkNJviBBMNg0%2BTFE%2FNL3hULlLOhQEEc%3D"
	// Instance A sign-up and instance C (HTTPS) sign-in cookies.
	probeSignUpWire = "i2O97hTC1WMAPXdeAEtU7n8dgUVB9lee.XvdmJPVDJf9fGFfP8314RkTyNMBUGhZWUtTbc9s1KnM%3D"
	probeSecureWire = "YyEI1GyWLkY0Vn72kijI5JbxeAIUgAWj.uW4BaUWzIlllmH%2BrwpYEeOF%2BtoRCrYPnvoDKMCrx7SA%3D"
)

func TestSignCookieValue_BetterAuthVectors(t *testing.T) {
	for _, tc := range []struct{ value, wire string }{
		{probeToken, probeTokenWire},
		{"true", probeDontRemember},
		{"i2O97hTC1WMAPXdeAEtU7n8dgUVB9lee", probeSignUpWire},
		{"YyEI1GyWLkY0Vn72kijI5JbxeAIUgAWj", probeSecureWire},
	} {
		if got := encodeCookieValue(signCookieValue(probeKey, tc.value)); got != tc.wire {
			t.Errorf("signed %q:\n got %s\nwant %s", tc.value, got, tc.wire)
		}
	}
}

func TestSignCookieValue_DocumentedAlgorithm(t *testing.T) {
	// sig = base64std(HMAC-SHA256(key = secret's UTF-8 bytes, msg = token)),
	// value = token + "." + sig, URL-encoded on the wire.
	m := hmac.New(sha256.New, probeKey)
	m.Write([]byte(probeToken))
	want := probeToken + "." + base64.StdEncoding.EncodeToString(m.Sum(nil))
	if got := signCookieValue(probeKey, probeToken); got != want {
		t.Errorf("signCookieValue = %s, want %s", got, want)
	}
	// The reference notes that, for this alphabet, url.QueryEscape gives the
	// same bytes as encodeURIComponent.
	if got, want := encodeCookieValue(want), url.QueryEscape(want); got != want {
		t.Errorf("encodeCookieValue = %s, url.QueryEscape = %s", got, want)
	}
}

func TestEncodeCookieValue_IsEncodeURIComponent(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"AZaz09", "AZaz09"},
		{"-_.!~*'()", "-_.!~*'()"}, // encodeURIComponent leaves these alone
		{"+/=", "%2B%2F%3D"},
		{" ", "%20"}, // not "+" as url.QueryEscape would write
		{";,\"\\%", "%3B%2C%22%5C%25"},
		{"\r\n\x00\x7f", "%0D%0A%00%7F"},
		{"é", "%C3%A9"},
		{"😀", "%F0%9F%98%80"},
	} {
		if got := encodeCookieValue(tc.in); got != tc.want {
			t.Errorf("encodeCookieValue(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestVerifySignedValue(t *testing.T) {
	oldKey := []byte(strings.Repeat("o", 32))
	newKey := []byte(strings.Repeat("n", 32))
	signedOld := encodeCookieValue(signCookieValue(oldKey, probeToken))
	rawSig := signCookieValue(probeKey, probeToken) // not URL-encoded: the bearer form
	sig := rawSig[len(probeToken)+1:]
	urlSig := strings.NewReplacer("+", "-", "/", "_").Replace(sig)

	for _, tc := range []struct {
		name  string
		keys  [][]byte
		raw   string
		want  string
		valid bool
	}{
		{"captured cookie", [][]byte{probeKey}, probeTokenWire, probeToken, true},
		{"captured dont_remember", [][]byte{probeKey}, probeDontRemember, "true", true},
		{"captured HTTPS cookie", [][]byte{probeKey}, probeSecureWire, "YyEI1GyWLkY0Vn72kijI5JbxeAIUgAWj", true},
		{"not URL-encoded", [][]byte{probeKey}, rawSig, probeToken, true},
		{"base64url signature", [][]byte{probeKey}, probeToken + "." + urlSig, probeToken, true},
		{"rotation: old key still verifies", [][]byte{newKey, oldKey}, signedOld, probeToken, true},
		{"multiple dots: the last splits", [][]byte{probeKey},
			encodeCookieValue(signCookieValue(probeKey, "a.b.c")), "a.b.c", true},
		{"escaped dot in the value", [][]byte{probeKey},
			"a%2Eb." + signCookieValue(probeKey, "a.b")[4:], "a.b", true},

		{"wrong key", [][]byte{newKey}, probeTokenWire, "", false},
		{"no keys", nil, probeTokenWire, "", false},
		{"tampered token", [][]byte{probeKey}, "K" + probeTokenWire[1:], "", false},
		{"tampered signature", [][]byte{probeKey}, strings.Replace(probeTokenWire, "MZ7r", "MZ7s", 1), "", false},
		{"all-A signature (captured probe)", [][]byte{probeKey},
			"i2O97hTC1WMAPXdeAEtU7n8dgUVB9lee.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA%3D", "", false},
		{"unsigned raw token", [][]byte{probeKey}, probeToken, "", false},
		{"truncated", [][]byte{probeKey}, probeTokenWire[:len(probeTokenWire)-3], "", false},
		{"43-character signature", [][]byte{probeKey}, probeToken + "." + sig[1:], "", false},
		{"45-character signature", [][]byte{probeKey}, probeToken + ".A" + sig, "", false},
		{"44 characters without '='", [][]byte{probeKey}, probeToken + "." + sig[:43] + "A", "", false},
		{"stray low bits in the last character", [][]byte{probeKey}, probeToken + "." + sig[:42] + "l=", "", false},
		{"empty value", [][]byte{probeKey}, "." + sig, "", false},
		{"signature only, no dot", [][]byte{probeKey}, sig, "", false},
		{"empty", [][]byte{probeKey}, "", "", false},
		{"trailing junk after the signature", [][]byte{probeKey}, rawSig + ".x", "", false},
		{"bad %-escape", [][]byte{probeKey}, probeTokenWire + "%G1", "", false},
		{"truncated %-escape", [][]byte{probeKey}, strings.TrimSuffix(probeTokenWire, "3D") + "3", "", false},
		{"escape decoding to invalid UTF-8", [][]byte{probeKey}, "%FF" + probeTokenWire, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := verifySignedValue(tc.keys, tc.raw)
			if ok != tc.valid || got != tc.want {
				t.Errorf("verifySignedValue = %q, %v; want %q, %v", got, ok, tc.want, tc.valid)
			}
		})
	}
}

func TestVerifySignedValue_DoesNotAllocate(t *testing.T) {
	keys := [][]byte{[]byte(strings.Repeat("o", 32)), probeKey}
	allocs := testing.AllocsPerRun(100, func() {
		if _, ok := verifySignedValue(keys, probeTokenWire); !ok {
			t.Fatal("captured cookie does not verify")
		}
	})
	if allocs != 0 {
		t.Errorf("verifySignedValue allocates %v times", allocs)
	}
}

func TestCookieMAC_IsHMACSHA256(t *testing.T) {
	for _, keyLen := range []int{0, 1, 32, 63, 64, 65, 200} {
		for _, valueLen := range []int{0, 1, 32, 127, 128, 129, 1000} {
			key := []byte(strings.Repeat("k", keyLen))
			value := strings.Repeat("v", valueLen)
			m := hmac.New(sha256.New, key)
			m.Write([]byte(value))
			if got := cookieMAC(key, value); !hmac.Equal(got[:], m.Sum(nil)) {
				t.Errorf("key %d bytes, value %d bytes: cookieMAC differs from crypto/hmac", keyLen, valueLen)
			}
		}
	}
}

func TestCookieName(t *testing.T) {
	for _, base := range []string{"session_token", "session_data", "dont_remember"} {
		if n := testing.AllocsPerRun(10, func() { _ = cookieName(base, true) }); n != 0 {
			t.Errorf("cookieName(%q) allocates %v times", base, n)
		}
	}
	for _, tc := range []struct {
		base   string
		secure bool
		want   string
	}{
		{"session_token", false, "better-auth.session_token"},
		{"session_token", true, "__Secure-better-auth.session_token"},
		{"session_data", false, "better-auth.session_data"},
		{"session_data", true, "__Secure-better-auth.session_data"},
		{"dont_remember", false, "better-auth.dont_remember"},
		{"dont_remember", true, "__Secure-better-auth.dont_remember"},
		{"account_data", true, "__Secure-better-auth.account_data"},
	} {
		if got := cookieName(tc.base, tc.secure); got != tc.want {
			t.Errorf("cookieName(%q, %v) = %q, want %q", tc.base, tc.secure, got, tc.want)
		}
	}
}

func TestReadCookie(t *testing.T) {
	const name = "better-auth.session_token"
	for _, tc := range []struct {
		name  string
		lines []string
		want  string
		found bool
	}{
		{"alone", []string{name + "=abc"}, "abc", true},
		{"among others", []string{"_ga=GA1.2; " + name + "=abc; theme=dark"}, "abc", true},
		{"first occurrence wins", []string{name + "=first; " + name + "=second"}, "first", true},
		{"first header line wins", []string{"a=1; " + name + "=first", name + "=second"}, "first", true},
		{"found in the second line", []string{"a=1; b=2", "c=3; " + name + "=second"}, "second", true},
		{"double quotes stripped", []string{name + `="abc"`}, "abc", true},
		{"lone quote kept", []string{name + `="abc`}, `"abc`, true},
		{"spaces and tabs trimmed", []string{"a=1;  \t" + name + " = abc \t; b=2"}, "abc", true},
		{"no spaces at all", []string{"a=1;" + name + "=abc;b=2"}, "abc", true},
		{"value with '='", []string{name + "=abc==; b=2"}, "abc==", true},
		{"empty value", []string{name + "=; b=2"}, "", true},
		{"longer name is another cookie", []string{name + "_x=evil; " + name + "=abc"}, "abc", true},
		{"prefixed name is another cookie", []string{"__Secure-" + name + "=evil"}, "", false},
		{"name as a value is not a name", []string{"a=" + name + "; b=2"}, "", false},
		{"junk pairs skipped", []string{";;; =; junk; ;" + name + "=abc;;"}, "abc", true},
		{"absent", []string{"a=1; b=2"}, "", false},
		{"no header", nil, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for _, l := range tc.lines {
				h.Add("Cookie", l)
			}
			got, ok := readCookie(h, name)
			if got != tc.want || ok != tc.found {
				t.Errorf("readCookie = %q, %v; want %q, %v", got, ok, tc.want, tc.found)
			}
		})
	}

	secure := "__Secure-" + name
	h := http.Header{"Cookie": {name + "=plain; " + secure + "=prefixed"}}
	if got, _ := readCookie(h, secure); got != "prefixed" {
		t.Errorf("__Secure- cookie = %q, want %q", got, "prefixed")
	}
}

func TestReadCookie_HugeJunkHeader(t *testing.T) {
	junk := strings.Repeat("x;=;y=\"\";;", 100000)
	h := http.Header{"Cookie": {junk + "better-auth.session_token=abc"}}
	if got, ok := readCookie(h, "better-auth.session_token"); !ok || got != "abc" {
		t.Errorf("readCookie = %q, %v", got, ok)
	}
}

func TestReadCookie_DoesNotAllocate(t *testing.T) {
	h := http.Header{"Cookie": {"_ga=GA1.2.3; theme=dark; better-auth.session_token=" + probeTokenWire}}
	if n := testing.AllocsPerRun(100, func() { readCookie(h, "better-auth.session_token") }); n != 0 {
		t.Errorf("readCookie allocates %v times", n)
	}
}

func TestSetCookie_BetterAuthSerialisation(t *testing.T) {
	token := cookieName("session_token", false)
	dontRemember := cookieName("dont_remember", false)
	secureToken := cookieName("session_token", true)
	secureDontRemember := cookieName("dont_remember", true)
	signed := func(v string) string { return encodeCookieValue(signCookieValue(probeKey, v)) }

	for _, tc := range []struct {
		name string
		set  func(h http.Header)
		want []string
	}{
		{"session cookie (captured sign-up)", func(h http.Header) {
			setCookie(h, token, probeSignUpWire, 604800, false)
		}, []string{
			"better-auth.session_token=i2O97hTC1WMAPXdeAEtU7n8dgUVB9lee.XvdmJPVDJf9fGFfP8314RkTyNMBUGhZWUtTbc9s1KnM%3D; Max-Age=604800; Path=/; HttpOnly; SameSite=Lax",
		}},
		{"rememberMe false on HTTPS (captured instance C)", func(h http.Header) {
			setCookie(h, secureToken, signed("YyEI1GyWLkY0Vn72kijI5JbxeAIUgAWj"), -1, true)
			setCookie(h, secureDontRemember, signed("true"), -1, true)
		}, []string{
			"__Secure-better-auth.session_token=YyEI1GyWLkY0Vn72kijI5JbxeAIUgAWj.uW4BaUWzIlllmH%2BrwpYEeOF%2BtoRCrYPnvoDKMCrx7SA%3D; Path=/; HttpOnly; Secure; SameSite=Lax",
			"__Secure-better-auth.dont_remember=true.1bXlcnrqtmSepkNJviBBMNg0%2BTFE%2FNL3hULlLOhQEEc%3D; Path=/; HttpOnly; Secure; SameSite=Lax",
		}},
		{"rememberMe false over HTTP (captured instance A)", func(h http.Header) {
			setCookie(h, dontRemember, signed("true"), -1, false)
		}, []string{
			"better-auth.dont_remember=true.1bXlcnrqtmSepkNJviBBMNg0%2BTFE%2FNL3hULlLOhQEEc%3D; Path=/; HttpOnly; SameSite=Lax",
		}},
		{"sign-out (captured)", func(h http.Header) {
			expireCookie(h, token, false)
			expireCookie(h, cookieName("session_data", false), false)
			expireCookie(h, dontRemember, false)
		}, []string{
			"better-auth.session_token=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax",
			"better-auth.session_data=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax",
			"better-auth.dont_remember=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax",
		}},
		{"expired on HTTPS", func(h http.Header) {
			expireCookie(h, secureToken, true)
		}, []string{
			"__Secure-better-auth.session_token=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Lax",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			tc.set(h)
			got := h.Values("Set-Cookie")
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("Set-Cookie:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func BenchmarkVerifySignedValue(b *testing.B) {
	keys := [][]byte{probeKey, []byte(strings.Repeat("o", 32))}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := verifySignedValue(keys, probeTokenWire); !ok {
			b.Fatal("does not verify")
		}
	}
}

func BenchmarkReadCookie(b *testing.B) {
	// A typical browser header: analytics cookies around the session cookie.
	h := http.Header{"Cookie": {"_ga=GA1.1.1234567890.1700000000; _ga_ABCDEF=GS1.1.1700000000.1.1.1700000000.0.0.0; theme=dark; " +
		"better-auth.session_token=" + probeTokenWire + "; better-auth.dont_remember=" + probeDontRemember}}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := readCookie(h, "better-auth.session_token"); !ok {
			b.Fatal("not found")
		}
	}
}

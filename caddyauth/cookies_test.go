package caddyauth

import (
	"net/http"
	"strings"
	"testing"

	"github.com/authgate/authgate/caddyauth/internal/bacodec"
)

// The secret of the reference's probe: "x" * 32.
var probeKey = []byte(strings.Repeat("x", 32))

// Wire values captured from Better Auth 1.7.25 with probeKey (Appendix A).
const (
	probeTokenWire    = "J95RstBkQGJwxRcnjEdSkAf7lMZHdwxU.MZ7rO4hAfKocG1HsVKW7WsDvZQcxb2VzW%2FHMKcT%2FUTk%3D"
	probeDontRemember = "true.1bXlcnrqtmSepkNJviBBMNg0%2BTFE%2FNL3hULlLOhQEEc%3D"
	// Instance A sign-up and instance C (HTTPS) sign-in cookies.
	probeSignUpWire = "i2O97hTC1WMAPXdeAEtU7n8dgUVB9lee.XvdmJPVDJf9fGFfP8314RkTyNMBUGhZWUtTbc9s1KnM%3D"
	probeSecureWire = "YyEI1GyWLkY0Vn72kijI5JbxeAIUgAWj.uW4BaUWzIlllmH%2BrwpYEeOF%2BtoRCrYPnvoDKMCrx7SA%3D"
)

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
	signed := func(v string) string { return bacodec.SignCookie(probeKey, v) }

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

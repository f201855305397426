package caddyauth

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

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

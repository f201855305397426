package bacodec

import (
	"net/url"
	"testing"
)

func TestEncodeURIComponent(t *testing.T) {
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
		if got := EncodeURIComponent(tc.in); got != tc.want {
			t.Errorf("EncodeURIComponent(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	// The reference notes that, for the alphabet of signed values,
	// url.QueryEscape gives the same bytes as encodeURIComponent.
	signed := Sign(probeKey, probeToken)
	if got, want := EncodeURIComponent(signed), url.QueryEscape(signed); got != want {
		t.Errorf("EncodeURIComponent = %s, url.QueryEscape = %s", got, want)
	}
}

func TestPercentEncode_ReturnsTheStringWhenNothingIsEscaped(t *testing.T) {
	s := "plain"
	if n := testing.AllocsPerRun(10, func() { _ = PercentEncode(s, func(c byte) bool { return c == '%' }) }); n != 0 {
		t.Errorf("PercentEncode allocates %v times for a string without escapes", n)
	}
	if got := PercentEncode("a%b", func(c byte) bool { return c == '%' }); got != "a%25b" {
		t.Errorf("PercentEncode = %q", got)
	}
}

package caddyauth

import (
	"bufio"
	"net/http"
	"slices"
	"strings"
	"testing"
)

func TestIdentityHeaderValue(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"Alice Smith", "Alice Smith"},
		{"alice+tag@example.com", "alice+tag@example.com"},
		{`O'Brien "Bob" (x) ~!`, `O'Brien "Bob" (x) ~!`},
		{"Zoë", "Zo%C3%AB"},
		{"a%b", "a%25b"},
		{"%41", "%2541"}, // decodes to "%41", not to "A"
		{"evil\r\nX-User-Id: admin", "evil%0D%0AX-User-Id: admin"},
		{"nul\x00byte", "nul%00byte"},
		{"tab\there", "tab%09here"},
		{"del\x7f", "del%7F"},
		{"日本", "%E6%97%A5%E6%9C%AC"},
		{"\xff", "%FF"}, // invalid UTF-8 passes as its bytes
	} {
		if got := identityHeaderValue(tc.in); got != tc.want {
			t.Errorf("identityHeaderValue(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestIdentityHeaderValue_PlainASCIIDoesNotAllocate(t *testing.T) {
	v := "user_5f3Kq9ZxTt2LmNpRr8sUvWyA@example.com"
	if n := testing.AllocsPerRun(100, func() { _ = identityHeaderValue(v) }); n != 0 {
		t.Errorf("identityHeaderValue allocates %v times", n)
	}
}

func identitySet() map[string]struct{} {
	return headerNameSet("X-User-Id", "X-User-Email", "X-User-Name", "X-User-Email-Verified", "X-Session-Id")
}

func TestHeaderNameSet_Normalises(t *testing.T) {
	set := headerNameSet("X-User-Id", "X_SESSION_ID")
	for _, want := range []string{"x-user-id", "x-session-id"} {
		if _, ok := set[want]; !ok {
			t.Errorf("set lacks %q: %v", want, set)
		}
	}
}

func TestStripHeaders_EverySpelling(t *testing.T) {
	long := "X-" + strings.Repeat("Very-Long-", 10) + "Identity"
	set := identitySet()
	set[normalizeHeaderName(long)] = struct{}{}

	// Keys as Go's server can leave them: canonical, or kept as sent when
	// textproto does not canonicalise them.
	h := http.Header{}
	for _, k := range []string{
		"X-User-Id", "x-user-id", "X_User_Id", "X_user_id", "X-USER_ID", "x_user_id",
		"X-User-Email", "X-User-Email-Verified", "X_USER_NAME", "X-Session-Id",
		strings.ToLower(strings.ReplaceAll(long, "-", "_")),
		// Not identity headers:
		"X-User-Idx", "X-User", "X-Userid", "Accept", "Cookie",
		"X-" + strings.Repeat("Very-Long-", 10) + "Identitx",
	} {
		h[k] = []string{"forged"}
	}
	stripHeaders(h, set)

	var left []string
	for k := range h {
		left = append(left, k)
	}
	slices.Sort(left)
	want := []string{"Accept", "Cookie", "X-User", "X-User-Idx", "X-Userid",
		"X-" + strings.Repeat("Very-Long-", 10) + "Identitx"}
	slices.Sort(want)
	if !slices.Equal(left, want) {
		t.Errorf("left after stripping:\n got %q\nwant %q", left, want)
	}
}

func TestStripHeaders_RequestParsedByGo(t *testing.T) {
	raw := "GET / HTTP/1.1\r\nHost: app.example.com\r\n" +
		"X-User-Id: a\r\nx-user-id: b\r\nX_User_Id: c\r\nx_user_id: d\r\nX-USER_ID: e\r\n" +
		"X-Session-Id: f\r\nAccept: text/html\r\n\r\n"
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		t.Fatal(err)
	}
	stripHeaders(req.Header, identitySet())
	for k := range req.Header {
		if k != "Accept" {
			t.Errorf("header %q survived", k)
		}
	}
}

func TestStripHeaders_DoesNotAllocate(t *testing.T) {
	set := identitySet()
	h := http.Header{
		"Accept": {"text/html"}, "Cookie": {"a=b"}, "User-Agent": {"x"},
		"X-Forwarded-For": {"1.2.3.4"}, "X-" + strings.Repeat("Long-", 20) + "Header": {"x"},
	}
	if n := testing.AllocsPerRun(100, func() { stripHeaders(h, set) }); n != 0 {
		t.Errorf("stripHeaders allocates %v times", n)
	}
	if len(h) != 5 {
		t.Errorf("%d headers left, want 5", len(h))
	}
}

func BenchmarkStripHeaders(b *testing.B) {
	set := identitySet()
	h := http.Header{
		"Accept": {"text/html"}, "Accept-Encoding": {"gzip"}, "Accept-Language": {"en"},
		"Cookie": {"a=b"}, "User-Agent": {"x"}, "X-Forwarded-For": {"1.2.3.4"},
		"Sec-Fetch-Mode": {"navigate"}, "Sec-Fetch-Site": {"same-origin"},
	}
	b.ReportAllocs()
	for b.Loop() {
		stripHeaders(h, set)
	}
}

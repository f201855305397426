package emailaddr

import (
	"strings"
	"testing"
)

func TestValid_FollowsZodEmail(t *testing.T) {
	cases := []struct {
		in   string
		want bool
	}{
		{"ada@example.com", true},
		{"o'brien+tag@mail.example.co", true},
		{"a.b-c_d@sub-1.example.org", true},
		{"Ada@Example.COM", true}, // case is Normalize's business
		{"", false},
		{"ada", false},
		{"ada@", false},
		{"@example.com", false},
		{"ada@example", false},       // needs a dot and a TLD
		{"ada@example.c", false},     // TLD of two letters at least
		{"ada@-example.com", false},  // label starts with a letter or digit
		{".ada@example.com", false},  // zod's first look-ahead
		{"a..da@example.com", false}, // zod's second look-ahead
		{"ada.@example.com", false},  // local part ends in a dot
		{"ada@example..com", false},  // empty label
		{"ada @example.com", false},  // no spaces
		{"ada@exämple.com", false},   // no internationalised domains
		{"ada@example.com\n", false}, // no trailing newline
		{"a\"b@example.com", false},  // no quoted local parts
		{"ada@[192.0.2.1]", false},   // no address literals
		{"ada@example.com.", false},  // no trailing dot
		{"ada@127.0.0.1", false},     // TLD is letters
		{"ada@ex_ample.com", false},  // no underscore in the domain
		{"ada@example.com,b@c.de", false},
	}
	for _, tc := range cases {
		if got := Valid(tc.in); got != tc.want {
			t.Errorf("Valid(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestValid_RefusesOverlongInputBeforeMatching(t *testing.T) {
	domain := "@example.com"
	fits := strings.Repeat("a", maxLength-len(domain)) + domain
	if !Valid(fits) {
		t.Errorf("an address of %d bytes is refused", len(fits))
	}
	if over := "a" + fits; Valid(over) {
		t.Errorf("an address of %d bytes is accepted", len(over))
	}
}

func TestNormalize_TrimsAndLowerCases(t *testing.T) {
	cases := map[string]string{
		" Alice@Example.COM\t": "alice@example.com",
		"alice@example.com":    "alice@example.com",
		"\n":                   "",
	}
	for in, want := range cases {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
}

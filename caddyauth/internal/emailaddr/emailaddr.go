// Package emailaddr is the one rule for email addresses that the auth API,
// the pages and the admin commands share: which input is an address, and
// the form it is stored and looked up in.
package emailaddr

import (
	"regexp"
	"strings"
)

// pattern is zod 4's z.email() pattern, which Better Auth validates with,
// minus its two look-aheads (no leading dot, no ".."), which RE2 lacks and
// Valid checks by hand.
var pattern = regexp.MustCompile(`^[A-Za-z0-9_'+\-.]*[A-Za-z0-9_+-]@([A-Za-z0-9][A-Za-z0-9\-]*\.)+[A-Za-z]{2,}$`)

// maxLength is RFC 5321's limit on a forward path; longer input is not an
// address and is refused before the regexp runs.
const maxLength = 254

// Valid reports whether s is an address Better Auth would accept. Callers
// pass it Normalize's result.
func Valid(s string) bool {
	if len(s) > maxLength || strings.HasPrefix(s, ".") || strings.Contains(s, "..") {
		return false
	}
	return pattern.MatchString(s)
}

// Normalize trims and lower-cases, before both storage and lookup, so that
// " Alice@Example.COM" and "alice@example.com" are one account.
func Normalize(s string) string {
	return strings.ToLower(strings.TrimSpace(s))
}

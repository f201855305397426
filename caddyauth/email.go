package caddyauth

import (
	"regexp"
	"strings"
)

// emailPattern is zod 4's z.email() pattern, which Better Auth validates
// with, minus its two look-aheads (no leading dot, no ".."), which RE2 lacks
// and validEmail checks by hand.
var emailPattern = regexp.MustCompile(`^[A-Za-z0-9_'+\-.]*[A-Za-z0-9_+-]@([A-Za-z0-9][A-Za-z0-9\-]*\.)+[A-Za-z]{2,}$`)

// maxEmailLength is RFC 5321's limit on a forward path; longer input is not
// an address and is refused before the regexp runs.
const maxEmailLength = 254

func validEmail(s string) bool {
	if len(s) > maxEmailLength || strings.HasPrefix(s, ".") || strings.Contains(s, "..") {
		return false
	}
	return emailPattern.MatchString(s)
}

// normalizeEmail trims and lower-cases, before both storage and lookup
// (SPEC §2), so that " Alice@Example.COM" and "alice@example.com" are one
// account.
func normalizeEmail(s string) string {
	return strings.ToLower(strings.TrimSpace(s))
}

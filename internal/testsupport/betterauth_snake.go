package testsupport

import (
	"regexp"
	"strings"
)

// BetterAuthSnakeFields is BetterAuth.Fields for the snake_case schema of
// DrizzlePostgresDDL: how an app whose Drizzle schema uses snake_case
// columns configures Better Auth (<model>.fields), so that a Better Auth
// server can share such a database with auth_gate.
var BetterAuthSnakeFields = map[string]any{
	"user":         snakeFields("emailVerified", "createdAt", "updatedAt"),
	"session":      snakeFields("expiresAt", "createdAt", "updatedAt", "ipAddress", "userAgent", "userId"),
	"account":      snakeFields("accountId", "providerId", "userId", "accessToken", "refreshToken", "idToken", "accessTokenExpiresAt", "refreshTokenExpiresAt", "createdAt", "updatedAt"),
	"verification": snakeFields("expiresAt", "createdAt", "updatedAt"),
}

var upper = regexp.MustCompile(`[A-Z]`)

// Snake is a camelCase field's snake_case column: userId → user_id.
func Snake(field string) string {
	return upper.ReplaceAllStringFunc(field, func(s string) string { return "_" + strings.ToLower(s) })
}

func snakeFields(fields ...string) map[string]string {
	m := make(map[string]string, len(fields))
	for _, f := range fields {
		m[f] = Snake(f)
	}
	return m
}

// Package appdata says where auth_gate keeps what it makes for a config
// that does not name its own: the SQLite database and the generated secret,
// both in Caddy's data directory. The handler and the admin commands must
// find the same files, so both ask here.
package appdata

import (
	"path/filepath"
	"strings"

	"github.com/caddyserver/caddy/v2"
)

// DatabaseDSN expands runtime placeholders in a configured database value;
// one that expands to empty (an unset {env.VAR}) means the default, so that
// one config serves both a deployment that sets the variable and a laptop
// that does not.
func DatabaseDSN(repl *caddy.Replacer, configured string) string {
	if dsn := strings.TrimSpace(repl.ReplaceAll(configured, "")); dsn != "" {
		return dsn
	}
	return DefaultDatabaseDSN()
}

// DefaultDatabaseDSN is the zero-setup SQLite file.
func DefaultDatabaseDSN() string {
	return "sqlite://" + filepath.Join(dir(), "auth.db")
}

// SecretPath is where the secret generated for a config without one is kept.
func SecretPath() string {
	return filepath.Join(dir(), "secret")
}

func dir() string {
	return filepath.Join(caddy.AppDataDir(), "auth_gate")
}

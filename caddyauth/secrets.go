package caddyauth

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/authgate/authgate/caddyauth/internal/appdata"
)

// loadSecrets expands the configured secrets, or falls back to the one
// generated into the data directory. Values are never logged.
func (g *Gate) loadSecrets(repl *caddy.Replacer) ([]string, error) {
	var out []string
	var short []int
	for i, s := range g.Secret {
		v := repl.ReplaceAll(s, "")
		if v == "" && i == 0 && len(g.Secret) == 1 {
			// `secret {env.X}` with X unset means "use the default", like
			// an empty database value does.
			break
		}
		if v == "" {
			return nil, fmt.Errorf("secret: value %d is empty", i+1)
		}
		if len(v) < minSecretLength {
			short = append(short, i+1)
		}
		out = append(out, v)
	}
	if len(short) > 0 {
		// Better Auth only warns here; refusing to start would leave a team
		// that moves over with a short secret no way to keep its sessions.
		g.logger.Warn("secret: shorter than recommended; Better Auth only warns about this, and so does auth_gate, but a short secret is easier to guess: rotate to a longer one (put it first, keep the old one after it until its sessions have expired)",
			zap.Ints("values", short), zap.Int("recommended_length", minSecretLength))
	}
	if len(out) > 0 {
		return out, nil
	}
	path := appdata.SecretPath()
	s, created, err := loadOrCreateSecret(path)
	if err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	if created {
		g.logger.Warn("no secret configured: generated one and stored it in the data directory; set `secret` to share sessions with other instances or a Better Auth server",
			zap.String("path", path))
	}
	return []string{s}, nil
}

// loadOrCreateSecret reads the generated secret, creating it (0600) if it
// does not exist yet. O_EXCL makes two processes starting together agree on
// one value: the loser reads the winner's file.
func loadOrCreateSecret(path string) (string, bool, error) {
	if b, err := os.ReadFile(path); err == nil {
		s := strings.TrimSpace(string(b))
		if len(s) < minSecretLength {
			return "", false, fmt.Errorf("generated secret file %s is too short; delete it to regenerate", path)
		}
		return s, false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", false, fmt.Errorf("read generated secret: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", false, fmt.Errorf("create data directory: %w", err)
	}
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return "", false, fmt.Errorf("generate secret: %w", err)
	}
	s := hex.EncodeToString(buf)
	// Write a private temp file, then hard-link it into place: the link
	// fails if another process won the race, and nobody ever reads a
	// half-written secret.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".secret-*")
	if err != nil {
		return "", false, fmt.Errorf("store generated secret: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(s + "\n"); err != nil {
		tmp.Close()
		return "", false, fmt.Errorf("store generated secret: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", false, fmt.Errorf("store generated secret: %w", err)
	}
	if err := os.Link(tmp.Name(), path); errors.Is(err, fs.ErrExist) {
		s, _, err := loadOrCreateSecret(path)
		return s, false, err
	} else if err != nil {
		return "", false, fmt.Errorf("store generated secret: %w", err)
	}
	return s, true, nil
}

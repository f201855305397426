package authcmd

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/spf13/cobra"

	"github.com/authgate/authgate/caddyauth/internal/appdata"
	"github.com/authgate/authgate/caddyauth/internal/jwks"
	"github.com/authgate/authgate/store"
)

func keysCommand() *cobra.Command {
	keys := &cobra.Command{Use: "keys", Short: "Manages the keys that sign assertions and Better Auth JWTs", RunE: groupRunE}
	keys.AddCommand(&cobra.Command{
		Use:   "rotate",
		Short: "Adds a new signing key; the old ones stop signing and leave the key set once their tokens expired",
		Long: `Adds a new Ed25519 signing key to Better Auth's "jwks" table, its private
half encrypted with the handler's secret as Better Auth's jwt plugin does.

The new key is published at once (GET <base_path>/jwks) and signs from one
minute on, so that verifiers that cached the key set pick it up first. The
keys in use until then stop signing at that moment and stay published for
16 more minutes: every token they signed (assertions live at most 10
minutes, Better Auth's /token tokens 15) expires meanwhile.

Reads the auth_gate handler of --config (default ./Caddyfile) for the
database and the secret; --site picks one when several differ.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			secret, err := signingSecretFromFlags(cmd)
			if err != nil {
				return err
			}
			return withStore(cmd, false, func(ctx context.Context, env *cliEnv) error {
				ctx, cancel := context.WithTimeout(ctx, cliTimeout)
				defer cancel()
				return rotateKeys(ctx, env, secret, time.Now())
			})
		},
	})
	return keys
}

// rotateKeys adds a key and ends the ones in use, as jwks.Rotate plans.
func rotateKeys(ctx context.Context, env *cliEnv, secret []byte, now time.Time) error {
	if err := env.st.EnsureJWKSTable(ctx); err != nil {
		return env.dbError(err)
	}
	rows, err := env.st.JWKs(ctx)
	if err != nil {
		return env.dbError(err)
	}
	stored := make([]jwks.Stored, len(rows))
	for i, r := range rows {
		stored[i] = jwks.Stored(r)
	}
	key, ends, err := jwks.Rotate(stored, store.NewID(), secret, now)
	if err != nil {
		return err
	}
	// The new key goes in first: were the command stopped between the
	// writes, the old keys would still sign, rather than none.
	if err := env.st.InsertJWK(ctx, store.JWK(key)); err != nil {
		return env.dbError(err)
	}
	ended := make([]string, 0, len(ends))
	for id, at := range ends {
		if err := env.st.SetJWKExpiry(ctx, id, at); err != nil {
			return env.dbError(err)
		}
		ended = append(ended, id)
	}
	slices.Sort(ended)
	signsFrom := now.Add(jwks.Settle)
	fmt.Fprintf(env.out, "added signing key %s; it signs from %s\n", key.ID, tableTime(signsFrom))
	if len(ended) > 0 {
		_, err = fmt.Fprintf(env.out, "keys %s stop signing then and leave the key set at %s\n",
			strings.Join(ended, ", "), tableTime(signsFrom.Add(jwks.Grace)))
	}
	return err
}

// signingSecretFromFlags is the secret the configured handler encrypts its
// signing keys with: its first secret, else the generated one.
func signingSecretFromFlags(cmd *cobra.Command) ([]byte, error) {
	fl := cmd.Flags()
	if db, _ := fl.GetString("database"); db != "" {
		return nil, errors.New("keys rotate encrypts the new key with the handler's secret: use --config <Caddyfile>, not --database")
	}
	config, _ := fl.GetString("config")
	site, _ := fl.GetString("site")
	envfiles, _ := fl.GetStringSlice("envfile")
	for _, f := range envfiles {
		if err := loadEnvFile(f); err != nil {
			return nil, err
		}
	}
	if config == "" {
		config = defaultCaddyfile
	}
	gates, err := gatesFromConfig(config, site)
	if err != nil {
		return nil, err
	}
	repl := caddy.NewReplacer()
	var secret string
	for i, g := range gates {
		s := ""
		if len(g.settings.Secret) > 0 {
			s = repl.ReplaceAll(g.settings.Secret[0], "")
		}
		if i > 0 && s != secret {
			return nil, fmt.Errorf("the auth_gate handlers in %s use different secrets: choose one with --site (sites: %s)", config, siteList(gates))
		}
		secret = s
	}
	if secret != "" {
		return []byte(secret), nil
	}
	// The handler falls back to the generated secret; it is read, never
	// created here: a key encrypted with a secret no server has is useless.
	path := appdata.SecretPath()
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no secret configured, and none generated yet at %s: start Caddy once, or set secret", path)
	} else if err != nil {
		return nil, fmt.Errorf("reading the generated secret: %w", err)
	}
	return []byte(strings.TrimSpace(string(b))), nil
}

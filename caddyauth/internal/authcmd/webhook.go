package authcmd

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/spf13/cobra"

	"github.com/authgate/authgate/caddyauth/internal/appdata"
	"github.com/authgate/authgate/caddyauth/internal/mail"
)

func webhookKeyCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "webhook-key",
		Short: "Prints the key that signs the email webhook, for its receiver",
		Long: `Prints the key whose UTF-8 bytes key the HMAC-SHA256 in the email
webhook's X-Auth-Gate-Signature header: the email_webhook block's own secret
when it has one, else the key derived from the main secret (HKDF-SHA256, info
"auth_gate email webhook v1"). Give it to the mail service: unlike the main
secret, it cannot sign session cookies or tokens.

Reads the auth_gate handler of --config (default ./Caddyfile); --site picks
one when several differ.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			key, err := webhookKeyFromFlags(cmd)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), key)
			return err
		},
	}
}

// webhookKeyFromFlags resolves the webhook key of the configured handler.
func webhookKeyFromFlags(cmd *cobra.Command) (string, error) {
	fl := cmd.Flags()
	if db, _ := fl.GetString("database"); db != "" {
		return "", errors.New("webhook-key reads the config, not the database: use --config <Caddyfile>")
	}
	config, _ := fl.GetString("config")
	site, _ := fl.GetString("site")
	envfiles, _ := fl.GetStringSlice("envfile")
	for _, f := range envfiles {
		if err := loadEnvFile(f); err != nil {
			return "", err
		}
	}
	if config == "" {
		config = defaultCaddyfile
	}
	gates, err := gatesFromConfig(config, site)
	if err != nil {
		return "", err
	}
	repl := caddy.NewReplacer()
	var key string
	for i, g := range gates {
		k, err := webhookKeyOf(repl, g.settings)
		if err != nil {
			return "", err
		}
		if i > 0 && k != key {
			return "", fmt.Errorf("the auth_gate handlers in %s sign their webhooks with different keys: choose one with --site (sites: %s)", config, siteList(gates))
		}
		key = k
	}
	return key, nil
}

// webhookKeyOf is the key a handler with settings s signs webhooks with,
// resolved as Provision resolves it.
func webhookKeyOf(repl *caddy.Replacer, s gateSettings) (string, error) {
	if v := repl.ReplaceAll(s.EmailWebhookSecret, ""); v != "" {
		return v, nil
	}
	var main string
	if len(s.Secret) > 0 {
		main = repl.ReplaceAll(s.Secret[0], "")
	}
	if main == "" {
		// The handler falls back to the generated secret. It is read, never
		// created here: a key for a secret no server uses would be wrong.
		path := appdata.SecretPath()
		b, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("no secret configured, and none generated yet at %s: start Caddy once, or set secret", path)
		} else if err != nil {
			return "", fmt.Errorf("reading the generated secret: %w", err)
		}
		main = strings.TrimSpace(string(b))
	}
	return string(mail.WebhookKey("", []byte(main))), nil
}

package authcmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/authgate/authgate/caddyauth/internal/appdata"
	"github.com/authgate/authgate/caddyauth/internal/mail"
)

// TestWebhookKeyOf_ResolvesAsTheHandlerDoes: the key printed for the
// receiver must be the one the running handler signs with, including when
// the handler falls back to the secret it generated.
func TestWebhookKeyOf_ResolvesAsTheHandlerDoes(t *testing.T) {
	const main = "main-secret-main-secret-main-secret"
	derived := string(mail.WebhookKey("", []byte(main)))
	t.Setenv("WEBHOOK_TEST_SECRET", main)
	cases := []struct {
		name      string
		settings  gateSettings
		generated string // contents of the generated secret file; "" for none
		want      string
		wantErr   string
	}{
		{name: "own secret", settings: gateSettings{Secret: []string{main}, EmailWebhookSecret: "hook-key"}, want: "hook-key"},
		{name: "derived from the main secret", settings: gateSettings{Secret: []string{main, "older"}}, want: derived},
		{name: "main secret from the environment", settings: gateSettings{Secret: []string{"{env.WEBHOOK_TEST_SECRET}"}}, want: derived},
		{name: "unset variable falls back to the generated secret", settings: gateSettings{Secret: []string{"{env.WEBHOOK_TEST_UNSET}"}}, generated: main + "\n", want: derived},
		{name: "generated secret", generated: main + "\n", want: derived},
		{name: "no secret generated yet", wantErr: "none generated yet at "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("XDG_DATA_HOME", t.TempDir())
			if tc.generated != "" {
				path := appdata.SecretPath()
				if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(tc.generated), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			got, err := webhookKeyOf(caddy.NewReplacer(), tc.settings)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr+appdata.SecretPath()) {
					t.Fatalf("error = %v, want one naming %s", err, appdata.SecretPath())
				}
				if _, statErr := os.Stat(appdata.SecretPath()); statErr == nil {
					t.Error("a secret was generated: no server would use it")
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("webhookKeyOf = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

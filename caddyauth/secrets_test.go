package caddyauth

import (
	"fmt"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestLoadSecrets_ShortSecretsWarnEmptyOnesFail: Better Auth only warns
// about a secret under 32 characters, so a team moving over with one must
// be able to keep it (or every session is lost); an empty value is still a
// mistake worth stopping for.
func TestLoadSecrets_ShortSecretsWarnEmptyOnesFail(t *testing.T) {
	const short, shorter = "short-but-shared-secret", "old-one"
	long := testSecret
	cases := []struct {
		name     string
		secret   []string
		wantKeys []string
		wantWarn string // "" for no warning; else the positions it names
		wantErr  bool
	}{
		{name: "long", secret: []string{long}, wantKeys: []string{long}},
		{name: "short", secret: []string{short}, wantKeys: []string{short}, wantWarn: "[1]"},
		{name: "short older value", secret: []string{long, shorter}, wantKeys: []string{long, shorter}, wantWarn: "[2]"},
		{name: "all short", secret: []string{short, shorter}, wantKeys: []string{short, shorter}, wantWarn: "[1 2]"},
		{name: "empty older value", secret: []string{long, "{env.AUTH_TEST_UNSET}"}, wantErr: true},
		{name: "empty first of two", secret: []string{"{env.AUTH_TEST_UNSET}", long}, wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("XDG_DATA_HOME", t.TempDir())
			core, logs := observer.New(zapcore.DebugLevel)
			g := &Gate{Secret: tc.secret, logger: zap.New(core)}
			got, err := g.loadSecrets(caddy.NewReplacer())
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), "secret") {
					t.Fatalf("error %v does not name the subdirective", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, "|") != strings.Join(tc.wantKeys, "|") {
				t.Errorf("keys = %q, want %q", got, tc.wantKeys)
			}
			warnings := logs.FilterLevelExact(zapcore.WarnLevel).All()
			if tc.wantWarn == "" {
				if len(warnings) != 0 {
					t.Errorf("unexpected warnings: %v", warnings)
				}
				return
			}
			if len(warnings) != 1 {
				t.Fatalf("got %d warnings, want one: %v", len(warnings), warnings)
			}
			w := warnings[0]
			if !strings.Contains(w.Message, "secret") || !strings.Contains(w.Message, "Better Auth") {
				t.Errorf("warning %q names neither the subdirective nor Better Auth", w.Message)
			}
			fields := w.ContextMap()
			if v, ok := fields["values"]; !ok || fmt.Sprint(v) != tc.wantWarn {
				t.Errorf("values field = %v, want %s", fields["values"], tc.wantWarn)
			}
			for _, entry := range logs.All() {
				line := entry.Message + " " + fmt.Sprint(entry.ContextMap())
				for _, s := range tc.secret {
					if strings.Contains(line, s) {
						t.Errorf("log entry %q carries a secret", line)
					}
				}
			}
		})
	}
}

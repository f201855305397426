package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/authgate/authgate/internal/testsupport"
)

// readmeExample is a fenced block of README.md that an HTML comment on the
// line before marks for checking: `<!-- example: adapt -->` (the binary must
// adapt it, and `caddy fmt` must have nothing to change), `<!-- example:
// adapt validate -->` (it must also validate with its environment set), or
// `<!-- example: json -->` (JSON that must appear verbatim, as a value, in
// the adapted form of the checked Caddyfile before it).
type readmeExample struct {
	line  int // of the opening fence, for messages
	lang  string
	modes []string
	body  string
}

func readmeExamples(t *testing.T, path string) []readmeExample {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		out     []readmeExample
		modes   []string // from the marker on the line before a fence
		current *readmeExample
		n       int
	)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		n++
		line := sc.Text()
		switch {
		case current != nil && strings.TrimSpace(line) == "```":
			out = append(out, *current)
			current = nil
		case current != nil:
			current.body += line + "\n"
		case strings.HasPrefix(line, "<!-- example:") && strings.HasSuffix(line, "-->"):
			modes = strings.Fields(strings.TrimSuffix(strings.TrimPrefix(line, "<!-- example:"), "-->"))
		case modes != nil && strings.HasPrefix(line, "```"):
			current = &readmeExample{line: n, lang: strings.TrimPrefix(line, "```"), modes: modes}
			modes = nil
		default:
			if modes != nil {
				t.Fatalf("README.md:%d: an example marker must be followed directly by a fenced block", n)
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if current != nil {
		t.Fatalf("README.md:%d: fenced block never closed", current.line)
	}
	return out
}

// TestREADME_ExamplesAdaptAndValidate keeps the README's complete examples
// working: each marked Caddyfile goes through the built binary's `adapt`
// (and `validate` where marked, with plausible values for the variables it
// reads, loaded with --envfile as the README tells deployers to), and each
// marked JSON form must be part of what `adapt` made of the Caddyfile above
// it, so that the two cannot drift apart.
func TestREADME_ExamplesAdaptAndValidate(t *testing.T) {
	examples := readmeExamples(t, filepath.Join("..", "..", "README.md"))

	envFile := filepath.Join(t.TempDir(), ".env")
	env := strings.Join([]string{
		"DATABASE_URL=postgres://app:app-password@db.example.com/app?sslmode=require",
		"BETTER_AUTH_SECRET=readme-example-secret-readme-example-secret",
		"BETTER_AUTH_URL=https://app.example.com",
		"EMAIL_WEBHOOK_SECRET=readme-example-webhook-key",
	}, "\n") + "\n"
	if err := os.WriteFile(envFile, []byte(env), 0o600); err != nil {
		t.Fatal(err)
	}

	var caddyfiles, jsons int
	var adapted any // of the last checked Caddyfile
	for _, ex := range examples {
		switch ex.lang {
		case "caddyfile":
			caddyfiles++
			adapted = nil
			jsonText, logs, err := adapt(t, ex.body)
			if err != nil {
				t.Errorf("README.md:%d: caddy adapt: %v\n%s", ex.line, err, logs)
				continue
			}
			if strings.Contains(logs, "not formatted") {
				t.Errorf("README.md:%d: caddy fmt would change this example:\n%s", ex.line, logs)
			}
			if err := json.Unmarshal(jsonText, &adapted); err != nil {
				t.Fatalf("README.md:%d: adapt output is not JSON: %v\n%s", ex.line, err, jsonText)
			}
			if slices.Contains(ex.modes, "validate") {
				out, err := testsupport.RunCaddy(t, ex.body, "validate", "--config", "Caddyfile", "--adapter", "caddyfile", "--envfile", envFile)
				if err != nil {
					t.Errorf("README.md:%d: caddy validate: %v\n%s", ex.line, err, out)
				}
			}
		case "json":
			jsons++
			var want any
			if err := json.Unmarshal([]byte(ex.body), &want); err != nil {
				t.Errorf("README.md:%d: not JSON: %v", ex.line, err)
				continue
			}
			if adapted == nil {
				t.Errorf("README.md:%d: a JSON form needs a checked Caddyfile before it", ex.line)
				continue
			}
			if !containsValue(adapted, want) {
				got, _ := json.MarshalIndent(adapted, "", "\t")
				t.Errorf("README.md:%d: this JSON is not what caddy adapt makes of the Caddyfile above it, which is:\n%s", ex.line, got)
			}
		default:
			t.Errorf("README.md:%d: marked example in %q; only caddyfile and json are checked", ex.line, ex.lang)
		}
	}
	// The README promises a minimal Caddyfile with its JSON form and a
	// complete one for the switch from Better Auth: all checked.
	if caddyfiles < 2 || jsons < 1 {
		t.Errorf("found %d checked Caddyfiles and %d JSON forms in README.md, want at least 2 and 1", caddyfiles, jsons)
	}
}

// adapt runs the binary's `caddy adapt` on caddyfile. It keeps stdout, the
// JSON, apart from stderr, where Caddy logs warnings such as an unformatted
// input.
func adapt(t *testing.T, caddyfile string) (jsonText []byte, logs string, err error) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Caddyfile"), []byte(caddyfile), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(testsupport.CaddyBinary(t), "adapt", "--config", "Caddyfile", "--adapter", "caddyfile")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	jsonText, err = cmd.Output()
	return jsonText, stderr.String(), err
}

// containsValue reports whether want occurs anywhere in the JSON tree v.
func containsValue(v, want any) bool {
	if reflect.DeepEqual(v, want) {
		return true
	}
	switch v := v.(type) {
	case map[string]any:
		for _, e := range v {
			if containsValue(e, want) {
				return true
			}
		}
	case []any:
		for _, e := range v {
			if containsValue(e, want) {
				return true
			}
		}
	}
	return false
}

// The demo Caddyfile's commented provider block is what a newcomer
// uncomments first: uncommented, it must adapt, be formatted as `caddy fmt`
// wants, and configure both providers.
func TestDemoCaddyfile_ProviderBlockWorksUncommented(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	demo := string(b)
	uncommented := strings.ReplaceAll(demo, "\t\t#\t", "\t\t")
	if uncommented == demo || !strings.Contains(uncommented, "\t\tsocial github {") {
		t.Fatal("the demo Caddyfile has no commented `social github` block")
	}
	t.Setenv("GITHUB_CLIENT_ID", "id")
	t.Setenv("GITHUB_CLIENT_SECRET", "secret")
	t.Setenv("CORP_CLIENT_ID", "id")
	t.Setenv("CORP_CLIENT_SECRET", "secret")
	out, logs, err := adapt(t, uncommented)
	if err != nil {
		t.Fatalf("adapt the uncommented demo: %v\n%s", err, logs)
	}
	if strings.Contains(logs, "not formatted") {
		t.Errorf("the uncommented demo is not formatted as caddy fmt wants:\n%s", logs)
	}
	for _, want := range []string{`"github"`, `"corp"`, `"https://id.corp.example"`, `"trusted_providers":["corp"]`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("adapted demo lacks %s:\n%s", want, out)
		}
	}
}

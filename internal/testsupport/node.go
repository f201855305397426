package testsupport

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// npmCITimeout bounds one `npm ci`: a cold cache downloads a few dozen MB.
const npmCITimeout = 5 * time.Minute

const nodeBanner = `
************************************************************************
** NODE TEST SKIPPED (%s): %s
** Install Node.js 20 or later with npm (apt-get install nodejs npm).
** Under CI=true this is a failure, not a skip.
************************************************************************
`

// RequireNode returns the paths of node (20 or later) and npm. Without them
// the test fails under CI=true and is skipped, loudly, elsewhere; what names
// the check that would be lost.
func RequireNode(t testing.TB, what string) (node, npm string) {
	t.Helper()
	missing := func(why string) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s: %s may not be skipped in CI", why, what)
		}
		fmt.Fprintf(os.Stderr, nodeBanner, what, why)
		t.Skipf("SKIPPED: %s; %s is not tested", why, what)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node is not on PATH")
	}
	npm, err = exec.LookPath("npm")
	if err != nil {
		missing("npm is not on PATH")
	}
	out, err := exec.Command(node, "--version").Output()
	if err != nil {
		missing(fmt.Sprintf("node --version: %v", err))
	}
	v := strings.TrimPrefix(strings.TrimSpace(string(out)), "v")
	major, _ := strconv.Atoi(strings.SplitN(v, ".", 2)[0])
	if major < 20 {
		missing(fmt.Sprintf("node %s is older than 20", v))
	}
	return node, npm
}

// NodeProject returns the npm project internal/<name> of this repository.
func NodeProject(name string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", name)
}

// NpmCI installs dir's package-lock.json exactly (`npm ci`) unless
// node_modules already holds every pinned dependency at its version,
// installed after the lock file last changed (npm writes
// node_modules/.package-lock.json at the end of an install).
func NpmCI(t testing.TB, npm, dir string) {
	t.Helper()
	reason := npmStale(dir)
	if reason == "" {
		return
	}
	t.Logf("npm ci in %s (%s)", dir, reason)
	ctx, cancel := context.WithTimeout(context.Background(), npmCITimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
	cmd.Dir = dir
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %s", npmCITimeout)
	}
	if err != nil {
		t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
	}
	if reason := npmStale(dir); reason != "" {
		t.Fatalf("after npm ci in %s: %s\n%s", dir, reason, out)
	}
}

func npmStale(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, "package.json"))
	if err != nil {
		return "package.json unreadable"
	}
	var pkg struct{ Dependencies map[string]string }
	if err := json.Unmarshal(b, &pkg); err != nil {
		return "package.json unreadable"
	}
	for name, want := range pkg.Dependencies {
		b, err := os.ReadFile(filepath.Join(dir, "node_modules", name, "package.json"))
		if err != nil {
			return "node_modules/" + name + " is missing"
		}
		var got struct{ Version string }
		if json.Unmarshal(b, &got) != nil || got.Version != want {
			return fmt.Sprintf("node_modules/%s is %q, want %s", name, got.Version, want)
		}
	}
	lock, err := os.Stat(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		return "" // nothing to compare with; npm ci would fail the same way
	}
	installed, err := os.Stat(filepath.Join(dir, "node_modules", ".package-lock.json"))
	if err != nil || installed.ModTime().Before(lock.ModTime()) {
		return "node_modules is older than package-lock.json"
	}
	return ""
}

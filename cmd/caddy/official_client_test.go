package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/testsupport"
)

// The official Better Auth browser client (better-auth/client, pinned in
// internal/betterauth) drives the built binary through a whole account's
// life: internal/betterauth/client-test.mjs. This is the test that the
// client a web app already ships keeps working unchanged against auth_gate.

const (
	betterAuthVersion = "1.7.25"
	npmCITimeout      = 5 * time.Minute
	clientTestTimeout = 2 * time.Minute
)

const nodeSkipBanner = `
************************************************************************
** OFFICIAL BETTER AUTH CLIENT TEST SKIPPED: %s
** Install Node.js 20 or later with npm (apt-get install nodejs npm)
** to check wire compatibility with better-auth/client.
** Under CI=true this is a failure, not a skip.
************************************************************************
`

// betterAuthDir is internal/betterauth, found from this file's location.
func betterAuthDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "internal", "betterauth")
}

// requireNode returns the paths of node and npm. Without them (or with a
// node older than 20) the test fails under CI=true and is skipped, loudly,
// elsewhere.
func requireNode(t *testing.T) (node, npm string) {
	t.Helper()
	missing := func(why string) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s: the official Better Auth client test may not be skipped in CI", why)
		}
		fmt.Fprintf(os.Stderr, nodeSkipBanner, why)
		t.Skipf("SKIPPED: %s; the official Better Auth client is not tested", why)
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

// ensureBetterAuth runs `npm ci` in dir unless node_modules already holds
// better-auth at the pinned version, installed after the lock file last
// changed (npm writes node_modules/.package-lock.json at the end of an
// install; the packages' own files carry the tarballs' fixed 1985 times).
func ensureBetterAuth(t *testing.T, npm, dir string) {
	t.Helper()
	reason := installedBetterAuthStale(dir)
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
	if reason := installedBetterAuthStale(dir); reason != "" {
		t.Fatalf("after npm ci in %s: %s\n%s", dir, reason, out)
	}
}

func installedBetterAuthStale(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, "node_modules", "better-auth", "package.json"))
	if err != nil {
		return "node_modules/better-auth is missing"
	}
	var pkg struct{ Version string }
	if json.Unmarshal(b, &pkg) != nil || pkg.Version != betterAuthVersion {
		return fmt.Sprintf("node_modules/better-auth is %q, want %s", pkg.Version, betterAuthVersion)
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

// mailbox receives auth_gate's email webhook (POST /hook, JSON
// {type,to,url,token,user}) and serves the last message sent to an address
// at GET /last?to=<email> (404 until there is one). It checks nothing else:
// the webhook's signature is another test's business.
type mailbox struct {
	*httptest.Server
	mu   sync.Mutex
	last map[string]json.RawMessage
	errs []string
}

func newMailbox(t *testing.T) *mailbox {
	m := &mailbox{last: map[string]json.RawMessage{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /hook", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		var msg struct {
			To string `json:"to"`
		}
		if err == nil {
			err = json.Unmarshal(body, &msg)
		}
		if err == nil && msg.To == "" {
			err = errors.New(`no "to"`)
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		if err != nil {
			m.errs = append(m.errs, fmt.Sprintf("webhook body %q: %v", body, err))
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		m.last[msg.To] = body
		w.WriteHeader(http.StatusOK)
	})
	mux.HandleFunc("GET /last", func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		body, ok := m.last[r.URL.Query().Get("to")]
		m.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
	m.Server = httptest.NewServer(mux)
	t.Cleanup(m.Close)
	return m
}

func (m *mailbox) problems() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return strings.Join(m.errs, "\n")
}

func TestOfficialBetterAuthClient(t *testing.T) {
	node, npm := requireNode(t)
	dir := betterAuthDir()
	ensureBetterAuth(t, npm, dir)

	testsupport.Both(t, func(t *testing.T, dsn string) {
		mb := newMailbox(t)
		up := testsupport.NewUpstream(t)
		// The flow signs in four times within seconds: the sign-in rate
		// limit (3 / 10 s) is not what this test is about.
		site := testsupport.StartCaddy(t, gatedSite(dsn, up.HostPort(),
			"email_webhook "+mb.URL+"/hook\n\t\trate_limit off"))

		ctx, cancel := context.WithTimeout(context.Background(), clientTestTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, node, "client-test.mjs", site.BaseURL, mb.URL)
		cmd.Dir = dir
		cmd.WaitDelay = 5 * time.Second
		out, err := cmd.CombinedOutput()
		if ctx.Err() != nil {
			err = fmt.Errorf("timed out after %s", clientTestTimeout)
		}
		if err != nil {
			msg := fmt.Sprintf("node client-test.mjs %s %s: %v\n--- client output ---\n%s", site.BaseURL, mb.URL, err, out)
			if p := mb.problems(); p != "" {
				msg += "--- mailbox ---\n" + p + "\n"
			}
			t.Fatalf("%s--- caddy logs ---\n%s", msg, site.Logs())
		}
		t.Logf("official Better Auth client:\n%s", out)
		if p := mb.problems(); p != "" {
			t.Errorf("the mailbox refused webhook calls:\n%s", p)
		}
	})
}

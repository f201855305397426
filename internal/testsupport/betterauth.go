package testsupport

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BetterAuth configures a real Better Auth 1.7.25 server
// (internal/betterauth/server.mjs) for a compatibility test.
type BetterAuth struct {
	DatabaseURL    string // PostgreSQL DSN (required); the tables must exist
	Secret         string // BETTER_AUTH_SECRET (required)
	BasePath       string // default /auth
	BaseURL        string // default http://127.0.0.1:<port>
	TrustedOrigins []string
	// Plugins maps a plugin (twoFactor, admin, jwt, genericOAuth, bearer)
	// to its options, marshalled to JSON.
	Plugins map[string]any
	// SocialProviders is Better Auth's socialProviders option.
	SocialProviders map[string]any
	// AccountLinking is account.accountLinking.
	AccountLinking map[string]any
	// Fields maps a model (user, session, account, verification) to its
	// field → column names, Better Auth's <model>.fields; see
	// BetterAuthSnakeFields.
	Fields map[string]any
	// GitHubURL sends the server's calls to github.com and api.github.com
	// to this origin (a fakeidp.GitHub provider) instead.
	GitHubURL string
	// RateLimit keeps Better Auth's default rate limits (off otherwise).
	RateLimit bool
	// Migrate runs Better Auth's own migrate for this configuration
	// (plugins included) before it listens. Without it the tables must
	// exist: Better Auth answers 500 SCHEMA_MISMATCH on its first request
	// when one it needs is missing.
	Migrate bool
	// Port to listen on; 0 picks a free one. Set it when BaseURL must be
	// known before the server starts.
	Port int
}

// BetterAuthServer is a running Better Auth server.
type BetterAuthServer struct {
	URL  string // http://127.0.0.1:<port>
	logs *syncBuffer
}

// Logs returns what the server printed so far.
func (s *BetterAuthServer) Logs() string { return s.logs.String() }

// StartBetterAuth runs a real Better Auth server until the test ends. It
// needs node and the pinned npm project (installed on demand, see
// NpmCI); without node the test is skipped, or fails under CI=true.
func StartBetterAuth(t testing.TB, c BetterAuth) *BetterAuthServer {
	t.Helper()
	node, npm := RequireNode(t, "the real Better Auth server")
	dir := NodeProject("betterauth")
	NpmCI(t, npm, dir)
	port := c.Port
	if port == 0 {
		port = FreePort(t)
	}
	basePath := c.BasePath
	if basePath == "" {
		basePath = "/auth"
	}
	env := []string{}
	for _, kv := range os.Environ() {
		// NODE_ENV=test would turn Better Auth's CSRF checks off.
		if !strings.HasPrefix(kv, "NODE_ENV=") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"NODE_ENV=production",
		"DATABASE_URL="+c.DatabaseURL,
		"BETTER_AUTH_SECRET="+c.Secret,
		"PORT="+strconv.Itoa(port),
		"BASE_PATH="+basePath,
		"BASE_URL="+c.BaseURL,
		"TRUSTED_ORIGINS="+strings.Join(c.TrustedOrigins, ","),
	)
	if c.GitHubURL != "" {
		env = append(env, "GITHUB_URL="+c.GitHubURL)
	}
	if c.RateLimit {
		env = append(env, "RATE_LIMIT=on")
	}
	if c.Migrate {
		env = append(env, "MIGRATE=on")
	}
	for name, v := range map[string]map[string]any{
		"PLUGINS": c.Plugins, "SOCIAL_PROVIDERS": c.SocialProviders, "ACCOUNT_LINKING": c.AccountLinking,
		"FIELDS": c.Fields,
	} {
		if v == nil {
			continue
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("better-auth %s: %v", name, err)
		}
		env = append(env, name+"="+string(b))
	}
	logs := &syncBuffer{}
	cmd := exec.Command(node, filepath.Join(dir, "server.mjs"))
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout = logs
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start better-auth: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("better-auth output:\n%s", logs.String())
		}
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-exited:
			t.Fatalf("better-auth exited before listening: %v\n%s", err, logs.String())
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("better-auth not listening on %s after 30 s\n%s", addr, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return &BetterAuthServer{URL: "http://" + addr, logs: logs}
}

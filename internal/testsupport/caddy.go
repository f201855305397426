package testsupport

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
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
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// CaddyBinary builds ./cmd/caddy once per test process and returns its path.
// AUTHGATE_TEST_CADDY names a binary to use instead, to run the end-to-end
// tests against another build (an older one, to see a new test fail there).
//
// The binary lives at one path per checkout in the user's cache folder,
// replaced by each test process: a folder of its own per process was never
// removed (nothing runs when a test binary ends), and at ~90 MB a build,
// a few days of test runs filled gigabytes of /tmp. Each process builds to
// a file of its own and renames it into place, so that a process starting
// another's binary always finds a whole one (on Linux a running binary is
// not disturbed by the rename).
func CaddyBinary(t testing.TB) string {
	t.Helper()
	if bin := os.Getenv("AUTHGATE_TEST_CADDY"); bin != "" {
		return bin
	}
	buildOnce.Do(func() { buildPath, buildErr = buildCaddy() })
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

func buildCaddy() (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	root := moduleRoot()
	sum := sha256.Sum256([]byte(root))
	dir := filepath.Join(cache, "authgate-test", hex.EncodeToString(sum[:8]))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	tmp := filepath.Join(dir, fmt.Sprintf("caddy.%d.tmp", os.Getpid()))
	cmd := exec.Command("go", "build", "-o", tmp, "./cmd/caddy")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("go build ./cmd/caddy: %v\n%s", err, out)
	}
	bin := filepath.Join(dir, "caddy")
	if err := os.Rename(tmp, bin); err != nil {
		_ = os.Remove(tmp)
		return "", err
	}
	return bin, nil
}

// moduleRoot is the repository root, found from this file's location.
func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Caddy is a running instance of the built binary.
type Caddy struct {
	Dir     string // its working directory (also XDG data/config home)
	BaseURL string // http://127.0.0.1:<port>
	cmd     *exec.Cmd
	logs    *syncBuffer
	done    chan struct{} // closed when the process has exited
}

// Logs returns everything the process wrote so far.
func (c *Caddy) Logs() string { return c.logs.String() }

// RSS is the process's resident memory in bytes, from /proc (Linux).
func (c *Caddy) RSS() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}

// Kill ends the process with SIGKILL, as a crash or an OOM kill would:
// nothing is flushed, no request is finished. It waits for the exit.
func (c *Caddy) Kill() {
	select {
	case <-c.done:
		return
	default:
	}
	_ = c.cmd.Process.Kill()
	<-c.done
}

// Stop ends the process and waits for it.
func (c *Caddy) Stop() {
	select {
	case <-c.done:
		return
	default:
	}
	_ = c.cmd.Process.Signal(os.Interrupt)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// StartCaddy runs the binary with a Caddyfile in which `{PORT}` is replaced
// by a free port, and waits until that port answers. The admin endpoint is
// off unless the Caddyfile configures it; data and config live in a
// temporary directory.
func StartCaddy(t testing.TB, caddyfile string, env ...string) *Caddy {
	t.Helper()
	bin := CaddyBinary(t)
	dir := t.TempDir()
	port := FreePort(t)
	caddyfile = strings.ReplaceAll(caddyfile, "{PORT}", fmt.Sprint(port))
	if err := os.WriteFile(filepath.Join(dir, "Caddyfile"), []byte(caddyfile), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &Caddy{Dir: dir, BaseURL: fmt.Sprintf("http://127.0.0.1:%d", port), logs: &syncBuffer{}, done: make(chan struct{})}
	c.cmd = exec.Command(bin, "run", "--config", "Caddyfile", "--adapter", "caddyfile")
	c.cmd.Dir = dir
	c.cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
	c.cmd.Env = append(c.cmd.Env, env...)
	c.cmd.Stdout, c.cmd.Stderr = c.logs, c.logs
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start caddy: %v", err)
	}
	go func() { _ = c.cmd.Wait(); close(c.done) }()
	t.Cleanup(c.Stop)

	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-c.done:
			t.Fatalf("caddy exited during start:\n%s", c.Logs())
		default:
		}
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond)
		if err == nil {
			conn.Close()
			return c
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("caddy did not listen on %d within 30s:\n%s", port, c.Logs())
	return nil
}

// RunCaddy runs the binary with args (e.g. "validate") in a temporary
// directory holding caddyfile, and returns its combined output and error.
func RunCaddy(t testing.TB, caddyfile string, args ...string) (string, error) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Caddyfile"), []byte(caddyfile), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, CaddyBinary(t), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Upstream is a real HTTP server standing in for the Python app: it records
// the headers of every request and answers 200.
type Upstream struct {
	*httptest.Server
	mu       sync.Mutex
	requests []*http.Request
}

// NewUpstream starts an Upstream, closed when the test ends.
func NewUpstream(t testing.TB) *Upstream {
	u := &Upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.requests = append(u.requests, r.Clone(context.Background()))
		u.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "upstream saw %s %s", r.Method, r.URL.Path)
	}))
	t.Cleanup(u.Close)
	return u
}

// Last returns the most recent request, or nil.
func (u *Upstream) Last() *http.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.requests) == 0 {
		return nil
	}
	return u.requests[len(u.requests)-1]
}

// Count is the number of requests received.
func (u *Upstream) Count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.requests)
}

// HostPort is the upstream's address for a reverse_proxy line.
func (u *Upstream) HostPort() string { return strings.TrimPrefix(u.URL, "http://") }

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

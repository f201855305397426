package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/lib/pq"
)

// ---------------------------------------------------------------- processes

// proc is a child process: Caddy or the Node peer. It runs in its own
// process group, so that a Ctrl-C in the terminal reaches only authbench,
// which then stops it in order; and it is killed by the kernel if authbench
// dies without cleaning up (Pdeathsig).
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
}

func startProc(name, dir, logPath string, env []string, bin string, args ...string) (*proc, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop interrupts the process and waits for it, killing it after 10 s.
func (p *proc) stop() {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// tail returns the last n bytes of the process's output, for error messages.
func (p *proc) tail(n int64) string {
	f, err := os.Open(p.logPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > n {
		_, _ = f.Seek(-n, io.SeekEnd)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

// waitListening waits until every address accepts TCP connections, failing
// early when the process exits.
func waitListening(ctx context.Context, p *proc, addrs []string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for _, addr := range addrs {
		for {
			if p.exited() {
				return fmt.Errorf("%s exited during start:\n%s", p.name, p.tail(4000))
			}
			conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
			if err == nil {
				conn.Close()
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s did not listen on %s within %s:\n%s", p.name, addr, timeout, p.tail(4000))
			}
			if !sleepUntil(ctx, time.Now().Add(50*time.Millisecond)) {
				return ctx.Err()
			}
		}
	}
	return nil
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// moduleRoot is the root of the Go module in the working directory: the
// repository, when authbench runs as `go run ./cmd/authbench` from it.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the authgate module: run from the repository, or pass --caddy-bin")
	}
	return filepath.Dir(gomod), nil
}

// buildCaddy builds ./cmd/caddy of the module at root into out.
func buildCaddy(ctx context.Context, root, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/caddy")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/caddy: %w\n%s", err, b)
	}
	return nil
}

// startCaddy runs bin with caddyfile in dir, its data and config folders
// inside dir too, and waits until every address in addrs answers.
func startCaddy(ctx context.Context, bin, dir, caddyfile string, addrs []string) (*proc, error) {
	if err := os.WriteFile(filepath.Join(dir, "Caddyfile"), []byte(caddyfile), 0o600); err != nil {
		return nil, err
	}
	env := append(os.Environ(), "XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
	p, err := startProc("caddy", dir, filepath.Join(dir, "caddy.log"), env, bin,
		"run", "--config", "Caddyfile", "--adapter", "caddyfile")
	if err != nil {
		return nil, err
	}
	if err := waitListening(ctx, p, addrs, 60*time.Second); err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}

// ---------------------------------------------------------------- upstream

// upstreamEnv, set to an address, makes authbench serve as the upstream on
// it instead of measuring (see startUpstream).
const upstreamEnv = "AUTHBENCH_SERVE_UPSTREAM"

// startUpstream runs the app behind the proxy in a process of its own, as
// the real app (the Python app auth_gate gates) is: authbench itself,
// re-executed to serve a small fixed body on 127.0.0.1. In the load
// generator's process its request parsing shared a Go runtime, and its
// scheduling, with the generator: run there, the gated variants' slower
// answers cost the generator more than their own time, which moved the
// ratios to plain reverse_proxy by 0.05-0.2 from run to run
// (BENCHMARKS.md, 2026-12-03).
func startUpstream(ctx context.Context, dir string) (addr string, stop func(), err error) {
	port, err := freePort()
	if err != nil {
		return "", nil, err
	}
	addr = fmt.Sprintf("127.0.0.1:%d", port)
	self, err := os.Executable()
	if err != nil {
		return "", nil, fmt.Errorf("upstream: %w", err)
	}
	p, err := startProc("upstream", dir, filepath.Join(dir, "upstream.log"),
		append(os.Environ(), upstreamEnv+"="+addr), self)
	if err != nil {
		return "", nil, err
	}
	if err := waitListening(ctx, p, []string{addr}, 10*time.Second); err != nil {
		p.stop()
		return "", nil, err
	}
	return addr, p.stop, nil
}

// serveUpstream is the upstream process: it answers every request with
// the same small body until it is interrupted, as cheap as an upstream can
// be, so that what the variants add is what shows.
func serveUpstream(addr string) error {
	body := []byte("hello from the upstream\n")
	srv := &http.Server{
		Addr: addr,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			_, _ = w.Write(body)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { <-ctx.Done(); _ = srv.Close() }()
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// ---------------------------------------------------------------- PostgreSQL

// createDatabase makes a fresh, uniquely named database on the server of
// admin and returns its DSN (admin with the database replaced) and a func
// that drops it.
func createDatabase(ctx context.Context, admin string) (dsn string, drop func() error, err error) {
	u, err := url.Parse(admin)
	if err != nil {
		return "", nil, errors.New("--database is not a URL (want postgres://…)")
	}
	var raw [6]byte
	_, _ = rand.Read(raw[:])
	name := "authbench_" + hex.EncodeToString(raw[:])
	db, err := sql.Open("postgres", admin)
	if err != nil {
		return "", nil, fmt.Errorf("open admin database: %w", err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(name)); err != nil {
		return "", nil, fmt.Errorf("create database %s: %w", name, err)
	}
	u.Path = "/" + name
	drop = func() error {
		db, err := sql.Open("postgres", admin)
		if err != nil {
			return err
		}
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// FORCE (PostgreSQL 13+) ends connections a killed process left.
		_, err = db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+pq.QuoteIdentifier(name)+" WITH (FORCE)")
		if err != nil {
			_, err = db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+pq.QuoteIdentifier(name))
		}
		if err != nil {
			return fmt.Errorf("drop database %s: %w", name, err)
		}
		return nil
	}
	return u.String(), drop, nil
}

// postgresInfo returns the server's version and, when the server runs on
// this machine and its processes are visible, the postmaster's pid (else 0).
func postgresInfo(ctx context.Context, dsn string) (version string, postmaster int, err error) {
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		return "", 0, err
	}
	defer db.Close()
	var backend int
	if err := db.QueryRowContext(ctx, "SELECT current_setting('server_version'), pg_backend_pid()").Scan(&version, &backend); err != nil {
		return "", 0, fmt.Errorf("query PostgreSQL: %w", err)
	}
	st, err := readStat(backend)
	if err != nil {
		return version, 0, nil // another machine or pid namespace
	}
	comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", st.ppid))
	if !strings.HasPrefix(string(comm), "postgres") {
		return version, 0, nil
	}
	return version, st.ppid, nil
}

// ---------------------------------------------------------------- CPU time

// Linux reports process times in clock ticks of 1/100 s (USER_HZ, which
// is 100 on every architecture Go supports).
const clockTick = 10 * time.Millisecond

type procStat struct {
	ppid                         int
	utime, stime, cutime, cstime time.Duration
}

// readStat parses /proc/<pid>/stat. The command name (field 2) may hold
// spaces and parentheses, so fields are counted from its closing ')'.
func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(b[i+1:])) // f[0] is field 3 (state)
	if len(f) < 15 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	num := func(k int) int64 { n, _ := strconv.ParseInt(f[k-3], 10, 64); return n }
	return procStat{
		ppid:   int(num(4)),
		utime:  time.Duration(num(14)) * clockTick,
		stime:  time.Duration(num(15)) * clockTick,
		cutime: time.Duration(num(16)) * clockTick,
		cstime: time.Duration(num(17)) * clockTick,
	}, nil
}

// cpuSource reports a monotonic CPU time; nil when it cannot be measured.
type cpuSource func() (time.Duration, error)

// processCPU is the user+system time of one process (all its threads).
func processCPU(pid int) cpuSource {
	return func() (time.Duration, error) {
		st, err := readStat(pid)
		return st.utime + st.stime, err
	}
}

// clusterCPU is the CPU time of a PostgreSQL cluster: the postmaster's own,
// its reaped children's (backends that have exited, counted in its cutime
// and cstime), and its live children's.
func clusterCPU(postmaster int) cpuSource {
	return func() (time.Duration, error) {
		st, err := readStat(postmaster)
		if err != nil {
			return 0, err
		}
		total := st.utime + st.stime + st.cutime + st.cstime
		entries, err := os.ReadDir("/proc")
		if err != nil {
			return 0, err
		}
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			if c, err := readStat(pid); err == nil && c.ppid == postmaster {
				total += c.utime + c.stime
			}
		}
		return total, nil
	}
}

// cpuMeter reads a source before and after a slice.
type cpuMeter struct {
	src   cpuSource
	start time.Duration
	ok    bool
}

func startCPU(src cpuSource) cpuMeter {
	if src == nil {
		return cpuMeter{}
	}
	t, err := src()
	return cpuMeter{src: src, start: t, ok: err == nil}
}

// stop returns the CPU time used since start, and whether it is known.
func (m cpuMeter) stop() (time.Duration, bool) {
	if !m.ok {
		return 0, false
	}
	t, err := m.src()
	if err != nil {
		return 0, false
	}
	return t - m.start, true
}

// settle waits, at most maxWait, until the sources together use less than
// a tenth of a CPU over two 250 ms samples in a row: a server still working
// off an earlier slice (Node keeps hashing for clients that gave up) would
// otherwise take CPU from the next one.
func settle(ctx context.Context, maxWait time.Duration, srcs ...cpuSource) {
	deadline := time.Now().Add(maxWait)
	quiet := 0
	for quiet < 2 && time.Now().Before(deadline) {
		var meters []cpuMeter
		for _, s := range srcs {
			meters = append(meters, startCPU(s))
		}
		if !sleepUntil(ctx, time.Now().Add(250*time.Millisecond)) {
			return
		}
		var used time.Duration
		for _, m := range meters {
			d, _ := m.stop()
			used += d
		}
		if used <= 25*time.Millisecond {
			quiet++
		} else {
			quiet = 0
		}
	}
}

// ---------------------------------------------------------------- Node peer

const betterAuthVersion = "1.7.25"

// ensureNodeModules runs `npm ci` in dir unless node_modules holds
// better-auth at the pinned version and pg, installed after the lock file
// last changed (the same rule as the official-client test).
func ensureNodeModules(ctx context.Context, npm, dir string) error {
	stale := func() string {
		b, err := os.ReadFile(filepath.Join(dir, "node_modules", "better-auth", "package.json"))
		if err != nil {
			return "node_modules/better-auth is missing"
		}
		var pkg struct{ Version string }
		if json.Unmarshal(b, &pkg) != nil || pkg.Version != betterAuthVersion {
			return fmt.Sprintf("node_modules/better-auth is %q, want %s", pkg.Version, betterAuthVersion)
		}
		if _, err := os.Stat(filepath.Join(dir, "node_modules", "pg", "package.json")); err != nil {
			return "node_modules/pg is missing"
		}
		lock, err := os.Stat(filepath.Join(dir, "package-lock.json"))
		if err != nil {
			return ""
		}
		installed, err := os.Stat(filepath.Join(dir, "node_modules", ".package-lock.json"))
		if err != nil || installed.ModTime().Before(lock.ModTime()) {
			return "node_modules is older than package-lock.json"
		}
		return ""
	}
	reason := stale()
	if reason == "" {
		return nil
	}
	logf("npm ci in %s (%s)", dir, reason)
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
	cmd.Dir = dir
	cmd.WaitDelay = 10 * time.Second
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("npm ci in %s: %w\n%s", dir, err, out)
	}
	if reason := stale(); reason != "" {
		return fmt.Errorf("after npm ci in %s: %s", dir, reason)
	}
	return nil
}

// startPeer runs internal/betterauth/server.mjs: a real Better Auth server
// on the database dsn, with the same secret and base path as auth_gate.
func startPeer(ctx context.Context, node, dir, logDir, dsn, secret string, trusted []string) (p *proc, base string, err error) {
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	env := []string{}
	for _, kv := range os.Environ() {
		// NODE_ENV=test would turn Better Auth's CSRF checks off; the
		// peer runs as deployed.
		if !strings.HasPrefix(kv, "NODE_ENV=") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"NODE_ENV=production",
		"DATABASE_URL="+dsn,
		"BETTER_AUTH_SECRET="+secret,
		"PORT="+strconv.Itoa(port),
		"BASE_PATH=/auth",
		"TRUSTED_ORIGINS="+strings.Join(trusted, ","),
	)
	p, err = startProc("better-auth", dir, filepath.Join(logDir, "better-auth.log"), env, node, "server.mjs")
	if err != nil {
		return nil, "", err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if err := waitListening(ctx, p, []string{addr}, 30*time.Second); err != nil {
		p.stop()
		return nil, "", err
	}
	return p, "http://" + addr, nil
}

// nodeVersion is `node --version`, or "" when it fails.
func nodeVersion(ctx context.Context, node string) string {
	out, err := exec.CommandContext(ctx, node, "--version").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

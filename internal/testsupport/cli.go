package testsupport

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// CLI runs the built binary's commands the way an operator does: in one
// working directory (where a Caddyfile may sit), with Caddy's data and
// config homes under it, so that a Caddy started with Env shares its data
// directory.
type CLI struct {
	Dir string
	// Env is added to the process environment of every run: XDG_DATA_HOME
	// and XDG_CONFIG_HOME under Dir, then whatever a test appends.
	Env []string
}

// CLIResult is the outcome of one run.
type CLIResult struct {
	Stdout, Stderr string
	Code           int // exit status, 0 on success
}

// Output is stdout and stderr together, for messages and leak checks.
func (r CLIResult) Output() string { return r.Stdout + r.Stderr }

// NewCLI returns a CLI working in a fresh temporary directory.
func NewCLI(t testing.TB) *CLI {
	t.Helper()
	dir := t.TempDir()
	return &CLI{Dir: dir, Env: []string{
		"XDG_DATA_HOME=" + filepath.Join(dir, "data"),
		"XDG_CONFIG_HOME=" + filepath.Join(dir, "config"),
	}}
}

// WriteFile writes a file (a Caddyfile, an env file) into Dir.
func (c *CLI) WriteFile(t testing.TB, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(c.Dir, name), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// Run runs the binary with args, stdin fed from stdin (so not a terminal;
// "" gives an empty stdin), and returns what it wrote and its exit status.
// A run that cannot start or outlives a minute fails the test.
func (c *CLI) Run(t testing.TB, stdin string, args ...string) CLIResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, CaddyBinary(t), args...)
	cmd.Dir = c.Dir
	cmd.Env = append(os.Environ(), c.Env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := CLIResult{Stdout: stdout.String(), Stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("caddy %s did not finish within a minute:\n%s", strings.Join(args, " "), res.Output())
	case errors.As(err, &exit):
		res.Code = exit.ExitCode()
	case err != nil:
		t.Fatalf("run caddy %s: %v", strings.Join(args, " "), err)
	}
	return res
}

// Terminal is a run of the binary on a pseudo-terminal, for what only
// happens when stdin is a terminal (password prompts without echo,
// confirmations). It goes through script(1) (util-linux, Debian's essential
// bsdutils), so no pty library is needed.
type Terminal struct {
	t      testing.TB
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *syncBuffer
	seen   int // how much of out Expect has consumed
	done   chan struct{}
	cancel context.CancelFunc
}

// Terminal starts the binary with args on a pseudo-terminal. It skips the
// test when script(1) is missing.
func (c *CLI) Terminal(t testing.TB, args ...string) *Terminal {
	t.Helper()
	script, err := exec.LookPath("script")
	if err != nil {
		t.Skip("script(1) is not installed: the terminal prompts are not tested")
	}
	quoted := []string{shellQuote(CaddyBinary(t))}
	for _, a := range args {
		quoted = append(quoted, shellQuote(a))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	// -q: no start/done banners; -e: exit with the child's status.
	cmd := exec.CommandContext(ctx, script, "-q", "-e", "-c", strings.Join(quoted, " "), "/dev/null")
	cmd.Dir = c.Dir
	cmd.Env = append(os.Environ(), c.Env...)
	in, err := cmd.StdinPipe()
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	term := &Terminal{t: t, cmd: cmd, in: in, out: &syncBuffer{}, done: make(chan struct{}), cancel: cancel}
	cmd.Stdout, cmd.Stderr = term.out, term.out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start script: %v", err)
	}
	go func() { _ = cmd.Wait(); close(term.done) }()
	t.Cleanup(func() {
		cancel()
		<-term.done
	})
	return term
}

// Expect waits until the terminal shows text after what earlier Expects
// consumed. Typing before a prompt appears would let the terminal echo it,
// so tests Expect the prompt first.
func (tm *Terminal) Expect(text string) {
	tm.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		all := tm.out.String()
		if i := strings.Index(all[tm.seen:], text); i >= 0 {
			tm.seen += i + len(text)
			return
		}
		select {
		case <-tm.done:
			if strings.Contains(tm.out.String()[tm.seen:], text) {
				continue
			}
			tm.t.Fatalf("terminal run ended without showing %q:\n%s", text, tm.out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	tm.t.Fatalf("terminal did not show %q within 30s:\n%s", text, tm.out.String())
}

// Type sends a line, as typed followed by Enter.
func (tm *Terminal) Type(line string) {
	tm.t.Helper()
	if _, err := io.WriteString(tm.in, line+"\r"); err != nil {
		tm.t.Fatalf("type into terminal: %v", err)
	}
}

// TypeSecret is Type for an answer to a no-echo prompt. A program shows the
// prompt and only then turns echo off (golang.org/x/term.ReadPassword does),
// so a line typed the instant the prompt appears can still be echoed; a
// person never types that fast, and TypeSecret waits as one would.
func (tm *Terminal) TypeSecret(line string) {
	tm.t.Helper()
	time.Sleep(300 * time.Millisecond)
	tm.Type(line)
}

// Wait waits for the run to end and returns everything the terminal showed
// (stdout and stderr together, with the terminal's \r\n line endings) and
// the exit status.
func (tm *Terminal) Wait() (string, int) {
	tm.t.Helper()
	select {
	case <-tm.done:
	case <-time.After(30 * time.Second):
		tm.cancel()
		<-tm.done
		tm.t.Fatalf("terminal run did not end within 30s:\n%s", tm.out.String())
	}
	_ = tm.in.Close()
	return tm.out.String(), tm.cmd.ProcessState.ExitCode()
}

// shellQuote quotes s for sh, which script -c runs the command with.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
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

// clientTestTimeout bounds the client's whole run.
const clientTestTimeout = 2 * time.Minute

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
	node, npm := testsupport.RequireNode(t, "the official Better Auth client")
	dir := testsupport.NodeProject("betterauth")
	testsupport.NpmCI(t, npm, dir)

	testsupport.Both(t, func(t *testing.T, dsn string) {
		mb := newMailbox(t)
		up := testsupport.NewUpstream(t)
		// The flow signs in four times within seconds: the sign-in rate
		// limit (3 / 10 s) is not what this test is about.
		site := testsupport.StartCaddy(t, gatedSite(dsn, up.HostPort(),
			"email_webhook "+mb.URL+"/hook\n\t\trate_limit off"))

		out, err := runClientScript(node, dir, "client-test.mjs", site.BaseURL, mb.URL)
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

// runClientScript runs one of internal/betterauth's client scripts with
// node in dir, bounded by clientTestTimeout, and returns what it printed.
func runClientScript(node, dir string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), clientTestTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Dir = dir
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %s", clientTestTimeout)
	}
	return out, err
}

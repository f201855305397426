package caddyauth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// testSecret is the probe secret of the Better Auth reference captures.
const testSecret = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"

// testGate is a provisioned, started Gate in front of a recording upstream,
// driven through ServeHTTP the way Caddy's server calls it.
type testGate struct {
	t    *testing.T
	g    *Gate
	next *recordingNext
}

// recordingNext stands in for the next handler and remembers what reached it.
type recordingNext struct {
	mu     sync.Mutex
	calls  int
	header http.Header
	repl   map[string]string
}

func (n *recordingNext) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.calls++
	n.header = r.Header.Clone()
	n.repl = map[string]string{}
	repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	for _, k := range identityPlaceholders {
		if v, ok := repl.GetString(k); ok {
			n.repl[k] = v
		}
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("upstream"))
	return nil
}

// newTestGate provisions auth_gate from a Caddyfile block body (database,
// secret and `rate_limit off` are added: the tests sign in often from one
// client IP; newLimitedGate in ratelimit_test.go leaves limits on) and starts
// its app, as `caddy run` would.
func newTestGate(t *testing.T, dsn, extra string) *testGate {
	t.Helper()
	g, err := provisionFromCaddyfile(t, "database "+dsn+"\nsecret "+testSecret+"\nrate_limit off\n"+withSiteBaseURL(extra))
	if err != nil {
		t.Fatalf("provision: %v", err)
	}
	return &testGate{t: t, g: g, next: &recordingNext{}}
}

// withSiteBaseURL adds `base_url http://example.com`, httptest's host and so
// the tests' own site, to a block that configures email delivery without a
// base_url, which email delivery requires.
func withSiteBaseURL(block string) string {
	if (strings.Contains(block, "email_webhook") || strings.Contains(block, "email_log")) && !strings.Contains(block, "base_url") {
		return "base_url http://example.com\n" + block
	}
	return block
}

func provisionFromCaddyfile(t *testing.T, block string) (*Gate, error) {
	t.Helper()
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	d := caddyfile.NewTestDispenser("auth_gate {\n" + block + "\n}")
	g := new(Gate)
	if err := g.UnmarshalCaddyfile(d); err != nil {
		return nil, err
	}
	ctx, err := caddy.ProvisionContext(nil)
	if err != nil {
		t.Fatalf("caddy context: %v", err)
	}
	t.Cleanup(func() { _ = g.Cleanup() })
	if err := g.Provision(ctx); err != nil {
		return nil, err
	}
	if err := g.Validate(); err != nil {
		return nil, err
	}
	app, err := ctx.App(appID)
	if err != nil {
		t.Fatalf("app: %v", err)
	}
	if err := app.(caddy.App).Start(); err != nil {
		return nil, err
	}
	return g, nil
}

// do serves r with the context Caddy's server would give it.
func (tg *testGate) do(r *http.Request) *httptest.ResponseRecorder {
	tg.t.Helper()
	repl := caddy.NewReplacer()
	ctx := context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl)
	ctx = context.WithValue(ctx, caddyhttp.VarsCtxKey, map[string]any{caddyhttp.ClientIPVarKey: "203.0.113.7"})
	r = r.WithContext(ctx)
	w := httptest.NewRecorder()
	if err := tg.g.ServeHTTP(w, r, tg.next); err != nil {
		tg.t.Fatalf("ServeHTTP returned %v", err)
	}
	return w
}

// req builds a request; body given as a string is sent as JSON.
func req(method, target, body string, headers ...string) *http.Request {
	var r *http.Request
	if body == "" {
		r = httptest.NewRequest(method, target, nil)
	} else {
		r = httptest.NewRequest(method, target, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	return r
}

// signUp creates a user through the API and returns the session cookie
// header value and the JSON answer.
func (tg *testGate) signUp(name, email, password string) (cookie string, resp map[string]any) {
	tg.t.Helper()
	body, _ := json.Marshal(map[string]string{"name": name, "email": email, "password": password})
	w := tg.do(req("POST", "/auth/sign-up/email", string(body)))
	if w.Code != http.StatusOK {
		tg.t.Fatalf("sign-up %s: %d %s", email, w.Code, w.Body)
	}
	return sessionCookieFrom(tg.t, w), decodeJSON(tg.t, w)
}

func (tg *testGate) signIn(email, password string) (cookie string, resp map[string]any) {
	tg.t.Helper()
	body, _ := json.Marshal(map[string]string{"email": email, "password": password})
	w := tg.do(req("POST", "/auth/sign-in/email", string(body)))
	if w.Code != http.StatusOK {
		tg.t.Fatalf("sign-in %s: %d %s", email, w.Code, w.Body)
	}
	return sessionCookieFrom(tg.t, w), decodeJSON(tg.t, w)
}

// sessionCookieFrom returns "name=value" of the session cookie set by w.
func sessionCookieFrom(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	for _, sc := range w.Header().Values("Set-Cookie") {
		if strings.HasPrefix(sc, "better-auth.session_token=") || strings.HasPrefix(sc, "__Secure-better-auth.session_token=") {
			return strings.SplitN(sc, ";", 2)[0]
		}
	}
	t.Fatalf("no session cookie in %q", w.Header().Values("Set-Cookie"))
	return ""
}

func decodeJSON(t *testing.T, w *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatalf("response is not a JSON object: %v: %s", err, w.Body)
	}
	return m
}

// wireCookie computes a session cookie value with the documented algorithm
// (Better Auth's), independently of package bacodec: encodeURIComponent(token + "." +
// base64std(HMAC-SHA256(secret, token))).
func wireCookie(secret, token string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(token))
	return url.QueryEscape(token + "." + base64.StdEncoding.EncodeToString(mac.Sum(nil)))
}

// wantError checks an error answer's status and code.
func wantError(t *testing.T, w *httptest.ResponseRecorder, status int, code string) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status = %d, want %d; body %s", w.Code, status, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	m := decodeJSON(t, w)
	if m["code"] != code {
		t.Fatalf("code = %v, want %s; body %s", m["code"], code, w.Body)
	}
	if msg, _ := m["message"].(string); msg == "" {
		t.Errorf("error without message: %s", w.Body)
	}
}

// formRequest is a POST with an application/x-www-form-urlencoded body.
func formRequest(target, body string) *http.Request {
	r := httptest.NewRequest("POST", target, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r
}

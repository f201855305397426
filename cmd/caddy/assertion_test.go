package main

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authgate/authgate/internal/testsupport"
)

// pythonWithJWT is a python3 that imports PyJWT and cryptography (Debian's
// python3-jwt and python3-cryptography, which .ci/run installs); the tests
// that need one fail under CI=true without it, and skip elsewhere.
func pythonWithJWT(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"python3", "/usr/bin/python3"} {
		if path, err := exec.LookPath(p); err == nil && exec.Command(path, "-c", "import jwt, cryptography").Run() == nil {
			return path
		}
	}
	msg := "no python3 with PyJWT and cryptography (apt-get install python3-jwt python3-cryptography)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip("SKIPPING: " + msg)
	return ""
}

var verifierDir = filepath.Join("..", "..", "examples", "python-verifier")

// The example verifier's own tests: tampered, expired, wrong-audience,
// wrong-issuer, wrong-key and wrong-algorithm tokens are refused.
func TestPythonVerifier_UnitTests(t *testing.T) {
	cmd := exec.Command(pythonWithJWT(t), "-m", "unittest", "-v")
	cmd.Dir = verifierDir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python unittest: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "OK") {
		t.Fatalf("unexpected output:\n%s", out)
	}
}

// jwksOf fetches the site's JWKS and returns its Ed25519 keys by kid.
func jwksOf(t *testing.T, c *client) map[string]ed25519.PublicKey {
	t.Helper()
	resp, body := c.do("GET", "/auth/jwks", "")
	if resp.StatusCode != 200 {
		t.Fatalf("jwks: %d %s", resp.StatusCode, body)
	}
	var set struct {
		Keys []struct{ Kid, Kty, Crv, Alg, X string } `json:"keys"`
	}
	if err := json.Unmarshal([]byte(body), &set); err != nil {
		t.Fatal(err)
	}
	keys := map[string]ed25519.PublicKey{}
	for _, k := range set.Keys {
		x, err := base64.RawURLEncoding.DecodeString(k.X)
		if err != nil || k.Kty != "OKP" || k.Crv != "Ed25519" || k.Alg != "EdDSA" || len(x) != ed25519.PublicKeySize {
			t.Fatalf("unexpected key %+v", k)
		}
		keys[k.Kid] = x
	}
	return keys
}

// verifyEd25519 checks a compact JWS with crypto/ed25519 alone and returns
// its kid and claims.
func verifyEd25519(t *testing.T, tok string, keys map[string]ed25519.PublicKey) (string, map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %q", tok)
	}
	var hdr struct{ Alg, Kid string }
	var claims map[string]any
	for i, v := range []any{&hdr, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil || json.Unmarshal(b, v) != nil {
			t.Fatalf("bad part %d of %q", i, tok)
		}
	}
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	key, ok := keys[hdr.Kid]
	if hdr.Alg != "EdDSA" || !ok || !ed25519.Verify(key, []byte(parts[0]+"."+parts[1]), sig) {
		t.Fatalf("token (alg %s, kid %s) does not verify against the JWKS", hdr.Alg, hdr.Kid)
	}
	return hdr.Kid, claims
}

// The assertion through the built binary, on PostgreSQL: what reaches the
// app verifies against the served JWKS (Go's crypto/ed25519, and the Python
// example), a client's forged copy never passes, /token works, and after
// `caddy auth keys rotate` the tokens signed before still verify.
func TestE2E_AssertionVerifiesAgainstTheServedKeysAcrossARotation(t *testing.T) {
	up := testsupport.NewUpstream(t)
	dsn := testsupport.PostgresDSN(t)
	cf := gatedSite(dsn, up.HostPort(), "assertion\n\t\tjwt")
	site := testsupport.StartCaddy(t, cf)
	c := newClient(t, site.BaseURL)
	if resp, body := c.do("POST", "/auth/sign-up/email", `{"name":"Ada","email":"ada@example.com","password":"password123"}`); resp.StatusCode != 200 {
		t.Fatalf("sign-up %d %s", resp.StatusCode, body)
	}

	if resp, _ := c.do("GET", "/app", "", "X-Auth-Assertion", "forged", "X_Auth_Assertion", "forged"); resp.StatusCode != 200 {
		t.Fatalf("gated request %d\n%s", resp.StatusCode, site.Logs())
	}
	last := up.Last()
	tok := last.Header.Get("X-Auth-Assertion")
	for k, v := range last.Header {
		if strings.Contains(strings.Join(v, ","), "forged") {
			t.Errorf("forged %s reached the app", k)
		}
	}
	keys := jwksOf(t, c)
	oldKid, claims := verifyEd25519(t, tok, keys)
	if claims["iss"] != site.BaseURL || claims["aud"] != site.BaseURL || claims["email"] != "ada@example.com" ||
		claims["sub"] != last.Header.Get("X-User-Id") || claims["sid"] != last.Header.Get("X-Session-Id") || claims["role"] != "user" {
		t.Errorf("claims %v", claims)
	}
	if len(keys) != 1 {
		t.Errorf("%d keys before any rotation", len(keys))
	}

	resp, body := c.do("GET", "/auth/token", "")
	var got struct{ Token string }
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &got) != nil {
		t.Fatalf("token %d %s", resp.StatusCode, body)
	}
	verifyEd25519(t, got.Token, keys)

	// A client-sent copy without a session never reaches the app either.
	anon := newClient(t, site.BaseURL)
	anon.do("GET", "/public", "", "X-Auth-Assertion", "forged", "x_auth_assertion", "forged")
	if h := up.Last().Header; h.Get("X-Auth-Assertion") != "" || h.Get("X_auth_assertion") != "" {
		t.Errorf("unauthenticated public request passed an assertion: %v", h)
	}

	// Rotate with the operator's command, against the running site.
	cli := testsupport.NewCLI(t)
	cli.WriteFile(t, "Caddyfile", strings.ReplaceAll(cf, "{PORT}", strings.TrimPrefix(site.BaseURL, "http://127.0.0.1:")))
	res := cli.Run(t, "", "auth", "keys", "rotate")
	if res.Code != 0 || !strings.Contains(res.Stdout, "added signing key") || !strings.Contains(res.Stdout, oldKid) {
		t.Fatalf("keys rotate: %d\n%s", res.Code, res.Output())
	}
	if strings.Contains(res.Output(), e2eSecret) {
		t.Error("keys rotate printed the secret")
	}
	// Without a config there is no secret to encrypt a key with.
	if res := cli.Run(t, "", "auth", "keys", "rotate", "--database", dsn); res.Code == 0 || !strings.Contains(res.Stderr, "use --config") {
		t.Errorf("keys rotate --database: %d\n%s", res.Code, res.Output())
	}
	keys = jwksOf(t, c)
	if len(keys) != 2 {
		t.Fatalf("%d keys after the rotation, want the old and the new", len(keys))
	}
	verifyEd25519(t, tok, keys) // signed before the rotation: still good

	// The Python example verifies what the app received, against the live
	// JWKS, and refuses it for another audience.
	python := pythonWithJWT(t)
	verify := func(aud string) (string, error) {
		cmd := exec.Command(python, "auth_assertion.py", site.BaseURL+"/auth/jwks", site.BaseURL, aud)
		cmd.Dir = verifierDir
		cmd.Stdin = strings.NewReader(tok)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := verify(site.BaseURL); err != nil || !strings.Contains(out, `"sub": "`+last.Header.Get("X-User-Id")+`"`) {
		t.Errorf("python verifier: %v\n%s", err, out)
	}
	if out, err := verify("https://other.example.com"); err == nil {
		t.Errorf("python verifier accepted another audience:\n%s", out)
	}
}

// A client's X-Auth-Assertion sent as a request trailer (declared or not,
// in any spelling) never reaches the app; the gate's own, in the headers,
// does.
func TestSecurity_TrailersNeverCarryAnAssertion(t *testing.T) {
	up := newRawUpstream(t)
	site := testsupport.StartCaddy(t, gatedSite(testsupport.SQLiteDSN(t), up.ln.Addr().String(), "rate_limit off\n\t\tassertion"))
	c := newClient(t, site.BaseURL)
	resp, body := c.do("POST", "/auth/sign-up/email", `{"name":"Eve","email":"eve@example.com","password":"password123"}`)
	if resp.StatusCode != 200 {
		t.Fatalf("sign-up %d %s", resp.StatusCode, body)
	}
	cookie := sessionCookieOf(t, resp)
	addr := strings.TrimPrefix(site.BaseURL, "http://")
	for _, tc := range []struct{ name, path, cookie, declared string }{
		{"public, declared", "/public/x", "", "X-Auth-Assertion, X-Other"},
		{"gated, undeclared behind another", "/app", cookie, "X-Other"},
		{"gated, underscore spelling", "/app", cookie, "X_Auth_Assertion, X-Other"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var req strings.Builder
			fmt.Fprintf(&req, "POST %s HTTP/1.1\r\nHost: %s\r\nTransfer-Encoding: chunked\r\nTrailer: %s\r\n", tc.path, addr, tc.declared)
			if tc.cookie != "" {
				fmt.Fprintf(&req, "Cookie: %s\r\n", tc.cookie)
			}
			req.WriteString("Connection: close\r\n\r\n5\r\nhello\r\n0\r\n")
			req.WriteString("X-Auth-Assertion: forged-token\r\nX_Auth_Assertion: forged-token\r\nX-Other: kept\r\n\r\n")
			if got := rawRequest(t, addr, req.String()); got != "200 OK" {
				t.Fatalf("status %q\n%s", got, site.Logs())
			}
			raw := up.last(t)
			if !strings.Contains(raw, "X-Other: kept") {
				t.Fatalf("the upstream got no trailers at all; the test proves nothing:\n%s", raw)
			}
			if strings.Contains(raw, "forged-token") {
				t.Errorf("the forged assertion reached the upstream:\n%s", raw)
			}
			if signed := strings.Contains(raw, "X-Auth-Assertion: ey"); signed != (tc.cookie != "") {
				t.Errorf("gate's own assertion present = %v, want %v:\n%s", signed, tc.cookie != "", raw)
			}
		})
	}
}

package testsupport

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// The Better Auth server starts with every plugin the compatibility tests
// use, and its plugin routes answer (GET /jwks needs no table to 404 on).
func TestStartBetterAuth_LoadsThePlugins(t *testing.T) {
	ba := StartBetterAuth(t, BetterAuth{
		DatabaseURL: PostgresDSN(t),
		Secret:      strings.Repeat("s", 32),
		Migrate:     true,
		Plugins: map[string]any{
			"twoFactor": map[string]any{"issuer": "test"},
			"admin":     map[string]any{},
			"jwt":       map[string]any{},
			"genericOAuth": map[string]any{"config": []any{map[string]any{
				"providerId": "corp", "clientId": "c", "clientSecret": "s",
				"authorizationUrl": "http://127.0.0.1:1/authorize", "tokenUrl": "http://127.0.0.1:1/token",
			}}},
		},
	})
	res, err := http.Get(ba.URL + "/auth/ok")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), `"ok":true`) {
		t.Fatalf("GET /auth/ok = %d %s\n%s", res.StatusCode, body, ba.Logs())
	}
	// A route only the two-factor plugin serves: without a session it is
	// 401, where an unknown route would be 404.
	res, err = http.Post(ba.URL+"/auth/two-factor/enable", "application/json", strings.NewReader(`{"password":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode == http.StatusNotFound {
		t.Fatalf("POST /auth/two-factor/enable = 404: the plugin is not loaded\n%s", ba.Logs())
	}
}

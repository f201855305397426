package caddyauth

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/authgate/authgate/caddyauth/internal/jwks"
	"github.com/authgate/authgate/internal/testsupport"
	"github.com/authgate/authgate/store"
)

// The real Better Auth jwt plugin on the same PostgreSQL database, its
// "jwks" table created by us (no Better Auth migrate): a key it made signs
// our tokens, which verify against its /jwks; a key we made signs its
// tokens, which verify against ours.
func TestJWT_SharesKeysWithBetterAuthsPlugin(t *testing.T) {
	dsn := testsupport.PostgresDSN(t)
	port := testsupport.FreePort(t)
	site := fmt.Sprintf("http://127.0.0.1:%d", port)
	tg := newTestGate(t, dsn, "base_url "+site+"\njwt")
	if err := tg.g.store().EnsureJWKSTable(t.Context()); err != nil {
		t.Fatal(err)
	}
	cookie, _ := tg.signUp("Ada", "ada@example.com", "password123")
	ba := testsupport.StartBetterAuth(t, testsupport.BetterAuth{
		DatabaseURL: dsn, Secret: testSecret, BaseURL: site, Port: port,
		Plugins: map[string]any{"jwt": map[string]any{}},
	})
	baGet := func(path string, headers ...string) []byte {
		t.Helper()
		r, _ := http.NewRequest("GET", ba.URL+path, nil)
		for i := 0; i+1 < len(headers); i += 2 {
			r.Header.Set(headers[i], headers[i+1])
		}
		res, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 {
			t.Fatalf("Better Auth GET %s: %d %s\n%s", path, res.StatusCode, b, ba.Logs())
		}
		return b
	}
	baJWKS := func() map[string]ed25519.PublicKey {
		var set struct {
			Keys []struct{ Kid, X string } `json:"keys"`
		}
		if err := json.Unmarshal(baGet("/auth/jwks"), &set); err != nil {
			t.Fatal(err)
		}
		out := map[string]ed25519.PublicKey{}
		for _, k := range set.Keys {
			out[k.Kid], _ = base64.RawURLEncoding.DecodeString(k.X)
		}
		return out
	}
	baToken := func() string {
		var tok struct{ Token string }
		if err := json.Unmarshal(baGet("/auth/token", "Cookie", cookie), &tok); err != nil {
			t.Fatal(err)
		}
		return tok.Token
	}
	ourToken := func() string {
		w := tg.do(req("GET", "/auth/token", "", "Cookie", cookie))
		if w.Code != 200 {
			t.Fatalf("our token: %d %s", w.Code, w.Body)
		}
		return decodeJSON(t, w)["token"].(string)
	}

	// Better Auth makes the first key (its /jwks does, on an empty table).
	theirs := baJWKS()
	if len(theirs) != 1 {
		t.Fatalf("Better Auth made %d keys", len(theirs))
	}
	kid, claims := verifyToken(t, ourToken(), theirs)
	if _, ok := theirs[kid["kid"]]; !ok || claims["iss"] != site || claims["aud"] != site {
		t.Fatalf("our token: kid %v, claims %v", kid, claims)
	}
	verifyToken(t, baToken(), tg.jwksKeys())

	// We add a key (a rotation): Better Auth signs with the newest live one,
	// ours, and its token verifies against our key set.
	st := tg.g.store()
	rows, err := st.JWKs(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	stored := make([]jwks.Stored, len(rows))
	for i, r := range rows {
		stored[i] = jwks.Stored(r)
	}
	key, ends, err := jwks.Rotate(stored, store.NewID(), []byte(testSecret), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.InsertJWK(t.Context(), store.JWK(key)); err != nil {
		t.Fatal(err)
	}
	for id, at := range ends {
		if err := st.SetJWKExpiry(t.Context(), id, at); err != nil {
			t.Fatal(err)
		}
	}
	hdr, baClaims := verifyToken(t, baToken(), tg.jwksKeys())
	_, ourClaims := verifyToken(t, ourToken(), tg.jwksKeys())
	delete(baClaims, "iat")
	delete(baClaims, "exp")
	for k, v := range baClaims {
		if fmt.Sprint(ourClaims[k]) != fmt.Sprint(v) {
			t.Errorf("claim %s: ours %v, Better Auth's %v", k, ourClaims[k], v)
		}
	}
	if len(ourClaims) != len(baClaims)+2 || ourClaims["exp"].(float64)-ourClaims["iat"].(float64) != 900 {
		t.Errorf("claims: ours %v, Better Auth's %v", ourClaims, baClaims)
	}
	if hdr["kid"] != key.ID {
		t.Fatalf("Better Auth signed with %s, not with the key we added (%s)", hdr["kid"], key.ID)
	}
	if _, ok := baJWKS()[key.ID]; !ok {
		t.Error("Better Auth does not publish the key we added")
	}
}

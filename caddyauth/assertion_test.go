package caddyauth

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authgate/authgate/caddyauth/internal/jwks"
	"github.com/authgate/authgate/internal/testsupport"
	"github.com/authgate/authgate/store"
)

// jwksKeys fetches GET /auth/jwks and returns its Ed25519 keys by kid.
func (tg *testGate) jwksKeys() map[string]ed25519.PublicKey {
	tg.t.Helper()
	w := tg.do(req("GET", "/auth/jwks", ""))
	if w.Code != 200 {
		tg.t.Fatalf("jwks: %d %s", w.Code, w.Body)
	}
	var set struct {
		Keys []struct{ Kid, Kty, Crv, Alg, X string } `json:"keys"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &set); err != nil {
		tg.t.Fatal(err)
	}
	out := map[string]ed25519.PublicKey{}
	for _, k := range set.Keys {
		if k.Kty != "OKP" || k.Crv != "Ed25519" || k.Alg != "EdDSA" {
			tg.t.Fatalf("unexpected key %+v", k)
		}
		x, err := base64.RawURLEncoding.DecodeString(k.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			tg.t.Fatalf("bad x in %+v", k)
		}
		out[k.Kid] = x
	}
	return out
}

// verifyToken checks a compact JWS with crypto/ed25519 against keys, as an
// app would, and returns its header and claims.
func verifyToken(t *testing.T, tok string, keys map[string]ed25519.PublicKey) (hdr map[string]string, claims map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %q", tok)
	}
	dec := func(s string, v any) {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		if v != nil {
			if err := json.Unmarshal(b, v); err != nil {
				t.Fatal(err)
			}
		}
	}
	dec(parts[0], &hdr)
	dec(parts[1], &claims)
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	key, ok := keys[hdr["kid"]]
	if !ok {
		t.Fatalf("kid %q not in the JWKS", hdr["kid"])
	}
	if !ed25519.Verify(key, []byte(parts[0]+"."+parts[1]), sig) {
		t.Fatal("signature does not verify against the JWKS")
	}
	return hdr, claims
}

func TestAssertion_SignedIdentityOnEveryRequestWithASession(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		tg := newTestGate(t, dsn, "base_url https://app.example.com\npublic /pub/*\nassertion {\n audience my-app\n}")
		cookie, up := tg.signUp("Zoë", "zoe@example.com", "password123")
		user := up["user"].(map[string]any)

		w := tg.do(req("GET", "/dashboard", "", "Cookie", cookie, "X-Auth-Assertion", "forged", "X_Auth_Assertion", "forged2"))
		if w.Code != 200 {
			t.Fatalf("status %d", w.Code)
		}
		got := tg.next.header.Values("X-Auth-Assertion")
		if len(got) != 1 || strings.Contains(tg.next.header.Get("X_Auth_Assertion"), "forged") {
			t.Fatalf("assertion headers %q, X_Auth_Assertion %q", got, tg.next.header.Get("X_Auth_Assertion"))
		}
		hdr, c := verifyToken(t, got[0], tg.jwksKeys())
		if hdr["alg"] != "EdDSA" || len(hdr) != 2 {
			t.Errorf("header %v", hdr)
		}
		iat, _ := c["iat"].(float64)
		want := map[string]any{
			"iss": "https://app.example.com", "aud": "my-app", "sub": user["id"], "email": "zoe@example.com",
			"email_verified": false, "name": "Zoë", "role": "user", "sid": tg.next.header.Get("X-Session-Id"),
			"exp": iat + 60,
		}
		for k, v := range want {
			if c[k] != v {
				t.Errorf("claim %s = %v, want %v", k, c[k], v)
			}
		}
		if d := time.Since(time.Unix(int64(iat), 0)); d < -time.Second || d > time.Minute {
			t.Errorf("iat %v", iat)
		}

		// A public path: with a session it is asserted, without one not,
		// and a client's copy never passes.
		tg.do(req("GET", "/pub/x", "", "Cookie", cookie))
		if tg.next.header.Get("X-Auth-Assertion") != got[0] {
			t.Error("a public path with a session got no assertion, or a different one (no reuse)")
		}
		tg.do(req("GET", "/pub/x", "", "x-auth-assertion", "forged", "X_AUTH_ASSERTION", "forged"))
		for k := range tg.next.header {
			if normalizeHeaderName(k) == "x-auth-assertion" {
				t.Errorf("unauthenticated public request passed %s: %q", k, tg.next.header[k])
			}
		}
	})
}

func TestAssertion_ReusedUntilNearItsEndThenRenewed(t *testing.T) {
	tg := newTestGate(t, testsupport.SQLiteDSN(t), "base_url https://app.example.com\nsession_cache 0\nassertion X-Id-Token {\n ttl 2m\n}")
	cookie, _ := tg.signUp("Al", "al@example.com", "password123")
	start := time.Now()
	setNow(t, start)
	first := func() string {
		tg.do(req("GET", "/x", "", "Cookie", cookie))
		return tg.next.header.Get("X-Id-Token")
	}
	a := first()
	setNow(t, start.Add(80*time.Second)) // 40 s left: more than the 30 s margin
	if b := first(); b != a {
		t.Fatal("token not reused while far from its end")
	}
	setNow(t, start.Add(95*time.Second)) // under 30 s left
	b := first()
	if b == a || b == "" {
		t.Fatal("token not renewed near its end")
	}
	_, c := verifyToken(t, b, tg.jwksKeys())
	if c["exp"].(float64)-c["iat"].(float64) != 120 {
		t.Errorf("lifetime %v", c["exp"].(float64)-c["iat"].(float64))
	}

	// A changed name is asserted at once.
	if w := tg.do(req("POST", "/auth/update-user", `{"name":"Albert"}`, "Cookie", cookie, "Origin", "https://app.example.com")); w.Code != 200 {
		t.Fatalf("update-user %d %s", w.Code, w.Body)
	}
	_, c = verifyToken(t, first(), tg.jwksKeys())
	if c["name"] != "Albert" {
		t.Errorf("name claim %v after the change", c["name"])
	}
}

func TestAssertion_Config(t *testing.T) {
	for _, tc := range []struct {
		name, block, wantErr string
	}{
		{"needs base_url", "assertion", "base_url"},
		{"jwt needs base_url", "jwt", "base_url"},
		{"ttl over 10 minutes", "base_url https://a.example\nassertion {\n ttl 11m\n}", "ttl"},
		{"header taken by identity", "base_url https://a.example\nassertion x_user_id", "identity header"},
		{"bad header", "base_url https://a.example\nassertion X:Y", "valid header"},
		{"ten minutes is fine", "base_url https://a.example\nassertion {\n ttl 10m\n}", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := provisionFromCaddyfile(t, "database "+testsupport.SQLiteDSN(t)+"\nsecret "+testSecret+"\n"+tc.block)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("error %v, want one naming %q", err, tc.wantErr)
			}
		})
	}
}

func TestJWT_EndpointsAsBetterAuthsPlugin(t *testing.T) {
	tg := newTestGate(t, testsupport.SQLiteDSN(t), "base_url https://app.example.com\njwt")
	cookie, up := tg.signUp("Bo", "bo@example.com", "password123")
	user := up["user"].(map[string]any)

	w := tg.do(req("GET", "/auth/token", "", "Cookie", cookie))
	if w.Code != 200 {
		t.Fatalf("token: %d %s", w.Code, w.Body)
	}
	tok := decodeJSON(t, w)["token"].(string)
	keys := tg.jwksKeys()
	_, c := verifyToken(t, tok, keys)
	for k, v := range map[string]any{"sub": user["id"], "id": user["id"], "email": "bo@example.com", "name": "Bo",
		"emailVerified": false, "iss": "https://app.example.com", "aud": "https://app.example.com", "createdAt": user["createdAt"]} {
		if c[k] != v {
			t.Errorf("claim %s = %v, want %v", k, c[k], v)
		}
	}
	if c["exp"].(float64)-c["iat"].(float64) != 900 {
		t.Errorf("lifetime %v", c["exp"].(float64)-c["iat"].(float64))
	}
	if w := tg.do(req("GET", "/auth/token", "")); w.Code != 401 {
		t.Errorf("token without a session: %d", w.Code)
	}

	w = tg.do(req("GET", "/auth/get-session", "", "Cookie", cookie))
	verifyToken(t, w.Header().Get("Set-Auth-Jwt"), keys)
	if !strings.Contains(w.Header().Get("Access-Control-Expose-Headers"), "set-auth-jwt") {
		t.Errorf("expose headers %q", w.Header().Get("Access-Control-Expose-Headers"))
	}
	if w := tg.do(req("GET", "/auth/get-session", "")); w.Header().Get("Set-Auth-Jwt") != "" {
		t.Error("set-auth-jwt without a session")
	}
	// jwt alone adds no assertion to gated requests.
	tg.do(req("GET", "/x", "", "Cookie", cookie))
	if tg.next.header.Get("X-Auth-Assertion") != "" {
		t.Error("assertion without assertion configured")
	}
}

func TestJWT_EndpointsOffByDefault(t *testing.T) {
	for _, tc := range []struct{ block, path string }{
		{"", "/auth/jwks"},
		{"", "/auth/token"},
		{"base_url https://a.example\nassertion", "/auth/token"},
	} {
		tg := newTestGate(t, testsupport.SQLiteDSN(t), tc.block)
		cookie, _ := tg.signUp("Cy", "cy@example.com", "password123")
		if w := tg.do(req("GET", tc.path, "", "Cookie", cookie)); w.Code != 404 {
			t.Errorf("%q: %s answered %d", tc.block, tc.path, w.Code)
		}
		if w := tg.do(req("GET", "/auth/get-session", "", "Cookie", cookie)); w.Header().Get("Set-Auth-Jwt") != "" {
			t.Errorf("%q: set-auth-jwt", tc.block)
		}
	}
}

// A rotation, as `caddy auth keys rotate` does it, seen from the gate: the
// old key signs until the new one settles, every token it signed verifies
// against the served key set until it expires, then the key leaves the set.
func TestAssertion_KeyRotation(t *testing.T) {
	tg := newTestGate(t, testsupport.SQLiteDSN(t), "base_url https://app.example.com\nassertion")
	cookie, _ := tg.signUp("Di", "di@example.com", "password123")
	t0 := time.Now()
	setNow(t, t0)
	assertion := func() string {
		tg.do(req("GET", "/x", "", "Cookie", cookie))
		return tg.next.header.Get("X-Auth-Assertion")
	}
	kid := func(tok string) string {
		h, _ := verifyToken(t, tok, tg.jwksKeys())
		return h["kid"]
	}
	before := assertion()
	oldKid := kid(before)

	st := tg.g.store()
	rows, err := st.JWKs(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	stored := make([]jwks.Stored, len(rows))
	for i, r := range rows {
		stored[i] = jwks.Stored(r)
	}
	// A second after the first key: with equal creation times the key ids
	// would decide which is older, and ours are random.
	key, ends, err := jwks.Rotate(stored, "rotated-key", []byte(testSecret), t0.Add(time.Second))
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

	// Published at once; the old key still signs while the new one settles.
	if keys := tg.jwksKeys(); len(keys) != 2 {
		t.Fatalf("jwks has %d keys right after the rotation", len(keys))
	}
	setNow(t, t0.Add(50*time.Second)) // the old token is due for renewal
	if tok := assertion(); tok == before || kid(tok) != oldKid {
		t.Fatalf("renewed before the new key settled: kid %s", kid(tok))
	}
	setNow(t, t0.Add(100*time.Second)) // past renewal (95 s), the new key settled, the set re-read
	last := assertion()
	if kid(last) != "rotated-key" {
		t.Fatalf("after settling, signed with %s", kid(last))
	}
	// The old key's last token (signed at +50 s, 60 s) still verifies.
	setNow(t, t0.Add(jwks.Settle+jwks.MaxTokenLifetime))
	if _, ok := tg.jwksKeys()[oldKid]; !ok {
		t.Fatal("the old key left the key set while tokens it signed could still be live")
	}
	setNow(t, t0.Add(jwks.Settle+jwks.Grace+2*time.Second))
	if _, ok := tg.jwksKeys()[oldKid]; ok {
		t.Error("the old key is still published after its grace")
	}
}

// Two instances on one database signing their first assertion at once,
// on an empty key table: each may add a key, but every token verifies
// against either instance's key set, and once the keys settle both sign
// with the same one.
func TestAssertion_InstancesStartingTogetherShareTheirKeys(t *testing.T) {
	dsn := testsupport.PostgresDSN(t)
	gates := []*testGate{
		newTestGate(t, dsn, "base_url https://app.example.com\nassertion"),
		newTestGate(t, dsn, "base_url https://app.example.com\nassertion"),
	}
	cookie, _ := gates[0].signUp("Ed", "ed@example.com", "password123")
	t0 := time.Now()
	setNow(t, t0)
	signed := func() []string {
		toks := make([]string, len(gates))
		var wg sync.WaitGroup
		for i, tg := range gates {
			wg.Go(func() {
				tg.do(req("GET", "/x", "", "Cookie", cookie))
				toks[i] = tg.next.header.Get("X-Auth-Assertion")
			})
		}
		wg.Wait()
		return toks
	}
	first := signed()
	for _, tg := range gates {
		keys := tg.jwksKeys()
		if len(keys) == 0 || len(keys) > 2 {
			t.Fatalf("%d keys", len(keys))
		}
		for _, tok := range first {
			verifyToken(t, tok, keys)
		}
	}
	setNow(t, t0.Add(2*time.Minute)) // tokens due, keys settled, sets re-read
	later := signed()
	k0, _ := verifyToken(t, later[0], gates[1].jwksKeys())
	k1, _ := verifyToken(t, later[1], gates[0].jwksKeys())
	if k0["kid"] != k1["kid"] {
		t.Errorf("the instances still sign with different keys: %s and %s", k0["kid"], k1["kid"])
	}
}

// The role claim says what X-User-Role says, and a role change made
// elsewhere (plain SQL) gets a new token at once, not at the old one's end.
func TestAssertion_RoleClaimIsTheUsersRole(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		tg := newTestGate(t, dsn, "base_url https://app.example.com\nadmin on\nsession_cache 0\nassertion")
		cookie, up := tg.signUp("Ada", "ada@example.com", "password123")
		id := up["user"].(map[string]any)["id"].(string)
		roleOf := func() (claim, header string) {
			t.Helper()
			if w := tg.do(req("GET", "/x", "", "Cookie", cookie)); w.Code != 200 {
				t.Fatalf("status %d", w.Code)
			}
			_, c := verifyToken(t, tg.next.header.Get("X-Auth-Assertion"), tg.jwksKeys())
			role, _ := c["role"].(string)
			return role, tg.next.header.Get("X-User-Role")
		}
		if claim, header := roleOf(); claim != "user" || header != "user" {
			t.Fatalf("new user: role claim %q, X-User-Role %q", claim, header)
		}
		db := testsupport.OpenDB(t, dsn)
		if _, err := db.Exec(db.Rebind(`UPDATE "user" SET "role" = 'admin,analyst' WHERE "id" = ?`), id); err != nil {
			t.Fatal(err)
		}
		if claim, header := roleOf(); claim != "admin,analyst" || header != "admin,analyst" {
			t.Fatalf("after the role change: role claim %q, X-User-Role %q", claim, header)
		}
	})
}

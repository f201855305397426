package jwks

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"
)

// vector is a key and a token made by Better Auth 1.7.25's own code
// (symmetricEncrypt, jose's generateKeyPair and SignJWT).
type vector struct {
	Secret string `json:"secret"`
	Row    struct {
		ID, PublicKey, PrivateKey, Alg, Crv string
	} `json:"row"`
	Token string `json:"token"`
}

func loadVector(t *testing.T) vector {
	t.Helper()
	b, err := os.ReadFile("testdata/betterauth_key.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vector
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func (v vector) stored() Stored {
	return Stored{ID: v.Row.ID, PublicKey: v.Row.PublicKey, PrivateKey: v.Row.PrivateKey, CreatedAt: time.Unix(1700000000, 0), Alg: &v.Row.Alg, Crv: &v.Row.Crv}
}

// verifyJWS checks a compact JWS with crypto/ed25519 alone against the
// x of a JWK, independently of Sign.
func verifyJWS(t *testing.T, token, x string) map[string]any {
	t.Helper()
	pub, err := base64.RawURLEncoding.DecodeString(x)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		t.Fatalf("bad x %q", x)
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %q", token)
	}
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	if !ed25519.Verify(pub, []byte(parts[0]+"."+parts[1]), sig) {
		t.Fatal("signature does not verify")
	}
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

func TestLoad_BetterAuthKeySignsAndVerifiesItsTokens(t *testing.T) {
	v := loadVector(t)
	set := Load([]Stored{v.stored()}, [][]byte{[]byte("another secret, the current one"), []byte(v.Secret)})
	k := set.Keys()[0]
	if !k.CanSign() {
		t.Fatal("Better Auth's encrypted private key did not decrypt with the older secret")
	}
	var pub struct{ X string }
	_ = json.Unmarshal([]byte(v.Row.PublicKey), &pub)
	verifyJWS(t, v.Token, pub.X) // Better Auth's token, its key

	tok := k.Sign([]byte(`{"sub":"u1"}`))
	if !strings.HasPrefix(v.Token, strings.Split(tok, ".")[0]+".") {
		t.Errorf("header differs from Better Auth's: %s", tok)
	}
	if c := verifyJWS(t, tok, pub.X); c["sub"] != "u1" {
		t.Errorf("claims %v", c)
	}
}

func TestLoad_WrongSecretPublishesButNeverSigns(t *testing.T) {
	v := loadVector(t)
	set := Load([]Stored{v.stored()}, [][]byte{[]byte("not the secret")})
	if len(set.Unusable) != 1 || set.Signer(time.Now(), 0) != nil {
		t.Fatalf("unusable=%v signer=%v", set.Unusable, set.Signer(time.Now(), 0))
	}
	jwks, _ := set.JWKS(time.Now(), time.Minute)
	if !strings.Contains(string(jwks), v.Row.ID) {
		t.Errorf("key missing from JWKS: %s", jwks)
	}
}

func TestEncryptDecrypt(t *testing.T) {
	secret := []byte("s3cret")
	enc, err := Encrypt(secret, "hello")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		secrets [][]byte
		data    string
		ok      bool
	}{
		{"bare hex", [][]byte{secret}, enc, true},
		{"older secret", [][]byte{[]byte("new"), secret}, enc, true},
		{"versioned envelope", [][]byte{secret}, "$ba$2$" + enc, true},
		{"wrong secret", [][]byte{[]byte("other")}, enc, false},
		{"tampered", [][]byte{secret}, tamper(enc), false},
		{"not hex", [][]byte{secret}, "zz", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Decrypt(tc.secrets, tc.data)
			if tc.ok && (err != nil || got != "hello") || !tc.ok && err == nil {
				t.Fatalf("got %q, %v", got, err)
			}
		})
	}
}

func TestGenerate_RoundTripsAndPublishesInBetterAuthsShape(t *testing.T) {
	now := time.Unix(1800000000, 0)
	row, err := Generate("k1", []byte("secret"), now)
	if err != nil {
		t.Fatal(err)
	}
	set := Load([]Stored{row}, [][]byte{[]byte("secret")})
	raw, err := set.JWKS(now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Keys) != 1 || got.Keys[0]["alg"] != "EdDSA" || got.Keys[0]["crv"] != "Ed25519" || got.Keys[0]["kty"] != "OKP" || got.Keys[0]["kid"] != "k1" {
		t.Fatalf("jwks %s", raw)
	}
	if !strings.HasPrefix(string(raw), `{"keys":[{"alg":"EdDSA","crv":"Ed25519","x":`) || !strings.HasSuffix(string(raw), `"kty":"OKP","kid":"k1"}]}`) {
		t.Errorf("member order differs from Better Auth's: %s", raw)
	}
	tok := set.Signer(now, 0).Sign([]byte(`{"a":1}`))
	verifyJWS(t, tok, got.Keys[0]["x"])
	if strings.Contains(row.PrivateKey, `"d"`) {
		t.Error("private key stored in clear")
	}
}

func TestSigner_PrefersPublishedLiveKeys(t *testing.T) {
	now := time.Unix(1800000000, 0)
	mk := func(id string, age time.Duration, expiresIn *time.Duration) Stored {
		r, err := Generate(id, []byte("s"), now.Add(-age))
		if err != nil {
			t.Fatal(err)
		}
		if expiresIn != nil {
			e := now.Add(*expiresIn)
			r.ExpiresAt = &e
		}
		return r
	}
	d := func(v time.Duration) *time.Duration { return &v }
	for _, tc := range []struct {
		name string
		rows []Stored
		want string
	}{
		{"only key, just made", []Stored{mk("new", 0, nil)}, "new"},
		{"old key while the new one settles", []Stored{mk("old", time.Hour, d(time.Minute)), mk("new", 10*time.Second, nil)}, "old"},
		{"new key once settled", []Stored{mk("old", time.Hour, d(-time.Second)), mk("new", 2*time.Minute, nil)}, "new"},
		{"expired old key: the unsettled new one", []Stored{mk("old", time.Hour, d(-time.Second)), mk("new", time.Second, nil)}, "new"},
		{"none settled: the oldest, which racing instances agree on", []Stored{mk("b", 5*time.Second, nil), mk("a", 10*time.Second, nil)}, "a"},
		{"none live", []Stored{mk("old", time.Hour, d(0))}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set := Load(tc.rows, [][]byte{[]byte("s")})
			got := ""
			if k := set.Signer(now, time.Minute); k != nil {
				got = k.ID
			}
			if got != tc.want {
				t.Fatalf("signer %q, want %q", got, tc.want)
			}
		})
	}
}

func TestJWKS_KeepsAnEndedKeyForTheGrace(t *testing.T) {
	now := time.Unix(1800000000, 0)
	r, _ := Generate("old", []byte("s"), now.Add(-time.Hour))
	end := now.Add(-10 * time.Minute)
	r.ExpiresAt = &end
	set := Load([]Stored{r}, [][]byte{[]byte("s")})
	for _, tc := range []struct {
		grace time.Duration
		kept  bool
	}{{16 * time.Minute, true}, {10 * time.Minute, false}, {5 * time.Minute, false}} {
		raw, _ := set.JWKS(now, tc.grace)
		if strings.Contains(string(raw), `"old"`) != tc.kept {
			t.Errorf("grace %v: %s", tc.grace, raw)
		}
	}
}

func TestRotate_EndsLiveKeysOnceTheNewOneSettles(t *testing.T) {
	now := time.Unix(1800000000, 0)
	live, _ := Generate("live", []byte("s"), now.Add(-time.Hour))
	later := now.Add(time.Hour)
	endsLater, _ := Generate("ends-later", []byte("s"), now.Add(-time.Hour))
	endsLater.ExpiresAt = &later
	soon := now.Add(10 * time.Second)
	endsSoon, _ := Generate("ends-soon", []byte("s"), now.Add(-time.Hour))
	endsSoon.ExpiresAt = &soon

	key, ends, err := Rotate([]Stored{live, endsLater, endsSoon}, "new", []byte("s"), now)
	if err != nil {
		t.Fatal(err)
	}
	want := now.Add(Settle)
	if len(ends) != 2 || !ends["live"].Equal(want) || !ends["ends-later"].Equal(want) {
		t.Fatalf("ends %v", ends)
	}
	live.ExpiresAt, endsLater.ExpiresAt = &want, &want
	set := Load([]Stored{live, endsLater, endsSoon, key}, [][]byte{[]byte("s")})
	for _, tc := range []struct {
		at   time.Duration
		want string
	}{{0, "live"}, {Settle - time.Second, "live"}, {Settle, "new"}} {
		if k := set.Signer(now.Add(tc.at), Settle); k == nil || k.ID != tc.want && !(tc.want == "live" && k.ID == "ends-later") {
			t.Errorf("at +%v: signer %v, want %s", tc.at, k, tc.want)
		}
	}
}

// A damaged row (written by hand, or by another tool) never stops the
// other keys from signing and being published.
func TestLoad_DamagedRowsAreSetAside(t *testing.T) {
	now := time.Unix(1800000000, 0)
	good, _ := Generate("good", []byte("s"), now.Add(-time.Hour))
	badPub, _ := Generate("bad-public", []byte("s"), now)
	badPub.PublicKey = "{not json"
	mismatch, _ := Generate("mismatch", []byte("s"), now)
	other, _ := Generate("other", []byte("s"), now)
	mismatch.PrivateKey = other.PrivateKey
	garbled, _ := Generate("garbled", []byte("s"), now)
	garbled.PrivateKey = `{"kty":"OKP","crv":"Ed25519","d":"short"}`

	set := Load([]Stored{good, badPub, mismatch, garbled}, [][]byte{[]byte("s")})
	if len(set.Unusable) != 3 {
		t.Errorf("unusable %v", set.Unusable)
	}
	if k := set.Signer(now, 0); k == nil || k.ID != "good" {
		t.Fatalf("signer %v", k)
	}
	raw, err := set.JWKS(now, time.Minute)
	if err != nil || strings.Contains(string(raw), "bad-public") || !strings.Contains(string(raw), `"good"`) {
		t.Fatalf("jwks %s, %v", raw, err)
	}
}

// tamper changes the last byte of a hex string, whatever it was.
func tamper(hexed string) string {
	last := "00"
	if strings.HasSuffix(hexed, "00") {
		last = "01"
	}
	return hexed[:len(hexed)-2] + last
}

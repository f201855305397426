// Package jwks is the signing-key set of Better Auth's jwt plugin: keys as
// its "jwks" table stores them (public JWK as JSON, private JWK as JSON
// encrypted with the secret), the JSON Web Key Set it serves, and EdDSA
// compact JWS signing. It knows neither SQL nor HTTP: the caller reads and
// writes the rows and serves the set.
package jwks

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/authgate/authgate/caddyauth/internal/bacrypt"
)

// Alg and Crv are what Better Auth's jwt plugin generates when its
// keyPairConfig is unset, and the only kind of key signed with here.
const (
	Alg = "EdDSA"
	Crv = "Ed25519"
)

// Stored is one row of the "jwks" table as Better Auth writes it.
type Stored struct {
	ID         string
	PublicKey  string // JSON of the public JWK
	PrivateKey string // JSON string of the encrypted private JWK, or the JWK itself
	CreatedAt  time.Time
	ExpiresAt  *time.Time // nil: no planned end
	Alg        *string    // nil on rows from before the column: EdDSA
	Crv        *string
}

// Generate makes a new Ed25519 key with id, stored as Better Auth's plugin
// stores it: the private JWK encrypted with secret (bare hex, which Better
// Auth reads with a single BETTER_AUTH_SECRET) inside JSON quotes.
func Generate(id string, secret []byte, now time.Time) (Stored, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return Stored{}, fmt.Errorf("generate signing key: %w", err)
	}
	x := b64(pub)
	// Field order as jose's exportJWK writes them.
	pubJWK := `{"crv":"Ed25519","x":"` + x + `","kty":"OKP"}`
	privJWK := `{"crv":"Ed25519","d":"` + b64(priv.Seed()) + `","x":"` + x + `","kty":"OKP"}`
	enc, err := Encrypt(secret, privJWK)
	if err != nil {
		return Stored{}, err
	}
	quoted, _ := json.Marshal(enc)
	alg, crv := Alg, Crv
	return Stored{ID: id, PublicKey: pubJWK, PrivateKey: string(quoted), CreatedAt: now, Alg: &alg, Crv: &crv}, nil
}

// Encrypt is Better Auth's symmetricEncrypt (bacrypt), as its jwt plugin
// stores private keys.
func Encrypt(secret []byte, plaintext string) (string, error) {
	return bacrypt.Encrypt(secret, plaintext)
}

// errUndecryptable says that no configured secret opens a private key.
var errUndecryptable = bacrypt.ErrDecrypt

// Decrypt is Better Auth's symmetricDecrypt (bacrypt): every secret is
// tried, versioned envelope or bare hex.
func Decrypt(secrets [][]byte, data string) (string, error) {
	return bacrypt.Decrypt(secrets, data)
}

// Key is a parsed row. Only an EdDSA key whose private half decrypted can
// sign; any other is still published.
type Key struct {
	ID        string
	Alg       string
	Crv       string // "" when neither the row nor its JWK says
	CreatedAt time.Time
	ExpiresAt *time.Time
	public    json.RawMessage
	private   ed25519.PrivateKey
	header    string // base64url of the JWS header {"alg":"EdDSA","kid":ID}
}

// CanSign says whether k is an Ed25519 key this process holds the private
// half of.
func (k *Key) CanSign() bool { return k.private != nil }

// Public returns the Ed25519 public key, or nil for another kind of key.
func (k *Key) Public() ed25519.PublicKey {
	if k.private == nil {
		return nil
	}
	return k.private.Public().(ed25519.PublicKey)
}

// Set is the parsed content of the table, newest key first. It is
// immutable once loaded.
type Set struct {
	keys []*Key
	// Unusable names the EdDSA keys that cannot sign here, with why: a
	// private half that no configured secret opens (a changed secret), or
	// a row that is damaged. A key whose public half is damaged is not
	// published either. A row another process wrote must not stop the
	// others from working.
	Unusable []error
}

// Load parses rows. A row whose private key is encrypted (the default) is
// decrypted with each of secrets; plain (disablePrivateKeyEncryption) rows
// are read as they are.
func Load(rows []Stored, secrets [][]byte) *Set {
	s := &Set{}
	for _, r := range rows {
		k := &Key{ID: r.ID, Alg: Alg, CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt, public: json.RawMessage(r.PublicKey)}
		if r.Alg != nil && *r.Alg != "" {
			k.Alg = *r.Alg
		}
		var pub struct {
			Crv string `json:"crv"`
			X   string `json:"x"`
		}
		if err := json.Unmarshal([]byte(r.PublicKey), &pub); err != nil {
			s.Unusable = append(s.Unusable, fmt.Errorf("signing key %s: public key: %w", r.ID, err))
			continue
		}
		k.Crv = pub.Crv
		if r.Crv != nil && *r.Crv != "" {
			k.Crv = *r.Crv
		}
		if k.Alg == Alg && k.Crv == Crv {
			priv, err := privateKey(r.PrivateKey, secrets)
			switch {
			case err != nil:
				s.Unusable = append(s.Unusable, fmt.Errorf("signing key %s: %w", r.ID, err))
			case b64(priv.Public().(ed25519.PublicKey)) != pub.X:
				s.Unusable = append(s.Unusable, fmt.Errorf("signing key %s: private key does not match public key", r.ID))
			default:
				k.private = priv
				h, _ := json.Marshal(struct {
					Alg string `json:"alg"`
					Kid string `json:"kid"`
				}{Alg, r.ID})
				k.header = b64(h)
			}
		}
		s.keys = append(s.keys, k)
	}
	slices.SortStableFunc(s.keys, func(a, b *Key) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID) // a tie still names one key
	})
	return s
}

// privateKey reads the privateKey column: a JSON string holding Better
// Auth's ciphertext, or, with disablePrivateKeyEncryption, the JWK itself.
func privateKey(col string, secrets [][]byte) (ed25519.PrivateKey, error) {
	jwk := col
	var enc string
	if err := json.Unmarshal([]byte(col), &enc); err == nil {
		if jwk, err = Decrypt(secrets, enc); err != nil {
			return nil, err
		}
	}
	var k struct {
		Kty, Crv, D string
	}
	if err := json.Unmarshal([]byte(jwk), &k); err != nil {
		return nil, fmt.Errorf("private key: %w", err)
	}
	seed, err := base64.RawURLEncoding.DecodeString(k.D)
	if err != nil || k.Kty != "OKP" || k.Crv != Crv || len(seed) != ed25519.SeedSize {
		return nil, errors.New("private key: not an Ed25519 JWK")
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// Keys returns the keys, newest first.
func (s *Set) Keys() []*Key { return s.keys }

// Signer returns the key to sign with at now: the newest live key that
// can sign and has been published for at least settle (so that a verifier
// holding a key set fetched just before the key appeared still knows it),
// else the oldest live key that can sign (so that instances that each made
// a first key at once settle on the same one). Nil when there is none: a
// new key must be made.
func (s *Set) Signer(now time.Time, settle time.Duration) *Key {
	var fresh *Key
	for _, k := range s.keys {
		if !k.CanSign() || k.ExpiresAt != nil && !k.ExpiresAt.After(now) {
			continue
		}
		if !k.CreatedAt.After(now.Add(-settle)) {
			return k
		}
		fresh = k // keys are newest first: the last one seen is the oldest
	}
	return fresh
}

// JWKS is the key set as Better Auth's GET /jwks serves it:
// {"keys":[{alg, crv, …public JWK…, kid}]}. A key with an end
// (expiresAt) stays listed until grace after it, so that every token it
// signed can be verified until that token expires.
func (s *Set) JWKS(now time.Time, grace time.Duration) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(`{"keys":[`)
	n := 0
	for _, k := range s.keys {
		if k.ExpiresAt != nil && !k.ExpiresAt.Add(grace).After(now) {
			continue
		}
		if n > 0 {
			buf.WriteByte(',')
		}
		n++
		if err := k.writeJWK(&buf); err != nil {
			return nil, err
		}
	}
	buf.WriteString(`]}`)
	return buf.Bytes(), nil
}

// writeJWK writes {alg, crv, ...public, kid} in the order JavaScript's
// object spread gives: alg and crv first, the public JWK's own members in
// their order (a member it repeats keeps the first position and takes its
// value), kid last.
func (k *Key) writeJWK(buf *bytes.Buffer) error {
	type member struct {
		name string
		val  json.RawMessage
	}
	var members []member
	set := func(name string, val json.RawMessage) {
		for i := range members {
			if members[i].name == name {
				members[i].val = val
				return
			}
		}
		members = append(members, member{name, val})
	}
	q := func(s string) json.RawMessage { b, _ := json.Marshal(s); return b }
	set("alg", q(k.Alg))
	if k.Crv != "" {
		set("crv", q(k.Crv))
	}
	dec := json.NewDecoder(bytes.NewReader(k.public))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return fmt.Errorf("signing key %s: public key is not a JSON object", k.ID)
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return fmt.Errorf("signing key %s: public key: %w", k.ID, err)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return fmt.Errorf("signing key %s: public key: %w", k.ID, err)
		}
		set(t.(string), v)
	}
	set("kid", q(k.ID))
	buf.WriteByte('{')
	for i, m := range members {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(q(m.name))
		buf.WriteByte(':')
		buf.Write(m.val)
	}
	buf.WriteByte('}')
	return nil
}

// Sign returns the compact JWS of payload (the claims as JSON) with header
// {"alg":"EdDSA","kid":…}, as Better Auth's plugin writes it (no typ).
func (k *Key) Sign(payload []byte) string {
	enc := base64.RawURLEncoding
	n := len(k.header) + 1 + enc.EncodedLen(len(payload))
	out := make([]byte, n, n+1+enc.EncodedLen(ed25519.SignatureSize))
	copy(out, k.header)
	out[len(k.header)] = '.'
	enc.Encode(out[len(k.header)+1:], payload)
	sig := ed25519.Sign(k.private, out)
	out = append(out, '.')
	out = enc.AppendEncode(out, sig)
	return string(out)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// Timing of keys, shared by the gate and `caddy auth keys rotate`.
const (
	// Settle is how long a new key is published before it signs, when an
	// older key can still sign: a verifier that fetched the key set just
	// before the new key appeared (and caches it for up to this long, the
	// JWKS max-age) still knows every key in use.
	Settle = time.Minute
	// MaxTokenLifetime is the longest-lived token signed with these keys:
	// Better Auth's /token default (15 minutes) beats the assertion's
	// 10-minute ceiling.
	MaxTokenLifetime = 15 * time.Minute
	// Grace is how long a key stays published after its end (expiresAt):
	// every token it signed has expired by then, with a minute to spare for
	// clocks that disagree.
	Grace = MaxTokenLifetime + time.Minute
)

// Rotate plans a rotation at now: a new key, and the end (expiresAt) of
// every key that would still sign after it settles. Old keys sign until the
// new one has been published for Settle, then stop; they stay published
// for Grace after that, until every token they signed has expired.
func Rotate(rows []Stored, id string, secret []byte, now time.Time) (Stored, map[string]time.Time, error) {
	key, err := Generate(id, secret, now)
	if err != nil {
		return Stored{}, nil, err
	}
	end := now.Add(Settle)
	ends := map[string]time.Time{}
	for _, r := range rows {
		if r.ExpiresAt == nil || r.ExpiresAt.After(end) {
			ends[r.ID] = end
		}
	}
	return key, ends, nil
}

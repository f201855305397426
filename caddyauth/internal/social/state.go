package social

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"

	"github.com/gorilla/securecookie"
)

// StateMaxAge is how long a flow may take, as Better Auth's 10 minutes.
const StateMaxAge = 10 * time.Minute

// stateName is bound into the MAC, so a value sealed for another cookie
// name does not decode as flow state even under the same keys.
const stateName = "auth_gate_oauth_state"

// Distinct HKDF info strings keep these keys apart from every other key the
// gate derives from the same secret.
const (
	stateHashInfo  = "auth_gate oauth state v1 hash"
	stateBlockInfo = "auth_gate oauth state v1 block"
)

// State is everything the callback needs, carried in the browser instead of
// the database, so that starting a flow writes nothing.
type State struct {
	State              string    `json:"s"`
	Verifier           string    `json:"v,omitempty"`
	Nonce              string    `json:"n,omitempty"`
	ProviderID         string    `json:"p"`
	CallbackURL        string    `json:"c,omitempty"`
	NewUserCallbackURL string    `json:"nu,omitempty"`
	ErrorCallbackURL   string    `json:"e,omitempty"`
	LinkUserID         string    `json:"l,omitempty"`
	RequestSignUp      bool      `json:"r,omitempty"`
	IssuedAt           time.Time `json:"t"`

	// LinkEmail and LinkSessionID are set by /link-social with LinkUserID:
	// the address the user had then, and the session that asked, which must
	// still be live at the callback.
	LinkEmail     string `json:"le,omitempty"`
	LinkSessionID string `json:"ls,omitempty"`
}

// Matches compares the callback's state parameter in constant time.
func (s State) Matches(param string) bool {
	return s.State != "" && subtle.ConstantTimeCompare([]byte(s.State), []byte(param)) == 1
}

// ErrStateInvalid is any state cookie that must be refused: forged,
// tampered, sealed under unknown keys or for another purpose, or too old.
// The callback reports it as state_mismatch.
var ErrStateInvalid = errors.New("social: flow state is invalid or expired")

// StateCodec seals State with gorilla/securecookie (AES-256 then HMAC-SHA256).
type StateCodec struct {
	codecs []securecookie.Codec
	now    func() time.Time
}

// NewStateCodec derives one key pair per secret; the first secret seals and
// every secret opens, so a secret can be rotated without breaking flows in
// progress.
func NewStateCodec(secrets [][]byte) (*StateCodec, error) {
	if len(secrets) == 0 {
		return nil, errors.New("social: state codec needs at least one secret")
	}
	c := &StateCodec{now: time.Now}
	for i, secret := range secrets {
		if len(secret) == 0 {
			return nil, fmt.Errorf("social: state codec secret %d is empty", i)
		}
		hashKey, err := hkdf.Key(sha256.New, secret, nil, stateHashInfo, 64)
		if err != nil {
			return nil, fmt.Errorf("social: derive state hash key: %w", err)
		}
		blockKey, err := hkdf.Key(sha256.New, secret, nil, stateBlockInfo, 32)
		if err != nil {
			return nil, fmt.Errorf("social: derive state block key: %w", err)
		}
		sc := securecookie.New(hashKey, blockKey).
			MaxAge(int(StateMaxAge / time.Second)).
			SetSerializer(securecookie.JSONEncoder{})
		c.codecs = append(c.codecs, sc)
	}
	return c, nil
}

// Encode seals s, stamping IssuedAt.
func (c *StateCodec) Encode(s State) (string, error) {
	s.IssuedAt = c.now().UTC().Truncate(time.Second)
	v, err := securecookie.EncodeMulti(stateName, s, c.codecs...)
	if err != nil {
		return "", fmt.Errorf("social: seal flow state: %w", err)
	}
	return v, nil
}

// Decode opens v and refuses it unless it is authentic and under
// StateMaxAge old by IssuedAt (securecookie's own timestamp bounds it too).
func (c *StateCodec) Decode(v string) (State, error) {
	var s State
	if err := securecookie.DecodeMulti(stateName, v, &s, c.codecs...); err != nil {
		return State{}, fmt.Errorf("%w: %w", ErrStateInvalid, err)
	}
	age := c.now().Sub(s.IssuedAt)
	// A little skew backwards is tolerated for instances whose clocks differ.
	if s.IssuedAt.IsZero() || age > StateMaxAge || age < -time.Minute {
		return State{}, fmt.Errorf("%w: issued %s ago", ErrStateInvalid, age.Round(time.Second))
	}
	return s, nil
}

// randomAlphabet is Better Auth's generateRandomString("a-z","A-Z","0-9","-_").
const randomAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"

// Lengths Better Auth uses.
const (
	StateLength    = 32
	VerifierLength = 128
	NonceLength    = 32
)

// RandomString is n characters from Better Auth's alphabet. The alphabet
// has 64 letters, so the low 6 bits of each random byte pick one without
// bias.
func RandomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (it crashes instead)
	for i := range b {
		b[i] = randomAlphabet[b[i]&63]
	}
	return string(b)
}

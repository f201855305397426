package social

import (
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/securecookie"
)

func mustCodec(t *testing.T, secrets ...string) *StateCodec {
	t.Helper()
	var bs [][]byte
	for _, s := range secrets {
		bs = append(bs, []byte(s))
	}
	c, err := NewStateCodec(bs)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var sample = State{
	State: RandomString(StateLength), Verifier: RandomString(VerifierLength), Nonce: RandomString(NonceLength),
	ProviderID: "google", CallbackURL: "/dashboard", NewUserCallbackURL: "/welcome",
	ErrorCallbackURL: "/oops", LinkUserID: "user-1", RequestSignUp: true,
}

func TestStateRoundTrip(t *testing.T) {
	c := mustCodec(t, "secret-one-that-is-long-enough")
	v, err := c.Encode(sample)
	if err != nil {
		t.Fatal(err)
	}
	if len(v) > 4000 {
		t.Errorf("sealed state is %d bytes; browsers cap a cookie near 4096", len(v))
	}
	if strings.Contains(v, sample.Verifier) || strings.Contains(v, "dashboard") {
		t.Error("sealed state shows its contents")
	}
	got, err := c.Decode(v)
	if err != nil {
		t.Fatal(err)
	}
	if time.Since(got.IssuedAt) > time.Minute {
		t.Errorf("IssuedAt = %v", got.IssuedAt)
	}
	got.IssuedAt = time.Time{}
	if got != sample {
		t.Errorf("decoded %+v, want %+v", got, sample)
	}
	if !got.Matches(sample.State) || got.Matches(sample.State+"x") || (State{}).Matches("") {
		t.Error("Matches is wrong")
	}
}

func TestStateExpires(t *testing.T) {
	c := mustCodec(t, "secret-one-that-is-long-enough")
	v, err := c.Encode(sample)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		later time.Duration
		ok    bool
	}{
		{9 * time.Minute, true},
		{StateMaxAge + time.Second, false},
		{-2 * time.Minute, false}, // issued in the future
	} {
		c.now = func() time.Time { return time.Now().Add(tc.later) }
		if _, err := c.Decode(v); (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrStateInvalid)) {
			t.Errorf("%v later: err = %v, want ok=%v", tc.later, err, tc.ok)
		}
	}
}

func TestStateRefusesForgeries(t *testing.T) {
	c := mustCodec(t, "secret-one-that-is-long-enough")
	v, err := c.Encode(sample)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	key := func(info string, n int) []byte {
		k, err := hkdf.Key(sha256.New, []byte("secret-one-that-is-long-enough"), nil, info, n)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	// Same secret and keys, but sealed under another cookie name: another
	// purpose, which must not open as flow state.
	otherName, err := securecookie.New(key(stateHashInfo, 64), key(stateBlockInfo, 32)).
		SetSerializer(securecookie.JSONEncoder{}).Encode("auth_gate_form_token", sample)
	if err != nil {
		t.Fatal(err)
	}
	// Same secret and name, keys derived for another purpose.
	otherKeys, err := securecookie.New(key("auth_gate something else hash", 64), key("auth_gate something else block", 32)).
		SetSerializer(securecookie.JSONEncoder{}).Encode(stateName, sample)
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := mustCodec(t, "another-secret-entirely").Encode(sample)
	if err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string]string{
		"empty":          "",
		"flipped start":  flip(v, 3),
		"flipped middle": flip(v, len(v)/2),
		"flipped end":    flip(v, len(v)-2),
		"truncated":      v[:len(v)-5],
		"other secret":   foreign,
		"other name":     otherName,
		"other keys":     otherKeys,
	} {
		if _, err := c.Decode(bad); !errors.Is(err, ErrStateInvalid) {
			t.Errorf("%s: err = %v, want ErrStateInvalid", name, err)
		}
	}
}

func TestStateSecretRotation(t *testing.T) {
	old := mustCodec(t, "the-old-secret-value")
	v, err := old.Encode(sample)
	if err != nil {
		t.Fatal(err)
	}
	rotated := mustCodec(t, "the-new-secret-value", "the-old-secret-value")
	if _, err := rotated.Decode(v); err != nil {
		t.Errorf("rotated codec refuses a flow sealed under the old secret: %v", err)
	}
	nv, err := rotated.Encode(sample)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mustCodec(t, "the-new-secret-value").Decode(nv); err != nil {
		t.Errorf("new flows are not sealed under the first secret: %v", err)
	}
	if _, err := mustCodec(t, "the-new-secret-value").Decode(v); !errors.Is(err, ErrStateInvalid) {
		t.Errorf("old secret retired but its flow still opens: %v", err)
	}
	if _, err := NewStateCodec(nil); err == nil {
		t.Error("no secrets accepted")
	}
	if _, err := NewStateCodec([][]byte{{}}); err == nil {
		t.Error("empty secret accepted")
	}
}

func TestRandomString(t *testing.T) {
	seen := map[rune]bool{}
	for _, n := range []int{StateLength, VerifierLength, 1000} {
		s := RandomString(n)
		if len(s) != n {
			t.Errorf("RandomString(%d) has length %d", n, len(s))
		}
		for _, r := range s {
			if !strings.ContainsRune(randomAlphabet, r) {
				t.Errorf("RandomString gave %q, outside Better Auth's alphabet", r)
			}
			seen[r] = true
		}
	}
	// 1160 draws from 64 letters miss one with probability about 1e-6.
	if len(seen) != len(randomAlphabet) {
		t.Errorf("RandomString used %d of the %d letters", len(seen), len(randomAlphabet))
	}
	if RandomString(32) == RandomString(32) {
		t.Error("RandomString repeats itself")
	}
}

package formtoken

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var (
	current = []byte(strings.Repeat("c", 32))
	retired = []byte(strings.Repeat("r", 32))
	at      = time.Unix(1_800_000_000, 0)
)

func mustNew(t *testing.T, secrets ...[]byte) *Codec {
	t.Helper()
	c, err := New(secrets, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustIssue(t *testing.T, c *Codec, form string, at time.Time) string {
	t.Helper()
	tok, err := c.Issue(form, at)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestCheck(t *testing.T) {
	c := mustNew(t, current, retired)
	good := mustIssue(t, c, "/sign-in", at)
	for _, tc := range []struct {
		name  string
		form  string
		token string
		at    time.Time
		want  error
	}{
		{"fresh", "/sign-in", good, at, nil},
		{"just before the end of its life", "/sign-in", good, at.Add(time.Hour), nil},
		{"signed with a retired secret", "/sign-in", mustIssue(t, mustNew(t, retired), "/sign-in", at), at, nil},

		{"missing", "/sign-in", "", at, ErrInvalid},
		{"another form's", "/sign-up", good, at, ErrInvalid},
		{"expired", "/sign-in", good, at.Add(time.Hour + time.Second), ErrExpired},
		{"signed with an unknown secret", "/sign-in", mustIssue(t, mustNew(t, []byte(strings.Repeat("x", 32))), "/sign-in", at), at, ErrInvalid},
		{"tampered", "/sign-in", good[:10] + flip(good[10]) + good[11:], at, ErrInvalid},
		{"truncated", "/sign-in", good[:len(good)-4], at, ErrInvalid},
		{"garbage", "/sign-in", "not a token", at, ErrInvalid},
		{"huge", "/sign-in", strings.Repeat("A", 100000), at, ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := c.Check(tc.form, tc.token, tc.at); !errors.Is(err, tc.want) {
				t.Errorf("Check = %v, want %v", err, tc.want)
			}
		})
	}
}

func flip(b byte) string {
	if b == 'A' {
		return "B"
	}
	return "A"
}

// Each secret gets its own pair of keys, and the two keys of a pair differ
// from each other and from the secret.
func TestIssue_KeysDifferPerSecretAndPurpose(t *testing.T) {
	a := mustNew(t, current)
	b := mustNew(t, retired)
	if mustIssue(t, a, "/sign-in", at) == mustIssue(t, b, "/sign-in", at) {
		t.Error("two secrets issue the same token")
	}
	if k := deriveKeys(current); string(k.hash) == string(k.block) || string(k.hash) == string(current) {
		t.Error("hash and block keys are not distinct derivations of the secret")
	}
}

func TestNew_RequiresASecret(t *testing.T) {
	if _, err := New(nil, time.Hour); err == nil {
		t.Error("New without secrets succeeded")
	}
}

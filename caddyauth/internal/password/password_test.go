package password

import (
	"encoding/hex"
	"errors"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/crypto/scrypt"
)

// Appendix A of the reference, "DB rows after sign-up": the account row
// Better Auth 1.7.25 wrote for the password "password123".
const betterAuthHash = "f61548fec73c2d33bb757bc55b227d51:5ad67c3f908560f3c1cd63f5ed4c2c2fddc675dae6296cd02b3302072b66bfc176e0fbe31a4ad4f364ae3995159e9b812bf9e7c069cf5761ed98e30bec8edc57"

func TestVerify_BetterAuthHash(t *testing.T) {
	for _, tc := range []struct {
		pw   string
		want bool
	}{
		{"password123", true},
		{"wrongpass1", false},
	} {
		got, err := verify(betterAuthHash, tc.pw)
		if err != nil {
			t.Fatalf("verify(%q): %v", tc.pw, err)
		}
		if got != tc.want {
			t.Errorf("verify(%q) = %v, want %v", tc.pw, got, tc.want)
		}
	}
}

// The documented algorithm, written out here rather than taken from
// password.go: scrypt N=16384 r=16 p=1, 64-byte key, over the NFKC password,
// with the 32 hex characters of the salt (not their decoded bytes) as salt.
func documentedScrypt(t *testing.T, nfkcPassword, saltHex string) string {
	t.Helper()
	key, err := scrypt.Key([]byte(nfkcPassword), []byte(saltHex), 16384, 16, 1, 64)
	if err != nil {
		t.Fatal(err)
	}
	return saltHex + ":" + hex.EncodeToString(key)
}

func TestHash_IsTheDocumentedAlgorithm(t *testing.T) {
	const pw = "correct horse battery staple"
	stored, err := Hash(pw)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{32}:[0-9a-f]{128}$`).MatchString(stored) {
		t.Fatalf("hash has the wrong shape: %d characters", len(stored))
	}
	salt, _, _ := strings.Cut(stored, ":")
	if want := documentedScrypt(t, pw, salt); stored != want {
		t.Errorf("Hash differs from scrypt over the salt's hex string")
	}
	ok, err := verify(stored, pw)
	if err != nil || !ok {
		t.Errorf("verify(own hash) = %v, %v; want true, nil", ok, err)
	}
}

func TestVerify_NFKCCompatibilityForms(t *testing.T) {
	// "ﬁ" (U+FB01) and "²" (U+00B2) normalise to "fi" and "2" under NFKC,
	// so a password typed either way is the same password.
	const salt = "00112233445566778899aabbccddeeff"
	stored := documentedScrypt(t, "fine-password2", salt)
	ok, err := verify(stored, "\ufb01ne-password\u00b2")
	if err != nil || !ok {
		t.Errorf("compatibility form: verifyPassword = %v, %v; want true, nil", ok, err)
	}
}

func TestVerify_AnySaltStringIsUsedAsIs(t *testing.T) {
	// Better Auth never decodes the salt, so a row with a salt that is not 32
	// hex characters (written by some other tool) still verifies.
	const salt = "not-hex, and not 32 characters"
	ok, err := verify(documentedScrypt(t, "password123", salt), "password123")
	if err != nil || !ok {
		t.Errorf("verifyPassword = %v, %v; want true, nil", ok, err)
	}
}

func TestVerify_MalformedHash(t *testing.T) {
	key := strings.Repeat("ab", 64)
	for _, stored := range []string{
		"",
		"nocolonatall",
		":" + key,
		"00112233445566778899aabbccddeeff:",
		"00112233445566778899aabbccddeeff:" + key[:126],
		"00112233445566778899aabbccddeeff:" + key + "ab",
		"00112233445566778899aabbccddeeff:" + key[:127] + "g",
		"00112233445566778899aabbccddeeff:" + key[:64] + ":" + key[:63],
	} {
		ok, err := verify(stored, "password123")
		if !errors.Is(err, ErrMalformedHash) || ok {
			t.Errorf("verify(%q) = %v, %v; want false and ErrMalformedHash", stored, ok, err)
			continue
		}
		if stored != "" && strings.Contains(err.Error(), stored) ||
			strings.Contains(err.Error(), "0011223344") || strings.Contains(err.Error(), "abab") {
			t.Errorf("error quotes the hash: %v", err)
		}
	}
}

func TestLength_CountsUTF16Units(t *testing.T) {
	for _, tc := range []struct {
		pw   string
		want int
	}{
		{"", 0},
		{"password", 8},
		{"é", 1},        // U+00E9, two bytes in UTF-8
		{"e\u0301", 2},  // e + combining acute: two code units
		{"日本語", 3},      // BMP, three bytes each
		{"😀", 2},        // U+1F600: a surrogate pair
		{"pass😀😀", 8},   // 4 + 2 + 2
		{"\xff\xfe", 2}, // invalid UTF-8: one replacement character per byte
	} {
		if got := Length(tc.pw); got != tc.want {
			t.Errorf("Length(%q) = %d, want %d", tc.pw, got, tc.want)
		}
	}
}

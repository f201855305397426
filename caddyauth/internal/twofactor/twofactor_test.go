package twofactor

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/testsupport"
)

// Vectors below were computed by Better Auth 1.7.25's own code
// (better-auth/crypto symmetricEncrypt, @better-auth/utils/otp createOTP)
// under internal/betterauth/node_modules.
const (
	baSecret     = "better-auth-secret-12345678901234567890"
	baTOTPSecret = "s3cr3t-TOTP-key_0123456789abcdef"
	// symmetricEncrypt({key: baSecret, data: baTOTPSecret})
	baCiphertext = "15a808d68da9747e1c0df85c8117a7621cde606d2d95dd827a573335e125bb16303597cc194011f5dd3ddf2043f106c809216c8651bcc8c8b65c2b7bbab2317f3102853b23d0c2a0"
	// symmetricEncrypt({key: baSecret, data: JSON.stringify(["abcde-FGHIJ","12345-67890"])})
	baCodesCiphertext = "85091bca52e63799e58e857c302e6122f24852f2ecf3b16c4f8f4a4a6778faba844399e5b129815ad26c98bd451b1f09fe45ae0f91746df09ac968bc319c7b2baff1e30d54"
)

func TestDecrypt_BetterAuthCiphertext(t *testing.T) {
	for _, tc := range []struct {
		name    string
		secrets []string
		data    string
		want    string
		ok      bool
	}{
		{"current secret", []string{baSecret}, baCiphertext, baTOTPSecret, true},
		{"older secret after rotation", []string{"new-secret-new-secret-new-secret-1", baSecret}, baCiphertext, baTOTPSecret, true},
		{"versioned envelope", []string{baSecret}, "$ba$2$" + baCiphertext, baTOTPSecret, true},
		{"wrong secret", []string{"another-secret-another-secret-1234"}, baCiphertext, "", false},
		{"tampered", []string{baSecret}, baCiphertext[:60] + "00" + baCiphertext[62:], "", false},
		{"not hex", []string{baSecret}, "zz" + baCiphertext[2:], "", false},
		{"too short", []string{baSecret}, baCiphertext[:40], "", false},
		{"empty", []string{baSecret}, "", "", false},
		{"envelope without separator", []string{baSecret}, "$ba$2", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Decrypt(tc.secrets, tc.data)
			if (err == nil) != tc.ok || got != tc.want {
				t.Fatalf("Decrypt = %q, %v; want %q, ok=%v", got, err, tc.want, tc.ok)
			}
		})
	}
}

func TestEncrypt_RoundTripAndFreshNonce(t *testing.T) {
	a, err := Encrypt(baSecret, baTOTPSecret)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Encrypt(baSecret, baTOTPSecret)
	if a == b {
		t.Fatal("two encryptions of the same value are equal: the nonce is not random")
	}
	if !regexp.MustCompile(`^[0-9a-f]+$`).MatchString(a) || len(a) != len(baCiphertext) {
		t.Fatalf("ciphertext %q is not Better Auth's layout (lower-case hex, %d chars)", a, len(baCiphertext))
	}
	if got, err := Decrypt([]string{baSecret}, a); err != nil || got != baTOTPSecret {
		t.Fatalf("round trip = %q, %v", got, err)
	}
}

// TestEncrypt_BetterAuthDecryptsOurs runs Better Auth's symmetricDecrypt on
// our ciphertexts, for both the single-secret form and backup codes.
func TestEncrypt_BetterAuthDecryptsOurs(t *testing.T) {
	node, npm := testsupport.RequireNode(t, "Better Auth decrypting our two-factor ciphertext")
	dir := testsupport.NodeProject("betterauth")
	testsupport.NpmCI(t, npm, dir)
	secretCT, err := Encrypt(baSecret, baTOTPSecret)
	if err != nil {
		t.Fatal(err)
	}
	codes := []string{"abcde-FGHIJ", "12345-67890"}
	codesCT, err := EncryptBackupCodes(baSecret, codes)
	if err != nil {
		t.Fatal(err)
	}
	script := `import { symmetricDecrypt } from "better-auth/crypto";
const [key, a, b] = process.argv.slice(1);
console.log(await symmetricDecrypt({ key, data: a }));
console.log(await symmetricDecrypt({ key, data: b }));`
	cmd := exec.Command(node, "--input-type=module", "-e", script, baSecret, secretCT, codesCT)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	want := baTOTPSecret + "\n" + `["abcde-FGHIJ","12345-67890"]` + "\n"
	if string(out) != want {
		t.Fatalf("Better Auth decrypted\n%s\nwant\n%s", out, want)
	}
}

func TestBackupCodes_BetterAuthList(t *testing.T) {
	codes, err := DecryptBackupCodes([]string{baSecret}, baCodesCiphertext)
	if err != nil || strings.Join(codes, ",") != "abcde-FGHIJ,12345-67890" {
		t.Fatalf("DecryptBackupCodes = %q, %v", codes, err)
	}
	rest, ok := UseBackupCode(codes, "12345-67890")
	if !ok || strings.Join(rest, ",") != "abcde-FGHIJ" {
		t.Fatalf("UseBackupCode = %q, %v", rest, ok)
	}
	for _, bad := range []string{"", "12345-6789", "12345-678900", "ABCDE-FGHIJ", "abcde-fghij", "abcdeFGHIJ"} {
		if rest, ok := UseBackupCode(codes, bad); ok || len(rest) != 2 {
			t.Errorf("UseBackupCode(%q) = %q, %v; want refused", bad, rest, ok)
		}
	}
	if _, err := DecryptBackupCodes([]string{baSecret}, baCiphertext); err == nil {
		t.Error("a ciphertext that is not a JSON list was accepted as backup codes")
	}
}

func TestNewBackupCodes_Format(t *testing.T) {
	codes := NewBackupCodes()
	if len(codes) != 10 {
		t.Fatalf("%d codes, want 10", len(codes))
	}
	re := regexp.MustCompile(`^[a-z0-9A-Z]{5}-[a-z0-9A-Z]{5}$`)
	seen := map[string]bool{}
	for _, c := range codes {
		if !re.MatchString(c) {
			t.Errorf("code %q is not xxxxx-xxxxx", c)
		}
		seen[c] = true
	}
	if len(seen) != 10 {
		t.Errorf("codes repeat: %q", codes)
	}
}

func TestNewSecret_Format(t *testing.T) {
	a, b := NewSecret(), NewSecret()
	re := regexp.MustCompile(`^[a-zA-Z0-9_-]{32}$`)
	if !re.MatchString(a) || !re.MatchString(b) || a == b {
		t.Fatalf("secrets %q, %q", a, b)
	}
}

func TestCode_Vectors(t *testing.T) {
	for _, tc := range []struct {
		key  string
		ms   int64
		want string
	}{
		// Better Auth's createOTP(baTOTPSecret).totp() with Date.now mocked.
		{baTOTPSecret, 0, "071938"},
		{baTOTPSecret, 59000, "668594"},
		{baTOTPSecret, 1111111109000, "739182"},
		{baTOTPSecret, 1234567890000, "530722"},
		{baTOTPSecret, 2000000000000, "103081"},
		{baTOTPSecret, 20000000000000, "075837"},
		// RFC 6238 appendix B (SHA-1), last six of the eight digits.
		{"12345678901234567890", 59000, "287082"},
		{"12345678901234567890", 1111111109000, "081804"},
	} {
		if got := Code([]byte(tc.key), time.UnixMilli(tc.ms)); got != tc.want {
			t.Errorf("Code(%q, %d) = %s, want %s", tc.key, tc.ms, got, tc.want)
		}
	}
}

func TestVerify_WindowAndMalformed(t *testing.T) {
	key := []byte(baTOTPSecret)
	now := time.UnixMilli(1234567890000)
	for _, tc := range []struct {
		name string
		code string
		ok   bool
	}{
		{"now", Code(key, now), true},
		{"one step before", Code(key, now.Add(-Period)), true},
		{"one step after", Code(key, now.Add(Period)), true},
		{"two steps before", Code(key, now.Add(-2*Period)), false},
		{"two steps after", Code(key, now.Add(2*Period)), false},
		{"empty", "", false},
		{"five digits", Code(key, now)[:5], false},
		{"seven digits", Code(key, now) + "0", false},
		{"padded", " " + Code(key, now), false},
		{"letters", "abcdef", false},
		{"other key", Code([]byte("other"), now), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, ok := Verify(key, tc.code, now); ok != tc.ok {
				t.Fatalf("Verify(%q) = %v, want %v", tc.code, ok, tc.ok)
			}
		})
	}
	step, ok := Verify(key, Code(key, now.Add(-Period)), now)
	if !ok || step != counter(now)-1 {
		t.Fatalf("matched step %d, want %d", step, counter(now)-1)
	}
}

func TestKey_Base32Import(t *testing.T) {
	k, ok := Key("base32:gezdgnbvgy3tqojq") // "1234567890"
	if !ok || string(k) != "1234567890" {
		t.Fatalf("Key = %q, %v", k, ok)
	}
	if _, ok := Key("base32:!!"); ok {
		t.Fatal("bad base32 accepted")
	}
	if k, _ := Key(baTOTPSecret); string(k) != baTOTPSecret {
		t.Fatalf("plain secret key = %q", k)
	}
}

func TestURI_BetterAuthEncoding(t *testing.T) {
	for _, tc := range []struct{ issuer, account, want string }{
		// createOTP(baTOTPSecret).url(issuer, account)
		{"Acme Inc & Co*~", "a+b@example.com", "otpauth://totp/Acme%20Inc%20%26%20Co*~:a%2Bb%40example.com?secret=OMZWG4RTOQWVIT2UKAWWWZLZL4YDCMRTGQ2TMNZYHFQWEY3EMVTA&issuer=Acme+Inc+%26+Co*%7E&digits=6&period=30"},
		{"Better Auth", "user@example.com", "otpauth://totp/Better%20Auth:user%40example.com?secret=OMZWG4RTOQWVIT2UKAWWWZLZL4YDCMRTGQ2TMNZYHFQWEY3EMVTA&issuer=Better+Auth&digits=6&period=30"},
	} {
		if got := URI(tc.issuer, tc.account, baTOTPSecret); got != tc.want {
			t.Errorf("URI(%q, %q)\n got %s\nwant %s", tc.issuer, tc.account, got, tc.want)
		}
	}
}

func TestTrust_Token(t *testing.T) {
	v := TrustCookieValue(baSecret, "user-1", "trust-device-abc")
	// createHMAC("SHA-256", "base64urlnopad").sign(baSecret, "user-1!trust-device-abc")
	if want := "sI9xtL5Y04JWejVbPeyXPNWg3RCKOJYHLn8z0JZttXA!trust-device-abc"; v != want {
		t.Fatalf("TrustCookieValue = %q, want %q", v, want)
	}
	id, ok := CheckTrust([]string{"old", baSecret}, "user-1", v)
	if !ok || id != "trust-device-abc" {
		t.Fatalf("CheckTrust = %q, %v", id, ok)
	}
	for name, bad := range map[string]struct{ user, value string }{
		"other user":    {"user-2", v},
		"no separator":  {"user-1", strings.ReplaceAll(v, "!", "")},
		"empty token":   {"user-1", "!trust-device-abc"},
		"swapped id":    {"user-1", strings.SplitN(v, "!", 2)[0] + "!trust-device-abd"},
		"extra segment": {"user-1", v + "!x"},
	} {
		if _, ok := CheckTrust([]string{baSecret}, bad.user, bad.value); ok {
			t.Errorf("%s: accepted", name)
		}
	}
}

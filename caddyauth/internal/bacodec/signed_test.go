package bacodec

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
)

// The secret of the reference's probe: "x" * 32.
var probeKey = []byte(strings.Repeat("x", 32))

// Wire values captured from Better Auth 1.7.25 with probeKey.
const (
	probeToken        = "J95RstBkQGJwxRcnjEdSkAf7lMZHdwxU"
	probeTokenWire    = "J95RstBkQGJwxRcnjEdSkAf7lMZHdwxU.MZ7rO4hAfKocG1HsVKW7WsDvZQcxb2VzW%2FHMKcT%2FUTk%3D"
	probeDontRemember = "true.1bXlcnrqtmSepkNJviBBMNg0%2BTFE%2FNL3hULlLOhQEEc%3D"
	// Instance A sign-up and instance C (HTTPS) sign-in cookies.
	probeSignUpWire = "i2O97hTC1WMAPXdeAEtU7n8dgUVB9lee.XvdmJPVDJf9fGFfP8314RkTyNMBUGhZWUtTbc9s1KnM%3D"
	probeSecureWire = "YyEI1GyWLkY0Vn72kijI5JbxeAIUgAWj.uW4BaUWzIlllmH%2BrwpYEeOF%2BtoRCrYPnvoDKMCrx7SA%3D"
)

func TestSignCookie_BetterAuthVectors(t *testing.T) {
	for _, tc := range []struct{ value, wire string }{
		{probeToken, probeTokenWire},
		{"true", probeDontRemember},
		{"i2O97hTC1WMAPXdeAEtU7n8dgUVB9lee", probeSignUpWire},
		{"YyEI1GyWLkY0Vn72kijI5JbxeAIUgAWj", probeSecureWire},
	} {
		if got := SignCookie(probeKey, tc.value); got != tc.wire {
			t.Errorf("signed %q:\n got %s\nwant %s", tc.value, got, tc.wire)
		}
	}
	if got := DontRememberCookie(probeKey); got != probeDontRemember {
		t.Errorf("DontRememberCookie = %s, want %s", got, probeDontRemember)
	}
}

func TestSign_DocumentedAlgorithm(t *testing.T) {
	// sig = base64std(HMAC-SHA256(key = secret's UTF-8 bytes, msg = token)),
	// value = token + "." + sig, URL-encoded on the wire.
	m := hmac.New(sha256.New, probeKey)
	m.Write([]byte(probeToken))
	want := probeToken + "." + base64.StdEncoding.EncodeToString(m.Sum(nil))
	if got := Sign(probeKey, probeToken); got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

func TestIsDontRemember(t *testing.T) {
	other := []byte(strings.Repeat("o", 32))
	for _, tc := range []struct {
		name string
		keys [][]byte
		raw  string
		want bool
	}{
		{"captured", [][]byte{probeKey}, probeDontRemember, true},
		{"signed by an older key", [][]byte{other, probeKey}, probeDontRemember, true},
		{"forged", [][]byte{other}, probeDontRemember, false},
		{"signed, but not true", [][]byte{probeKey}, SignCookie(probeKey, "false"), false},
		{"unsigned", [][]byte{probeKey}, "true", false},
	} {
		if got := IsDontRemember(tc.keys, tc.raw); got != tc.want {
			t.Errorf("%s: IsDontRemember = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestVerify(t *testing.T) {
	oldKey := []byte(strings.Repeat("o", 32))
	newKey := []byte(strings.Repeat("n", 32))
	signedOld := SignCookie(oldKey, probeToken)
	rawSig := Sign(probeKey, probeToken) // not URL-encoded: the bearer form
	sig := rawSig[len(probeToken)+1:]
	urlSig := strings.NewReplacer("+", "-", "/", "_").Replace(sig)

	for _, tc := range []struct {
		name  string
		keys  [][]byte
		raw   string
		want  string
		valid bool
	}{
		{"captured cookie", [][]byte{probeKey}, probeTokenWire, probeToken, true},
		{"captured dont_remember", [][]byte{probeKey}, probeDontRemember, "true", true},
		{"captured HTTPS cookie", [][]byte{probeKey}, probeSecureWire, "YyEI1GyWLkY0Vn72kijI5JbxeAIUgAWj", true},
		{"not URL-encoded", [][]byte{probeKey}, rawSig, probeToken, true},
		{"base64url signature", [][]byte{probeKey}, probeToken + "." + urlSig, probeToken, true},
		{"rotation: old key still verifies", [][]byte{newKey, oldKey}, signedOld, probeToken, true},
		{"multiple dots: the last splits", [][]byte{probeKey}, SignCookie(probeKey, "a.b.c"), "a.b.c", true},
		{"escaped dot in the value", [][]byte{probeKey}, "a%2Eb." + Sign(probeKey, "a.b")[4:], "a.b", true},

		{"wrong key", [][]byte{newKey}, probeTokenWire, "", false},
		{"no keys", nil, probeTokenWire, "", false},
		{"tampered token", [][]byte{probeKey}, "K" + probeTokenWire[1:], "", false},
		{"tampered signature", [][]byte{probeKey}, strings.Replace(probeTokenWire, "MZ7r", "MZ7s", 1), "", false},
		{"all-A signature (captured probe)", [][]byte{probeKey},
			"i2O97hTC1WMAPXdeAEtU7n8dgUVB9lee.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA%3D", "", false},
		{"unsigned raw token", [][]byte{probeKey}, probeToken, "", false},
		{"truncated", [][]byte{probeKey}, probeTokenWire[:len(probeTokenWire)-3], "", false},
		{"43-character signature", [][]byte{probeKey}, probeToken + "." + sig[1:], "", false},
		{"45-character signature", [][]byte{probeKey}, probeToken + ".A" + sig, "", false},
		{"44 characters without '='", [][]byte{probeKey}, probeToken + "." + sig[:43] + "A", "", false},
		{"stray low bits in the last character", [][]byte{probeKey}, probeToken + "." + sig[:42] + "l=", "", false},
		{"empty value", [][]byte{probeKey}, "." + sig, "", false},
		{"signature only, no dot", [][]byte{probeKey}, sig, "", false},
		{"empty", [][]byte{probeKey}, "", "", false},
		{"trailing junk after the signature", [][]byte{probeKey}, rawSig + ".x", "", false},
		{"bad %-escape", [][]byte{probeKey}, probeTokenWire + "%G1", "", false},
		{"truncated %-escape", [][]byte{probeKey}, strings.TrimSuffix(probeTokenWire, "3D") + "3", "", false},
		{"escape decoding to invalid UTF-8", [][]byte{probeKey}, "%FF" + probeTokenWire, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := Verify(tc.keys, tc.raw)
			if ok != tc.valid || got != tc.want {
				t.Errorf("Verify = %q, %v; want %q, %v", got, ok, tc.want, tc.valid)
			}
		})
	}
}

func TestVerify_DoesNotAllocate(t *testing.T) {
	keys := [][]byte{[]byte(strings.Repeat("o", 32)), probeKey}
	allocs := testing.AllocsPerRun(100, func() {
		if _, ok := Verify(keys, probeTokenWire); !ok {
			t.Fatal("captured cookie does not verify")
		}
	})
	if allocs != 0 {
		t.Errorf("Verify allocates %v times", allocs)
	}
}

func TestMAC_IsHMACSHA256(t *testing.T) {
	for _, keyLen := range []int{0, 1, 32, 63, 64, 65, 200} {
		for _, valueLen := range []int{0, 1, 32, 127, 128, 129, 1000} {
			key := []byte(strings.Repeat("k", keyLen))
			value := strings.Repeat("v", valueLen)
			m := hmac.New(sha256.New, key)
			m.Write([]byte(value))
			if got := mac(key, value); !hmac.Equal(got[:], m.Sum(nil)) {
				t.Errorf("key %d bytes, value %d bytes: mac differs from crypto/hmac", keyLen, valueLen)
			}
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	keys := [][]byte{probeKey, []byte(strings.Repeat("o", 32))}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := Verify(keys, probeTokenWire); !ok {
			b.Fatal("does not verify")
		}
	}
}

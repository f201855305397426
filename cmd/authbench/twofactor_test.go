package main

import (
	"encoding/base32"
	"testing"
	"time"
)

// RFC 6238's SHA-1 test vectors, cut to Better Auth's six digits.
func TestTOTPCode_RFC6238(t *testing.T) {
	secret := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString([]byte("12345678901234567890"))
	for _, tc := range []struct {
		unix int64
		want string
	}{
		{59, "287082"}, {1111111109, "081804"}, {1111111111, "050471"}, {1234567890, "005924"}, {2000000000, "279037"},
	} {
		got, err := totpCode(secret, time.Unix(tc.unix, 0))
		if err != nil || got != tc.want {
			t.Errorf("at %d: %q, %v; want %s", tc.unix, got, err, tc.want)
		}
	}
}

func TestParseFlags_TwoFactorLeg(t *testing.T) {
	cfg, err := parseFlags([]string{"--legs", "twofactor", "--twofactor-rate", "40"})
	if err != nil || !cfg.runs("twofactor") || cfg.runs("gate") || cfg.twoFactorRate != 40 {
		t.Fatalf("parse: %+v, %v", cfg, err)
	}
	if cfg, _ := parseFlags(nil); cfg.runs("twofactor") || cfg.twoFactorRate != 100 {
		t.Errorf("defaults: twofactor leg %v, rate %v; want off and 100", cfg.runs("twofactor"), cfg.twoFactorRate)
	}
	if _, err := parseFlags([]string{"--twofactor-rate", "0"}); err == nil {
		t.Error("--twofactor-rate 0 accepted")
	}
}

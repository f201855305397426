package main

import (
	"slices"
	"strings"
	"testing"
)

func TestParseFlags_Variants(t *testing.T) {
	cfg, err := parseFlags(nil)
	if err != nil || !cfg.measures(varPGEverything) || !cfg.measures(varPlain) {
		t.Fatalf("default: %v, measures everything %v", err, cfg.measures(varPGEverything))
	}
	cfg, err = parseFlags([]string{"--variants", "pg-everything, plain-everything-headers,pg-everything"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{varPlain, varPGEverything, varPlainEverythingHeaders}; !slices.Equal(cfg.variants, want) {
		t.Errorf("variants %q, want %q (plain always, no repeats)", cfg.variants, want)
	}
	if cfg.measures(varPGCached) {
		t.Error("pg-cached measured though not asked for")
	}
	if _, err := parseFlags([]string{"--variants", "pg-cached,nope"}); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("unknown variant: %v", err)
	}
}

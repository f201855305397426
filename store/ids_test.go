package store

import (
	"strings"
	"testing"
)

func TestNewID_Is32AlphanumericCharacters(t *testing.T) {
	for range 1000 {
		id := NewID()
		if len(id) != 32 {
			t.Fatalf("len(%q) = %d", id, len(id))
		}
		if strings.Trim(id, idAlphabet) != "" {
			t.Fatalf("%q has characters outside [A-Za-z0-9]", id)
		}
	}
}

func TestNewID_IsUniqueAndUniform(t *testing.T) {
	const n = 20000
	seen := make(map[string]bool, n)
	freq := map[rune]int{}
	for range n {
		id := NewID()
		if seen[id] {
			t.Fatalf("duplicate id %q", id)
		}
		seen[id] = true
		for _, r := range id {
			freq[r]++
		}
	}
	// 640000 characters over 62 symbols: about 10323 each, with a standard
	// deviation near 100; the bound is 5 deviations. Without the rejection
	// of bytes >= 248, the first 8 symbols would have 5 of 256 byte values
	// instead of 4 and appear about 2500 times too often.
	expected := float64(n*32) / 62
	for _, r := range idAlphabet {
		if dev := float64(freq[r]) - expected; dev > 0.05*expected || dev < -0.05*expected {
			t.Errorf("symbol %q appears %d times, expected about %.0f", r, freq[r], expected)
		}
	}
}

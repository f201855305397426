package caddyauth

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"golang.org/x/crypto/scrypt"
)

// TestScryptKey_MatchesXCryptoWithReusedMemory: scryptKey gives
// scrypt.Key's output for Better Auth's parameters, run after run, whatever
// an earlier run left in the pooled memory, and from concurrent callers.
func TestScryptKey_MatchesXCryptoWithReusedMemory(t *testing.T) {
	inputs := []struct{ pw, salt string }{
		{"password123", "f61548fec73c2d33bb757bc55b227d51"},
		{"", "s"},
		{"correct horse battery staple", "0123456789abcdef0123456789abcdef"},
		{"pässwörd\u00e9", "ffffffffffffffffffffffffffffffff"},
	}
	want := make([][]byte, len(inputs))
	for i, in := range inputs {
		k, err := scrypt.Key([]byte(in.pw), []byte(in.salt), 16384, 16, 1, 64)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = k
	}
	// One after the other: each run but the first gets the memory the run
	// before it left.
	for i, in := range inputs {
		if got := scryptKey([]byte(in.pw), []byte(in.salt)); !bytes.Equal(got, want[i]) {
			t.Errorf("scryptKey(%q, %q) = %x, want %x", in.pw, in.salt, got, want[i])
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*len(inputs))
	for range 2 {
		for i, in := range inputs {
			wg.Go(func() {
				if got := scryptKey([]byte(in.pw), []byte(in.salt)); !bytes.Equal(got, want[i]) {
					errs <- fmt.Errorf("concurrent scryptKey(%q) = %x, want %x", in.pw, got, want[i])
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// BenchmarkScrypt compares scryptKey with scrypt.Key with every CPU
// hashing, as a gate under a sign-in burst does:
//
//	go test ./caddyauth -run '^$' -bench BenchmarkScrypt
//
// On 2 CPUs: ~35 ms per hash per CPU pair for scryptKey vs ~38.5 ms for
// scrypt.Key, whose allocations and the collections they cause take the
// rest.
func BenchmarkScrypt(b *testing.B) {
	pw, salt := []byte("password123"), []byte("f61548fec73c2d33bb757bc55b227d51")
	b.Run("pooled", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				scryptKey(pw, salt)
			}
		})
	})
	b.Run("x-crypto", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := scrypt.Key(pw, salt, 16384, 16, 1, 64); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

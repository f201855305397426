package password

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

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

// BenchmarkScrypt compares scryptKey (pooled working memory) with
// scrypt.Key (32 MiB allocated per run), with one hash at a time (cpus=1)
// and with every CPU hashing (cpus=all), as a gate under a sign-in burst
// does. The comment at the top of scrypt.go gives the figures and how to
// reproduce them.
func BenchmarkScrypt(b *testing.B) {
	pw, salt := []byte("password123"), []byte("f61548fec73c2d33bb757bc55b227d51")
	for _, impl := range []struct {
		name string
		key  func()
	}{
		{"pooled", func() { scryptKey(pw, salt) }},
		{"xcrypto", func() {
			if _, err := scrypt.Key(pw, salt, scryptN, scryptR, scryptP, scryptKeyLen); err != nil {
				b.Fatal(err)
			}
		}},
	} {
		b.Run("impl="+impl.name+"/cpus=1", func(b *testing.B) {
			cpu := processCPUTime()
			for b.Loop() {
				impl.key()
			}
			reportCPUTime(b, cpu)
		})
		b.Run("impl="+impl.name+"/cpus=all", func(b *testing.B) {
			cpu := processCPUTime()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					impl.key()
				}
			})
			reportCPUTime(b, cpu)
		})
	}
}

// reportCPUTime reports the process CPU time spent since start per
// operation: with every CPU hashing, hashes per second are CPUs divided by
// it, whatever else the machine is running.
func reportCPUTime(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(processCPUTime()-start)/float64(b.N), "cpu-ns/op")
}

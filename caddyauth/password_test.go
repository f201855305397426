package caddyauth

import (
	"context"
	"encoding/hex"
	"errors"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/scrypt"
)

// Appendix A of the reference, "DB rows after sign-up": the account row
// Better Auth 1.7.25 wrote for the password "password123".
const betterAuthHash = "f61548fec73c2d33bb757bc55b227d51:5ad67c3f908560f3c1cd63f5ed4c2c2fddc675dae6296cd02b3302072b66bfc176e0fbe31a4ad4f364ae3995159e9b812bf9e7c069cf5761ed98e30bec8edc57"

func TestVerifyPassword_BetterAuthHash(t *testing.T) {
	for _, tc := range []struct {
		pw   string
		want bool
	}{
		{"password123", true},
		{"wrongpass1", false},
	} {
		got, err := verifyPassword(betterAuthHash, tc.pw)
		if err != nil {
			t.Fatalf("verifyPassword(%q): %v", tc.pw, err)
		}
		if got != tc.want {
			t.Errorf("verifyPassword(%q) = %v, want %v", tc.pw, got, tc.want)
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

func TestHashPassword_IsTheDocumentedAlgorithm(t *testing.T) {
	const pw = "correct horse battery staple"
	stored, err := hashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{32}:[0-9a-f]{128}$`).MatchString(stored) {
		t.Fatalf("hash has the wrong shape: %d characters", len(stored))
	}
	salt, _, _ := strings.Cut(stored, ":")
	if want := documentedScrypt(t, pw, salt); stored != want {
		t.Errorf("hashPassword differs from scrypt over the salt's hex string")
	}
	ok, err := verifyPassword(stored, pw)
	if err != nil || !ok {
		t.Errorf("verifyPassword(own hash) = %v, %v; want true, nil", ok, err)
	}
}

func TestVerifyPassword_NFKCCompatibilityForms(t *testing.T) {
	// "ﬁ" (U+FB01) and "²" (U+00B2) normalise to "fi" and "2" under NFKC,
	// so a password typed either way is the same password.
	const salt = "00112233445566778899aabbccddeeff"
	stored := documentedScrypt(t, "fine-password2", salt)
	ok, err := verifyPassword(stored, "\ufb01ne-password\u00b2")
	if err != nil || !ok {
		t.Errorf("compatibility form: verifyPassword = %v, %v; want true, nil", ok, err)
	}
}

func TestVerifyPassword_AnySaltStringIsUsedAsIs(t *testing.T) {
	// Better Auth never decodes the salt, so a row with a salt that is not 32
	// hex characters (written by some other tool) still verifies.
	const salt = "not-hex, and not 32 characters"
	ok, err := verifyPassword(documentedScrypt(t, "password123", salt), "password123")
	if err != nil || !ok {
		t.Errorf("verifyPassword = %v, %v; want true, nil", ok, err)
	}
}

func TestVerifyPassword_MalformedHash(t *testing.T) {
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
		ok, err := verifyPassword(stored, "password123")
		if err == nil || ok {
			t.Errorf("verifyPassword(%q) = %v, %v; want false and an error", stored, ok, err)
			continue
		}
		if stored != "" && strings.Contains(err.Error(), stored) ||
			strings.Contains(err.Error(), "0011223344") || strings.Contains(err.Error(), "abab") {
			t.Errorf("error quotes the hash: %v", err)
		}
	}
}

func TestPasswordLength_CountsUTF16Units(t *testing.T) {
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
		if got := passwordLength(tc.pw); got != tc.want {
			t.Errorf("passwordLength(%q) = %d, want %d", tc.pw, got, tc.want)
		}
	}
}

// holdSlots makes every caller that gets a slot report on entered and then
// wait for release to be closed, so tests can fill the pool without sleeping.
func holdSlots(h *hasher) (entered chan struct{}, release chan struct{}) {
	entered = make(chan struct{}, 16)
	release = make(chan struct{})
	h.inSlot = func() {
		entered <- struct{}{}
		<-release
	}
	return entered, release
}

// waitQueued waits until n callers are queued. The wait is bounded by the
// test's timeout; queuing takes microseconds.
func waitQueued(h *hasher, n int64) {
	for h.queued() != n {
		runtime.Gosched()
	}
}

func noHashWork() {}

func TestHasher_ShedsLoadBeyondWorkersAndQueue(t *testing.T) {
	h := newHasher(1, 1)
	entered, release := holdSlots(h)
	ctx := context.Background()

	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Add(2)
	go func() { defer wg.Done(); errs[0] = h.do(ctx, noHashWork) }()
	<-entered // the first caller holds the only slot
	go func() { defer wg.Done(); errs[1] = h.do(ctx, noHashWork) }()
	waitQueued(h, 1) // the second waits in the only queue place

	if got, want := h.running(), int64(1); got != want {
		t.Errorf("running() = %d, want %d", got, want)
	}
	if err := h.do(ctx, noHashWork); !errors.Is(err, errHashBusy) {
		t.Errorf("third caller: err = %v, want errHashBusy", err)
	}

	close(release)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("caller %d: %v", i+1, err)
		}
	}
	if h.running() != 0 || h.queued() != 0 {
		t.Errorf("after: running() = %d, queued() = %d, want 0, 0", h.running(), h.queued())
	}
}

func TestHasher_NoQueueMeansBusyAtOnce(t *testing.T) {
	h := newHasher(1, 0)
	entered, release := holdSlots(h)
	done := make(chan error)
	go func() { done <- h.do(context.Background(), noHashWork) }()
	<-entered
	if err := h.do(context.Background(), noHashWork); !errors.Is(err, errHashBusy) {
		t.Errorf("err = %v, want errHashBusy", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Error(err)
	}
}

func TestHasher_QueuedCallerLeavesWhenContextEnds(t *testing.T) {
	h := newHasher(1, 1)
	entered, release := holdSlots(h)
	holder := make(chan error)
	go func() { holder <- h.do(context.Background(), noHashWork) }()
	<-entered

	ctx, cancel := context.WithCancel(context.Background())
	waiter := make(chan error)
	ran := false
	go func() { waiter <- h.do(ctx, func() { ran = true }) }()
	waitQueued(h, 1)
	cancel()
	if err := <-waiter; !errors.Is(err, context.Canceled) {
		t.Errorf("queued caller: err = %v, want context.Canceled", err)
	}
	if ran {
		t.Error("the cancelled caller's work ran")
	}
	if got := h.queued(); got != 0 {
		t.Errorf("queued() = %d after the cancel, want 0", got)
	}

	// Its queue place is free again.
	again := make(chan error)
	go func() { again <- h.do(context.Background(), noHashWork) }()
	waitQueued(h, 1)
	close(release)
	if err := <-holder; err != nil {
		t.Error(err)
	}
	if err := <-again; err != nil {
		t.Error(err)
	}
}

func TestHasher_EndedContextIsNotAdmitted(t *testing.T) {
	h := newHasher(1, 1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := h.do(ctx, func() { t.Error("work ran") }); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestHasher_VerifyAndDummy(t *testing.T) {
	h := newHasher(0, 4)
	if cap(h.slots) != runtime.NumCPU() {
		t.Errorf("workers = %d, want runtime.NumCPU() = %d", cap(h.slots), runtime.NumCPU())
	}
	ctx := context.Background()
	ok, err := h.verify(ctx, betterAuthHash, "password123")
	if err != nil || !ok {
		t.Errorf("verify = %v, %v; want true, nil", ok, err)
	}
	if err := h.verifyDummy(ctx, "password123"); err != nil {
		t.Errorf("verifyDummy: %v", err)
	}
	if _, _, err := parsePasswordHash(h.dummy); err != nil {
		t.Errorf("dummy hash does not parse like a stored one: %v", err)
	}
	if _, err := h.verify(ctx, "garbage", "password123"); err == nil {
		t.Error("verify(malformed) gave no error")
	}
}

func TestHasher_HashUsesAFreshSaltEachTime(t *testing.T) {
	h := newHasher(1, 0)
	var salts [2]string
	for i := range salts {
		stored, err := h.hash(context.Background(), "same password")
		if err != nil {
			t.Fatal(err)
		}
		if len(stored) != 32+1+128 {
			t.Fatalf("hash length = %d, want 161", len(stored))
		}
		salts[i] = stored[:32]
	}
	if salts[0] == salts[1] {
		t.Error("two hashes share a salt")
	}
}

func TestHasher_ShedsCallersThatWouldWaitTooLong(t *testing.T) {
	h := newHasher(1, 100)
	h.maxWait = 50 * time.Millisecond
	entered, release := holdSlots(h)
	ctx := context.Background()
	done := make(chan error, 1)
	go func() { done <- h.do(ctx, noHashWork) }()
	<-entered

	// The queue has room, but a caller that waits past maxWait gives up
	// with errHashBusy rather than waiting on.
	start := time.Now()
	if err := h.do(ctx, noHashWork); !errors.Is(err, errHashBusy) {
		t.Fatalf("waiting caller: err = %v, want errHashBusy", err)
	}
	if waited := time.Since(start); waited < h.maxWait {
		t.Errorf("gave up after %v, before maxWait", waited)
	}

	// With runs known to take a second, the expected wait is already past
	// maxWait: turned away without waiting at all.
	h.avgRun.Store(int64(time.Second))
	if err := h.do(ctx, noHashWork); !errors.Is(err, errHashBusy) {
		t.Fatalf("caller with a long expected wait: err = %v, want errHashBusy", err)
	}
	if h.queued() != 0 {
		t.Errorf("queued() = %d after shedding", h.queued())
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

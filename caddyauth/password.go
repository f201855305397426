package caddyauth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/text/unicode/norm"
)

// Better Auth's scrypt parameters (@better-auth/utils password.node.mjs).
// Changing any of them makes every stored hash unverifiable.
const (
	scryptN         = 16384
	scryptR         = 16
	scryptP         = 1
	scryptKeyLen    = 64
	scryptSaltBytes = 16
)

// errHashBusy is returned by the hasher when every worker is busy and the
// wait queue is full. The HTTP layer answers it with 503 and Retry-After.
var errHashBusy = errors.New("password hashing is at capacity")

// hashPassword hashes pw the way Better Auth does, giving
// "<saltHex>:<keyHex>". It costs one full scrypt run (about 32 MiB of memory):
// callers on the request path go through a hasher instead.
func hashPassword(pw string) (string, error) {
	var raw [scryptSaltBytes]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("password salt: %w", err)
	}
	salt := hex.EncodeToString(raw[:])
	key, err := derivePasswordKey(pw, salt)
	if err != nil {
		return "", err
	}
	return salt + ":" + hex.EncodeToString(key), nil
}

// verifyPassword reports whether pw matches stored, a "<salt>:<keyHex>" hash.
// A malformed hash is an error (which never quotes the hash), not a mismatch.
func verifyPassword(stored, pw string) (bool, error) {
	salt, want, err := parsePasswordHash(stored)
	if err != nil {
		return false, err
	}
	got, err := derivePasswordKey(pw, salt)
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// parsePasswordHash splits a stored hash into its salt and decoded key.
// Better Auth uses the salt only as a string, so any non-empty salt is taken
// as it is; the key must be exactly scryptKeyLen bytes of hex.
func parsePasswordHash(stored string) (salt string, key []byte, err error) {
	salt, keyHex, ok := strings.Cut(stored, ":")
	switch {
	case !ok:
		return "", nil, errors.New("invalid password hash: no ':' separator")
	case salt == "":
		return "", nil, errors.New("invalid password hash: empty salt")
	case keyHex == "":
		return "", nil, errors.New("invalid password hash: empty key")
	case len(keyHex) != 2*scryptKeyLen:
		return "", nil, fmt.Errorf("invalid password hash: key has %d hex characters, want %d", len(keyHex), 2*scryptKeyLen)
	}
	key, err = hex.DecodeString(keyHex)
	if err != nil {
		return "", nil, errors.New("invalid password hash: key is not hex")
	}
	return salt, key, nil
}

// derivePasswordKey runs scrypt over the NFKC form of pw. The salt is used
// as the ASCII bytes of its string form, as Better Auth does, not hex-decoded.
func derivePasswordKey(pw, salt string) ([]byte, error) {
	return scryptKey([]byte(norm.NFKC.String(pw)), []byte(salt)), nil
}

// passwordLength counts pw in UTF-16 code units, as JavaScript's
// String.length does: Better Auth's minimum and maximum lengths are in
// those units, so a character outside the BMP (an emoji) counts 2.
func passwordLength(pw string) int {
	n := 0
	for _, r := range pw {
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}

// hasher runs scrypt on a bounded pool so that a burst of sign-ins cannot
// take all CPUs or an unbounded amount of memory (each run holds 32 MiB):
// at most cap(slots) runs at once, at most cap(waiting) callers wait for a
// slot, and anyone beyond that is turned away at once with errHashBusy.
// The work runs on the caller's goroutine; the channels are only semaphores.
type hasher struct {
	slots   chan struct{}
	waiting chan struct{}

	nQueued  atomic.Int64
	nRunning atomic.Int64

	// maxWait bounds how long a caller may wait for a slot (0: no bound).
	// A caller whose expected wait (queue length × recent run time ÷
	// workers) already exceeds it is turned away at once; one that waits
	// that long anyway gives up. Either way every sign-in is answered
	// within about maxWait plus one scrypt run, instead of queueing into
	// timeouts when the CPUs are slower than usual.
	maxWait time.Duration
	// avgRun is an exponentially weighted mean of recent run times, in ns.
	avgRun atomic.Int64
	// runTime, when set, observes each run time (the metrics histogram).
	runTime prometheus.Observer

	// dummy is what verifyDummy verifies against. Its key is random bytes,
	// not a real scrypt output: the cost of a verification lies in deriving
	// the key from the password and the salt, and the comparison with a
	// stored key is the same whatever that key is.
	dummy string

	// inSlot, when set (tests only), runs while a caller holds a slot,
	// before the scrypt work, so that tests can hold slots deterministically.
	inSlot func()
}

// newHasher returns a hasher running at most workers scrypt computations at
// once (runtime.NumCPU() when workers <= 0) with at most queue callers
// waiting for one (none when queue <= 0).
func newHasher(workers, queue int) *hasher {
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	if queue < 0 {
		queue = 0
	}
	var salt [scryptSaltBytes]byte
	var key [scryptKeyLen]byte
	_, _ = rand.Read(salt[:]) // crypto/rand.Read never fails (Go 1.24+).
	_, _ = rand.Read(key[:])
	return &hasher{
		slots:   make(chan struct{}, workers),
		waiting: make(chan struct{}, queue),
		dummy:   hex.EncodeToString(salt[:]) + ":" + hex.EncodeToString(key[:]),
	}
}

// queued is the number of callers waiting for a slot.
func (h *hasher) queued() int64 { return h.nQueued.Load() }

// running is the number of scrypt computations in progress.
func (h *hasher) running() int64 { return h.nRunning.Load() }

// hash is hashPassword on the pool.
func (h *hasher) hash(ctx context.Context, pw string) (string, error) {
	var out string
	var herr error
	if err := h.do(ctx, func() { out, herr = hashPassword(pw) }); err != nil {
		return "", err
	}
	return out, herr
}

// verify is verifyPassword on the pool. A malformed stored hash is reported
// without taking a slot.
func (h *hasher) verify(ctx context.Context, stored, pw string) (bool, error) {
	if _, _, err := parsePasswordHash(stored); err != nil {
		return false, err
	}
	var ok bool
	var verr error
	if err := h.do(ctx, func() { ok, verr = verifyPassword(stored, pw) }); err != nil {
		return false, err
	}
	return ok, verr
}

// verifyDummy spends what verify spends, pool admission included, against
// a hash no password matches. Sign-in calls it for an unknown email so that
// the answer takes as long as for a known email with a wrong password and
// sheds load the same way. It returns only the pool's error: there is no
// outcome to act on.
func (h *hasher) verifyDummy(ctx context.Context, pw string) error {
	return h.do(ctx, func() { _, _ = verifyPassword(h.dummy, pw) })
}

// do runs fn holding a slot, waiting for one in the queue if all are taken.
func (h *hasher) do(ctx context.Context, fn func()) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case h.slots <- struct{}{}:
	default:
		if h.maxWait > 0 {
			ahead := h.nQueued.Load() + 1
			expected := time.Duration(ahead * h.avgRun.Load() / int64(cap(h.slots)))
			if expected > h.maxWait {
				return errHashBusy
			}
		}
		select {
		case h.waiting <- struct{}{}:
		default:
			return errHashBusy
		}
		h.nQueued.Add(1)
		var timeout <-chan time.Time
		if h.maxWait > 0 {
			t := time.NewTimer(h.maxWait)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case h.slots <- struct{}{}:
			h.nQueued.Add(-1)
			<-h.waiting
		case <-timeout:
			h.nQueued.Add(-1)
			<-h.waiting
			return errHashBusy
		case <-ctx.Done():
			h.nQueued.Add(-1)
			<-h.waiting
			return ctx.Err()
		}
	}
	h.nRunning.Add(1)
	defer func() {
		h.nRunning.Add(-1)
		<-h.slots
	}()
	if h.inSlot != nil {
		h.inSlot()
	}
	start := time.Now()
	fn()
	d := time.Since(start)
	h.recordRun(d)
	if h.runTime != nil {
		h.runTime.Observe(d.Seconds())
	}
	return nil
}

// recordRun folds one run time into avgRun (weight 1/8: a few runs follow
// a change in machine load).
func (h *hasher) recordRun(d time.Duration) {
	for {
		old := h.avgRun.Load()
		next := int64(d)
		if old != 0 {
			next = old + (int64(d)-old)/8
		}
		if h.avgRun.CompareAndSwap(old, next) {
			return
		}
	}
}

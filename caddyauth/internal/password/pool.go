package password

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"runtime"
	"sync/atomic"
	"time"
)

// ErrBusy is returned by a Pool that turns a caller away: every worker is
// busy and the wait queue is full, or the caller would wait longer than
// Config.MaxWait. The caller should be asked to come back later.
var ErrBusy = errors.New("password hashing is at capacity")

// Config sizes a Pool.
type Config struct {
	// Workers is how many scrypt runs may go at once. Default:
	// runtime.NumCPU().
	Workers int
	// Queue is how many callers may wait for a worker; callers beyond it
	// get ErrBusy at once. Default: 0, no waiting.
	Queue int
	// MaxWait bounds how long a caller may wait for a worker. A caller
	// whose expected wait (queue length × recent run time ÷ workers)
	// already exceeds it is turned away at once; one that waits that long
	// anyway gives up. Either way every caller is answered within about
	// MaxWait plus one scrypt run, instead of queueing into timeouts when
	// the CPUs are slower than usual. Default: 0, no bound.
	MaxWait time.Duration
	// Observe, when set, is called with the duration of each scrypt run,
	// without the wait for a worker (for a metrics histogram).
	Observe func(time.Duration)
	// BeforeRun, when set, runs while a caller holds a worker, before the
	// scrypt work. Tests use it to hold workers without relying on timing.
	BeforeRun func()
}

// Pool runs scrypt with at most Config.Workers runs at once and at most
// Config.Queue callers waiting for one, so that a burst of sign-ins cannot
// take all CPUs or an unbounded amount of memory (each run holds
// MemoryPerRun bytes). The work runs on the caller's goroutine; the
// channels are only semaphores. A Pool is safe for concurrent use.
type Pool struct {
	slots   chan struct{}
	waiting chan struct{}

	nQueued  atomic.Int64
	nRunning atomic.Int64

	maxWait   time.Duration
	observe   func(time.Duration)
	beforeRun func()

	// avgRun is an exponentially weighted mean of recent run times, in ns.
	avgRun atomic.Int64

	// dummy is what VerifyDummy verifies against. Its key is random bytes,
	// not a real scrypt output: the cost of a verification lies in deriving
	// the key from the password and the salt, and the comparison with a
	// stored key is the same whatever that key is.
	dummy string
}

// NewPool returns a Pool sized by cfg.
func NewPool(cfg Config) *Pool {
	workers := cfg.Workers
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	var salt [scryptSaltBytes]byte
	var key [scryptKeyLen]byte
	_, _ = rand.Read(salt[:]) // crypto/rand.Read never fails (Go 1.24+).
	_, _ = rand.Read(key[:])
	return &Pool{
		slots:     make(chan struct{}, workers),
		waiting:   make(chan struct{}, max(cfg.Queue, 0)),
		maxWait:   cfg.MaxWait,
		observe:   cfg.Observe,
		beforeRun: cfg.BeforeRun,
		dummy:     hex.EncodeToString(salt[:]) + ":" + hex.EncodeToString(key[:]),
	}
}

// Queued is the number of callers waiting for a worker.
func (p *Pool) Queued() int64 { return p.nQueued.Load() }

// Running is the number of scrypt runs in progress.
func (p *Pool) Running() int64 { return p.nRunning.Load() }

// Hash is the package's Hash on the pool. Besides a hashing failure, it
// returns ErrBusy when turned away and the context's error when ctx ends
// while waiting.
func (p *Pool) Hash(ctx context.Context, pw string) (string, error) {
	var out string
	var herr error
	if err := p.do(ctx, func() { out, herr = Hash(pw) }); err != nil {
		return "", err
	}
	return out, herr
}

// Verify reports whether pw matches the stored hash, on the pool. A
// malformed stored hash is an error wrapping ErrMalformedHash, reported
// without taking a worker; ErrBusy and the context's error are as for
// Hash.
func (p *Pool) Verify(ctx context.Context, stored, pw string) (bool, error) {
	if _, _, err := parseHash(stored); err != nil {
		return false, err
	}
	var ok bool
	var verr error
	if err := p.do(ctx, func() { ok, verr = verify(stored, pw) }); err != nil {
		return false, err
	}
	return ok, verr
}

// VerifyDummy spends what Verify spends, pool admission included, against
// a hash no password matches. Sign-in calls it for an unknown email so
// that the answer takes as long as for a known email with a wrong password
// and sheds load the same way. It returns only the pool's error: there is
// no outcome to act on.
func (p *Pool) VerifyDummy(ctx context.Context, pw string) error {
	return p.do(ctx, func() { _, _ = verify(p.dummy, pw) })
}

// do runs fn holding a worker, waiting for one in the queue if all are
// taken.
func (p *Pool) do(ctx context.Context, fn func()) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case p.slots <- struct{}{}:
	default:
		if p.maxWait > 0 {
			ahead := p.nQueued.Load() + 1
			expected := time.Duration(ahead * p.avgRun.Load() / int64(cap(p.slots)))
			if expected > p.maxWait {
				return ErrBusy
			}
		}
		select {
		case p.waiting <- struct{}{}:
		default:
			return ErrBusy
		}
		p.nQueued.Add(1)
		var timeout <-chan time.Time
		if p.maxWait > 0 {
			t := time.NewTimer(p.maxWait)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case p.slots <- struct{}{}:
			p.nQueued.Add(-1)
			<-p.waiting
		case <-timeout:
			p.nQueued.Add(-1)
			<-p.waiting
			return ErrBusy
		case <-ctx.Done():
			p.nQueued.Add(-1)
			<-p.waiting
			return ctx.Err()
		}
	}
	p.nRunning.Add(1)
	defer func() {
		p.nRunning.Add(-1)
		<-p.slots
	}()
	if p.beforeRun != nil {
		p.beforeRun()
	}
	start := time.Now()
	fn()
	d := time.Since(start)
	p.recordRun(d)
	if p.observe != nil {
		p.observe(d)
	}
	return nil
}

// recordRun folds one run time into avgRun (weight 1/8: a few runs follow
// a change in machine load).
func (p *Pool) recordRun(d time.Duration) {
	for {
		old := p.avgRun.Load()
		next := int64(d)
		if old != 0 {
			next = old + (int64(d)-old)/8
		}
		if p.avgRun.CompareAndSwap(old, next) {
			return
		}
	}
}

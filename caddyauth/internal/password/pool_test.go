package password

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"
)

// heldPool returns a pool of cfg in which every caller that gets a worker
// reports on entered and then waits for release to be closed, so tests can
// fill the pool without sleeping.
func heldPool(cfg Config) (p *Pool, entered chan struct{}, release chan struct{}) {
	entered = make(chan struct{}, 16)
	release = make(chan struct{})
	cfg.BeforeRun = func() {
		entered <- struct{}{}
		<-release
	}
	return NewPool(cfg), entered, release
}

// waitQueued waits until n callers are queued. The wait is bounded by the
// test's timeout; queuing takes microseconds.
func waitQueued(p *Pool, n int64) {
	for p.Queued() != n {
		runtime.Gosched()
	}
}

func noHashWork() {}

func TestPool_ShedsLoadBeyondWorkersAndQueue(t *testing.T) {
	h, entered, release := heldPool(Config{Workers: 1, Queue: 1})
	ctx := context.Background()

	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Add(2)
	go func() { defer wg.Done(); errs[0] = h.do(ctx, noHashWork) }()
	<-entered // the first caller holds the only slot
	go func() { defer wg.Done(); errs[1] = h.do(ctx, noHashWork) }()
	waitQueued(h, 1) // the second waits in the only queue place

	if got, want := h.Running(), int64(1); got != want {
		t.Errorf("Running() = %d, want %d", got, want)
	}
	if err := h.do(ctx, noHashWork); !errors.Is(err, ErrBusy) {
		t.Errorf("third caller: err = %v, want ErrBusy", err)
	}

	close(release)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("caller %d: %v", i+1, err)
		}
	}
	if h.Running() != 0 || h.Queued() != 0 {
		t.Errorf("after: Running() = %d, Queued() = %d, want 0, 0", h.Running(), h.Queued())
	}
}

func TestPool_NoQueueMeansBusyAtOnce(t *testing.T) {
	h, entered, release := heldPool(Config{Workers: 1})
	done := make(chan error)
	go func() { done <- h.do(context.Background(), noHashWork) }()
	<-entered
	if err := h.do(context.Background(), noHashWork); !errors.Is(err, ErrBusy) {
		t.Errorf("err = %v, want ErrBusy", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Error(err)
	}
}

func TestPool_QueuedCallerLeavesWhenContextEnds(t *testing.T) {
	h, entered, release := heldPool(Config{Workers: 1, Queue: 1})
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
	if got := h.Queued(); got != 0 {
		t.Errorf("Queued() = %d after the cancel, want 0", got)
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

func TestPool_EndedContextIsNotAdmitted(t *testing.T) {
	h := NewPool(Config{Workers: 1, Queue: 1})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := h.do(ctx, func() { t.Error("work ran") }); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestPool_VerifyAndDummy(t *testing.T) {
	h := NewPool(Config{Queue: 4})
	if cap(h.slots) != runtime.NumCPU() {
		t.Errorf("workers = %d, want runtime.NumCPU() = %d", cap(h.slots), runtime.NumCPU())
	}
	ctx := context.Background()
	ok, err := h.Verify(ctx, betterAuthHash, "password123")
	if err != nil || !ok {
		t.Errorf("Verify = %v, %v; want true, nil", ok, err)
	}
	if err := h.VerifyDummy(ctx, "password123"); err != nil {
		t.Errorf("VerifyDummy: %v", err)
	}
	if _, _, err := parseHash(h.dummy); err != nil {
		t.Errorf("dummy hash does not parse like a stored one: %v", err)
	}
	if _, err := h.Verify(ctx, "garbage", "password123"); !errors.Is(err, ErrMalformedHash) {
		t.Errorf("Verify(malformed): err = %v, want ErrMalformedHash", err)
	}
}

func TestPool_HashUsesAFreshSaltEachTime(t *testing.T) {
	h := NewPool(Config{Workers: 1})
	var salts [2]string
	for i := range salts {
		stored, err := h.Hash(context.Background(), "same password")
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

func TestPool_ShedsCallersThatWouldWaitTooLong(t *testing.T) {
	h, entered, release := heldPool(Config{Workers: 1, Queue: 100, MaxWait: 50 * time.Millisecond})
	ctx := context.Background()
	done := make(chan error, 1)
	go func() { done <- h.do(ctx, noHashWork) }()
	<-entered

	// The queue has room, but a caller that waits past maxWait gives up
	// with ErrBusy rather than waiting on.
	start := time.Now()
	if err := h.do(ctx, noHashWork); !errors.Is(err, ErrBusy) {
		t.Fatalf("waiting caller: err = %v, want ErrBusy", err)
	}
	if waited := time.Since(start); waited < h.maxWait {
		t.Errorf("gave up after %v, before maxWait", waited)
	}

	// With runs known to take a second, the expected wait is already past
	// maxWait: turned away without waiting at all.
	h.avgRun.Store(int64(time.Second))
	if err := h.do(ctx, noHashWork); !errors.Is(err, ErrBusy) {
		t.Fatalf("caller with a long expected wait: err = %v, want ErrBusy", err)
	}
	if h.Queued() != 0 {
		t.Errorf("Queued() = %d after shedding", h.Queued())
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestPool_ObserveSeesEachRunButNotTheWait(t *testing.T) {
	var mu sync.Mutex
	var runs []time.Duration
	release := make(chan struct{})
	entered := make(chan struct{}, 2)
	var first sync.Once
	p := NewPool(Config{Workers: 1, Queue: 1, Observe: func(d time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		runs = append(runs, d)
	}, BeforeRun: func() {
		entered <- struct{}{}
		first.Do(func() { <-release })
	}})
	ctx := context.Background()
	done := make(chan error, 2)
	go func() { done <- p.VerifyDummy(ctx, "password123") }()
	<-entered // the first caller holds the worker until release
	go func() { done <- p.VerifyDummy(ctx, "password123") }()
	waitQueued(p, 1)
	const wait = 750 * time.Millisecond
	time.Sleep(wait) // a wait Observe must not count
	close(release)
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(runs) != 2 {
		t.Fatalf("Observe called %d times, want 2", len(runs))
	}
	for _, d := range runs {
		// One scrypt run takes tens of milliseconds; the queued caller's
		// wait must not be in it.
		if d <= 0 || d >= wait {
			t.Errorf("observed run time %v, want one scrypt run without the wait", d)
		}
	}
}

package ratelimit

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// floodKey is the i-th of a flood of distinct clients (one /64 each).
func floodKey(i int) string {
	return fmt.Sprintf("2001:db8:%x:%x::/64|/sign-in/email", i>>16, i&0xffff)
}

func TestMemoryStore_StaysBoundedUnderAFloodOfKeys(t *testing.T) {
	const flood = 200_000
	// Twice: sync.Pool contents survive one collection.
	runtime.GC()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	m := newMemoryStore(defaultKeyCap)
	t0 := time.Now()
	for i := range flood {
		// All within one window: nothing expires.
		m.hit(context.Background(), floodKey(i), 10*time.Second, 3, t0.Add(time.Duration(i)*time.Microsecond))
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(m)
	if n := m.len(); n > defaultKeyCap+overflowBuckets {
		t.Fatalf("%d keys after %d distinct ones, want at most %d", n, flood, defaultKeyCap+overflowBuckets)
	}
	heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("%d keys hold %.1f MiB of heap", m.len(), float64(heap)/(1<<20))
	if heap > 40<<20 {
		t.Errorf("memory store holds %d MiB, want under 40", heap>>20)
	}
	// Once their window has passed, counters go and make room.
	m.hit(context.Background(), "k", 10*time.Second, 3, t0.Add(time.Hour))
	if n := m.len(); n != 1 {
		t.Errorf("%d keys after the window, want 1", n)
	}
}

func TestMemoryStore_AFloodOfNewKeysNeverFreesALimitedKey(t *testing.T) {
	for _, capacity := range []int{4, 1000, defaultKeyCap} {
		t.Run(fmt.Sprint(capacity), func(t *testing.T) {
			m := newMemoryStore(capacity)
			t0 := time.Now()
			const window, max = 10 * time.Second, 3
			hit := func(key string, at time.Duration) bool {
				ok, _, _ := m.hit(context.Background(), key, window, max, t0.Add(at))
				return ok
			}
			for range max {
				hit("attacker|email:victim", 0)
			}
			if hit("attacker|email:victim", time.Millisecond) {
				t.Fatal("the fourth hit was allowed")
			}
			// Ten times the capacity of new keys, all within the window.
			for i := range 10 * capacity {
				hit(floodKey(i), 2*time.Millisecond)
			}
			if hit("attacker|email:victim", 3*time.Millisecond) {
				t.Fatal("the flood reset a key that was limiting")
			}
			// Newcomers on a full table are counted, if coarsely: one that
			// keeps coming is limited like any other.
			newcomer := floodKey(20 * capacity)
			limited := false
			for range 2 * max * (1 + 10*capacity/overflowBuckets) {
				if !hit(newcomer, 4*time.Millisecond) {
					limited = true
					break
				}
			}
			if !limited {
				t.Fatal("a newcomer on a full table was never limited")
			}
			// After the window everyone is counted one by one again.
			if !hit("attacker|email:victim", window+time.Millisecond) {
				t.Fatal("the limited key was not freed by its window")
			}
			if !hit(newcomer, window+5*time.Millisecond) {
				t.Fatal("the newcomer was not freed by the window")
			}
		})
	}
}

func TestMemoryStore_FreesRoomOnlyFromCountersWhoseWindowPassed(t *testing.T) {
	m := newMemoryStore(2)
	t0 := time.Now()
	hit := func(key string, window, d time.Duration) bool {
		ok, _, _ := m.hit(context.Background(), key, window, 1, t0.Add(d))
		return ok
	}
	hit("long", time.Hour, 0)
	hit("short", time.Second, 0)
	// "short" has had its window by now; "long" has not, though it was
	// used earlier: "short" makes room for "c".
	hit("c", time.Minute, 2*time.Second)
	if _, ok := m.entries["short"]; ok {
		t.Fatal("the expired counter was kept")
	}
	if hit("long", time.Hour, 3*time.Second) {
		t.Fatal("long was forgotten")
	}
}

func TestMemoryStore_ConcurrentHitsAllowExactlyMax(t *testing.T) {
	m := newMemoryStore(defaultKeyCap)
	t0 := time.Now()
	var allowed atomic.Int32
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if ok, _, _ := m.hit(context.Background(), "k", time.Minute, 7, t0); ok {
				allowed.Add(1)
			}
		})
	}
	wg.Wait()
	if n := allowed.Load(); n != 7 {
		t.Fatalf("%d of 50 concurrent hits allowed, want 7", n)
	}
}

func TestMemoryStore_PeekAndUndo(t *testing.T) {
	const window, max = 10 * time.Second, 2
	t0 := time.Now()
	for _, c := range []struct {
		name      string
		steps     string // h: hit, u: undo
		wantPeek  bool   // at t0+1s
		wantRetry time.Duration
	}{
		{"nothing counted", "", true, 0},
		{"below max", "h", true, 0},
		{"at max", "hh", false, 9 * time.Second},
		{"an undone hit does not count", "hhu", true, 0},
		{"undo with nothing counted", "uhh", false, 9 * time.Second},
		{"undone twice", "hhuuh", true, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := newMemoryStore(10)
			for _, s := range c.steps {
				if s == 'h' {
					m.hit(context.Background(), "k", window, max, t0)
				} else {
					_ = m.undo(context.Background(), "k", max)
				}
			}
			ok, retry := m.peek("k", window, max, t0.Add(time.Second))
			if ok != c.wantPeek || retry != c.wantRetry {
				t.Fatalf("peek = %v %v, want %v %v", ok, retry, c.wantPeek, c.wantRetry)
			}
			// A peek counts nothing.
			if ok2, _ := m.peek("k", window, max, t0.Add(time.Second)); ok2 != ok {
				t.Fatal("peek changed the count")
			}
			if ok, _ := m.peek("k", window, max, t0.Add(window)); !ok {
				t.Fatal("limited after the window")
			}
		})
	}
}

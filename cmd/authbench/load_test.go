package main

import (
	"context"
	"math"
	"sync/atomic"
	"testing"
	"time"
)

func TestHistogram_BucketsCoverEveryValueOnce(t *testing.T) {
	prevHi := int64(-1)
	for i := range histBuckets {
		lo, hi := bucketBounds(i)
		if lo != prevHi+1 || hi < lo {
			t.Fatalf("bucket %d is [%d, %d], previous ended at %d", i, lo, hi, prevHi)
		}
		if bucketOf(lo) != i || bucketOf(hi) != i {
			t.Fatalf("bucket %d [%d, %d]: bucketOf gives %d and %d", i, lo, hi, bucketOf(lo), bucketOf(hi))
		}
		if lo >= histSub && float64(hi-lo+1)/float64(lo) > 1.0/128+1e-12 {
			t.Fatalf("bucket %d [%d, %d] is wider than 1/128 of its values", i, lo, hi)
		}
		prevHi = hi
	}
	if prevHi != math.MaxInt64 {
		t.Fatalf("last bucket ends at %d, want MaxInt64", prevHi)
	}
}

func TestHistogram_QuantilesOfUniformValues(t *testing.T) {
	var h histogram
	for i := 1; i <= 10000; i++ {
		h.record(time.Duration(i) * time.Microsecond)
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{
		{0.50, 5000 * time.Microsecond},
		{0.95, 9500 * time.Microsecond},
		{0.99, 9900 * time.Microsecond},
		{0.999, 9990 * time.Microsecond},
		{1, 10000 * time.Microsecond},
	} {
		got := h.quantile(tc.q)
		if rel := math.Abs(float64(got-tc.want)) / float64(tc.want); rel > 0.01 {
			t.Errorf("quantile(%v) = %v, want %v within 1%%", tc.q, got, tc.want)
		}
	}
	if h.mean() != 5000500*time.Nanosecond {
		t.Errorf("mean = %v, want 5.0005ms", h.mean())
	}
	if h.quantile(1) > h.max {
		t.Errorf("quantile(1) = %v above the largest sample %v", h.quantile(1), h.max)
	}
}

func TestHistogram_SmallValuesAreExactAndMergeAdds(t *testing.T) {
	var a, b histogram
	for range 99 {
		a.record(100)
	}
	b.record(200)
	b.record(-5) // clamped to 0
	a.merge(&b)
	if a.n != 101 || a.max != 200 {
		t.Fatalf("after merge n=%d max=%v", a.n, a.max)
	}
	if got := a.quantile(0.5); got != 100 {
		t.Errorf("p50 = %d ns, want exactly 100", got)
	}
	if got := a.quantile(0.995); got != 200 {
		t.Errorf("p99.5 = %d ns, want exactly 200", got)
	}
	if got := a.quantile(0.001); got != 0 {
		t.Errorf("p0.1 = %d ns, want 0", got)
	}
	if n := a.countAtMost(150); n != 100 {
		t.Errorf("countAtMost(150) = %d, want 100", n)
	}
	var empty histogram
	if empty.quantile(0.99) != 0 || empty.mean() != 0 {
		t.Error("an empty histogram should give zeros")
	}
}

func TestSchedule_DueTimesComeFromTheIndexWithoutDrift(t *testing.T) {
	start := time.Unix(1000, 0)
	s := newSchedule(start, 3000, 2*time.Second)
	if s.n != 6000 {
		t.Fatalf("n = %d, want 6000", s.n)
	}
	// 1/3000 s is not a whole number of nanoseconds; adding a rounded
	// interval 3000 times would drift by up to 3 µs.
	if got, want := s.at(3000), start.Add(time.Second); !got.Equal(want) {
		t.Errorf("at(3000) = %v after start, want exactly 1s", got.Sub(start))
	}
	if got := s.at(1).Sub(start); got != 333333*time.Nanosecond {
		t.Errorf("at(1) = %v after start", got)
	}
	if newSchedule(start, 0.5, time.Second).n != 0 {
		t.Error("a rate below one per slice should schedule nothing")
	}
	if newSchedule(start, 1e9, time.Hour).n != maxRequestsPerSlice {
		t.Error("a slice may not schedule more than maxRequestsPerSlice")
	}
}

func TestOpenLoop_SendsOnScheduleWhateverTheAnswers(t *testing.T) {
	var calls atomic.Int64
	// Every answer takes 30 ms, ten times the interval: a closed loop with
	// the same concurrency would send a tenth of the requests.
	res := openLoop(context.Background(), 1000, 200*time.Millisecond, 64, time.Second,
		func(ctx context.Context) (outcome, int) {
			calls.Add(1)
			time.Sleep(30 * time.Millisecond)
			return outcomeOK, 200
		})
	if res.scheduled != 200 || res.sent != 200 || calls.Load() != 200 || res.tally.ok != 200 {
		t.Fatalf("scheduled %d sent %d calls %d ok %d, want 200 each", res.scheduled, res.sent, calls.Load(), res.tally.ok)
	}
	if res.elapsed > 2*time.Second {
		t.Errorf("took %v", res.elapsed)
	}
	if p50 := res.hist.quantile(0.5); p50 < 30*time.Millisecond {
		t.Errorf("p50 = %v, below the 30 ms every answer took", p50)
	}
	if res.inTime.ok != 200 {
		t.Errorf("in time: %d, want 200", res.inTime.ok)
	}
}

func TestOpenLoop_StallShowsInLatencyFromDueTime(t *testing.T) {
	// One request in flight at most, and the first answer stalls 100 ms:
	// the ~100 requests due meanwhile must report the time they waited,
	// not the microseconds they took once sent (coordinated omission).
	var first atomic.Bool
	res := openLoop(context.Background(), 1000, 200*time.Millisecond, 1, 50*time.Millisecond,
		func(ctx context.Context) (outcome, int) {
			if first.CompareAndSwap(false, true) {
				time.Sleep(100 * time.Millisecond)
			}
			return outcomeOK, 200
		})
	if res.sent != 200 {
		t.Fatalf("sent %d, want 200", res.sent)
	}
	slow := res.hist.n - res.hist.countAtMost(10*time.Millisecond)
	if slow < 40 {
		t.Errorf("%d requests took over 10 ms from their due time, want the ~90 that waited behind the stall", slow)
	}
	if res.hist.max < 90*time.Millisecond {
		t.Errorf("max = %v, want the 100 ms stall", res.hist.max)
	}
	if res.inTime.ok >= 200 || res.inTime.failed == 0 {
		t.Errorf("in time within 50 ms: ok %d late %d; the stalled ones are late", res.inTime.ok, res.inTime.failed)
	}
	if res.capped < 40 {
		t.Errorf("capped = %d, want the ~90 requests that found the one slot taken", res.capped)
	}
	if late := res.late.quantile(0.5); late > 20*time.Millisecond {
		t.Errorf("dispatcher late p50 = %v: a slow server must not hold the dispatcher up", late)
	}
}

func TestOpenLoop_CancelStopsDispatching(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	res := openLoop(ctx, 1000, 10*time.Second, 8, time.Second,
		func(ctx context.Context) (outcome, int) { return outcomeOK, 200 })
	if res.elapsed > time.Second {
		t.Errorf("cancelled run took %v", res.elapsed)
	}
	if res.sent >= res.scheduled {
		t.Errorf("sent %d of %d despite the cancel", res.sent, res.scheduled)
	}
}

func TestClosedLoop_KeepsConcurrencyAndCountsOutcomes(t *testing.T) {
	var inFlight, peak atomic.Int64
	var n atomic.Int64
	res := closedLoop(context.Background(), 4, 100*time.Millisecond, func(ctx context.Context) (outcome, int) {
		cur := inFlight.Add(1)
		for {
			p := peak.Load()
			if cur <= p || peak.CompareAndSwap(p, cur) {
				break
			}
		}
		time.Sleep(time.Millisecond)
		inFlight.Add(-1)
		switch n.Add(1) % 3 {
		case 0:
			return outcomeShed, 503
		case 1:
			return outcomeFailed, 500
		default:
			return outcomeOK, 200
		}
	})
	if peak.Load() > 4 {
		t.Errorf("peak concurrency %d, want at most 4", peak.Load())
	}
	total := res.tally.ok + res.tally.shed + res.tally.failed
	if total == 0 || total != uint64(n.Load()) {
		t.Fatalf("tally %d, calls %d", total, n.Load())
	}
	if res.tally.statuses[500] != res.tally.failed {
		t.Errorf("failed statuses %v, failed %d", res.tally.statuses, res.tally.failed)
	}
	if res.hist.n != res.tally.ok+res.tally.shed {
		t.Errorf("latencies recorded %d, want answered %d", res.hist.n, res.tally.ok+res.tally.shed)
	}
}

package main

import (
	"bytes"
	"context"
	"io"
	"math"
	"math/bits"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Every loop in this tool is bounded in time (its slice, the hard timeout)
// and in count: no slice sends more than this many requests, whatever the
// speed of the machine.
const maxRequestsPerSlice = 2_000_000

// ---------------------------------------------------------------- histogram

// The latency histogram is log-linear, like HdrHistogram: values below
// 2^histSubBits ns are exact, above that each power of two is split into
// 2^(histSubBits-1) buckets, so a bucket is at most 1/128 (0.8 %) wide
// relative to its values. It covers every non-negative int64 in a fixed
// 57 KiB and records without allocating; each worker keeps its own and they
// are merged.
const (
	histSubBits  = 8
	histSub      = 1 << histSubBits // 256 exact values, then 128 per octave
	histHalf     = histSub / 2
	histMaxShift = 63 - histSubBits // the shift of the largest int64
	histBuckets  = histSub + histMaxShift*histHalf
)

type histogram struct {
	counts [histBuckets]uint64
	n      uint64
	sum    time.Duration
	max    time.Duration
}

// bucketOf maps a non-negative duration in ns to its bucket.
func bucketOf(v int64) int {
	if v < histSub {
		if v < 0 {
			return 0
		}
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - histSubBits // >= 1
	m := int(v >> shift)                         // in [histHalf, histSub)
	return histSub + (shift-1)*histHalf + (m - histHalf)
}

// bucketBounds returns the smallest and largest value of bucket i.
func bucketBounds(i int) (lo, hi int64) {
	if i < histSub {
		return int64(i), int64(i)
	}
	shift := (i-histSub)/histHalf + 1
	m := int64((i-histSub)%histHalf + histHalf)
	lo = m << shift
	if shift == histMaxShift && m == histSub-1 {
		return lo, math.MaxInt64 // (m+1)<<shift would overflow
	}
	return lo, (m+1)<<shift - 1
}

func (h *histogram) record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucketOf(int64(d))]++
	h.n++
	h.sum += d
	if d > h.max {
		h.max = d
	}
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	if o.max > h.max {
		h.max = o.max
	}
}

// quantile returns the value at quantile q (0 < q <= 1): the middle of the
// bucket holding the ceil(q·n)-th smallest sample, never above the largest
// sample recorded. Zero when empty.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank < 1 {
		rank = 1
	}
	if rank > h.n {
		rank = h.n
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, hi := bucketBounds(i)
			mid := time.Duration(lo + (hi-lo)/2)
			return min(mid, h.max)
		}
	}
	return h.max
}

func (h *histogram) mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return h.sum / time.Duration(h.n)
}

// countAtMost is the number of samples in buckets entirely at or below d
// (exact below 256 ns, within a bucket's width above).
func (h *histogram) countAtMost(d time.Duration) uint64 {
	var n uint64
	for i, c := range h.counts {
		if _, hi := bucketBounds(i); hi > int64(d) {
			break
		}
		n += c
	}
	return n
}

// ---------------------------------------------------------------- requests

// outcome is how one request ended.
type outcome uint8

const (
	outcomeOK     outcome = iota // the answer the test wanted
	outcomeShed                  // 503 with Retry-After: refused on purpose, quickly
	outcomeFailed                // anything else, transport errors and timeouts included
)

// probe is one kind of request and what counts as its success. Requests are
// built anew each time from these fields, so a probe is safe to share.
type probe struct {
	method string
	url    string
	header http.Header
	body   []byte
	// ok decides on a complete answer; the body is at most 64 KiB.
	ok func(status int, header http.Header, body []byte) bool
}

// tally counts outcomes and statuses; each worker keeps its own.
type tally struct {
	ok, shed, failed uint64
	statuses         map[int]uint64 // status of every failed answer; 0 = no answer
}

func (t *tally) add(o outcome, status int) {
	switch o {
	case outcomeOK:
		t.ok++
	case outcomeShed:
		t.shed++
	default:
		t.failed++
		if t.statuses == nil {
			t.statuses = map[int]uint64{}
		}
		t.statuses[status]++
	}
}

func (t *tally) merge(o *tally) {
	t.ok += o.ok
	t.shed += o.shed
	t.failed += o.failed
	for s, n := range o.statuses {
		if t.statuses == nil {
			t.statuses = map[int]uint64{}
		}
		t.statuses[s] += n
	}
}

// send runs one request of p and classifies its answer. timeout bounds the
// whole exchange, body included.
func send(ctx context.Context, c *http.Client, p *probe, timeout time.Duration) (outcome, int) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var body io.Reader
	if p.body != nil {
		body = bytes.NewReader(p.body)
	}
	req, err := http.NewRequestWithContext(ctx, p.method, p.url, body)
	if err != nil {
		return outcomeFailed, 0
	}
	for k, v := range p.header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		return outcomeFailed, 0
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if err != nil {
		return outcomeFailed, resp.StatusCode
	}
	switch {
	case p.ok(resp.StatusCode, resp.Header, b):
		return outcomeOK, resp.StatusCode
	case resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "":
		return outcomeShed, resp.StatusCode
	default:
		return outcomeFailed, resp.StatusCode
	}
}

// sendFunc runs one request; the load generators take it so that their
// tests need no server.
type sendFunc func(ctx context.Context) (outcome, int)

func httpSender(c *http.Client, p *probe, timeout time.Duration) sendFunc {
	return func(ctx context.Context) (outcome, int) { return send(ctx, c, p, timeout) }
}

// ---------------------------------------------------------------- closed loop

// loadResult is what one slice of load measured.
type loadResult struct {
	hist    histogram // latency of every answered request (ok or shed)
	tally   tally
	elapsed time.Duration // first send to last answer
}

// closedLoop keeps concurrency requests in flight for duration: each worker
// sends its next request when the previous one is answered. The slice ends
// at duration (requests in flight then finish and count) or after
// maxRequestsPerSlice requests.
func closedLoop(ctx context.Context, concurrency int, duration time.Duration, do sendFunc) *loadResult {
	var (
		mu      sync.Mutex
		res     = &loadResult{}
		wg      sync.WaitGroup
		started atomic.Int64
	)
	start := time.Now()
	end := start.Add(duration)
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var h histogram
			var t tally
			for ctx.Err() == nil && time.Now().Before(end) && started.Add(1) <= maxRequestsPerSlice {
				t0 := time.Now()
				o, status := do(ctx)
				if ctx.Err() != nil {
					break // cancelled mid-request: not a measurement
				}
				if o != outcomeFailed {
					h.record(time.Since(t0))
				}
				t.add(o, status)
			}
			mu.Lock()
			res.hist.merge(&h)
			res.tally.merge(&t)
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	return res
}

// ---------------------------------------------------------------- open loop

// schedule is the send time of every request of an open-loop slice: request
// i is due at start + i/rate, computed from i (not by adding intervals), so
// that rounding never drifts.
type schedule struct {
	start time.Time
	rate  float64 // requests per second
	n     int     // requests in the slice
}

func newSchedule(start time.Time, rate float64, duration time.Duration) schedule {
	n := int(math.Floor(rate * duration.Seconds()))
	return schedule{start: start, rate: rate, n: min(max(n, 0), maxRequestsPerSlice)}
}

func (s schedule) at(i int) time.Time {
	return s.start.Add(time.Duration(float64(i) * float64(time.Second) / s.rate))
}

// openResult adds to loadResult what only an open loop measures.
type openResult struct {
	loadResult
	scheduled int
	sent      int
	// late is how late the dispatcher handed each request over: timer
	// slack and CPU starvation of the generator itself, a floor under
	// every latency it reports.
	late histogram
	// capped counts requests handed over while every in-flight slot was
	// taken: they waited for the server, and that wait is in their latency.
	capped   uint64
	deadline time.Duration
	inTime   tally // answers (ok or shed) within deadline of their due time
}

// maxQueued bounds the requests that are due but wait for an in-flight slot.
const maxQueued = 1 << 16

// openLoop sends requests at the times of a schedule at rate for duration,
// whether or not earlier ones have been answered, and measures each
// request's latency from its due time, not from when it actually left: a
// slow server that makes the generator fall behind shows up in the
// latencies instead of hiding in fewer samples (coordinated omission).
//
// At most maxOutstanding requests are in flight. Due requests beyond those
// wait in a queue of up to maxQueued (past that the dispatcher waits too);
// either way they count from their due time, so the bounds cap sockets and
// memory, not the measured latency. Each request is given timeout; answers
// within deadline of their due time are also counted in inTime. Cancelling
// ctx stops dispatching at once.
func openLoop(ctx context.Context, rate float64, duration time.Duration, maxOutstanding int,
	deadline time.Duration, do sendFunc) *openResult {
	s := newSchedule(time.Now(), rate, duration)
	res := &openResult{scheduled: s.n, deadline: deadline}
	due := make(chan time.Time, min(max(s.n, 1), maxQueued))
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		busy atomic.Int64
	)
	for range maxOutstanding {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var h histogram
			var t, inTime tally
			sent := 0
			for at := range due {
				busy.Add(1)
				sent++
				o, status := do(ctx)
				busy.Add(-1)
				if ctx.Err() != nil {
					continue // drain the queue without measuring
				}
				lat := time.Since(at)
				if o != outcomeFailed {
					h.record(lat)
				}
				t.add(o, status)
				if lat <= deadline {
					inTime.add(o, status)
				} else {
					inTime.add(outcomeFailed, -1) // -1: answered, but late
				}
			}
			mu.Lock()
			res.hist.merge(&h)
			res.tally.merge(&t)
			res.inTime.merge(&inTime)
			res.sent += sent
			mu.Unlock()
		}()
	}
dispatch:
	for i := range s.n {
		at := s.at(i)
		if !sleepUntil(ctx, at) {
			break
		}
		res.late.record(time.Since(at))
		if busy.Load()+int64(len(due)) >= int64(maxOutstanding) {
			res.capped++
		}
		select {
		case due <- at:
		case <-ctx.Done():
			break dispatch
		}
	}
	close(due)
	wg.Wait()
	res.elapsed = time.Since(s.start)
	return res
}

// sleepUntil waits until t or until ctx is done, and reports whether t came.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

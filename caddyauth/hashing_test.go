package caddyauth

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/authgate/authgate/caddyauth/internal/password"
	"github.com/authgate/authgate/internal/testsupport"
)

// TestHashing_500ConcurrentSignInsStayBounded: a burst of
// 500 sign-in attempts at once, good and bad credentials mixed, against one
// gate. The bounded pool must answer every one (200, 401, or 503 with
// Retry-After: none hangs, none is a 500), keep the heap within what its
// workers can hold, and let good credentials in once the burst is over.
func TestHashing_500ConcurrentSignInsStayBounded(t *testing.T) {
	const attempts = 500
	tg := newTestGate(t, testsupport.SQLiteDSN(t), "rate_limit off")
	tg.signUp("Good", "good@example.com", "password123")
	workers := runtime.NumCPU() // passwords runs one worker per CPU

	// What the running hashes hold, workers × 32 MiB, is the live heap;
	// finished runs leave their memory as garbage, which the collector lets
	// grow to about as much again before it runs (GOGC=100), and a run may
	// start while one is being collected. So 3 × workers × 32 MiB bounds
	// the heap, plus a margin for the requests themselves. An unbounded
	// server would need 500 × 32 MiB = 16 GiB here.
	bound := uint64(3*workers*password.MemoryPerRun + 64<<20)

	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)

	var peakInuse, peakSys uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			peakInuse = max(peakInuse, m.HeapInuse)
			peakSys = max(peakSys, m.Sys)
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()

	type answer struct {
		status     int
		code       string
		retryAfter string
		good       bool
		err        error
	}
	answers := make([]answer, attempts)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range attempts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var body string
			switch i % 4 {
			case 0, 2:
				body = `{"email":"good@example.com","password":"password123"}`
			case 1:
				body = `{"email":"good@example.com","password":"wrong-password"}`
			default:
				body = fmt.Sprintf(`{"email":"nobody%d@example.com","password":"password123"}`, i)
			}
			<-start
			w, err := serveOnce(tg.g, tg.next, req("POST", "/auth/sign-in/email", body))
			a := answer{good: i%2 == 0, err: err}
			if err == nil {
				a.status, a.retryAfter = w.Code, w.Header().Get("Retry-After")
				a.code, _ = jsonField(w.Body.Bytes(), "code")
			}
			answers[i] = a
		}()
	}
	began := time.Now()
	close(start)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(45 * time.Second):
		t.Fatalf("requests still unanswered after 45 s (pool: %d running, %d queued)", passwords.Running(), passwords.Queued())
	}
	elapsed := time.Since(began)
	close(stop)
	<-sampled

	counts := map[string]int{}
	for i, a := range answers {
		key := fmt.Sprintf("%d %s", a.status, a.code)
		counts[key]++
		switch {
		case a.err != nil:
			t.Errorf("attempt %d: ServeHTTP returned %v", i, a.err)
		case a.status == 200 && a.good, a.status == 401 && !a.good && a.code == "INVALID_EMAIL_OR_PASSWORD":
		case a.status == 503 && a.code == "SERVER_BUSY":
			if a.retryAfter == "" {
				t.Errorf("attempt %d: 503 without Retry-After", i)
			}
		default:
			t.Errorf("attempt %d (good credentials: %v): %d %s", i, a.good, a.status, a.code)
		}
	}
	if counts["503 SERVER_BUSY"] == 0 {
		t.Errorf("no attempt was shed: %v", counts)
	}
	if counts["200 "] == 0 {
		t.Errorf("no good credentials got through the burst: %v", counts)
	}

	grown := int64(peakInuse) - int64(base.HeapInuse)
	t.Logf("%d attempts in %v with %d workers: %v", attempts, elapsed.Round(time.Millisecond), workers, counts)
	t.Logf("heap in use: %d MiB before, peak %d MiB (+%d MiB; bound +%d MiB); Sys: %d MiB before, peak %d MiB",
		base.HeapInuse>>20, peakInuse>>20, grown>>20, bound>>20, base.Sys>>20, peakSys>>20)
	if grown > int64(bound) {
		t.Errorf("heap in use grew by %d MiB, over the bound of %d MiB", grown>>20, bound>>20)
	}
	if elapsed > 40*time.Second {
		t.Errorf("the burst took %v", elapsed)
	}

	// Load has dropped: good credentials sign in, wrong ones are refused.
	tg.signIn("good@example.com", "password123")
	wantError(t, tg.do(req("POST", "/auth/sign-in/email", `{"email":"good@example.com","password":"wrong-password"}`)), 401, "INVALID_EMAIL_OR_PASSWORD")
	if r, q := passwords.Running(), passwords.Queued(); r != 0 || q != 0 {
		t.Errorf("pool not drained: %d running, %d queued", r, q)
	}
}

// TestHashing_ClientThatGivesUpLeavesTheQueue: a queued sign-in whose
// client has gone away neither hashes nor holds its place.
func TestHashing_ClientThatGivesUpLeavesTheQueue(t *testing.T) {
	tg := newTestGate(t, testsupport.SQLiteDSN(t), "rate_limit off")
	tg.signUp("Good", "good@example.com", "password123")
	// A pool of one worker whose runs wait for release, so that the worker
	// can be held and the next sign-in has to queue.
	release := make(chan struct{})
	defer func(p *password.Pool) { passwords = p }(passwords)
	passwords = password.NewPool(password.Config{Workers: 1, Queue: 4, BeforeRun: func() { <-release }})
	held := make(chan error)
	go func() { _, err := passwords.Hash(context.Background(), "held"); held <- err }()
	for deadline := time.Now().Add(5 * time.Second); passwords.Running() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the worker was never taken")
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := req("POST", "/auth/sign-in/email", `{"email":"good@example.com","password":"password123"}`).WithContext(ctx)
	done := make(chan int)
	go func() {
		w, _ := serveOnce(tg.g, tg.next, r)
		done <- w.Code
	}()
	for deadline := time.Now().Add(5 * time.Second); passwords.Queued() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the sign-in never queued")
		}
	}
	cancel()
	select {
	case code := <-done:
		if code == 200 || code == 500 {
			t.Errorf("abandoned sign-in answered %d", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("abandoned sign-in still waiting")
	}
	if q := passwords.Queued(); q != 0 {
		t.Errorf("%d still queued", q)
	}
	close(release)
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	tg.signIn("good@example.com", "password123")
}

// jsonField returns a top-level string field of a JSON object body.
func jsonField(body []byte, name string) (string, bool) {
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return "", false
	}
	s, ok := m[name].(string)
	return s, ok
}

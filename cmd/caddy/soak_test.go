package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/testsupport"
	"github.com/authgate/authgate/store"
)

// TestSoak_MemoryStaysFlatWhileTheDatabaseHangs: 200
// clients send gated requests, each with a session of its own, as fast as
// they are answered, for 60 s against a PostgreSQL that has stopped
// answering (a proxy that holds every byte). Every request gets 503, and
// Caddy's resident memory grows less than 64 MiB over the minute and stays
// flat in its second half: work queued for the database is bounded, not
// piled up for as long as it hangs. It prints the figures.
//
// Opt-in (a minute of load on a shared machine): AUTHGATE_SOAK=1
// [AUTHGATE_SOAK_SECONDS=60].
func TestSoak_MemoryStaysFlatWhileTheDatabaseHangs(t *testing.T) {
	if os.Getenv("AUTHGATE_SOAK") != "1" {
		t.Skip("opt-in: AUTHGATE_SOAK=1 (a minute of load against a frozen database)")
	}
	const clients = 200
	duration := 60 * time.Second
	if s, err := strconv.Atoi(os.Getenv("AUTHGATE_SOAK_SECONDS")); err == nil && s > 0 {
		duration = time.Duration(s) * time.Second
	}
	dsn, proxy := testsupport.PostgresDSNBehindProxy(t)
	up := testsupport.NewUpstream(t)
	site := testsupport.StartCaddy(t, gatedSite(dsn, up.HostPort(), "session_cache 0\n\t\trate_limit off"))

	// The sessions are written directly: 200 sign-ins would spend most of
	// the test hashing.
	st, err := store.Open(dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := st.Detect(ctx); err != nil {
		t.Fatal(err)
	}
	u, err := st.CreateUserWithPassword(ctx, store.NewUser{Name: "Soak", Email: "soak@example.com", PasswordHash: "00:00"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cookies := make([]string, clients)
	for i := range cookies {
		ss, err := st.CreateSession(ctx, store.NewSession{UserID: u.ID, ExpiresAt: time.Now().Add(24 * time.Hour)}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		mac := hmac.New(sha256.New, []byte(e2eSecret))
		mac.Write([]byte(ss.Token))
		cookies[i] = "better-auth.session_token=" + url.QueryEscape(ss.Token+"."+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	}
	hc := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	get := func(cookie string) (int, error) {
		req, _ := http.NewRequest("GET", site.BaseURL+"/private", nil)
		req.Header.Set("Cookie", cookie)
		resp, err := hc.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	for _, c := range cookies {
		if code, err := get(c); code != 200 {
			t.Fatalf("before the freeze: %d %v", code, err)
		}
	}

	proxy.Freeze()
	t.Cleanup(proxy.Thaw)
	var answered, unavailable, other atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, c := range cookies {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				code, err := get(c)
				answered.Add(1)
				switch {
				case err == nil && code == http.StatusServiceUnavailable:
					unavailable.Add(1)
				default:
					other.Add(1)
				}
			}
		})
	}
	rss := func() int64 {
		n, err := site.RSS()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	const mib = 1 << 20
	start := rss()
	var half, peak, peakSecondHalf int64
	begun := time.Now()
	for elapsed := time.Duration(0); elapsed < duration; elapsed = time.Since(begun) {
		time.Sleep(5 * time.Second)
		n := rss()
		peak = max(peak, n)
		if time.Since(begun) >= duration/2 {
			if half == 0 {
				half = n
			}
			peakSecondHalf = max(peakSecondHalf, n)
		}
		t.Logf("%5.1fs: RSS %6.1f MiB, %d answers (%d 503)", time.Since(begun).Seconds(), float64(n)/mib, answered.Load(), unavailable.Load())
	}
	close(stop)
	wg.Wait()
	t.Logf("RSS at the freeze %.1f MiB, half-way %.1f MiB, peak %.1f MiB (second half %.1f MiB); %d requests, %d answered 503, %d otherwise",
		float64(start)/mib, float64(half)/mib, float64(peak)/mib, float64(peakSecondHalf)/mib, answered.Load(), unavailable.Load(), other.Load())
	if other.Load() != 0 {
		t.Errorf("%d requests got something other than 503 while the database hung", other.Load())
	}
	if peak-start >= 64*mib {
		t.Errorf("RSS grew %.1f MiB while the database hung, want under 64", float64(peak-start)/mib)
	}
	// Before the queue was bounded the minute grew about 10 MiB in its
	// second half (0.16 MiB/s, without end); bounded, about 2.
	if peakSecondHalf-half >= 6*mib {
		t.Errorf("RSS still grew %.1f MiB in the second half", float64(peakSecondHalf-half)/mib)
	}
	if up.Count() != clients {
		t.Errorf("the upstream got %d requests, want the %d from before the freeze", up.Count(), clients)
	}
}

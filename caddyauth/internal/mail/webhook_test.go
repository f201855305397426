package mail

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

const (
	testKey   = "webhook-signing-key-0123456789abcdef"
	testToken = "tok_SECRET_abcdef"
	testURL   = "https://app.example.com/auth/reset-password/tok_SECRET_abcdef?callbackURL=/a&b=c"
)

// testUser stands for the caller's user object (Better Auth's), which the
// package sends as given.
type testUser struct {
	ID            string  `json:"id"`
	Name          string  `json:"name"`
	Email         string  `json:"email"`
	EmailVerified bool    `json:"emailVerified"`
	Image         *string `json:"image"`
	CreatedAt     string  `json:"createdAt"`
	UpdatedAt     string  `json:"updatedAt"`
}

func testMessage() Message {
	return Message{
		Type:  TypeResetPassword,
		To:    "ada.lovelace@example.org",
		URL:   testURL,
		Token: testToken,
		User: testUser{
			ID:        "user-1",
			Name:      "Ada",
			Email:     "ada.lovelace@example.org",
			CreatedAt: "2024-05-06T07:08:09.123Z",
			UpdatedAt: "2024-05-06T07:08:09.123Z",
		},
		UserID: "user-1",
	}
}

// newTestWebhookSender is a webhook sender for url with near instant
// back-off and the given per-attempt timeout.
func newTestWebhookSender(t *testing.T, url string, attemptTimeout time.Duration) (*webhookSender, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	w, err := newWebhookSender(url, []byte(testKey), zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	w.attemptTimeout = attemptTimeout
	w.backoff = func(int) time.Duration { return time.Millisecond }
	return w, logs
}

// capturedRequest is what a test webhook server saw.
type capturedRequest struct {
	method string
	header http.Header
	body   []byte
}

// scriptedServer answers attempt n (from 1) with statuses[n-1], or the last
// status once the list is used up, and records every request.
type scriptedServer struct {
	*httptest.Server
	mu       sync.Mutex
	requests []capturedRequest
}

func newScriptedServer(t *testing.T, statuses ...int) *scriptedServer {
	t.Helper()
	s := &scriptedServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.requests = append(s.requests, capturedRequest{r.Method, r.Header.Clone(), body})
		n := len(s.requests)
		s.mu.Unlock()
		w.WriteHeader(statuses[min(n, len(statuses))-1])
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *scriptedServer) captured() []capturedRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]capturedRequest(nil), s.requests...)
}

// newHangingServer never answers until the client gives up; it counts the
// requests it received.
func newHangingServer(t *testing.T) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var hits atomic.Int32
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs first: Close waits for handlers
	return srv, &hits
}

func sortedKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func TestWebhook_PostsDocumentedBody(t *testing.T) {
	srv := newScriptedServer(t, http.StatusNoContent)
	w, _ := newTestWebhookSender(t, srv.URL+"/email-hook", time.Second)
	if err := w.Send(context.Background(), testMessage()); err != nil {
		t.Fatal(err)
	}
	reqs := srv.captured()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.method != http.MethodPost {
		t.Errorf("method %s, want POST", r.method)
	}
	if got := r.header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type %q", got)
	}
	if got := r.header.Get("User-Agent"); !strings.Contains(got, "auth_gate") {
		t.Errorf("User-Agent %q does not name auth_gate", got)
	}

	var top map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &top); err != nil {
		t.Fatalf("body is not a JSON object: %v\n%s", err, r.body)
	}
	if got, want := strings.Join(sortedKeys(top), ","), "to,token,type,url,user"; got != want {
		t.Errorf("body keys %s, want %s", got, want)
	}
	var user map[string]json.RawMessage
	if err := json.Unmarshal(top["user"], &user); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(sortedKeys(user), ","), "createdAt,email,emailVerified,id,image,name,updatedAt"; got != want {
		t.Errorf("user keys %s, want %s", got, want)
	}
	for k, want := range map[string]string{
		"type":  `"reset-password"`,
		"to":    `"ada.lovelace@example.org"`,
		"url":   `"` + testURL + `"`, // & not escaped as \u0026
		"token": `"` + testToken + `"`,
	} {
		if got := string(top[k]); got != want {
			t.Errorf("%s = %s, want %s", k, got, want)
		}
	}
	for k, want := range map[string]string{
		"id":            `"user-1"`,
		"emailVerified": `false`,
		"image":         `null`,
		"createdAt":     `"2024-05-06T07:08:09.123Z"`,
	} {
		if got := string(user[k]); got != want {
			t.Errorf("user.%s = %s, want %s", k, got, want)
		}
	}
}

// Receivers verify the signature over the body exactly as received, so its
// bytes are the contract: field order, the user object as given, no HTML
// escaping (JSON.stringify's output), and the signature over those bytes.
func TestWebhook_BodyAndSignatureBytes(t *testing.T) {
	image := "https://img.example/a?x=1&y=<2>"
	m := Message{
		Type:  TypeVerifyEmail,
		To:    "a&b@example.org",
		URL:   "https://app.example.com/auth/verify-email?token=t.k&callbackURL=%2F",
		Token: "t.k",
		User: testUser{
			ID: "user-1", Name: "Ada <&> \"L\" é \u2028", Email: "a&b@example.org", EmailVerified: true, Image: &image,
			CreatedAt: "2024-05-06T07:08:09.123Z", UpdatedAt: "2024-05-06T07:08:09.123Z",
		},
		UserID: "user-1",
	}
	const want = `{"type":"verify-email","to":"a&b@example.org","url":"https://app.example.com/auth/verify-email?token=t.k&callbackURL=%2F","token":"t.k",` +
		`"user":{"id":"user-1","name":"Ada <&> \"L\" é \u2028","email":"a&b@example.org","emailVerified":true,"image":"https://img.example/a?x=1&y=<2>","createdAt":"2024-05-06T07:08:09.123Z","updatedAt":"2024-05-06T07:08:09.123Z"}}`
	const wantSig = "sha256=bcb748a73130a689704f528218c63b8adf987b16bbc8c2b7f21d670f43c1bb27"

	srv := newScriptedServer(t, http.StatusOK)
	s, err := newWebhookSender(srv.URL, []byte("k"), zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	r := srv.captured()[0]
	if string(r.body) != want {
		t.Errorf("body\n%s\nwant\n%s", r.body, want)
	}
	if got := r.header.Get("X-Auth-Gate-Signature"); got != wantSig {
		t.Errorf("X-Auth-Gate-Signature %s, want %s", got, wantSig)
	}
	if got := r.header.Get("User-Agent"); got != "auth_gate email webhook" {
		t.Errorf("User-Agent %q", got)
	}
}

// The derived webhook key is HKDF-SHA256 (RFC 5869) of the main secret with
// no salt and info "auth_gate email webhook v1", written as hex: computed
// here from the RFC's two steps, independently of crypto/hkdf.
func TestWebhookKey_IsHKDFOfTheMainSecretOrTheOwnSecret(t *testing.T) {
	main := []byte("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx")
	prkMAC := hmac.New(sha256.New, make([]byte, sha256.Size)) // extract: salt of HashLen zeros
	prkMAC.Write(main)
	okmMAC := hmac.New(sha256.New, prkMAC.Sum(nil)) // expand: T(1) = HMAC(PRK, info || 0x01)
	okmMAC.Write([]byte("auth_gate email webhook v1\x01"))
	want := hex.EncodeToString(okmMAC.Sum(nil))

	if got := string(WebhookKey("", main)); got != want {
		t.Errorf("derived key %s, want %s", got, want)
	}
	if got := string(WebhookKey("", append(main, 'x'))); got == want {
		t.Error("another main secret derives the same key")
	}
	if got := string(WebhookKey("own-key", main)); got != "own-key" {
		t.Errorf("configured key: got %q", got)
	}
}

func TestWebhook_SignatureIsHMACOfTheBody(t *testing.T) {
	srv := newScriptedServer(t, http.StatusOK)
	w, _ := newTestWebhookSender(t, srv.URL, time.Second)
	if err := w.Send(context.Background(), testMessage()); err != nil {
		t.Fatal(err)
	}
	r := srv.captured()[0]
	// What a receiver does, written independently of webhookSignature.
	mac := hmac.New(sha256.New, []byte(testKey))
	mac.Write(r.body)
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	if got := r.header.Get("X-Auth-Gate-Signature"); !hmac.Equal([]byte(got), []byte(want)) {
		t.Errorf("X-Auth-Gate-Signature %q, want %q", got, want)
	}
	if r.header.Get("X-Auth-Gate-Delivery") == "" {
		t.Error("no X-Auth-Gate-Delivery id")
	}
}

func TestWebhook_RetriesTransientFailures(t *testing.T) {
	for _, status := range []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusTooManyRequests} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			srv := newScriptedServer(t, status, http.StatusOK)
			w, _ := newTestWebhookSender(t, srv.URL, time.Second)
			if err := w.Send(context.Background(), testMessage()); err != nil {
				t.Fatalf("send after one %d: %v", status, err)
			}
			reqs := srv.captured()
			if len(reqs) != 2 {
				t.Fatalf("%d attempts, want 2", len(reqs))
			}
			if a, b := reqs[0].header.Get("X-Auth-Gate-Delivery"), reqs[1].header.Get("X-Auth-Gate-Delivery"); a != b {
				t.Errorf("delivery id changed between retries: %q, %q", a, b)
			}
		})
	}
}

func TestWebhook_RetriesNetworkErrors(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 {
			c, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				c.Close() // connection dropped without an answer
			}
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	w, _ := newTestWebhookSender(t, srv.URL, time.Second)
	if err := w.Send(context.Background(), testMessage()); err != nil {
		t.Fatal(err)
	}
	if n := hits.Load(); n != 2 {
		t.Errorf("%d attempts, want 2", n)
	}
}

func TestWebhook_PermanentFailureIsNotRetried(t *testing.T) {
	for _, status := range []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound, http.StatusUnprocessableEntity} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			srv := newScriptedServer(t, status, http.StatusOK)
			w, _ := newTestWebhookSender(t, srv.URL, time.Second)
			err := w.Send(context.Background(), testMessage())
			if !errors.Is(err, ErrDelivery) {
				t.Fatalf("err %v, want ErrDelivery", err)
			}
			if n := len(srv.captured()); n != 1 {
				t.Errorf("%d attempts, want 1", n)
			}
		})
	}
}

func TestWebhook_GivesUpAfterThreeAttempts(t *testing.T) {
	srv := newScriptedServer(t, http.StatusInternalServerError)
	w, logs := newTestWebhookSender(t, srv.URL, time.Second)
	err := w.Send(context.Background(), testMessage())
	if !errors.Is(err, ErrDelivery) {
		t.Fatalf("err %v, want ErrDelivery", err)
	}
	if n := len(srv.captured()); n != webhookAttempts {
		t.Errorf("%d attempts, want %d", n, webhookAttempts)
	}
	failed := logs.FilterMessage("email delivery failed").All()
	if len(failed) != 1 || failed[0].Level != zapcore.ErrorLevel {
		t.Fatalf("want one error entry, got %v", logs.All())
	}
	fields := failed[0].ContextMap()
	if fields["status"] != int64(500) || fields["attempts"] != int64(3) || fields["type"] != TypeResetPassword || fields["to_domain"] != "example.org" || fields["user_id"] != "user-1" {
		t.Errorf("failure log fields %v", fields)
	}
}

func TestWebhook_NeverLogsOrReturnsSecrets(t *testing.T) {
	srv := newScriptedServer(t, http.StatusServiceUnavailable, http.StatusBadRequest)
	// The hook's own credential sits in its query, as many providers do it.
	w, logs := newTestWebhookSender(t, srv.URL+"/hook?key=HOOKCRED", time.Second)
	err := w.Send(context.Background(), testMessage())
	if err == nil {
		t.Fatal("want an error")
	}
	dead, deadLogs := newTestWebhookSender(t, "http://127.0.0.1:1/hook?key=HOOKCRED", time.Second)
	deadErr := dead.Send(context.Background(), testMessage())
	if deadErr == nil {
		t.Fatal("want an error from an unreachable hook")
	}

	var text strings.Builder
	fmt.Fprintln(&text, err, deadErr)
	for _, e := range append(logs.All(), deadLogs.All()...) {
		fmt.Fprintln(&text, e.Message, e.ContextMap())
	}
	for _, secret := range []string{testToken, "reset-password/", "ada.lovelace@", "HOOKCRED", testKey} {
		if strings.Contains(text.String(), secret) {
			t.Errorf("%q appears in errors or logs:\n%s", secret, text.String())
		}
	}
}

func TestWebhook_HangingServerIsBounded(t *testing.T) {
	srv, hits := newHangingServer(t)
	w, _ := newTestWebhookSender(t, srv.URL, 50*time.Millisecond)
	start := time.Now()
	err := w.Send(context.Background(), testMessage())
	elapsed := time.Since(start)
	if !errors.Is(err, ErrDelivery) {
		t.Fatalf("err %v, want ErrDelivery", err)
	}
	if elapsed > time.Second {
		t.Errorf("send took %v with 3 × 50 ms attempts", elapsed)
	}
	if n := hits.Load(); n != webhookAttempts {
		t.Errorf("%d attempts, want %d (a timeout is retried)", n, webhookAttempts)
	}
}

func TestWebhook_HonoursContextCancellation(t *testing.T) {
	t.Run("during an attempt", func(t *testing.T) {
		srv, hits := newHangingServer(t)
		w, _ := newTestWebhookSender(t, srv.URL, webhookAttemptTimeout)
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		start := time.Now()
		err := w.Send(ctx, testMessage())
		if elapsed := time.Since(start); elapsed > time.Second {
			t.Errorf("send took %v after cancellation at 50 ms", elapsed)
		}
		if !errors.Is(err, ErrDelivery) || !errors.Is(err, context.Canceled) {
			t.Errorf("err %v, want ErrDelivery and context.Canceled", err)
		}
		if n := hits.Load(); n != 1 {
			t.Errorf("%d attempts, want 1: no retry after cancellation", n)
		}
	})
	t.Run("during back-off", func(t *testing.T) {
		srv := newScriptedServer(t, http.StatusInternalServerError)
		w, _ := newTestWebhookSender(t, srv.URL, time.Second)
		w.backoff = func(int) time.Duration { return time.Hour }
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		start := time.Now()
		err := w.Send(ctx, testMessage())
		if elapsed := time.Since(start); elapsed > time.Second {
			t.Errorf("send took %v after cancellation at 50 ms", elapsed)
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err %v, want context.Canceled", err)
		}
	})
	t.Run("already cancelled", func(t *testing.T) {
		srv := newScriptedServer(t, http.StatusOK)
		w, _ := newTestWebhookSender(t, srv.URL, time.Second)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := w.Send(ctx, testMessage()); !errors.Is(err, ErrDelivery) {
			t.Errorf("err %v, want ErrDelivery", err)
		}
		if n := len(srv.captured()); n != 0 {
			t.Errorf("%d requests sent with a cancelled context", n)
		}
	})
}

func TestWebhook_DoesNotFollowRedirects(t *testing.T) {
	for _, status := range []int{http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			elsewhere := newScriptedServer(t, http.StatusOK)
			var hits atomic.Int32
			hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				http.Redirect(w, r, elsewhere.URL+"/steal", status)
			}))
			t.Cleanup(hook.Close)
			w, _ := newTestWebhookSender(t, hook.URL, time.Second)
			err := w.Send(context.Background(), testMessage())
			if !errors.Is(err, ErrDelivery) {
				t.Errorf("err %v, want ErrDelivery", err)
			}
			if n := len(elsewhere.captured()); n != 0 {
				t.Errorf("redirect followed: target got %d requests", n)
			}
			if n := hits.Load(); n != 1 {
				t.Errorf("%d attempts, want 1", n)
			}
		})
	}
}

func TestWebhook_BackoffGrowsWithJitterWithinTheBound(t *testing.T) {
	for range 100 {
		if d := webhookBackoff(1); d < 200*time.Millisecond || d >= 300*time.Millisecond {
			t.Fatalf("first back-off %v, want [200 ms, 300 ms)", d)
		}
		if d := webhookBackoff(2); d < 400*time.Millisecond || d >= 600*time.Millisecond {
			t.Fatalf("second back-off %v, want [400 ms, 600 ms)", d)
		}
	}
	worst := webhookAttempts*webhookAttemptTimeout + 300*time.Millisecond + 600*time.Millisecond
	if worst > webhookSendTimeout {
		t.Errorf("attempts and back-off can take %v, beyond the %v bound", worst, webhookSendTimeout)
	}
}

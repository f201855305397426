package caddyauth

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
	mailerTestKey   = "webhook-signing-key-0123456789abcdef"
	mailerTestToken = "tok_SECRET_abcdef"
	mailerTestURL   = "https://app.example.com/auth/reset-password/tok_SECRET_abcdef?callbackURL=/a&b=c"
)

func mailerTestMessage() emailMessage {
	at := time.Date(2024, 5, 6, 7, 8, 9, 123e6, time.UTC)
	return emailMessage{
		Type:  emailTypeReset,
		To:    "ada.lovelace@example.org",
		URL:   mailerTestURL,
		Token: mailerTestToken,
		User: userJSON{
			ID:        "user-1",
			Name:      "Ada",
			Email:     "ada.lovelace@example.org",
			CreatedAt: jsTime(at),
			UpdatedAt: jsTime(at),
		},
	}
}

// newTestWebhookMailer is a webhook mailer for url with a fixed clock, near
// instant back-off and the given per-attempt timeout.
func newTestWebhookMailer(t *testing.T, url string, attemptTimeout time.Duration) (*webhookMailer, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	w, err := newWebhookMailer(url, []byte(mailerTestKey), zap.New(core))
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

func TestMailer_WebhookPostsDocumentedBody(t *testing.T) {
	srv := newScriptedServer(t, http.StatusNoContent)
	w, _ := newTestWebhookMailer(t, srv.URL+"/email-hook", time.Second)
	if err := w.send(context.Background(), mailerTestMessage()); err != nil {
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
		"url":   `"` + mailerTestURL + `"`, // & not escaped as \u0026
		"token": `"` + mailerTestToken + `"`,
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

func TestMailer_WebhookSignatureIsHMACOfTheBody(t *testing.T) {
	srv := newScriptedServer(t, http.StatusOK)
	w, _ := newTestWebhookMailer(t, srv.URL, time.Second)
	if err := w.send(context.Background(), mailerTestMessage()); err != nil {
		t.Fatal(err)
	}
	r := srv.captured()[0]
	// What a receiver does, written independently of webhookSignature.
	mac := hmac.New(sha256.New, []byte(mailerTestKey))
	mac.Write(r.body)
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	if got := r.header.Get("X-Auth-Gate-Signature"); !hmac.Equal([]byte(got), []byte(want)) {
		t.Errorf("X-Auth-Gate-Signature %q, want %q", got, want)
	}
	if r.header.Get("X-Auth-Gate-Delivery") == "" {
		t.Error("no X-Auth-Gate-Delivery id")
	}
}

func TestMailer_WebhookRetriesTransientFailures(t *testing.T) {
	for _, status := range []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusTooManyRequests} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			srv := newScriptedServer(t, status, http.StatusOK)
			w, _ := newTestWebhookMailer(t, srv.URL, time.Second)
			if err := w.send(context.Background(), mailerTestMessage()); err != nil {
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

func TestMailer_WebhookRetriesNetworkErrors(t *testing.T) {
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
	w, _ := newTestWebhookMailer(t, srv.URL, time.Second)
	if err := w.send(context.Background(), mailerTestMessage()); err != nil {
		t.Fatal(err)
	}
	if n := hits.Load(); n != 2 {
		t.Errorf("%d attempts, want 2", n)
	}
}

func TestMailer_WebhookPermanentFailureIsNotRetried(t *testing.T) {
	for _, status := range []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound, http.StatusUnprocessableEntity} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			srv := newScriptedServer(t, status, http.StatusOK)
			w, _ := newTestWebhookMailer(t, srv.URL, time.Second)
			err := w.send(context.Background(), mailerTestMessage())
			if !errors.Is(err, errEmailDelivery) {
				t.Fatalf("err %v, want errEmailDelivery", err)
			}
			if n := len(srv.captured()); n != 1 {
				t.Errorf("%d attempts, want 1", n)
			}
		})
	}
}

func TestMailer_WebhookGivesUpAfterThreeAttempts(t *testing.T) {
	srv := newScriptedServer(t, http.StatusInternalServerError)
	w, logs := newTestWebhookMailer(t, srv.URL, time.Second)
	err := w.send(context.Background(), mailerTestMessage())
	if !errors.Is(err, errEmailDelivery) {
		t.Fatalf("err %v, want errEmailDelivery", err)
	}
	if n := len(srv.captured()); n != webhookAttempts {
		t.Errorf("%d attempts, want %d", n, webhookAttempts)
	}
	failed := logs.FilterMessage("email delivery failed").All()
	if len(failed) != 1 || failed[0].Level != zapcore.ErrorLevel {
		t.Fatalf("want one error entry, got %v", logs.All())
	}
	fields := failed[0].ContextMap()
	if fields["status"] != int64(500) || fields["attempts"] != int64(3) || fields["type"] != emailTypeReset || fields["to_domain"] != "example.org" || fields["user_id"] != "user-1" {
		t.Errorf("failure log fields %v", fields)
	}
}

func TestMailer_WebhookNeverLogsOrReturnsSecrets(t *testing.T) {
	srv := newScriptedServer(t, http.StatusServiceUnavailable, http.StatusBadRequest)
	// The hook's own credential sits in its query, as many providers do it.
	w, logs := newTestWebhookMailer(t, srv.URL+"/hook?key=HOOKCRED", time.Second)
	err := w.send(context.Background(), mailerTestMessage())
	if err == nil {
		t.Fatal("want an error")
	}
	dead, deadLogs := newTestWebhookMailer(t, "http://127.0.0.1:1/hook?key=HOOKCRED", time.Second)
	deadErr := dead.send(context.Background(), mailerTestMessage())
	if deadErr == nil {
		t.Fatal("want an error from an unreachable hook")
	}

	var text strings.Builder
	fmt.Fprintln(&text, err, deadErr)
	for _, e := range append(logs.All(), deadLogs.All()...) {
		fmt.Fprintln(&text, e.Message, e.ContextMap())
	}
	for _, secret := range []string{mailerTestToken, "reset-password/", "ada.lovelace@", "HOOKCRED", mailerTestKey} {
		if strings.Contains(text.String(), secret) {
			t.Errorf("%q appears in errors or logs:\n%s", secret, text.String())
		}
	}
}

func TestMailer_WebhookHangingServerIsBounded(t *testing.T) {
	srv, hits := newHangingServer(t)
	w, _ := newTestWebhookMailer(t, srv.URL, 50*time.Millisecond)
	start := time.Now()
	err := w.send(context.Background(), mailerTestMessage())
	elapsed := time.Since(start)
	if !errors.Is(err, errEmailDelivery) {
		t.Fatalf("err %v, want errEmailDelivery", err)
	}
	if elapsed > time.Second {
		t.Errorf("send took %v with 3 × 50 ms attempts", elapsed)
	}
	if n := hits.Load(); n != webhookAttempts {
		t.Errorf("%d attempts, want %d (a timeout is retried)", n, webhookAttempts)
	}
}

func TestMailer_WebhookHonoursContextCancellation(t *testing.T) {
	t.Run("during an attempt", func(t *testing.T) {
		srv, hits := newHangingServer(t)
		w, _ := newTestWebhookMailer(t, srv.URL, webhookAttemptTimeout)
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		start := time.Now()
		err := w.send(ctx, mailerTestMessage())
		if elapsed := time.Since(start); elapsed > time.Second {
			t.Errorf("send took %v after cancellation at 50 ms", elapsed)
		}
		if !errors.Is(err, errEmailDelivery) || !errors.Is(err, context.Canceled) {
			t.Errorf("err %v, want errEmailDelivery and context.Canceled", err)
		}
		if n := hits.Load(); n != 1 {
			t.Errorf("%d attempts, want 1: no retry after cancellation", n)
		}
	})
	t.Run("during back-off", func(t *testing.T) {
		srv := newScriptedServer(t, http.StatusInternalServerError)
		w, _ := newTestWebhookMailer(t, srv.URL, time.Second)
		w.backoff = func(int) time.Duration { return time.Hour }
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		start := time.Now()
		err := w.send(ctx, mailerTestMessage())
		if elapsed := time.Since(start); elapsed > time.Second {
			t.Errorf("send took %v after cancellation at 50 ms", elapsed)
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err %v, want context.Canceled", err)
		}
	})
	t.Run("already cancelled", func(t *testing.T) {
		srv := newScriptedServer(t, http.StatusOK)
		w, _ := newTestWebhookMailer(t, srv.URL, time.Second)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := w.send(ctx, mailerTestMessage()); !errors.Is(err, errEmailDelivery) {
			t.Errorf("err %v, want errEmailDelivery", err)
		}
		if n := len(srv.captured()); n != 0 {
			t.Errorf("%d requests sent with a cancelled context", n)
		}
	})
}

func TestMailer_WebhookDoesNotFollowRedirects(t *testing.T) {
	for _, status := range []int{http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			elsewhere := newScriptedServer(t, http.StatusOK)
			var hits atomic.Int32
			hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				http.Redirect(w, r, elsewhere.URL+"/steal", status)
			}))
			t.Cleanup(hook.Close)
			w, _ := newTestWebhookMailer(t, hook.URL, time.Second)
			err := w.send(context.Background(), mailerTestMessage())
			if !errors.Is(err, errEmailDelivery) {
				t.Errorf("err %v, want errEmailDelivery", err)
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

func TestMailer_BackoffGrowsWithJitterWithinTheBound(t *testing.T) {
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

func TestNewMailer_Validation(t *testing.T) {
	key := []byte(mailerTestKey)
	for _, tc := range []struct {
		name    string
		webhook string
		log     bool
		key     []byte
		wantErr bool
		want    string // %T of the mailer
	}{
		{name: "nothing configured", want: "<nil>"},
		{name: "https", webhook: "https://hooks.example.com/x?key=s3cret", key: key, want: "*caddyauth.webhookMailer"},
		{name: "http", webhook: "http://127.0.0.1:8000/email-hook", key: key, want: "*caddyauth.webhookMailer"},
		{name: "log only", log: true, want: "caddyauth.logMailer"},
		{name: "both", webhook: "https://hooks.example.com/x", log: true, key: key, want: "caddyauth.multiMailer"},
		{name: "other scheme", webhook: "ftp://hooks.example.com/?key=s3cret", key: key, wantErr: true},
		{name: "relative", webhook: "/email-hook?key=s3cret", key: key, wantErr: true},
		{name: "no scheme", webhook: "hooks.example.com/x?key=s3cret", key: key, wantErr: true},
		{name: "no host", webhook: "https:///x?key=s3cret", key: key, wantErr: true},
		{name: "unparsable", webhook: "https://hooks.example.com/%zz?key=s3cret", key: key, wantErr: true},
		{name: "no key", webhook: "https://hooks.example.com/x", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := newMailer(tc.webhook, tc.log, tc.key, zap.NewNop())
			if tc.wantErr {
				if err == nil {
					t.Fatalf("want an error, got %T", m)
				}
				if !strings.HasPrefix(err.Error(), "email_webhook: ") {
					t.Errorf("error %q does not name email_webhook", err)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Errorf("error %q echoes the URL", err)
				}
				if m != nil {
					t.Errorf("mailer %T with an error", m)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// %T of a nil interface is <nil>; a typed nil would not be.
			if got := fmt.Sprintf("%T", m); got != tc.want {
				t.Errorf("mailer %s, want %s", got, tc.want)
			}
		})
	}
}

func TestMailer_LogMailerWritesTheLinkAndWarnsOnce(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	m, err := newMailer("", true, []byte(mailerTestKey), zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	warnings := logs.FilterLevelExact(zapcore.WarnLevel).All()
	if len(warnings) != 1 || !strings.Contains(warnings[0].Message, "email_log") {
		t.Fatalf("want one warning naming email_log at construction, got %v", logs.All())
	}
	for range 2 {
		if err := m.send(context.Background(), mailerTestMessage()); err != nil {
			t.Fatal(err)
		}
	}
	if n := logs.FilterLevelExact(zapcore.WarnLevel).Len(); n != 1 {
		t.Errorf("%d warnings after sending, want still 1", n)
	}
	infos := logs.FilterLevelExact(zapcore.InfoLevel).All()
	if len(infos) != 2 {
		t.Fatalf("want one info entry per email, got %v", logs.All())
	}
	fields := infos[0].ContextMap()
	if fields["url"] != mailerTestURL || fields["type"] != emailTypeReset || fields["to"] != "ada.lovelace@example.org" {
		t.Errorf("log fields %v", fields)
	}
	for _, e := range logs.All() {
		if strings.Contains(fmt.Sprint(e.Message, e.ContextMap()), mailerTestKey) {
			t.Errorf("signing key in log entry %q", e.Message)
		}
	}
}

func TestMailer_LogAndWebhookTogetherDoBoth(t *testing.T) {
	srv := newScriptedServer(t, http.StatusOK)
	core, logs := observer.New(zapcore.InfoLevel)
	m, err := newMailer(srv.URL, true, []byte(mailerTestKey), zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.send(context.Background(), mailerTestMessage()); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.captured()); n != 1 {
		t.Errorf("webhook got %d requests, want 1", n)
	}
	if n := logs.FilterField(zap.String("url", mailerTestURL)).Len(); n != 1 {
		t.Errorf("%d log entries with the url, want 1", n)
	}
}

// funcMailer adapts a function to mailer.
type funcMailer func(ctx context.Context, m emailMessage) error

func (f funcMailer) send(ctx context.Context, m emailMessage) error { return f(ctx, m) }

func TestMailer_SendAsyncUsesItsOwnBoundedContext(t *testing.T) {
	a := &asyncSender{slots: make(chan struct{}, 1), timeout: time.Minute}
	type call struct {
		deadline time.Time
		ok       bool
		msg      emailMessage
	}
	got := make(chan call, 1)
	m := funcMailer(func(ctx context.Context, msg emailMessage) error {
		d, ok := ctx.Deadline()
		got <- call{d, ok, msg}
		return nil
	})
	start := time.Now()
	a.send(m, mailerTestMessage(), zap.NewNop())
	select {
	case c := <-got:
		if !c.ok || c.deadline.Before(start.Add(time.Minute)) || c.deadline.After(time.Now().Add(time.Minute)) {
			t.Errorf("deadline %v (set: %v), want about a minute from now", c.deadline, c.ok)
		}
		if c.msg.Token != mailerTestToken {
			t.Errorf("message not passed through: %+v", c.msg)
		}
	case <-time.After(time.Second):
		t.Fatal("mailer not called")
	}

	// The package-level helper works the same way with the shared bound.
	done := make(chan struct{})
	sendAsync(funcMailer(func(ctx context.Context, _ emailMessage) error {
		if _, ok := ctx.Deadline(); !ok {
			t.Error("no deadline")
		}
		close(done)
		return nil
	}), mailerTestMessage(), zap.NewNop())
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("sendAsync did not send")
	}
}

func TestMailer_SendAsyncDropsWhenSaturated(t *testing.T) {
	a := &asyncSender{slots: make(chan struct{}, 2), timeout: time.Minute}
	core, logs := observer.New(zapcore.DebugLevel)
	logger := zap.New(core)
	var calls atomic.Int32
	entered := make(chan struct{}, 3)
	release := make(chan struct{})
	blocking := funcMailer(func(ctx context.Context, _ emailMessage) error {
		calls.Add(1)
		entered <- struct{}{}
		<-release
		return nil
	})
	for range 3 {
		a.send(blocking, mailerTestMessage(), logger)
	}
	<-entered
	<-entered
	dropped := logs.FilterMessage("email dropped: too many deliveries in flight").All()
	if len(dropped) != 1 || dropped[0].Level != zapcore.ErrorLevel {
		t.Fatalf("want one dropped entry, got %v", logs.All())
	}
	if strings.Contains(fmt.Sprint(dropped[0].ContextMap()), mailerTestToken) {
		t.Error("token in the drop log")
	}

	close(release)
	// Slots come back once sends finish.
	deadline := time.Now().Add(time.Second)
	for len(a.slots) > 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	done := make(chan struct{})
	a.send(funcMailer(func(context.Context, emailMessage) error { close(done); return nil }), mailerTestMessage(), logger)
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("slot not released after sends finished")
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("%d blocking sends ran, want 2", n)
	}
}

func TestMailer_SendAsyncLogsOnlyWhatTheMailerDidNot(t *testing.T) {
	a := &asyncSender{slots: make(chan struct{}, 4), timeout: time.Minute}
	core, logs := observer.New(zapcore.DebugLevel)
	logger := zap.New(core)

	a.send(nil, mailerTestMessage(), logger)
	if n := logs.FilterMessage("email not sent: no delivery configured").Len(); n != 1 {
		t.Errorf("nil mailer: %d entries, want 1", n)
	}

	wait := func(m funcMailer) {
		done := make(chan struct{})
		a.send(funcMailer(func(ctx context.Context, msg emailMessage) error {
			defer close(done)
			return m(ctx, msg)
		}), mailerTestMessage(), logger)
		<-done
		for len(a.slots) > 0 {
			time.Sleep(time.Millisecond)
		}
	}
	wait(func(context.Context, emailMessage) error { return fmt.Errorf("%w: already logged", errEmailDelivery) })
	wait(func(context.Context, emailMessage) error { return errors.New("unexpected") })
	wait(func(context.Context, emailMessage) error { panic("bug") })

	if n := logs.FilterMessage("email delivery failed").Len(); n != 1 {
		t.Errorf("%d failure entries, want 1 (the error not wrapping errEmailDelivery)", n)
	}
	if n := logs.FilterMessage("email delivery panicked").Len(); n != 1 {
		t.Errorf("%d panic entries, want 1", n)
	}
}

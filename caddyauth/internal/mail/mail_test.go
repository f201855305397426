package mail

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestNew_Validation(t *testing.T) {
	key := []byte(testKey)
	for _, tc := range []struct {
		name    string
		webhook string
		log     bool
		key     []byte
		wantErr bool
		want    string // %T of the sender
	}{
		{name: "nothing configured", want: "<nil>"},
		{name: "https", webhook: "https://hooks.example.com/x?key=s3cret", key: key, want: "*mail.webhookSender"},
		{name: "http", webhook: "http://127.0.0.1:8000/email-hook", key: key, want: "*mail.webhookSender"},
		{name: "log only", log: true, want: "mail.logSender"},
		{name: "both", webhook: "https://hooks.example.com/x", log: true, key: key, want: "mail.multiSender"},
		{name: "other scheme", webhook: "ftp://hooks.example.com/?key=s3cret", key: key, wantErr: true},
		{name: "relative", webhook: "/email-hook?key=s3cret", key: key, wantErr: true},
		{name: "no scheme", webhook: "hooks.example.com/x?key=s3cret", key: key, wantErr: true},
		{name: "no host", webhook: "https:///x?key=s3cret", key: key, wantErr: true},
		{name: "unparsable", webhook: "https://hooks.example.com/%zz?key=s3cret", key: key, wantErr: true},
		{name: "no key", webhook: "https://hooks.example.com/x", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := New(tc.webhook, tc.log, tc.key, zap.NewNop())
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
					t.Errorf("sender %T with an error", m)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// %T of a nil interface is <nil>; a typed nil would not be.
			if got := fmt.Sprintf("%T", m); got != tc.want {
				t.Errorf("sender %s, want %s", got, tc.want)
			}
		})
	}
}

func TestLogSender_WritesTheLinkAndWarnsOnce(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	m, err := New("", true, []byte(testKey), zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	warnings := logs.FilterLevelExact(zapcore.WarnLevel).All()
	if len(warnings) != 1 || !strings.Contains(warnings[0].Message, "email_log") {
		t.Fatalf("want one warning naming email_log at construction, got %v", logs.All())
	}
	for range 2 {
		if err := m.Send(context.Background(), testMessage()); err != nil {
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
	if fields["url"] != testURL || fields["type"] != TypeResetPassword || fields["to"] != "ada.lovelace@example.org" {
		t.Errorf("log fields %v", fields)
	}
	for _, e := range logs.All() {
		if strings.Contains(fmt.Sprint(e.Message, e.ContextMap()), testKey) {
			t.Errorf("signing key in log entry %q", e.Message)
		}
	}
}

func TestNew_LogAndWebhookTogetherDoBoth(t *testing.T) {
	srv := newScriptedServer(t, http.StatusOK)
	core, logs := observer.New(zapcore.InfoLevel)
	m, err := New(srv.URL, true, []byte(testKey), zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Send(context.Background(), testMessage()); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.captured()); n != 1 {
		t.Errorf("webhook got %d requests, want 1", n)
	}
	if n := logs.FilterField(zap.String("url", testURL)).Len(); n != 1 {
		t.Errorf("%d log entries with the url, want 1", n)
	}
}

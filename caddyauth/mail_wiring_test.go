package caddyauth

import (
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/caddyauth/internal/wire"
	"github.com/authgate/authgate/internal/testsupport"
)

// The webhook body is the receiver's contract: its bytes (field order, the
// Better Auth user object, no HTML escaping of `&`, `<`, `>`) and the
// signature over them stay exactly as documented, whichever package sends it.
func TestEmailWebhook_BodyBytesAndSignatureFromTheGate(t *testing.T) {
	type delivery struct {
		body []byte
		sig  string
	}
	got := make(chan delivery, 1)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- delivery{body, r.Header.Get("X-Auth-Gate-Signature")}
	}))
	t.Cleanup(hook.Close)

	tg := newTestGate(t, testsupport.SQLiteDSN(t), "email_webhook "+hook.URL)
	tg.signUp(`Ada <&> "Lovelace"`, "ada@example.com", "password123")
	if w := tg.do(req("POST", "/auth/request-password-reset", `{"email":"ada@example.com","redirectTo":"/reset?a=1&b=2"}`)); w.Code != http.StatusOK {
		t.Fatalf("request-password-reset: %d %s", w.Code, w.Body)
	}
	var d delivery
	select {
	case d = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("no webhook delivery")
	}

	var fields struct{ URL, Token string }
	if err := json.Unmarshal(d.body, &fields); err != nil {
		t.Fatalf("body: %v\n%s", err, d.body)
	}
	user, err := tg.g.store().UserByEmail(context.Background(), "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	userBytes, err := json.Marshal(wire.FromUser(user))
	if err != nil {
		t.Fatal(err)
	}
	// json.Marshal escapes HTML; the body must not.
	unescaped := strings.NewReplacer(`\u0026`, "&", `\u003c`, "<", `\u003e`, ">").Replace(string(userBytes))
	want := `{"type":"reset-password","to":"ada@example.com","url":"` + fields.URL + `","token":"` + fields.Token + `","user":` + unescaped + `}`
	if string(d.body) != want {
		t.Errorf("body\n%s\nwant\n%s", d.body, want)
	}
	if !strings.Contains(want, `"name":"Ada <&> \"Lovelace\""`) || !strings.Contains(fields.URL, "%26b%3D2") {
		t.Errorf("test input did not reach the body as intended: %s", want)
	}

	key, err := hkdf.Key(sha256.New, []byte(testSecret), nil, "auth_gate email webhook v1", 32)
	if err != nil {
		t.Fatal(err)
	}
	mac := hmac.New(sha256.New, []byte(hex.EncodeToString(key)))
	mac.Write(d.body)
	if want := "sha256=" + hex.EncodeToString(mac.Sum(nil)); d.sig != want {
		t.Errorf("X-Auth-Gate-Signature %q, want %q", d.sig, want)
	}
}

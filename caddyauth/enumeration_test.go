package caddyauth

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/authgate/authgate/internal/testsupport"
)

// No enumeration: nothing in an answer tells a known
// address from an unknown one. Timing is measured by the benchmarks below,
// over many tries, not by a timed test:
//
//	go test ./caddyauth -run '^$' -bench 'BenchmarkSignIn_(UnknownEmail|WrongPassword)' -count 5 | tee bench.txt
//	benchstat -col .name -row /db bench.txt

// sameAnswer fails unless a and b carry the same status, body and headers
// (Date aside): what a client can observe.
func sameAnswer(t *testing.T, what string, a, b *httptest.ResponseRecorder) {
	t.Helper()
	if a.Code != b.Code || a.Body.String() != b.Body.String() {
		t.Errorf("%s: %d %s\n  vs %d %s", what, a.Code, a.Body, b.Code, b.Body)
	}
	ha, hb := a.Header().Clone(), b.Header().Clone()
	ha.Del("Date")
	hb.Del("Date")
	keys := func(h http.Header) []string {
		var ks []string
		for k, v := range h {
			ks = append(ks, k+": "+strings.Join(v, ", "))
		}
		slices.Sort(ks)
		return ks
	}
	if ka, kb := keys(ha), keys(hb); !slices.Equal(ka, kb) {
		t.Errorf("%s: headers differ:\n  %q\n  vs %q", what, ka, kb)
	}
}

func TestEnumeration_SignInAnswersAlikeInEveryEncoding(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		tg := newTestGate(t, dsn, "rate_limit off")
		tg.signUp("Alice", "alice@example.com", "password123")
		pairs := []struct {
			name           string
			wrong, unknown *http.Request
		}{
			{"JSON",
				req("POST", "/auth/sign-in/email", `{"email":"alice@example.com","password":"wrongpass1"}`),
				req("POST", "/auth/sign-in/email", `{"email":"nobody@example.com","password":"wrongpass1"}`)},
			{"JSON, other letter case and spaces",
				req("POST", "/auth/sign-in/email", `{"email":" ALICE@Example.com ","password":"wrongpass1","rememberMe":false,"callbackURL":"/x"}`),
				req("POST", "/auth/sign-in/email", `{"email":" NOBODY@Example.com ","password":"wrongpass1","rememberMe":false,"callbackURL":"/x"}`)},
			{"form",
				formRequest("/auth/sign-in/email", "email=alice%40example.com&password=wrongpass1"),
				formRequest("/auth/sign-in/email", "email=nobody%40example.com&password=wrongpass1")},
			{"form, rememberMe and callbackURL",
				formRequest("/auth/sign-in/email", "email=Alice%40Example.com&password=wrongpass1&rememberMe=on&callbackURL=%2Fdashboard"),
				formRequest("/auth/sign-in/email", "email=Nobody%40Example.com&password=wrongpass1&rememberMe=on&callbackURL=%2Fdashboard")},
			{"empty password",
				req("POST", "/auth/sign-in/email", `{"email":"alice@example.com","password":""}`),
				req("POST", "/auth/sign-in/email", `{"email":"nobody@example.com","password":""}`)},
		}
		for _, p := range pairs {
			t.Run(p.name, func(t *testing.T) {
				wrong, unknown := tg.do(p.wrong), tg.do(p.unknown)
				wantError(t, wrong, 401, "INVALID_EMAIL_OR_PASSWORD")
				sameAnswer(t, "wrong password vs unknown email", wrong, unknown)
			})
		}
	})
}

func TestEnumeration_PasswordResetAnswersAlike(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		mb := newMailbox(t)
		tg := newTestGate(t, dsn, "rate_limit off\nemail_webhook "+mb.URL)
		tg.signUp("Alice", "alice@example.com", "password123")
		bodies := []struct{ name, known, unknown string }{
			{"plain", `{"email":"alice@example.com"}`, `{"email":"nobody@example.com"}`},
			{"redirectTo", `{"email":"alice@example.com","redirectTo":"/reset"}`, `{"email":"nobody@example.com","redirectTo":"/reset"}`},
			{"other letter case", `{"email":" Alice@EXAMPLE.com"}`, `{"email":" Nobody@EXAMPLE.com"}`},
		}
		for _, b := range bodies {
			t.Run(b.name, func(t *testing.T) {
				known := tg.do(req("POST", "/auth/request-password-reset", b.known))
				unknown := tg.do(req("POST", "/auth/request-password-reset", b.unknown))
				if known.Code != 200 {
					t.Fatalf("known address: %d %s", known.Code, known.Body)
				}
				sameAnswer(t, "known vs unknown address", known, unknown)
			})
		}
		// And the mail goes only where the account is.
		mb.last(t, "alice@example.com")
		mb.mu.Lock()
		defer mb.mu.Unlock()
		for _, m := range mb.msgs {
			if m.To != "alice@example.com" {
				t.Errorf("mail sent to %s", m.To)
			}
		}
	})
}

// benchmarkSignIn measures failed sign-ins with body against one gate
// per database. The two benchmarks below differ only in whether the email
// exists; their times should be the same within noise.
func benchmarkSignIn(b *testing.B, body string) {
	for _, db := range []string{"sqlite", "postgres"} {
		b.Run("db="+db, func(b *testing.B) {
			var dsn string
			if db == "sqlite" {
				dsn = testsupport.SQLiteDSN(b)
			} else {
				dsn = testsupport.PostgresDSN(b)
			}
			g := provisionGate(b, dsn, "rate_limit off")
			next := &recordingNext{}
			w, err := serveOnce(g, next, req("POST", "/auth/sign-up/email", `{"name":"Alice","email":"alice@example.com","password":"password123"}`))
			if err != nil || w.Code != 200 {
				b.Fatalf("sign-up: %v %d %s", err, w.Code, w.Body)
			}
			b.ResetTimer()
			for b.Loop() {
				w, err := serveOnce(g, next, req("POST", "/auth/sign-in/email", body))
				if err != nil || w.Code != 401 {
					b.Fatalf("sign-in: %v %d %s", err, w.Code, w.Body)
				}
			}
		})
	}
}

func BenchmarkSignIn_UnknownEmail(b *testing.B) {
	benchmarkSignIn(b, `{"email":"nobody@example.com","password":"wrongpass1"}`)
}

func BenchmarkSignIn_WrongPassword(b *testing.B) {
	benchmarkSignIn(b, `{"email":"alice@example.com","password":"wrongpass1"}`)
}

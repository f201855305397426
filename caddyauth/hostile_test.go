package caddyauth

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"

	"github.com/authgate/authgate/caddyauth/internal/bacodec"
	"github.com/authgate/authgate/internal/testsupport"
)

// Hostile input: every answer to a malformed,
// oversized, mistyped or forged request is the right status with a JSON
// {message, code} body — never a 500, never a Go error string — and a
// rejected request writes nothing.

// hostileTrusted are the extra trusted origins of the hostile gate; the
// site's own origin is http://example.com (httptest's host).
const hostileTrusted = "https://trusted.example.com *.wild.example"

// newHostileGate is a gate with every endpoint reachable: mail delivery on
// (reset and verification get as far as their bodies), delete_user on, a
// login page, and rate limiting off, since these tests send far more
// requests from one address than its limits allow and are about what
// happens to each of them.
func newHostileGate(t *testing.T, dsn string) *testGate {
	t.Helper()
	mb := newMailbox(t)
	return newTestGate(t, dsn, "rate_limit off\nemail_webhook "+mb.URL+"\ndelete_user\nlogin_url /login\ntrusted_origins "+hostileTrusted)
}

// allRows renders every row of Better Auth's tables as text: two calls give
// the same string only if nothing was inserted, updated or deleted between
// them.
func allRows(t *testing.T, db *sqlx.DB) string {
	t.Helper()
	var b strings.Builder
	for _, table := range []string{"user", "account", "session", "verification"} {
		rows, err := db.Queryx(`SELECT * FROM "` + table + `" ORDER BY "id"`)
		if err != nil {
			t.Fatalf("read %s: %v", table, err)
		}
		for rows.Next() {
			vals, err := rows.SliceScan()
			if err != nil {
				t.Fatalf("read %s: %v", table, err)
			}
			b.WriteString(table)
			for _, v := range vals {
				if bs, ok := v.([]byte); ok {
					v = string(bs)
				}
				fmt.Fprintf(&b, " %v", v)
			}
			b.WriteByte('\n')
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("read %s: %v", table, err)
		}
		rows.Close()
	}
	return b.String()
}

// rowCount counts the rows of one table.
func rowCount(t *testing.T, db *sqlx.DB, table string) int {
	t.Helper()
	var n int
	if err := db.Get(&n, `SELECT count(*) FROM "`+table+`"`); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

// goErrorText are pieces of Go, driver and runtime error strings. None may
// reach a client: they tell an attacker what runs behind the door, and a
// client cannot act on them.
var goErrorText = []string{
	"json:", "invalid character", "sql:", "pq:", "sqlite", "runtime error", "goroutine",
	"unexpected eof", "http:", "strconv", "%!", "<nil>", "panic", "mime:", "invalid url escape",
	"scrypt", "context canceled", "deadline exceeded", "dial tcp", "connection refused", "syntax error",
}

// wantCleanError is wantError, plus: no Go error text in the body and no
// cookie set or cleared, since a rejected request changes nothing.
func wantCleanError(t *testing.T, w *httptest.ResponseRecorder, status int, code string) {
	t.Helper()
	wantError(t, w, status, code)
	body := strings.ToLower(w.Body.String())
	for _, frag := range goErrorText {
		if strings.Contains(body, frag) {
			t.Errorf("error body carries Go error text %q: %s", frag, w.Body)
		}
	}
	if sc := w.Header().Values("Set-Cookie"); len(sc) != 0 {
		t.Errorf("rejected request set cookies: %q", sc)
	}
}

// noWrites runs fn and fails the test if any row of Better Auth's tables
// changed meanwhile.
func noWrites(t *testing.T, db *sqlx.DB, fn func()) {
	t.Helper()
	before := allRows(t, db)
	fn()
	if after := allRows(t, db); after != before {
		t.Errorf("a rejected request wrote to the database:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// chunked makes r's body arrive without a length, as a chunked upload does.
func chunked(r *http.Request) *http.Request {
	r.Body = io.NopCloser(io.MultiReader(r.Body))
	r.ContentLength = -1
	r.TransferEncoding = []string{"chunked"}
	return r
}

// hostileEndpoint is an endpoint that reads a body, with a body that passes
// its schema (each field of which the tests retype in turn).
type hostileEndpoint struct {
	path  string
	form  bool // also accepts application/x-www-form-urlencoded
	auth  bool // needs the session: sent with its cookie and the site's Origin
	valid map[string]any
}

var hostileEndpoints = []hostileEndpoint{
	{"/auth/sign-up/email", true, false, map[string]any{"name": "Mallory", "email": "mallory@example.com", "password": "password123", "image": "https://img.example/m.png", "callbackURL": "/welcome", "rememberMe": true}},
	{"/auth/sign-in/email", true, false, map[string]any{"email": "alice@example.com", "password": "password123", "callbackURL": "/x", "rememberMe": true}},
	{"/auth/request-password-reset", false, false, map[string]any{"email": "alice@example.com", "redirectTo": "/reset"}},
	{"/auth/reset-password", false, false, map[string]any{"newPassword": "newpassword1", "token": "abcdefghijklmnopqrstuvwx"}},
	{"/auth/send-verification-email", false, false, map[string]any{"email": "alice@example.com", "callbackURL": "/v"}},
	{"/auth/update-user", false, true, map[string]any{"name": "Alice 2", "image": "https://img.example/a.png"}},
	{"/auth/change-password", false, true, map[string]any{"currentPassword": "password123", "newPassword": "newpassword1", "revokeOtherSessions": true}},
	{"/auth/revoke-session", false, true, map[string]any{"token": "abc"}},
	{"/auth/revoke-sessions", false, true, nil},
	{"/auth/revoke-other-sessions", false, true, nil},
	{"/auth/sign-out", false, true, nil},
	{"/auth/delete-user", false, true, map[string]any{"password": "password123", "callbackURL": "/bye"}},
}

func (ep hostileEndpoint) allowed() string {
	if ep.form {
		return "application/x-www-form-urlencoded, application/json"
	}
	return "application/json"
}

// request builds a POST to ep with the given Content-Type ("" for none),
// carrying the session cookie and the site's Origin when ep needs them.
func (ep hostileEndpoint) request(ctype, body, cookie string) *http.Request {
	r := httptest.NewRequest("POST", ep.path, strings.NewReader(body))
	if ctype != "" {
		r.Header.Set("Content-Type", ctype)
	}
	if ep.auth {
		r.Header.Set("Cookie", cookie)
		r.Header.Set("Origin", site)
	}
	return r
}

func nested(open, close string, levels int, inner string) string {
	return strings.Repeat(open, levels) + inner + strings.Repeat(close, levels)
}

func TestHostile_BodiesAreRejectedCleanlyAndWriteNothing(t *testing.T) {
	// 64 KiB of nesting is the most the body limit lets through; Go's
	// decoder gives up at depth 10 000, far below a stack overflow.
	deepArrays := `{"a":` + nested("[", "]", 32000, "") + `}`
	deepObjects := nested(`{"a":`, "}", 10001, "1")
	cases := []struct {
		name, ctype, body string
		chunked           bool
		status            int
		code              string
	}{
		{"malformed JSON", "application/json", `{"email":`, false, 400, "BAD_REQUEST"},
		{"trailing garbage", "application/json", `{} {}`, false, 400, "BAD_REQUEST"},
		{"single quotes", "application/json", `{'email':'a@example.com'}`, false, 400, "BAD_REQUEST"},
		{"NaN", "application/json", `{"a":NaN}`, false, 400, "BAD_REQUEST"},
		{"raw newline inside a string", "application/json", "{\"name\":\"a\nb\"}", false, 400, "BAD_REQUEST"},
		{"invalid UTF-8 outside strings", "application/json", "{}\xff", false, 400, "BAD_REQUEST"},
		{"NUL outside strings", "application/json", "{\x00}", false, 400, "BAD_REQUEST"},
		{"32 000 nested arrays", "application/json", deepArrays, false, 400, "BAD_REQUEST"},
		{"10 001 nested objects", "application/json", deepObjects, false, 400, "BAD_REQUEST"},
		{"100 000 nested arrays", "application/json", nested("[", "]", 100000, ""), false, 413, "PAYLOAD_TOO_LARGE"},
		{"100 000 nested arrays, chunked", "application/json", nested("[", "]", 100000, ""), true, 413, "PAYLOAD_TOO_LARGE"},
		{"null", "application/json", `null`, false, 400, "BODY_MUST_BE_AN_OBJECT"},
		{"array", "application/json", `[{"email":"a@example.com"}]`, false, 400, "BODY_MUST_BE_AN_OBJECT"},
		{"string", "application/json", `"{}"`, false, 400, "BODY_MUST_BE_AN_OBJECT"},
		{"number", "application/json", `1`, false, 400, "BODY_MUST_BE_AN_OBJECT"},
		{"boolean", "application/json", `true`, false, 400, "BODY_MUST_BE_AN_OBJECT"},
		{"one byte over 64 KiB", "application/json", `{"name":"` + strings.Repeat("a", 64<<10-11+1) + `"}`, false, 413, "PAYLOAD_TOO_LARGE"},
		{"1 MiB", "application/json", `{"name":"` + strings.Repeat("a", 1<<20) + `"}`, false, 413, "PAYLOAD_TOO_LARGE"},
		{"1 MiB, chunked without length", "application/json", `{"name":"` + strings.Repeat("a", 1<<20) + `"}`, true, 413, "PAYLOAD_TOO_LARGE"},
		{"over 64 KiB without Content-Type", "", strings.Repeat("a", 65<<10), false, 413, "PAYLOAD_TOO_LARGE"},
		{"no Content-Type", "", `{"email":"a@example.com"}`, false, 415, "UNSUPPORTED_MEDIA_TYPE"},
		{"text/plain", "text/plain", `{"email":"a@example.com"}`, false, 415, "UNSUPPORTED_MEDIA_TYPE"},
		{"multipart", "multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\na@example.com\r\n--x--", false, 415, "UNSUPPORTED_MEDIA_TYPE"},
		{"application/xml", "application/xml", `<email>a@example.com</email>`, false, 415, "UNSUPPORTED_MEDIA_TYPE"},
		{"JSON suffix type", "application/json-patch+json", `{}`, false, 415, "UNSUPPORTED_MEDIA_TYPE"},
		{"JSON as a parameter", "text/plain; type=application/json", `{}`, false, 415, "UNSUPPORTED_MEDIA_TYPE"},
		// Better Auth compares the part before the first ';', trimmed and
		// lower-cased, so these are JSON there, and here.
		{"upper-case JSON type", "APPLICATION/JSON", `null`, false, 400, "BODY_MUST_BE_AN_OBJECT"},
		{"JSON type with a malformed parameter", "application/json; charset", `null`, false, 400, "BODY_MUST_BE_AN_OBJECT"},
		{"JSON type with junk parameters", "application/json;;;=;", `null`, false, 400, "BODY_MUST_BE_AN_OBJECT"},
	}
	testsupport.Both(t, func(t *testing.T, dsn string) {
		tg := newHostileGate(t, dsn)
		cookie, _ := tg.signUp("Alice", "alice@example.com", "password123")
		db := testsupport.OpenDB(t, dsn)
		for _, ep := range hostileEndpoints {
			t.Run(strings.TrimPrefix(ep.path, "/auth/"), func(t *testing.T) {
				for _, c := range cases {
					t.Run(c.name, func(t *testing.T) {
						r := ep.request(c.ctype, c.body, cookie)
						if c.chunked {
							r = chunked(r)
						}
						noWrites(t, db, func() {
							w := tg.do(r)
							wantCleanError(t, w, c.status, c.code)
							msg := decodeJSON(t, w)["message"]
							switch c.name {
							case "no Content-Type":
								if want := "Content-Type is required. Allowed types: " + ep.allowed(); msg != want {
									t.Errorf("message %q, want %q", msg, want)
								}
							case "text/plain":
								if want := `Content-Type "text/plain" is not allowed. Allowed types: ` + ep.allowed(); msg != want {
									t.Errorf("message %q, want %q", msg, want)
								}
							}
						})
					})
				}
				if !ep.form {
					t.Run("form on a JSON-only endpoint", func(t *testing.T) {
						noWrites(t, db, func() {
							wantCleanError(t, tg.do(ep.request("application/x-www-form-urlencoded", "email=a%40example.com", cookie)), 415, "UNSUPPORTED_MEDIA_TYPE")
						})
					})
				}
				for field := range ep.valid {
					bad := []string{`42`, `{"a":1}`, `["x"]`, `true`, `null`, `1e999`}
					if field == "rememberMe" || field == "revokeOtherSessions" {
						bad = []string{`"yes"`, `1`, `{}`, `[]`, `null`}
					}
					for _, v := range bad {
						if ep.path == "/auth/update-user" && field == "image" && v == "null" {
							continue // removes the image: a valid request
						}
						t.Run("wrong type "+field+"="+v, func(t *testing.T) {
							fields := map[string]json.RawMessage{}
							for k, val := range ep.valid {
								fields[k], _ = json.Marshal(val)
							}
							fields[field] = json.RawMessage(v)
							body, _ := json.Marshal(fields)
							noWrites(t, db, func() {
								w := tg.do(ep.request("application/json", string(body), cookie))
								wantCleanError(t, w, 400, "VALIDATION_ERROR")
								if msg, _ := decodeJSON(t, w)["message"].(string); !strings.Contains(msg, "[body."+field+"] Invalid input: expected ") {
									t.Errorf("message %q does not name body.%s", msg, field)
								}
							})
						})
					}
				}
			})
		}
		// None of it touched the session.
		if w := tg.do(req("GET", "/private", "", "Cookie", cookie)); w.Code != 200 {
			t.Errorf("the session did not survive the hostile bodies: %d %s", w.Code, w.Body)
		}
	})
}

// TestHostile_BodiesOverRealHTTP sends what httptest cannot fake: a chunked
// upload over a real connection, larger than the limit, and a small one.
func TestHostile_BodiesOverRealHTTP(t *testing.T) {
	tg := newHostileGate(t, testsupport.SQLiteDSN(t))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := tg.do(r)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	}))
	t.Cleanup(srv.Close)
	post := func(body io.Reader) (*http.Response, string) {
		t.Helper()
		r, _ := http.NewRequest("POST", srv.URL+"/auth/sign-in/email", body)
		r.Header.Set("Content-Type", "application/json")
		resp, err := srv.Client().Do(r)
		if err != nil {
			t.Fatalf("POST: %v", err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	// io.MultiReader hides the length, so the client sends it chunked.
	resp, body := post(io.MultiReader(strings.NewReader(`{"email":"`), strings.NewReader(strings.Repeat("a", 1<<20)), strings.NewReader(`"}`)))
	if resp.StatusCode != 413 || !strings.Contains(body, `"code":"PAYLOAD_TOO_LARGE"`) {
		t.Errorf("chunked 1 MiB: %d %s", resp.StatusCode, body)
	}
	resp, body = post(io.MultiReader(strings.NewReader(`{"email":"nobody@example.com",`), strings.NewReader(`"password":"password123"}`)))
	if resp.StatusCode != 401 || !strings.Contains(body, `"code":"INVALID_EMAIL_OR_PASSWORD"`) {
		t.Errorf("small chunked sign-in: %d %s", resp.StatusCode, body)
	}
}

// TestReadBody_FormsAreParsedLikeURLSearchParams: Better Auth reads form
// bodies with URLSearchParams, which never fails: a stray '%' stays as it is,
// ';' is an ordinary character, invalid UTF-8 becomes U+FFFD, and of
// repeated names the last wins.
func TestReadBody_FormsAreParsedLikeURLSearchParams(t *testing.T) {
	cases := []struct {
		body, field, want string
	}{
		{"name=Ada+Lovelace", "name", "Ada Lovelace"},
		{"name=a%2Bb%26c%3Dd", "name", "a+b&c=d"},
		{"name=100%", "name", "100%"},
		{"name=%zz%4", "name", "%zz%4"},
		{"name=a;b", "name", "a;b"},
		{"name=first&name=last", "name", "last"},
		{"na%6De=encoded+key", "name", "encoded key"},
		{"name", "name", ""},
		{"=x&&name=y&", "name", "y"},
		{"name=a%FFb", "name", "a\uFFFDb"},
		{"name=a%C3%28b", "name", "a\uFFFD(b"},
		{"name=Zo%C3%AB", "name", "Zoë"},
		{"name=%F0%9F%98%80", "name", "😀"},
	}
	for _, c := range cases {
		t.Run(c.body, func(t *testing.T) {
			r := formRequest("/auth/sign-in/email", c.body)
			b, e := readBody(httptest.NewRecorder(), r, true)
			if e != nil {
				t.Fatalf("readBody: %v", e)
			}
			got, ok := b.str(c.field, true)
			if !ok || got != c.want || b.err() != nil {
				t.Errorf("%s = %q, %v (issues %v), want %q", c.field, got, ok, b.issues, c.want)
			}
			if !utf8.ValidString(got) {
				t.Errorf("%q is not valid UTF-8", got)
			}
		})
	}
}

// TestHostile_StringsBothDatabasesCanStore: what reaches a text column must
// be storable on both databases. PostgreSQL's text holds neither NUL nor
// invalid UTF-8; a body carrying them must get the same answer on both, and
// never a 500.
func TestHostile_StringsBothDatabasesCanStore(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		tg := newHostileGate(t, dsn)
		cookie, _ := tg.signUp("Alice", "alice@example.com", "password123")
		db := testsupport.OpenDB(t, dsn)

		rejected := []struct {
			name string
			r    *http.Request
		}{
			{"NUL in a JSON name", req("POST", "/auth/sign-up/email", `{"name":"a\u0000b","email":"nul@example.com","password":"password123"}`)},
			{"NUL in a form name", formRequest("/auth/sign-up/email", "name=a%00b&email=nulform%40example.com&password=password123")},
			{"NUL in an image", req("POST", "/auth/sign-up/email", `{"name":"n","email":"nulimg@example.com","password":"password123","image":"\u0000"}`)},
			{"NUL in update-user name", req("POST", "/auth/update-user", `{"name":"x\u0000"}`, "Cookie", cookie, "Origin", site)},
			{"NUL in update-user image", req("POST", "/auth/update-user", `{"image":"x\u0000"}`, "Cookie", cookie, "Origin", site)},
			{"NUL in a revoke-session token", req("POST", "/auth/revoke-session", `{"token":"abc\u0000"}`, "Cookie", cookie, "Origin", site)},
			{"NUL in a reset token", req("POST", "/auth/reset-password", `{"newPassword":"newpassword1","token":"abc\u0000def"}`)},
		}
		for _, c := range rejected {
			t.Run(c.name, func(t *testing.T) {
				noWrites(t, db, func() { wantCleanError(t, tg.do(c.r), 400, "VALIDATION_ERROR") })
			})
		}
		// An email is checked against its pattern, which has no NUL: sign-in
		// keeps its own code for an address that cannot exist.
		wantCleanError(t, tg.do(req("POST", "/auth/sign-in/email", `{"email":"alice@example.com\u0000","password":"password123"}`)), 400, "INVALID_EMAIL")
		wantCleanError(t, tg.do(req("POST", "/auth/sign-up/email", `{"name":"n","email":"a\u0000@example.com","password":"password123"}`)), 400, "VALIDATION_ERROR")

		// Invalid UTF-8 and lone surrogates become U+FFFD, as JavaScript's
		// decoders make them: stored alike on both databases.
		replaced := []struct {
			name string
			r    *http.Request
			want string
		}{
			{"invalid UTF-8 in a JSON name", req("POST", "/auth/sign-up/email", "{\"name\":\"a\xffb\",\"email\":\"ff@example.com\",\"password\":\"password123\"}"), "a\uFFFDb"},
			{"lone surrogate in a JSON name", req("POST", "/auth/sign-up/email", `{"name":"a\ud800b","email":"surrogate@example.com","password":"password123"}`), "a\uFFFDb"},
			{"invalid UTF-8 in a form name", formRequest("/auth/sign-up/email", "name=a%FFb&email=ffform%40example.com&password=password123"), "a\uFFFDb"},
		}
		for _, c := range replaced {
			t.Run(c.name, func(t *testing.T) {
				w := tg.do(c.r)
				if w.Code != 200 {
					t.Fatalf("%d %s", w.Code, w.Body)
				}
				id := decodeJSON(t, w)["user"].(map[string]any)["id"].(string)
				var name string
				if err := db.Get(&name, db.Rebind(`SELECT "name" FROM "user" WHERE "id" = ?`), id); err != nil {
					t.Fatal(err)
				}
				if name != c.want {
					t.Errorf("stored name %q, want %q", name, c.want)
				}
			})
		}

		// A password is only ever hashed: any character is fine, as in
		// Better Auth, and it signs in again.
		t.Run("NUL in a password", func(t *testing.T) {
			tg.signUp("Nul", "nulpass@example.com", "pass\x00word123")
			tg.signIn("nulpass@example.com", "pass\x00word123")
			wantCleanError(t, tg.do(req("POST", "/auth/sign-in/email", `{"email":"nulpass@example.com","password":"pass"}`)), 401, "INVALID_EMAIL_OR_PASSWORD")
		})
	})
}

// TestHostile_URLAndHeaderBytesPostgresCannotStore: the same rule for bytes
// that arrive outside the body — a reset token in the path or query, a
// User-Agent stored with the session — which readBody never sees.
func TestHostile_URLAndHeaderBytesPostgresCannotStore(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		tg := newHostileGate(t, dsn)
		db := testsupport.OpenDB(t, dsn)
		for _, tok := range []string{"%00", "abc%00def", "%FF", "a%C3%28b"} {
			t.Run("reset link token "+tok, func(t *testing.T) {
				w := tg.do(req("GET", "/auth/reset-password/"+tok+"?callbackURL=/reset", ""))
				if w.Code != 302 || w.Header().Get("Location") != site+"/reset?error=INVALID_TOKEN" {
					t.Errorf("%d %q %s, want 302 to /reset?error=INVALID_TOKEN", w.Code, w.Header().Get("Location"), w.Body)
				}
			})
			t.Run("reset query token "+tok, func(t *testing.T) {
				noWrites(t, db, func() {
					wantCleanError(t, tg.do(req("POST", "/auth/reset-password?token="+tok, `{"newPassword":"newpassword1"}`)), 400, "INVALID_TOKEN")
				})
			})
		}
		// Go's server passes bytes 0x80-0xFF in header values (obs-text).
		t.Run("invalid UTF-8 User-Agent", func(t *testing.T) {
			users := rowCount(t, db, "user")
			w := tg.do(req("POST", "/auth/sign-up/email", `{"name":"UA","email":"ua@example.com","password":"password123"}`, "User-Agent", "Mozilla/5.0 \xff\xfe"))
			if w.Code != 200 {
				// Whatever the answer, an error must not leave the user behind.
				if n := rowCount(t, db, "user"); n != users {
					t.Errorf("sign-up answered %d but created the user", w.Code)
				}
				t.Fatalf("sign-up with a Latin-1 User-Agent: %d %s", w.Code, w.Body)
			}
			w = tg.do(req("POST", "/auth/sign-in/email", `{"email":"ua@example.com","password":"password123"}`, "User-Agent", "\xff"))
			if w.Code != 200 {
				t.Fatalf("sign-in with a Latin-1 User-Agent: %d %s", w.Code, w.Body)
			}
		})
	})
}

func TestHostile_HugeEmails(t *testing.T) {
	long := strings.Repeat("a", 10000) + "@example.com"
	longDomain := "a@" + strings.Repeat("b", 10000) + ".com"
	labels := "a@" + strings.Repeat("b.", 5000) + "com"
	testsupport.Both(t, func(t *testing.T, dsn string) {
		tg := newHostileGate(t, dsn)
		db := testsupport.OpenDB(t, dsn)
		for _, email := range []string{long, longDomain, labels, " " + strings.Repeat("A", 10000) + "@EXAMPLE.COM "} {
			e, _ := json.Marshal(email)
			cases := []struct {
				name   string
				r      *http.Request
				status int
				code   string
			}{
				{"sign-up", req("POST", "/auth/sign-up/email", `{"name":"n","email":`+string(e)+`,"password":"password123"}`), 400, "VALIDATION_ERROR"},
				{"sign-up form", formRequest("/auth/sign-up/email", "name=n&password=password123&email="+url.QueryEscape(email)), 400, "VALIDATION_ERROR"},
				{"sign-in", req("POST", "/auth/sign-in/email", `{"email":`+string(e)+`,"password":"password123"}`), 400, "INVALID_EMAIL"},
				{"sign-in form", formRequest("/auth/sign-in/email", "password=password123&email="+url.QueryEscape(email)), 400, "INVALID_EMAIL"},
				{"request-password-reset", req("POST", "/auth/request-password-reset", `{"email":`+string(e)+`}`), 400, "VALIDATION_ERROR"},
				{"send-verification-email", req("POST", "/auth/send-verification-email", `{"email":`+string(e)+`}`), 400, "VALIDATION_ERROR"},
			}
			for _, c := range cases {
				t.Run(fmt.Sprintf("%s %d chars", c.name, len(email)), func(t *testing.T) {
					noWrites(t, db, func() { wantCleanError(t, tg.do(c.r), c.status, c.code) })
				})
			}
		}
	})
}

// TestHostile_NamesCannotInjectHeaders: a name is stored as given, CR/LF
// included, but reaches the app only as one percent-encoded header value.
func TestHostile_NamesCannotInjectHeaders(t *testing.T) {
	names := []string{
		"Eve\r\nX-User-Id: admin",
		"Eve\nX-User-Email: admin@example.com\n\nGET / HTTP/1.1",
		"Eve\rX-Injected: 1",
		"Eve\u2028X-Injected: 1\u0085",
		"%0D%0AX-Injected: 1",
		"\tEve\x0b\x0c\x1b[31m",
	}
	testsupport.Both(t, func(t *testing.T, dsn string) {
		tg := newHostileGate(t, dsn)
		for i, name := range names {
			t.Run(fmt.Sprintf("%q", name), func(t *testing.T) {
				cookie, up := tg.signUp(name, fmt.Sprintf("eve%d@example.com", i), "password123")
				user := up["user"].(map[string]any)
				if user["name"] != name {
					t.Errorf("stored name %q, want %q", user["name"], name)
				}
				checkUpstream := func(want string) {
					t.Helper()
					if w := tg.do(req("GET", "/private", "", "Cookie", cookie)); w.Code != 200 {
						t.Fatalf("gated request %d %s", w.Code, w.Body)
					}
					h := tg.next.header
					if v := h.Values("X-User-Id"); len(v) != 1 || v[0] != user["id"] {
						t.Errorf("X-User-Id = %q, want only %v", v, user["id"])
					}
					if v := h.Values("X-User-Email"); len(v) != 1 || v[0] != user["email"] {
						t.Errorf("X-User-Email = %q", v)
					}
					if h.Get("X-Injected") != "" {
						t.Error("a name injected a header")
					}
					for k, vs := range h {
						for _, v := range vs {
							if strings.ContainsAny(v, "\r\n\x00") || strings.ContainsAny(k, "\r\n\x00: ") {
								t.Errorf("header %q: %q carries a line break", k, v)
							}
						}
					}
					got := h.Values("X-User-Name")
					if len(got) != 1 {
						t.Fatalf("X-User-Name = %q", got)
					}
					for i := 0; i < len(got[0]); i++ {
						if c := got[0][i]; c < 0x20 || c > 0x7e {
							t.Fatalf("X-User-Name %q has byte %#x", got[0], c)
						}
					}
					if back, err := url.PathUnescape(got[0]); err != nil || back != want {
						t.Errorf("X-User-Name %q decodes to %q, want %q", got[0], back, want)
					}
				}
				checkUpstream(name)
				// The same through update-user.
				body, _ := json.Marshal(map[string]string{"name": name + "\r\nX-Injected: 2"})
				if w := tg.post("/auth/update-user", cookie, string(body)); w.Code != 200 {
					t.Fatalf("update-user %d %s", w.Code, w.Body)
				}
				checkUpstream(name + "\r\nX-Injected: 2")
			})
		}
	})
}

// TestHostile_NamesCannotInjectHeadersThroughCaddy checks the same on the
// wire: the built binary proxies to a real upstream.
func TestHostile_NamesCannotInjectHeadersThroughCaddy(t *testing.T) {
	up := testsupport.NewUpstream(t)
	c := testsupport.StartCaddy(t, `{
	admin off
}
http://127.0.0.1:{PORT} {
	auth_gate {
		database `+testsupport.SQLiteDSN(t)+`
		secret `+testSecret+`
		rate_limit off
	}
	reverse_proxy `+up.HostPort()+`
}
`)
	name := "Eve\r\nX-User-Id: admin\r\nX-Injected: 1"
	body, _ := json.Marshal(map[string]string{"name": name, "email": "eve@example.com", "password": "password123"})
	resp, err := http.Post(c.BaseURL+"/auth/sign-up/email", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var signUp struct {
		Token string
		User  struct{ ID string }
	}
	_ = json.NewDecoder(resp.Body).Decode(&signUp)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("sign-up %d\n%s", resp.StatusCode, c.Logs())
	}
	r, _ := http.NewRequest("GET", c.BaseURL+"/dashboard", nil)
	r.Header.Set("Cookie", "better-auth.session_token="+wireCookie(testSecret, signUp.Token))
	resp, err = http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("gated request %d", resp.StatusCode)
	}
	h := up.Last().Header
	if v := h.Values("X-User-Id"); len(v) != 1 || v[0] != signUp.User.ID {
		t.Errorf("upstream X-User-Id = %q, want only %q", v, signUp.User.ID)
	}
	if h.Get("X-Injected") != "" {
		t.Errorf("the name injected a header upstream: %v", h)
	}
	if got := h.Get("X-User-Name"); got != "Eve%0D%0AX-User-Id: admin%0D%0AX-Injected: 1" {
		t.Errorf("upstream X-User-Name = %q", got)
	}
}

// TestHostile_Cookies: forged, broken and piled-up session cookies leave the
// caller unauthenticated, with a clean answer, at the gate and in the API.
func TestHostile_Cookies(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		tg := newHostileGate(t, dsn)
		valid, up := tg.signUp("Alice", "alice@example.com", "password123")
		token := up["token"].(string)
		const name = "better-auth.session_token"
		value := strings.TrimPrefix(valid, name+"=")
		sig := value[len(token)+1:] // URL-encoded, as on the wire
		junk := name + "=" + token + ".AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA%3D"
		var many, manyThenValid []string
		for i := 0; i < 100; i++ {
			many = append(many, junk)
		}
		manyThenValid = append(append(manyThenValid, many[:99]...), valid)
		validThenMany := append([]string{valid}, many[:99]...)
		big := strings.Repeat("x", 16<<10)

		cases := []struct {
			name    string
			cookies []string // Cookie header lines
			authed  bool
		}{
			{"bad base64 signature", []string{name + "=" + token + "." + strings.Repeat("!", 43) + "="}, false},
			{"signature without padding", []string{name + "=" + token + "." + strings.TrimSuffix(sig, "%3D")}, false},
			{"wrong signature", []string{junk}, false},
			{"other secret", []string{name + "=" + wireCookie(strings.Repeat("y", 32), token)}, false},
			{"truncated by one", []string{valid[:len(valid)-1]}, false},
			{"truncated signature", []string{valid[:len(valid)-20]}, false},
			{"token and dot only", []string{name + "=" + token + "."}, false},
			{"token only", []string{name + "=" + token}, false},
			{"signature only", []string{name + "=." + sig}, false},
			{"empty value", []string{name + "="}, false},
			{"name only", []string{name}, false},
			{"lone percent", []string{name + "=%"}, false},
			{"broken escape", []string{name + "=" + token + "%2" + sig}, false},
			{"escape of invalid UTF-8", []string{name + "=%FF" + token + "%2E" + sig}, false},
			{"NUL in the value", []string{name + "=" + token + "\x00." + sig}, false},
			{"double-encoded", []string{name + "=" + url.QueryEscape(value)}, false},
			{"signed, but SQL in the token", []string{name + "=" + wireCookie(testSecret, `' OR '1'='1`)}, false},
			{"signed, but 10 000 characters", []string{name + "=" + wireCookie(testSecret, strings.Repeat("A", 10000))}, false},
			{"signed, unknown token", []string{name + "=" + wireCookie(testSecret, "J95RstBkQGJwxRcnjEdSkAf7lMZHdwxU")}, false},
			{"__Secure- name on http", []string{"__Secure-" + valid}, false},
			{"other letter case of the name", []string{"Better-Auth.session_token=" + value}, false},
			{"100 of the same name, a valid one last", []string{strings.Join(manyThenValid, "; ")}, false},
			{"100 of the same name, the valid one first", []string{strings.Join(validThenMany, "; ")}, true},
			{"junk on the first Cookie line, valid on the second", []string{junk, valid}, false},
			{"valid on the first Cookie line, junk on the second", []string{valid, junk}, true},
			{"16 KiB value", []string{name + "=" + big}, false},
			{"16 KiB of other cookies, then the valid one", []string{"a=" + big + "; " + valid}, true},
			{"16 KiB of the same name, then the valid one", []string{name + "=" + big + "; " + valid}, false},
			{"valid one quoted", []string{name + `="` + value + `"`}, true},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				calls := tg.next.calls
				r := req("GET", "/private", "", "Accept", "application/json")
				r.Header["Cookie"] = c.cookies
				w := tg.do(r)
				if c.authed {
					if w.Code != 200 || tg.next.calls != calls+1 || tg.next.header.Get("X-User-Email") != "alice@example.com" {
						t.Fatalf("gate: %d %s, want the session honoured", w.Code, w.Body)
					}
				} else {
					wantCleanError(t, w, 401, "UNAUTHORIZED")
					if tg.next.calls != calls {
						t.Errorf("the request reached the upstream")
					}
				}

				r = req("GET", "/auth/get-session", "")
				r.Header["Cookie"] = c.cookies
				w = tg.do(r)
				if w.Code != 200 {
					t.Fatalf("get-session: %d %s", w.Code, w.Body)
				}
				if got := w.Body.String() != "null"; got != c.authed {
					t.Errorf("get-session answered %s", w.Body)
				}
			})
		}
	})
}

// TestHostile_ForgedVerificationTokens: verify-email must accept only
// HS256 tokens signed with the secret.
func TestHostile_ForgedVerificationTokens(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		tg := newHostileGate(t, dsn)
		_, up := tg.signUp("Alice", "alice@example.com", "password123")
		id := up["user"].(map[string]any)["id"].(string)
		enc := func(s string) string { return b64url([]byte(s)) }
		claims := fmt.Sprintf(`{"email":"alice@example.com","userId":%q,"iat":1,"exp":4102444800}`, id)
		good, _ := bacodec.SignEmailToken([]byte(testSecret), bacodec.EmailClaims{Email: "alice@example.com", UserID: id, IssuedAt: 1, ExpiresAt: 4102444800})
		parts := strings.Split(good, ".")
		forged := []struct{ name, token string }{
			{"alg none", enc(`{"alg":"none"}`) + "." + enc(claims) + "."},
			{"alg none, upper case", enc(`{"alg":"NONE","typ":"JWT"}`) + "." + enc(claims) + "."},
			{"other secret", mustJWT(t, strings.Repeat("z", 32), claims)},
			{"HS512 header", enc(`{"alg":"HS512"}`) + "." + parts[1] + "." + parts[2]},
			{"payload swapped", parts[0] + "." + enc(strings.Replace(claims, "alice", "mallory", 1)) + "." + parts[2]},
			{"signature of another token", parts[0] + "." + parts[1] + "." + strings.Split(mustJWT(t, testSecret, `{"email":"bob@example.com"}`), ".")[2]},
			{"crit header", mustJWTHeader(t, testSecret, `{"alg":"HS256","crit":["exp"]}`, claims)},
			{"four parts", good + ".x"},
			{"padded base64", parts[0] + "=." + parts[1] + "." + parts[2]},
			{"10 KiB", strings.Repeat("a", 10<<10)},
			{"empty", ""},
		}
		db := testsupport.OpenDB(t, dsn)
		for _, f := range forged {
			t.Run(f.name, func(t *testing.T) {
				noWrites(t, db, func() {
					wantCleanError(t, tg.do(req("GET", "/auth/verify-email?token="+url.QueryEscape(f.token), "")), 401, "INVALID_TOKEN")
				})
			})
		}
	})
}

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func mustJWT(t *testing.T, secret, claims string) string {
	t.Helper()
	return mustJWTHeader(t, secret, `{"alg":"HS256"}`, claims)
}

func mustJWTHeader(t *testing.T, secret, header, claims string) string {
	t.Helper()
	signing := b64url([]byte(header)) + "." + b64url([]byte(claims))
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(signing))
	return signing + "." + b64url(mac.Sum(nil))
}

// Redirect targets (item 4): callbackURL and redirectTo are relative paths
// or trusted origins; anything a browser could resolve off-site is 403.
var (
	badRedirects = []string{
		"//evil.com", "//evil.com/path", "///evil.com", "/\\evil.com", "\\/evil.com", "\\\\evil.com", "/\\/evil.com",
		"javascript:alert(1)", "JaVaScRiPt:alert(1)", " javascript:alert(1)", "java\tscript:alert(1)", "javascript://trusted.example.com/%0Aalert(1)",
		"data:text/html,<script>alert(1)</script>", "DATA:text/html;base64,PHNjcmlwdD4=", "vbscript:msgbox(1)", "file:///etc/passwd",
		"http://evil.com", "https://evil.com/", "https://trusted.example.com.evil.com", "https://trusted.example.com@evil.com",
		"https://evil.com#@trusted.example.com", "https://evil.com\\@trusted.example.com", "https://evil.com?.trusted.example.com",
		"https://wild.example.evil.com", "ftp://trusted.example.com/", "https:evil.com", "https:/evil.com", "http:\\\\evil.com",
		"//trusted.example.com/x", "evil.com", "%2F%2Fevil.com",
		"/%2F%2Fevil.com", "/%2f%2fevil.com", "/%5Cevil.com", "/%5cevil.com", "/%2F/evil.com", "/a/%2F%2Fevil.com",
		"/\t/evil.com", "/\n/evil.com", "/\r\n/evil.com", "\t//evil.com", "/\x00/evil.com", "/\x7f/evil.com", "/\u0085/evil.com", "/\u009b/evil.com",
	}
	goodRedirects = []string{
		"/dashboard", "/a?b=c", "/", "/a/b#frag", "/search?next=%2Fhome", "/%09/x", "/caf%C3%A9",
		"https://trusted.example.com", "https://trusted.example.com/x?y=1", "http://example.com/own", "https://a.wild.example/x", "HTTPS://TRUSTED.EXAMPLE.COM/up",
	}
)

func TestHostile_RedirectTargets(t *testing.T) {
	jsonStr := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	type endpoint struct {
		name string
		// build returns a request carrying target; good is the status a
		// safe target gets (the request fails later, or succeeds without
		// writing).
		build func(target string) *http.Request
		good  int
	}
	endpoints := []endpoint{
		// An invalid email: a safe callback gets past the check to 400.
		{"sign-in callbackURL", func(u string) *http.Request {
			return req("POST", "/auth/sign-in/email", `{"email":"nope","password":"password123","callbackURL":`+jsonStr(u)+`}`)
		}, 400},
		{"sign-in form callbackURL", func(u string) *http.Request {
			return formRequest("/auth/sign-in/email", "email=nope&password=password123&callbackURL="+url.QueryEscape(u))
		}, 400},
		// A short password: a safe callback gets past the check to 400.
		{"sign-up callbackURL", func(u string) *http.Request {
			return req("POST", "/auth/sign-up/email", `{"name":"M","email":"m@example.com","password":"short","callbackURL":`+jsonStr(u)+`}`)
		}, 400},
		// An unknown address: 200, and nothing is written.
		{"request-password-reset redirectTo", func(u string) *http.Request {
			return req("POST", "/auth/request-password-reset", `{"email":"nobody@example.com","redirectTo":`+jsonStr(u)+`}`)
		}, 200},
		// A garbage token: 302 back to the callback with ?error=.
		{"verify-email callbackURL", func(u string) *http.Request {
			return req("GET", "/auth/verify-email?token=garbage&callbackURL="+url.QueryEscape(u), "")
		}, 302},
		{"reset-password/:token callbackURL", func(u string) *http.Request {
			return req("GET", "/auth/reset-password/unknowntoken?callbackURL="+url.QueryEscape(u), "")
		}, 302},
	}
	testsupport.Both(t, func(t *testing.T, dsn string) {
		tg := newHostileGate(t, dsn)
		cookie, _ := tg.signUp("Alice", "alice@example.com", "password123")
		db := testsupport.OpenDB(t, dsn)
		// Endpoints that need a session; the check comes before any work.
		endpoints := append(endpoints,
			endpoint{"send-verification-email callbackURL", func(u string) *http.Request {
				return req("POST", "/auth/send-verification-email", `{"email":"other@example.com","callbackURL":`+jsonStr(u)+`}`, "Cookie", cookie, "Origin", site)
			}, 400}, // EMAIL_MISMATCH
			endpoint{"delete-user callbackURL", func(u string) *http.Request {
				return req("POST", "/auth/delete-user", `{"password":"`+strings.Repeat("p", 200)+`","callbackURL":`+jsonStr(u)+`}`, "Cookie", cookie, "Origin", site)
			}, 400}, // PASSWORD_TOO_LONG
		)
		for _, ep := range endpoints {
			t.Run(ep.name, func(t *testing.T) {
				for _, bad := range badRedirects {
					t.Run(fmt.Sprintf("reject %q", bad), func(t *testing.T) {
						noWrites(t, db, func() {
							w := tg.do(ep.build(bad))
							wantCleanError(t, w, 403, "INVALID_CALLBACK_URL")
							if loc := w.Header().Get("Location"); loc != "" {
								t.Errorf("rejected callback still redirected to %q", loc)
							}
						})
					})
				}
				for _, good := range goodRedirects {
					t.Run(fmt.Sprintf("accept %q", good), func(t *testing.T) {
						noWrites(t, db, func() {
							w := tg.do(ep.build(good))
							if w.Code != ep.good {
								t.Fatalf("%d %s, want %d", w.Code, w.Body, ep.good)
							}
							if loc := w.Header().Get("Location"); w.Code == 302 && !sameTarget(loc, good) {
								t.Errorf("Location %q does not lead to %q", loc, good)
							}
						})
					})
				}
			})
		}
		// A successful sign-in echoes only a safe callback.
		w := tg.do(req("POST", "/auth/sign-in/email", `{"email":"alice@example.com","password":"password123","callbackURL":"https://trusted.example.com/home"}`))
		if w.Code != 200 || w.Header().Get("Location") != "https://trusted.example.com/home" {
			t.Errorf("trusted callback: %d %q", w.Code, w.Header().Get("Location"))
		}
	})
}

// sameTarget reports whether the redirect loc leads to the page target
// names: the same origin (the site's own for a relative one) and path.
func sameTarget(loc, target string) bool {
	l, err1 := url.Parse(loc)
	g, err2 := url.Parse(target)
	if err1 != nil || err2 != nil {
		return false
	}
	origin := func(u *url.URL) string {
		if u.Host == "" {
			return site
		}
		return strings.ToLower(u.Scheme + "://" + u.Host)
	}
	return origin(l) == origin(g) && l.EscapedPath() == g.EscapedPath()
}

// TestHostile_LoginRedirectStaysOnSite: the gate builds
// login_url?redirect=<path> from the request; a hostile path must neither
// make the Location leave the site nor put a target in `redirect` that a
// login page (or Better Auth's own callbackURL check) would send off-site.
func TestHostile_LoginRedirectStaysOnSite(t *testing.T) {
	tg := newHostileGate(t, testsupport.SQLiteDSN(t))
	paths := []string{
		"//evil.com/x", "//evil.com", "///evil.com", "/%2F%2Fevil.com", "/%2f%2fevil.com", "/%5Cevil.com", "/%5C%5Cevil.com",
		"/\\evil.com", "/%09/evil.com", "/%0D%0ALocation:%20http://evil.com", "/x?next=//evil.com", "/.//evil.com", "/a/..//evil.com",
	}
	for _, p := range paths {
		t.Run(p, func(t *testing.T) {
			w := tg.do(req("GET", p, "", "Accept", "text/html"))
			if w.Code != 302 {
				t.Fatalf("status %d, want 302", w.Code)
			}
			loc := w.Header().Get("Location")
			u, err := url.Parse(loc)
			if err != nil || u.Scheme != "" || u.Host != "" || u.Path != "/login" || strings.ContainsAny(loc, "\r\n\\") || strings.HasPrefix(loc, "//") {
				t.Fatalf("Location %q does not stay on the login page", loc)
			}
			redirect := u.Query().Get("redirect")
			if !safeRelativePath(redirect) {
				t.Errorf("redirect=%q is not a safe relative path (Location %q): a login page that follows it, or passes it to sign-in as callbackURL, goes off-site or fails", redirect, loc)
			}
		})
	}
	// An ordinary path and query come back exactly.
	w := tg.do(req("GET", "/admin/users?tab=2&q=a%20b", "", "Accept", "text/html"))
	u, _ := url.Parse(w.Header().Get("Location"))
	if got := u.Query().Get("redirect"); got != "/admin/users?tab=2&q=a%20b" {
		t.Errorf("redirect=%q, want the original path and query", got)
	}
}

// TestHostile_CrossSiteRequests: cookie-bearing state-changing requests
// need the site's own or a trusted Origin (or Referer); a cross-site form
// navigation may not sign anybody in.
func TestHostile_CrossSiteRequests(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		tg := newHostileGate(t, dsn)
		cookie, _ := tg.signUp("Alice", "alice@example.com", "password123")
		db := testsupport.OpenDB(t, dsn)
		type target struct{ path, body string }
		targets := []target{
			{"/auth/sign-out", ""},
			{"/auth/update-user", `{"name":"Hacked"}`},
			{"/auth/change-password", `{"currentPassword":"password123","newPassword":"hacked1234"}`},
			{"/auth/revoke-sessions", `{}`},
			{"/auth/revoke-other-sessions", `{}`},
			{"/auth/revoke-session", `{"token":"x"}`},
			{"/auth/delete-user", `{"password":"password123"}`},
			{"/auth/sign-in/email", `{"email":"alice@example.com","password":"password123"}`},
			{"/auth/sign-up/email", `{"name":"M","email":"m@example.com","password":"password123"}`},
			{"/auth/request-password-reset", `{"email":"alice@example.com"}`},
			{"/auth/send-verification-email", `{"email":"alice@example.com"}`},
			{"/auth/reset-password", `{"newPassword":"hacked1234","token":"x"}`},
		}
		origins := []struct {
			name    string
			headers []string
			missing bool // Better Auth: "Missing or null Origin"
		}{
			{"no Origin", nil, true},
			{"Origin null", []string{"Origin", "null"}, true},
			{"Origin null, cross-site", []string{"Origin", "null", "Sec-Fetch-Site", "cross-site"}, true},
			{"untrusted Origin", []string{"Origin", "http://evil.com"}, false},
			{"other scheme", []string{"Origin", "https://example.com"}, false},
			{"other port", []string{"Origin", "http://example.com:8080"}, false},
			{"suffix lookalike", []string{"Origin", "http://example.com.evil.com"}, false},
			{"trusted lookalike", []string{"Origin", "https://trusted.example.com.evil.com"}, false},
			{"wildcard lookalike", []string{"Origin", "https://wild.example.evil.com"}, false},
			{"userinfo", []string{"Origin", "http://example.com@evil.com"}, false},
			{"garbage Origin", []string{"Origin", "http://exa mple.com"}, false},
			{"untrusted Referer", []string{"Referer", "http://evil.com/page"}, false},
			{"lookalike Referer", []string{"Referer", "http://example.com.evil.com/"}, false},
			{"untrusted Origin, own Referer", []string{"Origin", "http://evil.com", "Referer", site + "/page"}, false},
			{"relative Referer", []string{"Referer", "/page"}, false},
		}
		for _, tgt := range targets {
			for _, o := range origins {
				t.Run(strings.TrimPrefix(tgt.path, "/auth/")+"/"+o.name, func(t *testing.T) {
					noWrites(t, db, func() {
						w := tg.do(req("POST", tgt.path, tgt.body, append([]string{"Cookie", cookie}, o.headers...)...))
						want := errInvalidOrigin
						if o.missing {
							want = errMissingOrigin
						}
						wantCleanError(t, w, 403, want.code)
						if m := decodeJSON(t, w)["message"]; m != want.message {
							t.Errorf("message %q, want %q", m, want.message)
						}
					})
				})
			}
		}
		if w := tg.do(req("GET", "/private", "", "Cookie", cookie)); w.Code != 200 {
			t.Fatalf("the session did not survive the forged requests: %d", w.Code)
		}

		// Cookie-less sign-in and sign-up: fetch metadata and Origin rules.
		navigate := []string{"Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "navigate", "Sec-Fetch-Dest", "document"}
		forms := []struct {
			name string
			r    *http.Request
			code string
		}{
			{"sign-in, cross-site navigation", req("POST", "/auth/sign-in/email", `{"email":"alice@example.com","password":"password123"}`, navigate...), "CROSS_SITE_NAVIGATION_LOGIN_BLOCKED"},
			{"sign-up, cross-site navigation", req("POST", "/auth/sign-up/email", `{"name":"M","email":"m@example.com","password":"password123"}`, navigate...), "CROSS_SITE_NAVIGATION_LOGIN_BLOCKED"},
			{"sign-in, cross-site navigation with a trusted Origin", req("POST", "/auth/sign-in/email", `{"email":"alice@example.com","password":"password123"}`, append([]string{"Origin", "https://trusted.example.com"}, navigate...)...), "CROSS_SITE_NAVIGATION_LOGIN_BLOCKED"},
			{"sign-in, cross-site fetch from an untrusted Origin", req("POST", "/auth/sign-in/email", `{"email":"alice@example.com","password":"password123"}`, "Origin", "http://evil.com", "Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "cors"), "INVALID_ORIGIN"},
			{"sign-in, same-site fetch from an untrusted Origin", req("POST", "/auth/sign-in/email", `{"email":"alice@example.com","password":"password123"}`, "Origin", "http://evil.com", "Sec-Fetch-Site", "same-site"), "INVALID_ORIGIN"},
			{"sign-in, untrusted Origin without metadata", req("POST", "/auth/sign-in/email", `{"email":"alice@example.com","password":"password123"}`, "Origin", "http://evil.com"), "INVALID_ORIGIN"},
			{"sign-up, untrusted Referer without metadata", req("POST", "/auth/sign-up/email", `{"name":"M","email":"m@example.com","password":"password123"}`, "Referer", "http://evil.com/"), "INVALID_ORIGIN"},
		}
		navForm := func(path, body string) *http.Request {
			r := formRequest(path, body)
			for i := 0; i < len(navigate); i += 2 {
				r.Header.Set(navigate[i], navigate[i+1])
			}
			return r
		}
		forms = append(forms,
			struct {
				name string
				r    *http.Request
				code string
			}{"sign-in form, cross-site navigation", navForm("/auth/sign-in/email", "email=alice%40example.com&password=password123"), "CROSS_SITE_NAVIGATION_LOGIN_BLOCKED"},
			struct {
				name string
				r    *http.Request
				code string
			}{"sign-up form, cross-site navigation", navForm("/auth/sign-up/email", "name=M&email=m%40example.com&password=password123"), "CROSS_SITE_NAVIGATION_LOGIN_BLOCKED"},
		)
		for _, f := range forms {
			t.Run(f.name, func(t *testing.T) {
				noWrites(t, db, func() { wantCleanError(t, tg.do(f.r), 403, f.code) })
			})
		}
		// The legitimate forms of the same requests still work.
		if w := tg.do(req("POST", "/auth/sign-out", "", "Cookie", "better-auth.session_token=x", "Origin", "null", "Sec-Fetch-Site", "same-origin")); w.Code != 200 {
			t.Errorf("same-origin request with Origin null: %d %s", w.Code, w.Body)
		}
		if w := tg.do(req("POST", "/auth/sign-out", "", "Cookie", "better-auth.session_token=x", "Referer", "https://a.wild.example/page")); w.Code != 200 {
			t.Errorf("trusted wildcard Referer: %d %s", w.Code, w.Body)
		}
	})
}

// TestHostile_ConcurrentSignUpsOfOneEmail: 100 sign-ups
// of one address at once, in several spellings, make exactly one user with
// one credential account. The rest are told the address is taken, or are
// shed by the hashing pool; none is a 500.
func TestHostile_ConcurrentSignUpsOfOneEmail(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		tg := newTestGate(t, dsn, "rate_limit off")
		spellings := []string{"race@example.com", "RACE@example.com", " race@Example.COM ", "Race@EXAMPLE.com"}
		const n = 100
		answers := make([]*httptest.ResponseRecorder, n)
		errs := make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				body, _ := json.Marshal(map[string]string{"name": fmt.Sprint("Racer ", i), "email": spellings[i%len(spellings)], "password": "password123"})
				<-start
				answers[i], errs[i] = serveOnce(tg.g, tg.next, req("POST", "/auth/sign-up/email", string(body)))
			}()
		}
		close(start)
		wg.Wait()
		counts := map[string]int{}
		for i, w := range answers {
			if errs[i] != nil {
				t.Fatalf("ServeHTTP: %v", errs[i])
			}
			code, _ := jsonField(w.Body.Bytes(), "code")
			counts[fmt.Sprint(w.Code, " ", code)]++
			switch {
			case w.Code == 200:
			case w.Code == 422 && code == "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL":
			case w.Code == 503 && code == "SERVER_BUSY" && w.Header().Get("Retry-After") != "":
			default:
				t.Errorf("sign-up %d: %d %s", i, w.Code, w.Body)
			}
		}
		t.Logf("answers: %v", counts)
		if counts["200 "] != 1 {
			t.Errorf("%d sign-ups succeeded, want exactly 1", counts["200 "])
		}
		if counts["422 USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL"] == 0 {
			t.Errorf("no sign-up reached the database after the first: the race was not run")
		}
		db := testsupport.OpenDB(t, dsn)
		var users, accounts, sessions int
		if err := db.Get(&users, `SELECT count(*) FROM "user" WHERE lower("email") = 'race@example.com'`); err != nil {
			t.Fatal(err)
		}
		if err := db.Get(&accounts, `SELECT count(*) FROM "account" WHERE "providerId" = 'credential'`); err != nil {
			t.Fatal(err)
		}
		if err := db.Get(&sessions, `SELECT count(*) FROM "session"`); err != nil {
			t.Fatal(err)
		}
		if users != 1 || accounts != 1 || sessions != 1 || rowCount(t, db, "user") != 1 {
			t.Errorf("%d users, %d credential accounts, %d sessions; want one of each", users, accounts, sessions)
		}
	})
}

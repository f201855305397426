package caddyauth

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/authgate/authgate/caddyauth/internal/emailaddr"
)

// maxBodyBytes bounds every auth API request body; beyond it, 413.
const maxBodyBytes = 64 << 10

// writeJSON sends v the way JSON.stringify would: no HTML escaping.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only our own types are encoded here; failing is a bug, but the
		// client still deserves a well-formed answer.
		buf.Reset()
		buf.WriteString(`{"message":"Internal Server Error","code":"INTERNAL_SERVER_ERROR"}`)
		status = http.StatusInternalServerError
	}
	b := bytes.TrimRight(buf.Bytes(), "\n")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeAPIError(w http.ResponseWriter, e *apiError) {
	if e.status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", retryAfterValue)
	}
	// Better Auth's APIError.fromStatus(status), thrown without a body, is
	// answered without one: the client's error is then the status alone.
	if e.code == "" && e.message == "" {
		w.WriteHeader(e.status)
		return
	}
	body := struct {
		Message string `json:"message"`
		Code    string `json:"code,omitempty"`
	}{e.message, e.code}
	writeJSON(w, e.status, body)
}

// body is a decoded request body: the top-level fields of a JSON object, or
// the values of a form. Field access mirrors the zod schemas of Better Auth,
// including its error messages ("[body.email] Invalid email address").
type body struct {
	fields map[string]json.RawMessage
	form   url.Values // non-nil for application/x-www-form-urlencoded
	issues []string
}

var errNoBody = errors.New("no body")

// readBody decodes the request body. allowForm permits form encoding (only
// sign-in and sign-up accept it). A missing body is an empty object, as
// Better Auth treats `body = undefined` for schema checks.
func readBody(w http.ResponseWriter, r *http.Request, allowForm bool) (*body, *apiError) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errBodyTooLarge
		}
		return nil, newAPIError(http.StatusBadRequest, "BAD_REQUEST", "Could not read request body")
	}
	b := &body{}
	if len(bytes.TrimSpace(raw)) == 0 {
		return b, nil
	}
	allowed := "application/json"
	if allowForm {
		allowed = "application/x-www-form-urlencoded, application/json"
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return nil, newAPIError(http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE", "Content-Type is required. Allowed types: "+allowed)
	}
	switch mt := mediaType(ct); {
	case mt == "application/json":
		if err := json.Unmarshal(raw, &b.fields); err != nil {
			var typeErr *json.UnmarshalTypeError
			if errors.As(err, &typeErr) {
				return nil, errBodyMustBeObject
			}
			return nil, errInvalidJSON
		}
		if b.fields == nil { // the literal null
			return nil, errBodyMustBeObject
		}
	case allowForm && mt == "application/x-www-form-urlencoded":
		b.form = parseForm(raw)
	default:
		return nil, newAPIError(http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE",
			fmt.Sprintf("Content-Type %q is not allowed. Allowed types: %s", ct, allowed))
	}
	return b, nil
}

// mediaType is better-call's reading of a Content-Type: the part before the
// first ';', trimmed and lower-cased. Parameters are ignored, malformed ones
// too, where mime.ParseMediaType would refuse the whole header.
func mediaType(ct string) string {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return strings.ToLower(strings.TrimSpace(ct))
}

// parseForm reads an application/x-www-form-urlencoded body as
// URLSearchParams does (WHATWG URL, section 5.1), which is how Better Auth
// reads it: it never fails. A '%' not followed by two hex digits stays as it
// is, ';' is an ordinary character, '+' is a space, and bytes that are not
// UTF-8 become U+FFFD, as they do in a JSON body; so no form value can carry
// invalid UTF-8 into a text column, which PostgreSQL would refuse.
func parseForm(raw []byte) url.Values {
	form := url.Values{}
	for _, pair := range bytes.Split(raw, []byte("&")) {
		if len(pair) == 0 {
			continue
		}
		name, value, _ := bytes.Cut(pair, []byte("="))
		form.Add(formDecode(name), formDecode(value))
	}
	return form
}

// formDecode is the percent-decoding and UTF-8 decoding of one form name or
// value.
func formDecode(s []byte) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '+' {
			c = ' '
		} else if c == '%' && i+2 < len(s) {
			var b [1]byte
			if _, err := hex.Decode(b[:], s[i+1:i+3]); err == nil {
				c = b[0]
				i += 2
			}
		}
		out = append(out, c)
	}
	if utf8.Valid(out) {
		return string(out)
	}
	// Each byte that starts no valid sequence becomes one U+FFFD, as
	// encoding/json does with a JSON body.
	var sb strings.Builder
	for len(out) > 0 {
		r, n := utf8.DecodeRune(out)
		if r == utf8.RuneError && n == 1 {
			sb.WriteString("\uFFFD")
		} else {
			sb.Write(out[:n])
		}
		out = out[n:]
	}
	return sb.String()
}

// jsonKind names a JSON value's type the way zod reports it.
func jsonKind(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "undefined"
	}
	switch raw[0] {
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	case '[':
		return "array"
	case '{':
		return "object"
	default:
		return "number"
	}
}

func (b *body) has(name string) bool {
	if b.form != nil {
		_, ok := b.form[name]
		return ok
	}
	_, ok := b.fields[name]
	return ok
}

// str reads a string field. A missing required field or a wrong type is
// recorded as a zod-style issue and "" is returned. Of a form field given
// more than once, the last value counts, as in Better Auth.
func (b *body) str(name string, required bool) (string, bool) {
	var s string
	if b.form != nil {
		v, ok := b.form[name]
		if !ok {
			if required {
				b.issue(name, "Invalid input: expected string, received undefined")
			}
			return "", false
		}
		s = v[len(v)-1]
	} else {
		raw, ok := b.fields[name]
		if !ok {
			if required {
				b.issue(name, "Invalid input: expected string, received undefined")
			}
			return "", false
		}
		if kind := jsonKind(raw); kind != "string" || json.Unmarshal(raw, &s) != nil {
			b.issue(name, "Invalid input: expected string, received "+kind)
			return "", false
		}
	}
	if !nulAllowed[name] && strings.IndexByte(s, 0) >= 0 {
		b.issue(name, "Invalid input: must not contain NUL characters")
		return "", false
	}
	return s, true
}

// nulAllowed names the fields that may carry U+0000. Any other string may
// reach a text column or a lookup, where PostgreSQL refuses a NUL (a 500)
// while SQLite stores it; it is refused up front, the same on both. These
// keep it, as in Better Auth: passwords are only ever hashed, and emails
// and redirect targets meet their own checks, which answer with Better
// Auth's errors.
var nulAllowed = map[string]bool{
	"password": true, "newPassword": true, "currentPassword": true,
	"email": true, "callbackURL": true, "redirectTo": true,
}

// optBool reads an optional boolean field; forms carry "true"/"false"/"on".
func (b *body) optBool(name string) (val, present bool) {
	if b.form != nil {
		v, ok := b.form[name]
		if !ok {
			return false, false
		}
		switch strings.ToLower(v[len(v)-1]) {
		case "true", "on", "1":
			return true, true
		case "false", "off", "0", "":
			return false, true
		}
		b.issue(name, "Invalid input: expected boolean, received string")
		return false, false
	}
	raw, ok := b.fields[name]
	if !ok {
		return false, false
	}
	if kind := jsonKind(raw); kind != "boolean" {
		b.issue(name, "Invalid input: expected boolean, received "+kind)
		return false, false
	}
	return bytes.HasPrefix(bytes.TrimSpace(raw), []byte("true")), true
}

// email reads a required email field, trimmed and lower-cased, and records
// zod's "Invalid email address" issue when it is not one.
func (b *body) email(name string) string {
	raw, ok := b.str(name, true)
	email := emailaddr.Normalize(raw)
	if ok && !emailaddr.Valid(email) {
		b.issue(name, "Invalid email address")
	}
	return email
}

// isNull reports whether a JSON field is present and null.
func (b *body) isNull(name string) bool {
	if b.form != nil {
		return false
	}
	raw, ok := b.fields[name]
	return ok && jsonKind(raw) == "null"
}

func (b *body) issue(name, msg string) {
	b.issues = append(b.issues, "[body."+name+"] "+msg)
}

// err is the VALIDATION_ERROR for the recorded issues, or nil.
func (b *body) err() *apiError {
	if len(b.issues) == 0 {
		return nil
	}
	return newAPIError(http.StatusBadRequest, "VALIDATION_ERROR", strings.Join(b.issues, "; "))
}

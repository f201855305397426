package caddyauth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/authgate/authgate/store"
)

// maxBodyBytes bounds every auth API request body (SPEC §2).
const maxBodyBytes = 64 << 10

// jsTime marshals like JavaScript's Date.prototype.toJSON: UTC, millisecond
// precision, trailing Z.
type jsTime time.Time

func (t jsTime) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Time(t).UTC().Format("2006-01-02T15:04:05.000Z") + `"`), nil
}

// UnmarshalJSON reads the same form back (webhook receivers in tests).
func (t *jsTime) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	*t = jsTime(v)
	return err
}

// userJSON and sessionJSON are Better Auth's User and Session objects.
type userJSON struct {
	ID            string  `json:"id"`
	Name          string  `json:"name"`
	Email         string  `json:"email"`
	EmailVerified bool    `json:"emailVerified"`
	Image         *string `json:"image"`
	CreatedAt     jsTime  `json:"createdAt"`
	UpdatedAt     jsTime  `json:"updatedAt"`
}

type sessionJSON struct {
	ID        string  `json:"id"`
	Token     string  `json:"token"`
	UserID    string  `json:"userId"`
	ExpiresAt jsTime  `json:"expiresAt"`
	CreatedAt jsTime  `json:"createdAt"`
	UpdatedAt jsTime  `json:"updatedAt"`
	IPAddress *string `json:"ipAddress"`
	UserAgent *string `json:"userAgent"`
}

func toUserJSON(u store.User) userJSON {
	return userJSON{u.ID, u.Name, u.Email, u.EmailVerified, u.Image, jsTime(u.CreatedAt), jsTime(u.UpdatedAt)}
}

func toSessionJSON(s store.Session) sessionJSON {
	return sessionJSON{s.ID, s.Token, s.UserID, jsTime(s.ExpiresAt), jsTime(s.CreatedAt), jsTime(s.UpdatedAt), s.IPAddress, s.UserAgent}
}

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
	mt, _, err := mime.ParseMediaType(ct)
	switch {
	case err == nil && mt == "application/json":
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
	case err == nil && allowForm && mt == "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(raw))
		if err != nil {
			return nil, newAPIError(http.StatusBadRequest, "BAD_REQUEST", "Invalid form body")
		}
		b.form = form
	default:
		return nil, newAPIError(http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE",
			fmt.Sprintf("Content-Type %q is not allowed. Allowed types: %s", ct, allowed))
	}
	return b, nil
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
// recorded as a zod-style issue and "" is returned.
func (b *body) str(name string, required bool) (string, bool) {
	if b.form != nil {
		v, ok := b.form[name]
		if !ok {
			if required {
				b.issue(name, "Invalid input: expected string, received undefined")
			}
			return "", false
		}
		return v[0], true
	}
	raw, ok := b.fields[name]
	if !ok {
		if required {
			b.issue(name, "Invalid input: expected string, received undefined")
		}
		return "", false
	}
	var s string
	if kind := jsonKind(raw); kind != "string" || json.Unmarshal(raw, &s) != nil {
		b.issue(name, "Invalid input: expected string, received "+kind)
		return "", false
	}
	return s, true
}

// optBool reads an optional boolean field; forms carry "true"/"false"/"on".
func (b *body) optBool(name string) (val, present bool) {
	if b.form != nil {
		v, ok := b.form[name]
		if !ok {
			return false, false
		}
		switch strings.ToLower(v[0]) {
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

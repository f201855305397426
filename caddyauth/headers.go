package caddyauth

import (
	"net/http"

	"github.com/authgate/authgate/caddyauth/internal/bacodec"
)

// identityHeaderValue makes v safe to forward in a request header: every
// byte outside printable ASCII (0x20-0x7E), and '%' itself, becomes %XX
// (upper-case hex). CR, LF and NUL can then never reach the upstream, and the
// app gets the exact value back with urllib.parse.unquote (or any
// percent-decoder) whatever it contains; plain ASCII without '%', the usual
// case, comes back as it is, without allocating.
func identityHeaderValue(v string) string {
	return bacodec.PercentEncode(v, headerByteNeedsEscape)
}

func headerByteNeedsEscape(c byte) bool {
	return c < 0x20 || c > 0x7e || c == '%'
}

// normalizeHeaderName lower-cases name and maps '_' to '-': the form under
// which WSGI and ASGI servers treat X-User-Id, x-user-id and X_User_Id alike.
// The set given to stripHeaders holds names in this form.
func normalizeHeaderName(name string) string {
	b := []byte(name)
	for i, c := range b {
		b[i] = normalizeHeaderByte(c)
	}
	return string(b)
}

// headerNameSet returns the set of the normalised forms of names, for
// stripHeaders. It is built once, when the handler is provisioned.
func headerNameSet(names ...string) map[string]struct{} {
	set := make(map[string]struct{}, len(names))
	for _, n := range names {
		set[normalizeHeaderName(n)] = struct{}{}
	}
	return set
}

func normalizeHeaderByte(c byte) byte {
	switch {
	case 'A' <= c && c <= 'Z':
		return c + ('a' - 'A')
	case c == '_':
		return '-'
	}
	return c
}

// stripHeaders deletes from h every header whose normalised name is in
// normalized (see normalizeHeaderName). Matching the normalised name, not
// only the canonical one, matters: Go keeps a key like "X_user_id" apart
// from "X-User-Id", but the app behind a WSGI or ASGI server sees both as
// the same variable, so a client could otherwise smuggle in an identity.
//
// It runs on every gated request, so it never allocates: it normalises each
// key into a stack buffer for the map lookup, and compares the rare longer
// key with each name byte by byte.
func stripHeaders(h http.Header, normalized map[string]struct{}) {
	if len(normalized) == 0 {
		return
	}
	var buf [64]byte
	for key := range h {
		var hit bool
		if len(key) <= len(buf) {
			n := copy(buf[:], key)
			for i := range n {
				buf[i] = normalizeHeaderByte(buf[i])
			}
			// The compiler does not allocate for a string(bytes) map key.
			_, hit = normalized[string(buf[:n])]
		} else {
			for name := range normalized {
				if headerNameMatches(key, name) {
					hit = true
					break
				}
			}
		}
		if hit {
			delete(h, key)
		}
	}
}

// headerNameMatches reports whether key normalises to normalized.
func headerNameMatches(key, normalized string) bool {
	if len(key) != len(normalized) {
		return false
	}
	for i := 0; i < len(key); i++ {
		if normalizeHeaderByte(key[i]) != normalized[i] {
			return false
		}
	}
	return true
}

package caddyauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"net/http"
	"net/textproto"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/authgate/authgate/caddyauth/internal/jwks"
	"github.com/authgate/authgate/caddyauth/internal/wire"
	"github.com/authgate/authgate/store"
)

// Assertion configures the signed identity assertion (SPEC §12): a JWT
// added to every request passed on with a session, so that the app can check
// who is calling instead of trusting plain headers. Needs BaseURL, the
// token's issuer. The public keys are served at `<base_path>/jwks`.
type Assertion struct {
	// Header carries the token to the next handler. Client-sent copies are
	// removed like the identity headers. Default: `X-Auth-Assertion`.
	Header string `json:"header,omitempty"`
	// Audience is the token's `aud` claim. Default: BaseURL's origin.
	Audience string `json:"audience,omitempty"`
	// TTL is the token's lifetime. Default: 60 s; at most 10 minutes.
	TTL caddy.Duration `json:"ttl,omitempty"`
}

const (
	defaultAssertionHeader = "X-Auth-Assertion"
	defaultAssertionTTL    = 60 * time.Second
	maxAssertionTTL        = 10 * time.Minute
	// betterAuthJWTLifetime is Better Auth's jwt plugin default for /token
	// and set-auth-jwt.
	betterAuthJWTLifetime = 15 * time.Minute
	// keyReload is how long a loaded key set signs before the table is read
	// again, so that a key rotated in elsewhere is picked up.
	keyReload = 30 * time.Second
	// renewMargin: a cached assertion is replaced once it has less than
	// this left (or a quarter of its lifetime, when that is shorter), so
	// that the app never receives one about to expire.
	renewMargin = 30 * time.Second
	// assertionsPerShard bounds the cache of signed assertions.
	assertionsPerShard = 4096
)

// assertionState is what the gate keeps for signed tokens: configured
// when assertion or jwt is on.
type assertionState struct {
	header       string // canonical key of the assertion header; "" when only jwt is on
	issuer       string
	audience     string
	ttl          time.Duration
	jwtEndpoints bool // jwt: /token and set-auth-jwt as Better Auth's plugin
	keys         *keyManager
	cache        assertionCache
}

// provisionAssertion checks and sets up the assertion and the jwt plugin's
// endpoints. It runs after provisionConfig, whose base URL and header set
// it uses.
func (g *Gate) provisionAssertion(repl *caddy.Replacer) error {
	if g.Assertion == nil && !g.JWT {
		return nil
	}
	if g.cfg.baseURL == nil {
		return errors.New("base_url: required when assertion or jwt is set: it is the tokens' issuer (iss), which the app checks (e.g. base_url https://app.example.com)")
	}
	origin := g.cfg.baseURL.Scheme + "://" + g.cfg.baseURL.Host
	a := &assertionState{issuer: origin, audience: origin, ttl: defaultAssertionTTL, jwtEndpoints: g.JWT}
	a.cache.seed = maphash.MakeSeed()
	if as := g.Assertion; as != nil {
		h := as.Header
		if h == "" {
			h = defaultAssertionHeader
		}
		if !validHeaderName(h) {
			return fmt.Errorf("assertion: %q is not a valid header name", h)
		}
		if _, clash := g.cfg.headerSet[normalizeHeaderName(h)]; clash {
			return fmt.Errorf("assertion: header %q is already an identity header", h)
		}
		a.header = textproto.CanonicalMIMEHeaderKey(h)
		if as.Audience != "" {
			a.audience = repl.ReplaceAll(as.Audience, "")
		}
		if as.TTL != 0 {
			a.ttl = time.Duration(as.TTL)
		}
		if a.ttl < time.Second || a.ttl > maxAssertionTTL {
			return fmt.Errorf("assertion: ttl must be between 1s and %v, got %v", maxAssertionTTL, a.ttl)
		}
		// The strip set covers headers and trailers alike: no client-sent
		// copy, in any spelling, reaches the app.
		g.cfg.headerSet[normalizeHeaderName(h)] = struct{}{}
	}
	a.keys = &keyManager{st: g.store, secrets: g.cfg.keys, logger: g.logger}
	g.assert = a
	return nil
}

// roleClaim is the assertion's role claim, as X-User-Role says it: the
// comma list, "user" when empty or without a role column.
func (a *authResult) roleClaim() string { return effectiveRole(a.user.Role) }

// addAssertion sets the assertion header on a request passed on with a
// session. An error means no token could be signed (the key table cannot
// be read): the request must not go on without it.
func (g *Gate) addAssertion(r *http.Request, res *authResult) error {
	a := g.assert
	if a == nil || a.header == "" {
		return nil
	}
	tok, err := a.tokenFor(r.Context(), res, now())
	if err != nil {
		return err
	}
	r.Header[a.header] = []string{tok}
	return nil
}

// assertionClaims are the assertion's claims, in this order.
type assertionClaims struct {
	Iss           string `json:"iss"`
	Aud           string `json:"aud"`
	Sub           string `json:"sub"`
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
	Name          string `json:"name"`
	Role          string `json:"role"`
	Sid           string `json:"sid"`
	Iat           int64  `json:"iat"`
	Exp           int64  `json:"exp"`
}

// tokenFor returns the session's assertion: the cached one while it says
// the same and has more than the renewal margin left, else a new one.
func (a *assertionState) tokenFor(ctx context.Context, res *authResult, t time.Time) (string, error) {
	role := res.roleClaim()
	n := t.UnixNano()
	if tok := a.cache.get(res.session.ID, &res.ident.header, role, n); tok != "" {
		return tok, nil
	}
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	k, err := a.keys.signer(ctx, t)
	if err != nil {
		return "", err
	}
	iat := t.Unix()
	exp := iat + int64((a.ttl+time.Second-1)/time.Second)
	payload, err := json.Marshal(assertionClaims{
		Iss: a.issuer, Aud: a.audience, Sub: res.user.ID, Email: res.user.Email,
		EmailVerified: res.user.EmailVerified, Name: res.user.Name, Role: role,
		Sid: res.session.ID, Iat: iat, Exp: exp,
	})
	if err != nil {
		return "", fmt.Errorf("assertion claims: %w", err)
	}
	tok := k.Sign(payload)
	margin := min(renewMargin, a.ttl/4)
	a.cache.put(res.session.ID, &cachedAssertion{
		ident: res.ident.header, role: role, token: tok,
		from: n, renewAt: time.Unix(exp, 0).Add(-margin).UnixNano(),
	})
	return tok, nil
}

// assertionCache keeps one signed assertion per session id, so that a
// session's requests share a token until it nears its end: signing costs
// far more than the rest of a cached request. Lookups take a read lock and
// do not allocate.
type assertionCache struct {
	seed   maphash.Seed
	shards [16]assertionShard
}

type assertionShard struct {
	mu sync.RWMutex
	m  map[string]*cachedAssertion
	_  [40]byte // keeps neighbouring shards' locks off one cache line
}

// cachedAssertion is immutable once stored.
type cachedAssertion struct {
	ident   [identityFields]string // the identity the token states, as the headers say it
	role    string
	token   string
	from    int64 // UnixNano of signing: a clock that went back misses
	renewAt int64 // UnixNano
}

func (c *assertionCache) shard(sid string) *assertionShard {
	return &c.shards[maphash.String(c.seed, sid)&(uint64(len(c.shards))-1)]
}

// get returns the cached token of session sid if it states ident and role
// and is still good at n, else "". A changed name, email, verification or
// role therefore gets a new token at once.
func (c *assertionCache) get(sid string, ident *[identityFields]string, role string, n int64) string {
	s := c.shard(sid)
	s.mu.RLock()
	e := s.m[sid]
	s.mu.RUnlock()
	if e == nil || n < e.from || n >= e.renewAt || e.ident != *ident || e.role != role {
		return ""
	}
	return e.token
}

func (c *assertionCache) put(sid string, e *cachedAssertion) {
	s := c.shard(sid)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[string]*cachedAssertion)
	}
	if len(s.m) >= assertionsPerShard {
		for k, v := range s.m {
			if e.from >= v.renewAt {
				delete(s.m, k)
			}
		}
		if len(s.m) >= assertionsPerShard {
			clear(s.m) // all live: costs a re-sign each, not correctness
		}
	}
	s.m[sid] = e
}

// keyManager reads, caches and creates the signing keys of the "jwks"
// table. Several instances may share the table: a key another one adds is
// picked up within keyReload, and two instances that create a first key at
// once both publish theirs, so that tokens signed with either verify.
type keyManager struct {
	st      func() *store.Store
	secrets [][]byte
	logger  *zap.Logger

	snap       atomic.Pointer[keySnapshot]
	mu         sync.Mutex // serialises reads of the table and key creation
	tableReady atomic.Bool
}

type keySnapshot struct {
	set    *jwks.Set
	loaded time.Time
}

// signer returns the key to sign with at t, reading the table when the
// cached set is older than keyReload, and making the first key when there
// is none that can sign.
func (m *keyManager) signer(ctx context.Context, t time.Time) (*jwks.Key, error) {
	if k := m.cachedSigner(t); k != nil {
		return k, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if k := m.cachedSigner(t); k != nil { // another request read it meanwhile
		return k, nil
	}
	s, err := m.load(ctx, t)
	if err != nil {
		if old := m.snap.Load(); old != nil {
			if k := old.set.Signer(t, jwks.Settle); k != nil {
				// Keep signing with what is known, and try again after
				// keyReload rather than on every request.
				m.snap.Store(&keySnapshot{set: old.set, loaded: t})
				m.logger.Warn("signing keys could not be re-read; still using the loaded ones", zap.Error(err))
				return k, nil
			}
		}
		return nil, err
	}
	if k := s.set.Signer(t, jwks.Settle); k != nil {
		return k, nil
	}
	if len(s.set.Unusable) > 0 {
		m.logger.Warn("no signing key in table jwks can sign here (a changed secret?); adding a new key",
			zap.Errors("unusable_keys", s.set.Unusable))
	}
	if s, err = m.create(ctx, t); err != nil {
		return nil, err
	}
	if k := s.set.Signer(t, jwks.Settle); k != nil {
		return k, nil
	}
	return nil, errors.New("signing key: a new key was added but cannot sign")
}

func (m *keyManager) cachedSigner(t time.Time) *jwks.Key {
	s := m.snap.Load()
	if s == nil || t.Before(s.loaded) || t.Sub(s.loaded) >= keyReload {
		return nil
	}
	return s.set.Signer(t, jwks.Settle)
}

// load reads the table (creating it on first need) and caches the set.
// Called with mu held.
func (m *keyManager) load(ctx context.Context, t time.Time) (*keySnapshot, error) {
	st := m.st()
	if !m.tableReady.Load() {
		if err := st.EnsureJWKSTable(ctx); err != nil {
			return nil, err
		}
		m.tableReady.Store(true)
	}
	rows, err := st.JWKs(ctx)
	if err != nil {
		return nil, err
	}
	stored := make([]jwks.Stored, len(rows))
	for i, r := range rows {
		stored[i] = jwks.Stored(r)
	}
	s := &keySnapshot{set: jwks.Load(stored, m.secrets), loaded: t}
	m.snap.Store(s)
	return s, nil
}

// create adds a key, encrypted with the current secret, and reloads.
// Called with mu held.
func (m *keyManager) create(ctx context.Context, t time.Time) (*keySnapshot, error) {
	row, err := jwks.Generate(store.NewID(), m.secrets[0], t)
	if err != nil {
		return nil, err
	}
	if err := m.st().InsertJWK(ctx, store.JWK(row)); err != nil {
		return nil, err
	}
	m.logger.Info("added a signing key", zap.String("kid", row.ID))
	return m.load(ctx, t)
}

// jwksDocument is the key set as GET /jwks serves it, read fresh from the
// table; an empty table gets its first key, as Better Auth does.
func (m *keyManager) jwksDocument(ctx context.Context, t time.Time) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := m.load(ctx, t)
	if err == nil && len(s.set.Keys()) == 0 {
		s, err = m.create(ctx, t)
	}
	if err != nil {
		return nil, err
	}
	return s.set.JWKS(t, jwks.Grace)
}

// jwtRoutes are Better Auth's jwt plugin endpoints.
var jwtRoutes = map[string]apiHandler{
	"GET /jwks":  (*Gate).handleJWKS,
	"GET /token": (*Gate).handleToken,
}

func init() {
	for k, h := range jwtRoutes {
		routes[k] = h
	}
}

// errNoRoute is Better Auth's answer to a path it has no endpoint for.
var errNoRoute = &apiError{status: http.StatusNotFound}

// handleJWKS is GET /jwks: the public keys, in Better Auth's format, served
// whenever assertion or jwt is on (verifiers need them).
func (g *Gate) handleJWKS(w http.ResponseWriter, r *http.Request) *apiError {
	if g.assert == nil {
		return errNoRoute
	}
	doc, err := g.assert.keys.jwksDocument(r.Context(), now())
	if err != nil {
		return g.storeError(r, opSigningKeys, err)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	// A new key signs only once published for jwks.Settle: a cache that
	// keeps the set no longer than that never lacks a key in use.
	h.Set("Cache-Control", "public, max-age="+strconv.Itoa(int(jwks.Settle/time.Second)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(doc)
	return nil
}

// handleToken is GET /token: `{"token": <jwt>}` for the session, as Better
// Auth's jwt plugin; only with jwt on.
func (g *Gate) handleToken(w http.ResponseWriter, r *http.Request) *apiError {
	if g.assert == nil || !g.assert.jwtEndpoints {
		return errNoRoute
	}
	res, e := g.requireSession(w, r)
	if e != nil {
		return e
	}
	tok, err := g.assert.betterAuthToken(r.Context(), res, now())
	if err != nil {
		return g.storeError(r, opSigningKeys, err)
	}
	writeJSON(w, http.StatusOK, map[string]string{"token": tok})
	return nil
}

// setAuthJWT adds Better Auth's set-auth-jwt header to a get-session answer
// that has a session, with jwt on. A signing failure leaves it out: the
// session answer matters more than the token.
func (g *Gate) setAuthJWT(w http.ResponseWriter, r *http.Request, res *authResult) {
	if g.assert == nil || !g.assert.jwtEndpoints {
		return
	}
	tok, err := g.assert.betterAuthToken(r.Context(), res, now())
	if err != nil {
		storeErrorOps[opSigningKeys].Inc()
		g.logger.Error("set-auth-jwt: no token signed", zap.Error(err))
		return
	}
	w.Header().Set("Set-Auth-Jwt", tok)
	exposeHeader(w.Header(), "set-auth-jwt")
}

// betterAuthClaims is the payload of Better Auth's getJwtToken, in its
// order: iat, the whole user object (plugin fields included), sub, then
// exp, iss and aud as jose's SignJWT appends them. The user object is
// spliced in as it marshals itself: embedded in a struct, its MarshalJSON
// would be promoted and swallow the other claims.
func betterAuthClaims(iat int64, user wire.User, sub string, exp int64, iss, aud string) ([]byte, error) {
	// As JSON.stringify writes it: no HTML escaping of <, > and &.
	u, err := user.MarshalJSON()
	if err != nil {
		return nil, err
	}
	tail, err := json.Marshal(struct {
		Sub string `json:"sub"`
		Exp int64  `json:"exp"`
		Iss string `json:"iss"`
		Aud string `json:"aud"`
	}{sub, exp, iss, aud})
	if err != nil {
		return nil, err
	}
	out := fmt.Appendf(nil, `{"iat":%d,`, iat)
	out = append(out, u[1:len(u)-1]...)
	out = append(out, ',')
	return append(out, tail[1:]...), nil
}

// betterAuthToken signs the token of Better Auth's /token and set-auth-jwt:
// 15 minutes, issuer and audience the base URL's origin.
func (a *assertionState) betterAuthToken(ctx context.Context, res *authResult, t time.Time) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	k, err := a.keys.signer(ctx, t)
	if err != nil {
		return "", err
	}
	iat := t.Unix()
	payload, err := betterAuthClaims(iat, wire.FromUser(res.user), res.user.ID,
		iat+int64(betterAuthJWTLifetime/time.Second), a.issuer, a.issuer)
	if err != nil {
		return "", fmt.Errorf("token claims: %w", err)
	}
	return k.Sign(payload), nil
}

// unmarshalAssertion parses
//
//	assertion [<header>] [{
//		audience <aud>
//		ttl      <duration>
//	}]
func (g *Gate) unmarshalAssertion(d *caddyfile.Dispenser) error {
	a := &Assertion{}
	if d.NextArg() {
		a.Header = d.Val()
		if d.NextArg() {
			return d.Errf("assertion: expects at most one header name")
		}
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		key := d.Val()
		var v string
		if !d.AllArgs(&v) {
			return d.Errf("assertion: %s expects exactly one value", key)
		}
		switch key {
		case "audience":
			a.Audience = v
		case "ttl":
			dur, err := caddy.ParseDuration(v)
			if err != nil {
				return d.Errf("assertion: ttl: invalid duration %q", v)
			}
			a.TTL = caddy.Duration(dur)
		default:
			return d.Errf("assertion: unknown key %q (audience, ttl)", key)
		}
	}
	g.Assertion = a
	return nil
}

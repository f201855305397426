package caddyauth

import (
	"container/heap"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"hash/maphash"
	"net/http"
	"net/netip"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
)

// Rate limiting follows Better Auth 1.7.25's limiter (api/rate-limiter):
//
//   - It runs for every request under base_path before routing, as Better
//     Auth's router-wide onRequest hook does: unknown paths and wrong methods
//     count too, and an over-limit client gets 429 even where it would have
//     got 404.
//   - The key is "<client ip>|<path relative to base_path>", so each endpoint
//     has its own counter per client. The client IP is Caddy's (it honours
//     the server's trusted_proxies, so a forwarded-for header from an
//     untrusted peer is ignored); IPv6 addresses count per /64, as Better
//     Auth normalises them. Paths that are no route share one counter per
//     client and rule, so that a scan of random paths cannot mint a key per
//     request.
//   - Sign-in is also limited per email address and client IP together, with
//     the limit of the sign-in path, counting failed attempts only: wrong
//     passwords from one client never lock the owner out from another (SPEC
//     §6). The key holds an HMAC of the address, never the address itself.
//   - The algorithm: when the last counted request is a window or more ago,
//     the count restarts at 1; otherwise a count at max denies, and anything
//     else counts the request and makes it the last one (so the window slides
//     with every allowed request). A denial answers 429 with X-Retry-After,
//     the seconds (rounded up) until a window has passed since the last
//     counted request, and Better Auth's message-only body.
//
// Where SPEC §6 differs from Better Auth, SPEC wins: request-password-reset
// has a 10 s window (Better Auth: 60 s). send-verification-email, which SPEC
// does not list, keeps Better Auth's stricter treatment with SPEC's window
// (3 per 10 s): it sends email, which a general 100 per 10 s would make an
// inbox-flooding tool.

const (
	defaultRateWindow = 10 * time.Second
	defaultRateMax    = 100
	// maxRateMax keeps counts within a 32-bit integer column.
	maxRateMax = 1_000_000_000

	// memoryLimitKeys bounds the keys the memory store counts one by one.
	// An entry takes about 200 bytes, so the store stays under ~25 MB.
	memoryLimitKeys = 100_000
	// overflowBuckets is how many counters per limit share the newcomers
	// while the memory store is full (memoryLimitStore).
	overflowBuckets = 1024
	// databaseSweepInterval is how often an instance deletes old counter
	// rows from the database.
	databaseSweepInterval = time.Minute
	// storeWarnInterval spaces out the warnings about a failing database
	// store, which would otherwise come with every request of an outage.
	storeWarnInterval = time.Minute

	// A client whose raw bearer tokens miss the database this often within
	// the window has its further unknown ones refused without a query
	// (allowTokenLookup). A client with a valid session makes no misses; one
	// with a stale token makes a few before it signs in again.
	tokenMissWindow = 10 * time.Second
	tokenMissMax    = 20

	rateLimitMessage = "Too many requests. Please try again later."
)

// defaultRateLimitRules are SPEC §6's stricter limits, matched after the
// configured rules and before the general limit.
var defaultRateLimitRules = []RateLimitRule{
	{Path: "/sign-in/*", Window: caddy.Duration(10 * time.Second), Max: 3},
	{Path: "/sign-up/*", Window: caddy.Duration(10 * time.Second), Max: 3},
	{Path: "/change-password", Window: caddy.Duration(10 * time.Second), Max: 3},
	{Path: "/change-email", Window: caddy.Duration(10 * time.Second), Max: 3},
	{Path: "/request-password-reset", Window: caddy.Duration(10 * time.Second), Max: 3},
	{Path: "/send-verification-email", Window: caddy.Duration(10 * time.Second), Max: 3},
}

// routePaths are the paths of the API's routes, whatever the method: their
// requests are counted per path.
var routePaths = func() map[string]bool {
	m := make(map[string]bool, len(routes))
	for k := range routes {
		_, p, _ := strings.Cut(k, " ")
		m[p] = true
	}
	return m
}()

// limitRule is a provisioned limit: at most max requests per window on the
// paths pattern matches. max 0 means no limit.
type limitRule struct {
	pattern string // "" for the general limit
	window  time.Duration
	max     int
}

// limitStore counts requests. hit counts one request against key and tells
// whether it is allowed, and if not, how long until it would be; undo takes
// back one allowed hit, counted with max.
type limitStore interface {
	hit(ctx context.Context, key string, window time.Duration, max int, t time.Time) (allowed bool, retryAfter time.Duration, err error)
	undo(ctx context.Context, key string, max int) error
}

// rateLimiter is the provisioned rate_limit configuration of one Gate.
type rateLimiter struct {
	general limitRule
	rules   []limitRule // configured rules first, then the defaults
	store   limitStore
	// local takes over when store is the database and fails: the limits then
	// hold per instance instead of not at all. The same as store for memory.
	local    *memoryLimitStore
	emailKey []byte // HMAC key for per-email keys
	logger   *zap.Logger
	warnedAt atomic.Int64 // unix nanoseconds of the last store warning
}

// provisionRateLimit checks the rate_limit configuration and builds the
// limiter; with `rate_limit off` there is none. It needs g.db and the keys.
func (g *Gate) provisionRateLimit() error {
	g.limiter = nil
	rl := g.RateLimit
	if rl == nil {
		rl = &RateLimit{}
	}
	if rl.Disabled {
		return nil
	}
	l := &rateLimiter{
		general: limitRule{window: durationOr(rl.Window, defaultRateWindow), max: rl.Max},
		logger:  g.logger,
		local:   newMemoryLimitStore(memoryLimitKeys),
	}
	if rl.Window < 0 {
		return fmt.Errorf("rate_limit: window must be positive")
	}
	switch {
	case rl.Max < 0 || rl.Max > maxRateMax:
		return fmt.Errorf("rate_limit: max must be between 1 and %d", maxRateMax)
	case rl.Max == 0:
		l.general.max = defaultRateMax
	}
	for _, r := range append(append([]RateLimitRule(nil), rl.Rules...), defaultRateLimitRules...) {
		p := r.Path
		if !strings.HasPrefix(p, "/") && !strings.HasPrefix(p, "*") {
			return fmt.Errorf("rate_limit: rule %q: the path must start with / (it is relative to base_path)", p)
		}
		if strings.HasPrefix(p, g.cfg.basePath+"/") {
			return fmt.Errorf("rate_limit: rule %q: the path is relative to base_path %s; leave the base path out", p, g.cfg.basePath)
		}
		if _, err := path.Match(p, "/"); err != nil {
			return fmt.Errorf("rate_limit: rule %q: %v", p, err)
		}
		if r.Window <= 0 || r.Max < 0 || r.Max > maxRateMax {
			return fmt.Errorf("rate_limit: rule %q: needs a positive window and a max from 0 (no limit) to %d", p, maxRateMax)
		}
		l.rules = append(l.rules, limitRule{pattern: p, window: time.Duration(r.Window), max: r.Max})
	}

	switch rl.Storage {
	case "", "memory":
		l.store = l.local
	case "database":
		longest := l.general.window
		for _, r := range l.rules {
			longest = max(longest, r.window)
		}
		l.store = &dbLimitStore{h: g.db, longest: longest, logger: g.logger}
	default:
		return fmt.Errorf("rate_limit: storage must be memory or database, got %q", rl.Storage)
	}
	if len(g.cfg.keys) > 0 {
		l.emailKey = g.cfg.keys[0]
	}
	g.limiter = l
	return nil
}

// allowRequest applies the per-client limit to a request for sub (the path
// relative to base_path). When it is over the limit it answers 429 and
// returns false.
func (g *Gate) allowRequest(w http.ResponseWriter, r *http.Request, sub string) bool {
	l := g.limiter
	if l == nil {
		return true
	}
	rule := l.ruleFor(sub)
	if rule.max == 0 {
		return true
	}
	ip := clientIP(r)
	key := ipKey(ip) + "|" + limitPathKey(sub, rule)
	allowed, retry, _ := l.hit(r.Context(), key, rule)
	if !allowed {
		rateLimitedIP.Inc()
		g.logger.Info("rate limited", zap.String("by", "client_ip"), zap.String("client_ip", ip),
			zap.String("path", sub), zap.Duration("retry_after", retry))
		writeRateLimited(w, retry)
	}
	return allowed
}

// allowSignInEmail applies the per-email limit of sign-in, after the body
// has been read; email is normalised. Over the limit it answers 429 and
// returns false. Otherwise the caller signs in and hands the outcome to
// settle: only a wrong password (or an unknown address, which must look the
// same) stays counted. The key is the address and the client IP together,
// so that wrong passwords sent from elsewhere never lock the owner out, while
// the sender's own address is still limited. The attempt is counted before
// the password is checked and taken back after, rather than counted after:
// concurrent guesses then cannot all pass a check made before any of them
// failed.
func (g *Gate) allowSignInEmail(w http.ResponseWriter, r *http.Request, email string) (allowed bool, settle func(*apiError)) {
	settle = func(*apiError) {}
	l := g.limiter
	if l == nil {
		return true, settle
	}
	rule := l.ruleFor(strings.TrimPrefix(r.URL.Path, g.cfg.basePath))
	if rule.max == 0 {
		return true, settle
	}
	ip := clientIP(r)
	key := l.emailLimitKey(ip, email)
	allowed, retry, counted := l.hit(r.Context(), key, rule)
	if !allowed {
		// The address is not logged: the log must not tell an attacker's
		// targets to whoever reads it, and the client IP identifies the
		// event well enough.
		g.logger.Info("rate limited", zap.String("by", "email"), zap.String("client_ip", ip),
			zap.Duration("retry_after", retry))
		rateLimitedEmail.Inc()
		g.signInRefused(r, reasonRateLimited, "")
		writeRateLimited(w, retry)
		return false, settle
	}
	return true, func(e *apiError) {
		if e != errInvalidEmailOrPassword {
			l.undo(r.Context(), counted, key, rule.max)
		}
	}
}

// allowTokenLookup limits what made-up bearer tokens cost. With `bearer`
// on, a raw token (no signature) is the one credential a client can make up
// without the secret, and each costs a database query; so a client whose
// raw tokens have missed tokenMissMax times within tokenMissWindow (see
// countTokenMiss) gets 429 for further ones, without a query, until the
// window has passed. Signed credentials (cookies, signed bearer values) are
// never refused here: a made-up one fails its signature check without a
// query, so a signed-in user on the same address is not affected; nor is a
// raw token the session cache knows. 429 rather than 401: the gate cannot
// tell whether the token is valid, so it must not pass the request on
// (not even to a public path, as for a store failure), and a 401 would tell
// a client with a valid token to throw it away. The counters are this
// instance's, in memory, whatever the storage: each instance protects its
// own queries, and counting misses in the database would cost a query each.
func (g *Gate) allowTokenLookup(w http.ResponseWriter, r *http.Request, cred credential) bool {
	l := g.limiter
	if l == nil || !cred.raw {
		return true
	}
	ip, t := clientIP(r), now()
	allowed, retry := l.local.peek(tokenMissKey(ip), tokenMissWindow, tokenMissMax, t)
	if allowed || g.cfg.cacheTTL > 0 && g.db.cache.Get(cred.token, t, g.cfg.cacheTTL) != nil {
		return true
	}
	rateLimitedToken.Inc()
	g.logger.Info("rate limited", zap.String("by", "token_misses"), zap.String("client_ip", ip),
		zap.Duration("retry_after", retry))
	writeRateLimited(w, retry)
	return false
}

// countTokenMiss counts a raw bearer token that found no valid session.
func (g *Gate) countTokenMiss(r *http.Request, cred credential) {
	if l := g.limiter; l != nil && cred.raw {
		_, _, _ = l.local.hit(r.Context(), tokenMissKey(clientIP(r)), tokenMissWindow, tokenMissMax, now())
	}
}

// tokenMissKey cannot meet a path key: those go on with / or ?.
func tokenMissKey(ip string) string { return ipKey(ip) + "|token-miss" }

// ruleFor returns the limit of a path: the first configured rule that
// matches it, else the first default rule, else the general limit.
func (l *rateLimiter) ruleFor(sub string) limitRule {
	for _, r := range l.rules {
		if matchLimitPath(r.pattern, sub) {
			return r
		}
	}
	return l.general
}

// hit counts a request, and returns the store that counted it for undo. A
// failing database store fails open to the instance's memory store: the
// request goes on (and will meet the same database failure in its handler,
// which answers 503), while the limits still hold per instance, instead of
// the limiter turning a database outage into a wall of 429s or 503s of its
// own.
func (l *rateLimiter) hit(ctx context.Context, key string, rule limitRule) (bool, time.Duration, limitStore) {
	t := now()
	allowed, retry, err := l.store.hit(ctx, key, rule.window, rule.max, t)
	if err == nil {
		return allowed, retry, l.store
	}
	l.warn(ctx, t, err)
	allowed, retry, _ = l.local.hit(ctx, key, rule.window, rule.max, t)
	return allowed, retry, l.local
}

// undo takes back a hit that st counted. It runs after the request's work,
// so it does not end with the request: a client that hangs up after a
// successful sign-in must not leave it counted as a failure.
func (l *rateLimiter) undo(ctx context.Context, st limitStore, key string, max int) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lookupTimeout)
	defer cancel()
	if err := st.undo(ctx, key, max); err != nil {
		l.warn(ctx, now(), err)
	}
}

// warn logs a failing database store, at most once per storeWarnInterval.
func (l *rateLimiter) warn(ctx context.Context, t time.Time, err error) {
	// A client that went away is no news about the database.
	if last := l.warnedAt.Load(); ctx.Err() == nil && t.UnixNano()-last >= int64(storeWarnInterval) && l.warnedAt.CompareAndSwap(last, t.UnixNano()) {
		l.logger.Warn("rate limit store failed: limiting per instance until it recovers", zap.Error(err))
	}
}

// emailLimitKey is the per-email key of a client: its ipKey and an HMAC of
// the address, so that the memory store and the database table hold no
// email addresses.
func (l *rateLimiter) emailLimitKey(ip, email string) string {
	mac := hmac.New(sha256.New, l.emailKey)
	mac.Write([]byte("auth_gate rate limit email\x00"))
	mac.Write([]byte(email))
	return ipKey(ip) + "|email:" + base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:18])
}

// writeRateLimited is Better Auth's 429. Retry-After is sent along with
// X-Retry-After for HTTP clients that know only the standard header.
func writeRateLimited(w http.ResponseWriter, retry time.Duration) {
	secs := int64((retry + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	v := strconv.FormatInt(secs, 10)
	w.Header().Set("X-Retry-After", v)
	w.Header().Set("Retry-After", v)
	writeJSON(w, http.StatusTooManyRequests, struct {
		Message string `json:"message"`
	}{rateLimitMessage})
}

// ipKey is the client part of a key: the address, or its /64 for IPv6
// (one subscriber usually holds a whole /64), with IPv4-mapped IPv6
// addresses unmapped so that one client has one key.
func ipKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.WithZone("").Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// limitPathKey is the path part of a key: the path of a route, the route
// pattern for reset-password links (whose path holds a token), and for
// anything else one bucket per rule.
func limitPathKey(sub string, rule limitRule) string {
	switch {
	case routePaths[sub]:
		return sub
	case strings.HasPrefix(sub, resetCallbackPrefix):
		return resetCallbackPrefix + ":token"
	}
	return "?" + rule.pattern
}

// matchLimitPath matches a rule pattern the way Caddy's path matcher
// reads one (`/x/*` prefix, `*.x` suffix, `*x*` substring, other wildcards
// as path.Match, else exact), but case-sensitively, as the API routes are.
func matchLimitPath(pattern, p string) bool {
	n := strings.Count(pattern, "*")
	switch {
	case pattern == "*":
		return true
	case n == 0:
		return pattern == p
	case n == 1 && strings.HasSuffix(pattern, "*"):
		return strings.HasPrefix(p, pattern[:len(pattern)-1])
	case n == 1 && strings.HasPrefix(pattern, "*"):
		return strings.HasSuffix(p, pattern[1:])
	case n == 2 && len(pattern) > 2 && strings.HasPrefix(pattern, "*") && strings.HasSuffix(pattern, "*"):
		return strings.Contains(p, pattern[1:len(pattern)-1])
	}
	ok, _ := path.Match(pattern, p)
	return ok
}

// memoryLimitStore keeps counters in this process, at most capacity of
// them one by one. A counter whose window has passed is as good as none and
// is dropped. A counter whose window has not passed is never dropped to make
// room: if it were, a flood of new keys (one IPv6 /48 holds 65 536 /64s)
// would reset the counter of a client that is being limited. A key that
// finds the table full of live counters is counted coarsely instead, in one
// of overflowBuckets counters per limit shared by all such newcomers: never
// unlimited, at worst limited together with strangers until the flood's
// counters expire. Memory stays bounded either way.
type memoryLimitStore struct {
	mu       sync.Mutex
	capacity int
	own      int // entries that are not overflow buckets
	entries  map[string]*limitEntry
	byExpiry limitHeap // all entries, the soonest to expire first
	seed     maphash.Seed
}

type limitEntry struct {
	key    string
	count  int
	last   int64 // unix nanoseconds of the last counted request
	window time.Duration
	bucket bool // an overflow bucket, not a key's own counter
	index  int  // in byExpiry
}

func (e *limitEntry) expiry() int64 { return e.last + int64(e.window) }

func newMemoryLimitStore(capacity int) *memoryLimitStore {
	return &memoryLimitStore{capacity: capacity, entries: make(map[string]*limitEntry), seed: maphash.MakeSeed()}
}

func (m *memoryLimitStore) hit(_ context.Context, key string, window time.Duration, max int, t time.Time) (bool, time.Duration, error) {
	ts := t.UnixNano()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expire(ts)
	e := m.entries[key]
	bucket := false
	if e == nil && m.own >= m.capacity {
		key, bucket = m.overflowKey(key, window, max), true
		e = m.entries[key]
	}
	switch {
	case e == nil:
		e = &limitEntry{key: key, count: 1, last: ts, window: window, bucket: bucket}
		m.entries[key] = e
		heap.Push(&m.byExpiry, e)
		if !bucket {
			m.own++
		}
		return true, 0, nil
	case ts-e.last >= int64(window):
		e.count, e.last = 1, ts
	case e.count >= max:
		return false, time.Duration(e.last + int64(window) - ts), nil
	default:
		e.count++
		e.last = ts
	}
	e.window = window
	heap.Fix(&m.byExpiry, e.index)
	return true, 0, nil
}

// peek tells what a hit would answer, without counting one.
func (m *memoryLimitStore) peek(key string, window time.Duration, max int, t time.Time) (bool, time.Duration) {
	ts := t.UnixNano()
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entries[key]
	if e == nil && m.own >= m.capacity {
		e = m.entries[m.overflowKey(key, window, max)]
	}
	if e == nil || ts-e.last >= int64(window) || e.count < max {
		return true, 0
	}
	return false, time.Duration(e.last + int64(window) - ts)
}

// undo takes back one counted hit of key, leaving its window as it is.
func (m *memoryLimitStore) undo(_ context.Context, key string, _ int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.entries[key]; e != nil && e.count > 0 {
		e.count--
	}
	return nil
}

// overflowKey names the bucket that counts key while the table is full.
// Buckets are per limit, so that sign-in's 3 per 10 s and the general 100
// per 10 s never share a count; the seed keeps which keys share a bucket
// unknown to clients. The NUL cannot start a caller's key.
func (m *memoryLimitStore) overflowKey(key string, window time.Duration, max int) string {
	b := maphash.String(m.seed, key) % overflowBuckets
	return "\x00overflow|" + strconv.FormatInt(int64(window), 10) + "|" + strconv.Itoa(max) + "|" + strconv.FormatUint(b, 10)
}

// expire drops the counters whose window has passed.
func (m *memoryLimitStore) expire(ts int64) {
	for len(m.byExpiry) > 0 && m.byExpiry[0].expiry() <= ts {
		e := heap.Pop(&m.byExpiry).(*limitEntry)
		delete(m.entries, e.key)
		if !e.bucket {
			m.own--
		}
	}
}

func (m *memoryLimitStore) len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries)
}

// limitHeap orders entries by expiry, for container/heap.
type limitHeap []*limitEntry

func (h limitHeap) Len() int           { return len(h) }
func (h limitHeap) Less(i, j int) bool { return h[i].expiry() < h[j].expiry() }
func (h limitHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *limitHeap) Push(x any) {
	e := x.(*limitEntry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *limitHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}

// dbLimitStore keeps counters in the database, shared by every instance on
// it: one atomic upsert per request. Once a minute an instance deletes the
// rows older than the longest window it knows of, in the background.
type dbLimitStore struct {
	h         *dbHandle
	longest   time.Duration
	logger    *zap.Logger
	nextSweep atomic.Int64 // unix nanoseconds
}

func (s *dbLimitStore) hit(ctx context.Context, key string, window time.Duration, max int, t time.Time) (bool, time.Duration, error) {
	if err := s.h.ensureReady(ctx); err != nil {
		return false, 0, err
	}
	allowed, retry, err := s.h.st.HitRateLimit(ctx, key, window, max, t)
	if err != nil {
		return false, 0, err
	}
	if next := s.nextSweep.Load(); t.UnixNano() >= next && s.nextSweep.CompareAndSwap(next, t.Add(databaseSweepInterval).UnixNano()) {
		go s.sweep(t.Add(-s.longest))
	}
	return allowed, retry, nil
}

func (s *dbLimitStore) undo(ctx context.Context, key string, max int) error {
	if err := s.h.ensureReady(ctx); err != nil {
		return err
	}
	return s.h.st.UndoRateLimit(ctx, key, max)
}

func (s *dbLimitStore) sweep(cutoff time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.h.st.DeleteRateLimitsBefore(ctx, cutoff); err != nil {
		s.logger.Warn("deleting old rate limit rows failed", zap.Error(err))
	}
}

// Interface guards
var (
	_ limitStore = (*memoryLimitStore)(nil)
	_ limitStore = (*dbLimitStore)(nil)
)

package caddyauth

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authgate/authgate/store"
)

// defaultCacheEntries bounds the session cache of one database. An entry is
// a session and its user, under 1 KiB with its index entries: the bound
// keeps the cache under 10 MiB whatever the traffic.
const defaultCacheEntries = 10000

// cacheShards spreads the cache over independently locked parts, so that
// concurrent requests rarely wait for each other. A power of two.
const cacheShards = 32

// sessionCache holds validated sessions (session + user) in memory, keyed by
// token, for the gate's hot path; see authenticate for how it is used.
//
// Only sessions read from the database go in: an unknown token is never
// cached (a bad signature does not even reach the lookup), so a flood of
// made-up cookies cannot fill it, and a flood of real sessions only evicts
// (CLOCK, second chance: a recently used entry survives one sweep). An entry
// lapses after the caller's TTL and never outlives the session's expiresAt.
//
// Entries are indexed by session id and user id, so that a revocation drops
// them without a scan: dropSession, dropUser, dropToken and flush. Every
// invalidation bumps a generation counter, and put refuses an entry read
// before the latest invalidation, so that a lookup racing with a revocation
// cannot put the revoked session back.
type sessionCache struct {
	seed   maphash.Seed
	gen    atomic.Uint64
	shards [cacheShards]cacheShard
}

// cacheShard is one part of the cache. Lookups take the read lock only:
// the CLOCK reference bit is atomic.
type cacheShard struct {
	mu        sync.RWMutex
	byToken   map[string]*cacheEntry
	bySession map[string]*cacheEntry
	byUser    map[string]*cacheEntry // first of the user's entries in this shard
	ring      []*cacheEntry          // CLOCK ring; nil slots are listed in free
	free      []int
	hand      int
	_         [64]byte // keeps neighbouring shards' locks off one cache line
}

// cacheEntry is immutable once published, except for the reference bit and
// the links, which only the shard's write lock touches.
type cacheEntry struct {
	// res is handed out by get as a pointer: callers must treat it as
	// read-only. dontRemember and refreshed are always false here.
	res      authResult
	storedAt int64 // UnixNano of the put
	lapse    int64 // UnixNano: min(storedAt + TTL, session expiresAt)
	ref      atomic.Bool
	slot     int
	prevUser *cacheEntry
	nextUser *cacheEntry
}

func newSessionCache(entries int) *sessionCache {
	per := max(entries/cacheShards, 1)
	c := &sessionCache{seed: maphash.MakeSeed()}
	for i := range c.shards {
		s := &c.shards[i]
		s.byToken = make(map[string]*cacheEntry)
		s.bySession = make(map[string]*cacheEntry)
		s.byUser = make(map[string]*cacheEntry)
		s.ring = make([]*cacheEntry, 0, per)
	}
	return c
}

func (c *sessionCache) shard(token string) *cacheShard {
	return &c.shards[maphash.String(c.seed, token)&(cacheShards-1)]
}

// generation is read before a database lookup and handed to put.
func (c *sessionCache) generation() uint64 { return c.gen.Load() }

// get returns the cached session of token, or nil. It does not allocate. An
// entry is served while t is within ttl of its put, and before it lapses;
// an entry from the future (the clock went back) is not served either.
func (c *sessionCache) get(token string, t time.Time, ttl time.Duration) *authResult {
	s := c.shard(token)
	s.mu.RLock()
	e := s.byToken[token]
	s.mu.RUnlock()
	if e == nil {
		return nil
	}
	n := t.UnixNano()
	if n < e.storedAt || n >= e.lapse || n-e.storedAt >= int64(ttl) {
		return nil
	}
	// Only write when needed: a store on every hit would bounce the
	// entry's cache line between cores.
	if !e.ref.Load() {
		e.ref.Store(true)
	}
	return &e.res
}

// put caches a session read from the database at t for at most ttl, unless
// an invalidation happened since gen was read. An entry for the same token
// is replaced.
func (c *sessionCache) put(res *authResult, t time.Time, ttl time.Duration, gen uint64) {
	n := t.UnixNano()
	lapse := min(n+int64(ttl), res.session.ExpiresAt.UnixNano())
	if ttl <= 0 || lapse <= n {
		return
	}
	e := &cacheEntry{res: *res, storedAt: n, lapse: lapse}
	e.res.dontRemember, e.res.refreshed = false, false
	token := e.res.session.Token
	s := c.shard(token)
	s.mu.Lock()
	defer s.mu.Unlock()
	// Checked under the shard lock: an invalidation bumps gen before it
	// takes the lock, so either it sees this entry and drops it, or this
	// check sees the new generation.
	if c.gen.Load() != gen {
		return
	}
	if old := s.byToken[token]; old != nil {
		s.remove(old)
	}
	s.insert(e, n)
}

// dropToken forgets the session with that token.
func (c *sessionCache) dropToken(token string) {
	c.gen.Add(1)
	s := c.shard(token)
	s.mu.Lock()
	if e := s.byToken[token]; e != nil {
		s.remove(e)
	}
	s.mu.Unlock()
}

// dropSession forgets the sessions with these ids. Entries are placed by
// token, so every shard is asked; each answers with a map lookup.
func (c *sessionCache) dropSession(ids ...string) {
	if len(ids) == 0 {
		return
	}
	c.gen.Add(1)
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		for _, id := range ids {
			if e := s.bySession[id]; e != nil {
				s.remove(e)
			}
		}
		s.mu.Unlock()
	}
}

// dropUser forgets every session of these users.
func (c *sessionCache) dropUser(ids ...string) {
	if len(ids) == 0 {
		return
	}
	c.gen.Add(1)
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		for _, id := range ids {
			for e := s.byUser[id]; e != nil; e = s.byUser[id] {
				s.remove(e)
			}
		}
		s.mu.Unlock()
	}
}

// flush forgets everything.
func (c *sessionCache) flush() {
	c.gen.Add(1)
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		clear(s.byToken)
		clear(s.bySession)
		clear(s.byUser)
		clear(s.ring)
		s.ring, s.free, s.hand = s.ring[:0], s.free[:0], 0
		s.mu.Unlock()
	}
}

// len counts the entries, lapsed ones included.
func (c *sessionCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.byToken)
		s.mu.RUnlock()
	}
	return n
}

// Notice and Resync make the cache the handler of the database's revocation
// listener (store.Listen).
func (c *sessionCache) Notice(kind store.NoticeKind, id string) {
	switch kind {
	case store.NoticeSession:
		cacheInvalidatedNotice.Inc()
		c.dropSession(id)
	case store.NoticeUser:
		cacheInvalidatedNotice.Inc()
		c.dropUser(id)
	default:
		cacheInvalidatedFlush.Inc()
		c.flush()
	}
}

func (c *sessionCache) Resync() {
	cacheInvalidatedFlush.Inc()
	c.flush()
}

// insert adds e, evicting when the shard is full: a free slot first, else
// the CLOCK hand's next entry that is lapsed or was not used since the hand
// last passed. Called with the write lock held.
func (s *cacheShard) insert(e *cacheEntry, now int64) {
	switch {
	case len(s.free) > 0:
		e.slot = s.free[len(s.free)-1]
		s.free = s.free[:len(s.free)-1]
	case len(s.ring) < cap(s.ring):
		e.slot = len(s.ring)
		s.ring = append(s.ring, nil)
	default:
		// Each pass clears the reference bits it meets, so the hand stops
		// within two turns.
		for {
			v := s.ring[s.hand]
			if v.ref.Load() && v.lapse > now {
				v.ref.Store(false)
				s.hand = (s.hand + 1) % len(s.ring)
				continue
			}
			s.remove(v)
			e.slot = s.free[len(s.free)-1]
			s.free = s.free[:len(s.free)-1]
			s.hand = (s.hand + 1) % len(s.ring)
			break
		}
	}
	s.ring[e.slot] = e

	tok, sid, uid := e.res.session.Token, e.res.session.ID, e.res.user.ID
	s.byToken[tok] = e
	s.bySession[sid] = e
	if head := s.byUser[uid]; head != nil {
		e.nextUser = head
		head.prevUser = e
	}
	s.byUser[uid] = e
}

// remove unlinks e from every index. Called with the write lock held.
func (s *cacheShard) remove(e *cacheEntry) {
	delete(s.byToken, e.res.session.Token)
	if s.bySession[e.res.session.ID] == e {
		delete(s.bySession, e.res.session.ID)
	}
	uid := e.res.user.ID
	switch {
	case e.prevUser != nil:
		e.prevUser.nextUser = e.nextUser
	case e.nextUser != nil:
		s.byUser[uid] = e.nextUser
	default:
		delete(s.byUser, uid)
	}
	if e.nextUser != nil {
		e.nextUser.prevUser = e.prevUser
	}
	e.prevUser, e.nextUser = nil, nil
	s.ring[e.slot] = nil
	s.free = append(s.free, e.slot)
}

// Interface guards
var _ store.ListenHandler = (*sessionCache)(nil)

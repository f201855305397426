// Package sessioncache keeps validated sessions in memory, keyed by token,
// so that a session read recently is served again without a query and
// without allocating.
//
// Only sessions read from the database should go in: an unknown token is
// never cached, so a flood of made-up credentials cannot fill the cache, and
// a flood of real sessions only evicts (CLOCK, second chance: a recently
// used entry survives one sweep). An entry lapses after the TTL its reader
// allows and never outlives the session's expiry.
//
// Entries are indexed by session id and user id, so that a revocation drops
// them without a scan. Every invalidation bumps a generation counter, and
// Put refuses an entry read before the latest invalidation, so that a lookup
// racing with a revocation cannot put the revoked session back.
package sessioncache

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authgate/authgate/store"
)

// shards spreads the cache over independently locked parts, so that
// concurrent requests rarely wait for each other. A power of two.
const shards = 32

// Cache holds, for each cached session, the caller's value V computed from
// it. It is the handler of the database's revocation listener
// (store.Listen) through Notice and Resync.
type Cache[V any] struct {
	seed    maphash.Seed
	gen     atomic.Uint64
	observe func(store.NoticeKind)
	shards  [shards]shard[V]
}

// shard is one part of the cache. Lookups take the read lock only: the
// CLOCK reference bit is atomic.
type shard[V any] struct {
	mu        sync.RWMutex
	byToken   map[string]*entry[V]
	bySession map[string]*entry[V]
	byUser    map[string]*entry[V] // first of the user's entries in this shard
	ring      []*entry[V]          // CLOCK ring; nil slots are listed in free
	free      []int
	hand      int
	_         [64]byte // keeps neighbouring shards' locks off one cache line
}

// entry is immutable once published, except for the reference bit and the
// links, which only the shard's write lock touches.
type entry[V any] struct {
	val                  V
	token, session, user string
	storedAt             int64 // UnixNano of the Put
	lapse                int64 // UnixNano: min(storedAt + TTL, session expiry)
	ref                  atomic.Bool
	slot                 int
	prevUser, nextUser   *entry[V]
}

// New returns a cache of at most maxEntries sessions. observe, when not
// nil, is told of every notice the cache acts on, so that the caller can
// count them; a resync is reported as store.NoticeAll, since it drops
// everything too. It is called from the listener's goroutine.
func New[V any](maxEntries int, observe func(store.NoticeKind)) *Cache[V] {
	per := max(maxEntries/shards, 1)
	c := &Cache[V]{seed: maphash.MakeSeed(), observe: observe}
	for i := range c.shards {
		s := &c.shards[i]
		s.byToken = make(map[string]*entry[V])
		s.bySession = make(map[string]*entry[V])
		s.byUser = make(map[string]*entry[V])
		s.ring = make([]*entry[V], 0, per)
	}
	return c
}

func (c *Cache[V]) shard(token string) *shard[V] {
	return &c.shards[maphash.String(c.seed, token)&(shards-1)]
}

// Generation is read before a database lookup and handed to Put.
func (c *Cache[V]) Generation() uint64 { return c.gen.Load() }

// Get returns the cached value of token, or nil; the value is shared, and
// must be treated as read-only. Get does not allocate. An entry is served
// while t is within ttl of its Put, and before it lapses; an entry from the
// future (the clock went back) is not served either.
func (c *Cache[V]) Get(token string, t time.Time, ttl time.Duration) *V {
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
	return &e.val
}

// Put caches v, computed from sess as read from the database at t, for at
// most ttl and never past sess.ExpiresAt, unless an invalidation happened
// since gen was read. An entry for the same token is replaced.
func (c *Cache[V]) Put(sess *store.Session, v V, t time.Time, ttl time.Duration, gen uint64) {
	n := t.UnixNano()
	lapse := min(n+int64(ttl), sess.ExpiresAt.UnixNano())
	if ttl <= 0 || lapse <= n {
		return
	}
	e := &entry[V]{val: v, token: sess.Token, session: sess.ID, user: sess.UserID, storedAt: n, lapse: lapse}
	s := c.shard(e.token)
	s.mu.Lock()
	defer s.mu.Unlock()
	// Checked under the shard lock: an invalidation bumps gen before it
	// takes the lock, so either it sees this entry and drops it, or this
	// check sees the new generation.
	if c.gen.Load() != gen {
		return
	}
	if old := s.byToken[e.token]; old != nil {
		s.remove(old)
	}
	s.insert(e, n)
}

// DropToken forgets the session with that token.
func (c *Cache[V]) DropToken(token string) {
	c.gen.Add(1)
	s := c.shard(token)
	s.mu.Lock()
	if e := s.byToken[token]; e != nil {
		s.remove(e)
	}
	s.mu.Unlock()
}

// DropSessions forgets the sessions with these ids. Entries are placed by
// token, so every shard is asked; each answers with a map lookup.
func (c *Cache[V]) DropSessions(ids ...string) {
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

// DropUsers forgets every session of these users.
func (c *Cache[V]) DropUsers(ids ...string) {
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

// Clear forgets everything.
func (c *Cache[V]) Clear() {
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

// Len counts the entries, lapsed ones included.
func (c *Cache[V]) Len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.byToken)
		s.mu.RUnlock()
	}
	return n
}

// Notice drops what a revocation notice names; a notice of an unknown kind
// drops everything, since the cache cannot tell what it would spare.
func (c *Cache[V]) Notice(kind store.NoticeKind, id string) {
	switch kind {
	case store.NoticeSession:
		c.DropSessions(id)
	case store.NoticeUser:
		c.DropUsers(id)
	default:
		kind = store.NoticeAll
		c.Clear()
	}
	if c.observe != nil {
		c.observe(kind)
	}
}

// Resync drops everything: notices may have been missed.
func (c *Cache[V]) Resync() { c.Notice(store.NoticeAll, "") }

// insert adds e, evicting when the shard is full: a free slot first, else
// the CLOCK hand's next entry that is lapsed or was not used since the hand
// last passed. Called with the write lock held.
func (s *shard[V]) insert(e *entry[V], now int64) {
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

	s.byToken[e.token] = e
	s.bySession[e.session] = e
	if head := s.byUser[e.user]; head != nil {
		e.nextUser = head
		head.prevUser = e
	}
	s.byUser[e.user] = e
}

// remove unlinks e from every index. Called with the write lock held.
func (s *shard[V]) remove(e *entry[V]) {
	delete(s.byToken, e.token)
	if s.bySession[e.session] == e {
		delete(s.bySession, e.session)
	}
	switch {
	case e.prevUser != nil:
		e.prevUser.nextUser = e.nextUser
	case e.nextUser != nil:
		s.byUser[e.user] = e.nextUser
	default:
		delete(s.byUser, e.user)
	}
	if e.nextUser != nil {
		e.nextUser.prevUser = e.prevUser
	}
	e.prevUser, e.nextUser = nil, nil
	s.ring[e.slot] = nil
	s.free = append(s.free, e.slot)
}

// Interface guards
var _ store.ListenHandler = (*Cache[struct{}])(nil)

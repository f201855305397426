package sessioncache

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/authgate/authgate/store"
)

// value stands for what the caller computes from a session read.
type value struct {
	token, sessionID, name string
}

// item is a session as the store returns it, and its value.
type item struct {
	sess store.Session
	val  value
}

func cached(token, sessionID, userID string, expiresAt time.Time) item {
	return item{
		sess: store.Session{ID: sessionID, Token: token, UserID: userID, ExpiresAt: expiresAt},
		val:  value{token: token, sessionID: sessionID, name: "User " + userID},
	}
}

func put(c *Cache[value], it item, t time.Time, ttl time.Duration, gen uint64) {
	c.Put(&it.sess, it.val, t, ttl, gen)
}

var cacheT0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func TestServesWithinTTLOnly(t *testing.T) {
	c := New[value](100, nil)
	put(c, cached("tok", "s1", "u1", cacheT0.Add(time.Hour)), cacheT0, 10*time.Second, c.Generation())

	cases := []struct {
		name string
		at   time.Time
		ttl  time.Duration
		hit  bool
	}{
		{"at the put", cacheT0, 10 * time.Second, true},
		{"just before the TTL", cacheT0.Add(10*time.Second - time.Nanosecond), 10 * time.Second, true},
		{"at the TTL", cacheT0.Add(10 * time.Second), 10 * time.Second, false},
		{"a reader with a shorter TTL", cacheT0.Add(3 * time.Second), 2 * time.Second, false},
		{"a reader with a longer TTL still stops at the writer's", cacheT0.Add(15 * time.Second), time.Minute, false},
		{"the clock went back", cacheT0.Add(-time.Second), 10 * time.Second, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := c.Get("tok", tc.at, tc.ttl)
			if (got != nil) != tc.hit {
				t.Fatalf("hit = %v, want %v", got != nil, tc.hit)
			}
			if got != nil && (got.sessionID != "s1" || got.name != "User u1") {
				t.Errorf("got %+v", got)
			}
		})
	}
	if c.Get("other", cacheT0, 10*time.Second) != nil {
		t.Error("an unknown token hit")
	}
}

func TestNeverServesPastExpiresAt(t *testing.T) {
	c := New[value](100, nil)
	exp := cacheT0.Add(3 * time.Second)
	put(c, cached("tok", "s1", "u1", exp), cacheT0, time.Minute, c.Generation())
	if c.Get("tok", exp.Add(-time.Nanosecond), time.Minute) == nil {
		t.Fatal("miss before expiresAt")
	}
	if c.Get("tok", exp, time.Minute) != nil {
		t.Fatal("served at expiresAt")
	}

	// An already expired session is not cached at all.
	put(c, cached("old", "s2", "u1", cacheT0), cacheT0, time.Minute, c.Generation())
	if n := c.Len(); n != 1 {
		t.Errorf("%d entries, want 1", n)
	}
}

func TestZeroTTLCachesNothing(t *testing.T) {
	c := New[value](100, nil)
	put(c, cached("tok", "s1", "u1", cacheT0.Add(time.Hour)), cacheT0, 0, c.Generation())
	if c.Len() != 0 || c.Get("tok", cacheT0, 0) != nil {
		t.Error("cached with a zero TTL")
	}
}

func TestPutKeepsItsOwnKeys(t *testing.T) {
	// The caller may reuse the session it read; the entry must still be
	// found, and dropped, by what the session was at the Put.
	c := New[value](100, nil)
	sess := &store.Session{ID: "s1", Token: "tok", UserID: "u1", ExpiresAt: cacheT0.Add(time.Hour)}
	c.Put(sess, value{name: "User u1"}, cacheT0, time.Minute, c.Generation())
	sess.ID, sess.Token, sess.UserID, sess.ExpiresAt = "s2", "other", "u2", cacheT0
	if got := c.Get("tok", cacheT0.Add(time.Second), time.Minute); got == nil || got.name != "User u1" {
		t.Fatalf("got %+v", got)
	}
	c.DropUsers("u1")
	if c.Len() != 0 {
		t.Error("the entry is not indexed by the user it was put with")
	}
}

func TestNoticesAreReportedToTheObserver(t *testing.T) {
	cases := []struct {
		name string
		do   func(c *Cache[value])
		want store.NoticeKind
		left int // of the three sessions cached: s1 and s2 of u1, s3 of u2
	}{
		{"session", func(c *Cache[value]) { c.Notice(store.NoticeSession, "s1") }, store.NoticeSession, 2},
		{"user", func(c *Cache[value]) { c.Notice(store.NoticeUser, "u1") }, store.NoticeUser, 1},
		{"all", func(c *Cache[value]) { c.Notice(store.NoticeAll, "") }, store.NoticeAll, 0},
		{"an unknown kind drops everything", func(c *Cache[value]) { c.Notice(store.NoticeKind(99), "x") }, store.NoticeAll, 0},
		{"resync", func(c *Cache[value]) { c.Resync() }, store.NoticeAll, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var seen []store.NoticeKind
			c := New[value](100, func(k store.NoticeKind) { seen = append(seen, k) })
			exp := cacheT0.Add(time.Hour)
			put(c, cached("t1", "s1", "u1", exp), cacheT0, time.Minute, c.Generation())
			put(c, cached("t2", "s2", "u1", exp), cacheT0, time.Minute, c.Generation())
			put(c, cached("t3", "s3", "u2", exp), cacheT0, time.Minute, c.Generation())
			tc.do(c)
			if len(seen) != 1 || seen[0] != tc.want {
				t.Errorf("observed %v, want [%v]", seen, tc.want)
			}
			if n := c.Len(); n != tc.left {
				t.Errorf("%d entries left, want %d", n, tc.left)
			}
		})
	}
	// Local drops are the caller's to count: they are not reported.
	called := false
	c := New[value](100, func(store.NoticeKind) { called = true })
	c.DropToken("t")
	c.DropSessions("s")
	c.DropUsers("u")
	c.Clear()
	if called {
		t.Error("a local drop was reported as a notice")
	}
}

func TestBoundHoldsUnderAFloodOfSessions(t *testing.T) {
	const bound = 10000
	c := New[value](bound, nil)
	exp := cacheT0.Add(time.Hour)
	hot := cached("hot", "s-hot", "u-hot", exp)
	put(c, hot, cacheT0, time.Minute, c.Generation())
	for i := range 100000 {
		s := strconv.Itoa(i)
		put(c, cached("tok"+s, "s"+s, "u"+s, exp), cacheT0, time.Minute, c.Generation())
		// A session in use keeps its entry: CLOCK gives it a second chance
		// at every sweep.
		if i%50 == 0 && c.Get("hot", cacheT0, time.Minute) == nil {
			t.Fatalf("the entry in use was evicted after %d inserts", i)
		}
	}
	if n := c.Len(); n > bound {
		t.Fatalf("%d entries, bound %d", n, bound)
	}
	if n := c.Len(); n < bound*9/10 {
		t.Errorf("%d entries: the cache should fill close to its bound %d", n, bound)
	}
	if c.Get("tok99999", cacheT0, time.Minute) == nil {
		t.Error("the newest entry is missing")
	}
	for i := range c.shards {
		s := &c.shards[i]
		if len(s.byToken) != len(s.bySession) || len(s.ring) > cap(s.ring) {
			t.Fatalf("shard %d: %d tokens, %d sessions, ring %d/%d", i, len(s.byToken), len(s.bySession), len(s.ring), cap(s.ring))
		}
	}
}

func TestDropsBySessionUserAndToken(t *testing.T) {
	c := New[value](1000, nil)
	exp := cacheT0.Add(time.Hour)
	ttl := time.Minute
	fill := func() {
		c.Clear()
		for i := range 20 {
			u := fmt.Sprint("u", i%4) // four users with five sessions each
			put(c, cached(fmt.Sprint("tok", i), fmt.Sprint("s", i), u, exp), cacheT0, ttl, c.Generation())
		}
	}
	present := func(t *testing.T) map[int]bool {
		t.Helper()
		m := map[int]bool{}
		for i := range 20 {
			if c.Get(fmt.Sprint("tok", i), cacheT0, ttl) != nil {
				m[i] = true
			}
		}
		return m
	}

	t.Run("session", func(t *testing.T) {
		fill()
		c.DropSessions("s3", "s7", "nonexistent")
		got := present(t)
		if got[3] || got[7] || len(got) != 18 {
			t.Errorf("present after dropping s3, s7: %v", got)
		}
	})
	t.Run("user", func(t *testing.T) {
		fill()
		c.DropUsers("u1")
		got := present(t)
		for i := range 20 {
			if got[i] == (i%4 == 1) {
				t.Errorf("tok%d present = %v after dropping u1", i, got[i])
			}
		}
		// The user index stays consistent after removals from its middle.
		c.DropSessions("s2")
		c.DropUsers("u2")
		if got := present(t); len(got) != 10 {
			t.Errorf("%d left, want 10: %v", len(got), got)
		}
	})
	t.Run("token", func(t *testing.T) {
		fill()
		c.DropToken("tok5")
		if got := present(t); got[5] || len(got) != 19 {
			t.Errorf("present after dropping tok5: %v", got)
		}
	})
	t.Run("flush", func(t *testing.T) {
		fill()
		c.Clear()
		if got := present(t); len(got) != 0 || c.Len() != 0 {
			t.Errorf("present after flush: %v", got)
		}
		// Still usable afterwards.
		fill()
		if len(present(t)) != 20 {
			t.Error("refill after flush failed")
		}
	})
	t.Run("notices", func(t *testing.T) {
		fill()
		c.Notice(store.NoticeSession, "s0")
		c.Notice(store.NoticeUser, "u1")
		if got := present(t); got[0] || got[1] || got[5] || len(got) != 14 {
			t.Errorf("present after notices: %v", got)
		}
		c.Notice(store.NoticeAll, "")
		if c.Len() != 0 {
			t.Error("NoticeAll did not flush")
		}
		fill()
		c.Resync()
		if c.Len() != 0 {
			t.Error("Resync did not flush")
		}
	})
}

func TestPutAfterARevocationIsRefused(t *testing.T) {
	// A lookup that read the row before a revocation must not put the
	// revoked session back once the revocation has dropped it.
	c := New[value](100, nil)
	gen := c.Generation()
	c.DropSessions("s1") // the revocation lands while the lookup runs
	put(c, cached("tok", "s1", "u1", cacheT0.Add(time.Hour)), cacheT0, time.Minute, gen)
	if c.Get("tok", cacheT0, time.Minute) != nil {
		t.Fatal("a session read before its revocation was cached")
	}
	put(c, cached("tok", "s1", "u1", cacheT0.Add(time.Hour)), cacheT0, time.Minute, c.Generation())
	if c.Get("tok", cacheT0, time.Minute) == nil {
		t.Fatal("a fresh read was refused")
	}
}

func TestReplacesAnEntryForTheSameToken(t *testing.T) {
	c := New[value](100, nil)
	put(c, cached("tok", "s1", "u1", cacheT0.Add(time.Hour)), cacheT0, time.Minute, c.Generation())
	later := cached("tok", "s1", "u1", cacheT0.Add(2*time.Hour))
	later.val.name = "Renamed"
	put(c, later, cacheT0.Add(time.Second), time.Minute, c.Generation())
	if got := c.Get("tok", cacheT0.Add(time.Second), time.Minute); got == nil || got.name != "Renamed" {
		t.Fatalf("got %+v", got)
	}
	if c.Len() != 1 {
		t.Errorf("%d entries, want 1", c.Len())
	}
	c.DropUsers("u1")
	if c.Len() != 0 {
		t.Error("the replaced entry is still indexed by user")
	}
}

func TestHitDoesNotAllocate(t *testing.T) {
	c := New[value](100, nil)
	put(c, cached("tok", "s1", "u1", cacheT0.Add(time.Hour)), cacheT0, time.Minute, c.Generation())
	token := string([]byte("tok")) // not the map's own string
	if n := testing.AllocsPerRun(1000, func() {
		if c.Get(token, cacheT0, time.Minute) == nil {
			t.Fatal("miss")
		}
	}); n != 0 {
		t.Errorf("a hit allocates %v times", n)
	}
}

func TestConcurrentUse(t *testing.T) {
	// Meant for -race: readers, writers and invalidations at once.
	c := New[value](64, nil)
	exp := cacheT0.Add(time.Hour)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				s := strconv.Itoa(i % 200)
				switch (i + w) % 7 {
				case 0:
					c.DropSessions("s" + s)
				case 1:
					c.DropUsers("u" + strconv.Itoa(i%10))
				case 2:
					put(c, cached("tok"+s, "s"+s, "u"+strconv.Itoa(i%10), exp), cacheT0, time.Minute, c.Generation())
				default:
					if r := c.Get("tok"+s, cacheT0, time.Minute); r != nil && r.token != "tok"+s {
						t.Errorf("token %s answered with %s", "tok"+s, r.token)
					}
				}
			}
		}()
	}
	wg.Wait()
	if n := c.Len(); n > 64 {
		t.Errorf("%d entries over the bound", n)
	}
}

func BenchmarkHit(b *testing.B) {
	c := New[value](10000, nil)
	exp := cacheT0.Add(time.Hour)
	tokens := make([]string, 5000)
	for i := range tokens {
		s := strconv.Itoa(i)
		tokens[i] = "token-" + s
		put(c, cached(tokens[i], "s"+s, "u"+s, exp), cacheT0, time.Minute, c.Generation())
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if c.Get("token-1234", cacheT0, time.Minute) == nil {
				b.Fatal("miss")
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if c.Get(tokens[i%len(tokens)], cacheT0, time.Minute) == nil {
					b.Fatal("miss")
				}
				i++
			}
		})
	})
}

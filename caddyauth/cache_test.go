package caddyauth

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/authgate/authgate/store"
)

// cached builds a session result as the store would return it.
func cached(token, sessionID, userID string, expiresAt time.Time) *authResult {
	return &authResult{
		session: store.Session{ID: sessionID, Token: token, UserID: userID, ExpiresAt: expiresAt},
		user:    store.User{ID: userID, Name: "User " + userID},
	}
}

var cacheT0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func TestSessionCache_ServesWithinTTLOnly(t *testing.T) {
	c := newSessionCache(100)
	c.put(cached("tok", "s1", "u1", cacheT0.Add(time.Hour)), cacheT0, 10*time.Second, c.generation())

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
			got := c.get("tok", tc.at, tc.ttl)
			if (got != nil) != tc.hit {
				t.Fatalf("hit = %v, want %v", got != nil, tc.hit)
			}
			if got != nil && (got.session.ID != "s1" || got.user.Name != "User u1") {
				t.Errorf("got %+v", got)
			}
		})
	}
	if c.get("other", cacheT0, 10*time.Second) != nil {
		t.Error("an unknown token hit")
	}
}

func TestSessionCache_NeverServesPastExpiresAt(t *testing.T) {
	c := newSessionCache(100)
	exp := cacheT0.Add(3 * time.Second)
	c.put(cached("tok", "s1", "u1", exp), cacheT0, time.Minute, c.generation())
	if c.get("tok", exp.Add(-time.Nanosecond), time.Minute) == nil {
		t.Fatal("miss before expiresAt")
	}
	if c.get("tok", exp, time.Minute) != nil {
		t.Fatal("served at expiresAt")
	}

	// An already expired session is not cached at all.
	c.put(cached("old", "s2", "u1", cacheT0), cacheT0, time.Minute, c.generation())
	if n := c.len(); n != 1 {
		t.Errorf("%d entries, want 1", n)
	}
}

func TestSessionCache_ZeroTTLCachesNothing(t *testing.T) {
	c := newSessionCache(100)
	c.put(cached("tok", "s1", "u1", cacheT0.Add(time.Hour)), cacheT0, 0, c.generation())
	if c.len() != 0 || c.get("tok", cacheT0, 0) != nil {
		t.Error("cached with a zero TTL")
	}
}

func TestSessionCache_ResultIsNormalisedAndNotShared(t *testing.T) {
	c := newSessionCache(100)
	res := cached("tok", "s1", "u1", cacheT0.Add(time.Hour))
	res.dontRemember, res.refreshed = true, true
	c.put(res, cacheT0, time.Minute, c.generation())
	res.user.Name = "changed after put"
	got := c.get("tok", cacheT0, time.Minute)
	if got == nil || got.dontRemember || got.refreshed || got.user.Name != "User u1" {
		t.Errorf("cached %+v", got)
	}
}

func TestSessionCache_BoundHoldsUnderAFloodOfSessions(t *testing.T) {
	const bound = 10000
	c := newSessionCache(bound)
	exp := cacheT0.Add(time.Hour)
	hot := cached("hot", "s-hot", "u-hot", exp)
	c.put(hot, cacheT0, time.Minute, c.generation())
	for i := range 100000 {
		s := strconv.Itoa(i)
		c.put(cached("tok"+s, "s"+s, "u"+s, exp), cacheT0, time.Minute, c.generation())
		// A session in use keeps its entry: CLOCK gives it a second chance
		// at every sweep.
		if i%50 == 0 && c.get("hot", cacheT0, time.Minute) == nil {
			t.Fatalf("the entry in use was evicted after %d inserts", i)
		}
	}
	if n := c.len(); n > bound {
		t.Fatalf("%d entries, bound %d", n, bound)
	}
	if n := c.len(); n < bound*9/10 {
		t.Errorf("%d entries: the cache should fill close to its bound %d", n, bound)
	}
	if c.get("tok99999", cacheT0, time.Minute) == nil {
		t.Error("the newest entry is missing")
	}
	for i := range c.shards {
		s := &c.shards[i]
		if len(s.byToken) != len(s.bySession) || len(s.ring) > cap(s.ring) {
			t.Fatalf("shard %d: %d tokens, %d sessions, ring %d/%d", i, len(s.byToken), len(s.bySession), len(s.ring), cap(s.ring))
		}
	}
}

func TestSessionCache_DropsBySessionUserAndToken(t *testing.T) {
	c := newSessionCache(1000)
	exp := cacheT0.Add(time.Hour)
	ttl := time.Minute
	fill := func() {
		c.flush()
		for i := range 20 {
			u := fmt.Sprint("u", i%4) // four users with five sessions each
			c.put(cached(fmt.Sprint("tok", i), fmt.Sprint("s", i), u, exp), cacheT0, ttl, c.generation())
		}
	}
	present := func(t *testing.T) map[int]bool {
		t.Helper()
		m := map[int]bool{}
		for i := range 20 {
			if c.get(fmt.Sprint("tok", i), cacheT0, ttl) != nil {
				m[i] = true
			}
		}
		return m
	}

	t.Run("session", func(t *testing.T) {
		fill()
		c.dropSession("s3", "s7", "nonexistent")
		got := present(t)
		if got[3] || got[7] || len(got) != 18 {
			t.Errorf("present after dropping s3, s7: %v", got)
		}
	})
	t.Run("user", func(t *testing.T) {
		fill()
		c.dropUser("u1")
		got := present(t)
		for i := range 20 {
			if got[i] == (i%4 == 1) {
				t.Errorf("tok%d present = %v after dropping u1", i, got[i])
			}
		}
		// The user index stays consistent after removals from its middle.
		c.dropSession("s2")
		c.dropUser("u2")
		if got := present(t); len(got) != 10 {
			t.Errorf("%d left, want 10: %v", len(got), got)
		}
	})
	t.Run("token", func(t *testing.T) {
		fill()
		c.dropToken("tok5")
		if got := present(t); got[5] || len(got) != 19 {
			t.Errorf("present after dropping tok5: %v", got)
		}
	})
	t.Run("flush", func(t *testing.T) {
		fill()
		c.flush()
		if got := present(t); len(got) != 0 || c.len() != 0 {
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
		if c.len() != 0 {
			t.Error("NoticeAll did not flush")
		}
		fill()
		c.Resync()
		if c.len() != 0 {
			t.Error("Resync did not flush")
		}
	})
}

func TestSessionCache_PutAfterARevocationIsRefused(t *testing.T) {
	// A lookup that read the row before a revocation must not put the
	// revoked session back once the revocation has dropped it.
	c := newSessionCache(100)
	gen := c.generation()
	c.dropSession("s1") // the revocation lands while the lookup runs
	c.put(cached("tok", "s1", "u1", cacheT0.Add(time.Hour)), cacheT0, time.Minute, gen)
	if c.get("tok", cacheT0, time.Minute) != nil {
		t.Fatal("a session read before its revocation was cached")
	}
	c.put(cached("tok", "s1", "u1", cacheT0.Add(time.Hour)), cacheT0, time.Minute, c.generation())
	if c.get("tok", cacheT0, time.Minute) == nil {
		t.Fatal("a fresh read was refused")
	}
}

func TestSessionCache_ReplacesAnEntryForTheSameToken(t *testing.T) {
	c := newSessionCache(100)
	c.put(cached("tok", "s1", "u1", cacheT0.Add(time.Hour)), cacheT0, time.Minute, c.generation())
	later := cached("tok", "s1", "u1", cacheT0.Add(2*time.Hour))
	later.user.Name = "Renamed"
	c.put(later, cacheT0.Add(time.Second), time.Minute, c.generation())
	if got := c.get("tok", cacheT0.Add(time.Second), time.Minute); got == nil || got.user.Name != "Renamed" {
		t.Fatalf("got %+v", got)
	}
	if c.len() != 1 {
		t.Errorf("%d entries, want 1", c.len())
	}
	c.dropUser("u1")
	if c.len() != 0 {
		t.Error("the replaced entry is still indexed by user")
	}
}

func TestSessionCache_HitDoesNotAllocate(t *testing.T) {
	c := newSessionCache(100)
	c.put(cached("tok", "s1", "u1", cacheT0.Add(time.Hour)), cacheT0, time.Minute, c.generation())
	token := string([]byte("tok")) // not the map's own string
	if n := testing.AllocsPerRun(1000, func() {
		if c.get(token, cacheT0, time.Minute) == nil {
			t.Fatal("miss")
		}
	}); n != 0 {
		t.Errorf("a hit allocates %v times", n)
	}
}

func TestSessionCache_ConcurrentUse(t *testing.T) {
	// Meant for -race: readers, writers and invalidations at once.
	c := newSessionCache(64)
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
					c.dropSession("s" + s)
				case 1:
					c.dropUser("u" + strconv.Itoa(i%10))
				case 2:
					c.put(cached("tok"+s, "s"+s, "u"+strconv.Itoa(i%10), exp), cacheT0, time.Minute, c.generation())
				default:
					if r := c.get("tok"+s, cacheT0, time.Minute); r != nil && r.session.Token != "tok"+s {
						t.Errorf("token %s answered with %s", "tok"+s, r.session.Token)
					}
				}
			}
		}()
	}
	wg.Wait()
	if n := c.len(); n > 64 {
		t.Errorf("%d entries over the bound", n)
	}
}

func BenchmarkSessionCache_Hit(b *testing.B) {
	c := newSessionCache(defaultCacheEntries)
	exp := cacheT0.Add(time.Hour)
	tokens := make([]string, 5000)
	for i := range tokens {
		s := strconv.Itoa(i)
		tokens[i] = "token-" + s
		c.put(cached(tokens[i], "s"+s, "u"+s, exp), cacheT0, time.Minute, c.generation())
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if c.get("token-1234", cacheT0, time.Minute) == nil {
				b.Fatal("miss")
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if c.get(tokens[i%len(tokens)], cacheT0, time.Minute) == nil {
					b.Fatal("miss")
				}
				i++
			}
		})
	})
}

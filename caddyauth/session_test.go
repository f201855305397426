package caddyauth

import (
	"testing"
	"time"

	"github.com/authgate/authgate/store"
)

func TestCacheSession_KeepsRequestDetailsOut(t *testing.T) {
	// The cache serves every request with the session; a dont_remember
	// marker or a refresh belongs to the request that read it.
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	g := &Gate{db: &dbHandle{cache: newSessionCache(10)}}
	g.cfg.cacheTTL = time.Minute
	res := newAuthResult(
		store.Session{ID: "s1", Token: "tok", UserID: "u1", ExpiresAt: t0.Add(time.Hour)},
		store.User{ID: "u1", Name: "Alice"})
	res.dontRemember, res.refreshed = true, true

	g.cacheSession(res, t0, g.db.cache.Generation())
	res.user.Name = "changed after caching"

	got := g.db.cache.Get("tok", t0, time.Minute)
	if got == nil {
		t.Fatal("not cached")
	}
	if got.dontRemember || got.refreshed || got.user.Name != "Alice" || got.ident.header[2] != "Alice" {
		t.Errorf("cached %+v", got)
	}
	if !res.dontRemember || !res.refreshed {
		t.Error("the caller's result was changed")
	}
}

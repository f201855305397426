package caddyauth

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/authgate/authgate/internal/testsupport"
)

// warm passes the gate with cookie until the session is in the cache, and
// returns the session's token. The cache may be flushed once at start (the
// revocation listener resyncs when it begins listening), hence the retry.
func (tg *testGate) warm(cookie string) string {
	tg.t.Helper()
	for range 3 {
		if w := tg.do(req("GET", "/app", "", "Cookie", cookie)); w.Code != 200 {
			tg.t.Fatalf("gate refused a valid session: %d %s", w.Code, w.Body)
		}
		raw, _ := url.QueryUnescape(strings.TrimPrefix(cookie, "better-auth.session_token="))
		token, _, _ := strings.Cut(raw, ".")
		if tg.g.db.cache.Get(token, now(), tg.g.cfg.cacheTTL) != nil {
			return token
		}
	}
	tg.t.Fatal("the session was not cached")
	return ""
}

// gateStatus is the status of a gated request with cookie.
func (tg *testGate) gateStatus(cookie string) int {
	tg.t.Helper()
	return tg.do(req("GET", "/app", "", "Cookie", cookie)).Code
}

func TestRevocation_StopsACachedSessionAtOnceOnThisInstance(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		mb := newMailbox(t)
		tg := newTestGate(t, dsn, "session_cache 1m\ndelete_user on\nemail_webhook "+mb.URL)
		waitListening(t, dsn, 1)

		// Each case revokes the session behind cookie, which the gate has
		// just served from the cache; other is another session of the user.
		cases := []struct {
			name   string
			revoke func(t *testing.T, cookie, token, other string)
		}{
			{"sign-out", func(t *testing.T, cookie, _, _ string) {
				if w := tg.post("/auth/sign-out", cookie, ""); w.Code != 200 {
					t.Fatalf("sign-out %d %s", w.Code, w.Body)
				}
			}},
			{"revoke-session", func(t *testing.T, _, token, other string) {
				if w := tg.post("/auth/revoke-session", other, `{"token":"`+token+`"}`); w.Code != 200 {
					t.Fatalf("revoke-session %d %s", w.Code, w.Body)
				}
			}},
			{"revoke-sessions", func(t *testing.T, cookie, _, _ string) {
				if w := tg.post("/auth/revoke-sessions", cookie, ""); w.Code != 200 {
					t.Fatalf("revoke-sessions %d %s", w.Code, w.Body)
				}
			}},
			{"revoke-other-sessions", func(t *testing.T, _, _, other string) {
				if w := tg.post("/auth/revoke-other-sessions", other, ""); w.Code != 200 {
					t.Fatalf("revoke-other-sessions %d %s", w.Code, w.Body)
				}
			}},
			{"change-password revoking sessions", func(t *testing.T, _, _, other string) {
				w := tg.post("/auth/change-password", other,
					`{"currentPassword":"password123","newPassword":"password456","revokeOtherSessions":true}`)
				if w.Code != 200 {
					t.Fatalf("change-password %d %s", w.Code, w.Body)
				}
				if next := sessionCookieFrom(t, w); tg.gateStatus(next) != 200 {
					t.Error("the session change-password started does not pass")
				}
			}},
			{"reset-password", func(t *testing.T, _, _, _ string) {
				if w := tg.do(req("POST", "/auth/request-password-reset", `{"email":"alice@example.com"}`)); w.Code != 200 {
					t.Fatalf("request-password-reset %d %s", w.Code, w.Body)
				}
				msg := mb.last(t, "alice@example.com")
				w := tg.do(req("POST", "/auth/reset-password", `{"newPassword":"password789","token":"`+msg.Token+`"}`))
				if w.Code != 200 {
					t.Fatalf("reset-password %d %s", w.Code, w.Body)
				}
			}},
			{"delete-user", func(t *testing.T, _, _, other string) {
				if w := tg.post("/auth/delete-user", other, `{}`); w.Code != 200 {
					t.Fatalf("delete-user %d %s", w.Code, w.Body)
				}
			}},
		}
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				email := "alice@example.com"
				if i > 0 {
					// A fresh user per case: the previous one may have a new
					// password or be gone.
					db := testsupport.OpenDB(t, dsn)
					if _, err := db.Exec(`DELETE FROM "user"`); err != nil {
						t.Fatal(err)
					}
				}
				cookie, _ := tg.signUp("Alice", email, "password123")
				other, _ := tg.signIn(email, "password123")
				token := tg.warm(cookie)
				tg.warm(other)

				tc.revoke(t, cookie, token, other)
				if code := tg.gateStatus(cookie); code != 401 {
					t.Fatalf("the revoked session got %d at the gate right after the revocation", code)
				}
			})
		}
	})
}

func TestRevocation_UserChangesShowAtOnceOnThisInstance(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		mb := newMailbox(t)
		tg := newTestGate(t, dsn, "session_cache 1m\nemail_webhook "+mb.URL)
		waitListening(t, dsn, 1)
		cookie, _ := tg.signUp("Alice", "alice@example.com", "password123")
		tg.warm(cookie)

		if w := tg.post("/auth/update-user", cookie, `{"name":"Alice Renamed"}`); w.Code != 200 {
			t.Fatalf("update-user %d %s", w.Code, w.Body)
		}
		tg.do(req("GET", "/app", "", "Cookie", cookie))
		if got := tg.next.header.Get("X-User-Name"); got != "Alice Renamed" {
			t.Errorf("X-User-Name after update-user = %q", got)
		}

		tg.warm(cookie)
		if w := tg.post("/auth/send-verification-email", cookie, `{"email":"alice@example.com"}`); w.Code != 200 {
			t.Fatalf("send-verification-email %d %s", w.Code, w.Body)
		}
		link, _ := url.Parse(mb.last(t, "alice@example.com").URL)
		if w := tg.do(req("GET", link.RequestURI(), "")); w.Code != 302 {
			t.Fatalf("verify-email %d %s", w.Code, w.Body)
		}
		tg.do(req("GET", "/app", "", "Cookie", cookie))
		if got := tg.next.header.Get("X-User-Email-Verified"); got != "true" {
			t.Errorf("X-User-Email-Verified after verify-email = %q", got)
		}
	})
}

func TestSessionCache_ServesWithoutAQueryUntilItsLifetimeEnds(t *testing.T) {
	// On SQLite nothing tells the cache about a row deleted behind the
	// gate's back, so it shows what the cache serves and for how long.
	dsn := testsupport.SQLiteDSN(t)
	tg := newTestGate(t, dsn, "session_cache 10s")
	cookie, _ := tg.signUp("Alice", "alice@example.com", "password123")
	t0 := time.Now()
	setNow(t, t0)
	tg.warm(cookie)

	if _, err := testsupport.OpenDB(t, dsn).Exec(`DELETE FROM "session"`); err != nil {
		t.Fatal(err)
	}
	setNow(t, t0.Add(9*time.Second))
	if code := tg.gateStatus(cookie); code != 200 {
		t.Fatalf("a cached session got %d within session_cache", code)
	}
	setNow(t, t0.Add(10*time.Second))
	if code := tg.gateStatus(cookie); code != 401 {
		t.Fatalf("a deleted session got %d after session_cache", code)
	}

	t.Run("session_cache 0 always asks the database", func(t *testing.T) {
		dsn := testsupport.SQLiteDSN(t)
		tg := newTestGate(t, dsn, "session_cache 0")
		cookie, _ := tg.signUp("Alice", "alice@example.com", "password123")
		if code := tg.gateStatus(cookie); code != 200 {
			t.Fatalf("status %d", code)
		}
		if tg.g.db.cache.Len() != 0 {
			t.Error("session_cache 0 cached a session")
		}
		if _, err := testsupport.OpenDB(t, dsn).Exec(`DELETE FROM "session"`); err != nil {
			t.Fatal(err)
		}
		if code := tg.gateStatus(cookie); code != 401 {
			t.Fatalf("a deleted session got %d without a cache", code)
		}
	})
}

func TestSessionCache_ExpiryWhileCachedIsRefusedAtExpiresAt(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		// update_age = expires_in: no refresh ever falls due before expiry.
		tg := newTestGate(t, dsn, "session_cache 1m\nsession_expires_in 1h\nsession_update_age 1h")
		cookie, _ := tg.signUp("Alice", "alice@example.com", "password123")
		gs := decodeJSON(t, tg.do(req("GET", "/auth/get-session", "", "Cookie", cookie)))
		exp, err := time.Parse(time.RFC3339, gs["session"].(map[string]any)["expiresAt"].(string))
		if err != nil {
			t.Fatal(err)
		}

		setNow(t, exp.Add(-2*time.Second))
		tg.warm(cookie)
		setNow(t, exp.Add(-time.Millisecond))
		if code := tg.gateStatus(cookie); code != 200 {
			t.Fatalf("status %d just before expiresAt", code)
		}
		setNow(t, exp)
		if code := tg.gateStatus(cookie); code != 401 {
			t.Fatalf("status %d at expiresAt, with the session cached for another minute", code)
		}
	})
}

func TestSessionCache_SlidingRefreshStillWritesOnAHit(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		tg := newTestGate(t, dsn, "session_cache 5m\nsession_update_age 1m")
		cookie, _ := tg.signUp("Alice", "alice@example.com", "password123")
		t0 := time.Now()
		setNow(t, t0)
		tg.warm(cookie)

		t1 := t0.Add(90 * time.Second)
		setNow(t, t1)
		w := tg.do(req("GET", "/app", "", "Cookie", cookie))
		if w.Code != 200 || len(w.Header().Values("Set-Cookie")) != 1 {
			t.Fatalf("refresh due on a cached session: %d, Set-Cookie %q", w.Code, w.Header().Values("Set-Cookie"))
		}
		// The database has the new expiry, not just the cache.
		raw, _ := url.QueryUnescape(strings.TrimPrefix(cookie, "better-auth.session_token="))
		token, _, _ := strings.Cut(raw, ".")
		sess, _, err := tg.g.store().SessionByToken(context.Background(), token)
		if err != nil {
			t.Fatal(err)
		}
		if d := sess.ExpiresAt.Sub(t1); d < 7*24*time.Hour-time.Second || d > 7*24*time.Hour+time.Second {
			t.Errorf("stored expiry after the refresh is now+%v, want now+7d", d)
		}
		// The refreshed session is what the cache serves now: no second
		// refresh.
		setNow(t, t1.Add(time.Second))
		if w := tg.do(req("GET", "/app", "", "Cookie", cookie)); len(w.Header().Values("Set-Cookie")) != 0 {
			t.Errorf("refreshed again: %q", w.Header().Values("Set-Cookie"))
		}
	})
}

func TestRevocation_NoticesDropCachedSessionsChangedBySQL(t *testing.T) {
	dsn := testsupport.PostgresDSN(t)
	tg := newTestGate(t, dsn, "session_cache 1m")
	waitListening(t, dsn, 1)
	db := testsupport.OpenDB(t, dsn)

	t.Run("session deleted", func(t *testing.T) {
		cookie, _ := tg.signUp("Alice", "alice@example.com", "password123")
		token := tg.warm(cookie)
		if _, err := db.Exec(`DELETE FROM "session" WHERE "token" = $1`, token); err != nil {
			t.Fatal(err)
		}
		within(t, time.Second, func() bool { return tg.gateStatus(cookie) == 401 }, "the deleted session still passes")
	})
	t.Run("user renamed", func(t *testing.T) {
		cookie, up := tg.signUp("Bob", "bob@example.com", "password123")
		tg.warm(cookie)
		id := up["user"].(map[string]any)["id"].(string)
		if _, err := db.Exec(`UPDATE "user" SET "name" = 'Robert' WHERE "id" = $1`, id); err != nil {
			t.Fatal(err)
		}
		within(t, time.Second, func() bool {
			tg.do(req("GET", "/app", "", "Cookie", cookie))
			return tg.next.header.Get("X-User-Name") == "Robert"
		}, "the old name is still served")
	})
	t.Run("sessions truncated", func(t *testing.T) {
		cookie, _ := tg.signUp("Carol", "carol@example.com", "password123")
		tg.warm(cookie)
		if _, err := db.Exec(`TRUNCATE "session"`); err != nil {
			t.Fatal(err)
		}
		within(t, time.Second, func() bool { return tg.gateStatus(cookie) == 401 }, "a truncated session still passes")
	})
}

func TestNotifyDatabase_Validation(t *testing.T) {
	cases := []struct{ name, block, want string }{
		{"with SQLite", "database " + testsupport.SQLiteDSN(t) + "\nnotify_database postgres://u@127.0.0.1:1/x", "notify_database"},
		{"not PostgreSQL", "database postgres://u@127.0.0.1:1/x\nnotify_database sqlite:///tmp/x.db", "notify_database"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := provisionFromCaddyfile(t, tc.block+"\nsecret "+testSecret)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one naming %s", err, tc.want)
			}
			if strings.Contains(err.Error(), "127.0.0.1") {
				t.Errorf("the error quotes a DSN: %v", err)
			}
		})
	}
}

// waitListening waits until n revocation listeners are connected to the
// database of dsn (PostgreSQL; nothing to wait for on SQLite), plus a moment
// for them to process the acknowledgement.
func waitListening(t *testing.T, dsn string, n int) {
	t.Helper()
	if strings.HasPrefix(dsn, "sqlite://") {
		return
	}
	db, err := sqlx.Open("postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	within(t, 10*time.Second, func() bool {
		var got int
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		err := db.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND query ILIKE 'LISTEN %auth_gate_revocation%'`).Scan(&got)
		return err == nil && got >= n
	}, "the revocation listener did not LISTEN")
	time.Sleep(100 * time.Millisecond)
}

// within polls cond every 50 ms and fails the test when it is still false
// after d.
func within(t *testing.T, d time.Duration, cond func() bool, msg string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s after %v", msg, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

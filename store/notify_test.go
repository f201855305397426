package store

import (
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lib/pq"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/authgate/authgate/internal/testsupport"
)

// notice is one call on a recordingHandler; kind 0 is a Resync.
type notice struct {
	kind NoticeKind
	id   string
}

type recordingHandler struct{ ch chan notice }

func newRecordingHandler() *recordingHandler { return &recordingHandler{ch: make(chan notice, 100)} }

func (h *recordingHandler) Notice(kind NoticeKind, id string) { h.ch <- notice{kind, id} }
func (h *recordingHandler) Resync()                           { h.ch <- notice{} }

// next waits for the next call.
func (h *recordingHandler) next(t *testing.T, within time.Duration) notice {
	t.Helper()
	select {
	case n := <-h.ch:
		return n
	case <-time.After(within):
		t.Fatalf("nothing received within %v", within)
		return notice{}
	}
}

// want receives calls until it has seen every one of want (in any order:
// one statement may announce several rows), failing on anything else.
func (h *recordingHandler) want(t *testing.T, want ...notice) {
	t.Helper()
	missing := map[notice]bool{}
	for _, n := range want {
		missing[n] = true
	}
	for len(missing) > 0 {
		n := h.next(t, 2*time.Second)
		if !missing[n] {
			t.Fatalf("got %+v, want %+v", n, want)
		}
		delete(missing, n)
	}
}

// quiet checks that nothing arrives for a while.
func (h *recordingHandler) quiet(t *testing.T) {
	t.Helper()
	select {
	case n := <-h.ch:
		t.Fatalf("unexpected %+v", n)
	case <-time.After(300 * time.Millisecond):
	}
}

// listening starts a listener on st's database and waits until it listens.
func listening(t *testing.T, dsn string, logger *zap.Logger) *recordingHandler {
	t.Helper()
	h := newRecordingHandler()
	stop, err := Listen(dsn, h, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	if n := h.next(t, 10*time.Second); n != (notice{}) {
		t.Fatalf("first call %+v, want the Resync after LISTEN", n)
	}
	return h
}

func TestListen_TriggersAnnounceRevocationsOnBothLayouts(t *testing.T) {
	layouts := []struct {
		name  string
		setup func(t *testing.T) (*Store, string)
	}{
		{"camel", func(t *testing.T) (*Store, string) {
			dsn := testsupport.PostgresDirectDSN(t)
			return migratedStore(t, dsn), dsn
		}},
		{"snake, timestamp without time zone, session not in UTC", func(t *testing.T) (*Store, string) {
			u, err := url.Parse(testsupport.PostgresDirectDSN(t))
			if err != nil {
				t.Fatal(err)
			}
			q := u.Query()
			q.Set("timezone", "America/New_York")
			u.RawQuery = q.Encode()
			st := openStore(t, u.String(), Options{})
			execAll(t, st, testsupport.DrizzlePostgresDDL...)
			return adopted(t, st, layoutSnake), u.String()
		}},
	}
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) {
			st, dsn := l.setup(t)
			h := listening(t, dsn, zap.NewNop())
			ctx := testCtx(t)
			t0 := time.Now()

			u, err := st.CreateUserWithPassword(ctx, NewUser{Name: "A", Email: "a@example.com", PasswordHash: "s:k"}, t0)
			if err != nil {
				t.Fatal(err)
			}
			s1, err := st.CreateSession(ctx, NewSession{UserID: u.ID, ExpiresAt: t0.Add(time.Hour)}, t0)
			if err != nil {
				t.Fatal(err)
			}
			s2, err := st.CreateSession(ctx, NewSession{UserID: u.ID, ExpiresAt: t0.Add(time.Hour)}, t0)
			if err != nil {
				t.Fatal(err)
			}
			h.quiet(t) // inserts announce nothing

			// The sliding refresh moves the expiry later: nothing to drop.
			if ok, err := st.ExtendSession(ctx, s1.ID, t0.Add(2*time.Hour), t0.Add(time.Minute)); err != nil || !ok {
				t.Fatalf("extend: %v %v", ok, err)
			}
			h.quiet(t)
			// A shortened expiry is a revocation.
			if _, err := st.db.ExecContext(ctx, st.db.Rebind(`UPDATE "session" SET `+st.q.Load().layout.column("expiresAt")+` = ? WHERE "id" = ?`),
				st.q.Load().timeArg(t0), s1.ID); err != nil {
				t.Fatal(err)
			}
			h.want(t, notice{NoticeSession, s1.ID})

			name := "B"
			if _, err := st.UpdateUser(ctx, u.ID, UserUpdate{Name: &name}, t0); err != nil {
				t.Fatal(err)
			}
			h.want(t, notice{NoticeUser, u.ID})
			// An update that changes nothing announces nothing.
			if _, err := st.db.ExecContext(ctx, `UPDATE "user" SET "name" = "name" WHERE "id" = $1`, u.ID); err != nil {
				t.Fatal(err)
			}
			h.quiet(t)

			if _, err := st.DeleteUserSession(ctx, u.ID, s2.Token); err != nil {
				t.Fatal(err)
			}
			h.want(t, notice{NoticeSession, s2.ID})

			if _, err := st.DeleteUser(ctx, u.ID); err != nil {
				t.Fatal(err)
			}
			h.want(t, notice{NoticeSession, s1.ID}, notice{NoticeUser, u.ID})

			if _, err := st.db.ExecContext(ctx, `TRUNCATE "session"`); err != nil {
				t.Fatal(err)
			}
			h.want(t, notice{NoticeAll, ""})
			// A rolled-back change announces nothing.
			tx, err := st.db.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.ExecContext(ctx, `TRUNCATE "session"`); err != nil {
				t.Fatal(err)
			}
			_ = tx.Rollback()
			h.quiet(t)
		})
	}
}

func TestListen_PayloadsNeverCarryTheToken(t *testing.T) {
	dsn := testsupport.PostgresDirectDSN(t)
	st := migratedStore(t, dsn)
	// A plain LISTEN, to see the payloads as the triggers send them.
	l := pq.NewListener(dsn, time.Second, time.Second, nil)
	t.Cleanup(func() { _ = l.Close() })
	if err := l.Listen(RevocationChannel); err != nil {
		t.Fatal(err)
	}

	ctx := testCtx(t)
	u, err := st.CreateUserWithPassword(ctx, NewUser{Name: "A", Email: "a@example.com", PasswordHash: "s:k"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	s, err := st.CreateSession(ctx, NewSession{UserID: u.ID, ExpiresAt: time.Now().Add(time.Hour)}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteSessionByToken(ctx, s.Token); err != nil {
		t.Fatal(err)
	}
	select {
	case n := <-l.Notify:
		if n == nil || n.Extra != "s:"+s.ID || strings.Contains(n.Extra, s.Token) {
			t.Errorf("notice %+v, want payload s:%s", n, s.ID)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no notice")
	}
}

func TestListen_ResyncsAfterLosingTheConnection(t *testing.T) {
	old := listenMinReconnect
	listenMinReconnect = 50 * time.Millisecond
	t.Cleanup(func() { listenMinReconnect = old })

	dsn := testsupport.PostgresDirectDSN(t)
	st := migratedStore(t, dsn)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("application_name", "auth_gate_listen_test")
	// Neon's connection strings carry channel_binding, which lib/pq does not
	// know: Listen must remove it as Open does.
	q.Set("channel_binding", "prefer")
	u.RawQuery = q.Encode()
	h := listening(t, u.String(), zap.NewNop())

	var killed int
	err = st.db.GetContext(testCtx(t), &killed, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = 'auth_gate_listen_test' AND datname = current_database()`)
	// Under load the listener may briefly hold a second connection (a
	// reconnect racing the first LISTEN); killing every one is the point.
	if err != nil || killed < 1 {
		t.Fatalf("terminated %d listener connections: %v", killed, err)
	}
	if n := h.next(t, 10*time.Second); n != (notice{}) {
		t.Fatalf("after the reconnection: %+v, want a Resync", n)
	}
	// And it listens again.
	ctx := testCtx(t)
	usr, err := st.CreateUserWithPassword(ctx, NewUser{Name: "A", Email: "a@example.com", PasswordHash: "s:k"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.DeleteUser(ctx, usr.ID); err != nil {
		t.Fatal(err)
	}
	h.want(t, notice{NoticeUser, usr.ID})
}

func TestListen_WarnsOnceWhenTheDatabaseCannotBeReached(t *testing.T) {
	old := listenMinReconnect
	listenMinReconnect = 20 * time.Millisecond
	t.Cleanup(func() { listenMinReconnect = old })

	core, logs := observer.New(zap.DebugLevel)
	h := newRecordingHandler()
	// Nothing listens on port 1; the password must not reach the log.
	stop, err := Listen("postgres://auth:hunter2secret@127.0.0.1:1/app?sslmode=disable&channel_binding=require", h, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for logs.FilterLevelExact(zap.DebugLevel).Len() < 3 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	if n := logs.FilterLevelExact(zap.WarnLevel).Len(); n != 1 {
		t.Errorf("%d warnings, want exactly 1", n)
	}
	if n := logs.FilterLevelExact(zap.DebugLevel).Len(); n < 3 {
		t.Errorf("%d later failures logged at debug, want the retries to go on", n)
	}
	for _, e := range logs.All() {
		line := e.Message
		for k, v := range e.ContextMap() {
			line += " " + k + "=" + strings.TrimSpace(toString(v))
		}
		if strings.Contains(line, "hunter2secret") {
			t.Errorf("the password is in the log: %s", line)
		}
	}
	select {
	case n := <-h.ch:
		t.Errorf("handler called without a connection: %+v", n)
	default:
	}
}

func TestListen_WarnsWhenProbesDoNotComeBack(t *testing.T) {
	// Behind a pooler in transaction mode LISTEN succeeds but nothing is
	// ever delivered: only the missing probe tells.
	oldSend, oldTimeout := sendProbe, listenProbeTimeout
	sendProbe = func(string, string) error { return nil }
	listenProbeTimeout = 200 * time.Millisecond
	t.Cleanup(func() { sendProbe, listenProbeTimeout = oldSend, oldTimeout })

	core, logs := observer.New(zap.InfoLevel)
	dsn := testsupport.PostgresDirectDSN(t)
	migratedStore(t, dsn)
	listening(t, dsn, zap.New(core))
	deadline := time.Now().Add(5 * time.Second)
	for logs.FilterLevelExact(zap.WarnLevel).Len() == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	warnings := logs.FilterLevelExact(zap.WarnLevel).All()
	if len(warnings) != 1 || !strings.Contains(warnings[0].ContextMap()["reason"].(string), "probe") {
		t.Fatalf("warnings %+v, want one about the probe", warnings)
	}
}

func TestListen_NoWarningWhenProbesComeBack(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	dsn := testsupport.PostgresDirectDSN(t)
	migratedStore(t, dsn)
	old := listenProbeTimeout
	listenProbeTimeout = time.Second
	t.Cleanup(func() { listenProbeTimeout = old })
	listening(t, dsn, zap.New(core))
	time.Sleep(1500 * time.Millisecond)
	if n := logs.FilterLevelExact(zap.WarnLevel).Len(); n != 0 {
		t.Errorf("%d warnings on a direct connection: %+v", n, logs.All())
	}
}

func toString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	if e, ok := v.(error); ok {
		return e.Error()
	}
	return ""
}

func TestListen_RejectsADSNThatIsNotPostgreSQL(t *testing.T) {
	for _, dsn := range []string{"sqlite:///tmp/x.db", "mysql://u:secretpw@h/db", "postgres://u:secretpw@h/%zz"} {
		_, err := Listen(dsn, newRecordingHandler(), nil)
		if err == nil {
			t.Errorf("%q accepted", dsn)
			continue
		}
		if strings.Contains(err.Error(), "secretpw") {
			t.Errorf("the error quotes the password: %v", err)
		}
	}
}

func TestListen_StopIsIdempotentAndQuiet(t *testing.T) {
	dsn := testsupport.PostgresDirectDSN(t)
	st := migratedStore(t, dsn)
	var mu sync.Mutex
	calls := 0
	h := &countingHandler{mu: &mu, n: &calls}
	stop, err := Listen(dsn, h, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	stop()
	stop()
	mu.Lock()
	before := calls
	mu.Unlock()
	if _, err := st.db.ExecContext(testCtx(t), `TRUNCATE "session"`); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if calls != before {
		t.Errorf("the handler was called %d times after stop", calls-before)
	}
}

type countingHandler struct {
	mu *sync.Mutex
	n  *int
}

func (h *countingHandler) Notice(NoticeKind, string) { h.mu.Lock(); *h.n++; h.mu.Unlock() }
func (h *countingHandler) Resync()                   { h.mu.Lock(); *h.n++; h.mu.Unlock() }

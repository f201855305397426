package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lib/pq"
	"go.uber.org/zap"
)

// RevocationChannel is the PostgreSQL NOTIFY channel on which the triggers
// of migration 0002 announce changed or deleted sessions and users.
const RevocationChannel = "auth_gate_revocation"

// NoticeKind says what a revocation notice names.
type NoticeKind int

const (
	// NoticeSession names a session id: the session was deleted or changed.
	NoticeSession NoticeKind = iota + 1
	// NoticeUser names a user id: the user was deleted or changed.
	NoticeUser
	// NoticeAll names nothing: a table was truncated, drop everything.
	NoticeAll
)

// Listener tuning. Variables so that tests can make them short.
var (
	// listenMinReconnect and listenMaxReconnect bound the back-off between
	// reconnection attempts of the listening connection.
	listenMinReconnect = 500 * time.Millisecond
	listenMaxReconnect = 30 * time.Second
	// listenPingInterval is how often an idle listening connection is
	// checked: a connection that died silently (a NAT or a proxy dropping
	// it) would otherwise never deliver a notice again, nor reconnect.
	listenPingInterval = time.Minute
	// listenProbeTimeout is how long a probe notice may take to come back
	// before the connection is judged unable to receive notices.
	listenProbeTimeout = 5 * time.Second
	// sendProbe sends a probe notice; tests replace it to lose probes, as a
	// pooler would.
	sendProbe = sendNotice
)

// ListenHandler receives what a revocation listener learns. Its methods are
// called from one goroutine, one at a time, and should return quickly.
type ListenHandler interface {
	// Notice reports one notice; id is empty for NoticeAll.
	Notice(kind NoticeKind, id string)
	// Resync reports that notices may have been missed (the listener just
	// started listening, or reconnected): everything learnt before is
	// suspect.
	Resync()
}

// Listen starts listening for revocation notices on the PostgreSQL database
// of dsn, which must be a direct connection: LISTEN does not pass through a
// pooler in transaction mode (PgBouncer, Neon's pooled endpoint). It returns
// at once; connecting, and reconnecting after any loss, happen in the
// background until stop is called.
//
// After LISTEN succeeds, and after every reconnection, the listener sends
// itself a probe notice over a separate connection: a pooler accepts LISTEN
// but never delivers, and only a missing probe tells. When listening fails
// that way, or the connection cannot be made at all, one warning is logged
// (later failures go to the debug level) and the listener keeps trying.
//
// The error is only for a DSN that cannot be parsed; it names no secret.
func Listen(dsn string, h ListenHandler, logger *zap.Logger) (stop func(), err error) {
	if logger == nil {
		logger = zap.NewNop()
	}
	conn, removed, err := pqConnString(dsn)
	if err != nil {
		return nil, err
	}
	for _, p := range removed {
		// Open has warned about it already when this is also the pool's
		// DSN (one warning per parameter is enough); a separate notify DSN is usually a
		// copy of it with another host.
		logger.Debug("removed a connection parameter that lib/pq does not support from the notify DSN",
			zap.String("parameter", p))
	}

	nl := &noticeListener{h: h, log: logger, conn: conn, done: make(chan struct{}),
		exited: make(chan struct{}), listening: make(chan struct{}, 1)}
	nl.pq = pq.NewListener(conn, listenMinReconnect, listenMaxReconnect, nl.event)
	go nl.listen()
	go nl.loop()

	var once sync.Once
	return func() { once.Do(nl.stop) }, nil
}

// pqConnString removes the libpq parameters lib/pq does not know (see
// unsupportedPQParams) and returns the DSN to connect with and the names of
// the removed parameters.
func pqConnString(dsn string) (string, []string, error) {
	parsed, err := ParseDSN(dsn)
	if err != nil {
		return "", nil, err
	}
	if parsed.dialect != postgresDialect {
		return "", nil, dsnError("notices need a PostgreSQL DSN")
	}
	u, removed := parsed.pqURL()
	return u.String(), removed, nil
}

// noticeListener is one listening connection and the goroutines around it.
type noticeListener struct {
	h    ListenHandler
	log  *zap.Logger
	conn string
	pq   *pq.Listener
	done chan struct{}
	// exited is closed when loop has returned.
	exited chan struct{}
	// listening is signalled once LISTEN has been acknowledged.
	listening chan struct{}

	warned  atomic.Bool // the one warning has been logged
	healthy atomic.Bool // the last probe came back

	// probe is the payload of the probe in flight ("" when none); only the
	// loop goroutine touches it.
	probe      string
	probeTimer *time.Timer
}

// listen subscribes to the channel. pq.Listener.Listen blocks until the
// server acknowledges, which may be never when the database is unreachable,
// so it runs on its own goroutine; Close releases it.
func (nl *noticeListener) listen() {
	if err := nl.pq.Listen(RevocationChannel); err != nil {
		if !nl.stopped() {
			nl.fail("LISTEN failed", err)
		}
		return
	}
	nl.listening <- struct{}{}
}

// event is pq's connection state callback.
func (nl *noticeListener) event(ev pq.ListenerEventType, err error) {
	switch ev {
	case pq.ListenerEventConnectionAttemptFailed:
		nl.fail("cannot connect", err)
	case pq.ListenerEventDisconnected:
		if !nl.stopped() {
			nl.healthy.Store(false)
			nl.log.Debug("revocation listener disconnected", zap.Error(err))
		}
	}
}

// loop dispatches notices until stop, and pings an idle connection.
func (nl *noticeListener) loop() {
	defer close(nl.exited)
	ping := time.NewTicker(listenPingInterval)
	defer ping.Stop()
	nl.probeTimer = time.NewTimer(time.Hour)
	nl.probeTimer.Stop()
	for {
		select {
		case <-nl.listening:
			nl.log.Debug("listening for revocation notices")
			nl.h.Resync()
			nl.startProbe()
		case n, ok := <-nl.pq.Notify:
			switch {
			case !ok:
				return
			case nl.stopped():
			case n == nil:
				// pq's signal that it reconnected: notices may have been
				// lost meanwhile.
				nl.h.Resync()
				nl.startProbe()
			default:
				nl.dispatch(n.Extra)
			}
		case <-nl.probeTimer.C:
			if nl.probe != "" {
				nl.probe = ""
				nl.fail("a probe notice did not come back (is notify_database a pooled endpoint?)", nil)
			}
		case <-ping.C:
			// Ping holds the listener's lock while it waits for the
			// server, so it must not run on this goroutine.
			go func() { _ = nl.pq.Ping() }()
		case <-nl.done:
			// Drain until pq closes Notify, so that its goroutine never
			// blocks on a send nobody receives.
			for range nl.pq.Notify {
			}
			return
		}
	}
}

// dispatch parses a payload written by the triggers: "s:<id>", "u:<id>",
// "*", or our own probe.
func (nl *noticeListener) dispatch(payload string) {
	switch {
	case strings.HasPrefix(payload, "s:"):
		nl.h.Notice(NoticeSession, payload[2:])
	case strings.HasPrefix(payload, "u:"):
		nl.h.Notice(NoticeUser, payload[2:])
	case payload == "*":
		nl.h.Notice(NoticeAll, "")
	case nl.probe != "" && payload == nl.probe:
		nl.probe = ""
		nl.probeTimer.Stop()
		if !nl.healthy.Swap(true) && nl.warned.Load() {
			nl.log.Info("revocation notices arrive again")
		}
	}
}

// startProbe sends a probe notice over a separate connection. The listener
// receives it only when notices really reach it.
func (nl *noticeListener) startProbe() {
	var b [8]byte
	_, _ = rand.Read(b[:])
	nl.probe = "probe:" + hex.EncodeToString(b[:])
	nl.probeTimer.Reset(listenProbeTimeout)
	send := sendProbe // read on the loop's goroutine, which stop waits for
	go func(payload string) {
		if err := send(nl.conn, payload); err != nil && !nl.stopped() {
			nl.fail("cannot send a probe notice", err)
		}
	}(nl.probe)
}

// sendNotice sends one notice on RevocationChannel over a short-lived
// connection.
func sendNotice(conn, payload string) error {
	connector, err := pq.NewConnector(conn)
	if err != nil {
		return err
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), listenProbeTimeout)
	defer cancel()
	_, err = db.ExecContext(ctx, `SELECT pg_notify($1, $2)`, RevocationChannel, payload)
	return err
}

// fail logs a listening failure: a warning the first time, debug after.
// Without notices, a revocation made elsewhere reaches this instance only
// when its cached copy lapses (session_cache).
func (nl *noticeListener) fail(reason string, err error) {
	nl.healthy.Store(false)
	if nl.warned.CompareAndSwap(false, true) {
		nl.log.Warn("cannot receive revocation notices; sessions revoked on other instances stay valid here until their cache entry lapses (session_cache); set notify_database to a direct, unpooled PostgreSQL endpoint",
			zap.String("reason", reason), zap.Error(err))
		return
	}
	nl.log.Debug("revocation listener", zap.String("reason", reason), zap.Error(err))
}

func (nl *noticeListener) stopped() bool {
	select {
	case <-nl.done:
		return true
	default:
		return false
	}
}

// stop closes the connection; the handler is not called after it returns.
// pq's Close waits for a Ping in flight, which on a dead connection lasts
// until TCP gives up, so stop waits a few seconds at most; pq's goroutine
// may also sit out a reconnection back-off before it notices.
func (nl *noticeListener) stop() {
	close(nl.done)
	closed := make(chan struct{})
	go func() { _ = nl.pq.Close(); close(closed) }()
	deadline := time.After(5 * time.Second)
	select {
	case <-closed:
		// Notify is closed now: the loop is on its way out.
		select {
		case <-nl.exited:
		case <-deadline:
		}
	case <-deadline:
	}
}

package store

import (
	"context"
	"database/sql/driver"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lib/pq"
)

// callTimeout bounds every store call: a database that stops
// answering without refusing (a network partition, a paused or suspended
// server) costs a caller this long at most, and the gate and the API answer
// 503. Long enough for a hosted database waking from scale-to-zero.
const callTimeout = 5 * time.Second

// bound derives the context of one store call: the caller's, ending no
// later than callTimeout from now, nor than the shared deadline of
// WithSharedDeadline. Every exported method that reaches the database
// starts with it.
func bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithDeadline(ctx, callDeadline(ctx, time.Now()))
}

// boundSchemaWork is bound for Migrate and Detect: a caller that gives
// them a deadline of its own (the start of Caddy, a command) may give them
// longer, since a first migration of a hosted database can take longer than
// one query; on a request's path they have none, and get callTimeout.
func boundSchemaWork(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return bound(ctx)
}

func callDeadline(ctx context.Context, now time.Time) time.Time {
	d := now.Add(callTimeout)
	if s, ok := ctx.Value(sharedDeadlineKey{}).(*sharedDeadline); ok {
		// The first call fixes it; later calls of the request share it.
		s.end.CompareAndSwap(0, d.UnixNano())
		if end := time.Unix(0, s.end.Load()); end.Before(d) {
			d = end
		}
	}
	return d
}

type sharedDeadlineKey struct{}

type sharedDeadline struct{ end atomic.Int64 } // unix nanoseconds; 0 until the first call

// WithSharedDeadline returns a context under which every store call ends
// within callTimeout of the first one made under it, rather than each
// within callTimeout of its own start: a request that makes several calls
// (a database rate limit, then the endpoint's own) against a database that
// has stopped answering is answered after one deadline, not one per call.
// Only store calls see it; the context itself does not end.
func WithSharedDeadline(ctx context.Context) context.Context {
	return context.WithValue(ctx, sharedDeadlineKey{}, new(sharedDeadline))
}

// ctxLock is a mutex whose waiters give up when their context ends, so that
// callers queued behind one that waits for a database that hangs leave at
// their own deadline. Its zero value is ready.
type ctxLock struct {
	once sync.Once
	ch   chan struct{}
}

func (l *ctxLock) lock(ctx context.Context) error {
	l.once.Do(func() { l.ch = make(chan struct{}, 1) })
	select {
	case l.ch <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *ctxLock) unlock() { <-l.ch }

// lib/pq honours a context only by asking the server, on another
// connection, to cancel the statement; meanwhile it waits in a read for as
// long as the server stays silent, and a server that has stopped answering
// never does. So the socket itself carries each operation's deadline: the
// read fails when the context ends, lib/pq marks the connection bad, and
// database/sql discards it. No goroutine and no connection stays behind
// with a database that hangs, and a pool emptied by an outage refills as
// soon as the database answers again.

// deadlineConnector opens lib/pq connections whose socket follows the
// context of the operation in progress.
type deadlineConnector struct {
	pq *pq.Connector
	// onNotice, when set, receives the notices of LISTENs on its
	// connections (lib/pq hands them over while reading a reply).
	onNotice func(*pq.Notification)
}

func newDeadlineConnector(c *pq.Connector) *deadlineConnector {
	c.Dialer(deadlineDialer{})
	return &deadlineConnector{pq: c}
}

func (c *deadlineConnector) Driver() driver.Driver { return c.pq.Driver() }

// Connect bounds the handshake too: database/sql opens connections for
// waiting callers on a context of its own, without a deadline.
func (c *deadlineConnector) Connect(ctx context.Context) (driver.Conn, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, callTimeout)
		defer cancel()
	}
	s := &socket{}
	stop := context.AfterFunc(ctx, func() { s.expire(0) })
	defer stop()
	conn, err := c.pq.Connect(context.WithValue(ctx, socketKey{}, s))
	if err != nil {
		return nil, err
	}
	if c.onNotice != nil {
		pq.SetNotificationHandler(conn, c.onNotice)
	}
	s.mu.Lock()
	s.gen++ // a late expire of the handshake must not touch the first query
	if s.nc == nil {
		s.mu.Unlock()
		_ = conn.Close()
		return nil, errNoSocket
	}
	err = s.nc.SetDeadline(time.Time{})
	s.mu.Unlock()
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	return &deadlineConn{Conn: conn, s: s}, nil
}

var errNoSocket = &net.OpError{Op: "dial", Net: "tcp", Err: net.ErrClosed}

// socket is a connection's network socket and the operation whose
// deadline it carries.
type socket struct {
	mu  sync.Mutex
	nc  net.Conn
	gen uint64 // counts operations, so that a late expire is a no-op
}

// follow gives the socket ctx's deadline for the operation starting now,
// and ends it early when ctx is cancelled; stop undoes the latter.
func (s *socket) follow(ctx context.Context) (stop func() bool) {
	s.mu.Lock()
	s.gen++
	gen := s.gen
	d, _ := ctx.Deadline() // zero: none
	_ = s.nc.SetDeadline(d)
	s.mu.Unlock()
	return context.AfterFunc(ctx, func() { s.expire(gen) })
}

// expire makes the socket's pending and later reads and writes fail at
// once, if operation gen (0: the handshake) is still the latest.
func (s *socket) expire(gen uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen == gen && s.nc != nil {
		_ = s.nc.SetDeadline(time.Unix(1, 0))
	}
}

type socketKey struct{}

// deadlineDialer is lib/pq's dialer with the socket recorded for Connect
// and the dialing context's deadline set on it: the handshake, and the
// cancel requests lib/pq sends on connections of their own, end with it.
type deadlineDialer struct{}

func (deadlineDialer) Dial(network, address string) (net.Conn, error) {
	return deadlineDialer{}.DialContext(context.Background(), network, address)
}

func (deadlineDialer) DialTimeout(network, address string, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return deadlineDialer{}.DialContext(ctx, network, address)
}

func (deadlineDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	if s, ok := ctx.Value(socketKey{}).(*socket); ok {
		s.mu.Lock()
		s.nc = nc
		if ctx.Err() != nil {
			_ = nc.SetDeadline(time.Unix(1, 0))
		}
		s.mu.Unlock()
	}
	return nc, nil
}

// deadlineConn is a lib/pq connection whose operations taking a context
// carry its deadline on the socket. Those without one (Commit, Rollback,
// reading further rows) keep the deadline of the operation that began them.
type deadlineConn struct {
	driver.Conn
	s *socket
}

func (c *deadlineConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	// Not stopped on return: the rows are read after it, under ctx.
	c.s.follow(ctx)
	return c.Conn.(driver.QueryerContext).QueryContext(ctx, query, args)
}

func (c *deadlineConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	defer c.s.follow(ctx)()
	return c.Conn.(driver.ExecerContext).ExecContext(ctx, query, args)
}

func (c *deadlineConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	defer c.s.follow(ctx)()
	st, err := c.Conn.(driver.ConnPrepareContext).PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	return &deadlineStmt{Stmt: st, s: c.s}, nil
}

// deadlineStmt is a prepared statement whose runs carry their context's
// deadline on the connection's socket, as deadlineConn's queries do.
//
// lib/pq is handed the context without its cancellation: on a cancelled
// context its statements (unlike its connections) wait for their cancel
// request to be answered, up to 10 s, which against a database that has
// stopped answering holds the connection, and the lookup slot with it, 10 s
// past the deadline. The socket's deadline ends the run at the right time,
// and the connection is discarded with the half-read reply.
type deadlineStmt struct {
	driver.Stmt
	s *socket
}

func (st *deadlineStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	// Not stopped on return: the rows are read after it, under ctx.
	st.s.follow(ctx)
	return st.Stmt.(driver.StmtQueryContext).QueryContext(context.WithoutCancel(ctx), args)
}

func (st *deadlineStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	defer st.s.follow(ctx)()
	return st.Stmt.(driver.StmtExecContext).ExecContext(context.WithoutCancel(ctx), args)
}

// Close says goodbye to the statement under a deadline of its own, as
// deadlineConn.Close does for the connection.
func (st *deadlineStmt) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	defer st.s.follow(ctx)()
	return st.Stmt.Close()
}

func (c *deadlineConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	// Not stopped on return: Commit and Rollback come later, under ctx.
	c.s.follow(ctx)
	return c.Conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
}

func (c *deadlineConn) Ping(ctx context.Context) error {
	defer c.s.follow(ctx)()
	return c.Conn.(driver.Pinger).Ping(ctx)
}

// Close says goodbye to the server under a deadline of its own: the socket
// may still carry the passed deadline of the connection's last operation.
func (c *deadlineConn) Close() error {
	c.s.mu.Lock()
	c.s.gen++
	_ = c.s.nc.SetDeadline(time.Now().Add(closeTimeout))
	c.s.mu.Unlock()
	return c.Conn.Close()
}

// closeTimeout bounds the farewell message of a closing connection, which
// normally only fills a socket buffer.
const closeTimeout = time.Second

func (c *deadlineConn) ResetSession(ctx context.Context) error {
	return c.Conn.(driver.SessionResetter).ResetSession(ctx)
}

func (c *deadlineConn) IsValid() bool { return c.Conn.(driver.Validator).IsValid() }

func (c *deadlineConn) CheckNamedValue(nv *driver.NamedValue) error {
	return c.Conn.(driver.NamedValueChecker).CheckNamedValue(nv)
}

// Interface guards: database/sql finds lib/pq's optional interfaces on the
// wrapper.
var (
	_ driver.Connector          = (*deadlineConnector)(nil)
	_ driver.QueryerContext     = (*deadlineConn)(nil)
	_ driver.ExecerContext      = (*deadlineConn)(nil)
	_ driver.ConnPrepareContext = (*deadlineConn)(nil)
	_ driver.ConnBeginTx        = (*deadlineConn)(nil)
	_ driver.Pinger             = (*deadlineConn)(nil)
	_ driver.SessionResetter    = (*deadlineConn)(nil)
	_ driver.Validator          = (*deadlineConn)(nil)
	_ driver.NamedValueChecker  = (*deadlineConn)(nil)
	_ driver.StmtQueryContext   = (*deadlineStmt)(nil)
	_ driver.StmtExecContext    = (*deadlineStmt)(nil)
	_ pq.DialerContext          = deadlineDialer{}
)

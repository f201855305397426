package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/lib/pq/pqerror"
	"go.uber.org/zap"
)

// The session lookup is the one statement on the gate's path when the
// session cache is off or cold, and on the unnamed statement PostgreSQL
// plans it anew every time: planning the session⋈user join costs it more
// than running it. A named prepared statement is planned once per
// connection (in-process, 1.4× the uncached gate's throughput, 2026-12-03),
// but a pooler in transaction mode (PgBouncer before 1.21, or without
// max_prepared_statements) hands each transaction to whichever server
// connection is free, where the statement does not exist, or exists under
// the same name for another client's query.
//
// So the store asks the database first (UsePreparedLookups): a notice sent
// on one connection reaches a LISTEN on another only when each client
// connection keeps one server session, which is exactly what a named
// statement needs. A transaction-mode pooler never delivers it (the same
// test tells the revocation listener that notify_database is pooled). Only
// then do lookups use a named statement; and should the database still
// refuse one (a pooler put in front later, behind the same address), the
// store goes back to unnamed statements for good, with one warning, and
// answers that lookup unnamed: no request fails for it.
type preparedLookups struct {
	on     atomic.Bool
	warned atomic.Bool
	// probeMu serialises the probe; decided is set once one has answered.
	probeMu sync.Mutex
	decided bool
	// used counts the lookups a named statement answered, for tests.
	used atomic.Int64

	mu    sync.Mutex
	query string // the statement stmt was prepared from
	stmt  *sqlx.Stmt
}

// probeTimeout bounds the whole probe; a direct connection answers it in a
// few milliseconds.
const probeTimeout = 5 * time.Second

// UsePreparedLookups tests whether the database keeps one server session
// per connection (a direct connection, or a pooler in session mode) and, if
// it does, makes session lookups use a named prepared statement from then
// on. It reports what it decided; the error says why the test could not
// run, and the lookups then stay unnamed, which always works, until a
// later call tests again. Once a test has answered, calls report its
// outcome without testing again. It does nothing on SQLite, which plans
// its statements in-process.
func (s *Store) UsePreparedLookups(ctx context.Context) (bool, error) {
	if s.pqConn == "" {
		return false, nil
	}
	p := &s.prepared
	p.probeMu.Lock()
	defer p.probeMu.Unlock()
	if p.decided {
		return p.on.Load(), nil
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	direct, err := s.keepsSessions(ctx)
	if err != nil {
		return false, wrap("test for a pooler", err)
	}
	p.on.Store(direct)
	p.decided = true
	return direct, nil
}

// keepsSessions LISTENs on a channel of its own on one connection, sends a
// notice on it from another, and reports whether the first one receives
// it.
func (s *Store) keepsSessions(ctx context.Context) (bool, error) {
	var b [8]byte
	_, _ = rand.Read(b[:])
	channel := "auth_gate_probe_" + hex.EncodeToString(b[:])
	got := make(chan struct{}, 1)
	connector, err := pq.NewConnector(s.pqConn)
	if err != nil {
		return false, err
	}
	dc := newDeadlineConnector(connector)
	dc.onNotice = func(n *pq.Notification) {
		if n.Channel == channel {
			select {
			case got <- struct{}{}:
			default:
			}
		}
	}
	listenDB := sql.OpenDB(dc)
	defer listenDB.Close()
	conn, err := listenDB.Conn(ctx)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `LISTEN `+pq.QuoteIdentifier(channel)); err != nil {
		return false, err
	}
	if _, err := s.db.ExecContext(ctx, `SELECT pg_notify($1, 'probe')`, channel); err != nil {
		return false, err
	}
	// lib/pq reads a notice only while it reads a reply: ask the listening
	// connection something until the notice shows up or a pooler has had
	// every chance to deliver it.
	for range 20 {
		if _, err := conn.ExecContext(ctx, `SELECT 1`); err != nil {
			return false, err
		}
		select {
		case <-got:
			return true, nil
		default:
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return false, nil
}

// sessionsByTokensPrepared is sessionsByTokens on the named statement. ok
// is false when the statement could not be used and the caller should ask
// again unnamed.
func (s *Store) sessionsByTokensPrepared(ctx context.Context, q *queries, tokens []string) (found map[string]*sessionUserRow, ok bool, err error) {
	p := &s.prepared
	stmt, err := p.statement(ctx, s.db, q.sessionsByTokens)
	if err == nil {
		var rows *sqlx.Rows
		rows, err = stmt.QueryxContext(ctx, pq.StringArray(tokens))
		if err == nil {
			found, err = scanSessionRows(rows, len(tokens))
		}
	}
	if err == nil {
		p.used.Add(1)
		return found, true, nil
	}
	switch code := pqCode(err); code {
	case pqerror.InvalidSQLStatementName, pqerror.DuplicatePstatement:
		// Another server session than the one it was prepared on: a
		// transaction-mode pooler.
		p.off(s.log, stmt, err)
		return nil, false, nil
	case pqerror.FeatureNotSupported:
		// "cached plan must not change result type": a column's type
		// changed under the statement. Prepare it again next time.
		p.forget(stmt)
		return nil, false, nil
	}
	return nil, true, err
}

// statement returns the named statement for query, preparing it if needed
// (on one connection now; database/sql prepares it on each other
// connection at its first use there). The lock is not held while
// preparing: a database that has stopped answering must not hold the
// other lookups beyond their own deadlines.
func (p *preparedLookups) statement(ctx context.Context, db *sqlx.DB, query string) (*sqlx.Stmt, error) {
	p.mu.Lock()
	stmt, current := p.stmt, p.query == query
	p.mu.Unlock()
	if stmt != nil && current {
		return stmt, nil
	}
	stmt, err := db.PreparexContext(ctx, query)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stmt != nil && p.query == query { // another lookup prepared it meanwhile
		go stmt.Close()
		return p.stmt, nil
	}
	if p.stmt != nil {
		// The layout's statements were rebuilt (plugin columns appeared).
		go p.stmt.Close()
	}
	p.stmt, p.query = stmt, query
	return stmt, nil
}

// forget drops stmt, if it is still the current one, so that the next
// lookup prepares it again. Closing waits for the queries using it.
func (p *preparedLookups) forget(stmt *sqlx.Stmt) {
	if stmt == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stmt == stmt {
		p.stmt, p.query = nil, ""
		go stmt.Close()
	}
}

// off stops using named statements, for the life of the store.
func (p *preparedLookups) off(log *zap.Logger, stmt *sqlx.Stmt, err error) {
	p.on.Store(false)
	p.forget(stmt)
	if p.warned.CompareAndSwap(false, true) {
		log.Warn("the database refused a named prepared statement (a pooler in transaction mode?); session lookups use unnamed statements from now on",
			zap.Error(err))
	}
}

// close releases the statement with the pool.
func (p *preparedLookups) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stmt != nil {
		_ = p.stmt.Close()
		p.stmt = nil
	}
}

// pqCode is the SQLSTATE of a PostgreSQL error, or "".
func pqCode(err error) pqerror.Code {
	if pqErr := pq.As(err); pqErr != nil {
		return pqErr.Code
	}
	return ""
}

// scanSessionRows reads the rows of a session lookup, keyed by token.
func scanSessionRows(rows *sqlx.Rows, n int) (map[string]*sessionUserRow, error) {
	defer rows.Close()
	found := make(map[string]*sessionUserRow, n)
	for rows.Next() {
		r := new(sessionUserRow)
		if err := rows.StructScan(r); err != nil {
			return nil, err
		}
		found[r.Token] = r
	}
	return found, rows.Err()
}

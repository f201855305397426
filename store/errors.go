package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/lib/pq"
	"github.com/lib/pq/pqerror"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// wrap adds context to err and marks connection-level failures with
// ErrUnavailable, so that the gate can answer 503 instead of 500. op must
// not contain a secret (token, hash, password).
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if unavailable(err) && !errors.Is(err, ErrUnavailable) {
		return fmt.Errorf("%s: %w: %w", op, ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// errDBClosed is database/sql's unexported "sql: database is closed",
// captured once from a closed pool so that it is matched by identity, not by
// its text.
var errDBClosed = func() error {
	db := sql.OpenDB(nopConnector{})
	_ = db.Close()
	return db.PingContext(context.Background())
}()

// unavailable reports whether err means "the database cannot answer right
// now" as opposed to "the database answered no".
func unavailable(err error) bool {
	switch {
	case errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, driver.ErrBadConn),
		errors.Is(err, sql.ErrConnDone),
		errors.Is(err, errDBClosed),
		errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE):
		return true
	}
	// Dial failures, DNS failures, timeouts on the socket.
	var netErr net.Error
	if errors.As(err, &netErr) {
		return true
	}
	if pqErr := pq.As(err); pqErr != nil {
		switch pqErr.Code.Class() {
		case pqerror.ClassConnectionException, // 08: the connection failed
			pqerror.ClassInvalidAuthorizationSpecification, // 28: role may not log in, wrong password
			pqerror.ClassInvalidCatalogName,                // 3D: no such database
			pqerror.ClassInsufficientResources,             // 53: too many connections (a limit of 0 too), disk full
			pqerror.ClassOperatorIntervention,              // 57: shutdown, cannot connect now, statement timeout
			pqerror.ClassSystemError:                       // 58: I/O error
			return true
		}
		// The database does not accept connections (ALLOW_CONNECTIONS
		// false); none of our statements meets this code otherwise.
		return pqErr.Code == pqerror.ObjectNotInPrerequisiteState
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff { // primary result code
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR,
			sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_FULL, sqlite3.SQLITE_NOMEM:
			return true
		}
	}
	return false
}

// nopConnector never connects; it only exists to obtain errDBClosed.
type nopConnector struct{}

func (nopConnector) Connect(context.Context) (driver.Conn, error) { return nil, driver.ErrBadConn }
func (nopConnector) Driver() driver.Driver                        { return nopDriver{} }

type nopDriver struct{}

func (nopDriver) Open(string) (driver.Conn, error) { return nil, driver.ErrBadConn }

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
	return pqUnavailable(err) || sqliteUnavailable(err)
}

// nopConnector never connects; it only exists to obtain errDBClosed.
type nopConnector struct{}

func (nopConnector) Connect(context.Context) (driver.Conn, error) { return nil, driver.ErrBadConn }
func (nopConnector) Driver() driver.Driver                        { return nopDriver{} }

type nopDriver struct{}

func (nopDriver) Open(string) (driver.Conn, error) { return nil, driver.ErrBadConn }

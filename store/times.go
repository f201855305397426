package store

import (
	"database/sql"
	"database/sql/driver"
	"fmt"
	"time"
)

// sqliteTimeLayout is how times are stored on SQLite: JavaScript's
// toISOString(), UTC with milliseconds, so that text order is time order and
// Better Auth reads the values as it writes them.
const sqliteTimeLayout = "2006-01-02T15:04:05.000Z"

// normTime is the form every time takes before it is written: UTC, and cut
// to milliseconds, the precision Better Auth (JavaScript Date) and the SQLite
// layout have. Returning the normalised value to the caller makes what it
// gets back from a Create* equal to what a later read returns.
func normTime(t time.Time) time.Time {
	return t.UTC().Truncate(time.Millisecond)
}

func formatSQLiteTime(t time.Time) string {
	return t.UTC().Format(sqliteTimeLayout)
}

// readLayouts are the text forms a time column may hold: ours, other ISO
// variants (any number of fraction digits is accepted after the seconds),
// PostgreSQL's text output, SQLite's CURRENT_TIMESTAMP and datetime(), and
// modernc's "sqlite" and default time formats. Forms without a zone are UTC.
var readLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02 15:04:05Z0700",
	"2006-01-02 15:04:05Z07",
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05",
	"2006-01-02 15:04:05.999999999 -0700 MST",
}

// timeScanner reads a time column whatever the driver hands over and stores
// it in dst as UTC.
type timeScanner struct{ dst *time.Time }

// scanTime returns a Scan destination for a NOT NULL time column.
func scanTime(dst *time.Time) sql.Scanner { return timeScanner{dst} }

// Scan implements sql.Scanner.
func (s timeScanner) Scan(src any) error {
	switch v := src.(type) {
	case time.Time:
		*s.dst = v.UTC()
		return nil
	case string:
		return s.parse(v)
	case []byte:
		return s.parse(string(v))
	case int64:
		// Milliseconds since the epoch, as some JavaScript adapters store.
		*s.dst = time.UnixMilli(v).UTC()
		return nil
	case nil:
		return fmt.Errorf("time column is NULL")
	}
	return fmt.Errorf("cannot read a time from %T", src)
}

func (s timeScanner) parse(v string) error {
	for _, layout := range readLayouts {
		if t, err := time.Parse(layout, v); err == nil {
			*s.dst = t.UTC()
			return nil
		}
	}
	return fmt.Errorf("unrecognised time %q", v)
}

// nullTimeScanner reads a nullable time column into *dst, nil for NULL.
type nullTimeScanner struct{ dst **time.Time }

// scanNullTime returns a Scan destination for a nullable time column.
func scanNullTime(dst **time.Time) sql.Scanner { return nullTimeScanner{dst} }

// Scan implements sql.Scanner.
func (s nullTimeScanner) Scan(src any) error {
	if src == nil {
		*s.dst = nil
		return nil
	}
	var t time.Time
	if err := scanTime(&t).Scan(src); err != nil {
		return err
	}
	*s.dst = &t
	return nil
}

// flagScanner reads a nullable boolean column, NULL as false: PostgreSQL
// hands over a bool, SQLite the integer 0 or 1 (or, for a value written
// as text, "true" or "false").
type flagScanner struct{ dst *bool }

// scanFlag returns a Scan destination for a nullable boolean column.
func scanFlag(dst *bool) sql.Scanner { return flagScanner{dst} }

// Scan implements sql.Scanner.
func (s flagScanner) Scan(src any) error {
	if src == nil {
		*s.dst = false
		return nil
	}
	v, err := driver.Bool.ConvertValue(src)
	if err != nil {
		return fmt.Errorf("read a boolean: %w", err)
	}
	*s.dst = v.(bool)
	return nil
}

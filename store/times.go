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

// dbTime is a NOT NULL time column, read whatever the driver hands over
// (a time, ISO or other text, integer milliseconds) and kept as UTC. A
// nullable one is a *dbTime, nil for NULL.
type dbTime time.Time

// Scan implements sql.Scanner.
func (t *dbTime) Scan(src any) error {
	switch v := src.(type) {
	case time.Time:
		*t = dbTime(v.UTC())
		return nil
	case string:
		return t.parse(v)
	case []byte:
		return t.parse(string(v))
	case int64:
		// Milliseconds since the epoch, as some JavaScript adapters store.
		*t = dbTime(time.UnixMilli(v).UTC())
		return nil
	case nil:
		return fmt.Errorf("time column is NULL")
	}
	return fmt.Errorf("cannot read a time from %T", src)
}

func (t *dbTime) parse(v string) error {
	for _, layout := range readLayouts {
		if p, err := time.Parse(layout, v); err == nil {
			*t = dbTime(p.UTC())
			return nil
		}
	}
	return fmt.Errorf("unrecognised time %q", v)
}

// optionalTime is a nullable time column as the domain types hold it.
func optionalTime(t *dbTime) *time.Time {
	if t == nil {
		return nil
	}
	v := time.Time(*t)
	return &v
}

// dbFlag is a nullable boolean column, NULL as false: PostgreSQL hands over
// a bool, SQLite the integer 0 or 1 (or, for a value written as text,
// "true" or "false").
type dbFlag bool

// Scan implements sql.Scanner.
func (f *dbFlag) Scan(src any) error {
	if src == nil {
		*f = false
		return nil
	}
	v, err := driver.Bool.ConvertValue(src)
	if err != nil {
		return fmt.Errorf("read a boolean: %w", err)
	}
	*f = dbFlag(v.(bool))
	return nil
}

// Interface guards
var (
	_ sql.Scanner = (*dbTime)(nil)
	_ sql.Scanner = (*dbFlag)(nil)
)

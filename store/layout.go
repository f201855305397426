package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"

	"github.com/jmoiron/sqlx"
)

// layout is the column naming of an adopted database: Better Auth's own
// migrator writes camelCase ("emailVerified"), Drizzle's generator writes
// snake_case ("email_verified"). Table names are the same in both.
type layout string

const (
	layoutCamel layout = "camel"
	layoutSnake layout = "snake"
)

// column returns the quoted column name for a Better Auth field name
// (always given in camelCase, as Better Auth names its fields).
func (l layout) column(field string) string {
	name := field
	if l == layoutSnake {
		var b strings.Builder
		for _, r := range field {
			if unicode.IsUpper(r) {
				b.WriteByte('_')
				r = unicode.ToLower(r)
			}
			b.WriteRune(r)
		}
		name = b.String()
	}
	return `"` + name + `"`
}

// fieldRef matches {field} in a query template.
var fieldRef = regexp.MustCompile(`\{([A-Za-z]+)\}`)

// expand turns a query template, written with {field} for column names and ?
// for arguments, into the final SQL of one layout and dialect.
func expand(tmpl string, l layout, d *dialect) string {
	q := fieldRef.ReplaceAllStringFunc(tmpl, func(m string) string {
		return l.column(m[1 : len(m)-1])
	})
	return sqlx.Rebind(d.bindType, q)
}

// detectLayout asks the database which naming table "user" uses.
func detectLayout(ctx context.Context, db *sqlx.DB, d *dialect) (layout, error) {
	rows, err := db.QueryContext(ctx, d.layoutQuery)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var camel, snake bool
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return "", err
		}
		camel = camel || name == "emailVerified"
		snake = snake || name == "email_verified"
	}
	if err := rows.Err(); err != nil {
		return "", err
	}
	switch {
	case camel && snake:
		return "", fmt.Errorf(`table "user" has both emailVerified and email_verified: set schema camel or snake`)
	case camel:
		return layoutCamel, nil
	case snake:
		return layoutSnake, nil
	}
	return "", fmt.Errorf(`table "user" with an emailVerified or email_verified column not found: run the migrations, or check the database and search_path`)
}

// Detect connects and chooses the column layout (schema "auto") without
// applying migrations, for deployments that manage the schema themselves.
// With schema camel or snake it only checks that the database answers.
func (s *Store) Detect(ctx context.Context) error {
	ctx, cancel := boundSchemaWork(ctx)
	defer cancel()
	if err := s.detectMu.lock(ctx); err != nil {
		return wrap("detect column layout", err)
	}
	defer s.detectMu.unlock()
	if s.schema != "auto" {
		if err := s.Ping(ctx); err != nil {
			return err
		}
		return s.detectTimeFormat(ctx, s.q.Load().layout)
	}
	return s.detectLocked(ctx)
}

func (s *Store) detectLocked(ctx context.Context) error {
	l, err := detectLayout(ctx, s.db, s.dialect)
	if err != nil {
		return wrap("detect column layout", err)
	}
	s.q.Store(buildQueries(l, s.dialect))
	return s.detectTimeFormat(ctx, l)
}

// detectTimeFormat switches a SQLite store to integer-millisecond times
// when table "user" declares its creation time an integer, as Drizzle's
// SQLite schema for Better Auth does; Better Auth's own migrate and ours
// declare text (ISO 8601), the dialect's default.
func (s *Store) detectTimeFormat(ctx context.Context, l layout) error {
	if s.dialect != sqliteDialect {
		return nil
	}
	var declared string
	err := s.db.QueryRowContext(ctx, `SELECT type FROM pragma_table_info('user') WHERE name = ?`,
		strings.Trim(l.column("createdAt"), `"`)).Scan(&declared)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return wrap("detect time format", err)
	}
	if strings.EqualFold(strings.TrimSpace(declared), "integer") {
		q := *s.q.Load()
		q.timeArg = func(t time.Time) any { return normTime(t).UnixMilli() }
		s.q.Store(&q)
	}
	return nil
}

// queries returns the statements for the detected layout, detecting it on
// first use when neither Migrate nor Detect ran.
func (s *Store) queries(ctx context.Context) (*queries, error) {
	if q := s.q.Load(); q != nil {
		return q, nil
	}
	if err := s.detectMu.lock(ctx); err != nil {
		return nil, wrap("detect column layout", err)
	}
	defer s.detectMu.unlock()
	if q := s.q.Load(); q != nil { // another caller detected meanwhile
		return q, nil
	}
	if err := s.detectLocked(ctx); err != nil {
		return nil, err
	}
	return s.q.Load(), nil
}

package store

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
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

// CheckSchema validates a schema setting: "auto" (or "", which means auto)
// detects the layout, "camel" and "snake" name it. The module, its
// Caddyfile and the commands all accept what Open accepts.
func CheckSchema(schema string) error {
	switch schema {
	case "", "auto", string(layoutCamel), string(layoutSnake):
		return nil
	}
	return fmt.Errorf("must be auto, camel or snake, got %q", schema)
}

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
	var names []string
	if err := db.SelectContext(ctx, &names, d.layoutQuery); err != nil {
		return "", err
	}
	camel := slices.Contains(names, "emailVerified")
	snake := slices.Contains(names, "email_verified")
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

// Detect connects, chooses the column layout (schema "auto"; with camel or
// snake the given one), and finds the time column type and the plugin
// columns, without applying migrations, for deployments that manage the
// schema themselves.
func (s *Store) Detect(ctx context.Context) error {
	ctx, cancel := boundSchemaWork(ctx)
	defer cancel()
	if err := s.detectMu.lock(ctx); err != nil {
		return wrap("detect column layout", err)
	}
	defer s.detectMu.unlock()
	return s.detectLocked(ctx)
}

func (s *Store) detectLocked(ctx context.Context) error {
	l := layout(s.schema)
	if s.schema == "auto" {
		var err error
		if l, err = detectLayout(ctx, s.db, s.dialect); err != nil {
			return wrap("detect column layout", err)
		}
	}
	info, err := detectSchema(ctx, s.db, s.dialect, l)
	if err != nil {
		return wrap("detect plugin columns", err)
	}
	q := buildQueries(l, s.dialect, info.Plugins)
	q.timeArg = s.dialect.timeArgFor(info.TimeColumns)
	q.info, q.detected = info, true
	s.q.Store(q)
	s.logDetected(info)
	return nil
}

// Ready makes the store ready for queries, as every method that needs it
// does on first use: it connects, applies the migrations when
// Options.Migrate is set, and detects the schema. Once done it costs one
// atomic load; a failure is not remembered, so a database that comes up
// late is picked up by the next call. Callers use it to fail early, at
// start, rather than on the first request.
func (s *Store) Ready(ctx context.Context) error {
	ctx, cancel := boundSchemaWork(ctx)
	defer cancel()
	_, err := s.queries(ctx)
	return err
}

// queries returns the statements for the detected layout, getting ready
// (see Ready) on first use when neither Migrate nor Detect ran. A layout
// given in Options is detected too: the plugin columns must be known
// before any sign-in or session lookup.
func (s *Store) queries(ctx context.Context) (*queries, error) {
	if q := s.q.Load(); q != nil && q.detected {
		return q, nil
	}
	if err := s.detectMu.lock(ctx); err != nil {
		return nil, wrap("detect column layout", err)
	}
	defer s.detectMu.unlock()
	if q := s.q.Load(); q != nil && q.detected { // another caller got ready meanwhile
		return q, nil
	}
	if s.migrateOnReady {
		if _, err := s.migrate(ctx); err != nil {
			return nil, err
		}
	}
	if err := s.detectLocked(ctx); err != nil {
		return nil, err
	}
	return s.q.Load(), nil
}

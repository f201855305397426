package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
)

// adminQueries are the statements only the operator's commands (`caddy auth
// …`) use. Like queries, they are built once per column layout and dialect,
// when first needed, so that the request paths never carry them.
type adminQueries struct {
	listUsers         string
	deleteSessionByID string
}

// adminQueryKey identifies one built set of adminQueries.
type adminQueryKey struct {
	layout  layout
	dialect *dialect
	plugins Plugins
}

// adminQueryCache holds *adminQueries by adminQueryKey: a few entries.
var adminQueryCache sync.Map

func buildAdminQueries(l layout, d *dialect, p Plugins) *adminQueries {
	x := func(tmpl string) string { return expand(tmpl, l, d) }
	return &adminQueries{
		// The id breaks ties between users created in the same millisecond,
		// so that paging with offset neither skips nor repeats a user.
		listUsers: x(`SELECT ` + userColumns(p, "u.", "") + ` FROM "user" u
			ORDER BY ` + d.cmpTime(`u.{createdAt}`) + `, u."id"
			LIMIT ? OFFSET ?`),
		deleteSessionByID: x(`DELETE FROM "session" WHERE "id" = ? RETURNING {userId}`),
	}
}

// adminQueries returns the operator statements for the detected layout,
// detecting it on first use as queries does.
func (s *Store) adminQueries(ctx context.Context) (*adminQueries, error) {
	q, err := s.queries(ctx)
	if err != nil {
		return nil, err
	}
	key := adminQueryKey{q.layout, s.dialect, q.info.Plugins}
	if aq, ok := adminQueryCache.Load(key); ok {
		return aq.(*adminQueries), nil
	}
	aq, _ := adminQueryCache.LoadOrStore(key, buildAdminQueries(q.layout, s.dialect, q.info.Plugins))
	return aq.(*adminQueries), nil
}

// MigrateApplied is Migrate that also reports how many migrations it
// applied (0 when the database was up to date), for `caddy auth migrate`.
func (s *Store) MigrateApplied(ctx context.Context) (int, error) {
	ctx, cancel := boundSchemaWork(ctx)
	defer cancel()
	n, err := s.migrate(ctx)
	if err != nil {
		return n, err
	}
	return n, s.Detect(ctx)
}

// Layout is the column naming in use, "camel" or "snake"; "" until Migrate
// or Detect ran (or a first query detected it), unless the layout was given
// in Options.
func (s *Store) Layout() string {
	if q := s.q.Load(); q != nil {
		return string(q.layout)
	}
	return ""
}

// ListUsers returns at most limit users, oldest first, skipping the first
// offset of them.
func (s *Store) ListUsers(ctx context.Context, limit, offset int) ([]User, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	const op = "list users"
	if limit <= 0 || offset < 0 {
		return nil, fmt.Errorf("%s: need limit > 0 and offset >= 0, got %d and %d", op, limit, offset)
	}
	aq, err := s.adminQueries(ctx)
	if err != nil {
		return nil, wrap(op, err)
	}
	var rows []userRow
	if err := s.db.SelectContext(ctx, &rows, aq.listUsers, limit, offset); err != nil {
		return nil, wrap(op, err)
	}
	var list []User
	for i := range rows {
		list = append(list, rows[i].user())
	}
	return list, nil
}

// DeleteSessionByID deletes one session, whoever owns it, and returns the id
// of the user it belonged to; ErrNotFound when there is no such session.
func (s *Store) DeleteSessionByID(ctx context.Context, id string) (string, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	op := "delete session " + id
	aq, err := s.adminQueries(ctx)
	if err != nil {
		return "", wrap(op, err)
	}
	var userID string
	err = s.db.GetContext(ctx, &userID, aq.deleteSessionByID, id)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return "", wrap(op, err)
	}
	return userID, nil
}

package store

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/testsupport"
)

func TestAdmin_ListUsersPagesOldestFirst(t *testing.T) {
	eachLayout(t, func(t *testing.T, st *Store) {
		ctx := testCtx(t)
		// eachLayout names its subtests after the layout.
		if l := st.Layout(); l == "" || !strings.Contains(t.Name(), "/"+l+"/") {
			t.Errorf("Layout = %q in %s", l, t.Name())
		}
		if got, err := st.ListUsers(ctx, 10, 0); err != nil || len(got) != 0 {
			t.Fatalf("empty database: %v, %v; want no users", got, err)
		}

		// Created out of order, so that the order comes from createdAt; two
		// share a millisecond, so that the id decides between them.
		mk := func(email string, at time.Time) User {
			u, err := st.CreateUserWithPassword(ctx, NewUser{Name: "N", Email: email, PasswordHash: "s:k"}, at)
			if err != nil {
				t.Fatal(err)
			}
			return u
		}
		c := mk("c@example.com", testNow.Add(2*time.Hour))
		a := mk("a@example.com", testNow)
		b1 := mk("b1@example.com", testNow.Add(time.Hour))
		b2 := mk("b2@example.com", testNow.Add(time.Hour))
		if b2.ID < b1.ID {
			b1, b2 = b2, b1
		}
		want := []User{a, b1, b2, c}
		if st.Driver() == "sqlite" && st.Layout() == "snake" {
			// Drizzle writes integer milliseconds into its integer columns,
			// and SQLite orders every integer before every text: the order
			// must still be by time.
			raw(t, st, `UPDATE "user" SET {createdAt} = ? WHERE "id" = ?`, c.CreatedAt.UnixMilli(), c.ID)
		}

		var got []User
		for offset := 0; ; offset += 3 {
			page, err := st.ListUsers(ctx, 3, offset)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, page...)
			if len(page) < 3 {
				break
			}
		}
		if len(got) != len(want) {
			t.Fatalf("ListUsers paged = %d users %+v, want %d", len(got), got, len(want))
		}
		for i := range want {
			assertUser(t, got[i], want[i])
		}
	})
}

func TestAdmin_ListUsersRefusesABadPage(t *testing.T) {
	st := migratedStore(t, testsupport.SQLiteDSN(t))
	for _, p := range [][2]int{{0, 0}, {-1, 0}, {10, -1}} {
		if _, err := st.ListUsers(testCtx(t), p[0], p[1]); err == nil {
			t.Errorf("ListUsers(%d, %d) succeeded, want an error", p[0], p[1])
		}
	}
}

func TestAdmin_DeleteSessionByIDDeletesOnlyThatSession(t *testing.T) {
	eachLayout(t, func(t *testing.T, st *Store) {
		ctx := testCtx(t)
		u := mkUser(t, st, "ada@example.com")
		other := mkUser(t, st, "bob@example.com")
		target, kept := mkSession(t, st, u.ID, testNow), mkSession(t, st, u.ID, testNow)
		theirs := mkSession(t, st, other.ID, testNow)

		owner, err := st.DeleteSessionByID(ctx, target.ID)
		if err != nil || owner != u.ID {
			t.Fatalf("DeleteSessionByID = %q, %v; want %q", owner, err, u.ID)
		}
		if _, _, err := st.SessionByToken(ctx, target.Token); !errors.Is(err, ErrNotFound) {
			t.Errorf("deleted session still found: %v", err)
		}
		for _, ss := range []Session{kept, theirs} {
			if _, _, err := st.SessionByToken(ctx, ss.Token); err != nil {
				t.Errorf("session %s was not to be deleted: %v", ss.ID, err)
			}
		}

		for _, id := range []string{target.ID, "no-such-session", target.Token} {
			if _, err := st.DeleteSessionByID(ctx, id); !errors.Is(err, ErrNotFound) {
				t.Errorf("DeleteSessionByID(%q): err = %v, want ErrNotFound", id, err)
			}
		}
		if _, _, err := st.SessionByToken(ctx, target.Token); !errors.Is(err, ErrNotFound) {
			t.Error("a token was taken for an id")
		}
	})
}

func TestAdmin_MigrateAppliedCountsAndDetects(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		st := openStore(t, dsn, Options{})
		if l := st.Layout(); l != "" {
			t.Errorf("Layout before detection = %q, want empty", l)
		}
		n, err := st.MigrateApplied(testCtx(t))
		if err != nil || n == 0 {
			t.Fatalf("first MigrateApplied = %d, %v; want some migrations applied", n, err)
		}
		if l := st.Layout(); l != "camel" {
			t.Errorf("Layout = %q, want camel", l)
		}
		n, err = st.MigrateApplied(testCtx(t))
		if err != nil || n != 0 {
			t.Errorf("second MigrateApplied = %d, %v; want 0", n, err)
		}
	})
}

package store

import (
	"errors"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/testsupport"
)

func TestUserByEmail_FindsTheUserOrErrNotFound(t *testing.T) {
	eachLayout(t, func(t *testing.T, st *Store) {
		u := mkUser(t, st, "ada@example.com")
		got, err := st.UserByEmail(testCtx(t), "ada@example.com")
		if err != nil {
			t.Fatal(err)
		}
		assertUser(t, got, u)

		_, err = st.UserByEmail(testCtx(t), "nobody@example.com")
		if !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown email: err = %v, want ErrNotFound", err)
		}
		if errors.Is(err, ErrUnavailable) {
			t.Errorf("a missing row is not an outage: %v", err)
		}
	})
}

func TestPasswordHash_ReadsOnlyAUsableCredentialAccount(t *testing.T) {
	eachLayout(t, func(t *testing.T, st *Store) {
		cases := []struct {
			name    string
			fixture string // run on the user's accounts; "" keeps the sign-up account
			want    string // "" means ErrNotFound
		}{
			{"SignUpAccount", "", "s:k"},
			{"NullPassword", `UPDATE "account" SET "password" = NULL WHERE {userId} = ?`, ""},
			{"EmptyPassword", `UPDATE "account" SET "password" = '' WHERE {userId} = ?`, ""},
			{"AccountIDNotTheUserID", `UPDATE "account" SET {accountId} = 'other' WHERE {userId} = ?`, ""},
			{"OtherProvider", `UPDATE "account" SET {providerId} = 'github' WHERE {userId} = ?`, ""},
			{"NoAccount", `DELETE FROM "account" WHERE {userId} = ?`, ""},
		}
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				u := mkUser(t, st, string(rune('a'+i))+"@example.com")
				if tc.fixture != "" {
					raw(t, st, tc.fixture, u.ID)
				}
				got, err := st.PasswordHash(testCtx(t), u.ID)
				if tc.want == "" {
					if !errors.Is(err, ErrNotFound) {
						t.Fatalf("err = %v, want ErrNotFound", err)
					}
					return
				}
				if err != nil || got != tc.want {
					t.Fatalf("PasswordHash = %q, %v; want %q", got, err, tc.want)
				}
			})
		}
		t.Run("UnknownUser", func(t *testing.T) {
			if _, err := st.PasswordHash(testCtx(t), "ghost"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("err = %v, want ErrNotFound", err)
			}
		})
	})
}

func TestUpdateUser_ChangesOnlyTheGivenFieldsAndBumpsUpdatedAt(t *testing.T) {
	img := "https://example.com/new.png"
	newName := "Grace"
	var null *string
	eachLayout(t, func(t *testing.T, st *Store) {
		cases := []struct {
			name      string
			upd       UserUpdate
			wantName  string
			wantImage *string // the image the user starts with is "old"
		}{
			{"NothingBumpsUpdatedAtOnly", UserUpdate{}, "N", ptr("old")},
			{"Name", UserUpdate{Name: &newName}, "Grace", ptr("old")},
			{"Image", UserUpdate{Image: ptr(&img)}, "N", &img},
			{"ImageToNull", UserUpdate{Image: &null}, "N", nil},
			{"Both", UserUpdate{Name: &newName, Image: ptr(&img)}, "Grace", &img},
		}
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				ctx := testCtx(t)
				u := mkUser(t, st, string(rune('a'+i))+"@example.com")
				raw(t, st, `UPDATE "user" SET "image" = 'old' WHERE "id" = ?`, u.ID)
				later := testNow.Add(time.Hour)
				got, err := st.UpdateUser(ctx, u.ID, tc.upd, later)
				if err != nil {
					t.Fatal(err)
				}
				want := u
				want.Name, want.Image, want.UpdatedAt = tc.wantName, tc.wantImage, normTime(later)
				assertUser(t, got, want)
				read, err := st.UserByID(ctx, u.ID)
				if err != nil {
					t.Fatal(err)
				}
				assertUser(t, read, want)
			})
		}
		t.Run("UnknownUserIsErrNotFound", func(t *testing.T) {
			if _, err := st.UpdateUser(testCtx(t), "ghost", UserUpdate{Name: &newName}, testNow); !errors.Is(err, ErrNotFound) {
				t.Fatalf("err = %v, want ErrNotFound", err)
			}
		})
	})
}

func ptr[T any](v T) *T { return &v }

func TestMarkEmailVerified_SetsTheFlagAndUpdatedAt(t *testing.T) {
	eachLayout(t, func(t *testing.T, st *Store) {
		ctx := testCtx(t)
		u := mkUser(t, st, "ada@example.com")
		later := testNow.Add(time.Minute)
		got, err := st.MarkEmailVerified(ctx, u.ID, later)
		if err != nil {
			t.Fatal(err)
		}
		want := u
		want.EmailVerified, want.UpdatedAt = true, normTime(later)
		assertUser(t, got, want)
		read, err := st.UserByID(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		assertUser(t, read, want)

		if _, err := st.MarkEmailVerified(ctx, "ghost", later); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown user: err = %v, want ErrNotFound", err)
		}
	})
}

func TestSetPassword_UpdatesOrCreatesTheCredentialAccount(t *testing.T) {
	eachLayout(t, func(t *testing.T, st *Store) {
		cases := []struct {
			name    string
			fixture string // run on the user's accounts before SetPassword
			revoke  bool
		}{
			{"UpdatesExistingAccount", "", false},
			{"UpdatesAndRevokesSessions", "", true},
			{"CreatesMissingAccount", `DELETE FROM "account" WHERE {userId} = ?`, false},
			{"CreatesWhenOnlyAnotherProviderExists", `UPDATE "account" SET {providerId} = 'github', "password" = NULL WHERE {userId} = ?`, true},
		}
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				ctx := testCtx(t)
				u := mkUser(t, st, string(rune('a'+i))+"@example.com")
				if tc.fixture != "" {
					raw(t, st, tc.fixture, u.ID)
				}
				s1, s2 := mkSession(t, st, u.ID, testNow), mkSession(t, st, u.ID, testNow)
				credBefore := count(t, st, `SELECT count(*) FROM "account" WHERE {userId} = ? AND {providerId} = 'credential'`, u.ID)

				later := testNow.Add(time.Hour)
				revoked, err := st.SetPassword(ctx, u.ID, "new:hash", tc.revoke, later)
				if err != nil {
					t.Fatal(err)
				}
				if got, err := st.PasswordHash(ctx, u.ID); err != nil || got != "new:hash" {
					t.Fatalf("PasswordHash = %q, %v; want new:hash", got, err)
				}
				if n := count(t, st, `SELECT count(*) FROM "account" WHERE {userId} = ? AND {providerId} = 'credential'`, u.ID); n != 1 {
					t.Errorf("credential accounts = %d, want 1 (had %d)", n, credBefore)
				}
				assertTime(t, "account updatedAt", readTime(t, st,
					`SELECT {updatedAt} FROM "account" WHERE {userId} = ? AND {providerId} = 'credential'`, u.ID), normTime(later))
				if credBefore == 0 {
					// Created as Better Auth creates it.
					n := count(t, st, `SELECT count(*) FROM "account" WHERE {userId} = ? AND {accountId} = ?
						AND {providerId} = 'credential' AND length("id") = 32`, u.ID, u.ID)
					if n != 1 {
						t.Errorf("created account does not look like Better Auth's")
					}
					assertTime(t, "account createdAt", readTime(t, st,
						`SELECT {createdAt} FROM "account" WHERE {userId} = ? AND {providerId} = 'credential'`, u.ID), normTime(later))
				}

				left := count(t, st, `SELECT count(*) FROM "session" WHERE {userId} = ?`, u.ID)
				if tc.revoke {
					if !sameIDs(revoked, []string{s1.ID, s2.ID}) || left != 0 {
						t.Errorf("revoked %v, %d sessions left; want both of %s %s revoked", revoked, left, s1.ID, s2.ID)
					}
				} else if len(revoked) != 0 || left != 2 {
					t.Errorf("revoked %v, %d sessions left; want none revoked", revoked, left)
				}
			})
		}
		t.Run("UnknownUserIsErrNotFoundAndCreatesNothing", func(t *testing.T) {
			before := count(t, st, `SELECT count(*) FROM "account"`)
			if _, err := st.SetPassword(testCtx(t), "ghost", "new:hash", true, testNow); !errors.Is(err, ErrNotFound) {
				t.Fatalf("err = %v, want ErrNotFound", err)
			}
			if n := count(t, st, `SELECT count(*) FROM "account"`); n != before {
				t.Errorf("accounts = %d, want %d", n, before)
			}
		})
	})
}

func TestDeleteUser_RemovesSessionsAccountsAndUser(t *testing.T) {
	eachLayout(t, func(t *testing.T, st *Store) {
		exerciseDeleteUser(t, st)
	})
}

// noCascadeDDL are Better Auth's tables without ON DELETE CASCADE: with
// foreign keys that refuse the user's deletion while children exist, and
// without foreign keys at all, where children would be left behind.
var noCascadeDDL = map[string]func(fk string) []string{
	"postgres": func(fk string) []string {
		return []string{
			`create table "user" ("id" text not null primary key, "name" text not null, "email" text not null unique, "emailVerified" boolean not null, "image" text, "createdAt" timestamptz not null, "updatedAt" timestamptz not null)`,
			`create table "session" ("id" text not null primary key, "expiresAt" timestamptz not null, "token" text not null unique, "createdAt" timestamptz not null, "updatedAt" timestamptz not null, "ipAddress" text, "userAgent" text, "userId" text not null ` + fk + `)`,
			`create table "account" ("id" text not null primary key, "accountId" text not null, "providerId" text not null, "userId" text not null ` + fk + `, "password" text, "createdAt" timestamptz not null, "updatedAt" timestamptz not null)`,
			`create table "verification" ("id" text not null primary key, "identifier" text not null, "value" text not null, "expiresAt" timestamptz not null, "createdAt" timestamptz not null, "updatedAt" timestamptz not null)`,
		}
	},
	"sqlite": func(fk string) []string {
		return []string{
			`create table "user" ("id" text not null primary key, "name" text not null, "email" text not null unique, "emailVerified" integer not null, "image" text, "createdAt" text not null, "updatedAt" text not null)`,
			`create table "session" ("id" text not null primary key, "expiresAt" text not null, "token" text not null unique, "createdAt" text not null, "updatedAt" text not null, "ipAddress" text, "userAgent" text, "userId" text not null ` + fk + `)`,
			`create table "account" ("id" text not null primary key, "accountId" text not null, "providerId" text not null, "userId" text not null ` + fk + `, "password" text, "createdAt" text not null, "updatedAt" text not null)`,
			`create table "verification" ("id" text not null primary key, "identifier" text not null, "value" text not null, "expiresAt" text not null, "createdAt" text not null, "updatedAt" text not null)`,
		}
	},
}

func TestDeleteUser_WorksWithoutOnDeleteCascade(t *testing.T) {
	for _, fk := range []struct{ name, clause string }{
		{"ForeignKeysWithoutCascade", `references "user" ("id")`},
		{"NoForeignKeys", ``},
	} {
		t.Run(fk.name, func(t *testing.T) {
			testsupport.Both(t, func(t *testing.T, dsn string) {
				st := openStore(t, dsn, Options{})
				if st.sqlitePath != "" {
					if err := ensureSQLiteFile(st.sqlitePath); err != nil {
						t.Fatal(err)
					}
				}
				execAll(t, st, noCascadeDDL[st.Driver()](fk.clause)...)
				exerciseDeleteUser(t, adopted(t, st, layoutCamel))
			})
		})
	}
}

// exerciseDeleteUser deletes a user with two sessions and its account, next
// to a user that must stay whole.
func exerciseDeleteUser(t *testing.T, st *Store) {
	ctx := testCtx(t)
	u := mkUser(t, st, "ada@example.com")
	s1, s2 := mkSession(t, st, u.ID, testNow), mkSession(t, st, u.ID, testNow)
	other := mkUser(t, st, "bob@example.com")
	so := mkSession(t, st, other.ID, testNow)

	revoked, err := st.DeleteUser(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !sameIDs(revoked, []string{s1.ID, s2.ID}) {
		t.Errorf("revoked = %v, want %s and %s", revoked, s1.ID, s2.ID)
	}
	for _, c := range []struct{ what, tmpl string }{
		{"user", `SELECT count(*) FROM "user" WHERE "id" = ?`},
		{"sessions", `SELECT count(*) FROM "session" WHERE {userId} = ?`},
		{"accounts", `SELECT count(*) FROM "account" WHERE {userId} = ?`},
	} {
		if n := count(t, st, c.tmpl, u.ID); n != 0 {
			t.Errorf("%s of the deleted user left: %d", c.what, n)
		}
		if n := count(t, st, c.tmpl, other.ID); n == 0 {
			t.Errorf("%s of the other user were deleted", c.what)
		}
	}
	if _, _, err := st.SessionByToken(ctx, so.Token); err != nil {
		t.Errorf("other user's session: %v", err)
	}

	if _, err := st.DeleteUser(ctx, u.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: err = %v, want ErrNotFound", err)
	}
}

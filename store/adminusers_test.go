package store

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestAdminColumns_AreReadInEitherLayout: with the admin plugin's columns,
// users carry their role as stored and sessions their impersonatedBy, in
// every layout; a user created here gets the plugin's defaults (role
// "user", banned false). Without the columns, nothing of the plugin shows.
func TestAdminColumns_AreReadInEitherLayout(t *testing.T) {
	for _, f := range pluginFixtures() {
		t.Run(f.name, func(t *testing.T) {
			st := f.open(t, f.extra, Options{})
			u := mkUser(t, st, "ada@example.com")
			if !u.AdminColumns || u.Role != "user" || u.Banned {
				t.Fatalf("created user: AdminColumns %v, role %q, banned %v; want true, user, false", u.AdminColumns, u.Role, u.Banned)
			}
			execAll(t, st, expand(`UPDATE "user" SET "role" = 'admin,analyst', {banReason} = 'why' WHERE "id" = '`+u.ID+`'`, layout(st.Layout()), st.dialect))
			got, err := st.UserByID(testCtx(t), u.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Role != "admin,analyst" || got.BanReason == nil || *got.BanReason != "why" || !got.AdminColumns {
				t.Errorf("UserByID: role %q, banReason %v, AdminColumns %v", got.Role, got.BanReason, got.AdminColumns)
			}
			ss := mkSession(t, st, u.ID, testNow)
			if !ss.ImpersonationColumn || ss.ImpersonatedBy != nil {
				t.Errorf("created session: ImpersonationColumn %v, ImpersonatedBy %v", ss.ImpersonationColumn, ss.ImpersonatedBy)
			}
			execAll(t, st, expand(`UPDATE "session" SET {impersonatedBy} = 'adm' WHERE "id" = '`+ss.ID+`'`, layout(st.Layout()), st.dialect))
			gs, gu, err := st.SessionByToken(testCtx(t), ss.Token)
			if err != nil {
				t.Fatal(err)
			}
			if !gs.ImpersonationColumn || gs.ImpersonatedBy == nil || *gs.ImpersonatedBy != "adm" || gu.Role != "admin,analyst" || !gu.AdminColumns {
				t.Errorf("SessionByToken: impersonation %v %v, user role %q admin %v", gs.ImpersonationColumn, gs.ImpersonatedBy, gu.Role, gu.AdminColumns)
			}
			list, err := st.ListSessions(testCtx(t), u.ID, testNow)
			if err != nil || len(list) != 1 || list[0].ImpersonatedBy == nil {
				t.Errorf("ListSessions: %+v, %v", list, err)
			}
		})
		t.Run(f.name+", core only", func(t *testing.T) {
			st := f.open(t, nil, Options{})
			u := mkUser(t, st, "bob@example.com")
			ss := mkSession(t, st, u.ID, testNow)
			gs, gu, err := st.SessionByToken(testCtx(t), ss.Token)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range []User{u, gu} {
				if v.AdminColumns || v.Role != "" {
					t.Errorf("user without admin columns: AdminColumns %v, role %q", v.AdminColumns, v.Role)
				}
			}
			if ss.ImpersonationColumn || gs.ImpersonationColumn {
				t.Errorf("session without the column says it has it")
			}
		})
	}
}

// TestEnsureAdminSchema_AddsTheMissingColumnsOnce: on a database without
// the admin plugin, the columns appear with the layout's names and types
// (timestamps like the table's others), existing rows read as not banned,
// and a second run changes nothing. On a database that has them, nothing
// is done.
func TestEnsureAdminSchema_AddsTheMissingColumnsOnce(t *testing.T) {
	for _, f := range pluginFixtures() {
		t.Run(f.name, func(t *testing.T) {
			st := f.open(t, nil, Options{})
			before := mkUser(t, st, "old@example.com")
			if st.Schema().Plugins.Role {
				t.Fatal("fixture already has the role column")
			}
			for range 2 {
				if err := st.EnsureAdminSchema(testCtx(t)); err != nil {
					t.Fatalf("EnsureAdminSchema: %v", err)
				}
			}
			p := st.Schema().Plugins
			if p.missingAdmin() || p.TwoFactorEnabled {
				t.Fatalf("plugins after EnsureAdminSchema: %+v", p)
			}
			var types map[string]string = map[string]string{}
			var rows []struct {
				Table  string `db:"table_name"`
				Column string `db:"column_name"`
				Type   string `db:"column_type"`
			}
			if err := st.db.SelectContext(testCtx(t), &rows, st.dialect.columnsQuery); err != nil {
				t.Fatal(err)
			}
			for _, r := range rows {
				types[r.Column] = strings.ToLower(r.Type)
			}
			want := map[string]string{"role": "text", "banned": "bool", "banReason": "text", "banExpires": f.time, "impersonatedBy": "text"}
			if !f.postgres {
				want["banned"], want["banExpires"] = "integer", "date"
				if f.snake {
					want["banExpires"] = "integer"
				}
			}
			for field, typ := range want {
				col := strings.Trim(layout(st.Layout()).column(field), `"`)
				if types[col] != typ {
					t.Errorf("column %s: type %q, want %q", col, types[col], typ)
				}
			}
			got, err := st.UserByID(testCtx(t), before.ID)
			if err != nil || !got.AdminColumns || got.Banned || got.Role != "" {
				t.Errorf("user from before: %+v, %v", got, err)
			}
			if u := mkUser(t, st, "new@example.com"); u.Role != "user" {
				t.Errorf("new user's role %q, want user", u.Role)
			}
		})
	}
	t.Run("columns present", func(t *testing.T) {
		f := pluginFixtures()[0]
		st := f.open(t, f.extra, Options{})
		if got := adminSchemaDDL(layout(st.Layout()), st.dialect, st.Schema()); len(got) != 0 {
			t.Errorf("DDL for a database that has the columns: %q", got)
		}
	})
}

// TestAdminUsers_InEitherLayout: the admin endpoints' store calls on every
// layout the admin plugin's columns come in.
func TestAdminUsers_InEitherLayout(t *testing.T) {
	for _, f := range pluginFixtures() {
		t.Run(f.name, func(t *testing.T) {
			st := f.open(t, f.extra, Options{})
			ctx := testCtx(t)
			a, b := mkUser(t, st, "a@example.com"), mkUser(t, st, "b@example.com")
			ss := mkSession(t, st, b.ID, testNow)
			if u, err := st.SetRole(ctx, a.ID, "admin,user", testNow); err != nil || u.Role != "admin,user" {
				t.Fatalf("SetRole: %+v, %v", u, err)
			}
			exp := testNow.Add(time.Hour)
			u, revoked, err := st.BanUser(ctx, b.ID, "spam", &exp, testNow)
			if err != nil || !u.Banned || *u.BanReason != "spam" || !u.BanExpires.Equal(normTime(exp)) || len(revoked) != 1 || revoked[0] != ss.ID {
				t.Fatalf("BanUser: %+v, %v, %v", u, revoked, err)
			}
			for _, tc := range []struct {
				q    UserQuery
				want string
			}{
				{UserQuery{SortBy: "email"}, "a b"},
				{UserQuery{SortBy: "email", SortDirection: "desc"}, "b a"},
				{UserQuery{Filter: true, FilterField: "banned", FilterValues: []string{"true"}}, "b"},
				{UserQuery{Filter: true, FilterField: "banReason", FilterValues: []string{"spam"}}, "b"},
				{UserQuery{Filter: true, FilterField: "banExpires", FilterOperator: "gt", FilterValues: []string{testNow.Format(time.RFC3339)}}, "b"},
				{UserQuery{Filter: true, FilterField: "role", FilterOperator: "contains", FilterValues: []string{"admin"}}, "a"},
				{UserQuery{SearchValue: "b@", SortBy: "createdAt"}, "b"},
				{UserQuery{SortBy: "email", Limit: 1, Offset: 1}, "b"},
			} {
				users, total, err := st.QueryUsers(ctx, tc.q)
				var got []string
				for _, u := range users {
					got = append(got, strings.TrimSuffix(u.Email, "@example.com"))
				}
				if err != nil || strings.Join(got, " ") != tc.want || (tc.q.Limit == 0 && total != len(got)) {
					t.Errorf("%+v: %v (total %d), %v; want %s", tc.q, got, total, err, tc.want)
				}
			}
			for _, bad := range []UserQuery{{SortBy: "password"}, {Filter: true, FilterField: "nope", FilterValues: []string{"x"}},
				{Filter: true, FilterField: "banned", FilterValues: []string{"maybe"}}, {Filter: true, FilterOperator: "like", FilterValues: []string{"x"}}} {
				if _, _, err := st.QueryUsers(ctx, bad); !errors.Is(err, ErrBadQuery) {
					t.Errorf("%+v: %v, want ErrBadQuery", bad, err)
				}
			}
			if u, err := st.UnbanUser(ctx, b.ID, testNow); err != nil || u.Banned || u.BanReason != nil || u.BanExpires != nil {
				t.Errorf("UnbanUser: %+v, %v", u, err)
			}
			if _, err := st.SetRole(ctx, "nobody", "x", testNow); !errors.Is(err, ErrNotFound) {
				t.Errorf("SetRole of nobody: %v", err)
			}
			s2 := mkSession(t, st, b.ID, testNow)
			if id, uid, err := st.RevokeSessionByToken(ctx, s2.Token); err != nil || id != s2.ID || uid != b.ID {
				t.Errorf("RevokeSessionByToken: %s %s %v", id, uid, err)
			}
			if _, _, err := st.RevokeSessionByToken(ctx, s2.Token); !errors.Is(err, ErrNotFound) {
				t.Errorf("RevokeSessionByToken again: %v", err)
			}
			c, err := st.CreateUser(ctx, NewAdminUser{Name: "C", Email: "c@example.com", Role: "analyst"}, testNow)
			if err != nil || c.Role != "analyst" {
				t.Fatalf("CreateUser: %+v, %v", c, err)
			}
			if got, err := st.UserByID(ctx, c.ID); err != nil || got.Role != "analyst" {
				t.Errorf("created user read back: %+v, %v", got, err)
			}
		})
	}
}

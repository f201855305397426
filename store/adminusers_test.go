package store

import (
	"testing"
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

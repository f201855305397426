package store

import (
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/authgate/authgate/internal/testsupport"
)

// dropNoticeTriggers does what re-creating the tables does to the triggers
// (drizzle-kit push, when it cannot alter a column in place): they are gone,
// while the migration that made them stays recorded as applied.
func dropNoticeTriggers(t *testing.T, st *Store) {
	t.Helper()
	execAll(t, st,
		`DROP TRIGGER auth_gate_session_notify ON "session"`,
		`DROP TRIGGER auth_gate_user_truncate_notify ON "user"`)
}

func TestCheckNoticeTriggers_RestoresWhatATableRecreateDropped(t *testing.T) {
	dsn := testsupport.PostgresDirectDSN(t)
	migratedStore(t, dsn)

	core, logs := observer.New(zap.WarnLevel)
	st := openStore(t, dsn, Options{Migrate: true, Logger: zap.New(core)})
	if err := st.Migrate(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if logs.Len() != 0 {
		t.Fatalf("warnings with every trigger in place: %v", logs.All())
	}
	dropNoticeTriggers(t, st)

	got, err := st.CheckNoticeTriggers(testCtx(t))
	want := []string{"session.auth_gate_session_notify", "user.auth_gate_user_truncate_notify"}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("CheckNoticeTriggers = %v, %v; want %v", got, err, want)
	}
	if logs.Len() != 1 || !strings.Contains(logs.All()[0].Message, "re-created") {
		t.Fatalf("logs %v, want one warning that they were re-created", logs.All())
	}
	if got, err := st.CheckNoticeTriggers(testCtx(t)); err != nil || len(got) != 0 {
		t.Fatalf("after the repair: %v, %v", got, err)
	}

	// And they announce again: a session deleted by plain SQL is noticed.
	h := listening(t, dsn, zap.NewNop())
	now := time.Now()
	u, err := st.CreateUserWithPassword(testCtx(t), NewUser{Name: "A", Email: "a@example.com", PasswordHash: "s:k"}, now)
	if err != nil {
		t.Fatal(err)
	}
	s, err := st.CreateSession(testCtx(t), NewSession{UserID: u.ID, ExpiresAt: now.Add(time.Hour)}, now)
	if err != nil {
		t.Fatal(err)
	}
	execAll(t, st, `DELETE FROM "session" WHERE "id" = '`+s.ID+`'`)
	h.want(t, notice{NoticeSession, s.ID})

	// Migrate brings them back too, whatever Options.Migrate says.
	dropNoticeTriggers(t, st)
	plain := openStore(t, dsn, Options{})
	if err := plain.Migrate(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if got, err := st.missingNoticeTriggers(testCtx(t)); err != nil || len(got) != 0 {
		t.Fatalf("after Migrate: missing %v, %v", got, err)
	}
}

func TestCheckNoticeTriggers_WithoutMigrateOnlyWarns(t *testing.T) {
	dsn := testsupport.PostgresDirectDSN(t)
	dropNoticeTriggers(t, migratedStore(t, dsn))

	core, logs := observer.New(zap.WarnLevel)
	st := openStore(t, dsn, Options{Logger: zap.New(core)})
	got, err := st.CheckNoticeTriggers(testCtx(t))
	if err != nil || len(got) != 2 {
		t.Fatalf("CheckNoticeTriggers = %v, %v; want the two missing", got, err)
	}
	if logs.Len() != 1 || !strings.Contains(logs.All()[0].Message, "0002_revocation_triggers.sql") {
		t.Fatalf("logs %v, want one warning saying how to restore them", logs.All())
	}
	if missing, _ := st.missingNoticeTriggers(testCtx(t)); len(missing) != 2 {
		t.Fatalf("without migrate the schema was changed: missing %v", missing)
	}
}

func TestCheckNoticeTriggers_NothingToDoOnSQLite(t *testing.T) {
	st := migratedStore(t, testsupport.SQLiteDSN(t))
	if got, err := st.CheckNoticeTriggers(testCtx(t)); err != nil || got != nil {
		t.Fatalf("CheckNoticeTriggers on SQLite = %v, %v", got, err)
	}
}

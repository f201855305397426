package store

import (
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/authgate/authgate/internal/testsupport"
)

// SPEC §13's deployment: the store through a transaction-mode PgBouncer (as
// Neon's pooled endpoint), notices listened for on a direct connection. A
// session revoked through the pooler is announced on the direct one.
func TestPgBouncer_WritesThroughThePoolerAreAnnouncedOnTheDirectConnection(t *testing.T) {
	pooled, direct := testsupport.PgBouncerDSN(t)
	st := migratedStore(t, pooled)
	h := listening(t, direct, zap.NewNop())

	ctx := testCtx(t)
	now := time.Now()
	u, err := st.CreateUserWithPassword(ctx, NewUser{Name: "A", Email: "a@example.com", PasswordHash: "s:k"}, now)
	if err != nil {
		t.Fatal(err)
	}
	s, err := st.CreateSession(ctx, NewSession{UserID: u.ID, ExpiresAt: now.Add(time.Hour)}, now)
	if err != nil {
		t.Fatal(err)
	}
	if got, _, err := st.SessionByToken(ctx, s.Token); err != nil || got.ID != s.ID {
		t.Fatalf("SessionByToken through the pooler = %+v, %v", got, err)
	}
	if err := st.DeleteSessionByToken(ctx, s.Token); err != nil {
		t.Fatal(err)
	}
	h.want(t, notice{NoticeSession, s.ID})
}

// Listening through the pooler itself cannot work (LISTEN is bound to a
// server connection the pooler hands to others): the real PgBouncer gets
// the one warning that names notify_database, not silence.
func TestPgBouncer_ListeningThroughThePoolerWarnsOnce(t *testing.T) {
	old := listenProbeTimeout
	listenProbeTimeout = 500 * time.Millisecond
	t.Cleanup(func() { listenProbeTimeout = old })

	pooled, _ := testsupport.PgBouncerDSN(t)
	migratedStore(t, pooled)
	core, logs := observer.New(zap.InfoLevel)
	listening(t, pooled, zap.New(core))
	deadline := time.Now().Add(10 * time.Second)
	for logs.FilterLevelExact(zap.WarnLevel).Len() == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(3 * listenProbeTimeout) // a second warning would arrive by now
	warnings := logs.FilterLevelExact(zap.WarnLevel).All()
	if len(warnings) != 1 || !strings.Contains(warnings[0].Message, "notify_database") {
		t.Fatalf("warnings %+v, want exactly one naming notify_database", warnings)
	}
}

package store

import (
	"net/url"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/testsupport"
)

func TestMigrate_AdoptsDrizzleSnakeCasePostgresUnchanged(t *testing.T) {
	// The session time zone is not UTC: times must still land as UTC wall
	// clock in the timestamp-without-time-zone columns, as Drizzle writes
	// them. lib/pq passes the unknown "timezone" parameter to the server.
	u, err := url.Parse(testsupport.PostgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("timezone", "America/New_York")
	u.RawQuery = q.Encode()

	st := openStore(t, u.String(), Options{})
	execAll(t, st, testsupport.DrizzlePostgresDDL...)
	before := testsupport.SchemaSnapshot(t, st.db)
	if err := st.Migrate(testCtx(t)); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	diffLines(t, before, testsupport.SchemaSnapshot(t, st.db))
	if l := st.q.Load().layout; l != layoutSnake {
		t.Fatalf("layout = %q, want snake", l)
	}

	now := time.Date(2031, 1, 2, 3, 4, 5, 678000000, time.FixedZone("X", -7*3600))
	usr, err := st.CreateUserWithPassword(testCtx(t), NewUser{Name: "S", Email: "s@example.com", PasswordHash: "s:k"}, now)
	if err != nil {
		t.Fatal(err)
	}
	var wall string
	err = st.db.GetContext(testCtx(t), &wall,
		`SELECT to_char(created_at, 'YYYY-MM-DD HH24:MI:SS.MS') FROM "user" WHERE id = $1`, usr.ID)
	if err != nil {
		t.Fatal(err)
	}
	if wall != "2031-01-02 10:04:05.678" {
		t.Errorf("created_at wall clock = %q, want the UTC time 2031-01-02 10:04:05.678", wall)
	}
	got, err := st.UserByID(testCtx(t), usr.ID)
	if err != nil {
		t.Fatal(err)
	}
	assertTime(t, "read back", got.CreatedAt, now)

	exerciseCRUD(t, st)
}

func TestMigrate_AdoptsDrizzleSnakeCaseSQLite(t *testing.T) {
	st := openStore(t, testsupport.SQLiteDSN(t), Options{})
	if err := ensureSQLiteFile(st.sqlitePath); err != nil {
		t.Fatal(err)
	}
	execAll(t, st, testsupport.DrizzleSQLiteDDL...)
	// A row as Drizzle writes it: integer milliseconds.
	execAll(t, st,
		"INSERT INTO `user` VALUES ('u1', 'D', 'd@example.com', 1, NULL, 1735787045678, 1735787045678)")
	before := testsupport.SchemaSnapshot(t, st.db)
	if err := st.Migrate(testCtx(t)); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	diffLines(t, before, testsupport.SchemaSnapshot(t, st.db))
	if l := st.q.Load().layout; l != layoutSnake {
		t.Fatalf("layout = %q, want snake", l)
	}
	u, err := st.UserByID(testCtx(t), "u1")
	if err != nil {
		t.Fatal(err)
	}
	assertTime(t, "integer createdAt", u.CreatedAt, mustParse(t, "2025-01-02T03:04:05.678Z"))
	if !u.EmailVerified {
		t.Error("emailVerified 1 read as false")
	}
	// What we write there must be what Drizzle writes: integer milliseconds,
	// or a Better Auth server sharing the file misreads our rows.
	at := mustParse(t, "2031-05-06T07:08:09.123Z")
	nu, err := st.CreateUserWithPassword(testCtx(t), NewUser{Name: "N", Email: "n@example.com", PasswordHash: "s:k"}, at)
	if err != nil {
		t.Fatal(err)
	}
	var kind string
	var ms int64
	if err := st.db.QueryRowContext(testCtx(t), "SELECT typeof(created_at), created_at FROM `user` WHERE id = ?", nu.ID).Scan(&kind, &ms); err != nil {
		t.Fatal(err)
	}
	if kind != "integer" || ms != at.UnixMilli() {
		t.Errorf("created_at written as %s %d, want integer %d", kind, ms, at.UnixMilli())
	}
	exerciseCRUD(t, st)
}

func TestOpen_ExplicitSnakeSchemaNeedsNoDetection(t *testing.T) {
	st := openStore(t, testsupport.SQLiteDSN(t), Options{Schema: "snake"})
	if q := st.q.Load(); q == nil || q.layout != layoutSnake {
		t.Fatalf("queries after Open = %+v, want built for snake", q)
	}
}

func mustParse(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

package store

import (
	"net/url"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/testsupport"
)

// drizzlePostgresDDL is what drizzle-kit generates from Better Auth's
// Drizzle schema (reference §e2): snake_case columns, timestamp without time
// zone, drizzle's constraint names.
var drizzlePostgresDDL = []string{
	`CREATE TABLE "user" ("id" text PRIMARY KEY NOT NULL, "name" text NOT NULL, "email" text NOT NULL, "email_verified" boolean DEFAULT false NOT NULL, "image" text, "created_at" timestamp DEFAULT now() NOT NULL, "updated_at" timestamp DEFAULT now() NOT NULL, CONSTRAINT "user_email_unique" UNIQUE("email"))`,
	`CREATE TABLE "session" ("id" text PRIMARY KEY NOT NULL, "expires_at" timestamp NOT NULL, "token" text NOT NULL, "created_at" timestamp DEFAULT now() NOT NULL, "updated_at" timestamp NOT NULL, "ip_address" text, "user_agent" text, "user_id" text NOT NULL, CONSTRAINT "session_token_unique" UNIQUE("token"))`,
	`CREATE TABLE "account" ("id" text PRIMARY KEY NOT NULL, "account_id" text NOT NULL, "provider_id" text NOT NULL, "user_id" text NOT NULL, "access_token" text, "refresh_token" text, "id_token" text, "access_token_expires_at" timestamp, "refresh_token_expires_at" timestamp, "scope" text, "password" text, "created_at" timestamp DEFAULT now() NOT NULL, "updated_at" timestamp NOT NULL)`,
	`CREATE TABLE "verification" ("id" text PRIMARY KEY NOT NULL, "identifier" text NOT NULL, "value" text NOT NULL, "expires_at" timestamp NOT NULL, "created_at" timestamp DEFAULT now() NOT NULL, "updated_at" timestamp DEFAULT now() NOT NULL)`,
	`ALTER TABLE "account" ADD CONSTRAINT "account_user_id_user_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."user"("id") ON DELETE cascade ON UPDATE no action`,
	`ALTER TABLE "session" ADD CONSTRAINT "session_user_id_user_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."user"("id") ON DELETE cascade ON UPDATE no action`,
	`CREATE INDEX "account_userId_idx" ON "account" USING btree ("user_id")`,
	`CREATE INDEX "session_userId_idx" ON "session" USING btree ("user_id")`,
	`CREATE INDEX "verification_identifier_idx" ON "verification" USING btree ("identifier")`,
}

// drizzleSQLiteDDL is the SQLite counterpart, as drizzle-kit writes it for
// Better Auth's schema (timestamps as integer milliseconds there; ours read
// both).
var drizzleSQLiteDDL = []string{
	"CREATE TABLE `user` (`id` text PRIMARY KEY NOT NULL, `name` text NOT NULL, `email` text NOT NULL, `email_verified` integer DEFAULT false NOT NULL, `image` text, `created_at` integer NOT NULL, `updated_at` integer NOT NULL)",
	"CREATE UNIQUE INDEX `user_email_unique` ON `user` (`email`)",
	"CREATE TABLE `session` (`id` text PRIMARY KEY NOT NULL, `expires_at` integer NOT NULL, `token` text NOT NULL, `created_at` integer NOT NULL, `updated_at` integer NOT NULL, `ip_address` text, `user_agent` text, `user_id` text NOT NULL, FOREIGN KEY (`user_id`) REFERENCES `user`(`id`) ON UPDATE no action ON DELETE cascade)",
	"CREATE UNIQUE INDEX `session_token_unique` ON `session` (`token`)",
	"CREATE INDEX `session_userId_idx` ON `session` (`user_id`)",
	"CREATE TABLE `account` (`id` text PRIMARY KEY NOT NULL, `account_id` text NOT NULL, `provider_id` text NOT NULL, `user_id` text NOT NULL, `access_token` text, `refresh_token` text, `id_token` text, `access_token_expires_at` integer, `refresh_token_expires_at` integer, `scope` text, `password` text, `created_at` integer NOT NULL, `updated_at` integer NOT NULL, FOREIGN KEY (`user_id`) REFERENCES `user`(`id`) ON UPDATE no action ON DELETE cascade)",
	"CREATE INDEX `account_userId_idx` ON `account` (`user_id`)",
	"CREATE TABLE `verification` (`id` text PRIMARY KEY NOT NULL, `identifier` text NOT NULL, `value` text NOT NULL, `expires_at` integer NOT NULL, `created_at` integer NOT NULL, `updated_at` integer NOT NULL)",
	"CREATE INDEX `verification_identifier_idx` ON `verification` (`identifier`)",
}

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
	execAll(t, st, drizzlePostgresDDL...)
	before := pgSnapshot(t, st)
	if err := st.Migrate(testCtx(t)); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	diffLines(t, before, pgSnapshot(t, st))
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
	execAll(t, st, drizzleSQLiteDDL...)
	// A row as Drizzle writes it: integer milliseconds.
	execAll(t, st,
		"INSERT INTO `user` VALUES ('u1', 'D', 'd@example.com', 1, NULL, 1735787045678, 1735787045678)")
	before := sqliteSnapshot(t, st)
	if err := st.Migrate(testCtx(t)); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	diffLines(t, before, sqliteSnapshot(t, st))
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

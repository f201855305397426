package store

import (
	"reflect"
	"testing"

	"github.com/authgate/authgate/internal/testsupport"
)

// Reference, "information_schema.columns" (rateLimit left out).
var betterAuthColumns = [][5]string{
	{"account", "id", "text", "NO", ""},
	{"account", "accountId", "text", "NO", ""},
	{"account", "providerId", "text", "NO", ""},
	{"account", "userId", "text", "NO", ""},
	{"account", "accessToken", "text", "YES", ""},
	{"account", "refreshToken", "text", "YES", ""},
	{"account", "idToken", "text", "YES", ""},
	{"account", "accessTokenExpiresAt", "timestamp with time zone", "YES", ""},
	{"account", "refreshTokenExpiresAt", "timestamp with time zone", "YES", ""},
	{"account", "scope", "text", "YES", ""},
	{"account", "password", "text", "YES", ""},
	{"account", "createdAt", "timestamp with time zone", "NO", "CURRENT_TIMESTAMP"},
	{"account", "updatedAt", "timestamp with time zone", "NO", ""},
	{"session", "id", "text", "NO", ""},
	{"session", "expiresAt", "timestamp with time zone", "NO", ""},
	{"session", "token", "text", "NO", ""},
	{"session", "createdAt", "timestamp with time zone", "NO", "CURRENT_TIMESTAMP"},
	{"session", "updatedAt", "timestamp with time zone", "NO", ""},
	{"session", "ipAddress", "text", "YES", ""},
	{"session", "userAgent", "text", "YES", ""},
	{"session", "userId", "text", "NO", ""},
	{"user", "id", "text", "NO", ""},
	{"user", "name", "text", "NO", ""},
	{"user", "email", "text", "NO", ""},
	{"user", "emailVerified", "boolean", "NO", ""},
	{"user", "image", "text", "YES", ""},
	{"user", "createdAt", "timestamp with time zone", "NO", "CURRENT_TIMESTAMP"},
	{"user", "updatedAt", "timestamp with time zone", "NO", "CURRENT_TIMESTAMP"},
	{"verification", "id", "text", "NO", ""},
	{"verification", "identifier", "text", "NO", ""},
	{"verification", "value", "text", "NO", ""},
	{"verification", "expiresAt", "timestamp with time zone", "NO", ""},
	{"verification", "createdAt", "timestamp with time zone", "NO", "CURRENT_TIMESTAMP"},
	{"verification", "updatedAt", "timestamp with time zone", "NO", "CURRENT_TIMESTAMP"},
}

// Reference, "indexes" (rateLimit left out).
var betterAuthIndexes = [][3]string{
	{"account", "account_pkey", `CREATE UNIQUE INDEX account_pkey ON public.account USING btree (id)`},
	{"account", "account_userId_idx", `CREATE INDEX "account_userId_idx" ON public.account USING btree ("userId")`},
	{"session", "session_pkey", `CREATE UNIQUE INDEX session_pkey ON public.session USING btree (id)`},
	{"session", "session_token_key", `CREATE UNIQUE INDEX session_token_key ON public.session USING btree (token)`},
	{"session", "session_userId_idx", `CREATE INDEX "session_userId_idx" ON public.session USING btree ("userId")`},
	{"user", "user_email_key", `CREATE UNIQUE INDEX user_email_key ON public."user" USING btree (email)`},
	{"user", "user_pkey", `CREATE UNIQUE INDEX user_pkey ON public."user" USING btree (id)`},
	{"verification", "verification_identifier_idx", `CREATE INDEX verification_identifier_idx ON public.verification USING btree (identifier)`},
	{"verification", "verification_pkey", `CREATE UNIQUE INDEX verification_pkey ON public.verification USING btree (id)`},
}

// Reference, "constraints" (rateLimit left out).
var betterAuthConstraints = [][3]string{
	{`"user"`, "user_email_key", `UNIQUE (email)`},
	{`"user"`, "user_pkey", `PRIMARY KEY (id)`},
	{"account", "account_pkey", `PRIMARY KEY (id)`},
	{"account", "account_userId_fkey", `FOREIGN KEY ("userId") REFERENCES "user"(id) ON DELETE CASCADE`},
	{"session", "session_pkey", `PRIMARY KEY (id)`},
	{"session", "session_token_key", `UNIQUE (token)`},
	{"session", "session_userId_fkey", `FOREIGN KEY ("userId") REFERENCES "user"(id) ON DELETE CASCADE`},
	{"verification", "verification_pkey", `PRIMARY KEY (id)`},
}

func TestMigrate_PostgresSchemaMatchesBetterAuthsOwnMigration(t *testing.T) {
	st := migratedStore(t, testsupport.PostgresDSN(t))
	ctx := testCtx(t)

	var cols []struct {
		Table, Column, Type, Nullable, Default string
	}
	err := st.db.SelectContext(ctx, &cols, `SELECT table_name AS "table", column_name AS "column",
			data_type AS "type", is_nullable AS "nullable", coalesce(column_default, '') AS "default"
		FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name IN ('user', 'session', 'account', 'verification')
		ORDER BY table_name, ordinal_position`)
	if err != nil {
		t.Fatal(err)
	}
	var gotCols [][5]string
	for _, c := range cols {
		gotCols = append(gotCols, [5]string{c.Table, c.Column, c.Type, c.Nullable, c.Default})
	}
	if !reflect.DeepEqual(gotCols, betterAuthColumns) {
		t.Errorf("columns:\n got %v\nwant %v", gotCols, betterAuthColumns)
	}

	var idx []struct{ Table, Name, Def string }
	err = st.db.SelectContext(ctx, &idx, `SELECT tablename AS "table", indexname AS "name", indexdef AS "def"
		FROM pg_indexes WHERE schemaname = current_schema() AND tablename IN ('user', 'session', 'account', 'verification')
		ORDER BY tablename, indexname`)
	if err != nil {
		t.Fatal(err)
	}
	var gotIdx [][3]string
	for _, i := range idx {
		gotIdx = append(gotIdx, [3]string{i.Table, i.Name, i.Def})
	}
	if !reflect.DeepEqual(gotIdx, betterAuthIndexes) {
		t.Errorf("indexes:\n got %v\nwant %v", gotIdx, betterAuthIndexes)
	}

	var cons []struct{ Table, Name, Def string }
	err = st.db.SelectContext(ctx, &cons, `SELECT conrelid::regclass::text AS "table", conname AS "name",
			pg_get_constraintdef(oid) AS "def"
		FROM pg_constraint
		WHERE conrelid IN ('"user"'::regclass, 'session'::regclass, 'account'::regclass, 'verification'::regclass)
		ORDER BY 1, 2`)
	if err != nil {
		t.Fatal(err)
	}
	var gotCons [][3]string
	for _, c := range cons {
		gotCons = append(gotCons, [3]string{c.Table, c.Name, c.Def})
	}
	if !reflect.DeepEqual(gotCons, betterAuthConstraints) {
		t.Errorf("constraints:\n got %v\nwant %v", gotCons, betterAuthConstraints)
	}
}

func TestMigrate_AdoptsExistingBetterAuthDatabaseUnchanged(t *testing.T) {
	dsn := testsupport.PostgresDSN(t)
	st := openStore(t, dsn, Options{})
	execAll(t, st, testsupport.BetterAuthPostgresDDL...)
	// Rows as Better Auth writes them: a user with a credential account and
	// a live session.
	execAll(t, st,
		`insert into "user" ("id", "name", "email", "emailVerified", "image", "createdAt", "updatedAt")
		 values ('u1', 'Grace', 'grace@example.com', true, null, '2025-01-02T03:04:05.678Z', '2025-01-02T03:04:05.678Z')`,
		`insert into "account" ("id", "accountId", "providerId", "userId", "password", "createdAt", "updatedAt")
		 values ('a1', 'u1', 'credential', 'u1', 'abcd:ef01', '2025-01-02T03:04:05.678Z', '2025-01-02T03:04:05.678Z')`,
		`insert into "session" ("id", "expiresAt", "token", "createdAt", "updatedAt", "ipAddress", "userAgent", "userId")
		 values ('s1', '2099-01-01T00:00:00.000Z', 'tok1', '2025-01-02T03:04:05.678Z', '2025-01-02T03:04:05.678Z', '', 'node', 'u1')`,
	)
	before := testsupport.SchemaSnapshot(t, st.db)

	if err := st.Migrate(testCtx(t)); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	diffLines(t, before, testsupport.SchemaSnapshot(t, st.db))
	if got := bookkeeping(t, st); !reflect.DeepEqual(got, wantBookkeeping) {
		t.Errorf("bookkeeping = %v, want %v", got, wantBookkeeping)
	}

	u, hash, err := st.CredentialByEmail(testCtx(t), "grace@example.com")
	if err != nil {
		t.Fatalf("CredentialByEmail on adopted data: %v", err)
	}
	if u.ID != "u1" || !u.EmailVerified || hash != "abcd:ef01" {
		t.Errorf("adopted user = %+v, hash %q", u, hash)
	}
	assertTime(t, "adopted createdAt", u.CreatedAt, mustParse(t, "2025-01-02T03:04:05.678Z"))
	s, _, err := st.SessionByToken(testCtx(t), "tok1")
	if err != nil || s.ID != "s1" {
		t.Fatalf("SessionByToken on adopted data = %+v, %v", s, err)
	}

	// The store's own writes go into the adopted tables too.
	exerciseCRUD(t, st)
}

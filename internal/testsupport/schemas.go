package testsupport

// The schemas Better Auth's own tools create, verbatim, for tests that adopt
// an existing database: a database made this way must be used
// as it is, and a Better Auth server must be able to share it.

// BetterAuthPostgresDDL is Better Auth 1.7.25's own migration (reference §e1,
// captured from getMigrations() with the Kysely pg dialect), rateLimit
// included.
var BetterAuthPostgresDDL = []string{
	`create table "user" ("id" text not null primary key, "name" text not null, "email" text not null unique, "emailVerified" boolean not null, "image" text, "createdAt" timestamptz default CURRENT_TIMESTAMP not null, "updatedAt" timestamptz default CURRENT_TIMESTAMP not null)`,
	`create table "session" ("id" text not null primary key, "expiresAt" timestamptz not null, "token" text not null unique, "createdAt" timestamptz default CURRENT_TIMESTAMP not null, "updatedAt" timestamptz not null, "ipAddress" text, "userAgent" text, "userId" text not null references "user" ("id") on delete cascade)`,
	`create table "account" ("id" text not null primary key, "accountId" text not null, "providerId" text not null, "userId" text not null references "user" ("id") on delete cascade, "accessToken" text, "refreshToken" text, "idToken" text, "accessTokenExpiresAt" timestamptz, "refreshTokenExpiresAt" timestamptz, "scope" text, "password" text, "createdAt" timestamptz default CURRENT_TIMESTAMP not null, "updatedAt" timestamptz not null)`,
	`create table "verification" ("id" text not null primary key, "identifier" text not null, "value" text not null, "expiresAt" timestamptz not null, "createdAt" timestamptz default CURRENT_TIMESTAMP not null, "updatedAt" timestamptz default CURRENT_TIMESTAMP not null)`,
	`create table "rateLimit" ("id" text not null primary key, "key" text not null unique, "count" integer not null, "lastRequest" bigint not null)`,
	`create index "session_userId_idx" on "session" ("userId")`,
	`create index "account_userId_idx" on "account" ("userId")`,
	`create index "verification_identifier_idx" on "verification" ("identifier")`,
}

// DrizzlePostgresDDL is what drizzle-kit generates from Better Auth's
// Drizzle schema (reference §e2): snake_case columns, timestamp without time
// zone, drizzle's constraint names.
var DrizzlePostgresDDL = []string{
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

// DrizzleSQLiteDDL is the SQLite counterpart, as drizzle-kit writes it for
// Better Auth's schema (timestamps as integer milliseconds there; ours read
// both).
var DrizzleSQLiteDDL = []string{
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

// The columns and tables Better Auth's two-factor and admin plugins add to
// a database that already holds the core tables, as each tool writes them
// when the plugins are enabled later. Better Auth 1.7.25's
// getMigrations (dist/db/get-migration.mjs) adds a column with its static
// default and creates a plugin table without one; the Drizzle generator
// (auth@1.7.7, generators/drizzle.ts) keeps the defaults in the table and
// snake_cases every name, table names included.

// BetterAuthPostgresPluginDDL is `better-auth migrate` on PostgreSQL for
// twoFactor() and admin(), after BetterAuthPostgresDDL.
var BetterAuthPostgresPluginDDL = []string{
	`alter table "user" add column "twoFactorEnabled" boolean default false`,
	`alter table "user" add column "role" text`,
	`alter table "user" add column "banned" boolean default false`,
	`alter table "user" add column "banReason" text`,
	`alter table "user" add column "banExpires" timestamptz`,
	`alter table "session" add column "impersonatedBy" text`,
	`create table "twoFactor" ("id" text not null primary key, "secret" text not null, "backupCodes" text not null, "userId" text not null references "user" ("id") on delete cascade, "verified" boolean, "failedVerificationCount" integer, "lockedUntil" timestamptz)`,
	`create index "twoFactor_secret_idx" on "twoFactor" ("secret")`,
	`create index "twoFactor_userId_idx" on "twoFactor" ("userId")`,
}

// BetterAuthSQLitePluginDDL is the same on SQLite, where getMigrations
// writes booleans as integer (default 0) and dates as date.
var BetterAuthSQLitePluginDDL = []string{
	`alter table "user" add column "twoFactorEnabled" integer default 0`,
	`alter table "user" add column "role" text`,
	`alter table "user" add column "banned" integer default 0`,
	`alter table "user" add column "banReason" text`,
	`alter table "user" add column "banExpires" date`,
	`alter table "session" add column "impersonatedBy" text`,
	`create table "twoFactor" ("id" text not null primary key, "secret" text not null, "backupCodes" text not null, "userId" text not null references "user" ("id") on delete cascade, "verified" integer, "failedVerificationCount" integer, "lockedUntil" date)`,
	`create index "twoFactor_secret_idx" on "twoFactor" ("secret")`,
	`create index "twoFactor_userId_idx" on "twoFactor" ("userId")`,
}

// DrizzlePostgresPluginDDL is what drizzle-kit generates for the same
// plugins after DrizzlePostgresDDL.
var DrizzlePostgresPluginDDL = []string{
	`CREATE TABLE "two_factor" ("id" text PRIMARY KEY NOT NULL, "secret" text NOT NULL, "backup_codes" text NOT NULL, "user_id" text NOT NULL, "verified" boolean DEFAULT true, "failed_verification_count" integer DEFAULT 0, "locked_until" timestamp)`,
	`ALTER TABLE "session" ADD COLUMN "impersonated_by" text`,
	`ALTER TABLE "user" ADD COLUMN "two_factor_enabled" boolean DEFAULT false`,
	`ALTER TABLE "user" ADD COLUMN "role" text`,
	`ALTER TABLE "user" ADD COLUMN "banned" boolean DEFAULT false`,
	`ALTER TABLE "user" ADD COLUMN "ban_reason" text`,
	`ALTER TABLE "user" ADD COLUMN "ban_expires" timestamp`,
	`ALTER TABLE "two_factor" ADD CONSTRAINT "two_factor_user_id_user_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."user"("id") ON DELETE cascade ON UPDATE no action`,
	`CREATE INDEX "twoFactor_secret_idx" ON "two_factor" USING btree ("secret")`,
	`CREATE INDEX "twoFactor_userId_idx" ON "two_factor" USING btree ("user_id")`,
}

// DrizzleSQLitePluginDDL is the SQLite counterpart: booleans and times as
// integers, as in DrizzleSQLiteDDL.
var DrizzleSQLitePluginDDL = []string{
	"CREATE TABLE `two_factor` (`id` text PRIMARY KEY NOT NULL, `secret` text NOT NULL, `backup_codes` text NOT NULL, `user_id` text NOT NULL, `verified` integer DEFAULT true, `failed_verification_count` integer DEFAULT 0, `locked_until` integer, FOREIGN KEY (`user_id`) REFERENCES `user`(`id`) ON UPDATE no action ON DELETE cascade)",
	"CREATE INDEX `twoFactor_secret_idx` ON `two_factor` (`secret`)",
	"CREATE INDEX `twoFactor_userId_idx` ON `two_factor` (`user_id`)",
	"ALTER TABLE `session` ADD `impersonated_by` text",
	"ALTER TABLE `user` ADD `two_factor_enabled` integer DEFAULT false",
	"ALTER TABLE `user` ADD `role` text",
	"ALTER TABLE `user` ADD `banned` integer DEFAULT false",
	"ALTER TABLE `user` ADD `ban_reason` text",
	"ALTER TABLE `user` ADD `ban_expires` integer",
}

// LegacyAccountIssuerPostgresDDL is what Better Auth 1.7.0–1.7.2 left on
// "account" (reference §0; the index name is the one 1.7.25's
// legacy-account-issuer guard names): a required issuer column that later
// releases never write, so that every insert omitting it fails. The column
// name is the same in both layouts. Run it while "account" has no rows:
// PostgreSQL would otherwise need a backfill.
func LegacyAccountIssuerPostgresDDL(snake bool) []string {
	accountID := `"accountId"`
	if snake {
		accountID = `"account_id"`
	}
	return []string{
		`alter table "account" add column "issuer" text not null`,
		`create unique index "account_issuer_accountId_uidx" on "account" ("issuer", ` + accountID + `)`,
	}
}

// LegacyAccountIssuerSQLiteDDL is the SQLite counterpart. SQLite cannot add
// a NOT NULL column without a default, so "account" (which must have no rows)
// is created again with the column, as 1.7.0–1.7.2 created it on a fresh
// database: snake is Drizzle's layout (integer times), camel the one
// auth_gate's migration and Better Auth's own write (text times).
func LegacyAccountIssuerSQLiteDDL(snake bool) []string {
	create := `create table "account" ("id" text not null primary key, "accountId" text not null, "providerId" text not null, "userId" text not null references "user" ("id") on delete cascade, "accessToken" text, "refreshToken" text, "idToken" text, "accessTokenExpiresAt" text, "refreshTokenExpiresAt" text, "scope" text, "password" text, "createdAt" text not null, "updatedAt" text not null, "issuer" text not null)`
	index := `create unique index "account_issuer_accountId_uidx" on "account" ("issuer", "accountId")`
	if snake {
		create = "CREATE TABLE `account` (`id` text PRIMARY KEY NOT NULL, `account_id` text NOT NULL, `provider_id` text NOT NULL, `user_id` text NOT NULL, `access_token` text, `refresh_token` text, `id_token` text, `access_token_expires_at` integer, `refresh_token_expires_at` integer, `scope` text, `password` text, `created_at` integer NOT NULL, `updated_at` integer NOT NULL, `issuer` text NOT NULL, FOREIGN KEY (`user_id`) REFERENCES `user`(`id`) ON UPDATE no action ON DELETE cascade)"
		index = "CREATE UNIQUE INDEX `account_issuer_accountId_uidx` ON `account` (`issuer`,`account_id`)"
	}
	return []string{`drop table "account"`, create, index}
}

-- Better Auth's core tables, exactly as Better Auth 1.7.25's own migrator
-- (`better-auth migrate`, Kysely pg dialect) creates them: camelCase columns,
-- timestamptz, and the constraint and index names PostgreSQL derives from that
-- DDL (user_email_key, session_token_key, session_userId_fkey, ...). A Better
-- Auth server can therefore share the database with auth_gate.
--
-- An existing Better Auth database (camelCase or Drizzle's snake_case) must be
-- adopted untouched, so nothing is created when table "user" already exists
-- in the schema that CREATE TABLE would write to (current_schema(), the first
-- existing schema of search_path). to_regclass() on an unqualified name would
-- search the whole search_path instead, hence the qualified name.

-- +migrate Up
-- +migrate StatementBegin
DO $$
BEGIN
    IF to_regclass(format('%I.%I', current_schema(), 'user')) IS NULL THEN
        create table "user" ("id" text not null primary key, "name" text not null, "email" text not null unique, "emailVerified" boolean not null, "image" text, "createdAt" timestamptz default CURRENT_TIMESTAMP not null, "updatedAt" timestamptz default CURRENT_TIMESTAMP not null);
        create table "session" ("id" text not null primary key, "expiresAt" timestamptz not null, "token" text not null unique, "createdAt" timestamptz default CURRENT_TIMESTAMP not null, "updatedAt" timestamptz not null, "ipAddress" text, "userAgent" text, "userId" text not null references "user" ("id") on delete cascade);
        create table "account" ("id" text not null primary key, "accountId" text not null, "providerId" text not null, "userId" text not null references "user" ("id") on delete cascade, "accessToken" text, "refreshToken" text, "idToken" text, "accessTokenExpiresAt" timestamptz, "refreshTokenExpiresAt" timestamptz, "scope" text, "password" text, "createdAt" timestamptz default CURRENT_TIMESTAMP not null, "updatedAt" timestamptz not null);
        create table "verification" ("id" text not null primary key, "identifier" text not null, "value" text not null, "expiresAt" timestamptz not null, "createdAt" timestamptz default CURRENT_TIMESTAMP not null, "updatedAt" timestamptz default CURRENT_TIMESTAMP not null);
        create index "session_userId_idx" on "session" ("userId");
        create index "account_userId_idx" on "account" ("userId");
        create index "verification_identifier_idx" on "verification" ("identifier");
    END IF;
END
$$;
-- +migrate StatementEnd

-- +migrate Down
-- Drops the tables whether this migration created them or adopted them.
drop table if exists "verification";
drop table if exists "account";
drop table if exists "session";
drop table if exists "user";

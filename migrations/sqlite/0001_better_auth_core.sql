-- Better Auth's core tables on SQLite, with Better Auth's camelCase column
-- names. Times are TEXT in ISO-8601 UTC with milliseconds
-- (2006-01-02T15:04:05.000Z, what JavaScript's toISOString() writes), so that
-- text order is time order; booleans are INTEGER 0/1.
--
-- An existing Better Auth database must be adopted as it is, and SQLite has no
-- conditional DDL: when table "user" already exists, auth_gate records this
-- migration as applied without running it (CREATE INDEX IF NOT EXISTS would
-- still add an index that an older Better Auth database lacks). With the
-- sql-migrate CLI on such a database, use `sql-migrate skip` instead of `up`.
--
-- The column defaults produce the same ISO form for writers that omit a time
-- (auth_gate always supplies it).

-- +migrate Up
create table if not exists "user" ("id" text not null primary key, "name" text not null, "email" text not null unique, "emailVerified" integer not null, "image" text, "createdAt" text default (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) not null, "updatedAt" text default (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) not null);
create table if not exists "session" ("id" text not null primary key, "expiresAt" text not null, "token" text not null unique, "createdAt" text default (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) not null, "updatedAt" text not null, "ipAddress" text, "userAgent" text, "userId" text not null references "user" ("id") on delete cascade);
create table if not exists "account" ("id" text not null primary key, "accountId" text not null, "providerId" text not null, "userId" text not null references "user" ("id") on delete cascade, "accessToken" text, "refreshToken" text, "idToken" text, "accessTokenExpiresAt" text, "refreshTokenExpiresAt" text, "scope" text, "password" text, "createdAt" text default (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) not null, "updatedAt" text not null);
create table if not exists "verification" ("id" text not null primary key, "identifier" text not null, "value" text not null, "expiresAt" text not null, "createdAt" text default (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) not null, "updatedAt" text default (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) not null);
create index if not exists "session_userId_idx" on "session" ("userId");
create index if not exists "account_userId_idx" on "account" ("userId");
create index if not exists "verification_identifier_idx" on "verification" ("identifier");

-- +migrate Down
drop table if exists "verification";
drop table if exists "account";
drop table if exists "session";
drop table if exists "user";

-- auth_gate's own rate-limit counters (rate_limit { storage database }), shared
-- by every instance on the database: one row per key ("<client ip>|<path>" or
-- "email:<digest>"), the number of requests counted in the current window and
-- the time of the last counted request in milliseconds since the epoch, as
-- Better Auth's own rateLimit table keeps them. Better Auth's tables are not
-- touched.

-- +migrate Up
create table if not exists auth_gate_rate_limit ("key" text not null primary key, "count" integer not null, "last_request" bigint not null);

-- +migrate Down
drop table if exists auth_gate_rate_limit;

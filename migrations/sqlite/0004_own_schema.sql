-- On PostgreSQL this moves auth_gate's own objects into a schema of their
-- own (see the PostgreSQL migration of the same number). SQLite has no
-- schemas: its own tables stay in the database file beside Better Auth's.
-- This migration does nothing and exists so that both dialects number their
-- migrations alike.

-- +migrate Up

-- +migrate Down

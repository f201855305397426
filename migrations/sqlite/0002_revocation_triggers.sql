-- Revocation notices are PostgreSQL's LISTEN/NOTIFY (see the PostgreSQL
-- migration of the same number). SQLite serves a single instance, which drops
-- its cached sessions itself when it revokes them; this migration does
-- nothing and exists so that both dialects number their migrations alike.

-- +migrate Up

-- +migrate Down

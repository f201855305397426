package store

import (
	"context"
	"time"
)

// JWK is a row of the "jwks" table of Better Auth's jwt plugin: one signing
// key. PublicKey and PrivateKey are the plugin's JSON texts, kept as they
// are.
type JWK struct {
	ID         string
	PublicKey  string
	PrivateKey string
	CreatedAt  time.Time
	ExpiresAt  *time.Time
	Alg        *string
	Crv        *string
}

// EnsureJWKSTable creates the jwt plugin's "jwks" table when it is missing,
// with the DDL Better Auth's migrate writes for the detected layout and
// time columns (no default on createdAt: the plugin's schema has none).
// An existing table is left as it is. Only a configuration that signs
// tokens calls it.
func (s *Store) EnsureJWKSTable(ctx context.Context) error {
	ctx, cancel := boundSchemaWork(ctx)
	defer cancel()
	const op = "create table jwks"
	q, err := s.queries(ctx)
	if err != nil {
		return wrap(op, err)
	}
	exists := func() (bool, error) {
		var n int
		err := s.db.GetContext(ctx, &n, s.dialect.rebind(s.dialect.tableExistsQuery), "jwks")
		return n > 0, err
	}
	if ok, err := exists(); err != nil || ok {
		return wrap(op, err)
	}
	timeType := q.info.TimeColumns
	if timeType == "" {
		timeType = "timestamptz"
		if s.dialect.driver == "sqlite" {
			timeType = "text"
		}
	}
	ddl := expand(`create table if not exists "jwks" ("id" text not null primary key, {publicKey} text not null, {privateKey} text not null, {createdAt} `+
		timeType+` not null, {expiresAt} `+timeType+`, "alg" text, "crv" text)`, q.layout, s.dialect)
	if _, err := s.db.ExecContext(ctx, ddl); err != nil {
		// Two instances starting together: PostgreSQL's IF NOT EXISTS is no
		// guard against a concurrent CREATE, which fails on the catalog's
		// unique index. The table is there all the same.
		if ok, err2 := exists(); err2 == nil && ok {
			return nil
		}
		return wrap(op, err)
	}
	return nil
}

type jwkRow struct {
	ID         string  `db:"id"`
	PublicKey  string  `db:"public_key"`
	PrivateKey string  `db:"private_key"`
	CreatedAt  dbTime  `db:"created_at"`
	ExpiresAt  *dbTime `db:"expires_at"`
	Alg        *string `db:"alg"`
	Crv        *string `db:"crv"`
}

// JWKs returns every signing key, in no particular order.
func (s *Store) JWKs(ctx context.Context) ([]JWK, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	const op = "list signing keys"
	q, err := s.queries(ctx)
	if err != nil {
		return nil, wrap(op, err)
	}
	var rows []jwkRow
	err = s.db.SelectContext(ctx, &rows, expand(`SELECT "id", {publicKey} AS "public_key", {privateKey} AS "private_key",
		{createdAt} AS "created_at", {expiresAt} AS "expires_at", "alg", "crv" FROM "jwks"`, q.layout, s.dialect))
	if err != nil {
		return nil, wrap(op, err)
	}
	out := make([]JWK, len(rows))
	for i, r := range rows {
		out[i] = JWK{ID: r.ID, PublicKey: r.PublicKey, PrivateKey: r.PrivateKey, CreatedAt: time.Time(r.CreatedAt),
			ExpiresAt: optionalTime(r.ExpiresAt), Alg: r.Alg, Crv: r.Crv}
	}
	return out, nil
}

// InsertJWK adds a signing key.
func (s *Store) InsertJWK(ctx context.Context, k JWK) error {
	ctx, cancel := bound(ctx)
	defer cancel()
	op := "insert signing key " + k.ID
	q, err := s.queries(ctx)
	if err != nil {
		return wrap(op, err)
	}
	var exp any
	if k.ExpiresAt != nil {
		exp = q.timeArg(normTime(*k.ExpiresAt))
	}
	_, err = s.db.ExecContext(ctx, expand(`INSERT INTO "jwks" ("id", {publicKey}, {privateKey}, {createdAt}, {expiresAt}, "alg", "crv")
		VALUES (?, ?, ?, ?, ?, ?, ?)`, q.layout, s.dialect),
		k.ID, k.PublicKey, k.PrivateKey, q.timeArg(normTime(k.CreatedAt)), exp, k.Alg, k.Crv)
	return wrap(op, err)
}

// SetJWKExpiry sets when a key stops signing (Better Auth's expiresAt).
func (s *Store) SetJWKExpiry(ctx context.Context, id string, at time.Time) error {
	ctx, cancel := bound(ctx)
	defer cancel()
	op := "end signing key " + id
	q, err := s.queries(ctx)
	if err != nil {
		return wrap(op, err)
	}
	_, err = s.db.ExecContext(ctx, expand(`UPDATE "jwks" SET {expiresAt} = ? WHERE "id" = ?`, q.layout, s.dialect),
		q.timeArg(normTime(at)), id)
	return wrap(op, err)
}

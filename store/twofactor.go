package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// TwoFactor is a row of Better Auth's two-factor table ("twoFactor", or
// "two_factor" in the Drizzle layout). Secret and BackupCodes are stored
// encrypted, as Better Auth stores them; the store never decrypts.
type TwoFactor struct {
	ID          string
	UserID      string
	Secret      string
	BackupCodes string
	// Verified is nil when the column is NULL: a row Better Auth wrote
	// before it had the column, which it treats as verified.
	Verified *bool
	// FailedCount counts consecutive failed sign-in verifications.
	FailedCount int
	// LockedUntil is set once FailedCount reached the lockout threshold.
	LockedUntil *time.Time
}

// IsVerified is Better Auth's `verified !== false`: the enrolment is
// complete unless the row says otherwise.
func (t TwoFactor) IsVerified() bool { return t.Verified == nil || *t.Verified }

type twoFactorRow struct {
	ID          string        `db:"id"`
	UserID      string        `db:"user_id"`
	Secret      string        `db:"secret"`
	BackupCodes string        `db:"backup_codes"`
	Verified    *dbFlag       `db:"verified"`
	FailedCount sql.NullInt64 `db:"failed_verification_count"`
	LockedUntil *dbTime       `db:"locked_until"`
}

func (r twoFactorRow) twoFactor() TwoFactor {
	t := TwoFactor{ID: r.ID, UserID: r.UserID, Secret: r.Secret, BackupCodes: r.BackupCodes,
		FailedCount: int(r.FailedCount.Int64), LockedUntil: optionalTime(r.LockedUntil)}
	if r.Verified != nil {
		v := bool(*r.Verified)
		t.Verified = &v
	}
	return t
}

// twoFactorQueries are built with the others, but only work once the table
// and column exist (Plugins.TwoFactorTable, Plugins.TwoFactorEnabled).
type twoFactorQueries struct {
	byUser         string
	idByUser       string
	insert         string
	update         string
	setVerified    string
	swapCodes      string
	setCodes       string
	deleteByUser   string
	setUserEnabled string
	addFailure     string
	lock           string
	resetFailures  string
	unlockExpired  string
	challenge      string
	deleteTrusted  string
}

var twoFactorFields = []string{"id", "userId", "secret", "backupCodes", "verified", "failedVerificationCount", "lockedUntil"}

func buildTwoFactorQueries(l layout, d *dialect) twoFactorQueries {
	x := func(tmpl string) string { return expand(tmpl, l, d) }
	t := `"` + l.table("twoFactor") + `"`
	q := twoFactorQueries{
		// Better Auth's findOne takes whichever row comes first; ordering
		// by id at least makes our choice stable.
		byUser:   x(`SELECT ` + selectList("", "", twoFactorFields...) + ` FROM ` + t + ` WHERE {userId} = ? ORDER BY "id" LIMIT 1`),
		idByUser: x(`SELECT "id" FROM ` + t + ` WHERE {userId} = ? ORDER BY "id" LIMIT 1`),
		insert: x(`INSERT INTO ` + t + ` ("id", "secret", {backupCodes}, {userId}, "verified", {failedVerificationCount})
			VALUES (?, ?, ?, ?, ?, 0)`),
		update:       x(`UPDATE ` + t + ` SET "secret" = ?, {backupCodes} = ?, "verified" = ? WHERE "id" = ?`),
		setVerified:  x(`UPDATE ` + t + ` SET "verified" = ? WHERE "id" = ?`),
		swapCodes:    x(`UPDATE ` + t + ` SET {backupCodes} = ? WHERE "id" = ? AND {backupCodes} = ?`),
		setCodes:     x(`UPDATE ` + t + ` SET {backupCodes} = ? WHERE "id" = ?`),
		deleteByUser: x(`DELETE FROM ` + t + ` WHERE {userId} = ?`),
		// One statement, so concurrent failures cannot lose a count; NULL
		// (a row from before the column) counts from zero.
		addFailure: x(`UPDATE ` + t + ` SET {failedVerificationCount} = COALESCE({failedVerificationCount}, 0) + 1
			WHERE "id" = ? RETURNING {failedVerificationCount}`),
		lock:          x(`UPDATE ` + t + ` SET {lockedUntil} = ? WHERE "id" = ? AND {failedVerificationCount} >= ?`),
		resetFailures: x(`UPDATE ` + t + ` SET {failedVerificationCount} = 0, {lockedUntil} = NULL WHERE "id" = ?`),
		unlockExpired: x(`UPDATE ` + t + ` SET {failedVerificationCount} = 0, {lockedUntil} = NULL
			WHERE "id" = ? AND ` + d.cmpTime(`{lockedUntil}`) + ` <= ?`),
	}
	q.challenge = x(`SELECT "value", {expiresAt} AS "expires_at" FROM "verification"
			WHERE "identifier" = ? AND ` + d.cmpTime(`{expiresAt}`) + ` > ?
			ORDER BY ` + d.cmpTime(`{createdAt}`) + ` DESC LIMIT 1`)
	q.setUserEnabled = x(`UPDATE "user" SET {twoFactorEnabled} = ?, {updatedAt} = ? WHERE "id" = ?`)
	// Trusted devices are verification rows "trust-device-<32>" whose value
	// is the user id (no '%' or '_' in the prefix, so LIKE is exact).
	q.deleteTrusted = x(`DELETE FROM "verification" WHERE "identifier" LIKE 'trust-device-%' AND "value" = ?`)
	return q
}

// twoFactorReady returns the queries. On a database without the plugin's
// schema they fail in the database (no such table or column): callers
// check Schema().Plugins first, as the handlers do.
func (s *Store) twoFactorReady(ctx context.Context) (*queries, error) {
	return s.queries(ctx)
}

// TwoFactorByUser returns userID's two-factor row; ErrNotFound when the
// user never enrolled.
func (s *Store) TwoFactorByUser(ctx context.Context, userID string) (TwoFactor, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	op := "load two-factor row of " + userID
	q, err := s.twoFactorReady(ctx)
	if err != nil {
		return TwoFactor{}, wrap(op, err)
	}
	var r twoFactorRow
	err = s.db.GetContext(ctx, &r, q.twoFactor.byUser, userID)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return TwoFactor{}, wrap(op, err)
	}
	return r.twoFactor(), nil
}

// SaveTwoFactor writes a (new) enrolment of userID: it replaces the secret,
// backup codes and verified flag of the existing row, or inserts one, as
// Better Auth's /two-factor/enable does.
func (s *Store) SaveTwoFactor(ctx context.Context, userID, secret, backupCodes string, verified bool) error {
	ctx, cancel := bound(ctx)
	defer cancel()
	op := "save two-factor row of " + userID
	q, err := s.twoFactorReady(ctx)
	if err != nil {
		return wrap(op, err)
	}
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		var id string
		err := tx.GetContext(ctx, &id, q.twoFactor.idByUser, userID)
		if errors.Is(err, sql.ErrNoRows) {
			_, err = tx.ExecContext(ctx, q.twoFactor.insert, NewID(), secret, backupCodes, userID, verified)
			return err
		}
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, q.twoFactor.update, secret, backupCodes, verified, id)
		return err
	})
	if err != nil {
		return wrap(op, err)
	}
	return nil
}

// exec runs one statement of the two-factor queries and reports how many
// rows it touched.
func (s *Store) twoFactorExec(ctx context.Context, op string, pick func(*twoFactorQueries) string, args ...any) (int64, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	q, err := s.twoFactorReady(ctx)
	if err != nil {
		return 0, wrap(op, err)
	}
	res, err := s.db.ExecContext(ctx, pick(&q.twoFactor), args...)
	if err != nil {
		return 0, wrap(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, wrap(op, err)
	}
	return n, nil
}

// SetTwoFactorVerified marks the row id as a completed enrolment.
func (s *Store) SetTwoFactorVerified(ctx context.Context, id string) error {
	_, err := s.twoFactorExec(ctx, "mark two-factor row verified",
		func(q *twoFactorQueries) string { return q.setVerified }, true, id)
	return err
}

// SwapBackupCodes replaces the backup codes of row id with next only if
// they are still old: of two requests spending a code of the same list at
// once, one wins, as Better Auth's compare-and-swap. ok is false for the
// loser.
func (s *Store) SwapBackupCodes(ctx context.Context, id, old, next string) (ok bool, err error) {
	n, err := s.twoFactorExec(ctx, "spend a backup code",
		func(q *twoFactorQueries) string { return q.swapCodes }, next, id, old)
	return n == 1, err
}

// SetBackupCodes replaces the backup codes of row id.
func (s *Store) SetBackupCodes(ctx context.Context, id, codes string) error {
	_, err := s.twoFactorExec(ctx, "replace backup codes",
		func(q *twoFactorQueries) string { return q.setCodes }, codes, id)
	return err
}

// SetTwoFactorEnabled sets user.twoFactorEnabled (and updatedAt, as Better
// Auth's updateUser does). The user-row trigger announces the change to
// every instance's session cache.
func (s *Store) SetTwoFactorEnabled(ctx context.Context, userID string, enabled bool, now time.Time) error {
	ctx, cancel := bound(ctx)
	defer cancel()
	op := "set twoFactorEnabled of " + userID
	q, err := s.twoFactorReady(ctx)
	if err != nil {
		return wrap(op, err)
	}
	if _, err := s.db.ExecContext(ctx, q.twoFactor.setUserEnabled, enabled, q.timeArg(normTime(now)), userID); err != nil {
		return wrap(op, err)
	}
	return nil
}

// DisableTwoFactor clears user.twoFactorEnabled and deletes the user's
// two-factor rows, in one transaction.
func (s *Store) DisableTwoFactor(ctx context.Context, userID string, now time.Time) error {
	ctx, cancel := bound(ctx)
	defer cancel()
	op := "disable two-factor of " + userID
	q, err := s.twoFactorReady(ctx)
	if err != nil {
		return wrap(op, err)
	}
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, q.twoFactor.setUserEnabled, false, q.timeArg(normTime(now)), userID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, q.twoFactor.deleteByUser, userID)
		return err
	})
	if err != nil {
		return wrap(op, err)
	}
	return nil
}

// ResetTwoFactor is an operator's reset of a user who lost their second
// factor: two-factor off, the plugin's row gone, and every device the user
// trusted forgotten, so that enrolling again asks for a code everywhere.
// It returns how many trusted devices were forgotten.
func (s *Store) ResetTwoFactor(ctx context.Context, userID string, now time.Time) (int, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	op := "reset two-factor of " + userID
	q, err := s.twoFactorReady(ctx)
	if err != nil {
		return 0, wrap(op, err)
	}
	var trusted int64
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, q.twoFactor.setUserEnabled, false, q.timeArg(normTime(now)), userID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, q.twoFactor.deleteByUser, userID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, q.twoFactor.deleteTrusted, userID)
		if err != nil {
			return err
		}
		trusted, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, wrap(op, err)
	}
	return int(trusted), nil
}

// RecordTwoFactorFailure counts one failed sign-in verification on row id
// and, once max failures in a row are reached, locks it until now+lockFor,
// as Better Auth's recordTwoFactorFailure.
func (s *Store) RecordTwoFactorFailure(ctx context.Context, id string, max int, lockFor time.Duration, now time.Time) error {
	ctx, cancel := bound(ctx)
	defer cancel()
	const op = "record a failed two-factor verification"
	q, err := s.twoFactorReady(ctx)
	if err != nil {
		return wrap(op, err)
	}
	var n sql.NullInt64
	if err := s.db.GetContext(ctx, &n, q.twoFactor.addFailure, id); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil // the row went meanwhile (disabled): nothing to lock
		}
		return wrap(op, err)
	}
	if n.Int64 < int64(max) {
		return nil
	}
	if _, err := s.db.ExecContext(ctx, q.twoFactor.lock, q.timeArg(normTime(now.Add(lockFor))), id, max); err != nil {
		return wrap(op, err)
	}
	return nil
}

// ResetTwoFactorFailures clears the failure count and lock of row id after
// a successful verification.
func (s *Store) ResetTwoFactorFailures(ctx context.Context, id string) error {
	_, err := s.twoFactorExec(ctx, "reset two-factor failures",
		func(q *twoFactorQueries) string { return q.resetFailures }, id)
	return err
}

// UnlockExpiredTwoFactor clears the lock of row id (and its count) when it
// has run out at now, as Better Auth does lazily on the next attempt.
func (s *Store) UnlockExpiredTwoFactor(ctx context.Context, id string, now time.Time) error {
	_, err := s.twoFactorExec(ctx, "clear an expired two-factor lock",
		func(q *twoFactorQueries) string { return q.unlockExpired }, id, s.dialect.cmpTimeArg(normTime(now)))
	return err
}

// twoFactorDDL is the DDL Better Auth's tools write for the two-factor
// plugin, per layout and dialect: `better-auth migrate` (camelCase; a
// column it adds keeps its static default, a table it creates has none)
// and drizzle-kit from Better Auth's generated schema (snake_case, defaults
// in the table; its foreign key names "public"."user", here "user" so that
// it follows the search path as every other statement). The first statement adds user.twoFactorEnabled, the rest
// create the table and its indexes.
func twoFactorDDL(l layout, d *dialect) (addColumn string, createTable []string) {
	switch {
	case l == layoutCamel && d == postgresDialect:
		return `alter table "user" add column "twoFactorEnabled" boolean default false`, []string{
			`create table "twoFactor" ("id" text not null primary key, "secret" text not null, "backupCodes" text not null, "userId" text not null references "user" ("id") on delete cascade, "verified" boolean, "failedVerificationCount" integer, "lockedUntil" timestamptz)`,
			`create index "twoFactor_secret_idx" on "twoFactor" ("secret")`,
			`create index "twoFactor_userId_idx" on "twoFactor" ("userId")`,
		}
	case l == layoutCamel:
		return `alter table "user" add column "twoFactorEnabled" integer default 0`, []string{
			`create table "twoFactor" ("id" text not null primary key, "secret" text not null, "backupCodes" text not null, "userId" text not null references "user" ("id") on delete cascade, "verified" integer, "failedVerificationCount" integer, "lockedUntil" date)`,
			`create index "twoFactor_secret_idx" on "twoFactor" ("secret")`,
			`create index "twoFactor_userId_idx" on "twoFactor" ("userId")`,
		}
	case d == postgresDialect:
		return `ALTER TABLE "user" ADD COLUMN "two_factor_enabled" boolean DEFAULT false`, []string{
			`CREATE TABLE "two_factor" ("id" text PRIMARY KEY NOT NULL, "secret" text NOT NULL, "backup_codes" text NOT NULL, "user_id" text NOT NULL, "verified" boolean DEFAULT true, "failed_verification_count" integer DEFAULT 0, "locked_until" timestamp)`,
			`ALTER TABLE "two_factor" ADD CONSTRAINT "two_factor_user_id_user_id_fk" FOREIGN KEY ("user_id") REFERENCES "user"("id") ON DELETE cascade ON UPDATE no action`,
			`CREATE INDEX "twoFactor_secret_idx" ON "two_factor" USING btree ("secret")`,
			`CREATE INDEX "twoFactor_userId_idx" ON "two_factor" USING btree ("user_id")`,
		}
	}
	return "ALTER TABLE `user` ADD `two_factor_enabled` integer DEFAULT false", []string{
		"CREATE TABLE `two_factor` (`id` text PRIMARY KEY NOT NULL, `secret` text NOT NULL, `backup_codes` text NOT NULL, `user_id` text NOT NULL, `verified` integer DEFAULT true, `failed_verification_count` integer DEFAULT 0, `locked_until` integer, FOREIGN KEY (`user_id`) REFERENCES `user`(`id`) ON UPDATE no action ON DELETE cascade)",
		"CREATE INDEX `twoFactor_secret_idx` ON `two_factor` (`secret`)",
		"CREATE INDEX `twoFactor_userId_idx` ON `two_factor` (`user_id`)",
	}
}

// EnsureTwoFactorSchema adds what Better Auth's two-factor plugin needs
// and the database lacks (user.twoFactorEnabled, the two-factor table), in
// Better Auth's own DDL for the detected layout, then detects again. It is
// idempotent, and serialised with migrations on PostgreSQL so that two
// instances starting together do not both add the column. Nothing that
// exists is altered.
func (s *Store) EnsureTwoFactorSchema(ctx context.Context) error {
	ctx, cancel := boundSchemaWork(ctx)
	defer cancel()
	const op = "add the two-factor schema"
	q, err := s.queries(ctx)
	if err != nil {
		return wrap(op, err)
	}
	if q.info.Plugins.TwoFactorEnabled && q.info.Plugins.TwoFactorTable {
		return nil
	}
	addColumn, createTable := twoFactorDDL(q.layout, s.dialect)
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		if s.dialect == postgresDialect {
			if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLockKey); err != nil {
				return fmt.Errorf("take advisory lock: %w", err)
			}
		}
		// Detect again under the lock: another instance may have done it.
		info, err := detectSchema(ctx, tx, s.dialect, q.layout)
		if err != nil {
			return err
		}
		var stmts []string
		if !info.Plugins.TwoFactorEnabled {
			stmts = append(stmts, addColumn)
		}
		if !info.Plugins.TwoFactorTable {
			stmts = append(stmts, createTable...)
		}
		for _, st := range stmts {
			if _, err := tx.ExecContext(ctx, st); err != nil {
				return fmt.Errorf("%s: %w", st, err)
			}
		}
		return nil
	})
	if err != nil {
		return wrap(op, err)
	}
	return s.Detect(ctx)
}

// VerificationEntry is VerificationValue with the row's expiry: the
// two-factor try counter is re-armed to expire with its challenge.
func (s *Store) VerificationEntry(ctx context.Context, identifier string, now time.Time) (value string, expiresAt time.Time, err error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	const op = "look up verification"
	q, err := s.queries(ctx)
	if err != nil {
		return "", time.Time{}, wrap(op, err)
	}
	var r struct {
		Value     string `db:"value"`
		ExpiresAt dbTime `db:"expires_at"`
	}
	err = s.db.GetContext(ctx, &r, q.twoFactor.challenge, identifier, s.dialect.cmpTimeArg(normTime(now)))
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return "", time.Time{}, wrap(op, err)
	}
	return r.Value, time.Time(r.ExpiresAt), nil
}

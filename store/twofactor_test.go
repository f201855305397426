package store

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// twoFactorOnly keeps the statements of a plugin DDL script that are about
// the two-factor plugin.
func twoFactorOnly(stmts []string) []string {
	var out []string
	for _, s := range stmts {
		if strings.Contains(strings.ToLower(s), "two_factor") || strings.Contains(s, "twoFactor") {
			out = append(out, s)
		}
	}
	return out
}

// describeTwoFactor lists, as comparable strings, everything about the
// two-factor table, its indexes and the user flag that Better Auth's schema
// check or its queries could notice: names, declared types, nullability,
// defaults, keys.
func describeTwoFactor(t *testing.T, st *Store) []string {
	t.Helper()
	q, err := st.queries(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	table := q.layout.table("twoFactor")
	flag := strings.Trim(q.layout.column("twoFactorEnabled"), `"`)
	var out []string
	if st.dialect == postgresDialect {
		var cols []struct {
			Table, Name, Type, Nullable string
			Default                     *string
		}
		err := st.db.SelectContext(testCtx(t), &cols, `SELECT table_name AS "table", column_name AS name, udt_name AS type,
			is_nullable AS nullable, column_default AS "default" FROM information_schema.columns
			WHERE table_schema = current_schema() AND (table_name = $1 OR (table_name = 'user' AND column_name = $2))
			ORDER BY table_name, column_name`, table, flag)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cols {
			d := "<none>"
			if c.Default != nil {
				d = *c.Default
			}
			out = append(out, fmt.Sprintf("%s.%s %s null=%s default=%s", c.Table, c.Name, c.Type, c.Nullable, d))
		}
		var idx []string
		err = st.db.SelectContext(testCtx(t), &idx, `SELECT indexdef FROM pg_indexes
			WHERE schemaname = current_schema() AND tablename = $1 ORDER BY indexname`, table)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, idx...)
		var fks []string
		err = st.db.SelectContext(testCtx(t), &fks, `SELECT pg_get_constraintdef(c.oid) FROM pg_constraint c
			JOIN pg_class r ON r.oid = c.conrelid WHERE r.relname = $1 AND c.contype = 'f'`, table)
		if err != nil {
			t.Fatal(err)
		}
		return append(out, fks...)
	}
	var cols []struct {
		Table, Name, Type string
		NotNull           int `db:"nn"`
		PK                int
		Default           *string
	}
	err = st.db.SelectContext(testCtx(t), &cols, `SELECT ? AS "table", name, type, "notnull" AS nn, pk, dflt_value AS "default"
		FROM pragma_table_info(?) UNION ALL
		SELECT 'user', name, type, "notnull", pk, dflt_value FROM pragma_table_info('user') WHERE name = ?`, table, table, flag)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cols {
		d := "<none>"
		if c.Default != nil {
			d = *c.Default
		}
		out = append(out, fmt.Sprintf("%s.%s %s notnull=%d pk=%d default=%s", c.Table, c.Name, c.Type, c.NotNull, c.PK, d))
	}
	var idx []string
	err = st.db.SelectContext(testCtx(t), &idx, `SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL ORDER BY name`, table)
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, idx...)
	var fks []string
	err = st.db.SelectContext(testCtx(t), &fks, `SELECT "table" || '.' || "to" || ' ' || on_delete FROM pragma_foreign_key_list(?)`, table)
	if err != nil {
		t.Fatal(err)
	}
	return append(out, fks...)
}

func TestEnsureTwoFactorSchema_IsBetterAuthsDDL(t *testing.T) {
	for _, f := range pluginFixtures() {
		t.Run(f.name, func(t *testing.T) {
			theirs := f.open(t, twoFactorOnly(f.extra), Options{})
			if p := theirs.Schema().Plugins; !p.TwoFactorEnabled || !p.TwoFactorTable {
				t.Fatalf("fixture not detected: %+v", p)
			}
			want := describeTwoFactor(t, theirs)
			if len(want) < 10 { // 7 columns, the flag, 2 indexes, a foreign key
				t.Fatalf("description too thin to compare: %q", want)
			}
			// Ensure on a database that already has it changes nothing.
			if err := theirs.EnsureTwoFactorSchema(testCtx(t)); err != nil {
				t.Fatalf("EnsureTwoFactorSchema on an enrolled database: %v", err)
			}
			if got := describeTwoFactor(t, theirs); !slices.Equal(got, want) {
				t.Fatalf("Ensure altered an existing schema:\n got %q\nwant %q", got, want)
			}

			ours := f.open(t, nil, Options{})
			if p := ours.Schema().Plugins; p.TwoFactorEnabled || p.TwoFactorTable {
				t.Fatalf("core-only database has two-factor parts: %+v", p)
			}
			for i := 0; i < 2; i++ { // idempotent
				if err := ours.EnsureTwoFactorSchema(testCtx(t)); err != nil {
					t.Fatalf("EnsureTwoFactorSchema #%d: %v", i+1, err)
				}
			}
			if p := ours.Schema().Plugins; !p.TwoFactorEnabled || !p.TwoFactorTable {
				t.Fatalf("after Ensure, detection says %+v", p)
			}
			if got := describeTwoFactor(t, ours); !slices.Equal(got, want) {
				t.Fatalf("our two-factor schema differs from Better Auth's:\n got %q\nwant %q", got, want)
			}
		})
	}
}

func TestEnsureTwoFactorSchema_OnlyTheMissingColumn(t *testing.T) {
	// A database where Better Auth added the user flag (e.g. the plugin ran,
	// then its table was dropped) gets the table and keeps the column.
	for _, f := range pluginFixtures() {
		t.Run(f.name, func(t *testing.T) {
			var flagOnly []string
			for _, s := range twoFactorOnly(f.extra) {
				l := strings.ToLower(s)
				if strings.HasPrefix(l, `alter table "user"`) || strings.HasPrefix(l, "alter table `user`") {
					flagOnly = append(flagOnly, s)
				}
			}
			if len(flagOnly) != 1 {
				t.Fatalf("fixture's flag statement not found: %q", flagOnly)
			}
			st := f.open(t, flagOnly, Options{})
			if err := st.EnsureTwoFactorSchema(testCtx(t)); err != nil {
				t.Fatal(err)
			}
			if p := st.Schema().Plugins; !p.TwoFactorEnabled || !p.TwoFactorTable {
				t.Fatalf("after Ensure: %+v", p)
			}
		})
	}
}

func TestTwoFactor_RowLifecycle(t *testing.T) {
	for _, f := range pluginFixtures() {
		t.Run(f.name, func(t *testing.T) {
			st := f.open(t, nil, Options{})
			ctx := testCtx(t)
			u := mkUser(t, st, "tf@example.com")
			if _, err := st.TwoFactorByUser(ctx, u.ID); err == nil || errors.Is(err, ErrNotFound) {
				t.Fatalf("TwoFactorByUser before the schema exists: %v, want the database's error", err)
			}
			if err := st.EnsureTwoFactorSchema(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := st.TwoFactorByUser(ctx, u.ID); !errors.Is(err, ErrNotFound) {
				t.Fatalf("TwoFactorByUser before enrolment: %v, want ErrNotFound", err)
			}
			if err := st.SaveTwoFactor(ctx, u.ID, "secret-1", "codes-1", false); err != nil {
				t.Fatal(err)
			}
			tf, err := st.TwoFactorByUser(ctx, u.ID)
			if err != nil || tf.Secret != "secret-1" || tf.BackupCodes != "codes-1" || tf.IsVerified() || tf.FailedCount != 0 || tf.LockedUntil != nil {
				t.Fatalf("after first save: %+v, %v", tf, err)
			}
			// Enrolling again replaces the row rather than adding one.
			if err := st.SaveTwoFactor(ctx, u.ID, "secret-2", "codes-2", false); err != nil {
				t.Fatal(err)
			}
			tf2, _ := st.TwoFactorByUser(ctx, u.ID)
			if tf2.ID != tf.ID || tf2.Secret != "secret-2" {
				t.Fatalf("second save: %+v (first id %s)", tf2, tf.ID)
			}
			if err := st.SetTwoFactorVerified(ctx, tf.ID); err != nil {
				t.Fatal(err)
			}
			if tf, _ = st.TwoFactorByUser(ctx, u.ID); !tf.IsVerified() {
				t.Fatal("not verified after SetTwoFactorVerified")
			}

			// Backup codes: compare-and-swap.
			if ok, err := st.SwapBackupCodes(ctx, tf.ID, "codes-2", "codes-3"); !ok || err != nil {
				t.Fatalf("swap: %v, %v", ok, err)
			}
			if ok, err := st.SwapBackupCodes(ctx, tf.ID, "codes-2", "codes-4"); ok || err != nil {
				t.Fatalf("stale swap: %v, %v; want refused", ok, err)
			}
			if err := st.SetBackupCodes(ctx, tf.ID, "codes-5"); err != nil {
				t.Fatal(err)
			}
			if tf, _ = st.TwoFactorByUser(ctx, u.ID); tf.BackupCodes != "codes-5" {
				t.Fatalf("codes = %q", tf.BackupCodes)
			}

			// Lockout after 3 failures (the threshold is the caller's).
			now := testNow
			for i := 1; i <= 3; i++ {
				if err := st.RecordTwoFactorFailure(ctx, tf.ID, 3, 15*time.Minute, now); err != nil {
					t.Fatal(err)
				}
				tf, _ = st.TwoFactorByUser(ctx, u.ID)
				if tf.FailedCount != i || (tf.LockedUntil != nil) != (i == 3) {
					t.Fatalf("after %d failures: count %d locked %v", i, tf.FailedCount, tf.LockedUntil)
				}
			}
			if !tf.LockedUntil.Equal(normTime(now.Add(15 * time.Minute))) {
				t.Fatalf("lockedUntil = %v, want %v", tf.LockedUntil, now.Add(15*time.Minute))
			}
			if err := st.UnlockExpiredTwoFactor(ctx, tf.ID, now.Add(14*time.Minute)); err != nil {
				t.Fatal(err)
			}
			if tf, _ = st.TwoFactorByUser(ctx, u.ID); tf.LockedUntil == nil {
				t.Fatal("a running lock was cleared")
			}
			if err := st.UnlockExpiredTwoFactor(ctx, tf.ID, now.Add(15*time.Minute)); err != nil {
				t.Fatal(err)
			}
			if tf, _ = st.TwoFactorByUser(ctx, u.ID); tf.LockedUntil != nil || tf.FailedCount != 0 {
				t.Fatalf("expired lock kept: %+v", tf)
			}
			_ = st.RecordTwoFactorFailure(ctx, tf.ID, 3, time.Minute, now)
			if err := st.ResetTwoFactorFailures(ctx, tf.ID); err != nil {
				t.Fatal(err)
			}
			if tf, _ = st.TwoFactorByUser(ctx, u.ID); tf.FailedCount != 0 {
				t.Fatalf("count after reset = %d", tf.FailedCount)
			}

			// The user flag, and disabling.
			if err := st.SetTwoFactorEnabled(ctx, u.ID, true, now); err != nil {
				t.Fatal(err)
			}
			if got, _ := st.UserByID(ctx, u.ID); !got.TwoFactorEnabled {
				t.Fatal("user not enabled")
			}
			if err := st.DisableTwoFactor(ctx, u.ID, now); err != nil {
				t.Fatal(err)
			}
			if got, _ := st.UserByID(ctx, u.ID); got.TwoFactorEnabled {
				t.Fatal("user still enabled after DisableTwoFactor")
			}
			if _, err := st.TwoFactorByUser(ctx, u.ID); !errors.Is(err, ErrNotFound) {
				t.Fatalf("row after disable: %v", err)
			}
		})
	}
}

// A row that Better Auth wrote before it had the verified and counter
// columns reads as verified, and its NULL counter counts from zero.
func TestTwoFactor_NullColumnsReadAsBetterAuthDoes(t *testing.T) {
	for _, f := range pluginFixtures() {
		if f.snake {
			continue // Drizzle's table has defaults: NULL only comes from the camel DDL
		}
		t.Run(f.name, func(t *testing.T) {
			st := f.open(t, twoFactorOnly(f.extra), Options{})
			ctx := testCtx(t)
			u := mkUser(t, st, "old@example.com")
			execAll(t, st, st.dialect.rebind(`INSERT INTO "twoFactor" ("id", "secret", "backupCodes", "userId") VALUES ('tf1', 's', 'c', '`+u.ID+`')`))
			tf, err := st.TwoFactorByUser(ctx, u.ID)
			if err != nil || tf.Verified != nil || !tf.IsVerified() || tf.FailedCount != 0 {
				t.Fatalf("%+v, %v", tf, err)
			}
			if err := st.RecordTwoFactorFailure(ctx, "tf1", 10, time.Minute, testNow); err != nil {
				t.Fatal(err)
			}
			if tf, _ = st.TwoFactorByUser(ctx, u.ID); tf.FailedCount != 1 {
				t.Fatalf("count = %d", tf.FailedCount)
			}
		})
	}
}

// An operator's reset forgets the user's trusted devices too (and nobody
// else's, nor other verification rows), so that enrolling again asks for a
// code on every device.
func TestTwoFactor_ResetForgetsTrustedDevices(t *testing.T) {
	for _, f := range pluginFixtures() {
		t.Run(f.name, func(t *testing.T) {
			st := f.open(t, nil, Options{})
			ctx := testCtx(t)
			if err := st.EnsureTwoFactorSchema(ctx); err != nil {
				t.Fatal(err)
			}
			u, other := mkUser(t, st, "tf@example.com"), mkUser(t, st, "other@example.com")
			for _, who := range []User{u, other} {
				if err := st.SaveTwoFactor(ctx, who.ID, "s", "c", true); err != nil {
					t.Fatal(err)
				}
				if err := st.SetTwoFactorEnabled(ctx, who.ID, true, testNow); err != nil {
					t.Fatal(err)
				}
			}
			exp := testNow.Add(time.Hour)
			for id, value := range map[string]string{
				"trust-device-a": u.ID, "trust-device-b": u.ID, "trust-device-c": other.ID,
				"2fa-x": u.ID, // a pending challenge is not a trusted device
			} {
				if err := st.CreateVerification(ctx, id, value, exp, testNow); err != nil {
					t.Fatal(err)
				}
			}
			n, err := st.ResetTwoFactor(ctx, u.ID, testNow)
			if err != nil || n != 2 {
				t.Fatalf("ResetTwoFactor = %d, %v; want 2 trusted devices forgotten", n, err)
			}
			if got, _ := st.UserByID(ctx, u.ID); got.TwoFactorEnabled {
				t.Fatal("user still enabled")
			}
			if _, err := st.TwoFactorByUser(ctx, u.ID); !errors.Is(err, ErrNotFound) {
				t.Fatalf("row after reset: %v", err)
			}
			for id, want := range map[string]bool{"trust-device-a": false, "trust-device-b": false, "trust-device-c": true, "2fa-x": true} {
				_, err := st.VerificationValue(ctx, id, testNow)
				if (err == nil) != want {
					t.Errorf("%s after reset: %v, want kept=%v", id, err, want)
				}
			}
			if got, _ := st.UserByID(ctx, other.ID); !got.TwoFactorEnabled {
				t.Fatal("another user's two-factor was reset")
			}
		})
	}
}

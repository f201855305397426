package store

import (
	"context"
	"fmt"

	"go.uber.org/zap"
)

// noticeTrigger is one of the triggers of migration 0002 that announce
// revocations on PostgreSQL (SPEC §4). They sit on Better Auth's tables, so
// a tool that drops and re-creates a table (drizzle-kit push, when it cannot
// alter a column in place) removes them with it, and the migration that made
// them has already run: without a check nothing would bring them back, and
// revocations elsewhere would silently stop reaching cached sessions.
type noticeTrigger struct {
	table, name, event, level, function string
}

var noticeTriggers = []noticeTrigger{
	{"session", "auth_gate_session_notify", "UPDATE OR DELETE", "ROW", "auth_gate_session_notify"},
	{"session", "auth_gate_session_truncate_notify", "TRUNCATE", "STATEMENT", "auth_gate_session_notify"},
	{"user", "auth_gate_user_notify", "UPDATE OR DELETE", "ROW", "auth_gate_user_notify"},
	{"user", "auth_gate_user_truncate_notify", "TRUNCATE", "STATEMENT", "auth_gate_user_notify"},
}

// CheckNoticeTriggers looks for the revocation-notice triggers on
// PostgreSQL (nothing to do on SQLite) and returns the names of those
// missing. When the store migrates (Options.Migrate) it re-creates them, as
// migration 0002 made them, and logs a warning naming them; otherwise the
// warning says how to restore them. Migrate always re-creates them.
func (s *Store) CheckNoticeTriggers(ctx context.Context) ([]string, error) {
	return s.checkNoticeTriggers(ctx, s.migrateOnReady)
}

func (s *Store) checkNoticeTriggers(ctx context.Context, repair bool) ([]string, error) {
	const op = "check revocation triggers"
	ctx, cancel := bound(ctx)
	defer cancel()
	if s.dialect.driver != "postgres" {
		// No triggers to keep on SQLite; a closed or broken store still
		// says so, as every method does.
		return nil, wrap(op, s.db.PingContext(ctx))
	}
	missing, err := s.missingNoticeTriggers(ctx)
	if err != nil || len(missing) == 0 {
		return nil, wrap(op, err)
	}
	names := make([]string, len(missing))
	for i, t := range missing {
		names[i] = t.table + "." + t.name
	}
	if !repair {
		s.log.Warn("revocation triggers are missing, so revocations made elsewhere reach this instance only when its cached copy lapses (session_cache); was a table re-created (drizzle-kit push)? Start once with migrate auto, or run the Up half of migrations/postgres/0002_revocation_triggers.sql",
			zap.Strings("missing", names))
		return names, nil
	}
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return names, wrap(op, err)
	}
	defer func() { _ = tx.Rollback() }()
	for _, t := range missing {
		stmt := fmt.Sprintf(`CREATE TRIGGER %s AFTER %s ON %q FOR EACH %s EXECUTE FUNCTION auth_gate.%s()`,
			t.name, t.event, t.table, t.level, t.function)
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return names, wrap(op, fmt.Errorf("re-create %s: %w", t.name, err))
		}
	}
	if err := tx.Commit(); err != nil {
		return names, wrap(op, err)
	}
	s.log.Warn("re-created missing revocation triggers; was a table re-created (drizzle-kit push)?", zap.Strings("triggers", names))
	return names, nil
}

// missingNoticeTriggers returns the notice triggers that are not on their
// table (the tables are found on the search path, as every query finds
// them).
func (s *Store) missingNoticeTriggers(ctx context.Context) ([]noticeTrigger, error) {
	var present []struct {
		Table string `db:"tbl"`
		Name  string `db:"tgname"`
	}
	err := s.db.SelectContext(ctx, &present, `SELECT c.relname AS tbl, t.tgname FROM pg_trigger t
		JOIN pg_class c ON c.oid = t.tgrelid
		WHERE t.tgrelid IN (to_regclass('"session"'), to_regclass('"user"')) AND NOT t.tgisinternal`)
	if err != nil {
		return nil, err
	}
	var missing []noticeTrigger
	for _, want := range noticeTriggers {
		found := false
		for _, p := range present {
			if p.Table == want.table && p.Name == want.name {
				found = true
				break
			}
		}
		if !found {
			missing = append(missing, want)
		}
	}
	return missing, nil
}

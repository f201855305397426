package store

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/authgate/authgate/internal/testsupport"
)

func TestOpen_RejectsInvalidDSNsNamingTheAcceptedForms(t *testing.T) {
	cases := []struct{ name, dsn string }{
		{"Empty", ""},
		{"MySQL", "mysql://app:s3cretpw@db/app"},
		{"BareFileName", "auth.db"},
		{"SQLiteURIForm", "file:auth.db"},
		{"SQLite3Scheme", "sqlite3://auth.db"},
		{"SQLiteWithoutPath", "sqlite://"},
		{"SQLiteWithParameters", "sqlite://auth.db?mode=ro"},
		{"PostgresBadPort", "postgres://app:s3cretpw@db:notaport/app"},
		{"PostgresBadEscape", "postgres://app:s3cretpw%zz@db/app"},
		{"PostgresUnknownSSLMode", "postgresql://app:s3cretpw@db/app?sslmode=sometimes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, err := Open(tc.dsn, Options{})
			if err == nil {
				_ = st.Close()
				t.Fatalf("Open(%q) succeeded", tc.dsn)
			}
			if !strings.Contains(err.Error(), "postgres://, postgresql://, sqlite://<path>") {
				t.Errorf("error does not name the accepted forms: %v", err)
			}
			if strings.Contains(err.Error(), "s3cretpw") {
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}
}

func TestOpen_RejectsUnknownSchema(t *testing.T) {
	if _, err := Open("sqlite://x.db", Options{Schema: "kebab"}); err == nil {
		t.Fatal("schema kebab accepted")
	}
}

func TestOpen_DoesNotConnect(t *testing.T) {
	// Nothing listens there; Open must still succeed (caddy validate).
	for _, dsn := range []string{
		"postgres://u:p@" + closedAddr(t) + "/db?sslmode=disable",
		"postgresql://u:p@" + closedAddr(t) + "/db",
		"sqlite://" + t.TempDir() + "/not/yet/there.db",
	} {
		st, err := Open(dsn, Options{})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if got, want := st.Driver(), map[bool]string{true: "sqlite", false: "postgres"}[strings.HasPrefix(dsn, "sqlite")]; got != want {
			t.Errorf("Driver() = %q, want %q", got, want)
		}
		_ = st.Close()
	}
}

// channelBindingWarnings returns the log entries about channel_binding.
func channelBindingWarnings(logs *observer.ObservedLogs) []observer.LoggedEntry {
	return logs.FilterField(zap.String("parameter", "channel_binding")).AllUntimed()
}

func TestOpen_RemovesChannelBindingWithOneWarning(t *testing.T) {
	cases := []struct {
		dsn  string
		want int
	}{
		{"postgres://neondb_owner:s3cretpw@ep-x-pooler.eu-central-1.aws.neon.tech/neondb?sslmode=require&channel_binding=require", 1},
		{"postgresql://neondb_owner:s3cretpw@ep-x.neon.tech/neondb?channel_binding=prefer", 1},
		{"postgres://u:s3cretpw@db/app?sslmode=require", 0},
	}
	for _, tc := range cases {
		core, logs := observer.New(zap.DebugLevel)
		st, err := Open(tc.dsn, Options{Logger: zap.New(core)})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		_ = st.Close()
		if got := len(channelBindingWarnings(logs)); got != tc.want {
			t.Errorf("%d channel_binding warnings, want %d", got, tc.want)
		}
		for _, e := range logs.AllUntimed() {
			if e.Level != zap.WarnLevel {
				t.Errorf("unexpected %s entry %q", e.Level, e.Message)
			}
			for k, v := range e.ContextMap() {
				if s, ok := v.(string); ok && strings.Contains(s, "s3cretpw") {
					t.Errorf("log field %s leaks the password", k)
				}
			}
		}
	}
}

func TestOpen_NeonStyleDSNConnectsOverTLS(t *testing.T) {
	u, err := url.Parse(testsupport.PostgresDirectDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("sslmode", "require")
	q.Set("channel_binding", "require")
	u.RawQuery = q.Encode()

	core, logs := observer.New(zap.DebugLevel)
	st := openStore(t, u.String(), Options{Logger: zap.New(core)})
	ctx := testCtx(t)
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if err := st.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	var ssl bool
	if err := st.db.GetContext(ctx, &ssl, `SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()`); err != nil {
		t.Fatal(err)
	}
	if !ssl {
		t.Error("sslmode=require did not give a TLS connection")
	}
	if got := len(channelBindingWarnings(logs)); got != 1 {
		t.Errorf("%d channel_binding warnings, want exactly 1", got)
	}
}

// The SQLite file holds password hashes and session tokens: it and its -wal
// and -shm files are owner-only whatever the umask, and whichever path
// connects first (a migrate, a detect with `migrate off`, a plain query).
func TestOpen_SQLiteFilesArePrivateWhateverTheUmask(t *testing.T) {
	old := syscall.Umask(0)
	t.Cleanup(func() { syscall.Umask(old) })

	for _, tc := range []struct {
		name  string
		first func(ctx context.Context, st *Store) error
	}{
		{"migrate", func(ctx context.Context, st *Store) error { return st.Migrate(ctx) }},
		{"detect (migrate off)", func(ctx context.Context, st *Store) error { _ = st.Detect(ctx); return nil }},
		{"ping", func(ctx context.Context, st *Store) error { return st.Ping(ctx) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "sub", "auth.db")
			st, err := Open("sqlite://"+path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			ctx := context.Background()
			if err := tc.first(ctx, st); err != nil {
				t.Fatal(err)
			}
			// A write in WAL mode creates -wal and -shm.
			if _, err := st.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS perm_probe (x)`); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{path, path + "-wal", path + "-shm"} {
				fi, err := os.Stat(f)
				if err != nil {
					t.Fatalf("%s: %v", filepath.Base(f), err)
				}
				if mode := fi.Mode().Perm(); mode != 0o600 {
					t.Errorf("%s has mode %o, want 600", filepath.Base(f), mode)
				}
			}
			if fi, err := os.Stat(filepath.Dir(path)); err != nil || fi.Mode().Perm() != 0o700 {
				t.Errorf("database directory: %v %v, want mode 700", fi.Mode().Perm(), err)
			}
		})
	}
}

package caddyauth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/authgate/authgate/store"
)

// dbPool shares one connection pool per database across config reloads and
// sites, as Caddy's acmeserver does: a reload provisions the new handlers
// (taking a reference) before the old ones are cleaned up (dropping theirs),
// so the pool survives and connections are not re-established.
var dbPool = caddy.NewUsagePool()

// dbHandle is one shared pool plus the once-per-process readiness state.
type dbHandle struct {
	st      *store.Store
	migrate bool

	mu    sync.Mutex
	ready atomic.Bool
}

// Destruct implements caddy.Destructor: the last user is gone.
func (h *dbHandle) Destruct() error { return h.st.Close() }

// ensureReady connects and applies migrations once. A failure is not cached:
// the next request tries again, so a database that comes up late is picked
// up without restarting Caddy.
func (h *dbHandle) ensureReady(ctx context.Context) error {
	if h.ready.Load() {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ready.Load() {
		return nil
	}
	var err error
	if h.migrate {
		err = h.st.Migrate(ctx)
	} else {
		err = h.st.Detect(ctx)
	}
	if err != nil {
		return err
	}
	h.ready.Store(true)
	return nil
}

// acquireDB takes a reference on the pool for dsn, creating it if needed.
// The key is a hash so that no password sits in memory as a map key, and a
// changed DSN or setting gets a new pool.
func acquireDB(dsn, schema string, migrate bool, logger *zap.Logger) (*dbHandle, string, error) {
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%t", dsn, schema, migrate))
	key := hex.EncodeToString(sum[:])
	val, _, err := dbPool.LoadOrNew(key, func() (caddy.Destructor, error) {
		st, err := store.Open(dsn, store.Options{Logger: logger, Schema: schema})
		if err != nil {
			return nil, err
		}
		return &dbHandle{st: st, migrate: migrate}, nil
	})
	if err != nil {
		return nil, "", err
	}
	return val.(*dbHandle), key, nil
}

// defaultDatabaseDSN is the zero-setup SQLite file in Caddy's data directory.
func defaultDatabaseDSN() string {
	return "sqlite://" + filepath.Join(caddy.AppDataDir(), "auth_gate", "auth.db")
}

// Interface guards
var _ caddy.Destructor = (*dbHandle)(nil)

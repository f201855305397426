package caddyauth

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/authgate/authgate/caddyauth/internal/sessioncache"
	"github.com/authgate/authgate/store"
)

// dbPool shares one connection pool per database across config reloads and
// sites, as Caddy's acmeserver does: a reload provisions the new handlers
// (taking a reference) before the old ones are cleaned up (dropping theirs),
// so the pool survives and connections are not re-established.
var dbPool = caddy.NewUsagePool()

// dbHandle is one shared pool (which gets ready, connected and migrated,
// on first use: see store.Store.Ready), the session cache of that database, the sweep of its expired rows and, on
// PostgreSQL, the listener that keeps the cache in step with revocations
// made anywhere.
type dbHandle struct {
	st     *store.Store
	cache  *sessioncache.Cache[authResult]
	logger *zap.Logger

	// notifyDSN is where to LISTEN for revocation notices; empty on SQLite,
	// whose single instance invalidates its cache itself.
	notifyDSN    string
	stopListener func()      // nil until the listener runs
	caching      atomic.Bool // some handler has a session_cache
	twoFactor    atomic.Bool // some handler has two_factor: add its schema at start
	adminSchema  atomic.Bool // some handler serves the admin endpoints: see ensureAdminSchema
	roleRules    atomic.Bool // some handler has a require rule for a role: see warnRoleRulesWithoutRoles

	// The sweep of expired rows (sweep.go): first after sweepFirst, then
	// every sweepEvery; stopSweeper is nil until it runs.
	sweepFirst, sweepEvery time.Duration
	stopSweeper            func()

	mu sync.Mutex // guards stopListener and stopSweeper

	probed         sync.Once   // usePreparedLookups ran
	lookupsDecided atomic.Bool // the store's connection test has answered
}

// Destruct implements caddy.Destructor: the last user is gone.
func (h *dbHandle) Destruct() error {
	h.mu.Lock()
	stop, stopSweeper := h.stopListener, h.stopSweeper
	h.stopListener, h.stopSweeper = nil, nil
	h.mu.Unlock()
	if stop != nil {
		stop()
	}
	if stopSweeper != nil {
		stopSweeper()
	}
	return h.st.Close()
}

// startListener starts listening for revocation notices, once, when some
// handler caches sessions. App.Start calls it when the database is ready:
// that is when the config starts, never under `caddy validate`. Listening
// never fails the start: when it cannot work, the listener warns once and
// session_cache bounds how late a revocation made elsewhere is seen here.
func (h *dbHandle) startListener() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.notifyDSN == "" || h.stopListener != nil || !h.caching.Load() {
		return
	}
	stop, err := store.Listen(h.notifyDSN, h.cache, h.logger)
	if err != nil {
		// acquireDB checked the DSN; this is not expected.
		h.logger.Warn("cannot listen for revocation notices", zap.Error(err))
		return
	}
	h.stopListener = stop
}

// usePreparedLookups lets the store find out, in the background, whether
// its connections are direct and so may keep the session lookup as a named
// prepared statement (see store.Store.UsePreparedLookups): the uncached
// gate's lookup then costs the database far less. Nothing waits for it;
// until it has answered, lookups are unnamed, as they stay behind a pooler
// in transaction mode. A test that could not run (the database was down
// at start) is tried again at each sweep.
func (h *dbHandle) usePreparedLookups() {
	h.probed.Do(func() { go h.decideLookups(context.Background()) })
}

// decideLookups runs the store's test unless it has answered, and logs the
// answer once.
func (h *dbHandle) decideLookups(ctx context.Context) {
	if h.st.Driver() != "postgres" || h.lookupsDecided.Load() {
		return
	}
	on, err := h.st.UsePreparedLookups(ctx)
	switch {
	case err != nil:
		h.logger.Debug("session lookups stay on unnamed statements until the next sweep tests the connection again", zap.Error(err))
		return
	case on:
		h.logger.Debug("session lookups use a named prepared statement: the database connection keeps its session")
	default:
		h.logger.Info("session lookups use unnamed statements: the database connection goes through a pooler in transaction mode")
	}
	h.lookupsDecided.Store(true)
}

// defaultCacheEntries bounds the session cache of one database. An entry is
// a session and its user, under 1 KiB with its index entries: the bound
// keeps the cache under 10 MiB whatever the traffic.
const defaultCacheEntries = 10000

// newSessionCache makes a database's session cache, counting the notices
// it acts on; the handlers count their own invalidations (forgetSessions).
func newSessionCache(entries int) *sessioncache.Cache[authResult] {
	return sessioncache.New[authResult](entries, func(kind store.NoticeKind) {
		if kind == store.NoticeAll {
			cacheInvalidatedFlush.Inc()
		} else {
			cacheInvalidatedNotice.Inc()
		}
	})
}

// acquireDB takes a reference on the pool for dsn, creating it if needed.
// notifyDSN (notify_database) is where revocation notices are listened for
// on PostgreSQL; empty means dsn. caching says that the caller uses the
// session cache, which is what notices are for. The key is a hash so that
// no password sits in memory as a map key, and a changed DSN or setting
// gets a new pool (and cache, and listener).
func acquireDB(dsn, notifyDSN, schema string, migrate, caching bool, logger *zap.Logger) (*dbHandle, string, error) {
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%s\x00%t", dsn, notifyDSN, schema, migrate))
	key := hex.EncodeToString(sum[:])
	val, _, err := dbPool.LoadOrNew(key, func() (caddy.Destructor, error) {
		st, err := store.Open(dsn, store.Options{Logger: logger, Schema: schema, Migrate: migrate})
		if err != nil {
			return nil, err
		}
		h := &dbHandle{st: st, cache: newSessionCache(defaultCacheEntries), logger: logger,
			sweepFirst: sweepFirstDelay, sweepEvery: sweepInterval}
		if st.Driver() == "postgres" {
			h.notifyDSN = cmp.Or(notifyDSN, dsn)
		} else if notifyDSN != "" {
			_ = st.Close()
			return nil, errors.New("notify_database: only used with a PostgreSQL database")
		}
		if h.notifyDSN != "" {
			if d, err := store.ParseDSN(h.notifyDSN); err != nil || d.Driver != "postgres" {
				_ = st.Close()
				// The DSN itself is not quoted: it may hold a password.
				return nil, errors.New("notify_database: must be a postgres:// or postgresql:// DSN")
			}
		}
		return h, nil
	})
	if err != nil {
		return nil, "", err
	}
	h := val.(*dbHandle)
	if caching {
		h.caching.Store(true)
	}
	return h, key, nil
}

// Interface guards
var _ caddy.Destructor = (*dbHandle)(nil)

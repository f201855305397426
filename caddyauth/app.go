package caddyauth

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/authgate/authgate/caddyauth/internal/social"
)

const appID = "auth_gate"

func init() {
	caddy.RegisterModule(new(App))
}

// App is a small companion app that every auth_gate handler loads. Its only
// job is to connect to the databases and apply migrations when the config
// starts, which is the moment Caddy allows side effects: provisioning also
// happens under `caddy validate` and `caddy adapt`, which must never touch a
// database. It has no configuration of its own.
type App struct {
	mu        sync.Mutex
	handles   []*dbHandle
	providers []*social.Provider
}

// CaddyModule returns the Caddy module information.
func (*App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  appID,
		New: func() caddy.Module { return new(App) },
	}
}

func (a *App) register(h *dbHandle) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, x := range a.handles {
		if x == h {
			return
		}
	}
	a.handles = append(a.handles, h)
}

// registerProviders has the OpenID providers' discovery run when the
// config starts rather than at the first sign-in.
func (a *App) registerProviders(ps map[string]*social.Provider) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, p := range ps {
		a.providers = append(a.providers, p)
	}
}

// startTimeout bounds how long a start waits for a database: long enough for
// a cold serverless PostgreSQL (Neon wakes in a few seconds), short enough
// that a wrong DSN fails the start visibly.
const startTimeout = 30 * time.Second

// Start connects and migrates every database the handlers use, then starts
// the sweep of expired rows on each and listening for revocation notices on
// those that have them. An unreachable database fails the start (and so a
// reload keeps the old config), with the error naming the cause; listening
// and sweeping never do.
func (a *App) Start() error {
	a.mu.Lock()
	handles := append([]*dbHandle(nil), a.handles...)
	a.mu.Unlock()
	for _, h := range handles {
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		err := h.st.Ready(ctx)
		if err == nil {
			err = h.ensureTwoFactorSchema(ctx)
		}
		if err == nil {
			err = h.ensureAdminSchema(ctx)
		}
		cancel()
		if err != nil {
			return fmt.Errorf("auth_gate database: %w", err)
		}
	}
	for _, h := range handles {
		h.startListener()
		h.startSweeper()
		h.usePreparedLookups()
		h.warnRoleRulesWithoutRoles()
	}
	// Discovery in the background: a provider that is down must not stop
	// the config (its sign-ins fail with a clean error until it is back,
	// and the first one retries), but when it is up the first sign-in
	// should not wait for it.
	a.mu.Lock()
	providers := append([]*social.Provider(nil), a.providers...)
	a.mu.Unlock()
	for _, p := range providers {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), discoveryTimeout)
			defer cancel()
			if err := p.Start(ctx); err != nil {
				caddy.Log().Named("http.handlers.auth_gate").Warn("provider discovery failed at start; the first sign-in with it tries again",
					zap.String("provider", p.ID()), zap.Error(err))
			}
		}()
	}
	return nil
}

// discoveryTimeout bounds a provider's discovery at start, as a sign-in
// bounds every provider call.
const discoveryTimeout = 10 * time.Second

// Stop does nothing: pools are released by the handlers' Cleanup.
func (a *App) Stop() error { return nil }

// Interface guards
var _ caddy.App = (*App)(nil)

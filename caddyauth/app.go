package caddyauth

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
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
	mu      sync.Mutex
	handles []*dbHandle
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
	}
	return nil
}

// Stop does nothing: pools are released by the handlers' Cleanup.
func (a *App) Stop() error { return nil }

// Interface guards
var _ caddy.App = (*App)(nil)

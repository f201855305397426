package store

import (
	"context"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/testsupport"
)

// drizzlePush runs the real drizzle-kit push (internal/drizzle) of Better
// Auth's Drizzle schema against dsn and returns its output. --force because
// a plan with a DROP would otherwise wait for an answer on a terminal; the
// caller checks both the plan and what is still there afterwards.
func drizzlePush(t *testing.T, node, dir, dsn string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "node_modules/drizzle-kit/bin.cjs", "push",
		"--dialect=postgresql", "--schema=./auth-schema.ts", "--url="+dsn, "--verbose", "--force")
	cmd.Dir = dir
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("drizzle-kit push: %v\n%s", err, out)
	}
	return string(out)
}

// TestMigrate_DrizzleKitPushSeesNoChangeAfterAuthGateStarted: a team that
// manages its schema with drizzle-kit push (common with Neon) must be able
// to keep doing so on a database auth_gate has started on: no plan to drop
// auth_gate's objects, so nothing of ours is lost.
func TestMigrate_DrizzleKitPushSeesNoChangeAfterAuthGateStarted(t *testing.T) {
	node, npm := testsupport.RequireNode(t, "drizzle-kit push against a migrated database")
	dir := testsupport.NodeProject("drizzle")
	testsupport.NpmCI(t, npm, dir)

	for _, install := range []string{"fresh", "older"} {
		t.Run(install, func(t *testing.T) {
			dsn := testsupport.PostgresDSN(t)
			if out := drizzlePush(t, node, dir, dsn); !strings.Contains(out, "Changes applied") {
				t.Fatalf("creating the Drizzle-made database: %s", out)
			}
			st := openStore(t, dsn, Options{})
			if install == "older" {
				olderInstall(t, st)
			}
			if err := st.Migrate(testCtx(t)); err != nil {
				t.Fatalf("Migrate: %v", err)
			}
			if l := st.q.Load().layout; l != layoutSnake {
				t.Fatalf("layout = %q, want snake", l)
			}
			if ok, _, err := st.HitRateLimit(testCtx(t), "k", time.Minute, 5, testNow); err != nil || !ok {
				t.Fatalf("HitRateLimit = %v, %v", ok, err)
			}

			out := drizzlePush(t, node, dir, dsn)
			if !strings.Contains(out, "No changes detected") {
				t.Errorf("drizzle-kit push planned changes:\n%s", out)
			}
			if got := ownObjects(t, st); !reflect.DeepEqual(got, wantOwnObjects) {
				t.Errorf("own objects after push = %v, want %v", got, wantOwnObjects)
			}
			if got := count(t, st, `SELECT count(*) FROM auth_gate.auth_gate_rate_limit`); got < 1 {
				t.Errorf("rate-limit rows after push = %d, want at least 1", got)
			}
			if err := st.Migrate(testCtx(t)); err != nil {
				t.Errorf("Migrate after push: %v", err)
			}
		})
	}
}

package caddyauth

import (
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/authgate/authgate/internal/testsupport"
)

// A require rule for a role on a database without a role column lets only
// rules for "user" pass: the start says so, once the database is ready,
// unless some handler's admin on adds the column.
func TestRequireRole_WithoutARoleColumnWarnsAtStart(t *testing.T) {
	cases := []struct {
		name  string
		block string
		warn  bool
	}{
		{"role rule, no role column", "require /admin/* role admin", true},
		{"role rule, admin on adds the column", "require /admin/* role admin\nadmin on", false},
		{"email_verified rule needs no role", "require /billing/* email_verified", false},
		{"no rule", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			testsupport.Both(t, func(t *testing.T, dsn string) {
				tg := newTestGate(t, dsn, tc.block)
				core, logs := observer.New(zapcore.WarnLevel)
				h := tg.g.db
				h.logger = zap.New(core)
				h.warnRoleRulesWithoutRoles() // as App.Start does
				warnings := logs.All()
				if !tc.warn {
					if len(warnings) != 0 {
						t.Fatalf("unexpected warnings: %v", warnings)
					}
					return
				}
				if len(warnings) != 1 || !strings.Contains(warnings[0].Message, "role column") || !strings.Contains(warnings[0].Message, "admin on") {
					t.Fatalf("warnings %v, want one naming the role column and admin on", warnings)
				}
			})
		})
	}
}

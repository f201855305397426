#!/usr/bin/env bash
# Runs every Go test: all packages in parallel, then the outage tests alone,
# since they stop and restart the shared PostgreSQL cluster and would take
# the database away from whatever else was running; then the store's whole
# suite a second time through PgBouncer in transaction pooling mode (SPEC
# §13: Neon's pooled endpoint), where only LISTEN stays on a direct
# connection.
#   scripts/go-test.sh [go test flags...]
set -euo pipefail
GO=${GO:-go}

# pgbouncer_check fails loudly, with PgBouncer's own log, when the pooler of
# scripts/test-postgres.sh no longer accepts connections: the tests through
# it would otherwise all fail with "connection refused" and no cause.
pgbouncer_check() {
	local port=${TEST_PGBOUNCER_PORT:-}
	[ -n "$port" ] || return 0
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		return 0
	fi
	local base
	base=$(dirname "${TEST_PG_DATA:-/nonexistent/data}")
	echo "go-test: PgBouncer on 127.0.0.1:$port stopped accepting connections $1; its log:" >&2
	tail -n 40 "$base/pgbouncer.log" "$base/pgbouncer.start.log" >&2 2>/dev/null || true
	return 1
}

"$GO" test ./... -count=1 -skip '^TestOutage_' "$@"
pgbouncer_check "during the parallel tests"
"$GO" test ./cmd/caddy -count=1 "$@" -run '^TestOutage_'
pgbouncer_check "during the outage tests"
AUTHGATE_TEST_VIA_PGBOUNCER=1 "$GO" test ./store -count=1 "$@"

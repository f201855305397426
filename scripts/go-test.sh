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
"$GO" test ./... -count=1 -skip '^TestOutage_' "$@"
"$GO" test ./cmd/caddy -count=1 "$@" -run '^TestOutage_'
AUTHGATE_TEST_VIA_PGBOUNCER=1 "$GO" test ./store -count=1 "$@"

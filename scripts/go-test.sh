#!/usr/bin/env bash
# Runs every Go test: all packages in parallel, then the outage tests alone,
# since they stop and restart the shared PostgreSQL cluster and would take
# the database away from whatever else was running.
#   scripts/go-test.sh [go test flags...]
set -euo pipefail
GO=${GO:-go}
"$GO" test ./... -count=1 -skip '^TestOutage_' "$@"
"$GO" test ./cmd/caddy -count=1 "$@" -run '^TestOutage_'

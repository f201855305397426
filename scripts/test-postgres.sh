#!/usr/bin/env bash
# Run a command against a throwaway PostgreSQL cluster.
#
#   scripts/test-postgres.sh go test ./...
#
# When TEST_DATABASE_URL is already set, the command simply runs against that
# database. Otherwise this script initialises a fresh cluster in a temporary
# folder (trust auth, TLS on, listening on 127.0.0.1 only, on a free port),
# exports its coordinates, runs the command, then stops and deletes the cluster
# whatever the outcome, and exits with the command's exit status.
#
# Exported for the command:
#   TEST_DATABASE_URL    postgres://postgres@127.0.0.1:<port>/postgres?sslmode=disable
#                        (superuser, trust auth; TLS is on, so sslmode=require works too)
#   TEST_DATABASE_URL_SCRAM  the same server as a superuser role that must use TLS
#                        and SCRAM-SHA-256, in the form Neon hands out:
#                        postgres://authgate_scram:<pw>@127.0.0.1:<port>/postgres?sslmode=require&channel_binding=require
#   TEST_PG_PORT         the port
#   TEST_PG_DATA         the data directory
#   TEST_PG_SSLROOTCERT  the server's self-signed certificate (SAN IP:127.0.0.1)
#   TEST_PG_CTL          an executable taking pg_ctl arguments, already bound to
#                        this cluster (data dir, log, OS user): "$TEST_PG_CTL stop -m fast"
#   TEST_PG_STOP_CMD     shell command that stops the cluster (waits)
#   TEST_PG_START_CMD    shell command that starts it again on the same port (waits)
#   TEST_PG_RESTART_CMD  shell command that restarts it (waits)
#   TEST_PGBOUNCER_URL   the same server through a PgBouncer in transaction
#                        pooling mode, as Neon's pooled endpoint is:
#                        postgres://postgres@127.0.0.1:<port>/postgres?sslmode=disable
#                        (any database name is passed through). Unset when
#                        PgBouncer is not installed and cannot be (not root).
#   TEST_PGBOUNCER_PORT  its port
#
# Works as root (the cluster then runs as the "postgres" OS user, since
# PostgreSQL refuses to run as root) and as any other user. As root, missing
# server binaries are installed with apt-get.
set -euo pipefail

if [ "$#" -eq 0 ]; then
	echo "usage: $0 command [args...]" >&2
	exit 2
fi

if [ -n "${TEST_DATABASE_URL:-}" ]; then
	echo "test-postgres: using TEST_DATABASE_URL from the environment" >&2
	exec "$@"
fi

log() { echo "test-postgres: $*" >&2; }

# Every cluster lives in a folder named like this; the prefix lets a later run
# find clusters whose run was killed before it could clean up.
prefix=authgate-pg.
# As root the folder must be reachable by the postgres user, so ignore a
# TMPDIR inside a home folder that user cannot enter.
if [ "$(id -u)" -eq 0 ]; then tmproot=/tmp; else tmproot=${TMPDIR:-/tmp}; fi

find_bindir() {
	local d
	if [ -n "${PG_BINDIR:-}" ] && [ -x "$PG_BINDIR/initdb" ]; then
		echo "$PG_BINDIR"
		return
	fi
	if command -v pg_config >/dev/null 2>&1; then
		d=$(pg_config --bindir 2>/dev/null || true)
		if [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
			echo "$d"
			return
		fi
	fi
	# Debian keeps server binaries out of PATH; take the newest major version.
	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
	if [ -n "$d" ] && [ -x "$d/initdb" ]; then
		echo "$d"
		return
	fi
	d=$(command -v initdb 2>/dev/null || true)
	if [ -n "$d" ] && command -v pg_ctl >/dev/null 2>&1; then
		dirname "$(readlink -f "$d")"
		return
	fi
}

bindir=$(find_bindir)
if [ -z "$bindir" ]; then
	if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
		log "PostgreSQL server binaries not found; installing them with apt-get"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -q >&2
		apt-get install -y -q postgresql >&2
		bindir=$(find_bindir)
	fi
	if [ -z "$bindir" ]; then
		log "PostgreSQL server binaries (initdb, pg_ctl) not found."
		log "Install them, e.g.: sudo apt-get update && sudo apt-get install -y postgresql"
		log "or point TEST_DATABASE_URL at an existing database, or PG_BINDIR at the binaries."
		exit 1
	fi
fi

# run_pg runs a command as the OS user that owns the cluster.
if [ "$(id -u)" -eq 0 ]; then
	if ! id postgres >/dev/null 2>&1; then
		useradd --system --user-group --home-dir /nonexistent --shell /usr/sbin/nologin postgres
	fi
	run_pg() { (cd / && runuser -u postgres -- "$@"); }
	give_to_pg() { chown postgres: "$@"; }
else
	run_pg() { (cd / && "$@"); }
	give_to_pg() { :; }
fi

# Stop and delete clusters left behind by runs that were killed (SIGKILL, a
# lost terminal): their owner process is gone but the postmaster may live on.
sweep_leftovers() {
	local dir owner
	for dir in "$tmproot/$prefix"*; do
		[ -d "$dir" ] || continue
		# Another user's clusters are theirs to clean, unless we are root.
		if [ "$(id -u)" -ne 0 ] && [ ! -O "$dir" ]; then continue; fi
		owner=$(cat "$dir/owner.pid" 2>/dev/null || true)
		if [ -n "$owner" ] && [ -d "/proc/$owner" ]; then
			continue # its run is still going
		fi
		# A run that has just made its folder may not have written owner.pid yet.
		if [ -z "$owner" ] && [ -z "$(find "$dir" -maxdepth 0 -mmin +10)" ]; then
			continue
		fi
		log "removing leftover cluster $dir"
		if [ -f "$dir/pgbouncer.pid" ]; then
			kill "$(cat "$dir/pgbouncer.pid")" 2>/dev/null || true
		fi
		if [ -f "$dir/data/postmaster.pid" ]; then
			if [ "$(id -u)" -eq 0 ]; then
				(cd / && runuser -u "$(stat -c %U "$dir/data")" -- \
					"$bindir/pg_ctl" -D "$dir/data" stop -m immediate -w) >/dev/null 2>&1 || true
			else
				run_pg "$bindir/pg_ctl" -D "$dir/data" stop -m immediate -w >/dev/null 2>&1 || true
			fi
		fi
		rm -rf "$dir" || true
	done
}
sweep_leftovers

base=$(mktemp -d "$tmproot/${prefix}XXXXXX")
data=$base/data
echo $$ >"$base/owner.pid"

cleanup() {
	local status=$?
	trap - EXIT INT TERM HUP
	if [ -f "$base/pgbouncer.pid" ]; then
		kill "$(cat "$base/pgbouncer.pid")" 2>/dev/null || true
	fi
	if [ -f "$data/postmaster.pid" ]; then
		run_pg "$bindir/pg_ctl" -D "$data" stop -m immediate -w >/dev/null 2>&1 || true
	fi
	rm -rf "$base"
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

give_to_pg "$base"

run_pg "$bindir/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 \
	--no-locale --no-sync --no-instructions >"$base/initdb.log" 2>&1 || {
	cat "$base/initdb.log" >&2
	log "initdb failed"
	exit 1
}

# Self-signed certificate so that clients can connect with sslmode=require.
# The key must belong to the server's user and be private (0600).
run_pg openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	-keyout "$data/server.key" -out "$data/server.crt" -days 2 \
	-subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
	>"$base/openssl.log" 2>&1 || {
	cat "$base/openssl.log" >&2
	log "openssl failed"
	exit 1
}
run_pg chmod 600 "$data/server.key"

# Trust for the postgres superuser, as the tests expect. One more role logs in
# the way hosted PostgreSQL (Neon) does: SCRAM-SHA-256 with a password, over
# TLS only, so that a client can really negotiate channel binding.
scram_role=authgate_scram
scram_password=$(openssl rand -hex 16)
cat >"$data/pg_hba.conf" <<EOF
# TYPE    DATABASE  USER           ADDRESS       METHOD
local     all       all                          trust
hostssl   all       $scram_role    127.0.0.1/32  scram-sha-256
hostnossl all       $scram_role    127.0.0.1/32  reject
host      all       all            127.0.0.1/32  trust
EOF
give_to_pg "$data/pg_hba.conf"

# pg_ctl wrapper bound to this cluster; TEST_PG_CTL and the *_CMD variables use it.
ctl=$base/pg_ctl
if [ "$(id -u)" -eq 0 ]; then
	run_as="runuser -u postgres --"
else
	run_as=
fi
cat >"$ctl" <<EOF
#!/bin/sh
# pg_ctl for the throwaway test cluster in $data
cd / && exec $run_as "$bindir/pg_ctl" -D "$data" -l "$base/postgres.log" "\$@"
EOF
chmod 755 "$ctl"

# Pick a free port: ask the kernel for one where python3 exists, else guess;
# retry a few times in case another process takes it before the server binds.
pick_port() {
	if command -v python3 >/dev/null 2>&1; then
		python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
	else
		echo $((20000 + RANDOM % 40000))
	fi
}

started=
for attempt in 1 2 3 4 5; do
	port=$(pick_port)
	cat >"$data/postgresql.auto.conf" <<EOF
# Throwaway test cluster: reachable only from this machine, TLS on, durability off.
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$base'
ssl = on
ssl_cert_file = 'server.crt'
ssl_key_file = 'server.key'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
	give_to_pg "$data/postgresql.auto.conf"
	if "$ctl" start -w -t 60 >/dev/null 2>&1; then
		started=1
		break
	fi
	log "start on port $port failed (attempt $attempt)"
done
if [ -z "$started" ]; then
	tail -n 30 "$base/postgres.log" >&2 || true
	log "could not start PostgreSQL"
	exit 1
fi

psql=$bindir/psql
[ -x "$psql" ] || psql=psql
"$psql" -X -q -v ON_ERROR_STOP=1 "postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable" \
	-c "CREATE ROLE $scram_role LOGIN SUPERUSER PASSWORD '$scram_password'" >/dev/null

export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
export TEST_DATABASE_URL_SCRAM="postgres://$scram_role:$scram_password@127.0.0.1:$port/postgres?sslmode=require&channel_binding=require"
export TEST_PG_PORT=$port
export TEST_PG_DATA=$data
export TEST_PG_SSLROOTCERT=$data/server.crt
export TEST_PG_CTL=$ctl
export TEST_PG_STOP_CMD="'$ctl' stop -m fast -w"
export TEST_PG_START_CMD="'$ctl' start -w -t 60"
export TEST_PG_RESTART_CMD="'$ctl' restart -m fast -w -t 60"
log "PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (TLS on), data in $data"

# A PgBouncer in transaction pooling mode in front of the cluster, the way
# Neon's pooled endpoint fronts its compute: SPEC §13 promises the module
# works through one. Every database name passes through to the cluster; the
# postgres role needs no password (the cluster trusts it).
find_pgbouncer() {
	command -v pgbouncer 2>/dev/null || { [ -x /usr/sbin/pgbouncer ] && echo /usr/sbin/pgbouncer; } || true
}
pgbouncer=$(find_pgbouncer)
if [ -z "$pgbouncer" ] && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
	log "pgbouncer not found; installing it with apt-get"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -q pgbouncer >&2 || { apt-get update -q >&2 && apt-get install -y -q pgbouncer >&2; } || true
	pgbouncer=$(find_pgbouncer)
fi
if [ -n "$pgbouncer" ]; then
	pgb_started=
	for attempt in 1 2 3 4 5; do
		pgb_port=$(pick_port)
		cat >"$base/pgbouncer.ini" <<EOF
[databases]
* = host=127.0.0.1 port=$port

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $pgb_port
unix_socket_dir =
auth_type = trust
auth_file = $base/pgbouncer.users
pool_mode = transaction
max_client_conn = 1000
default_pool_size = 40
max_db_connections = 150
ignore_startup_parameters = extra_float_digits,search_path
logfile = $base/pgbouncer.log
pidfile = $base/pgbouncer.pid
EOF
		echo '"postgres" ""' >"$base/pgbouncer.users"
		give_to_pg "$base/pgbouncer.ini" "$base/pgbouncer.users"
		# PgBouncer refuses to run as root; it runs as the cluster's user.
		if run_pg "$pgbouncer" -d "$base/pgbouncer.ini" >>"$base/pgbouncer.start.log" 2>&1; then
			for _ in $(seq 1 50); do
				if "$psql" -X -q -c 'select 1' "postgres://postgres@127.0.0.1:$pgb_port/postgres?sslmode=disable" >/dev/null 2>&1; then
					pgb_started=1
					break
				fi
				sleep 0.1
			done
		fi
		[ -n "$pgb_started" ] && break
		if [ -f "$base/pgbouncer.pid" ]; then kill "$(cat "$base/pgbouncer.pid")" 2>/dev/null || true; fi
		log "pgbouncer on port $pgb_port failed (attempt $attempt)"
	done
	if [ -n "$pgb_started" ]; then
		export TEST_PGBOUNCER_URL="postgres://postgres@127.0.0.1:$pgb_port/postgres?sslmode=disable"
		export TEST_PGBOUNCER_PORT=$pgb_port
		log "PgBouncer $("$pgbouncer" --version | awk 'NR==1{print $2}') on 127.0.0.1:$pgb_port (transaction pooling)"
	else
		tail -n 20 "$base/pgbouncer.log" "$base/pgbouncer.start.log" >&2 2>/dev/null || true
		log "could not start PgBouncer; the pooler tests will fail under CI=true"
	fi
else
	log "pgbouncer is not installed; the pooler tests will fail under CI=true (apt-get install pgbouncer)"
fi

# Run the command in the foreground (not exec: the trap must still clean up)
# and pass its status on.
set +e
"$@"
status=$?
set -e
exit "$status"

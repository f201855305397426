#!/usr/bin/env bash
# Run the demo: examples/python-app on 127.0.0.1:8000 and Caddy with the
# repo's Caddyfile on http://localhost:8080, both logging to this terminal.
# Ctrl-C (or SIGTERM) stops both.
#
# Used by `make -f xcaddy.Makefile run`, which builds bin/caddy first.
set -euo pipefail
cd "$(dirname "$0")/.."

caddy=${CADDY:-bin/caddy}
app_port=8000 # the Caddyfile's reverse_proxy upstream; a PORT from the environment would miss it
site=http://localhost:8080

if [ ! -x "$caddy" ]; then
	echo "run-demo: $caddy not found; build it with: make -f xcaddy.Makefile build" >&2
	exit 1
fi
# Refuse to start next to another app on the same port: Caddy would then gate
# whatever answers there.
if (exec 3<>"/dev/tcp/127.0.0.1/$app_port") 2>/dev/null; then
	echo "run-demo: something already listens on 127.0.0.1:$app_port; stop it first" >&2
	exit 1
fi

# The app checks the email webhook's signatures with EMAIL_WEBHOOK_SECRET,
# which the Caddyfile also gives the gate (email_webhook { secret ... }). A
# demo run without one gets a fresh random key, shared by both processes.
if [ -z "${EMAIL_WEBHOOK_SECRET:-}" ]; then
	EMAIL_WEBHOOK_SECRET=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
fi
export EMAIL_WEBHOOK_SECRET
PORT=$app_port python3 examples/python-app/app.py &
app_pid=$!
caddy_pid=
stop_all() {
	# SIGTERM makes both exit cleanly; Caddy may already be on its way out.
	for pid in $caddy_pid $app_pid; do kill "$pid" 2>/dev/null || true; done
	for pid in $caddy_pid $app_pid; do wait "$pid" 2>/dev/null || true; done
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Wait until the app answers, so that the first request through Caddy works.
for _ in $(seq 50); do
	if (exec 3<>"/dev/tcp/127.0.0.1/$app_port") 2>/dev/null; then break; fi
	if ! kill -0 "$app_pid" 2>/dev/null; then
		echo "run-demo: the Python app exited" >&2
		exit 1
	fi
	sleep 0.1
done

cat <<EOF

  auth_gate demo: $site   (Ctrl-C stops Caddy and the Python app)

  In a browser: $site/ sends you to the sign-in page; $site/public is open.
  With curl:

    curl -c cookies.txt -H 'Content-Type: application/json' \\
      -d '{"name":"Ada Lovelace","email":"ada@example.com","password":"correct-horse-battery"}' \\
      $site/auth/sign-up/email

    curl -c cookies.txt -H 'Content-Type: application/json' \\
      -d '{"email":"ada@example.com","password":"correct-horse-battery"}' \\
      $site/auth/sign-in/email

    curl -b cookies.txt $site/

    curl -b cookies.txt -H 'Origin: $site' -X POST $site/auth/sign-out

EOF

# Caddy runs as a child that this script waits for, so that a signal sent to
# the script alone (not only Ctrl-C, which reaches the whole process group)
# still stops both through the traps.
"$caddy" run --config Caddyfile --adapter caddyfile &
caddy_pid=$!
wait "$caddy_pid"

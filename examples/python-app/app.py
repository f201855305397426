#!/usr/bin/env python3
"""Demo upstream for auth_gate: a small app that trusts the identity headers.

Caddy's auth_gate handler sits in front of this app. It serves the auth API
under /auth, removes any identity header a client sent, and sets these on
requests from signed-in users:

    X-User-Id, X-User-Email, X-User-Name, X-User-Email-Verified, X-Session-Id

Values with non-ASCII characters (and "%") arrive percent-encoded, so they are
decoded here for display. The app must only be reachable through Caddy (it
listens on 127.0.0.1), otherwise anyone could send those headers themselves.

Signing in, signing up and resetting a password happen on auth_gate's
built-in pages (`pages on` in the Caddyfile, under /auth); the sign-out button
here is a plain form that posts to the gate's /auth/sign-out/form. No
JavaScript anywhere.

Routes:
    GET  /            who is signed in (HTML, or JSON {"user": ...} unless the
                      client asks for text/html), with a sign-out button
    GET  /public      public page: says whether a user is present
    GET  /healthz     "ok"
    POST /email-hook  auth_gate's email webhook: prints the link to stdout
                      (signature checked when EMAIL_WEBHOOK_SECRET is set)

The Caddyfile's `assertion` also sends X-Auth-Assertion, a JWT signed by the
gate (Ed25519) that states the same identity. When PyJWT is importable
(Debian: python3-jwt python3-cryptography) the app verifies it against the
gate's keys at AUTH_JWKS_URL (default http://localhost:8080/auth/jwks), with
issuer and audience AUTH_SITE (default http://localhost:8080, the
Caddyfile's base_url), and refuses identity headers whose assertion does not
verify. With the standard library alone it still runs and says that it did
not verify. examples/python-verifier/ has the same check for other apps.

Standard library only:  PORT=8000 EMAIL_WEBHOOK_SECRET=... python3 app.py

EMAIL_WEBHOOK_SECRET is the webhook's own key: the value of `secret` in the
Caddyfile's `email_webhook { ... }` block, or, without one, what
`caddy auth webhook-key` prints. It is never the gate's main secret, which
signs session cookies: the mail receiver must not be able to forge those.
"""

import hashlib
import hmac
import html
import json
import os
import signal
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# (JSON key, request header) for each identity header auth_gate sets.
IDENTITY_HEADERS = (
    ("id", "X-User-Id"),
    ("email", "X-User-Email"),
    ("name", "X-User-Name"),
    ("emailVerified", "X-User-Email-Verified"),
    ("sessionId", "X-Session-Id"),
)

try:  # optional: verify the signed assertion when PyJWT is installed
    import jwt
    import cryptography  # noqa: F401  PyJWT needs it for EdDSA
except ImportError:
    jwt = None

ASSERTION_HEADER = "X-Auth-Assertion"
SITE = os.environ.get("AUTH_SITE", "http://localhost:8080")
JWKS = jwt.PyJWKClient(os.environ.get("AUTH_JWKS_URL", SITE + "/auth/jwks")) if jwt else None

# The email webhook's signing key (see the module docstring); when set,
# webhook signatures are checked.
WEBHOOK_SECRET = os.environ.get("EMAIL_WEBHOOK_SECRET", "")
MAX_HOOK_BODY = 64 * 1024

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
 body {{ font: 16px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem; }}
 table {{ border-collapse: collapse; }} td, th {{ padding: .2rem .8rem .2rem 0; text-align: left; }}
 code {{ background: #f2f2f2; padding: 0 .2rem; }} form {{ margin: 1rem 0; }}
</style></head><body>
<h1>{title}</h1>
{body}
<p><a href="/">home (signed in only)</a> · <a href="/public">public page</a> · <a href="/auth/sign-in">sign in</a></p>
</body></html>
"""

# auth_gate's sign-out form handler: it ends the session, expires the cookie
# and sends the browser to `redirect` (here /, which then asks to sign in).
SIGN_OUT_FORM = """<form method="post" action="/auth/sign-out/form">
<input type="hidden" name="redirect" value="/">
<button>Sign out</button></form>"""


def current_user(headers):
    """The signed-in user from the identity headers, or None. Its
    "assertion" says whether the signed assertion vouched for it; one that
    is present and does not verify means no user."""
    if not headers.get("X-User-Id"):
        return None
    user = {key: urllib.parse.unquote(headers.get(name, "")) for key, name in IDENTITY_HEADERS}
    user["emailVerified"] = user["emailVerified"] == "true"
    token = headers.get(ASSERTION_HEADER)
    if JWKS is None:
        user["assertion"] = "not verified: PyJWT is not installed (python3-jwt, python3-cryptography)"
    elif not token:
        user["assertion"] = "not verified: no assertion (add `assertion` to the Caddyfile)"
    else:
        try:
            key = JWKS.get_signing_key_from_jwt(token).key
            claims = jwt.decode(token, key, algorithms=["EdDSA"], issuer=SITE, audience=SITE, leeway=5,
                                options={"require": ["exp", "iat", "sub", "sid"]})
        except (jwt.InvalidTokenError, jwt.PyJWKClientError, jwt.PyJWKError) as e:
            sys.stderr.write(f"assertion refused: {e}\n")
            return None
        if (claims["sub"], claims["sid"]) != (user["id"], user["sessionId"]):
            sys.stderr.write("assertion refused: it names another user or session than the headers\n")
            return None
        user["assertion"] = "verified (EdDSA, key " + jwt.get_unverified_header(token).get("kid", "?") + ")"
    return user


def signature_ok(headers, body):
    """Check X-Auth-Gate-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>."""
    mac = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256)
    # Constant-time comparison: a timing difference would leak the signature.
    return hmac.compare_digest("sha256=" + mac.hexdigest(), headers.get("X-Auth-Gate-Signature", ""))


def user_table(user):
    def shown(value):
        return ("true" if value else "false") if isinstance(value, bool) else value

    rows = "".join(
        f"<tr><th>{html.escape(name)}</th><td><code>{html.escape(shown(user[key]))}</code></td></tr>"
        for key, name in IDENTITY_HEADERS
    )
    rows += f"<tr><th>{ASSERTION_HEADER}</th><td>{html.escape(user['assertion'])}</td></tr>"
    return f"<table>{rows}</table>"


class Handler(BaseHTTPRequestHandler):
    def version_string(self):
        return "auth-gate-demo"

    def do_GET(self):
        path = urllib.parse.urlsplit(self.path).path
        user = current_user(self.headers)
        if path == "/":
            self.home(user)
        elif path == "/public":
            self.public(user)
        elif path == "/healthz":
            self.send(200, "text/plain; charset=utf-8", b"ok\n")
        else:
            self.send(404, "text/plain; charset=utf-8", b"not found\n")

    def do_HEAD(self):
        self.head_only = True
        self.do_GET()

    def do_POST(self):
        if urllib.parse.urlsplit(self.path).path == "/email-hook":
            self.email_hook()
        else:
            self.send(404, "text/plain; charset=utf-8", b"not found\n")

    def home(self, user):
        if not self.wants_html():
            self.send_json({"user": user})
        elif user is None:
            self.send_html(
                "Nobody is signed in",
                "<p>No identity headers arrived. Through Caddy this page needs a session; "
                "reaching the app directly (port 8000) bypasses auth_gate.</p>",
            )
        else:
            greeting = html.escape(user["name"] or user["email"])
            self.send_html("auth_gate demo", f"<p>Hello, <b>{greeting}</b>.</p>"
                           + user_table(user) + SIGN_OUT_FORM)

    def public(self, user):
        if not self.wants_html():
            self.send_json({"public": True, "user": user})
        elif user is None:
            self.send_html("Public page", "<p>Anyone may see this page. No user is signed in.</p>")
        else:
            who = html.escape(user["email"])
            self.send_html("Public page", f"<p>Anyone may see this page. You are signed in as <b>{who}</b>.</p>")

    def email_hook(self):
        """Receive {type, to, url, token, user} and print the link, as a mailer would send it."""
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_HOOK_BODY:
            self.send_json({"error": "bad length"}, 400)
            return
        body = self.rfile.read(length)
        if WEBHOOK_SECRET and not signature_ok(self.headers, body):
            self.send_json({"error": "bad signature"}, 401)
            return
        try:
            mail = json.loads(body)
            line = f"[email-hook] {mail['type']} email to {mail['to']}: {mail['url']}"
        except (ValueError, KeyError, TypeError):
            self.send_json({"error": "bad payload"}, 400)
            return
        if not WEBHOOK_SECRET:
            line += "  (signature not checked: EMAIL_WEBHOOK_SECRET is unset)"
        print(line, flush=True)
        self.send_json({"ok": True})

    def wants_html(self):
        accept = self.headers.get("Accept", "")
        return "text/html" in accept and "application/json" not in accept

    def send_html(self, title, body):
        page = PAGE.format(title=html.escape(title), body=body)
        self.send(200, "text/html; charset=utf-8", page.encode())

    def send_json(self, value, status=200):
        self.send(status, "application/json", json.dumps(value).encode() + b"\n")

    def send(self, status, content_type, data):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        # Pages differ per user: never let a cache share them.
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if not getattr(self, "head_only", False):
            self.wfile.write(data)

    def log_request(self, code="-", size="-"):
        # One line per request, with the user auth_gate vouched for.
        headers = getattr(self, "headers", None)  # absent when the request line was bad
        uid = headers.get("X-User-Id", "-") if headers else "-"
        sys.stderr.write(f"{time.strftime('%H:%M:%S')} {self.command} {self.path} {code} user={uid}\n")


def main():
    port = int(os.environ.get("PORT", "8000"))
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    # Stop cleanly on SIGTERM too (the Makefile's run target sends it).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"demo app listening on http://127.0.0.1:{port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()

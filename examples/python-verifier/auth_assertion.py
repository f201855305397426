"""Verify auth_gate's signed identity assertion (the X-Auth-Assertion header).

auth_gate (`assertion` in its Caddyfile block) adds to every request it
passes on with a session a JWT signed with Ed25519 (EdDSA). Its public keys
are served, in Better Auth's JWKS format, at <base_url><base_path>/jwks.
Checking the token instead of trusting plain X-User-* headers means a
request that reached the app some other way (a misrouted port, a proxy that
forgot to strip headers) cannot claim to be anyone.

Needs PyJWT with its crypto extra (Debian: python3-jwt python3-cryptography;
pip: "pyjwt[crypto]"). The five lines that matter:

    import jwt
    jwks = jwt.PyJWKClient("https://app.example.com/auth/jwks")
    def verify(token):
        key = jwks.get_signing_key_from_jwt(token).key
        return jwt.decode(token, key, algorithms=["EdDSA"], issuer="https://app.example.com",
                          audience="https://app.example.com", leeway=5)

AssertionVerifier below adds the header lookup and the claims auth_gate
always sets. Flask:

    verifier = AssertionVerifier("https://app.example.com/auth/jwks", "https://app.example.com")
    @app.before_request
    def identify():
        g.user = verifier.from_headers(request.headers)   # None: no (valid) assertion

Django middleware: `request.auth_user = verifier.from_headers(request.headers)`.
FastAPI dependency: `def user(request: Request): return verifier.from_headers(request.headers)`.

Run as a script to check one token:  python3 auth_assertion.py JWKS_URL ISSUER [AUDIENCE] < token
"""

import json
import sys

import jwt

HEADER = "X-Auth-Assertion"
# Claims auth_gate always sets; a token without one is not auth_gate's.
REQUIRED = ["iss", "aud", "sub", "sid", "iat", "exp"]


class AssertionVerifier:
    """Verifies assertions against a JWKS URL; keys are fetched once and
    again when a token names an unknown key (after a rotation)."""

    def __init__(self, jwks_url, issuer, audience=None, header=HEADER, leeway=5):
        self.jwks = jwt.PyJWKClient(jwks_url)
        self.issuer = issuer
        self.audience = audience or issuer  # auth_gate's default audience is base_url
        self.header = header
        self.leeway = leeway

    def verify(self, token):
        """The token's claims, or jwt.InvalidTokenError (bad signature,
        unknown key, expired, wrong issuer or audience, wrong algorithm)."""
        try:
            key = self.jwks.get_signing_key_from_jwt(token).key
        except (jwt.PyJWKClientError, jwt.PyJWKError) as e:
            raise jwt.InvalidTokenError(str(e)) from e
        return jwt.decode(
            token,
            key,
            algorithms=["EdDSA"],  # never what the token's header says
            issuer=self.issuer,
            audience=self.audience,
            leeway=self.leeway,
            options={"require": REQUIRED},
        )

    def from_headers(self, headers):
        """The claims of a request's assertion, or None when it has none or
        one that does not verify. headers: any mapping with .get()."""
        token = headers.get(self.header)
        if not token:
            return None
        try:
            return self.verify(token)
        except jwt.InvalidTokenError:
            return None


def main(argv):
    if len(argv) not in (3, 4):
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    verifier = AssertionVerifier(argv[1], argv[2], argv[3] if len(argv) == 4 else None)
    try:
        claims = verifier.verify(sys.stdin.read().strip())
    except jwt.InvalidTokenError as e:
        print(f"refused: {e}", file=sys.stderr)
        return 1
    print(json.dumps(claims, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

"""Tests of auth_assertion.py against a local JWKS server: what auth_gate
signs verifies; tampered, expired, wrong-audience, wrong-issuer, wrong-key
and wrong-algorithm tokens are refused.

    python3 -m unittest -v   (in this directory; needs PyJWT and cryptography)
"""

import base64
import json
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from auth_assertion import AssertionVerifier

ISSUER = "https://app.example.com"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_jwk(private_key, kid):
    raw = private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    # Better Auth's JWKS member order, as auth_gate serves it.
    return {"alg": "EdDSA", "crv": "Ed25519", "x": b64url(raw), "kty": "OKP", "kid": kid}


class VerifierTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.key = Ed25519PrivateKey.generate()
        cls.other = Ed25519PrivateKey.generate()
        jwks = json.dumps({"keys": [public_jwk(cls.key, "k1")]}).encode()

        class JWKS(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(jwks)))
                self.end_headers()
                self.wfile.write(jwks)

            def log_message(self, *args):
                pass

        cls.server = ThreadingHTTPServer(("127.0.0.1", 0), JWKS)
        threading.Thread(target=cls.server.serve_forever, daemon=True).start()
        cls.url = f"http://127.0.0.1:{cls.server.server_port}/auth/jwks"

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()
        cls.server.server_close()

    def setUp(self):
        self.verifier = AssertionVerifier(self.url, ISSUER)

    def claims(self, **changes):
        now = int(time.time())
        c = {"iss": ISSUER, "aud": ISSUER, "sub": "u1", "email": "ada@example.com", "email_verified": True,
             "name": "Ada", "role": "user", "sid": "s1", "iat": now, "exp": now + 60}
        c.update(changes)
        return {k: v for k, v in c.items() if v is not None}

    def token(self, key=None, kid="k1", **changes):
        return jwt.encode(self.claims(**changes), key or self.key, algorithm="EdDSA", headers={"kid": kid})

    def refused(self, token):
        with self.assertRaises(jwt.InvalidTokenError):
            self.verifier.verify(token)
        self.assertIsNone(self.verifier.from_headers({"X-Auth-Assertion": token}))

    def test_valid_token_gives_its_claims(self):
        claims = self.verifier.verify(self.token())
        self.assertEqual((claims["sub"], claims["email"], claims["sid"]), ("u1", "ada@example.com", "s1"))
        self.assertEqual(self.verifier.from_headers({"X-Auth-Assertion": self.token()})["name"], "Ada")

    def test_no_header_is_no_user(self):
        self.assertIsNone(self.verifier.from_headers({}))

    def test_tampered_payload_is_refused(self):
        head, _, sig = self.token().split(".")
        forged = b64url(json.dumps(self.claims(sub="admin")).encode())
        self.refused(f"{head}.{forged}.{sig}")

    def test_expired_is_refused(self):
        now = int(time.time())
        self.refused(self.token(iat=now - 120, exp=now - 60))

    def test_wrong_audience_is_refused(self):
        self.refused(self.token(aud="https://other.example.com"))

    def test_wrong_issuer_is_refused(self):
        self.refused(self.token(iss="https://evil.example.com"))

    def test_wrong_key_is_refused(self):
        self.refused(self.token(key=self.other))  # claims the published kid
        self.refused(self.token(key=self.other, kid="k2"))  # a kid the JWKS does not have

    def test_other_algorithms_are_refused(self):
        self.refused(jwt.encode(self.claims(), "secret", algorithm="HS256", headers={"kid": "k1"}))
        unsigned = b64url(b'{"alg":"none","kid":"k1"}') + "." + b64url(json.dumps(self.claims()).encode()) + "."
        self.refused(unsigned)

    def test_missing_session_claim_is_refused(self):
        self.refused(self.token(sid=None))


if __name__ == "__main__":
    unittest.main()

// Package twofactor holds Better Auth 1.7.25's two-factor plugin primitives,
// byte for byte, so that a secret or a backup code written by either server
// works on the other: symmetricEncrypt/symmetricDecrypt (XChaCha20-Poly1305
// keyed with SHA-256 of the auth secret, lower-case hex of nonce ‖ sealed),
// TOTP as @better-auth/utils computes it (HMAC-SHA1 keyed with the UTF-8
// bytes of the secret string, not its base32 decoding), the secrets and
// backup codes it generates, the otpauth:// URI and the trust-device token.
//
// It knows nothing of HTTP or SQL; caddyauth wires it.
package twofactor

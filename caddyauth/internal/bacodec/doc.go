// Package bacodec holds Better Auth's wire formats, byte for byte, so that
// cookies and tokens issued by Better Auth verify here and the other way
// round: signed values (the session cookie, dont_remember, the bearer token),
// JavaScript's encodeURIComponent that Better Auth applies to cookie values,
// and the email-verification JWT.
//
// Keys are the secrets' UTF-8 bytes. Functions that sign take one key, the
// current secret; functions that verify take every configured key, so that a
// value signed with a retired secret keeps verifying during a rotation.
package bacodec

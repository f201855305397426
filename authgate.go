// Package authgate is the import path outside builds plug in:
//
//	xcaddy build --with github.com/authgate/authgate
//
// Importing it registers the auth_gate HTTP handler and its Caddyfile
// directive; the code lives in package caddyauth.
package authgate

import _ "github.com/authgate/authgate/caddyauth"

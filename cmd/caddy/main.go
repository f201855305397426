// Command caddy is Caddy with its standard modules and auth_gate linked in:
// the same binary `xcaddy build --with github.com/authgate/authgate` makes,
// buildable with plain `go build ./cmd/caddy`.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/authgate/authgate/caddyauth"
)

func main() {
	caddycmd.Main()
}

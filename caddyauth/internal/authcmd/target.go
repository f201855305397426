package authcmd

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/spf13/cobra"

	"github.com/authgate/authgate/caddyauth/internal/appdata"
	"github.com/authgate/authgate/caddyauth/internal/password"
	"github.com/authgate/authgate/store"
)

// cliTarget is the database an `auth` command works on, with the settings of
// the auth_gate handler(s) it was read from.
type cliTarget struct {
	dsn         string
	schema      string // "" means auto
	minPassword int
	maxPassword int
}

// defaultCaddyfile is read when neither --database nor --config is given,
// as `caddy run` reads an adjacent Caddyfile.
const defaultCaddyfile = "Caddyfile"

// resolveTarget finds the database from the persistent flags: --database, or
// the auth_gate handler of --config (default ./Caddyfile), after loading
// --envfile so that both `{env.*}` and `{$VAR}` see its variables.
func resolveTarget(cmd *cobra.Command) (cliTarget, error) {
	fl := cmd.Flags()
	database, _ := fl.GetString("database")
	config, _ := fl.GetString("config")
	site, _ := fl.GetString("site")
	schema, _ := fl.GetString("schema")
	envfiles, _ := fl.GetStringSlice("envfile")

	for _, f := range envfiles {
		if err := loadEnvFile(f); err != nil {
			return cliTarget{}, err
		}
	}
	if err := store.CheckSchema(schema); err != nil {
		return cliTarget{}, fmt.Errorf("--schema %w", err)
	}

	var t cliTarget
	switch {
	case database != "" && config != "":
		return cliTarget{}, errors.New("give --database or --config, not both")
	case database != "":
		if site != "" {
			return cliTarget{}, errors.New("--site selects a site of --config; it does not apply to --database")
		}
		// The value may be a placeholder, so that the DSN need not be typed
		// on a command line (and land in the shell history).
		t.dsn = strings.TrimSpace(caddy.NewReplacer().ReplaceAll(database, ""))
		if t.dsn == "" {
			return cliTarget{}, errors.New("--database is empty (an unset environment variable?)")
		}
		t.minPassword, t.maxPassword = password.DefaultMinLength, password.DefaultMaxLength
	default:
		if config == "" {
			if _, err := os.Stat(defaultCaddyfile); errors.Is(err, fs.ErrNotExist) {
				return cliTarget{}, errors.New("no database given: use --database <dsn> or --config <Caddyfile>, or run in the directory of your Caddyfile")
			}
			config = defaultCaddyfile
		}
		var err error
		if t, err = targetFromConfig(config, site); err != nil {
			return cliTarget{}, err
		}
	}
	if schema != "" {
		t.schema = schema
	}
	return t, nil
}

// gateSettings are the fields of an auth_gate handler's JSON that the
// commands need.
type gateSettings struct {
	Database           string   `json:"database"`
	Secret             []string `json:"secret"`
	EmailWebhook       string   `json:"email_webhook"`
	EmailWebhookSecret string   `json:"email_webhook_secret"`
	Schema             string   `json:"schema"`
	PasswordMinLength  int      `json:"password_min_length"`
	PasswordMaxLength  int      `json:"password_max_length"`
}

// foundGate is one auth_gate handler of a config and the sites it serves:
// the hosts of its enclosing routes, else its server's listen addresses.
type foundGate struct {
	sites    []string
	settings gateSettings
	dsn      string // Database expanded, or the default
}

// targetFromConfig adapts the config file and takes the database of its
// auth_gate handler; several handlers must agree on it unless site picks
// among them.
func targetFromConfig(path, site string) (cliTarget, error) {
	gates, err := gatesFromConfig(path, site)
	if err != nil {
		return cliTarget{}, err
	}
	first := gates[0]
	for _, g := range gates[1:] {
		if g.dsn != first.dsn || g.settings.Schema != first.settings.Schema {
			return cliTarget{}, fmt.Errorf("the auth_gate handlers in %s use different databases: choose one with --site (sites: %s)", path, siteList(gates))
		}
	}
	// Handlers sharing a database may still differ in their password
	// limits: a user created here must be able to sign in at every one.
	t := cliTarget{dsn: first.dsn, schema: first.settings.Schema, minPassword: password.DefaultMinLength, maxPassword: password.DefaultMaxLength}
	for i, g := range gates {
		lo, hi := g.settings.PasswordMinLength, g.settings.PasswordMaxLength
		if lo == 0 {
			lo = password.DefaultMinLength
		}
		if hi == 0 {
			hi = password.DefaultMaxLength
		}
		if i == 0 || lo > t.minPassword {
			t.minPassword = lo
		}
		if i == 0 || hi < t.maxPassword {
			t.maxPassword = hi
		}
	}
	return t, nil
}

// gatesFromConfig adapts the config file and lists its auth_gate handlers,
// only those serving site when it is given.
func gatesFromConfig(path, site string) ([]foundGate, error) {
	body, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	if !strings.EqualFold(filepath.Ext(path), ".json") {
		adapter := caddyconfig.GetAdapter("caddyfile")
		if adapter == nil {
			return nil, errors.New("this binary has no caddyfile adapter")
		}
		// Adapter warnings (an unformatted file, say) are for `caddy
		// adapt`; they would only clutter the commands' output.
		body, _, err = adapter.Adapt(body, map[string]any{"filename": path})
		if err != nil {
			return nil, fmt.Errorf("adapting %s: %w", path, err)
		}
	}
	gates, err := findGates(body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(gates) == 0 {
		return nil, fmt.Errorf("%s has no auth_gate handler", path)
	}
	if site != "" {
		var picked []foundGate
		for _, g := range gates {
			if servesSite(g.sites, site) {
				picked = append(picked, g)
			}
		}
		if len(picked) == 0 {
			return nil, fmt.Errorf("no auth_gate handler in %s serves site %q (sites: %s)", path, site, siteList(gates))
		}
		gates = picked
	}

	return gates, nil
}

// findGates lists the auth_gate handlers of an adapted JSON config, in the
// order of its servers' names.
func findGates(cfg []byte) ([]foundGate, error) {
	var root struct {
		Apps struct {
			HTTP struct {
				Servers map[string]json.RawMessage `json:"servers"`
			} `json:"http"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(cfg, &root); err != nil {
		return nil, fmt.Errorf("reading adapted config: %w", err)
	}
	names := make([]string, 0, len(root.Apps.HTTP.Servers))
	for name := range root.Apps.HTTP.Servers {
		names = append(names, name)
	}
	slices.Sort(names)

	var found []foundGate
	for _, name := range names {
		var srv any
		if err := json.Unmarshal(root.Apps.HTTP.Servers[name], &srv); err != nil {
			return nil, fmt.Errorf("reading server %s: %w", name, err)
		}
		var listen []string
		if m, ok := srv.(map[string]any); ok {
			listen = jsonStrings(m["listen"])
		}
		if err := walkGates(srv, listen, &found); err != nil {
			return nil, err
		}
	}
	repl := caddy.NewReplacer()
	for i := range found {
		g := &found[i]
		g.dsn = appdata.DatabaseDSN(repl, g.settings.Database)
	}
	return found, nil
}

// walkGates collects the auth_gate handlers below v. A route's host matcher
// names the sites of everything inside it; handlers may sit in subroutes at
// any depth.
func walkGates(v any, sites []string, found *[]foundGate) error {
	switch x := v.(type) {
	case map[string]any:
		if x["handler"] == "auth_gate" {
			raw, _ := json.Marshal(x)
			var s gateSettings
			if err := json.Unmarshal(raw, &s); err != nil {
				return fmt.Errorf("reading auth_gate handler: %w", err)
			}
			*found = append(*found, foundGate{sites: sites, settings: s})
			return nil
		}
		if hosts := routeHosts(x); len(hosts) > 0 {
			sites = hosts
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if err := walkGates(x[k], sites, found); err != nil {
				return err
			}
		}
	case []any:
		for _, e := range x {
			if err := walkGates(e, sites, found); err != nil {
				return err
			}
		}
	}
	return nil
}

// routeHosts is the union of the host matchers of a route's matcher sets.
func routeHosts(route map[string]any) []string {
	sets, _ := route["match"].([]any)
	var hosts []string
	for _, s := range sets {
		if m, ok := s.(map[string]any); ok {
			hosts = append(hosts, jsonStrings(m["host"])...)
		}
	}
	return hosts
}

// jsonStrings reads a JSON array of strings, ignoring anything else.
func jsonStrings(v any) []string {
	list, _ := v.([]any)
	var out []string
	for _, e := range list {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// servesSite reports whether site, as an operator would type it (a site
// address of the Caddyfile, with or without scheme and port, or a listen
// address), names one of sites.
func servesSite(sites []string, site string) bool {
	site = strings.TrimSuffix(site, "/")
	if _, rest, ok := strings.Cut(site, "://"); ok {
		site = rest
	}
	host := site
	if h, _, err := net.SplitHostPort(site); err == nil && h != "" {
		host = h
	}
	for _, s := range sites {
		if strings.EqualFold(s, site) || strings.EqualFold(s, host) {
			return true
		}
	}
	return false
}

// siteList names the sites of gates for an error message.
func siteList(gates []foundGate) string {
	var names []string
	for _, g := range gates {
		for _, s := range g.sites {
			if !slices.Contains(names, s) {
				names = append(names, s)
			}
		}
	}
	if len(names) == 0 {
		return "none named"
	}
	return strings.Join(names, ", ")
}

// redactDSN is dsn fit for output: a PostgreSQL URL loses its password and
// its parameters (which may carry one, as `password=`); a SQLite path is
// shown as it is.
func redactDSN(dsn string) string {
	if d, err := store.ParseDSN(dsn); err == nil && d.Driver == "sqlite" {
		return dsn
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparseable DSN)"
	}
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	u.RawQuery, u.Fragment = "", ""
	return u.String()
}

// loadEnvFile sets the variables of a KEY=VALUE file that are not set yet,
// with the syntax of `caddy run --envfile`: comments, `export ` prefixes,
// single or double quotes (spanning lines).
func loadEnvFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("reading environment file: %w", err)
	}
	defer f.Close()
	vars, err := parseEnvFile(f)
	if err != nil {
		return fmt.Errorf("environment file %s: %w", path, err)
	}
	for k, v := range vars {
		if _, set := os.LookupEnv(k); !set {
			if err := os.Setenv(k, v); err != nil {
				return fmt.Errorf("setting %s: %w", k, err)
			}
		}
	}
	return nil
}

// parseEnvFile follows Caddy's own parser (cmd/main.go, unexported), so
// that a file `caddy run --envfile` accepts means the same here.
func parseEnvFile(r io.Reader) (map[string]string, error) {
	vars := make(map[string]string)
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		n++
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("line %d: want KEY=VALUE", n)
		}
		key = strings.TrimPrefix(key, "export ")
		switch {
		case key == "":
			return nil, fmt.Errorf("line %d: empty key", n)
		case strings.Contains(key, " "):
			return nil, fmt.Errorf("line %d: key %q contains whitespace", n, key)
		case strings.HasPrefix(val, " ") || strings.HasPrefix(val, "\t"):
			// The value is not quoted: it may be a secret.
			return nil, fmt.Errorf("line %d: whitespace before the value of %s", n, key)
		}
		if before, _, found := strings.Cut(val, "#"); found {
			val = strings.TrimRight(before, " \t")
		}
		if strings.HasPrefix(val, `"`) || strings.HasPrefix(val, "'") {
			quote := val[:1]
			for !strings.HasSuffix(line, quote) || strings.HasSuffix(line, `\`+quote) {
				val = strings.ReplaceAll(val, `\`+quote, quote)
				if !sc.Scan() {
					break
				}
				n++
				line = strings.ReplaceAll(sc.Text(), `\`+quote, quote)
				val += "\n" + line
			}
			val = strings.TrimSuffix(strings.TrimPrefix(val, quote), quote)
		}
		vars[key] = val
	}
	return vars, sc.Err()
}

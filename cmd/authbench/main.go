// Command authbench measures what auth_gate costs, against plain
// reverse_proxy and against the Node Better Auth server it replaces, in one
// run on one machine:
//
//	scripts/test-postgres.sh go run ./cmd/authbench [flags]
//	make -f xcaddy.Makefile bench BENCHFLAGS='--peer=better-auth'
//
// It builds ./cmd/caddy (or takes --caddy-bin, or an already running Caddy
// with --caddy-url), starts it with one site per variant on free loopback
// ports — plain reverse_proxy to an upstream (authbench itself, re-executed
// as a process of its own, as the app behind the gate is), and the same with
// header_up adding five headers like the gate's identity headers; auth_gate with its
// session cache and with `session_cache 0`, each on a fresh PostgreSQL
// database and on a temporary SQLite file — signs a user up and in until it
// has 64 sessions per variant, and measures:
//
//   - gate: closed-loop requests/s, p50/p99 and Caddy's CPU per request of
//     every variant at each --concurrency, in short slices taken round-robin
//     and repeated (--rounds), so that a busy machine slows every variant
//     alike; the ratios to plain reverse_proxy are taken between slices of
//     the same round and their median over rounds reported;
//   - open: p99 at a fixed arrival rate of half plain reverse_proxy's best
//     throughput, latency counted from each request's due time;
//   - signin: one scrypt's time in-process, hence the hash-bound limit
//     (CPUs ÷ that time); sign-in throughput at concurrency 10; sign-in
//     latency at 50 % and 125 % of the limit (open loop); get-session at
//     concurrency 16 — for auth_gate on PostgreSQL and, with
//     --peer better-auth, for internal/betterauth/server.mjs on the same
//     database, slices interleaved;
//   - social (not run by default): whole OpenID Connect sign-in flows
//     against a fake provider in this process, on sites of their own; the
//     callback's latency net of the provider's time at --social-rate
//     flows/s, flows/s at each --social-concurrency, and starts alone,
//     checked to write no row (social.go);
//   - twofactor (not run by default): POST /auth/two-factor/verify-totp at
//     --twofactor-rate requests/s, completing sign-in detours and with a
//     session, against get-session at the same rate (twofactor.go).
//
// --legs picks among the five. Only loopback addresses are used. The run is bounded by --timeout (what
// was measured by then is still printed); temporary databases, files and
// processes are removed on exit and on Ctrl-C.
package main

import (
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/authgate/authgate/internal/testsupport/fakeidp"
)

type config struct {
	duration    time.Duration
	rounds      int
	concurrency []int
	legs        []string
	database    string
	pgbouncer   string
	caddyBin    string
	caddyURLs   map[string]string
	variants    []string // nil: all
	caddyPID    int
	peer        string
	node        string
	timeout     time.Duration
	json        bool
	socialRate  float64
	socialConc  []int
	// twoFactorRate: the twofactor leg's requests/s (twofactor.go).
	twoFactorRate float64
}

// The variants of the gate leg, in the order they are reported.
const (
	varPlain        = "plain"
	varPlainHeaders = "plain-headers"
	// varPlainEverythingHeaders is plain reverse_proxy adding, with
	// header_up, the seven headers pg-everything sends (the identity
	// headers, the role and an assertion as long as its): what pg-everything
	// costs Caddy and the app for the headers alone, without the gate.
	varPlainEverythingHeaders = "plain-everything-headers"
	varPGCached               = "pg-cached"
	varPGUncached             = "pg-uncached"
	varSQLiteCached           = "sqlite-cached"
	varSQLiteUncached         = "sqlite-uncached"
	// varPgBouncerUncached is pg-uncached's database through a
	// transaction-mode PgBouncer (--pgbouncer), as behind Neon's pooled
	// endpoint, with notify_database direct (SPEC §13).
	varPgBouncerUncached = "pgb-uncached"
	// varPGAssertion is pg-cached with the signed assertion on (SPEC §12).
	varPGAssertion = "pg-assertion"
	// varPGEverything is pg-cached with every gate feature on at once
	// (issue 16): ten require rules (none matching the measured path, so
	// all ten are checked), the admin plugin's role column read, and the
	// assertion.
	varPGEverything = "pg-everything"
	// varPGRules is pg-cached with the admin plugin's role column read and
	// ten require rules that all get checked (issue 14: within 3 % of
	// pg-cached).
	varPGRules = "pg-rules"
)

var allVariants = []string{varPlain, varPlainHeaders, varPlainEverythingHeaders, varPGCached, varPGUncached, varPgBouncerUncached, varSQLiteCached, varSQLiteUncached, varPGRules, varPGAssertion, varPGEverything}

var allLegs = []string{"gate", "open", "signin", "social", "twofactor"}

// defaultLegs leave out social, which `make bench` need not run.
var defaultLegs = []string{"gate", "open", "signin"}

const (
	benchSecret   = "authbench-secret-authbench-secret-0123456789"
	benchPassword = "authbench-password-123"
	// gateSessions is how many sessions the gate leg's requests rotate
	// through on each gated variant: at least the highest concurrency, so
	// that requests in flight together carry different sessions.
	gateSessions = 64
)

func parseFlags(args []string) (config, error) {
	fs := flag.NewFlagSet("authbench", flag.ContinueOnError)
	cfg := config{}
	var conc, legs, urls, peer, variants string
	fs.DurationVar(&cfg.duration, "duration", time.Second,
		"length of one gate slice; open-loop slices take 2×, sign-in slices 3× (the 125 % overload 5×)")
	fs.IntVar(&cfg.rounds, "rounds", 3, "how many times every gate and open-loop slice is repeated (sign-in: 2)")
	fs.StringVar(&conc, "concurrency", "16,64", "closed-loop concurrencies of the gate leg, comma-separated")
	fs.StringVar(&variants, "variants", "",
		"gate and open legs: measure only these variants, comma-separated, plain always among them (default all: "+strings.Join(allVariants, ", ")+"); fewer variants take more rounds in the same time")
	fs.StringVar(&legs, "legs", strings.Join(defaultLegs, ","), "legs to run: gate, open, signin, social, twofactor")
	var socialConc string
	fs.Float64Var(&cfg.socialRate, "social-rate", 50, "social leg: flows/s of its open loop")
	fs.StringVar(&socialConc, "social-concurrency", "4,16", "social leg: closed-loop concurrencies, comma-separated")
	fs.Float64Var(&cfg.twoFactorRate, "twofactor-rate", 100, "twofactor leg: verify-totp requests/s of its open loops")
	fs.StringVar(&cfg.pgbouncer, "pgbouncer", os.Getenv("TEST_PGBOUNCER_URL"),
		"a PgBouncer in front of --database's server (transaction pooling; default $TEST_PGBOUNCER_URL): adds the "+varPgBouncerUncached+" variant")
	fs.StringVar(&cfg.database, "database", os.Getenv("TEST_DATABASE_URL"),
		"admin DSN of a loopback PostgreSQL server on which a fresh database is created and dropped (default $TEST_DATABASE_URL); with --caddy-url, the database Caddy's PostgreSQL sites use")
	fs.StringVar(&cfg.caddyBin, "caddy-bin", "", "Caddy binary with auth_gate (default: go build ./cmd/caddy into a temporary folder)")
	fs.StringVar(&urls, "caddy-url", "",
		"measure an already running Caddy instead: variant=URL pairs, comma-separated, variants "+strings.Join(allVariants, ", ")+" (gated sites need rate_limit off)")
	fs.IntVar(&cfg.caddyPID, "caddy-pid", 0, "with --caddy-url: the Caddy process, for CPU per request")
	fs.StringVar(&peer, "peer", "", `also measure a real Node server: "better-auth" (internal/betterauth/server.mjs)`)
	fs.StringVar(&cfg.node, "node", "node", "node executable for --peer")
	fs.DurationVar(&cfg.timeout, "timeout", 3*time.Minute, "hard limit of the whole run, build included")
	fs.BoolVar(&cfg.json, "json", false, "print the results as JSON instead of markdown tables")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: authbench [flags]\n\nMeasures auth_gate against plain reverse_proxy and (with --peer) Node Better Auth.\n\n")
		fs.PrintDefaults()
	}
	err := fs.Parse(args)
	if err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if cfg.duration < 100*time.Millisecond || cfg.duration > time.Minute {
		return cfg, errors.New("--duration must be between 100ms and 1m")
	}
	if cfg.rounds < 1 || cfg.rounds > 20 {
		return cfg, errors.New("--rounds must be between 1 and 20")
	}
	if cfg.timeout <= 0 {
		return cfg, errors.New("--timeout must be positive")
	}
	for _, s := range strings.Split(conc, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > 1024 {
			return cfg, fmt.Errorf("--concurrency: %q is not a number from 1 to 1024", s)
		}
		cfg.concurrency = append(cfg.concurrency, n)
	}
	for _, s := range strings.Split(legs, ",") {
		s = strings.TrimSpace(s)
		if !slices.Contains(allLegs, s) {
			return cfg, fmt.Errorf("--legs: unknown leg %q (want %s)", s, strings.Join(allLegs, ", "))
		}
		cfg.legs = append(cfg.legs, s)
	}
	if variants != "" {
		cfg.variants = []string{varPlain}
		for _, s := range strings.Split(variants, ",") {
			s = strings.TrimSpace(s)
			if !slices.Contains(allVariants, s) {
				return cfg, fmt.Errorf("--variants: unknown variant %q (want %s)", s, strings.Join(allVariants, ", "))
			}
			if !slices.Contains(cfg.variants, s) {
				cfg.variants = append(cfg.variants, s)
			}
		}
	}
	if cfg.socialConc, err = parseSocialConc(socialConc); err != nil {
		return cfg, err
	}
	if cfg.socialRate <= 0 || cfg.socialRate > 10000 {
		return cfg, errors.New("--social-rate must be between 0 and 10000")
	}
	if cfg.twoFactorRate <= 0 || cfg.twoFactorRate > 1000 {
		return cfg, errors.New("--twofactor-rate must be between 0 and 1000")
	}
	switch peer {
	case "":
	case "better-auth":
		cfg.peer = peer
	default:
		return cfg, fmt.Errorf(`--peer: unknown peer %q (want "better-auth")`, peer)
	}
	if urls != "" {
		cfg.caddyURLs = map[string]string{}
		for _, pair := range strings.Split(urls, ",") {
			name, u, ok := strings.Cut(strings.TrimSpace(pair), "=")
			if !ok || !slices.Contains(allVariants, name) {
				return cfg, fmt.Errorf("--caddy-url: %q is not variant=URL with a variant among %s", pair, strings.Join(allVariants, ", "))
			}
			if err := requireLoopbackURL(u); err != nil {
				return cfg, fmt.Errorf("--caddy-url %s: %w", name, err)
			}
			cfg.caddyURLs[name] = strings.TrimRight(u, "/")
		}
	}
	if cfg.database != "" {
		if err := requireLoopbackDSN(cfg.database); err != nil {
			return cfg, fmt.Errorf("--database: %w", err)
		}
	}
	if cfg.peer != "" && cfg.database == "" {
		return cfg, errors.New("--peer needs PostgreSQL: --database or TEST_DATABASE_URL (make -f xcaddy.Makefile bench provides one)")
	}
	return cfg, nil
}

func (c config) runs(leg string) bool { return slices.Contains(c.legs, leg) }

// measures reports whether the gate and open legs measure variant name.
func (c config) measures(name string) bool {
	return c.variants == nil || slices.Contains(c.variants, name)
}

// authbench sends traffic to this machine only.
func requireLoopbackURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return fmt.Errorf("%q is not an http:// URL", raw)
	}
	return requireLoopbackHost(u.Hostname())
}

func requireLoopbackDSN(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return errors.New("want a postgres:// URL")
	}
	if u.Hostname() == "" {
		return nil // a Unix socket: this machine
	}
	return requireLoopbackHost(u.Hostname())
}

func requireLoopbackHost(host string) error {
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("host %q is not a loopback address: authbench only loads this machine", host)
}

var started = time.Now()

// logf reports progress on stderr; results go to stdout.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%6.1fs] %s\n", time.Since(started).Seconds(), fmt.Sprintf(format, args...))
}

func main() {
	if addr := os.Getenv(upstreamEnv); addr != "" {
		if err := serveUpstream(addr); err != nil {
			fmt.Fprintln(os.Stderr, "authbench upstream:", err)
			os.Exit(1)
		}
		return
	}
	cfg, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "authbench:", err)
		os.Exit(2)
	}
	ctx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)

	b := &bench{cfg: cfg, rep: &report{}}
	runErr := b.run(ctx)
	switch {
	case runErr == nil:
	case errors.Is(runErr, context.DeadlineExceeded) || ctx.Err() == context.DeadlineExceeded:
		b.rep.Incomplete = fmt.Sprintf("stopped by --timeout %s", cfg.timeout)
	case ctx.Err() != nil:
		b.rep.Incomplete = "interrupted"
	default:
		b.rep.Incomplete = runErr.Error()
	}
	cancel()
	stopSignals()
	b.cleanup()

	b.rep.finish()
	if cfg.json {
		err = b.rep.writeJSON(os.Stdout)
	} else {
		err = b.rep.writeMarkdown(os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "authbench:", err)
		os.Exit(1)
	}
	if runErr != nil {
		fmt.Fprintln(os.Stderr, "authbench:", runErr)
		os.Exit(1)
	}
}

// variant is one site under load.
type variant struct {
	name string // one of allVariants
	base string // http://127.0.0.1:port
	// cookies are the Cookie headers of gateSessions sessions of one user
	// (for plain reverse_proxy, another variant's: the same requests).
	cookies []string
	client  *http.Client
}

func (v *variant) gated() bool { return gatedVariant(v.name) }

func gatedVariant(name string) bool {
	return name != varPlain && name != varPlainHeaders && name != varPlainEverythingHeaders
}

// identityLikeHeaders are what the plain-headers variant adds with
// header_up: the gate's five identity headers, with values as long as the
// gate sends for the benchmark's users. Plain reverse_proxy with them
// shows how much of the gate's cost is Caddy sending five more headers
// upstream rather than the gate's own work.
var identityLikeHeaders = [][2]string{
	{"X-User-Id", "2Dcu7wt1hzjS2zqkYp1roXEmk38s8dzN"},
	{"X-User-Email", "gate-pg-cached-0a1b2c3d@authbench.example"},
	{"X-User-Name", "Gate pg-cached"},
	{"X-User-Email-Verified", "false"},
	{"X-Session-Id", "UgAcMso8IgwThrKG05jvM8QBKMzgvvBx"},
}

// everythingLikeHeaders are what the plain-everything-headers variant adds:
// the six identity headers and an assertion, with values as long as
// pg-everything sends for its user (the assertion an EdDSA JWT stating the
// same claims for a site at addr; its signature is not valid, which costs
// nobody anything here).
func everythingLikeHeaders(addr string) [][2]string {
	id, sid := identityLikeHeaders[0][1], identityLikeHeaders[4][1]
	email, name := benchEmail("gate-"+varPGEverything), "Gate "+varPGEverything
	b64 := base64.RawURLEncoding.EncodeToString
	claims := fmt.Sprintf(`{"iss":"http://%[1]s","aud":"http://%[1]s","sub":%[2]q,"email":%[3]q,"email_verified":false,"name":%[4]q,"role":"user","sid":%[5]q,"iat":1796282630,"exp":1796282690}`,
		addr, id, email, name, sid)
	jwt := b64([]byte(`{"alg":"EdDSA","kid":"wiIjPdmXzq9b1M86dRfmjBz9k9vc0109"}`)) + "." + b64([]byte(claims)) + "." + b64(make([]byte, 64))
	return [][2]string{
		{"X-User-Id", id}, {"X-User-Email", email}, {"X-User-Name", name},
		{"X-User-Email-Verified", "false"}, {"X-Session-Id", sid}, {"X-User-Role", "user"},
		{"X-Auth-Assertion", jwt},
	}
}

func (v *variant) postgres() bool {
	return strings.HasPrefix(v.name, "pg-") || strings.HasPrefix(v.name, "pgb-")
}

// bench holds what a run started, so that cleanup can undo it.
type bench struct {
	cfg config
	rep *report
	tmp string

	caddy    *proc
	caddyCPU cpuSource
	dbCPU    cpuSource // the PostgreSQL cluster, when it runs here
	pgDSN    string    // the database of this run

	peer     *proc
	peerBase string

	idp       *fakeidp.Provider // the social leg's provider
	idpClient *http.Client
	social    []*socialSite
	twoFactor []*twoFactorSite // the twofactor leg's sites

	variants []*variant
	cleanups []func() // run last first
}

func (b *bench) variant(name string) *variant {
	for _, v := range b.variants {
		if v.name == name {
			return v
		}
	}
	return nil
}

func (b *bench) cleanup() {
	for i := len(b.cleanups) - 1; i >= 0; i-- {
		b.cleanups[i]()
	}
	b.cleanups = nil
}

func (b *bench) run(ctx context.Context) error {
	b.rep.Machine = describeMachine()
	b.rep.Settings = settingsOf(b.cfg)
	if err := b.setup(ctx); err != nil {
		return err
	}
	if b.cfg.runs("gate") {
		if err := b.gateLeg(ctx); err != nil {
			return fmt.Errorf("gate leg: %w", err)
		}
	}
	if b.cfg.runs("open") {
		if err := b.openLeg(ctx); err != nil {
			return fmt.Errorf("open-loop leg: %w", err)
		}
	}
	if b.cfg.runs("signin") {
		if err := b.signInLeg(ctx); err != nil {
			return fmt.Errorf("sign-in leg: %w", err)
		}
	}
	if b.cfg.runs("social") {
		if err := b.socialLeg(ctx); err != nil {
			return fmt.Errorf("social leg: %w", err)
		}
	}
	if b.cfg.runs("twofactor") {
		if err := b.twoFactorLeg(ctx); err != nil {
			return fmt.Errorf("two-factor leg: %w", err)
		}
	}
	b.rep.Machine.LoadAvgEnd = loadAvg()
	return nil
}

// setup starts (or finds) everything the legs need.
func (b *bench) setup(ctx context.Context) error {
	tmp, err := os.MkdirTemp("", "authbench-")
	if err != nil {
		return err
	}
	b.tmp = tmp
	b.cleanups = append(b.cleanups, func() { _ = os.RemoveAll(tmp) })

	if b.cfg.caddyURLs != nil {
		err = b.useRunningCaddy(ctx)
	} else {
		if b.cfg.runs("social") {
			if err := b.startSocialProvider(); err != nil {
				return err
			}
		}
		err = b.startOwnCaddy(ctx)
	}
	if err != nil {
		return err
	}
	if !b.cfg.runs("gate") && !b.cfg.runs("open") {
		// Their sessions take a minute of scrypt on 2 CPUs, for nothing.
		return b.startPeerIfAsked(ctx)
	}
	logf("signing in %d sessions on each gated variant", gateSessions)
	var shared []string // the cookies plain reverse_proxy is sent
	for _, v := range b.variants {
		if !v.gated() {
			continue
		}
		if err := b.signInSessions(ctx, v); err != nil {
			return fmt.Errorf("%s: %w", v.name, err)
		}
		if shared == nil {
			shared = v.cookies
		}
	}
	// Plain reverse_proxy gets the same requests, cookies included.
	for _, v := range b.variants {
		if !v.gated() {
			v.cookies = shared
		}
	}
	return b.startPeerIfAsked(ctx)
}

func (b *bench) startPeerIfAsked(ctx context.Context) error {
	if b.cfg.peer != "" && b.cfg.runs("signin") {
		return b.startPeer(ctx)
	}
	return nil
}

// signInSessions signs a user up on v and in again until it has
// gateSessions sessions, two sign-ins at a time (each is an scrypt).
func (b *bench) signInSessions(ctx context.Context, v *variant) error {
	email := benchEmail("gate-" + v.name)
	first, err := signUp(ctx, v.client, v.base, "Gate "+v.name, email)
	if err != nil {
		return err
	}
	v.cookies = make([]string, gateSessions)
	v.cookies[0] = first
	errs := make([]error, gateSessions)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2)
	for i := 1; i < gateSessions; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			v.cookies[i], errs[i] = signIn(ctx, v.client, v.base, email)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (b *bench) startOwnCaddy(ctx context.Context) error {
	bin := b.cfg.caddyBin
	if bin == "" {
		root, err := moduleRoot(ctx)
		if err != nil {
			return err
		}
		bin = filepath.Join(b.tmp, "caddy")
		logf("building ./cmd/caddy")
		if err := buildCaddy(ctx, root, bin); err != nil {
			return err
		}
	}
	upstream, stopUpstream, err := startUpstream(ctx, b.tmp)
	if err != nil {
		return err
	}
	b.cleanups = append(b.cleanups, stopUpstream)

	dbs := map[string]string{"sqlite": "sqlite://" + filepath.Join(b.tmp, "auth.db")}
	if b.cfg.database != "" {
		dsn, drop, err := createDatabase(ctx, b.cfg.database)
		if err != nil {
			return err
		}
		b.cleanups = append(b.cleanups, func() {
			if err := drop(); err != nil {
				logf("%v", err)
			}
		})
		b.pgDSN = dsn
		dbs["pg"] = dsn
		if b.cfg.pgbouncer != "" {
			pooled, err := throughPooler(dsn, b.cfg.pgbouncer)
			if err != nil {
				return fmt.Errorf("--pgbouncer: %w", err)
			}
			dbs["pgb"] = pooled
		}
		if err := b.describePostgres(ctx); err != nil {
			return err
		}
	} else {
		logf("no PostgreSQL (--database or TEST_DATABASE_URL): measuring SQLite only; make -f xcaddy.Makefile bench provides one")
	}

	var sites strings.Builder
	var addrs []string
	for _, name := range allVariants {
		if !b.cfg.measures(name) {
			continue
		}
		gated := gatedVariant(name)
		db, cache, _ := strings.Cut(name, "-")
		if gated && dbs[db] == "" {
			continue
		}
		port, err := freePort()
		if err != nil {
			return err
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		addrs = append(addrs, addr)
		b.variants = append(b.variants, &variant{name: name, base: "http://" + addr, client: newClient()})
		fmt.Fprintf(&sites, "\nhttp://%s {\n", addr)
		if gated {
			fmt.Fprintf(&sites, "\tauth_gate {\n\t\tdatabase %s\n\t\tsecret %s\n\t\trate_limit off\n", dbs[db], benchSecret)
			if db == "pgb" {
				fmt.Fprintf(&sites, "\t\tnotify_database %s\n", dbs["pg"])
			}
			if cache == "uncached" {
				sites.WriteString("\t\tsession_cache 0\n")
			}
			if cache == "assertion" || cache == "everything" {
				fmt.Fprintf(&sites, "\t\tbase_url http://%s\n\t\tassertion\n", addr)
			}
			if cache == "everything" || cache == "rules" {
				sites.WriteString("\t\tadmin on\n")
				for i := range 10 {
					fmt.Fprintf(&sites, "\t\trequire /restricted-%d /restricted-%d/* role admin\n", i, i)
				}
			}
			sites.WriteString("\t}\n")
		}
		if name == varPlainHeaders || name == varPlainEverythingHeaders {
			hs := identityLikeHeaders
			if name == varPlainEverythingHeaders {
				hs = everythingLikeHeaders(addr)
			}
			fmt.Fprintf(&sites, "\treverse_proxy %s {\n", upstream)
			for _, h := range hs {
				fmt.Fprintf(&sites, "\t\theader_up %s %q\n", h[0], h[1])
			}
			sites.WriteString("\t}\n}\n")
			continue
		}
		fmt.Fprintf(&sites, "\treverse_proxy %s\n}\n", upstream)
	}
	if b.idp != nil {
		// The social leg's sites: one per store, each with the provider.
		for _, db := range []string{"pg", "sqlite"} {
			if dbs[db] == "" {
				continue
			}
			port, err := freePort()
			if err != nil {
				return err
			}
			addr := fmt.Sprintf("127.0.0.1:%d", port)
			base := "http://" + addr
			addrs = append(addrs, addr)
			store := map[string]string{"pg": "PostgreSQL", "sqlite": "SQLite"}[db]
			b.social = append(b.social, &socialSite{store: store, base: base, client: newClient()})
			b.idp.AllowRedirectURI(base + "/auth/callback/" + socialProviderID)
			fmt.Fprintf(&sites, "\n%s {\n%s\treverse_proxy %s\n}\n", base, b.socialSiteBlock(dbs[db], base), upstream)
		}
	}
	if b.cfg.runs("twofactor") {
		if err := b.twoFactorSites(ctx, dbs, upstream, &sites, &addrs); err != nil {
			return err
		}
	}
	caddyfile := "{\n\tadmin off\n\tpersist_config off\n}\n" + sites.String()
	logf("starting Caddy with %d sites", len(addrs))
	dir := filepath.Join(b.tmp, "caddy-run")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	p, err := startCaddy(ctx, bin, dir, caddyfile, addrs)
	if err != nil {
		return err
	}
	b.caddy = p
	b.caddyCPU = processCPU(p.pid())
	b.cleanups = append(b.cleanups, func() { b.closeClients(); p.stop() })
	return nil
}

func (b *bench) useRunningCaddy(ctx context.Context) error {
	for _, name := range allVariants {
		if u, ok := b.cfg.caddyURLs[name]; ok && b.cfg.measures(name) {
			b.variants = append(b.variants, &variant{name: name, base: u, client: newClient()})
		}
	}
	if b.cfg.caddyPID > 0 {
		b.caddyCPU = processCPU(b.cfg.caddyPID)
	}
	b.cleanups = append(b.cleanups, b.closeClients)
	if b.cfg.database != "" {
		b.pgDSN = b.cfg.database
		return b.describePostgres(ctx)
	}
	return nil
}

func (b *bench) describePostgres(ctx context.Context) error {
	version, postmaster, err := postgresInfo(ctx, b.pgDSN)
	if err != nil {
		return err
	}
	b.rep.Machine.PostgreSQL = version
	if postmaster > 0 {
		b.dbCPU = clusterCPU(postmaster)
	}
	return nil
}

func (b *bench) startPeer(ctx context.Context) error {
	if b.pgDSN == "" {
		return errors.New("--peer needs PostgreSQL")
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	dir := filepath.Join(root, "internal", "betterauth")
	node, err := exec.LookPath(b.cfg.node)
	if err != nil {
		return fmt.Errorf("--peer better-auth needs Node.js 20+: %w", err)
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return fmt.Errorf("--peer better-auth needs npm: %w", err)
	}
	if err := ensureNodeModules(ctx, npm, dir); err != nil {
		return err
	}
	var trusted []string
	for _, v := range b.variants {
		trusted = append(trusted, v.base)
	}
	logf("starting better-auth %s on Node %s", betterAuthVersion, nodeVersion(ctx, node))
	p, base, err := startPeer(ctx, node, dir, b.tmp, b.pgDSN, benchSecret, trusted)
	if err != nil {
		return err
	}
	b.peer, b.peerBase = p, base
	b.rep.Machine.Node = nodeVersion(ctx, node)
	// Cleanups run last first: the peer lets go of the database before it
	// is dropped, as Caddy does.
	b.cleanups = append(b.cleanups, p.stop)
	return nil
}

func (b *bench) closeClients() {
	for _, v := range b.variants {
		v.client.CloseIdleConnections()
	}
	for _, s := range b.social {
		s.client.CloseIdleConnections()
	}
}

// newClient is an HTTP/1.1 client that keeps up to 256 connections per
// host alive, so that no slice pays for connection setup after its first
// requests, and never follows redirects.
func newClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 256,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// throughPooler returns dsn with the host and port of pooler, a PgBouncer
// that passes every database name through to dsn's server.
func throughPooler(dsn, pooler string) (string, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return "", err
	}
	p, err := url.Parse(pooler)
	if err != nil || p.Host == "" {
		return "", fmt.Errorf("%q is not a postgres:// URL", pooler)
	}
	if err := requireLoopbackDSN(pooler); err != nil {
		return "", err
	}
	u.Host = p.Host
	return u.String(), nil
}

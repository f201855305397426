package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"runtime"
	"slices"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/scrypt"
)

// Request timeouts: gated requests answer in well under a millisecond, so
// 5 s only catches a hung server; sign-ins may queue for seconds on a
// server without a bounded hashing pool, which the overload leg must see.
const (
	gateTimeout   = 5 * time.Second
	signInTimeout = 8 * time.Second
	// answerWithin is the overload leg's bar: an answer, 200 or 503 with
	// Retry-After, within this time of the request's due time.
	answerWithin = 2 * time.Second
	// Open-loop bounds on requests in flight (and as many again queued).
	gateOutstanding   = 256
	signInOutstanding = 512
	signInConcurrency = 10
	getSessionConc    = 16
	signInRounds      = 2
)

// ---------------------------------------------------------------- probes

func gateProbe(base, cookie string) *probe {
	h := http.Header{}
	if cookie != "" {
		h.Set("Cookie", cookie)
	}
	return &probe{method: http.MethodGet, url: base + "/app", header: h,
		ok: func(status int, _ http.Header, _ []byte) bool { return status == http.StatusOK }}
}

// gateSender sends v's gated request with each of its sessions in turn, so
// that concurrent requests carry different sessions, as a busy site's do:
// one session for all would let the store answer them all with one row.
func gateSender(v *variant) sendFunc {
	if len(v.cookies) == 0 {
		return httpSender(v.client, gateProbe(v.base, ""), gateTimeout)
	}
	probes := make([]*probe, len(v.cookies))
	for i, c := range v.cookies {
		probes[i] = gateProbe(v.base, c)
	}
	var next atomic.Uint64
	return func(ctx context.Context) (outcome, int) {
		return send(ctx, v.client, probes[next.Add(1)%uint64(len(probes))], gateTimeout)
	}
}

func signInProbe(base, email string) *probe {
	body, _ := json.Marshal(map[string]string{"email": email, "password": benchPassword})
	// Better Auth's CSRF rule wants an Origin it trusts on sign-in from
	// anything that looks like a browser; a real client sends its own.
	h := http.Header{"Content-Type": {"application/json"}, "Origin": {base}}
	return &probe{method: http.MethodPost, url: base + "/auth/sign-in/email", header: h, body: body,
		ok: func(status int, _ http.Header, b []byte) bool {
			return status == http.StatusOK && bytes.Contains(b, []byte(`"token"`))
		}}
}

func getSessionProbe(base, cookie string) *probe {
	h := http.Header{"Cookie": {cookie}}
	return &probe{method: http.MethodGet, url: base + "/auth/get-session", header: h,
		ok: func(status int, _ http.Header, b []byte) bool {
			return status == http.StatusOK && bytes.Contains(b, []byte(`"session"`))
		}}
}

// runTag keeps the emails of one run apart from those of earlier runs on
// the same database (--caddy-url).
var runTag = func() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}()

// benchEmail is the address of a user of this run.
func benchEmail(local string) string { return local + "-" + runTag + "@authbench.example" }

// signUp creates a user through the API at base and returns the Cookie
// header value of its session.
func signUp(ctx context.Context, c *http.Client, base, name, email string) (string, error) {
	return postForSession(ctx, c, base, "/auth/sign-up/email",
		map[string]string{"name": name, "email": email, "password": benchPassword})
}

// signIn signs in a user of signUp and returns the new session's Cookie
// header value.
func signIn(ctx context.Context, c *http.Client, base, email string) (string, error) {
	return postForSession(ctx, c, base, "/auth/sign-in/email",
		map[string]string{"email": email, "password": benchPassword})
}

func postForSession(ctx context.Context, c *http.Client, base, path string, fields map[string]string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	body, _ := json.Marshal(fields)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", base)
	resp, err := c.Do(req)
	if err != nil {
		return "", fmt.Errorf("%s at %s: %w", path, base, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s at %s: %d %s", path, base, resp.StatusCode, b)
	}
	for _, ck := range resp.Cookies() {
		if ck.Name == "better-auth.session_token" {
			return ck.Name + "=" + ck.Value, nil
		}
	}
	return "", fmt.Errorf("%s at %s: no better-auth.session_token cookie", path, base)
}

// ---------------------------------------------------------------- gate leg

type gateCell struct {
	v        *variant
	conc     int
	res      loadResult
	caddyCPU time.Duration
	dbCPU    time.Duration
	caddyOK  bool
	dbOK     bool
	rounds   []sliceStat // one per slice, in round order
}

// sliceStat is what one slice measured; the ratios to plain reverse_proxy
// are taken between slices of the same round, next to each other in time.
type sliceStat struct {
	perS float64
	p99  time.Duration
}

// gateLeg measures every variant at every concurrency in slices of
// --duration, round-robin: within a round each concurrency runs every
// variant once, starting from a different variant each round.
func (b *bench) gateLeg(ctx context.Context) error {
	concs := b.cfg.concurrency
	byConc := make([][]*gateCell, len(concs))
	for i, conc := range concs {
		for _, v := range b.variants {
			byConc[i] = append(byConc[i], &gateCell{v: v, conc: conc, caddyOK: b.caddyCPU != nil, dbOK: b.dbCPU != nil})
		}
	}
	// Report what was measured even when the run is cut short.
	defer func() {
		for _, row := range byConc {
			var plain *gateCell
			for _, c := range row {
				if c.v.name == varPlain {
					plain = c
				}
			}
			for _, c := range row {
				if c.res.elapsed > 0 {
					b.rep.Gate = append(b.rep.Gate, gateRowOf(c, plain))
				}
			}
		}
	}()
	warm := min(b.cfg.duration/2, 500*time.Millisecond)
	logf("gate: warming up %d variants", len(b.variants))
	for _, v := range b.variants {
		closedLoop(ctx, slices.Max(concs), warm, gateSender(v))
	}
	for round := range b.cfg.rounds {
		for _, row := range byConc {
			for k := range row {
				if err := ctx.Err(); err != nil {
					return err
				}
				b.gateSlice(ctx, row[(k+round)%len(row)])
			}
		}
		logf("gate: round %d/%d done", round+1, b.cfg.rounds)
	}
	return nil
}

func (b *bench) gateSlice(ctx context.Context, c *gateCell) {
	caddy, db := startCPU(b.caddyCPU), startCPU(b.dbCPU)
	res := closedLoop(ctx, c.conc, b.cfg.duration, gateSender(c.v))
	dc, okc := caddy.stop()
	dd, okd := db.stop()
	c.res.hist.merge(&res.hist)
	c.res.tally.merge(&res.tally)
	c.res.elapsed += res.elapsed
	c.rounds = append(c.rounds, sliceStat{perS: perS(res.tally.ok, res.elapsed), p99: res.hist.quantile(0.99)})
	c.caddyCPU += dc
	c.dbCPU += dd
	c.caddyOK = c.caddyOK && okc
	c.dbOK = c.dbOK && okd
}

// ---------------------------------------------------------------- open leg

// openLeg sends to plain reverse_proxy and each cached gate at half of
// plain reverse_proxy's best closed-loop throughput, in slices of twice
// --duration, round-robin.
func (b *bench) openLeg(ctx context.Context) error {
	plain := b.variant(varPlain)
	if plain == nil {
		return errors.New("no plain reverse_proxy to calibrate against (--caddy-url plain=…)")
	}
	best := 0.0
	for _, r := range b.rep.Gate {
		if r.Variant == varPlain {
			best = max(best, r.PerS)
		}
	}
	if best == 0 {
		logf("open: calibrating on plain reverse_proxy")
		res := closedLoop(ctx, slices.Max(b.cfg.concurrency), b.cfg.duration, gateSender(plain))
		best = float64(res.tally.ok) / res.elapsed.Seconds()
	}
	rate := best / 2
	var vs []*variant
	for _, name := range []string{varPlain, varPGCached, varSQLiteCached} {
		if v := b.variant(name); v != nil {
			vs = append(vs, v)
		}
	}
	results := make([]openResult, len(vs))
	p99s := make([][]time.Duration, len(vs)) // by variant, then round
	defer func() {
		b.rep.Open = &openLegReport{RatePerS: rate, PlainMaxPerS: best}
		for i, v := range vs {
			if results[i].sent > 0 {
				row := openRowOf(v.name, &results[i])
				// vs[0] is plain: the difference is taken round by round.
				var added []float64
				for r := range min(len(p99s[i]), len(p99s[0])) {
					added = append(added, ms(p99s[i][r]-p99s[0][r]))
				}
				if len(added) > 0 {
					row.AddedP99Ms = ptr(medianFloat(added))
					row.AddedP99Rounds = added
				}
				b.rep.Open.Rows = append(b.rep.Open.Rows, row)
			}
		}
	}()
	logf("open: %.0f requests/s (half of %.0f), %d variants", rate, best, len(vs))
	// A discarded slice each first: the open loop may need more
	// connections than the closed loops left open.
	for _, v := range vs {
		openLoop(ctx, rate, min(b.cfg.duration/2, 500*time.Millisecond), gateOutstanding, answerWithin,
			gateSender(v))
	}
	for round := range b.cfg.rounds {
		for k := range vs {
			if err := ctx.Err(); err != nil {
				return err
			}
			i := (k + round) % len(vs)
			res := openLoop(ctx, rate, 2*b.cfg.duration, gateOutstanding, answerWithin,
				gateSender(vs[i]))
			results[i].merge(res)
			p99s[i] = append(p99s[i], res.hist.quantile(0.99))
		}
		logf("open: round %d/%d done", round+1, b.cfg.rounds)
	}
	return nil
}

func (r *openResult) merge(o *openResult) {
	r.hist.merge(&o.hist)
	r.late.merge(&o.late)
	r.capped += o.capped
	r.tally.merge(&o.tally)
	r.inTime.merge(&o.inTime)
	r.elapsed += o.elapsed
	r.scheduled += o.scheduled
	r.sent += o.sent
	r.deadline = o.deadline
}

// ---------------------------------------------------------------- sign-in leg

// authServer is a server whose API is measured: auth_gate or the peer.
type authServer struct {
	name       string
	base       string
	client     *http.Client
	cpu        cpuSource
	signIn     *probe
	getSession *probe
	rep        *signInServer
}

// signInLeg measures sign-in and get-session on auth_gate (PostgreSQL when
// there is one) and on the peer, alternating between them slice by slice.
// Before each slice both servers are left to go idle, so that one's
// leftover work is not charged to the other.
func (b *bench) signInLeg(ctx context.Context) error {
	ours := b.variant(varPGCached)
	if ours == nil {
		ours = b.variant(varSQLiteCached)
	}
	if ours == nil {
		return errors.New("no cached auth_gate site to sign in at")
	}
	db := "PostgreSQL"
	if !ours.postgres() {
		db = "SQLite"
	}
	servers := []*authServer{{name: "auth_gate (" + db + ")", base: ours.base, client: ours.client, cpu: b.caddyCPU}}
	if b.peer != nil {
		servers = append(servers, &authServer{name: "better-auth " + betterAuthVersion + " (Node, PostgreSQL)",
			base: b.peerBase, client: newClient(), cpu: processCPU(b.peer.pid())})
		b.cleanups = append(b.cleanups, servers[1].client.CloseIdleConnections)
	}
	leg := &signInLegReport{CPUs: runtime.NumCPU()}
	var all []cpuSource
	for i, s := range servers {
		// The servers share the database: one user each.
		email := benchEmail(fmt.Sprintf("signin-%d", i))
		cookie, err := signUp(ctx, s.client, s.base, "Sign In", email)
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		s.signIn = signInProbe(s.base, email)
		s.getSession = getSessionProbe(s.base, cookie)
		s.rep = &signInServer{Name: s.name}
		leg.Servers = append(leg.Servers, s.rep)
		all = append(all, s.cpu)
	}
	if b.dbCPU != nil {
		all = append(all, b.dbCPU)
	}
	quiet := func(maxWait time.Duration) { settle(ctx, maxWait, all...) }

	// The hash-bound limit: what the CPUs could do if they did nothing but
	// scrypt, measured here, on this machine, now; it sets the open-loop
	// rates and the ratios. Two more runs before every sign-in slice show
	// whether the machine's speed held through the leg.
	quiet(5 * time.Second)
	runs := scryptRuns(ctx, 9)
	if len(runs) == 0 {
		return ctx.Err()
	}
	leg.ScryptRunsMs = msList(runs)
	leg.ScryptMs = ms(median(runs))
	// The limit is taken against the fastest scrypt on the machine, so
	// that the "× limit" figures cannot flatter a slow implementation;
	// Go's runs, repeated through the leg, then track the machine's speed.
	leg.ScryptImpls = scryptImpls(ctx, runs, 5)
	fastest := fastestScrypt(leg.ScryptImpls)
	leg.FastestScrypt = fastest.Name
	leg.FastestFactor = fastest.MedianMs / leg.ScryptMs
	for _, im := range leg.ScryptImpls {
		if im.Err != "" {
			logf("signin: scrypt %s: not timed: %s", im.Name, im.Err)
		} else {
			logf("signin: scrypt %s: %.1f ms", im.Name, im.MedianMs)
		}
	}
	leg.LimitPerS = float64(leg.CPUs) / (median(runs).Seconds() * leg.FastestFactor)
	leg.StartLimitPerS = leg.LimitPerS
	b.rep.SignIn = leg
	logf("signin: fastest scrypt %s %.1f ms → hash-bound limit %.1f sign-ins/s on %d CPUs",
		fastest.Name, fastest.MedianMs, leg.LimitPerS, leg.CPUs)
	var later []time.Duration
	defer func() {
		if len(later) > 0 {
			leg.LaterScryptRunsMs = msList(later)
			leg.LaterScryptMs = ms(median(later))
		}
		leg.rebase()
	}()
	settleAndSample := func(maxWait time.Duration) {
		quiet(maxWait)
		later = append(later, scryptRuns(ctx, 2)...)
	}

	// 1. Throughput, closed loop at concurrency 10.
	closed := make([]loadResult, len(servers))
	cpu := make([]time.Duration, len(servers))
	cpuOK := make([]bool, len(servers))
	for i := range servers {
		cpuOK[i] = servers[i].cpu != nil
	}
	for round := range signInRounds {
		for k := range servers {
			i := (k + round) % len(servers)
			s := servers[i]
			settleAndSample(5 * time.Second)
			if err := ctx.Err(); err != nil {
				return err
			}
			m := startCPU(s.cpu)
			res := closedLoop(ctx, signInConcurrency, 3*b.cfg.duration, httpSender(s.client, s.signIn, signInTimeout))
			d, ok := m.stop()
			closed[i].hist.merge(&res.hist)
			closed[i].tally.merge(&res.tally)
			closed[i].elapsed += res.elapsed
			cpu[i] += d
			cpuOK[i] = cpuOK[i] && ok
		}
	}
	for i, s := range servers {
		s.rep.Closed = closedSignInOf(&closed[i], cpu[i], cpuOK[i], leg.LimitPerS)
		logf("signin: %s %.1f sign-ins/s at concurrency %d", s.name, s.rep.Closed.PerS, signInConcurrency)
	}

	// 2. Latency at 50 % of the limit, open loop.
	half := make([]openResult, len(servers))
	halfRate := leg.StartLimitPerS / 2
	for round := range signInRounds {
		for k := range servers {
			i := (k + round) % len(servers)
			settleAndSample(5 * time.Second)
			if err := ctx.Err(); err != nil {
				return err
			}
			res := openLoop(ctx, halfRate, 3*b.cfg.duration, signInOutstanding, answerWithin,
				httpSender(servers[i].client, servers[i].signIn, signInTimeout))
			half[i].merge(res)
		}
	}
	for i, s := range servers {
		s.rep.Half = openSignInOf(&half[i], halfRate, leg.LimitPerS)
		logf("signin: %s at %.1f/s: p50 %.0f ms, p95 %.0f ms", s.name, halfRate, s.rep.Half.P50Ms, s.rep.Half.P95Ms)
	}

	// 3. Overload at 125 % of the limit, once per server: a longer slice,
	// then time for the server to work off what is left.
	overRate := leg.StartLimitPerS * 1.25
	for _, s := range servers {
		settleAndSample(15 * time.Second)
		if err := ctx.Err(); err != nil {
			return err
		}
		res := openLoop(ctx, overRate, 5*b.cfg.duration, signInOutstanding, answerWithin,
			httpSender(s.client, s.signIn, signInTimeout))
		s.rep.Over = openSignInOf(res, overRate, leg.LimitPerS)
		logf("signin: %s at %.1f/s: %.0f %% answered within %s, goodput %.1f/s",
			s.name, overRate, 100*s.rep.Over.AnsweredShare, answerWithin, s.rep.Over.GoodputPerS)
	}

	// 4. get-session, closed loop at concurrency 16.
	gs := make([]loadResult, len(servers))
	for round := range signInRounds {
		for k := range servers {
			i := (k + round) % len(servers)
			quiet(15 * time.Second)
			if err := ctx.Err(); err != nil {
				return err
			}
			res := closedLoop(ctx, getSessionConc, 3*b.cfg.duration/2, httpSender(servers[i].client, servers[i].getSession, gateTimeout))
			gs[i].hist.merge(&res.hist)
			gs[i].tally.merge(&res.tally)
			gs[i].elapsed += res.elapsed
		}
	}
	for i, s := range servers {
		s.rep.GetSession = getSessionOf(&gs[i])
		logf("signin: %s get-session %.0f/s, p99 %.2f ms", s.name, s.rep.GetSession.PerS, s.rep.GetSession.P99Ms)
	}
	return nil
}

// scryptRuns times n runs of Better Auth's scrypt (N=16384, r=16, p=1,
// 64-byte key, a 32-character hex salt used as a string), one at a time.
func scryptRuns(ctx context.Context, n int) []time.Duration {
	var runs []time.Duration
	salt := []byte(scryptSalt)
	for range n {
		if ctx.Err() != nil {
			break
		}
		t0 := time.Now()
		if _, err := scrypt.Key([]byte(benchPassword), salt, 16384, 16, 1, 64); err != nil {
			panic(err) // only for invalid parameters, and these are constants
		}
		runs = append(runs, time.Since(t0))
	}
	return runs
}

func medianFloat(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return math.NaN()
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

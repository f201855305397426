package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// report is everything a run measured. Durations are in milliseconds
// (JSON numbers), CPU per request in microseconds; a ratio or CPU figure
// that could not be measured is null.
type report struct {
	Machine    machine          `json:"machine"`
	Settings   settings         `json:"settings"`
	Gate       []gateRow        `json:"gate,omitempty"`
	Open       *openLegReport   `json:"open_loop,omitempty"`
	SignIn     *signInLegReport `json:"sign_in,omitempty"`
	Social     *socialLegReport `json:"social,omitempty"`
	Targets    []targetCheck    `json:"targets,omitempty"`
	Incomplete string           `json:"incomplete,omitempty"`

	TwoFactor *twoFactorLegReport `json:"two_factor,omitempty"` // twofactor.go
}

type machine struct {
	CPU          string `json:"cpu"`
	CPUs         int    `json:"cpus"`
	Kernel       string `json:"kernel"`
	Go           string `json:"go"`
	PostgreSQL   string `json:"postgresql,omitempty"`
	Node         string `json:"node,omitempty"`
	Date         string `json:"date"`
	LoadAvgStart string `json:"loadavg_start"`
	LoadAvgEnd   string `json:"loadavg_end,omitempty"`
}

type settings struct {
	SliceMs     float64  `json:"slice_ms"`
	Rounds      int      `json:"rounds"`
	Concurrency []int    `json:"concurrency"`
	Legs        []string `json:"legs"`
	Peer        string   `json:"peer,omitempty"`
}

type gateRow struct {
	Variant       string            `json:"variant"`
	Concurrency   int               `json:"concurrency"`
	Requests      uint64            `json:"requests"`
	Errors        uint64            `json:"errors"`
	ErrorStatuses map[string]uint64 `json:"error_statuses,omitempty"`
	PerS          float64           `json:"requests_per_s"`
	P50Ms         float64           `json:"p50_ms"`
	P99Ms         float64           `json:"p99_ms"`
	CaddyCPUUs    *float64          `json:"caddy_cpu_us_per_request"`
	DBCPUUs       *float64          `json:"postgres_cpu_us_per_request"`
	// The ratios are medians over rounds of the ratio between this
	// variant's slice and plain reverse_proxy's in the same round.
	PerSRatio       *float64  `json:"requests_per_s_ratio_to_plain"`
	P99Ratio        *float64  `json:"p99_ratio_to_plain"`
	PerSRatioRounds []float64 `json:"requests_per_s_ratio_by_round,omitempty"`
	P99RatioRounds  []float64 `json:"p99_ratio_by_round,omitempty"`
}

type openLegReport struct {
	RatePerS     float64   `json:"rate_per_s"`
	PlainMaxPerS float64   `json:"plain_max_per_s"`
	Rows         []openRow `json:"rows"`
}

type openRow struct {
	Variant       string            `json:"variant"`
	Scheduled     int               `json:"scheduled"`
	Sent          int               `json:"sent"`
	Errors        uint64            `json:"errors"`
	ErrorStatuses map[string]uint64 `json:"error_statuses,omitempty"`
	P50Ms         float64           `json:"p50_ms"`
	P99Ms         float64           `json:"p99_ms"`
	P999Ms        float64           `json:"p999_ms"`
	MaxMs         float64           `json:"max_ms"`
	LateP99Ms     float64           `json:"generator_late_p99_ms"`
	Capped        uint64            `json:"waited_for_in_flight_slot"`
	// AddedP99Ms is the median over rounds of this variant's p99 minus
	// plain reverse_proxy's in the same round.
	AddedP99Ms     *float64  `json:"p99_added_to_plain_ms"`
	AddedP99Rounds []float64 `json:"p99_added_by_round_ms,omitempty"`
}

type signInLegReport struct {
	CPUs         int       `json:"cpus"`
	ScryptMs     float64   `json:"scrypt_ms"`
	ScryptRunsMs []float64 `json:"scrypt_runs_ms"`
	// LimitPerS, which every ratio to the limit uses, is CPUs ÷ the median
	// of every run of the leg: those before it and those between its
	// slices, so that a machine whose speed wanders (a shared VM) is judged
	// by its speed during the leg, not in one moment. StartLimitPerS, from
	// the runs before the leg, set the open-loop rates, which must be
	// known before the first slice.
	LimitPerS      float64 `json:"hash_bound_limit_per_s"`
	StartLimitPerS float64 `json:"start_limit_per_s"`
	// Runs taken before each later sign-in slice: when their median
	// strays from ScryptMs, the machine's speed changed during the leg
	// and the ratios to the limit are inconclusive.
	// ScryptImpls times every scrypt available on the machine (Go's, which
	// the product uses, and OpenSSL's); the limit is taken against the
	// fastest: LimitPerS = CPUs ÷ (the median of Go's runs × FastestFactor,
	// the fastest's time ÷ Go's before the leg).
	ScryptImpls       []scryptImpl    `json:"scrypt_implementations"`
	FastestScrypt     string          `json:"fastest_scrypt"`
	FastestFactor     float64         `json:"fastest_scrypt_time_over_go"`
	LaterScryptMs     float64         `json:"later_scrypt_ms,omitempty"`
	LaterScryptRunsMs []float64       `json:"later_scrypt_runs_ms,omitempty"`
	Servers           []*signInServer `json:"servers"`
}

type signInServer struct {
	Name       string          `json:"name"`
	Closed     *closedSignIn   `json:"closed_loop,omitempty"`
	Half       *openSignIn     `json:"at_50_percent,omitempty"`
	Over       *openSignIn     `json:"at_125_percent,omitempty"`
	GetSession *getSessionStat `json:"get_session,omitempty"`
}

type closedSignIn struct {
	Concurrency   int               `json:"concurrency"`
	SignIns       uint64            `json:"sign_ins"`
	PerS          float64           `json:"sign_ins_per_s"`
	RatioToLimit  float64           `json:"ratio_to_limit"`
	P50Ms         float64           `json:"p50_ms"`
	P99Ms         float64           `json:"p99_ms"`
	CPUMsPerReq   *float64          `json:"server_cpu_ms_per_sign_in"`
	Shed          uint64            `json:"shed_503"`
	Errors        uint64            `json:"errors"`
	ErrorStatuses map[string]uint64 `json:"error_statuses,omitempty"`
}

type openSignIn struct {
	RatePerS      float64           `json:"rate_per_s"`
	RateRatio     float64           `json:"rate_ratio_to_limit"`
	Scheduled     int               `json:"scheduled"`
	OK            uint64            `json:"ok_200"`
	Shed          uint64            `json:"shed_503"`
	Errors        uint64            `json:"errors"`
	ErrorStatuses map[string]uint64 `json:"error_statuses,omitempty"`
	P50Ms         float64           `json:"p50_ms"`
	P95Ms         float64           `json:"p95_ms"`
	MaxMs         float64           `json:"max_ms"`
	AnsweredShare float64           `json:"answered_within_2s_share"`
	GoodputPerS   float64           `json:"goodput_per_s"`
	OKPerS        float64           `json:"ok_per_s_any_latency"`
	GoodputRatio  float64           `json:"goodput_ratio_to_limit"`
}

type getSessionStat struct {
	Concurrency int     `json:"concurrency"`
	Requests    uint64  `json:"requests"`
	PerS        float64 `json:"requests_per_s"`
	P50Ms       float64 `json:"p50_ms"`
	P99Ms       float64 `json:"p99_ms"`
	Errors      uint64  `json:"errors"`
}

type targetCheck struct {
	Target   string `json:"target"`
	Measured string `json:"measured"`
	Met      bool   `json:"met"`
	// Inconclusive: the generator itself was later than the effect to be
	// measured, so the figure says more about the machine than the server.
	Inconclusive bool `json:"inconclusive,omitempty"`
}

// ---------------------------------------------------------------- building

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

func msList(ds []time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = ms(d)
	}
	return out
}

func ptr(f float64) *float64 { return &f }

func statuses(t *tally) map[string]uint64 {
	if len(t.statuses) == 0 {
		return nil
	}
	out := map[string]uint64{}
	for s, n := range t.statuses {
		switch s {
		case 0:
			out["no answer"] += n
		case -1:
			out["late"] += n
		default:
			out[strconv.Itoa(s)] += n
		}
	}
	return out
}

func perS(n uint64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

func gateRowOf(c, plain *gateCell) gateRow {
	r := gateRow{
		Variant:       c.v.name,
		Concurrency:   c.conc,
		Requests:      c.res.tally.ok,
		Errors:        c.res.tally.failed + c.res.tally.shed,
		ErrorStatuses: statuses(&c.res.tally),
		PerS:          perS(c.res.tally.ok, c.res.elapsed),
		P50Ms:         ms(c.res.hist.quantile(0.50)),
		P99Ms:         ms(c.res.hist.quantile(0.99)),
	}
	if n := c.res.tally.ok; n > 0 {
		if c.caddyOK {
			r.CaddyCPUUs = ptr(math.Round(float64(c.caddyCPU)/1e3/float64(n)*10) / 10)
		}
		if c.dbOK && c.v.postgres() {
			r.DBCPUUs = ptr(math.Round(float64(c.dbCPU)/1e3/float64(n)*10) / 10)
		}
	}
	if plain == nil {
		return r
	}
	for i := range min(len(c.rounds), len(plain.rounds)) {
		a, p := c.rounds[i], plain.rounds[i]
		if p.perS > 0 && p.p99 > 0 {
			r.PerSRatioRounds = append(r.PerSRatioRounds, math.Round(a.perS/p.perS*1000)/1000)
			r.P99RatioRounds = append(r.P99RatioRounds, math.Round(float64(a.p99)/float64(p.p99)*1000)/1000)
		}
	}
	if len(r.PerSRatioRounds) > 0 {
		r.PerSRatio = ptr(medianFloat(r.PerSRatioRounds))
		r.P99Ratio = ptr(medianFloat(r.P99RatioRounds))
	}
	return r
}

func openRowOf(name string, res *openResult) openRow {
	return openRow{
		Variant:       name,
		Scheduled:     res.scheduled,
		Sent:          res.sent,
		Errors:        res.tally.failed + res.tally.shed,
		ErrorStatuses: statuses(&res.tally),
		P50Ms:         ms(res.hist.quantile(0.50)),
		P99Ms:         ms(res.hist.quantile(0.99)),
		P999Ms:        ms(res.hist.quantile(0.999)),
		MaxMs:         ms(res.hist.max),
		LateP99Ms:     ms(res.late.quantile(0.99)),
		Capped:        res.capped,
	}
}

func closedSignInOf(res *loadResult, cpu time.Duration, cpuOK bool, limit float64) *closedSignIn {
	r := &closedSignIn{
		Concurrency:   signInConcurrency,
		SignIns:       res.tally.ok,
		PerS:          perS(res.tally.ok, res.elapsed),
		P50Ms:         ms(res.hist.quantile(0.50)),
		P99Ms:         ms(res.hist.quantile(0.99)),
		Shed:          res.tally.shed,
		Errors:        res.tally.failed,
		ErrorStatuses: statuses(&res.tally),
	}
	r.RatioToLimit = r.PerS / limit
	if cpuOK && res.tally.ok > 0 {
		r.CPUMsPerReq = ptr(math.Round(float64(cpu)/1e6/float64(res.tally.ok)*10) / 10)
	}
	return r
}

// openSignInOf summarises an open-loop sign-in slice. Latencies are those
// of answers (200 or 503), from their due time; goodput counts the 200s
// that came within answerWithin, per second of the arrival window, and
// OKPerS all 200s however late (the client gives up after signInTimeout).
func openSignInOf(res *openResult, rate, limit float64) *openSignIn {
	r := &openSignIn{
		RatePerS:      rate,
		RateRatio:     rate / limit,
		Scheduled:     res.scheduled,
		OK:            res.tally.ok,
		Shed:          res.tally.shed,
		Errors:        res.tally.failed,
		ErrorStatuses: statuses(&res.tally),
		P50Ms:         ms(res.hist.quantile(0.50)),
		P95Ms:         ms(res.hist.quantile(0.95)),
		MaxMs:         ms(res.hist.max),
	}
	if res.scheduled > 0 {
		r.AnsweredShare = float64(res.inTime.ok+res.inTime.shed) / float64(res.scheduled)
		window := float64(res.scheduled) / rate
		r.GoodputPerS = float64(res.inTime.ok) / window
		r.OKPerS = float64(res.tally.ok) / window
		r.GoodputRatio = r.GoodputPerS / limit
	}
	return r
}

func getSessionOf(res *loadResult) *getSessionStat {
	return &getSessionStat{
		Concurrency: getSessionConc,
		Requests:    res.tally.ok,
		PerS:        perS(res.tally.ok, res.elapsed),
		P50Ms:       ms(res.hist.quantile(0.50)),
		P99Ms:       ms(res.hist.quantile(0.99)),
		Errors:      res.tally.failed + res.tally.shed,
	}
}

// finish checks the speed targets (checkTargets) against what was measured.
func (r *report) finish() {
	r.Targets = checkTargets(r)
}

func checkTargets(r *report) []targetCheck {
	var out []targetCheck
	add := func(target, measured string, met bool) {
		out = append(out, targetCheck{Target: target, Measured: measured, Met: met})
	}
	top := 0
	for _, g := range r.Gate {
		top = max(top, g.Concurrency)
	}
	for _, g := range r.Gate {
		if g.Concurrency != top || g.PerSRatio == nil {
			continue
		}
		perS := fmt.Sprintf("%.2f × (rounds %s)", *g.PerSRatio, joinFloats(g.PerSRatioRounds, 2))
		p99 := fmt.Sprintf("%.2f × (rounds %s)", *g.P99Ratio, joinFloats(g.P99RatioRounds, 2))
		switch g.Variant {
		case varPGCached, varSQLiteCached, varPGAssertion, varPGEverything, varPGRules:
			add(fmt.Sprintf("%s: ≥ 0.90 × plain requests/s at concurrency %d", g.Variant, top), perS, *g.PerSRatio >= 0.90)
			add(fmt.Sprintf("%s: p99 within 15 %% of plain's at concurrency %d", g.Variant, top), p99, *g.P99Ratio <= 1.15)
		case varPGUncached, varPgBouncerUncached:
			add(fmt.Sprintf("%s: ≥ 0.6 × plain requests/s at concurrency %d", g.Variant, top), perS, *g.PerSRatio >= 0.6)
		}
	}
	// Features against the cached gate without them, round by round (each
	// round's ratios to plain share plain's slice, so their quotient is
	// the feature's cost in that round).
	rows := map[string]*gateRow{}
	for i := range r.Gate {
		if g := &r.Gate[i]; g.Concurrency == top {
			rows[g.Variant] = g
		}
	}
	// pg-everything against plain reverse_proxy sending the same seven
	// headers: what the gate's own work costs, apart from what Caddy and
	// the app spend on the headers it must send.
	for _, f := range []struct {
		variant, base string
		within        float64
	}{{varPGRules, varPGCached, 0.03}, {varPGAssertion, varPGCached, 0.10}, {varPGEverything, varPlainEverythingHeaders, 0.05}} {
		base, v := rows[f.base], rows[f.variant]
		if base == nil || v == nil || len(base.PerSRatioRounds) == 0 {
			continue
		}
		var qs []float64
		for i := range min(len(base.PerSRatioRounds), len(v.PerSRatioRounds)) {
			if base.PerSRatioRounds[i] > 0 {
				qs = append(qs, v.PerSRatioRounds[i]/base.PerSRatioRounds[i])
			}
		}
		if len(qs) == 0 {
			continue
		}
		q := medianFloat(qs)
		add(fmt.Sprintf("%s: within %.0f %% of %s's requests/s at concurrency %d", f.variant, 100*f.within, f.base, top),
			fmt.Sprintf("%.2f × (rounds %s)", q, joinFloats(qs, 2)), q >= 1-f.within)
	}
	if r.Open != nil {
		plainLate, plainWaited := 0.0, 0.0
		for _, o := range r.Open.Rows {
			if o.Variant == varPlain && o.Sent > 0 {
				plainLate = o.LateP99Ms
				plainWaited = float64(o.Capped) / float64(o.Sent)
			}
		}
		for _, o := range r.Open.Rows {
			if o.Variant != varPlain && o.AddedP99Ms != nil {
				measured := fmt.Sprintf("%+.2f ms", *o.AddedP99Ms)
				add(fmt.Sprintf("%s: adds ≤ 1 ms to p99 at %.0f/s (open loop)", o.Variant, r.Open.RatePerS),
					measured, *o.AddedP99Ms <= 1)
				// A generator late by more than the 1 ms at stake cannot
				// tell whether the gate met it.
				// plain reverse_proxy falling behind means the machine could
				// not carry the rate just then: the queue is what shows.
				if late := max(plainLate, o.LateP99Ms); late > 1 {
					out[len(out)-1].Inconclusive = true
					out[len(out)-1].Measured += fmt.Sprintf("; generator late %.1f ms at p99", late)
				}
				if plainWaited > 0.01 {
					out[len(out)-1].Inconclusive = true
					out[len(out)-1].Measured += fmt.Sprintf("; plain reverse_proxy fell behind (%.0f %% waited)", 100*plainWaited)
				}
			}
		}
	}
	if s := r.SignIn; s != nil && len(s.Servers) > 0 {
		ours := s.Servers[0]
		first := len(out)
		if c := ours.Closed; c != nil {
			add("sign-in ≥ 0.9 × hash-bound limit (concurrency 10)", fmt.Sprintf("%.2f ×", c.RatioToLimit), c.RatioToLimit >= 0.9)
		}
		if h := ours.Half; h != nil {
			add("sign-in p95 ≤ 200 ms at 50 % of the limit", fmt.Sprintf("%.0f ms (rate %.2f × the limit)", h.P95Ms, h.RateRatio), h.P95Ms <= 200 && h.Errors == 0)
		}
		if o := ours.Over; o != nil {
			add("at 125 % of the limit every request answered within 2 s", fmt.Sprintf("%.1f %% (rate %.2f × the limit)", 100*o.AnsweredShare, o.RateRatio), o.AnsweredShare >= 1)
			add("at 125 % of the limit goodput ≥ 0.75 × the limit", fmt.Sprintf("%.2f ×", o.GoodputRatio), o.GoodputRatio >= 0.75)
		}
		if len(s.Servers) > 1 {
			peer := s.Servers[1]
			if ours.Closed != nil && peer.Closed != nil && peer.Closed.PerS > 0 {
				q := ours.Closed.PerS / peer.Closed.PerS
				add("sign-in throughput ≥ better-auth's", fmt.Sprintf("%.2f ×", q), q >= 1)
			}
			if ours.GetSession != nil && peer.GetSession != nil && peer.GetSession.PerS > 0 {
				q := ours.GetSession.PerS / peer.GetSession.PerS
				add("get-session ≥ 8 × better-auth's requests/s", fmt.Sprintf("%.1f ×", q), q >= 8)
			}
		}
		// Targets stated against the limit mean little when the limit
		// itself moved.
		if limitDrifted(s) {
			for i := first; i < len(out); i++ {
				if strings.Contains(out[i].Target, "limit") {
					out[i].Inconclusive = true
					out[i].Measured += fmt.Sprintf("; scrypt %.0f → %.0f ms during the leg", s.ScryptMs, s.LaterScryptMs)
				}
			}
		}
	}
	if r.Social != nil {
		socialTargets(r.Social, add, func() *targetCheck { return &out[len(out)-1] })
	}
	if r.TwoFactor != nil {
		twoFactorTargets(r.TwoFactor, add)
	}
	return out
}

// ---------------------------------------------------------------- output

func (r *report) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

var variantLabels = map[string][2]string{
	varPlain:                  {"reverse_proxy", "–"},
	varPlainHeaders:           {"reverse_proxy + 5 header_up", "–"},
	varPlainEverythingHeaders: {"reverse_proxy + 7 header_up (pg-everything's headers)", "–"},
	varPGCached:               {"auth_gate, cache", "PostgreSQL"},
	varPGUncached:             {"auth_gate, session_cache 0", "PostgreSQL"},
	varPgBouncerUncached:      {"auth_gate, session_cache 0", "PostgreSQL through PgBouncer"},
	varSQLiteCached:           {"auth_gate, cache", "SQLite"},
	varSQLiteUncached:         {"auth_gate, session_cache 0", "SQLite"},
	varPGAssertion:            {"auth_gate, cache, assertion", "PostgreSQL"},
	varPGRules:                {"auth_gate, cache, admin, 10 require rules", "PostgreSQL"},
	varPGEverything:           {"auth_gate, cache, assertion, admin, 10 require rules", "PostgreSQL"},
}

func f(v float64, prec int) string { return strconv.FormatFloat(v, 'f', prec, 64) }

func optional(v *float64, format string) string {
	if v == nil {
		return "n/a"
	}
	return fmt.Sprintf(format, *v)
}

func errs(n uint64, st map[string]uint64) string {
	if n == 0 {
		return "0"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(st)) {
		parts = append(parts, fmt.Sprintf("%s×%d", k, st[k]))
	}
	if len(parts) == 0 {
		return strconv.FormatUint(n, 10)
	}
	return fmt.Sprintf("%d (%s)", n, strings.Join(parts, ", "))
}

func (r *report) writeMarkdown(out io.Writer) error {
	w := bufio.NewWriter(out)
	m := r.Machine
	fmt.Fprintf(w, "## authbench — %s\n\n", m.Date)
	fmt.Fprintf(w, "Machine: %s, %d CPUs, Linux %s, %s", m.CPU, m.CPUs, m.Kernel, m.Go)
	if m.PostgreSQL != "" {
		fmt.Fprintf(w, ", PostgreSQL %s", m.PostgreSQL)
	}
	if m.Node != "" {
		fmt.Fprintf(w, ", Node %s", m.Node)
	}
	fmt.Fprintf(w, ". Load average at start %s", m.LoadAvgStart)
	if m.LoadAvgEnd != "" {
		fmt.Fprintf(w, ", at end %s", m.LoadAvgEnd)
	}
	fmt.Fprintf(w, ". Load generator, Caddy, upstream and databases share these CPUs; compare ratios, which come from interleaved slices of the same run.\n\n")
	if r.Incomplete != "" {
		fmt.Fprintf(w, "**Incomplete run: %s.** What was measured before is below.\n\n", r.Incomplete)
	}

	if len(r.Gate) > 0 {
		fmt.Fprintf(w, "### Gate, closed loop (%d rounds of %s slices per cell, interleaved)\n\n", r.Settings.Rounds, time.Duration(r.Settings.SliceMs*1e6))
		fmt.Fprintln(w, "req/s, latencies and CPU pool all rounds; × plain is the median over rounds of the ratio to plain reverse_proxy's slice at the same concurrency in the same round.")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| variant | store | conc. | req/s | × plain | p50 ms | p99 ms | p99 × plain | Caddy CPU µs/req | PostgreSQL CPU µs/req | errors |")
		fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
		for _, g := range r.Gate {
			l := variantLabels[g.Variant]
			fmt.Fprintf(w, "| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s |\n",
				l[0], l[1], g.Concurrency, f(g.PerS, 0), optional(g.PerSRatio, "%.2f"),
				f(g.P50Ms, 3), f(g.P99Ms, 3), optional(g.P99Ratio, "%.2f"),
				optional(g.CaddyCPUUs, "%.0f"), optional(g.DBCPUUs, "%.0f"), errs(g.Errors, g.ErrorStatuses))
		}
		fmt.Fprintln(w)
	}

	if o := r.Open; o != nil {
		fmt.Fprintf(w, "### Open loop at %.0f req/s (half of plain reverse_proxy's best, %.0f req/s)\n\n", o.RatePerS, o.PlainMaxPerS)
		fmt.Fprintf(w, "Latency from each request's due time (no coordinated omission), at most %d in flight. "+
			"Generator late: how late the generator itself handed requests over (timer slack, CPU starvation), a floor under every figure; "+
			"above 1 ms the comparison is inconclusive. Waited: requests that found every in-flight slot taken. "+
			"p99 − plain: median over rounds of the difference to plain reverse_proxy's slice in the same round.\n\n", gateOutstanding)
		fmt.Fprintln(w, "| variant | store | sent | p50 ms | p99 ms | p99 − plain ms | p99.9 ms | max ms | generator late p99 ms | waited | errors |")
		fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
		for _, row := range o.Rows {
			l := variantLabels[row.Variant]
			fmt.Fprintf(w, "| %s | %s | %d/%d | %s | %s | %s | %s | %s | %s | %d | %s |\n",
				l[0], l[1], row.Sent, row.Scheduled, f(row.P50Ms, 3), f(row.P99Ms, 3), optional(row.AddedP99Ms, "%+.3f"),
				f(row.P999Ms, 3), f(row.MaxMs, 1), f(row.LateP99Ms, 3), row.Capped, errs(row.Errors, row.ErrorStatuses))
		}
		fmt.Fprintln(w)
	}

	if s := r.SignIn; s != nil {
		writeSignIn(w, s)
	}
	if s := r.Social; s != nil {
		writeSocial(w, s)
	}
	if s := r.TwoFactor; s != nil {
		writeTwoFactor(w, s)
	}

	if len(r.Targets) > 0 {
		fmt.Fprintln(w, "### Targets")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| target | measured | met |")
		fmt.Fprintln(w, "|---|--:|:-:|")
		for _, t := range r.Targets {
			met := "no"
			switch {
			case t.Inconclusive:
				met = "inconclusive"
			case t.Met:
				met = "yes"
			}
			fmt.Fprintf(w, "| %s | %s | %s |\n", t.Target, t.Measured, met)
		}
		fmt.Fprintln(w)
	}
	return w.Flush()
}

func writeSignIn(w io.Writer, s *signInLegReport) {
	fmt.Fprintf(w, "### Sign-in and get-session\n\n")
	fmt.Fprintf(w, "scrypt (N=16384, r=16, p=1, 64-byte key), in-process, one at a time: median %.1f ms of %d runs before the leg (%s ms) → %d CPUs ÷ %.1f ms = %.1f sign-ins/s, which set the open-loop rates.",
		s.ScryptMs, len(s.ScryptRunsMs), joinFloats(s.ScryptRunsMs, 0), s.CPUs, s.ScryptMs, s.StartLimitPerS)
	if len(s.LaterScryptRunsMs) > 0 {
		fmt.Fprintf(w, " Runs between the later slices: median %.1f ms of %d (%s ms)", s.LaterScryptMs, len(s.LaterScryptRunsMs), joinFloats(s.LaterScryptRunsMs, 0))
		if limitDrifted(s) {
			fmt.Fprint(w, ": **the machine's speed changed during the leg; ratios to the limit are inconclusive**")
		}
		fmt.Fprint(w, ".")
	}
	if len(s.ScryptImpls) > 0 {
		fmt.Fprint(w, " Every scrypt on the machine, one run at a time:")
		for i, im := range s.ScryptImpls {
			sep := ";"
			if i == 0 {
				sep = ""
			}
			if im.Err != "" {
				fmt.Fprintf(w, "%s %s: not timed (%s)", sep, im.Name, im.Err)
			} else {
				fmt.Fprintf(w, "%s %s %.1f ms", sep, im.Name, im.MedianMs)
			}
		}
		fmt.Fprintf(w, ". The limit is taken against the fastest, %s (%.2f × Go's time).", s.FastestScrypt, s.FastestFactor)
	}
	fmt.Fprintf(w, " Hash-bound limit, from all %d runs: **%.1f sign-ins/s**; every ratio to the limit uses it.",
		len(s.ScryptRunsMs)+len(s.LaterScryptRunsMs), s.LimitPerS)
	fmt.Fprint(w, "\n\n")
	header := "| | " + strings.Join(names(s.Servers), " | ") + " |"
	align := "|---|" + strings.Repeat("--:|", len(s.Servers))
	if len(s.Servers) == 2 {
		header += " auth_gate ÷ better-auth |"
		align += "--:|"
	}
	fmt.Fprintln(w, header)
	fmt.Fprintln(w, align)
	row := func(label string, get func(*signInServer) (string, float64, bool), ratio bool) {
		cells := []string{label}
		var vals []float64
		okAll := true
		for _, srv := range s.Servers {
			txt, v, ok := get(srv)
			if !ok {
				txt = "n/a"
			}
			cells = append(cells, txt)
			vals = append(vals, v)
			okAll = okAll && ok
		}
		if len(s.Servers) == 2 {
			if ratio && okAll && vals[1] > 0 {
				cells = append(cells, fmt.Sprintf("%.2f", vals[0]/vals[1]))
			} else {
				cells = append(cells, "")
			}
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	}
	closed := func(fn func(*closedSignIn) (string, float64)) func(*signInServer) (string, float64, bool) {
		return func(v *signInServer) (string, float64, bool) {
			if v.Closed == nil {
				return "", 0, false
			}
			t, x := fn(v.Closed)
			return t, x, true
		}
	}
	open := func(half bool, fn func(*openSignIn) (string, float64)) func(*signInServer) (string, float64, bool) {
		return func(v *signInServer) (string, float64, bool) {
			o := v.Over
			if half {
				o = v.Half
			}
			if o == nil {
				return "", 0, false
			}
			t, x := fn(o)
			return t, x, true
		}
	}
	gs := func(fn func(*getSessionStat) (string, float64)) func(*signInServer) (string, float64, bool) {
		return func(v *signInServer) (string, float64, bool) {
			if v.GetSession == nil {
				return "", 0, false
			}
			t, x := fn(v.GetSession)
			return t, x, true
		}
	}
	row(fmt.Sprintf("sign-ins/s, closed loop, concurrency %d", signInConcurrency), closed(func(c *closedSignIn) (string, float64) {
		return f(c.PerS, 1), c.PerS
	}), true)
	row("… ÷ hash-bound limit", closed(func(c *closedSignIn) (string, float64) { return f(c.RatioToLimit, 2), c.RatioToLimit }), false)
	row("… p50 / p99 ms", closed(func(c *closedSignIn) (string, float64) {
		return f(c.P50Ms, 0) + " / " + f(c.P99Ms, 0), c.P99Ms
	}), false)
	row("… server CPU ms per sign-in", closed(func(c *closedSignIn) (string, float64) {
		if c.CPUMsPerReq == nil {
			return "n/a", 0
		}
		return f(*c.CPUMsPerReq, 1), *c.CPUMsPerReq
	}), true)
	row("… errors", closed(func(c *closedSignIn) (string, float64) {
		return errs(c.Errors+c.Shed, c.ErrorStatuses), 0
	}), false)
	if len(s.Servers) > 0 && s.Servers[0].Half != nil {
		h := s.Servers[0].Half
		row(fmt.Sprintf("open loop at %.1f/s (%.2f × limit): p50 ms", h.RatePerS, h.RateRatio), open(true, func(o *openSignIn) (string, float64) { return f(o.P50Ms, 0), o.P50Ms }), true)
		row("… p95 ms", open(true, func(o *openSignIn) (string, float64) { return f(o.P95Ms, 0), o.P95Ms }), true)
		row("… errors", open(true, func(o *openSignIn) (string, float64) {
			return errs(o.Errors+o.Shed, o.ErrorStatuses), 0
		}), false)
	}
	if len(s.Servers) > 0 && s.Servers[0].Over != nil {
		o := s.Servers[0].Over
		row(fmt.Sprintf("open loop at %.1f/s (%.2f × limit): answered ≤ 2 s (200, or 503 + Retry-After)", o.RatePerS, o.RateRatio),
			open(false, func(o *openSignIn) (string, float64) { return f(100*o.AnsweredShare, 1) + " %", o.AnsweredShare }), false)
		row("… 200 / 503 / other, of scheduled", open(false, func(o *openSignIn) (string, float64) {
			return fmt.Sprintf("%d / %d / %d of %d", o.OK, o.Shed, o.Errors, o.Scheduled), 0
		}), false)
		row("… p50 / p95 / max ms of answers", open(false, func(o *openSignIn) (string, float64) {
			return f(o.P50Ms, 0) + " / " + f(o.P95Ms, 0) + " / " + f(o.MaxMs, 0), 0
		}), false)
		row("… goodput, sign-ins/s (200 within 2 s)", open(false, func(o *openSignIn) (string, float64) { return f(o.GoodputPerS, 1), o.GoodputPerS }), true)
		row("… goodput ÷ hash-bound limit", open(false, func(o *openSignIn) (string, float64) { return f(o.GoodputRatio, 2), o.GoodputRatio }), false)
		row("… all 200s per second of arrival, however late", open(false, func(o *openSignIn) (string, float64) { return f(o.OKPerS, 1), o.OKPerS }), true)
	}
	row(fmt.Sprintf("get-session req/s, concurrency %d", getSessionConc), gs(func(g *getSessionStat) (string, float64) { return f(g.PerS, 0), g.PerS }), true)
	row("… p50 / p99 ms", gs(func(g *getSessionStat) (string, float64) {
		return f(g.P50Ms, 2) + " / " + f(g.P99Ms, 2), 0
	}), false)
	row("… errors", gs(func(g *getSessionStat) (string, float64) { return strconv.FormatUint(g.Errors, 10), 0 }), false)
	fmt.Fprintln(w)
}

// rebase computes every ratio to the limit from the runs of the whole leg.
func (s *signInLegReport) rebase() {
	all := append(slices.Clone(s.ScryptRunsMs), s.LaterScryptRunsMs...)
	if len(all) == 0 {
		return
	}
	factor := s.FastestFactor
	if factor <= 0 {
		factor = 1
	}
	s.LimitPerS = float64(s.CPUs) / (medianFloat(all) / 1e3 * factor)
	for _, srv := range s.Servers {
		if c := srv.Closed; c != nil {
			c.RatioToLimit = c.PerS / s.LimitPerS
		}
		for _, o := range []*openSignIn{srv.Half, srv.Over} {
			if o != nil {
				o.RateRatio = o.RatePerS / s.LimitPerS
				o.GoodputRatio = o.GoodputPerS / s.LimitPerS
			}
		}
	}
}

// limitDrifted reports whether scrypt's time later in the leg strayed by
// more than a fifth from the time the limit was computed from.
func limitDrifted(s *signInLegReport) bool {
	if s.LaterScryptMs == 0 || s.ScryptMs == 0 {
		return false
	}
	q := s.LaterScryptMs / s.ScryptMs
	return q < 0.8 || q > 1.25
}

func names(ss []*signInServer) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.Name)
	}
	return out
}

func joinFloats(vs []float64, prec int) string {
	var parts []string
	for _, v := range vs {
		parts = append(parts, f(v, prec))
	}
	return strings.Join(parts, ", ")
}

// ---------------------------------------------------------------- machine

func describeMachine() machine {
	m := machine{
		CPU:          cpuModel(),
		CPUs:         runtime.NumCPU(),
		Go:           runtime.Version(),
		Date:         time.Now().UTC().Format("2006-01-02 15:04 UTC"),
		LoadAvgStart: loadAvg(),
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// loadAvg is the 1, 5 and 15-minute load average: how busy the machine
// was apart from this run.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "n/a"
	}
	fields := strings.Fields(string(b))
	if len(fields) < 3 {
		return "n/a"
	}
	return strings.Join(fields[:3], " ")
}

func settingsOf(c config) settings {
	return settings{
		SliceMs:     float64(c.duration) / 1e6,
		Rounds:      c.rounds,
		Concurrency: c.concurrency,
		Legs:        c.legs,
		Peer:        c.peer,
	}
}

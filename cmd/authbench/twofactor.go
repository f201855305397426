package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base32"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The two-factor leg (--legs twofactor) measures POST
// /auth/two-factor/verify-totp, which checks a code and costs no password
// hash, at --twofactor-rate requests/s in an open loop, on sites of its own
// (one per store) with `two_factor` on:
//
//   - sign-in: each request completes a sign-in detour, prepared before the
//     slice by a password sign-in of an enrolled user (the scrypt is paid
//     there, not in the slice): the signed two_factor cookie, the
//     challenge's rows, the try counter, the new session;
//   - session: verify-totp with a session, as an app checks a code of a
//     signed-in user;
//   - baseline: GET /auth/get-session with a session at the same rate, what
//     a request that reads the store costs on this machine at that moment.
//
// Codes are computed here (RFC 6238) from the secret that enrolment
// returned, as an authenticator app would.

const (
	twoFactorPool = 8 // enrolled users per site; the detours rotate through them
	// twoFactorPrepConc is the concurrency of the password sign-ins that
	// prepare the detours: each is an scrypt.
	twoFactorPrepConc = 2
)

type twoFactorSite struct {
	store  string
	base   string
	client *http.Client
	users  []twoFactorUser
	next   atomic.Uint64
}

type twoFactorUser struct {
	email, secret, cookie string
}

type twoFactorLegReport struct {
	RatePerS float64                `json:"rate_per_s"`
	Users    int                    `json:"users"`
	Sites    []*twoFactorSiteReport `json:"sites"`
}

type twoFactorSiteReport struct {
	Store    string         `json:"store"`
	SignIn   *twoFactorStat `json:"sign_in_detour,omitempty"`
	Session  *twoFactorStat `json:"with_session,omitempty"`
	Baseline *twoFactorStat `json:"baseline_get_session,omitempty"`
}

type twoFactorStat struct {
	Scheduled     int               `json:"scheduled"`
	Sent          int               `json:"sent"`
	OK            uint64            `json:"ok"`
	Errors        uint64            `json:"errors"`
	ErrorStatuses map[string]uint64 `json:"error_statuses,omitempty"`
	P50Ms         float64           `json:"p50_ms"`
	P95Ms         float64           `json:"p95_ms"`
	P99Ms         float64           `json:"p99_ms"`
	LateP99Ms     float64           `json:"generator_late_p99_ms"`
}

func twoFactorStatOf(res *openResult) *twoFactorStat {
	return &twoFactorStat{
		Scheduled: res.scheduled, Sent: res.sent, OK: res.tally.ok, Errors: res.tally.failed,
		ErrorStatuses: statuses(&res.tally),
		P50Ms:         ms(res.hist.quantile(0.50)), P95Ms: ms(res.hist.quantile(0.95)), P99Ms: ms(res.hist.quantile(0.99)),
		LateP99Ms: ms(res.late.quantile(0.99)),
	}
}

// twoFactorSites adds the leg's sites to the Caddyfile being built.
func (b *bench) twoFactorSites(ctx context.Context, dbs map[string]string, upstream string, sites *strings.Builder, addrs *[]string) error {
	for _, db := range []string{"pg", "sqlite"} {
		if dbs[db] == "" {
			continue
		}
		// A database of its own, so that the schema two_factor adds does
		// not change what the other legs measure.
		dsn := strings.TrimSuffix(dbs[db], "auth.db") + "twofactor.db"
		if db == "pg" {
			var drop func() error
			var err error
			if dsn, drop, err = createDatabase(ctx, b.cfg.database); err != nil {
				return err
			}
			b.cleanups = append(b.cleanups, func() {
				if err := drop(); err != nil {
					logf("%v", err)
				}
			})
		}
		port, err := freePort()
		if err != nil {
			return err
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		base := "http://" + addr
		*addrs = append(*addrs, addr)
		store := map[string]string{"pg": "PostgreSQL", "sqlite": "SQLite"}[db]
		s := &twoFactorSite{store: store, base: base, client: newClient()}
		b.twoFactor = append(b.twoFactor, s)
		b.cleanups = append(b.cleanups, s.client.CloseIdleConnections)
		fmt.Fprintf(sites, "\n%s {\n\tauth_gate {\n\t\tdatabase %s\n\t\tsecret %s\n\t\trate_limit off\n\t\tbase_url %s\n\t\ttwo_factor\n\t}\n\treverse_proxy %s\n}\n",
			base, dsn, benchSecret, base, upstream)
	}
	return nil
}

// totpCode is RFC 6238 with Better Auth's parameters: SHA-1, 6 digits, 30 s.
func totpCode(secret string, at time.Time) (string, error) {
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	if err != nil {
		return "", fmt.Errorf("TOTP secret: %w", err)
	}
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(at.Unix()/30))
	m := hmac.New(sha1.New, key)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	n := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	return fmt.Sprintf("%06d", n%1_000_000), nil
}

// tfPost posts a JSON body with the site's Origin and the given cookie, and
// returns the answer's status, body and cookies.
func (s *twoFactorSite) post(ctx context.Context, path, cookie string, body any) (int, []byte, []*http.Cookie, error) {
	raw, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base+path, bytes.NewReader(raw))
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", s.base)
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, b, resp.Cookies(), err
}

func cookieOf(cs []*http.Cookie, name string) string {
	for _, c := range cs {
		if c.Name == name && c.Value != "" {
			return c.Name + "=" + c.Value
		}
	}
	return ""
}

// enrol signs a user up and turns two-factor on, as an app would.
func (s *twoFactorSite) enrol(ctx context.Context, email string) (twoFactorUser, error) {
	cookie, err := signUp(ctx, s.client, s.base, "Two-factor bench", email)
	if err != nil {
		return twoFactorUser{}, err
	}
	status, body, _, err := s.post(ctx, "/auth/two-factor/enable", cookie, map[string]string{"password": benchPassword})
	if err != nil || status != http.StatusOK {
		return twoFactorUser{}, fmt.Errorf("enable: %d %s %v", status, body, err)
	}
	var en struct {
		TOTPURI string `json:"totpURI"`
	}
	if err := json.Unmarshal(body, &en); err != nil {
		return twoFactorUser{}, fmt.Errorf("enable: %w", err)
	}
	u, err := url.Parse(en.TOTPURI)
	if err != nil {
		return twoFactorUser{}, fmt.Errorf("enable: %w", err)
	}
	user := twoFactorUser{email: email, secret: u.Query().Get("secret")}
	code, err := totpCode(user.secret, time.Now())
	if err != nil {
		return twoFactorUser{}, err
	}
	status, body, cs, err := s.post(ctx, "/auth/two-factor/verify-totp", cookie, map[string]string{"code": code})
	if err != nil || status != http.StatusOK {
		return twoFactorUser{}, fmt.Errorf("first code: %d %s %v", status, body, err)
	}
	// Enabling replaced the session.
	if user.cookie = cookieOf(cs, "better-auth.session_token"); user.cookie == "" {
		return twoFactorUser{}, errors.New("first code: no new session cookie")
	}
	return user, nil
}

// detour is a sign-in waiting for its code.
type detour struct {
	user   *twoFactorUser
	cookie string // better-auth.two_factor=…
}

// prepareDetours signs in n times with the password, twoFactorPrepConc at
// a time, and returns the pending detours.
func (s *twoFactorSite) prepareDetours(ctx context.Context, n int) ([]detour, error) {
	out := make([]detour, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, twoFactorPrepConc)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			u := &s.users[i%len(s.users)]
			status, body, cs, err := s.post(ctx, "/auth/sign-in/email", "", map[string]string{"email": u.email, "password": benchPassword})
			if err != nil || status != http.StatusOK || !bytes.Contains(body, []byte(`"twoFactorRedirect":true`)) {
				errs[i] = fmt.Errorf("sign-in of an enrolled user: %d %s %v", status, body, err)
				return
			}
			out[i] = detour{user: u, cookie: cookieOf(cs, "better-auth.two_factor")}
			if out[i].cookie == "" {
				errs[i] = errors.New("sign-in of an enrolled user: no two_factor cookie")
			}
		}()
		if ctx.Err() != nil {
			break
		}
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// verifySender posts verify-totp with the cookie next() gives, a code of
// its user computed at send time; success is 200 with a token.
func (s *twoFactorSite) verifySender(next func() (*twoFactorUser, string, bool)) sendFunc {
	return func(ctx context.Context) (outcome, int) {
		u, cookie, ok := next()
		if !ok {
			return outcomeFailed, 0
		}
		code, err := totpCode(u.secret, time.Now())
		if err != nil {
			return outcomeFailed, 0
		}
		ctx, cancel := context.WithTimeout(ctx, answerWithin)
		defer cancel()
		status, body, _, err := s.post(ctx, "/auth/two-factor/verify-totp", cookie, map[string]string{"code": code})
		if err != nil || status != http.StatusOK || !bytes.Contains(body, []byte(`"token":"`)) {
			return outcomeFailed, status
		}
		return outcomeOK, status
	}
}

func (b *bench) twoFactorLeg(ctx context.Context) error {
	if len(b.twoFactor) == 0 {
		return errors.New("no two-factor site (the leg needs authbench's own Caddy, not --caddy-url)")
	}
	rate := b.cfg.twoFactorRate
	dur := 3 * b.cfg.duration
	leg := &twoFactorLegReport{RatePerS: rate, Users: twoFactorPool}
	b.rep.TwoFactor = leg
	for _, s := range b.twoFactor {
		rep := &twoFactorSiteReport{Store: s.store}
		leg.Sites = append(leg.Sites, rep)
		logf("two-factor: %s: enrolling %d users", s.store, twoFactorPool)
		for i := range twoFactorPool {
			u, err := s.enrol(ctx, benchEmail(fmt.Sprintf("twofactor-%d", i)))
			if err != nil {
				return fmt.Errorf("%s: enrol: %w", s.store, err)
			}
			s.users = append(s.users, u)
		}
		n := newSchedule(time.Now(), rate, dur).n
		logf("two-factor: %s: preparing %d sign-in detours (one scrypt each)", s.store, n)
		detours, err := s.prepareDetours(ctx, n)
		if err != nil {
			return fmt.Errorf("%s: %w", s.store, err)
		}

		var taken atomic.Int64
		res := openLoop(ctx, rate, dur, signInOutstanding, answerWithin, s.verifySender(func() (*twoFactorUser, string, bool) {
			i := taken.Add(1) - 1
			if int(i) >= len(detours) {
				return nil, "", false
			}
			return detours[i].user, detours[i].cookie, true
		}))
		rep.SignIn = twoFactorStatOf(res)

		res = openLoop(ctx, rate, dur, signInOutstanding, answerWithin, s.verifySender(func() (*twoFactorUser, string, bool) {
			u := &s.users[s.next.Add(1)%uint64(len(s.users))]
			return u, u.cookie, true
		}))
		rep.Session = twoFactorStatOf(res)

		getSession := func(ctx context.Context) (outcome, int) {
			u := &s.users[s.next.Add(1)%uint64(len(s.users))]
			return send(ctx, s.client, &probe{
				method: http.MethodGet, url: s.base + "/auth/get-session", header: http.Header{"Cookie": {u.cookie}},
				ok: func(status int, _ http.Header, body []byte) bool {
					return status == http.StatusOK && bytes.Contains(body, []byte(`"session"`))
				},
			}, answerWithin)
		}
		rep.Baseline = twoFactorStatOf(openLoop(ctx, rate, dur, signInOutstanding, answerWithin, getSession))
		logf("two-factor: %s at %.0f/s: verify-totp p95 %.1f ms completing sign-ins, %.1f ms with a session; get-session p95 %.1f ms",
			s.store, rate, rep.SignIn.P95Ms, rep.Session.P95Ms, rep.Baseline.P95Ms)
	}
	return nil
}

// twoFactorTargets: verify-totp costs no password hash, so it should
// answer like any request that reads and writes a few rows.
func twoFactorTargets(l *twoFactorLegReport, add func(target, measured string, met bool)) {
	for _, s := range l.Sites {
		if st := s.SignIn; st != nil {
			add(fmt.Sprintf("two-factor (%s): verify-totp completing a sign-in p95 ≤ 20 ms at %.0f/s", s.Store, l.RatePerS),
				fmt.Sprintf("%.1f ms (get-session p95 %.1f ms; %d errors)", st.P95Ms, s.Baseline.P95Ms, st.Errors),
				st.P95Ms <= 20 && st.Errors == 0)
		}
	}
}

func writeTwoFactor(w io.Writer, l *twoFactorLegReport) {
	fmt.Fprintf(w, "### Two-factor: POST /auth/two-factor/verify-totp at %.0f requests/s (open loop)\n\n", l.RatePerS)
	fmt.Fprintf(w, "Sign-in detour: each request completes a sign-in prepared beforehand by a password sign-in of one of %d enrolled users "+
		"(the scrypt is paid there). With a session: a signed-in user's code. Baseline: GET /auth/get-session at the same rate. "+
		"Latency from each request's due time.\n\n", l.Users)
	fmt.Fprintln(w, "| store | request | sent | p50 ms | p95 ms | p99 ms | generator late p99 ms | errors |")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|--:|--:|")
	for _, s := range l.Sites {
		for _, row := range []struct {
			name string
			st   *twoFactorStat
		}{{"verify-totp, sign-in detour", s.SignIn}, {"verify-totp, with a session", s.Session}, {"get-session (baseline)", s.Baseline}} {
			if row.st == nil {
				continue
			}
			fmt.Fprintf(w, "| %s | %s | %d/%d | %s | %s | %s | %s | %s |\n", s.Store, row.name, row.st.Sent, row.st.Scheduled,
				f(row.st.P50Ms, 2), f(row.st.P95Ms, 2), f(row.st.P99Ms, 2), f(row.st.LateP99Ms, 2), errs(row.st.Errors, row.st.ErrorStatuses))
		}
	}
	fmt.Fprintln(w)
}

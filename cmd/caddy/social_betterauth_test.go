package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/authgate/authgate/internal/testsupport"
	"github.com/authgate/authgate/internal/testsupport/fakeidp"
)

// A real Better Auth 1.7.25 server (genericOAuth, provider "corp") and the
// built binary (oidc corp) share one PostgreSQL database and one identity
// provider, as during a migration from one to the other: whoever signs up
// through the provider on one side must sign in on the other as the same
// user, through the same account row, and a password user of either side
// is linked by the same rules on both.

const baSocialSecret = e2eSecret // one secret, as a migrating app has

// authSide is one of the two servers.
type authSide struct {
	name string
	base string // origin; the API lives under /auth on both
	logs func() string
}

// socialPair is the two servers on one database and one provider.
type socialPair struct {
	provider string // "corp" or "github"
	idp      *fakeidp.Provider
	gate     authSide
	ba       authSide
	db       *sqlx.DB
	snake    bool
	layout   string
}

func startSocialPair(t *testing.T, dsn string, snake, trusted bool) *socialPair {
	t.Helper()
	idp := fakeidp.Start(t)
	up := testsupport.NewUpstream(t)
	extra := `rate_limit off
		oidc corp {
			issuer ` + idp.URL + `
			client_id ` + idp.ClientID + `
			client_secret ` + idp.ClientSecret + `
			scopes openid email profile
		}`
	if trusted {
		extra += "\n\t\ttrusted_providers corp"
	}
	gate := testsupport.StartCaddy(t, gatedSite(dsn, up.HostPort(), extra))
	idp.AllowRedirectURI(gate.BaseURL + "/auth/callback/corp")

	port := testsupport.FreePort(t)
	baBase := fmt.Sprintf("http://127.0.0.1:%d", port)
	// genericOAuth in 1.7 registers its providers with the core
	// /callback/:id, the same path as ours.
	idp.AllowRedirectURI(baBase + "/auth/callback/corp")
	cfg := testsupport.BetterAuth{
		DatabaseURL: dsn,
		Secret:      baSocialSecret,
		Port:        port,
		Plugins: map[string]any{"genericOAuth": map[string]any{"config": []any{map[string]any{
			"providerId":   "corp",
			"clientId":     idp.ClientID,
			"clientSecret": idp.ClientSecret,
			"discoveryUrl": idp.URL + "/.well-known/openid-configuration",
			"scopes":       []string{"openid", "email", "profile"},
		}}}},
	}
	if trusted {
		cfg.AccountLinking = map[string]any{"trustedProviders": []string{"corp"}}
	}
	if snake {
		cfg.Fields = testsupport.BetterAuthSnakeFields
	}
	// The tables are the ones auth_gate made (or adopted): Better Auth
	// refuses them on its first request if they do not match its schema.
	ba := testsupport.StartBetterAuth(t, cfg)
	return &socialPair{
		provider: "corp",
		idp:      idp,
		gate:     authSide{"auth_gate", gate.BaseURL, gate.Logs},
		ba:       authSide{"better-auth", ba.URL, ba.Logs},
		db:       testsupport.OpenDB(t, dsn),
		snake:    snake,
	}
}

// col is a camelCase field's column in the pair's layout.
func (p *socialPair) col(field string) string {
	if p.snake {
		return `"` + testsupport.Snake(field) + `"`
	}
	return `"` + field + `"`
}

func (p *socialPair) logs() string {
	return "--- auth_gate ---\n" + p.gate.logs() + "\n--- better-auth ---\n" + p.ba.logs()
}

// browser is one browser talking to one side: its own cookie jar (cookie
// jars ignore ports, and both sides name their cookies alike), redirects
// followed by hand.
type browser struct {
	t    *testing.T
	side authSide
	http *http.Client
}

func (p *socialPair) browser(t *testing.T, s authSide) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, side: s, http: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) send(method, rawURL, body string) (*http.Response, string) {
	b.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, rawURL, rd)
	if err != nil {
		b.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	// Better Auth refuses a POST without an Origin (the browser sends one).
	req.Header.Set("Origin", b.side.base)
	resp, err := b.http.Do(req)
	if err != nil {
		b.t.Fatalf("%s: %s %s: %v", b.side.name, method, rawURL, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp, string(out)
}

// socialSignIn runs POST /sign-in/social, the provider's authorization and
// the callback, and returns where the callback sent the browser.
func (b *browser) socialSignIn(p *socialPair) *url.URL {
	b.t.Helper()
	resp, body := b.send("POST", b.side.base+"/auth/sign-in/social",
		`{"provider":"`+p.provider+`","callbackURL":"/dashboard","errorCallbackURL":"/oops"}`)
	var start struct {
		URL      string `json:"url"`
		Redirect bool   `json:"redirect"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &start) != nil || !start.Redirect {
		b.t.Fatalf("%s: sign-in/social = %d %s\n%s", b.side.name, resp.StatusCode, body, p.logs())
	}
	// Better Auth's github provider names github.com itself: the browser
	// goes to the fake GitHub instead.
	authURL := strings.Replace(start.URL, "https://github.com/", p.idp.URL+"/", 1)
	if !strings.HasPrefix(authURL, p.idp.AuthURL()+"?") {
		b.t.Fatalf("%s: sign-in/social sends the browser to %s, want %s?…", b.side.name, start.URL, p.idp.AuthURL())
	}
	resp, _ = b.send("GET", authURL, "")
	callback := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(callback, b.side.base+"/auth/callback/"+p.provider+"?") {
		b.t.Fatalf("%s: provider answered %d, Location %q", b.side.name, resp.StatusCode, callback)
	}
	resp, body = b.send("GET", callback, "")
	if resp.StatusCode != http.StatusFound {
		b.t.Fatalf("%s: callback = %d %s\n%s", b.side.name, resp.StatusCode, body, p.logs())
	}
	to, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		b.t.Fatalf("%s: callback Location: %v", b.side.name, err)
	}
	return to
}

// signedIn checks that the callback sent the browser to /dashboard with a
// session and returns the session's user id.
func (b *browser) signedIn(p *socialPair, to *url.URL) string {
	b.t.Helper()
	if to.Path != "/dashboard" {
		b.t.Fatalf("%s: callback redirected to %s, want /dashboard\n%s", b.side.name, to, p.logs())
	}
	id := b.sessionUser()
	if id == "" {
		b.t.Fatalf("%s: no session after the callback\n%s", b.side.name, p.logs())
	}
	return id
}

// sessionUser is the user of the browser's session, "" without one.
func (b *browser) sessionUser() string {
	b.t.Helper()
	resp, body := b.send("GET", b.side.base+"/auth/get-session", "")
	var s struct {
		User struct {
			ID string `json:"id"`
		} `json:"user"`
	}
	if resp.StatusCode != http.StatusOK || (body != "null" && json.Unmarshal([]byte(body), &s) != nil) {
		b.t.Fatalf("%s: get-session = %d %s", b.side.name, resp.StatusCode, body)
	}
	return s.User.ID
}

func (b *browser) signUpEmail(email, password string) string {
	b.t.Helper()
	resp, body := b.send("POST", b.side.base+"/auth/sign-up/email",
		fmt.Sprintf(`{"name":"Pat","email":%q,"password":%q}`, email, password))
	var r struct {
		User struct {
			ID string `json:"id"`
		} `json:"user"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &r) != nil || r.User.ID == "" {
		b.t.Fatalf("%s: sign-up/email = %d %s", b.side.name, resp.StatusCode, body)
	}
	return r.User.ID
}

func (b *browser) signInEmail(email, password string) string {
	b.t.Helper()
	resp, body := b.send("POST", b.side.base+"/auth/sign-in/email",
		fmt.Sprintf(`{"email":%q,"password":%q}`, email, password))
	var r struct {
		User struct {
			ID string `json:"id"`
		} `json:"user"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &r) != nil || r.User.ID == "" {
		b.t.Fatalf("%s: sign-in/email = %d %s", b.side.name, resp.StatusCode, body)
	}
	return r.User.ID
}

// accountRow is a provider's account row as either side wrote it.
type accountRow struct {
	ID, UserID, ProviderID, AccountID       string
	AccessToken, RefreshToken, IDToken      *string
	AccessTokenExpiresAt, RefreshTokenExpAt *time.Time
	Scope, Password                         *string
	CreatedAt, UpdatedAt                    time.Time
}

func (p *socialPair) accounts(t *testing.T, userID string) []accountRow {
	t.Helper()
	c := p.col
	rows, err := p.db.Query(`SELECT "id", `+c("userId")+`, `+c("providerId")+`, `+c("accountId")+`, `+
		c("accessToken")+`, `+c("refreshToken")+`, `+c("idToken")+`, `+c("accessTokenExpiresAt")+`, `+
		c("refreshTokenExpiresAt")+`, "scope", "password", `+c("createdAt")+`, `+c("updatedAt")+
		` FROM "account" WHERE `+c("userId")+` = $1 ORDER BY `+c("providerId"), userID)
	if err != nil {
		t.Fatalf("read accounts: %v", err)
	}
	defer rows.Close()
	var out []accountRow
	for rows.Next() {
		var a accountRow
		if err := rows.Scan(&a.ID, &a.UserID, &a.ProviderID, &a.AccountID, &a.AccessToken, &a.RefreshToken, &a.IDToken,
			&a.AccessTokenExpiresAt, &a.RefreshTokenExpAt, &a.Scope, &a.Password, &a.CreatedAt, &a.UpdatedAt); err != nil {
			t.Fatalf("read accounts: %v", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("read accounts: %v", err)
	}
	return out
}

// corpAccount is the user's only account row of the pair's provider.
func (p *socialPair) corpAccount(t *testing.T, userID, sub string) accountRow {
	t.Helper()
	var corp []accountRow
	for _, a := range p.accounts(t, userID) {
		if a.ProviderID == p.provider {
			corp = append(corp, a)
		}
	}
	var n int
	if err := p.db.Get(&n, `SELECT count(*) FROM "account" WHERE `+p.col("providerId")+` = $1 AND `+p.col("accountId")+` = $2`, p.provider, sub); err != nil {
		t.Fatal(err)
	}
	if len(corp) != 1 || n != 1 || corp[0].AccountID != sub {
		t.Fatalf("user %s has %s accounts %+v; %d rows for subject %s, want exactly one", userID, p.provider, corp, n, sub)
	}
	return corp[0]
}

func (p *socialPair) usersWithEmail(t *testing.T, email string) int {
	t.Helper()
	var n int
	if err := p.db.Get(&n, `SELECT count(*) FROM "user" WHERE "email" = $1`, email); err != nil {
		t.Fatal(err)
	}
	return n
}

type userRow struct {
	Name          string
	EmailVerified bool
	Image         *string
}

func (p *socialPair) user(t *testing.T, id string) userRow {
	t.Helper()
	var u userRow
	if err := p.db.QueryRow(`SELECT "name", `+p.col("emailVerified")+`, "image" FROM "user" WHERE "id" = $1`, id).
		Scan(&u.Name, &u.EmailVerified, &u.Image); err != nil {
		t.Fatalf("read user %s: %v", id, err)
	}
	return u
}

func str(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// scopeSet is a stored scope as a sorted list: the sides may request the
// same scopes in another order.
func scopeSet(s *string) string {
	if s == nil {
		return "<nil>"
	}
	parts := strings.Split(*s, ",")
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

// checkRefreshed checks that a sign-in on the other side stored the new
// tokens on the same row as Better Auth's updateAccountOnSignIn does: the
// tokens and their expiry replaced, the scope left alone.
func checkRefreshed(t *testing.T, side string, before, after accountRow) {
	t.Helper()
	if after.ID != before.ID || after.UserID != before.UserID || !after.CreatedAt.Equal(before.CreatedAt) {
		t.Errorf("%s: account row %s/%s became %s/%s", side, before.ID, before.UserID, after.ID, after.UserID)
	}
	for _, f := range []struct {
		name       string
		old, fresh *string
	}{{"accessToken", before.AccessToken, after.AccessToken}, {"refreshToken", before.RefreshToken, after.RefreshToken}, {"idToken", before.IDToken, after.IDToken}} {
		if f.fresh == nil || *f.fresh == "" || str(f.fresh) == str(f.old) {
			t.Errorf("%s: %s %s after a sign-in, was %s: want the new token", side, f.name, str(f.fresh), str(f.old))
		}
	}
	if after.AccessTokenExpiresAt == nil || before.AccessTokenExpiresAt == nil || !after.AccessTokenExpiresAt.After(*before.AccessTokenExpiresAt) {
		t.Errorf("%s: accessTokenExpiresAt %v after a sign-in, was %v: want a later one", side, after.AccessTokenExpiresAt, before.AccessTokenExpiresAt)
	}
	if str(after.Scope) != str(before.Scope) {
		t.Errorf("%s: scope %s after a sign-in, was %s: Better Auth leaves it alone", side, str(after.Scope), str(before.Scope))
	}
	if !after.UpdatedAt.After(before.UpdatedAt) {
		t.Errorf("%s: updatedAt %v after a sign-in, was %v", side, after.UpdatedAt, before.UpdatedAt)
	}
}

// prepareLayout gives the database its tables: Better Auth's own (camel)
// are made by auth_gate at start; the snake_case ones are Drizzle's, made
// beforehand as the app's own migration did.
func prepareLayout(t *testing.T, dsn string, snake bool) {
	t.Helper()
	if !snake {
		return
	}
	db := testsupport.OpenDB(t, dsn)
	for _, q := range testsupport.DrizzlePostgresDDL {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("drizzle DDL: %v", err)
		}
	}
}

var layouts = []struct {
	name  string
	snake bool
}{{"camel", false}, {"snake", true}}

func TestBetterAuthCompat_SocialSignInSharesUsersAndAccounts(t *testing.T) {
	for _, lay := range layouts {
		t.Run(lay.name, func(t *testing.T) {
			dsn := testsupport.PostgresDSN(t)
			prepareLayout(t, dsn, lay.snake)
			p := startSocialPair(t, dsn, lay.snake, false)
			picture := "https://example.com/p.png"

			for _, dir := range []struct {
				first, then authSide
			}{{p.ba, p.gate}, {p.gate, p.ba}} {
				t.Run("sign up on "+dir.first.name+", sign in on "+dir.then.name, func(t *testing.T) {
					sub := "sub-" + dir.first.name
					email := "first-" + strings.ReplaceAll(dir.first.name, "_", "-") + "@example.com"
					p.idp.SetUser(fakeidp.User{Sub: sub, Email: email, EmailVerified: true, Name: "Sam " + dir.first.name, Picture: picture})

					first := p.browser(t, dir.first)
					userID := first.signedIn(p, first.socialSignIn(p))
					if n := p.usersWithEmail(t, email); n != 1 {
						t.Fatalf("%d users with %s after the sign-up", n, email)
					}
					if u := p.user(t, userID); u.Name != "Sam "+dir.first.name || !u.EmailVerified || str(u.Image) != picture {
						t.Errorf("user made by %s: %+v", dir.first.name, u)
					}
					made := p.corpAccount(t, userID, sub)
					if made.AccessToken == nil || made.RefreshToken == nil || made.IDToken == nil || made.AccessTokenExpiresAt == nil ||
						made.RefreshTokenExpAt != nil || made.Password != nil || scopeSet(made.Scope) != "email,openid,profile" {
						t.Errorf("account row made by %s: %+v (scope %s)", dir.first.name, made, str(made.Scope))
					}

					// A second apart, so that updatedAt and the expiry move.
					time.Sleep(1100 * time.Millisecond)
					then := p.browser(t, dir.then)
					if got := then.signedIn(p, then.socialSignIn(p)); got != userID {
						t.Fatalf("%s signed the provider's user in as %s, want %s (made by %s)", dir.then.name, got, userID, dir.first.name)
					}
					if n := p.usersWithEmail(t, email); n != 1 {
						t.Fatalf("%d users with %s after the sign-in on %s", n, email, dir.then.name)
					}
					checkRefreshed(t, dir.then.name, made, p.corpAccount(t, userID, sub))

					// And back: the first side reads the row the other updated.
					again := p.browser(t, dir.first)
					if got := again.signedIn(p, again.socialSignIn(p)); got != userID {
						t.Fatalf("%s signed in as %s after %s's sign-in, want %s", dir.first.name, got, dir.then.name, userID)
					}
					if accs := p.accounts(t, userID); len(accs) != 1 {
						t.Errorf("user %s has accounts %+v, want the corp one alone", userID, accs)
					}
				})
			}
		})
	}
}

// A user who signed up while the provider did not vouch for the address
// is marked verified on a later sign-in where it does, on either side
// (Better Auth's handleOAuthUserInfo does so for an account already linked).
func TestBetterAuthCompat_SocialSignInVerifiesTheEmailLater(t *testing.T) {
	dsn := testsupport.PostgresDSN(t)
	p := startSocialPair(t, dsn, false, false)
	for _, dir := range []struct{ first, then authSide }{{p.ba, p.gate}, {p.gate, p.ba}} {
		t.Run("sign up on "+dir.first.name+", sign in on "+dir.then.name, func(t *testing.T) {
			email := "Later-" + strings.ReplaceAll(dir.then.name, "_", "-") + "@Example.com"
			u := fakeidp.User{Sub: "sub-later-" + dir.then.name, Email: email, Name: "Lee"}
			p.idp.SetUser(u)
			first := p.browser(t, dir.first)
			userID := first.signedIn(p, first.socialSignIn(p))
			if p.user(t, userID).EmailVerified {
				t.Fatalf("%s: the user is verified though the provider did not say so", dir.first.name)
			}
			u.EmailVerified = true
			p.idp.SetUser(u)
			then := p.browser(t, dir.then)
			if got := then.signedIn(p, then.socialSignIn(p)); got != userID {
				t.Fatalf("%s: signed in as %s, want %s", dir.then.name, got, userID)
			}
			if !p.user(t, userID).EmailVerified {
				t.Errorf("%s: emailVerified still false after a sign-in where the provider verified the address", dir.then.name)
			}
		})
	}
}

// A password user of either side meets a provider sign-in with the same
// email on either side: both sides link, or both refuse, by Better Auth's
// rules (the provider vouches for the address or is trusted, and the local
// user verified it).
func TestBetterAuthCompat_SocialSignInLinksPasswordUsersByTheSameRules(t *testing.T) {
	cases := []struct {
		name             string
		trusted          bool
		localVerified    bool
		providerVerified bool
		link             bool
	}{
		{"both verified", false, true, true, true},
		{"local email unverified", false, false, true, false},
		{"provider does not vouch", false, true, false, false},
		{"trusted provider that does not vouch", true, true, false, true},
		{"trusted provider, local email unverified", true, false, false, false},
	}
	for _, lay := range layouts {
		t.Run(lay.name, func(t *testing.T) {
			for _, trusted := range []bool{false, true} {
				dsn := testsupport.PostgresDSN(t)
				prepareLayout(t, dsn, lay.snake)
				p := startSocialPair(t, dsn, lay.snake, trusted)
				for i, tc := range cases {
					if tc.trusted != trusted {
						continue
					}
					for _, pw := range []authSide{p.ba, p.gate} {
						for _, via := range []authSide{p.ba, p.gate} {
							name := fmt.Sprintf("%s/password on %s, provider on %s", tc.name, pw.name, via.name)
							t.Run(name, func(t *testing.T) {
								email := fmt.Sprintf("pw-%d-%s-%s@example.com", i, pw.name[:4], via.name[:4])
								sub := "sub-" + email
								const password = "password-123456"
								userID := p.browser(t, pw).signUpEmail(email, password)
								if tc.localVerified {
									if _, err := p.db.Exec(`UPDATE "user" SET `+p.col("emailVerified")+` = true WHERE "id" = $1`, userID); err != nil {
										t.Fatal(err)
									}
								}
								p.idp.SetUser(fakeidp.User{Sub: sub, Email: email, EmailVerified: tc.providerVerified, Name: "Provider Name"})
								b := p.browser(t, via)
								to := b.socialSignIn(p)
								if !tc.link {
									if to.Path != "/oops" || to.Query().Get("error") != "account_not_linked" {
										t.Fatalf("%s: callback redirected to %s, want /oops?error=account_not_linked\n%s", via.name, to, p.logs())
									}
									if got := b.sessionUser(); got != "" {
										t.Errorf("%s: a session for %s after a refused link", via.name, got)
									}
									if accs := p.accounts(t, userID); len(accs) != 1 || accs[0].ProviderID != "credential" {
										t.Errorf("accounts after a refused link: %+v", accs)
									}
									return
								}
								if got := b.signedIn(p, to); got != userID {
									t.Fatalf("%s: signed in as %s, want the password user %s", via.name, got, userID)
								}
								if n := p.usersWithEmail(t, email); n != 1 {
									t.Fatalf("%d users with %s", n, email)
								}
								accs := p.accounts(t, userID)
								if len(accs) != 2 || accs[0].ProviderID != "corp" || accs[0].AccountID != sub || accs[1].ProviderID != "credential" {
									t.Fatalf("accounts after the link: %+v", accs)
								}
								if u := p.user(t, userID); u.Name != "Pat" || !u.EmailVerified {
									t.Errorf("user after the link: %+v, want the local name kept and the email verified", u)
								}
								// The password still works, on both sides; the
								// provider signs in on the other side too.
								for _, s := range []authSide{p.ba, p.gate} {
									if got := p.browser(t, s).signInEmail(email, password); got != userID {
										t.Errorf("%s: password sign-in as %s, want %s", s.name, got, userID)
									}
									sb := p.browser(t, s)
									if got := sb.signedIn(p, sb.socialSignIn(p)); got != userID {
										t.Errorf("%s: provider sign-in as %s, want %s", s.name, got, userID)
									}
								}
							})
						}
					}
				}
			}
		})
	}
}

// The same through GitHub: Better Auth's own github provider (its endpoints
// sent to a fake GitHub) and `social github` pointed at the same fake.
// GitHub's subject is the numeric user id, which both must store as the
// same text; the address is the public one or, when private, the primary
// one of /user/emails.
func TestBetterAuthCompat_GitHubSignInSharesUsersAndAccounts(t *testing.T) {
	for _, lay := range layouts {
		t.Run(lay.name, func(t *testing.T) {
			dsn := testsupport.PostgresDSN(t)
			prepareLayout(t, dsn, lay.snake)
			idp := fakeidp.Start(t, fakeidp.GitHub())
			up := testsupport.NewUpstream(t)
			gate := testsupport.StartCaddy(t, gatedSite(dsn, up.HostPort(), `rate_limit off
		social github {
			client_id `+idp.ClientID+`
			client_secret `+idp.ClientSecret+`
			authorization_url `+idp.AuthURL()+`
			token_url `+idp.TokenURL()+`
			userinfo_url `+idp.UserinfoURL()+`
		}`))
			idp.AllowRedirectURI(gate.BaseURL + "/auth/callback/github")
			port := testsupport.FreePort(t)
			idp.AllowRedirectURI(fmt.Sprintf("http://127.0.0.1:%d/auth/callback/github", port))
			cfg := testsupport.BetterAuth{
				DatabaseURL: dsn, Secret: baSocialSecret, Port: port, GitHubURL: idp.URL,
				SocialProviders: map[string]any{"github": map[string]any{"clientId": idp.ClientID, "clientSecret": idp.ClientSecret}},
			}
			if lay.snake {
				cfg.Fields = testsupport.BetterAuthSnakeFields
			}
			ba := testsupport.StartBetterAuth(t, cfg)
			p := &socialPair{provider: "github", idp: idp, snake: lay.snake, db: testsupport.OpenDB(t, dsn),
				gate: authSide{"auth_gate", gate.BaseURL, gate.Logs}, ba: authSide{"better-auth", ba.URL, ba.Logs}}

			var ghID int64 = 4200
			for _, private := range []bool{false, true} {
				for _, dir := range []struct{ first, then authSide }{{p.ba, p.gate}, {p.gate, p.ba}} {
					ghID++
					email := fmt.Sprintf("octo-%d@example.com", ghID)
					u := fakeidp.User{GitHubID: ghID, Login: fmt.Sprintf("octo%d", ghID), Name: "Octo Cat", Email: email,
						EmailVerified: true, Picture: "https://example.com/octo.png"}
					if private {
						u.PrivateEmail = true
						u.Emails = []fakeidp.GitHubEmail{
							{Email: fmt.Sprintf("other-%d@example.com", ghID), Verified: true},
							{Email: email, Primary: true, Verified: true},
						}
					}
					name := fmt.Sprintf("private email %v, sign up on %s, sign in on %s", private, dir.first.name, dir.then.name)
					t.Run(name, func(t *testing.T) {
						p.idp.SetUser(u)
						sub := fmt.Sprint(ghID)
						first := p.browser(t, dir.first)
						userID := first.signedIn(p, first.socialSignIn(p))
						if n := p.usersWithEmail(t, email); n != 1 {
							t.Fatalf("%d users with %s after the sign-up on %s", n, email, dir.first.name)
						}
						if got := p.user(t, userID); got.Name != "Octo Cat" || !got.EmailVerified || str(got.Image) != u.Picture {
							t.Errorf("user made by %s: %+v", dir.first.name, got)
						}
						made := p.corpAccount(t, userID, sub)
						if made.AccessToken == nil || made.RefreshToken != nil || made.IDToken != nil || made.AccessTokenExpiresAt != nil ||
							scopeSet(made.Scope) != "read:user,user:email" {
							t.Errorf("account row made by %s: %+v (scope %s)", dir.first.name, made, str(made.Scope))
						}
						time.Sleep(1100 * time.Millisecond)
						then := p.browser(t, dir.then)
						if got := then.signedIn(p, then.socialSignIn(p)); got != userID {
							t.Fatalf("%s signed the GitHub user in as %s, want %s (made by %s)", dir.then.name, got, userID, dir.first.name)
						}
						after := p.corpAccount(t, userID, sub)
						if after.ID != made.ID || str(after.AccessToken) == str(made.AccessToken) || str(after.Scope) != str(made.Scope) || !after.UpdatedAt.After(made.UpdatedAt) {
							t.Errorf("%s: account row after its sign-in %+v, was %+v: want the same row, a new access token, the scope kept", dir.then.name, after, made)
						}
						if n := p.usersWithEmail(t, email); n != 1 {
							t.Fatalf("%d users with %s", n, email)
						}
					})
				}
			}
		})
	}
}

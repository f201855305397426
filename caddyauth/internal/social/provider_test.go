package social

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/testsupport/fakeidp"
)

const redirect = "https://app.example.com/auth/callback/"

// newFor configures a provider of kind against idp: generic OIDC by
// discovery from the fake's issuer, the built-in kinds by endpoint overrides.
func newFor(t *testing.T, kind Kind, idp *fakeidp.Provider, edit ...func(*Config)) *Provider {
	t.Helper()
	cfg := Config{ID: string(kind), Kind: kind, ClientID: idp.ClientID, ClientSecret: idp.ClientSecret}
	switch kind {
	case KindOIDC:
		cfg.Issuer = idp.URL
		cfg.Scopes = []string{"email", "profile"}
	case KindGitHub:
		cfg.AuthorizationURL, cfg.TokenURL, cfg.UserinfoURL = idp.AuthURL(), idp.TokenURL(), idp.UserinfoURL()
	default:
		cfg.AuthorizationURL, cfg.TokenURL, cfg.JWKSURL = idp.AuthURL(), idp.TokenURL(), idp.JWKSURL()
		cfg.Issuer = idp.URL
	}
	for _, e := range edit {
		e(&cfg)
	}
	p, err := New(t.Context(), cfg, redirect+cfg.ID, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	idp.AllowRedirectURI(redirect + cfg.ID)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := p.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	return p
}

// flow is one sign-in's secrets, as the state cookie carries them.
type flow struct{ state, verifier, nonce string }

func newFlow() flow {
	return flow{RandomString(StateLength), RandomString(VerifierLength), RandomString(NonceLength)}
}

// authorize sends the browser to the provider and returns the code it is
// redirected back with, after checking the redirect carries the state.
func authorize(t *testing.T, p *Provider, f flow, o AuthOptions) string {
	t.Helper()
	nonce := ""
	if p.RequiresNonce() {
		nonce = f.nonce
	}
	u, err := p.AuthCodeURL(f.state, f.verifier, nonce, o)
	if err != nil {
		t.Fatalf("AuthCodeURL: %v", err)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Get(u)
	if err != nil {
		t.Fatalf("authorize: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusFound {
		t.Fatalf("authorize: status %d, want 302", res.StatusCode)
	}
	loc, err := url.Parse(res.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != redirect+p.ID() {
		t.Fatalf("redirected to %s, want %s", got, redirect+p.ID())
	}
	q := loc.Query()
	if q.Get("error") != "" || q.Get("state") != f.state || q.Get("code") == "" {
		t.Fatalf("callback query %v", q)
	}
	if err := p.CheckIssuerParam(q.Get("iss")); err != nil {
		t.Fatalf("iss parameter: %v", err)
	}
	return q.Get("code")
}

func exchange(t *testing.T, p *Provider, f flow) (Profile, Tokens, error) {
	t.Helper()
	code := authorize(t, p, f, AuthOptions{})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	nonce := ""
	if p.RequiresNonce() {
		nonce = f.nonce
	}
	return p.Exchange(ctx, code, f.verifier, nonce)
}

func TestCodeFlow(t *testing.T) {
	user := fakeidp.DefaultUser
	for _, tc := range []struct {
		name      string
		kind      Kind
		github    bool
		user      func(*fakeidp.User)
		scope     string // as sent to /authorize
		nonce     bool
		want      Profile
		wantScope string // as stored in account.scope
		refresh   bool
	}{
		{
			name: "generic oidc by discovery", kind: KindOIDC, scope: "openid email profile", nonce: true,
			want:      Profile{Subject: user.Sub, Email: user.Email, EmailVerified: true, Name: user.Name, Image: user.Picture},
			wantScope: "openid,email,profile", refresh: true,
		},
		{
			name: "google", kind: KindGoogle, scope: "email profile openid",
			want:      Profile{Subject: user.Sub, Email: user.Email, EmailVerified: true, Name: user.Name, Image: user.Picture},
			wantScope: "email,profile,openid", refresh: true,
		},
		{
			name: "microsoft keys the account by oid", kind: KindMicrosoft,
			user:      func(u *fakeidp.User) { u.Claims = map[string]any{"oid": "00000000-oid", "tid": "tenant-1"} },
			scope:     "openid profile email User.Read offline_access",
			want:      Profile{Subject: "00000000-oid", Email: user.Email, EmailVerified: true, Name: user.Name, Image: user.Picture},
			wantScope: "openid,profile,email,User.Read,offline_access", refresh: true,
		},
		{
			name: "github public email", kind: KindGitHub, github: true, scope: "read:user user:email",
			want:      Profile{Subject: "1001", Email: user.Email, EmailVerified: true, Name: user.Name, Image: user.Picture},
			wantScope: "read:user,user:email",
		},
		{
			name: "github private email comes from /user/emails, primary first", kind: KindGitHub, github: true,
			user: func(u *fakeidp.User) {
				u.PrivateEmail, u.Name = true, ""
				u.Emails = []fakeidp.GitHubEmail{
					{Email: "other@example.com", Verified: true},
					{Email: "primary@example.com", Primary: true, Verified: false},
				}
			},
			scope:     "read:user user:email",
			want:      Profile{Subject: "1001", Email: "primary@example.com", EmailVerified: false, Name: user.Login, Image: user.Picture},
			wantScope: "read:user,user:email",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var opts []fakeidp.Option
			if tc.github {
				opts = append(opts, fakeidp.GitHub())
			}
			idp := fakeidp.Start(t, opts...)
			u := fakeidp.DefaultUser
			if tc.user != nil {
				tc.user(&u)
			}
			idp.SetUser(u)
			p := newFor(t, tc.kind, idp)
			f := newFlow()
			before := time.Now()
			prof, tok, err := exchange(t, p, f)
			if err != nil {
				t.Fatalf("Exchange: %v", err)
			}
			if prof != tc.want {
				t.Errorf("profile = %+v, want %+v", prof, tc.want)
			}

			a, _ := idp.LastAuthorize()
			if a.CodeChallengeMethod != "S256" || a.CodeChallenge != CodeChallenge(f.verifier) {
				t.Errorf("authorize PKCE = %q %q, want S256 of the verifier", a.CodeChallengeMethod, a.CodeChallenge)
			}
			if a.RedirectURI != redirect+p.ID() || a.ClientID != idp.ClientID || a.Scope != tc.scope {
				t.Errorf("authorize redirect_uri %q client_id %q scope %q, want %q %q %q",
					a.RedirectURI, a.ClientID, a.Scope, redirect+p.ID(), idp.ClientID, tc.scope)
			}
			if wantNonce := map[bool]string{true: f.nonce}[tc.nonce]; a.Nonce != wantNonce {
				t.Errorf("authorize nonce = %q, want %q", a.Nonce, wantNonce)
			}
			if got, want := a.Query.Get("include_granted_scopes"), map[bool]string{true: "true"}[tc.kind == KindGoogle]; got != want {
				t.Errorf("include_granted_scopes = %q, want %q", got, want)
			}
			if a.Query.Has("access_type") || a.Query.Has("prompt") {
				t.Errorf("authorize sent access_type/prompt unasked: %v", a.Query)
			}
			tr, _ := idp.LastToken()
			if tr.Error != "" || tr.ClientAuth != "client_secret_post" || tr.CodeVerifier != f.verifier || tr.RedirectURI != redirect+p.ID() {
				t.Errorf("token request = %+v", tr)
			}

			if tok.AccessToken == "" || tok.Scope != tc.wantScope || (tok.RefreshToken != "") != tc.refresh {
				t.Errorf("tokens = %+v, want scope %q, refresh token %v", tok, tc.wantScope, tc.refresh)
			}
			if tc.github {
				if !tok.AccessTokenExpiresAt.IsZero() || tok.IDToken != "" {
					t.Errorf("github tokens have expiry/id_token: %+v", tok)
				}
			} else {
				if tok.IDToken == "" {
					t.Error("no id_token kept")
				}
				// The fake's expires_in is 3600.
				if d := tok.AccessTokenExpiresAt.Sub(before); d < time.Hour-time.Second || d > time.Hour+time.Minute {
					t.Errorf("access token expires %v after the flow, want 1h", d)
				}
			}
			if !tok.RefreshTokenExpiresAt.IsZero() {
				t.Errorf("refresh token expiry %v, provider sent none", tok.RefreshTokenExpiresAt)
			}
		})
	}
}

// RFC 7636 appendix B.
func TestCodeChallengeIsS256(t *testing.T) {
	if got := CodeChallenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"); got != "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM" {
		t.Errorf("CodeChallenge = %q", got)
	}
}

func TestAuthCodeURLOptions(t *testing.T) {
	idp := fakeidp.Start(t)
	p := newFor(t, KindOIDC, idp)
	u, err := p.AuthCodeURL("st", "ver", "n", AuthOptions{
		LoginHint: "who@example.com",
		Scopes:    []string{"groups"},
		Params:    map[string]string{"state": "evil", "redirect_uri": "https://evil.example", "audience": "api"},
	})
	if err != nil {
		t.Fatal(err)
	}
	q, _ := url.Parse(u)
	v := q.Query()
	if v.Get("login_hint") != "who@example.com" || v.Get("scope") != "openid email profile groups" ||
		v.Get("state") != "st" || v.Get("redirect_uri") != redirect+"oidc" || v.Get("audience") != "api" || v.Get("nonce") != "n" {
		t.Errorf("authorization URL query = %v", v)
	}
	if !strings.HasPrefix(u, idp.AuthURL()+"?") {
		t.Errorf("authorization URL %s is not at the discovered endpoint %s", u, idp.AuthURL())
	}
}

func TestPKCEOff(t *testing.T) {
	idp := fakeidp.Start(t)
	off := false
	p := newFor(t, KindOIDC, idp, func(c *Config) { c.PKCE = &off })
	if _, _, err := exchange(t, p, newFlow()); err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	a, _ := idp.LastAuthorize()
	tr, _ := idp.LastToken()
	if a.CodeChallenge != "" || a.CodeChallengeMethod != "" || tr.CodeVerifier != "" {
		t.Errorf("PKCE off still sent challenge %q / verifier %q", a.CodeChallenge, tr.CodeVerifier)
	}
	if _, err := New(t.Context(), Config{ID: "google", Kind: KindGoogle, ClientID: "c", ClientSecret: "s", PKCE: &off}, redirect+"google", nil); err == nil {
		t.Error("Google accepted pkce off")
	}
}

func TestSpoiledIDTokensAreRefused(t *testing.T) {
	for _, kind := range []Kind{KindOIDC, KindGoogle, KindMicrosoft} {
		for _, tc := range []struct {
			name  string
			fault fakeidp.IDTokenFault
			want  error
		}{
			{"wrong aud", fakeidp.IDTokenWrongAudience, ErrIDTokenAudience},
			{"wrong key", fakeidp.IDTokenWrongKey, ErrIDTokenInvalid},
			{"wrong nonce", fakeidp.IDTokenWrongNonce, ErrNonceMismatch},
			{"expired", fakeidp.IDTokenExpired, ErrIDTokenExpired},
			{"wrong iss", fakeidp.IDTokenWrongIssuer, ErrIDTokenIssuer},
		} {
			if tc.fault == fakeidp.IDTokenWrongNonce && kind != KindOIDC {
				continue // Better Auth binds no nonce to Google's or Microsoft's code flow
			}
			t.Run(string(kind)+"/"+tc.name, func(t *testing.T) {
				idp := fakeidp.Start(t)
				u := fakeidp.DefaultUser
				u.Claims = map[string]any{"oid": "oid-1", "tid": "t"}
				idp.SetUser(u)
				p := newFor(t, kind, idp)
				idp.SetIDTokenFault(tc.fault)
				_, _, err := exchange(t, p, newFlow())
				if !errors.Is(err, tc.want) || CodeOf(err) != CodeUnableToGetUserInfo {
					t.Errorf("Exchange err = %v (code %s), want %v / %s", err, CodeOf(err), tc.want, CodeUnableToGetUserInfo)
				}
			})
		}
	}
}

func TestNonceFromTheFlowIsRequiredAndCompared(t *testing.T) {
	idp := fakeidp.Start(t)
	p := newFor(t, KindOIDC, idp)
	f := newFlow()

	code := authorize(t, p, f, AuthOptions{})
	_, _, err := p.Exchange(t.Context(), code, f.verifier, "")
	if CodeOf(err) != CodeNonceBindingMissing || !errors.Is(err, ErrNonceMissing) {
		t.Errorf("no nonce: err = %v, want %s", err, CodeNonceBindingMissing)
	}
	code = authorize(t, p, f, AuthOptions{})
	_, _, err = p.Exchange(t.Context(), code, f.verifier, f.nonce+"x")
	if !errors.Is(err, ErrNonceMismatch) || CodeOf(err) != CodeUnableToGetUserInfo {
		t.Errorf("other nonce: err = %v, want nonce mismatch", err)
	}
}

func TestTokenEndpointFailures(t *testing.T) {
	for _, tc := range []struct {
		name    string
		break_  func(*fakeidp.Provider)
		code    func(string) string
		timeout time.Duration
		also    error
	}{
		{name: "down", break_: func(p *fakeidp.Provider) { p.Close() }},
		{name: "500", break_: func(p *fakeidp.Provider) { p.Fail(fakeidp.Token, fakeidp.Failure{Status: 500}) }},
		{name: "garbage", break_: func(p *fakeidp.Provider) { p.Fail(fakeidp.Token, fakeidp.Failure{Garbage: true}) }},
		{
			name:    "slow",
			break_:  func(p *fakeidp.Provider) { p.Fail(fakeidp.Token, fakeidp.Failure{Delay: 10 * time.Second}) },
			timeout: 200 * time.Millisecond, also: context.DeadlineExceeded,
		},
		{name: "bad code", code: func(c string) string { return c + "x" }},
	} {
		for _, kind := range []Kind{KindOIDC, KindGitHub} {
			t.Run(string(kind)+"/"+tc.name, func(t *testing.T) {
				var opts []fakeidp.Option
				if kind == KindGitHub {
					opts = append(opts, fakeidp.GitHub())
				}
				idp := fakeidp.Start(t, opts...)
				p := newFor(t, kind, idp)
				f := newFlow()
				code := authorize(t, p, f, AuthOptions{})
				if tc.code != nil {
					code = tc.code(code)
				}
				if tc.break_ != nil {
					tc.break_(idp)
				}
				ctx, cancel := context.WithTimeout(t.Context(), or2(tc.timeout, 10*time.Second))
				defer cancel()
				start := time.Now()
				_, _, err := p.Exchange(ctx, code, f.verifier, f.nonce)
				if CodeOf(err) != CodeInvalidCode || !errors.Is(err, ErrTokenEndpoint) {
					t.Errorf("err = %v (code %s), want %s", err, CodeOf(err), CodeInvalidCode)
				}
				if tc.also != nil && !errors.Is(err, tc.also) {
					t.Errorf("err = %v, want it to wrap %v", err, tc.also)
				}
				if d := time.Since(start); d > 5*time.Second {
					t.Errorf("Exchange took %v despite the context", d)
				}
			})
		}
	}
}

func or2(a, b time.Duration) time.Duration {
	if a != 0 {
		return a
	}
	return b
}

func TestGitHubUserinfo(t *testing.T) {
	t.Run("/user failing is unable_to_get_user_info", func(t *testing.T) {
		idp := fakeidp.Start(t, fakeidp.GitHub())
		p := newFor(t, KindGitHub, idp)
		idp.Fail(fakeidp.Userinfo, fakeidp.Failure{Status: 502})
		_, _, err := exchange(t, p, newFlow())
		if CodeOf(err) != CodeUnableToGetUserInfo || !errors.Is(err, ErrUserinfo) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("/user/emails failing leaves a public email unverified", func(t *testing.T) {
		idp := fakeidp.Start(t, fakeidp.GitHub())
		p := newFor(t, KindGitHub, idp)
		idp.Fail(fakeidp.Emails, fakeidp.Failure{Garbage: true})
		prof, _, err := exchange(t, p, newFlow())
		if err != nil || prof.Email != fakeidp.DefaultUser.Email || prof.EmailVerified {
			t.Errorf("profile %+v, err %v; want public email, unverified", prof, err)
		}
	})
	t.Run("no email anywhere is email_not_found", func(t *testing.T) {
		idp := fakeidp.Start(t, fakeidp.GitHub())
		u := fakeidp.DefaultUser
		u.Email = ""
		idp.SetUser(u)
		p := newFor(t, KindGitHub, idp)
		_, _, err := exchange(t, p, newFlow())
		if CodeOf(err) != CodeEmailNotFound {
			t.Errorf("err = %v, want %s", err, CodeEmailNotFound)
		}
	})
}

func TestOIDCWithoutEmailIsEmailNotFound(t *testing.T) {
	idp := fakeidp.Start(t)
	u := fakeidp.DefaultUser
	u.Email = ""
	idp.SetUser(u)
	p := newFor(t, KindOIDC, idp)
	_, _, err := exchange(t, p, newFlow())
	if CodeOf(err) != CodeEmailNotFound {
		t.Errorf("err = %v, want %s", err, CodeEmailNotFound)
	}
	// The id_token had no email, so userinfo must have been asked.
	asked := false
	for _, r := range idp.Requests() {
		asked = asked || r.Path == "/userinfo"
	}
	if !asked {
		t.Error("userinfo was not consulted for the missing email")
	}
}

func TestMicrosoftWithoutOidIsRefused(t *testing.T) {
	idp := fakeidp.Start(t)
	p := newFor(t, KindMicrosoft, idp)
	_, _, err := exchange(t, p, newFlow())
	if CodeOf(err) != CodeUnableToGetUserInfo || !errors.Is(err, ErrNoSubject) {
		t.Errorf("err = %v, want no subject", err)
	}
}

func TestVerifyIDToken(t *testing.T) {
	idp := fakeidp.Start(t)
	p := newFor(t, KindOIDC, idp)
	f := newFlow()
	_, tok, err := exchange(t, p, f)
	if err != nil {
		t.Fatal(err)
	}
	prof, err := p.VerifyIDToken(t.Context(), tok.IDToken, f.nonce)
	if err != nil || prof.Subject != fakeidp.DefaultUser.Sub || prof.Email != fakeidp.DefaultUser.Email {
		t.Errorf("VerifyIDToken = %+v, %v", prof, err)
	}
	// Better Auth checks a client-supplied token's nonce only when the
	// client sends one, for generic providers too.
	if _, err := p.VerifyIDToken(t.Context(), tok.IDToken, ""); err != nil {
		t.Errorf("generic id_token without a client nonce: %v", err)
	}
	if _, err := p.VerifyIDToken(t.Context(), tok.IDToken, "other"); !errors.Is(err, ErrNonceMismatch) {
		t.Errorf("other nonce: err = %v", err)
	}
	if _, err := p.VerifyIDToken(t.Context(), tok.IDToken[:len(tok.IDToken)-4]+"AAAA", f.nonce); !errors.Is(err, ErrIDTokenInvalid) {
		t.Errorf("bad signature: err = %v", err)
	}

	gidp := fakeidp.Start(t)
	g := newFor(t, KindGoogle, gidp)
	other := newFor(t, KindOIDC, gidp)
	// A token for another audience must not pass even when correctly signed.
	gidp.SetIDTokenFault(fakeidp.IDTokenWrongAudience)
	gf := newFlow()
	code := authorize(t, other, gf, AuthOptions{})
	if _, _, err := other.Exchange(t.Context(), code, gf.verifier, gf.nonce); err == nil {
		t.Fatal("wrong audience accepted in the code flow")
	}
	gidp.SetIDTokenFault(fakeidp.IDTokenOK)
	_, gtok, err := exchange(t, g, newFlow())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.VerifyIDToken(t.Context(), gtok.IDToken, ""); err != nil {
		t.Errorf("Google id_token without nonce: %v", err)
	}

	hub := newFor(t, KindGitHub, fakeidp.Start(t, fakeidp.GitHub()))
	if _, err := hub.VerifyIDToken(t.Context(), tok.IDToken, ""); err == nil {
		t.Error("GitHub verified an id_token")
	}
}

// Configuring must not reach the provider, so `caddy validate` works offline.
func TestNewDoesNoNetworkAndStartRetries(t *testing.T) {
	idp := fakeidp.Start(t)
	p, err := New(t.Context(), Config{ID: "corp", Kind: KindOIDC, Issuer: idp.URL, ClientID: idp.ClientID, ClientSecret: idp.ClientSecret}, redirect+"corp", nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(idp.Requests()); n != 0 {
		t.Errorf("New made %d requests", n)
	}
	if _, err := p.AuthCodeURL("s", "v", "n", AuthOptions{}); !errors.Is(err, ErrNotStarted) {
		t.Errorf("AuthCodeURL before Start: err = %v", err)
	}
	idp.Fail(fakeidp.Discovery, fakeidp.Failure{Status: 503})
	if err := p.Start(t.Context()); err == nil {
		t.Fatal("Start succeeded with discovery down")
	}
	idp.Fail(fakeidp.Discovery, fakeidp.Failure{})
	if err := p.Start(t.Context()); err != nil {
		t.Fatalf("Start after discovery healed: %v", err)
	}
	if _, err := p.AuthCodeURL("s", "v", "n", AuthOptions{}); err != nil {
		t.Errorf("AuthCodeURL after Start: %v", err)
	}
	if err := p.CheckIssuerParam("https://elsewhere.example"); CodeOf(err) != CodeIssuerMismatch {
		t.Errorf("CheckIssuerParam(other) = %v", err)
	}
	if err := p.CheckIssuerParam(""); err != nil {
		t.Errorf("CheckIssuerParam(absent) = %v", err)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	ok := Config{ID: "x", Kind: KindGitHub, ClientID: "c", ClientSecret: "s"}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		url  string
	}{
		{"no id", func(c *Config) { c.ID = "" }, redirect},
		{"no client id", func(c *Config) { c.ClientID = "" }, redirect},
		{"no secret", func(c *Config) { c.ClientSecret = "" }, redirect},
		{"unknown kind", func(c *Config) { c.Kind = "myspace" }, redirect},
		{"oidc without issuer", func(c *Config) { c.Kind = KindOIDC }, redirect},
		{"relative override", func(c *Config) { c.TokenURL = "/token" }, redirect},
		{"relative redirect", func(*Config) {}, "/auth/callback/x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			if _, err := New(t.Context(), c, tc.url, nil); err == nil {
				t.Error("accepted")
			}
		})
	}
	if _, err := New(t.Context(), ok, redirect, nil); err != nil {
		t.Errorf("good config refused: %v", err)
	}
}

func TestMicrosoftIssuer(t *testing.T) {
	const ms = "https://login.microsoftonline.com/"
	for _, tc := range []struct {
		tenant, iss, tid string
		ok               bool
	}{
		{"common", ms + "t1/v2.0", "t1", true},
		{"common", ms + "t2/v2.0", "t1", false},
		{"common", ms + "t1/v2.0", "", false},
		{"organizations", ms + msConsumerTenant + "/v2.0", msConsumerTenant, false},
		{"consumers", ms + msConsumerTenant + "/v2.0", msConsumerTenant, true},
		{"consumers", ms + "t1/v2.0", "t1", false},
		{"t1", ms + "t1/v2.0", "t1", true},
		{"t1", ms + "t2/v2.0", "t2", false},
	} {
		if got := microsoftIssuerOK(tc.tenant, tc.iss, tc.tid); got != tc.ok {
			t.Errorf("microsoftIssuerOK(%q, %q, %q) = %v, want %v", tc.tenant, tc.iss, tc.tid, got, tc.ok)
		}
	}
}

func TestMicrosoftEmailVerified(t *testing.T) {
	p := &Provider{cfg: Config{Kind: KindMicrosoft}}
	for _, tc := range []struct {
		name string
		c    claims
		want bool
	}{
		{"flag true", claims{"email_verified": true}, true},
		{"flag as string", claims{"email_verified": "true"}, true},
		{"flag present wins over lists", claims{"email_verified": nil, "verified_primary_email": []any{"a@x.com"}}, false},
		{"primary list", claims{"verified_primary_email": []any{"a@x.com"}}, true},
		{"secondary list", claims{"verified_secondary_email": []any{"b@x.com", "a@x.com"}}, true},
		{"not listed", claims{"verified_primary_email": []any{"b@x.com"}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.c["oid"], tc.c["email"] = "o", "a@x.com"
			prof, err := p.profileFromClaims(tc.c)
			if err != nil || prof.EmailVerified != tc.want || prof.Subject != "o" {
				t.Errorf("profile %+v, err %v; want verified %v", prof, err, tc.want)
			}
		})
	}
}

// A redirecting token or userinfo endpoint must not be followed: the
// request carries the client secret or the user's access token.
func TestRedirectsAreNotFollowed(t *testing.T) {
	for _, kind := range []Kind{KindOIDC, KindGitHub} {
		t.Run(string(kind), func(t *testing.T) {
			var opts []fakeidp.Option
			if kind == KindGitHub {
				opts = append(opts, fakeidp.GitHub())
			}
			idp := fakeidp.Start(t, opts...)
			target := idp.TokenURL()
			if kind == KindGitHub {
				target = idp.UserinfoURL()
			}
			hop := httptest.NewServer(http.RedirectHandler(target, http.StatusTemporaryRedirect))
			t.Cleanup(hop.Close)
			p := newFor(t, kind, idp, func(c *Config) {
				if kind == KindGitHub {
					c.UserinfoURL = hop.URL + "/user"
				} else {
					c.TokenURL = hop.URL
				}
			})
			_, _, err := exchange(t, p, newFlow())
			if err == nil || !errors.Is(err, errRedirect) {
				t.Errorf("err = %v, want the redirect refused", err)
			}
			for _, r := range idp.Requests() {
				if r.Path == "/token" || r.Path == "/user" {
					t.Errorf("redirect was followed to %s", r.Path)
				}
			}
		})
	}
}

// genericOAuth reads userinfo when the id_token lacks the email, and
// refuses an answer about someone else.
func TestGenericUserinfoSubjectMustMatch(t *testing.T) {
	answer := `{"sub":"someone-else","email":"x@example.com","email_verified":"true"}`
	ui := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer at" {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(answer))
	}))
	t.Cleanup(ui.Close)
	p := &Provider{cfg: Config{Kind: KindOIDC}, client: ui.Client()}
	if _, err := p.genericProfile(t.Context(), ui.URL, "at", claims{"sub": "me"}); !errors.Is(err, ErrSubjectMismatch) {
		t.Errorf("other subject: err = %v", err)
	}
	answer = `{"sub":"me","email":"x@example.com","email_verified":"true","name":"X"}`
	prof, err := p.genericProfile(t.Context(), ui.URL, "at", claims{"sub": "me"})
	if err != nil || prof != (Profile{Subject: "me", Email: "x@example.com", EmailVerified: true, Name: "X"}) {
		t.Errorf("profile %+v, err %v", prof, err)
	}
	answer = `[1,2,3]`
	if _, err := p.genericProfile(t.Context(), ui.URL, "at", claims{"sub": "me"}); CodeOf(err) != CodeUnableToGetUserInfo {
		t.Errorf("array answer: err = %v", err)
	}
}

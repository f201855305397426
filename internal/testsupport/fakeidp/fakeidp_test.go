package fakeidp

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
)

const callback = "https://app.example.com/auth/callback/corp"

// client is what the product's social sign-in will be built on: discovery
// and id_token verification by go-oidc, the code flow by x/oauth2.
type client struct {
	oidc   *oidc.Provider
	config oauth2.Config
}

func newClient(t *testing.T, p *Provider, style oauth2.AuthStyle) client {
	t.Helper()
	op, err := oidc.NewProvider(t.Context(), p.URL)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	ep := op.Endpoint()
	ep.AuthStyle = style
	return client{oidc: op, config: oauth2.Config{
		ClientID:     p.ClientID,
		ClientSecret: p.ClientSecret,
		Endpoint:     ep,
		RedirectURL:  callback,
		Scopes:       []string{oidc.ScopeOpenID, "email", "profile"},
	}}
}

// authorize follows the browser to the authorization endpoint and returns
// the redirect it gets back.
func authorize(t *testing.T, authURL string) *url.URL {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Get(authURL)
	if err != nil {
		t.Fatalf("authorize: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusFound {
		t.Fatalf("authorize: status %d, want 302", res.StatusCode)
	}
	loc, err := url.Parse(res.Header.Get("Location"))
	if err != nil {
		t.Fatalf("authorize: Location: %v", err)
	}
	return loc
}

// signIn runs one complete code flow and returns the verified id_token.
func (c client) signIn(t *testing.T, nonce string) (*oauth2.Token, *oidc.IDToken, error) {
	t.Helper()
	verifier := oauth2.GenerateVerifier()
	loc := authorize(t, c.config.AuthCodeURL("the-state", oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce)))
	tok, err := c.config.Exchange(t.Context(), loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	id, err := c.oidc.Verifier(&oidc.Config{ClientID: c.config.ClientID}).Verify(t.Context(), raw)
	if err == nil && id.Nonce != nonce {
		// go-oidc leaves the nonce to its caller.
		err = errors.New("nonce mismatch")
	}
	return tok, id, err
}

func TestOIDC_CodeFlowWithPKCEAndNonce(t *testing.T) {
	for _, tc := range []struct {
		style oauth2.AuthStyle
		auth  string
	}{
		{oauth2.AuthStyleInHeader, "client_secret_basic"},
		{oauth2.AuthStyleInParams, "client_secret_post"},
	} {
		t.Run(tc.auth, func(t *testing.T) {
			p := Start(t, WithRedirectURI(callback))
			c := newClient(t, p, tc.style)
			verifier := oauth2.GenerateVerifier()
			authURL := c.config.AuthCodeURL("st-1", oauth2.S256ChallengeOption(verifier),
				oidc.Nonce("n-1"), oauth2.SetAuthURLParam("login_hint", "user@example.com"))

			loc := authorize(t, authURL)
			if got := loc.Scheme + "://" + loc.Host + loc.Path; got != callback {
				t.Errorf("redirected to %s, want %s", got, callback)
			}
			back := loc.Query()
			if back.Get("state") != "st-1" || back.Get("iss") != p.URL || back.Get("code") == "" {
				t.Errorf("callback query = %v, want code, state st-1, iss %s", back, p.URL)
			}
			a, _ := p.LastAuthorize()
			if a.CodeChallenge != oauth2.S256ChallengeFromVerifier(verifier) || a.CodeChallengeMethod != "S256" ||
				a.Nonce != "n-1" || a.LoginHint != "user@example.com" || a.Scope != "openid email profile" || a.RedirectURI != callback {
				t.Errorf("recorded authorize = %+v", a)
			}

			tok, err := c.config.Exchange(t.Context(), back.Get("code"), oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatalf("exchange: %v", err)
			}
			tr, _ := p.LastToken()
			if tr.ClientAuth != tc.auth || tr.CodeVerifier != verifier || tr.RedirectURI != callback || tr.Error != "" {
				t.Errorf("recorded token request = %+v", tr)
			}
			if tok.RefreshToken == "" || tok.Expiry.IsZero() || tok.Extra("scope") != "openid email profile" {
				t.Errorf("token = %+v, scope %v", tok, tok.Extra("scope"))
			}

			raw, _ := tok.Extra("id_token").(string)
			id, err := c.oidc.Verifier(&oidc.Config{ClientID: p.ClientID}).Verify(t.Context(), raw)
			if err != nil {
				t.Fatalf("verify id_token: %v", err)
			}
			var claims struct {
				Email         string `json:"email"`
				EmailVerified bool   `json:"email_verified"`
				Name, Picture string
			}
			if err := id.Claims(&claims); err != nil {
				t.Fatal(err)
			}
			if id.Subject != DefaultUser.Sub || id.Nonce != "n-1" || claims.Email != DefaultUser.Email ||
				!claims.EmailVerified || claims.Name != DefaultUser.Name || claims.Picture != DefaultUser.Picture {
				t.Errorf("id_token: sub %q nonce %q claims %+v", id.Subject, id.Nonce, claims)
			}

			info, err := c.oidc.UserInfo(t.Context(), oauth2.StaticTokenSource(tok))
			if err != nil {
				t.Fatalf("userinfo: %v", err)
			}
			if info.Subject != DefaultUser.Sub || info.Email != DefaultUser.Email || !info.EmailVerified {
				t.Errorf("userinfo = %+v", info)
			}
		})
	}
}

func TestOIDC_SpoiledIDTokensAreRefused(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault IDTokenFault
		ok    bool
	}{
		{"sound", IDTokenOK, true},
		{"wrong aud", IDTokenWrongAudience, false},
		{"wrong key", IDTokenWrongKey, false},
		{"wrong nonce", IDTokenWrongNonce, false},
		{"expired", IDTokenExpired, false},
		{"wrong iss", IDTokenWrongIssuer, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Start(t, WithRedirectURI(callback))
			c := newClient(t, p, oauth2.AuthStyleInParams)
			p.SetIDTokenFault(tc.fault)
			_, _, err := c.signIn(t, "n-1")
			if (err == nil) != tc.ok {
				t.Errorf("verify: err = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestOIDC_RotatedKeyVerifies(t *testing.T) {
	p := Start(t, WithRedirectURI(callback))
	c := newClient(t, p, oauth2.AuthStyleInParams)
	if _, _, err := c.signIn(t, "n-1"); err != nil {
		t.Fatalf("before rotation: %v", err)
	}
	if err := p.RotateKey(); err != nil {
		t.Fatal(err)
	}
	// The client's cached key set knows only key-1: it must refetch.
	tok, _, err := c.signIn(t, "n-2")
	if err != nil {
		t.Fatalf("after rotation: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	if kid := jws.Signatures[0].Header.KeyID; kid != "key-2" {
		t.Errorf("signed with %q after rotation, want key-2", kid)
	}
	var set jose.JSONWebKeySet
	getJSON(t, http.DefaultClient, p.JWKSURL(), &set)
	if len(set.Key("key-1")) != 1 || len(set.Key("key-2")) != 1 {
		t.Errorf("JWKS after rotation = %+v, want key-1 and key-2", set.Keys)
	}
}

func TestToken_RefusesWhatARealProviderRefuses(t *testing.T) {
	for _, tc := range []struct {
		name    string
		pkce    bool
		spoil   func(c *oauth2.Config, code, verifier *string)
		reuse   bool
		wantErr string
	}{
		{name: "wrong verifier", pkce: true, wantErr: "invalid_grant",
			spoil: func(_ *oauth2.Config, _, v *string) { *v = oauth2.GenerateVerifier() }},
		{name: "missing verifier", pkce: true, wantErr: "invalid_grant",
			spoil: func(_ *oauth2.Config, _, v *string) { *v = "" }},
		{name: "verifier without challenge", pkce: false, wantErr: "invalid_grant",
			spoil: func(_ *oauth2.Config, _, v *string) { *v = oauth2.GenerateVerifier() }},
		{name: "other redirect_uri", pkce: true, wantErr: "invalid_grant",
			spoil: func(c *oauth2.Config, _, _ *string) { c.RedirectURL = "https://app.example.com/auth/callback/other" }},
		{name: "wrong secret", pkce: true, wantErr: "invalid_client",
			spoil: func(c *oauth2.Config, _, _ *string) { c.ClientSecret = "guess" }},
		{name: "unknown code", pkce: true, wantErr: "invalid_grant",
			spoil: func(_ *oauth2.Config, code, _ *string) { *code = "made-up" }},
		{name: "code used twice", pkce: true, reuse: true, wantErr: "invalid_grant"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Start(t, WithRedirectURI(callback))
			c := newClient(t, p, oauth2.AuthStyleInParams)
			verifier := oauth2.GenerateVerifier()
			var opts []oauth2.AuthCodeOption
			if tc.pkce {
				opts = append(opts, oauth2.S256ChallengeOption(verifier))
			}
			code := authorize(t, c.config.AuthCodeURL("s", opts...)).Query().Get("code")
			if tc.reuse {
				if _, err := c.config.Exchange(t.Context(), code, oauth2.VerifierOption(verifier)); err != nil {
					t.Fatalf("first exchange: %v", err)
				}
			} else {
				tc.spoil(&c.config, &code, &verifier)
			}
			var xopts []oauth2.AuthCodeOption
			if verifier != "" {
				xopts = append(xopts, oauth2.VerifierOption(verifier))
			}
			_, err := c.config.Exchange(t.Context(), code, xopts...)
			var re *oauth2.RetrieveError
			if !errors.As(err, &re) || re.ErrorCode != tc.wantErr {
				t.Fatalf("exchange err = %v, want %s", err, tc.wantErr)
			}
			if tr, _ := p.LastToken(); tr.Error != tc.wantErr {
				t.Errorf("recorded error %q, want %q", tr.Error, tc.wantErr)
			}
		})
	}
}

func TestAuthorize_Refusals(t *testing.T) {
	p := Start(t, WithRedirectURI(callback))
	c := newClient(t, p, oauth2.AuthStyleInParams)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	for _, tc := range []struct {
		name string
		cfg  func(oauth2.Config) oauth2.Config
	}{
		{"unregistered redirect_uri", func(c oauth2.Config) oauth2.Config { c.RedirectURL = "https://evil.example/cb"; return c }},
		{"unknown client", func(c oauth2.Config) oauth2.Config { c.ClientID = "someone-else"; return c }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg(c.config)
			res, err := noFollow.Get(cfg.AuthCodeURL("s"))
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusBadRequest || res.Header.Get("Location") != "" {
				t.Errorf("status %d Location %q, want 400 without redirect", res.StatusCode, res.Header.Get("Location"))
			}
		})
	}

	t.Run("plain PKCE", func(t *testing.T) {
		loc := authorize(t, c.config.AuthCodeURL("s", oauth2.SetAuthURLParam("code_challenge", "abc"),
			oauth2.SetAuthURLParam("code_challenge_method", "plain")))
		if q := loc.Query(); q.Get("error") != "invalid_request" || q.Has("code") {
			t.Errorf("callback query = %v, want error=invalid_request", q)
		}
	})

	t.Run("denied once", func(t *testing.T) {
		p.DenyNext()
		q := authorize(t, c.config.AuthCodeURL("s-denied")).Query()
		if q.Get("error") != "access_denied" || q.Get("state") != "s-denied" || q.Has("code") {
			t.Errorf("callback query = %v, want error=access_denied with state", q)
		}
		if q := authorize(t, c.config.AuthCodeURL("s")).Query(); q.Get("code") == "" {
			t.Errorf("authorization after the denial = %v, want a code", q)
		}
	})
}

func TestSetUser_ChangesTheNextAuthorizationOnly(t *testing.T) {
	p := Start(t, WithRedirectURI(callback))
	c := newClient(t, p, oauth2.AuthStyleInParams)
	earlyCode := authorize(t, c.config.AuthCodeURL("s")).Query().Get("code")

	ms := User{Sub: "ms-sub", Email: "ms@example.com", Name: "Entra User",
		Claims: map[string]any{"oid": "00000000-0000-0000-0000-0000000000aa", "tid": "tenant-1"}}
	p.SetUser(ms)
	_, id, err := c.signIn(t, "n")
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		OID, TID      string
		EmailVerified bool `json:"email_verified"`
	}
	if err := id.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if id.Subject != "ms-sub" || claims.OID != ms.Claims["oid"] || claims.TID != "tenant-1" || claims.EmailVerified {
		t.Errorf("id_token sub %q claims %+v", id.Subject, claims)
	}

	tok, err := c.config.Exchange(t.Context(), earlyCode)
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.oidc.UserInfo(t.Context(), oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatal(err)
	}
	if info.Subject != DefaultUser.Sub {
		t.Errorf("code issued before SetUser signs in as %q, want %q", info.Subject, DefaultUser.Sub)
	}
}

func TestFailures(t *testing.T) {
	t.Run("discovery down", func(t *testing.T) {
		p := Start(t)
		p.Fail(Discovery, Failure{Status: http.StatusServiceUnavailable})
		if _, err := oidc.NewProvider(t.Context(), p.URL); err == nil {
			t.Error("discovery succeeded against a 503")
		}
	})
	t.Run("provider gone", func(t *testing.T) {
		p := Start(t)
		p.Close()
		if _, err := oidc.NewProvider(t.Context(), p.URL); err == nil {
			t.Error("discovery succeeded against a closed server")
		}
	})

	for _, tc := range []struct {
		name    string
		failure Failure
		want    func(error) bool
	}{
		{"token down", Failure{Status: http.StatusServiceUnavailable}, func(err error) bool {
			var re *oauth2.RetrieveError
			return errors.As(err, &re) && re.Response.StatusCode == http.StatusServiceUnavailable
		}},
		{"token garbage", Failure{Garbage: true}, func(err error) bool {
			var re *oauth2.RetrieveError
			return err != nil && !errors.As(err, &re) && !errors.Is(err, context.DeadlineExceeded)
		}},
		{"token slow", Failure{Delay: time.Minute}, func(err error) bool {
			return errors.Is(err, context.DeadlineExceeded)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Start(t, WithRedirectURI(callback))
			c := newClient(t, p, oauth2.AuthStyleInParams)
			code := authorize(t, c.config.AuthCodeURL("s")).Query().Get("code")
			p.Fail(Token, tc.failure)
			ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
			defer cancel()
			if _, err := c.config.Exchange(ctx, code); !tc.want(err) {
				t.Errorf("exchange err = %v", err)
			}
			if tr, ok := p.LastToken(); ok {
				t.Errorf("a failing endpoint still judged the request: %+v", tr)
			}
		})
	}

	t.Run("userinfo down", func(t *testing.T) {
		p := Start(t, WithRedirectURI(callback))
		c := newClient(t, p, oauth2.AuthStyleInParams)
		tok, _, err := c.signIn(t, "n")
		if err != nil {
			t.Fatal(err)
		}
		p.Fail(Userinfo, Failure{Status: http.StatusInternalServerError})
		if _, err := c.oidc.UserInfo(t.Context(), oauth2.StaticTokenSource(tok)); err == nil {
			t.Error("userinfo succeeded against a 500")
		}
		p.Fail(Userinfo, Failure{})
		if _, err := c.oidc.UserInfo(t.Context(), oauth2.StaticTokenSource(tok)); err != nil {
			t.Errorf("userinfo after healing: %v", err)
		}
	})
}

func TestRecording(t *testing.T) {
	p := Start(t, WithRedirectURI(callback))
	c := newClient(t, p, oauth2.AuthStyleInHeader)
	if _, _, err := c.signIn(t, "n"); err != nil {
		t.Fatal(err)
	}
	var paths []string
	var token Request
	for _, r := range p.Requests() {
		paths = append(paths, r.Method+" "+r.Path)
		if r.Path == "/token" {
			token = r
		}
	}
	want := "GET /.well-known/openid-configuration,GET /authorize,POST /token,GET /jwks"
	if got := strings.Join(paths, ","); got != want {
		t.Errorf("requests = %s, want %s", got, want)
	}
	if !strings.HasPrefix(token.Header.Get("Authorization"), "Basic ") || token.Form.Get("grant_type") != "authorization_code" {
		t.Errorf("recorded token request: header %v form %v", token.Header, token.Form)
	}
}

func TestGitHub(t *testing.T) {
	p := Start(t, GitHub(), WithRedirectURI("https://app.example.com/auth/callback/github"))
	if res, err := http.Get(p.URL + "/.well-known/openid-configuration"); err != nil || res.StatusCode != http.StatusNotFound {
		t.Errorf("GitHub shape serves discovery: %v %v", res.Status, err)
	}
	cfg := oauth2.Config{
		ClientID: p.ClientID, ClientSecret: p.ClientSecret,
		Endpoint:    oauth2.Endpoint{AuthURL: p.AuthURL(), TokenURL: p.TokenURL(), AuthStyle: oauth2.AuthStyleInParams},
		RedirectURL: "https://app.example.com/auth/callback/github",
		Scopes:      []string{"read:user", "user:email"},
	}
	p.SetUser(User{GitHubID: 4242, Login: "octo", Name: "Octo Cat", Picture: "https://avatars.example/4242",
		Email: "octo@example.com", PrivateEmail: true, Emails: []GitHubEmail{
			{Email: "old@example.com", Verified: true},
			{Email: "octo@example.com", Primary: true, Verified: true},
		}})

	verifier := oauth2.GenerateVerifier()
	code := authorize(t, cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier))).Query().Get("code")
	tok, err := cfg.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if idt, _ := tok.Extra("id_token").(string); tok.Extra("scope") != "read:user,user:email" || idt != "" {
		t.Errorf("token scope %v id_token %v", tok.Extra("scope"), tok.Extra("id_token"))
	}
	hc := cfg.Client(t.Context(), tok)

	var user map[string]any
	getJSON(t, hc, p.URL+"/user", &user)
	if user["id"] != float64(4242) || user["login"] != "octo" || user["email"] != nil || user["avatar_url"] != "https://avatars.example/4242" {
		t.Errorf("/user = %v", user)
	}
	var emails []GitHubEmail
	getJSON(t, hc, p.URL+"/user/emails", &emails)
	if len(emails) != 2 || !emails[1].Primary || !emails[1].Verified || emails[1].Email != "octo@example.com" {
		t.Errorf("/user/emails = %+v", emails)
	}

	t.Run("JSON on request, errors with status 200", func(t *testing.T) {
		form := url.Values{"client_id": {p.ClientID}, "client_secret": {p.ClientSecret}, "code": {"spent"}}
		for _, tc := range []struct{ accept, contentType, want string }{
			{"application/json", "application/json", `"error":"bad_verification_code"`},
			{"", "application/x-www-form-urlencoded", "error=bad_verification_code"},
		} {
			req, _ := http.NewRequest(http.MethodPost, p.TokenURL(), strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tc.accept != "" {
				req.Header.Set("Accept", tc.accept)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), tc.contentType) ||
				!strings.Contains(string(body), tc.want) {
				t.Errorf("Accept %q: %d %s %s", tc.accept, res.StatusCode, res.Header.Get("Content-Type"), body)
			}
		}
	})
}

func getJSON(t *testing.T, c *http.Client, u string, v any) {
	t.Helper()
	res, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", u, res.Status)
	}
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}

// A refresh token buys new tokens once: the answer rotates it, and the
// spent one is refused, as by providers that rotate.
func TestToken_RefreshGrantRotates(t *testing.T) {
	p := Start(t, WithRedirectURI(callback))
	c := newClient(t, p, oauth2.AuthStyleInHeader)
	first, _, err := c.signIn(t, "n-1")
	if err != nil {
		t.Fatal(err)
	}
	refresh := func(rt string) (*oauth2.Token, error) {
		return c.config.TokenSource(t.Context(), &oauth2.Token{RefreshToken: rt}).Token()
	}
	next, err := refresh(first.RefreshToken)
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if next.AccessToken == "" || next.AccessToken == first.AccessToken || next.RefreshToken == first.RefreshToken || next.Expiry.IsZero() {
		t.Errorf("refreshed token = %+v, first %+v", next, first)
	}
	if tr, _ := p.LastToken(); tr.GrantType != "refresh_token" || tr.RefreshToken != first.RefreshToken || tr.Error != "" {
		t.Errorf("recorded token request = %+v", tr)
	}
	if info, err := c.oidc.UserInfo(t.Context(), oauth2.StaticTokenSource(next)); err != nil || info.Subject != DefaultUser.Sub {
		t.Errorf("userinfo with the new access token: %v, %+v", err, info)
	}
	if _, err := refresh(first.RefreshToken); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Errorf("spent refresh token: %v, want invalid_grant", err)
	}
	if _, err := refresh("made-up"); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Errorf("unknown refresh token: %v, want invalid_grant", err)
	}
}

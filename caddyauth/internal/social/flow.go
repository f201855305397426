package social

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Profile is the user as Better Auth's provider reads it.
type Profile struct {
	// Subject is account.accountId: the id_token "sub" (Google, generic
	// OIDC), Entra ID's "oid" (Microsoft, since 1.7), GitHub's numeric id.
	Subject string
	// Email is as the provider gave it; the caller lower-cases it.
	Email         string
	EmailVerified bool
	Name          string
	Image         string
}

// Tokens are the provider's tokens as Better Auth stores them in the account
// row.
type Tokens struct {
	AccessToken  string
	RefreshToken string
	IDToken      string
	// AccessTokenExpiresAt is now+expires_in, zero when the provider sent
	// none (GitHub OAuth apps), as Better Auth leaves it null.
	AccessTokenExpiresAt time.Time
	// RefreshTokenExpiresAt is now+refresh_token_expires_in, or zero.
	RefreshTokenExpiresAt time.Time
	// Scope is the granted scopes joined with ",", as account.scope.
	Scope string
}

// AuthOptions are the per-request parts of the authorization URL.
type AuthOptions struct {
	LoginHint string
	// Scopes are added after the provider's, as POST /sign-in/social's
	// "scopes" are.
	Scopes []string
	// Params are extra query parameters; the ones the flow itself sets are
	// ignored, as Better Auth's RESERVED_AUTHORIZATION_PARAMS.
	Params map[string]string
}

var reservedParams = []string{"state", "client_id", "redirect_uri", "response_type",
	"code_challenge", "code_challenge_method", "nonce", "scope"}

// CodeChallenge is PKCE S256: base64url without padding of SHA-256(verifier).
func CodeChallenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// AuthCodeURL is where to send the browser. verifier is ignored when PKCE is
// off; nonce is sent when given to a provider with id_tokens. Google gets
// include_granted_scopes=true as from Better Auth; access_type and prompt
// are sent by Better Auth only when configured, so never here.
func (p *Provider) AuthCodeURL(state, verifier, nonce string, o AuthOptions) (string, error) {
	cfg, _, _, started := p.snapshot()
	if !started {
		return "", ErrNotStarted
	}
	if state == "" {
		return "", errors.New("social: empty state")
	}
	cfg.Scopes = append(slices.Clone(cfg.Scopes), o.Scopes...)
	var opts []oauth2.AuthCodeOption
	if p.PKCE() {
		if verifier == "" {
			return "", errors.New("social: PKCE is on but the verifier is empty")
		}
		opts = append(opts,
			oauth2.SetAuthURLParam("code_challenge_method", "S256"),
			oauth2.SetAuthURLParam("code_challenge", CodeChallenge(verifier)))
	}
	if nonce != "" && p.cfg.Kind != KindGitHub {
		opts = append(opts, oidc.Nonce(nonce))
	}
	if o.LoginHint != "" {
		opts = append(opts, oauth2.SetAuthURLParam("login_hint", o.LoginHint))
	}
	if p.cfg.Kind == KindGoogle {
		opts = append(opts, oauth2.SetAuthURLParam("include_granted_scopes", "true"))
	}
	for k, v := range o.Params {
		if !slices.Contains(reservedParams, k) {
			opts = append(opts, oauth2.SetAuthURLParam(k, v))
		}
	}
	return cfg.AuthCodeURL(state, opts...), nil
}

// Exchange redeems code under ctx (the caller bounds it) and reads the user.
// nonce is the one sent in AuthCodeURL; a generic provider requires it.
// Every error is an *Error whose Code is Better Auth's redirect error.
func (p *Provider) Exchange(ctx context.Context, code, verifier, nonce string) (Profile, Tokens, error) {
	if err := p.Start(ctx); err != nil {
		return Profile{}, Tokens{}, fail(CodeOAuthProviderMissing, ErrNotStarted, err)
	}
	if p.RequiresNonce() && nonce == "" {
		return Profile{}, Tokens{}, fail(CodeNonceBindingMissing, ErrNonceMissing, nil)
	}
	cfg, verify, userinfoURL, _ := p.snapshot()
	var opts []oauth2.AuthCodeOption
	if p.PKCE() && verifier != "" {
		opts = append(opts, oauth2.VerifierOption(verifier))
	}
	tok, err := cfg.Exchange(p.clientContext(ctx), code, opts...)
	if err != nil {
		return Profile{}, Tokens{}, fail(CodeInvalidCode, ErrTokenEndpoint, err)
	}
	tokens := tokensOf(tok, time.Now())

	var prof Profile
	switch p.cfg.Kind {
	case KindGitHub:
		prof, err = p.githubProfile(ctx, userinfoURL, tokens.AccessToken)
	case KindOIDC:
		if tokens.IDToken == "" {
			// Better Auth then reads userinfo alone, keyed by its "sub".
			var c claims
			if err = p.getJSON(ctx, userinfoURL, tokens.AccessToken, &c); err == nil {
				prof, err = c.genericProfile()
			}
			break
		}
		var c claims
		if c, err = p.verifyIDToken(ctx, verify, tokens.IDToken, nonce, p.RequiresNonce()); err == nil {
			prof, err = p.genericProfile(ctx, userinfoURL, tokens.AccessToken, c)
		}
	default:
		if tokens.IDToken == "" {
			err = fail(CodeUnableToGetUserInfo, ErrNoIDToken, nil)
			break
		}
		var c claims
		if c, err = p.verifyIDToken(ctx, verify, tokens.IDToken, nonce, p.RequiresNonce()); err == nil {
			prof, err = p.profileFromClaims(c)
		}
	}
	if err != nil {
		return Profile{}, Tokens{}, err
	}
	if prof.Email == "" {
		return Profile{}, Tokens{}, fail(CodeEmailNotFound, ErrEmailNotFound, nil)
	}
	return prof, tokens, nil
}

// Refresh redeems refreshToken at the provider's token endpoint
// (grant_type=refresh_token) under ctx, which the caller bounds, as Better
// Auth's refreshAccessToken does for POST /get-access-token and
// /refresh-token. A provider that answers without a new refresh token
// leaves the old one in the result; the id_token, if any, is passed on
// unverified, as Better Auth stores it. Scope is not read: Better Auth
// keeps the account's scope across refreshes.
func (p *Provider) Refresh(ctx context.Context, refreshToken string) (Tokens, error) {
	if err := p.Start(ctx); err != nil {
		return Tokens{}, err
	}
	cfg, _, _, _ := p.snapshot()
	tok, err := cfg.TokenSource(p.clientContext(ctx), &oauth2.Token{RefreshToken: refreshToken}).Token()
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		// Its text quotes the provider's whole answer: the code and status
		// say enough, and go to logs that must not carry tokens.
		return Tokens{}, fmt.Errorf("social: provider %q: refresh refused: HTTP %d %q", p.cfg.ID, re.Response.StatusCode, re.ErrorCode)
	}
	if err != nil {
		return Tokens{}, fmt.Errorf("social: provider %q: refresh: %w", p.cfg.ID, err)
	}
	t := tokensOf(tok, time.Now())
	t.Scope = ""
	return t, nil
}

// VerifyIDToken checks a client-supplied id_token (the idToken branch of
// POST /sign-in/social) and reads the user from its claims. nonce, when
// given, must match.
func (p *Provider) VerifyIDToken(ctx context.Context, rawIDToken, nonce string) (Profile, error) {
	if !p.SupportsIDToken() {
		return Profile{}, fail(CodeUnableToGetUserInfo, ErrNoIDToken, errors.New("provider has no id_tokens"))
	}
	if err := p.Start(ctx); err != nil {
		return Profile{}, fail(CodeOAuthProviderMissing, ErrNotStarted, err)
	}
	_, verify, _, _ := p.snapshot()
	// The client chose whether to bind a nonce; Better Auth checks one
	// only when it is sent, for generic providers too.
	c, err := p.verifyIDToken(ctx, verify, rawIDToken, nonce, false)
	if err != nil {
		return Profile{}, err
	}
	var prof Profile
	if p.cfg.Kind == KindOIDC {
		prof, err = c.genericProfile()
	} else {
		prof, err = p.profileFromClaims(c)
	}
	if err != nil {
		return Profile{}, err
	}
	if prof.Email == "" {
		return Profile{}, fail(CodeEmailNotFound, ErrEmailNotFound, nil)
	}
	return prof, nil
}

func (p *Provider) clientContext(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, p.client)
}

func tokensOf(tok *oauth2.Token, now time.Time) Tokens {
	t := Tokens{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken}
	t.IDToken, _ = tok.Extra("id_token").(string)
	if tok.ExpiresIn > 0 {
		t.AccessTokenExpiresAt = now.Add(time.Duration(tok.ExpiresIn) * time.Second)
	}
	if s := seconds(tok.Extra("refresh_token_expires_in")); s > 0 {
		t.RefreshTokenExpiresAt = now.Add(time.Duration(s) * time.Second)
	}
	scope, _ := tok.Extra("scope").(string)
	t.Scope = splitScope(scope)
	return t
}

// seconds reads a JSON number, or the string a form-encoded answer gives.
func seconds(v any) int64 {
	switch n := v.(type) {
	case float64:
		return int64(n)
	case json.Number:
		i, _ := n.Int64()
		return i
	case string:
		i, _ := strconv.ParseInt(n, 10, 64)
		return i
	}
	return 0
}

// claims are an id_token's or a userinfo answer's, loosely typed because
// providers disagree on types (string booleans, numeric ids).
type claims map[string]any

func (c claims) str(k string) string {
	s, _ := c[k].(string)
	return s
}

// boolean is Better Auth's parseStringBoolean: true, false and their string
// forms; anything else is unknown.
func (c claims) boolean(k string) (v, known bool) {
	switch b := c[k].(type) {
	case bool:
		return b, true
	case string:
		switch b {
		case "true":
			return true, true
		case "false":
			return false, true
		}
	}
	return false, false
}

// contains is JavaScript's includes on a string or an array of strings.
func (c claims) contains(k, s string) bool {
	switch v := c[k].(type) {
	case string:
		return strings.Contains(v, s)
	case []any:
		for _, e := range v {
			if e == s {
				return true
			}
		}
	}
	return false
}

// verifyIDToken checks signature and expiry with go-oidc, then audience,
// issuer and nonce here so that each has its own reason. Every failure is
// unable_to_get_user_info, as Better Auth reports a token that fails
// verification.
func (p *Provider) verifyIDToken(ctx context.Context, v *oidc.IDTokenVerifier, raw, nonce string, requireNonce bool) (claims, error) {
	if v == nil {
		return nil, fail(CodeUnableToGetUserInfo, ErrNotStarted, nil)
	}
	tok, err := v.Verify(ctx, raw)
	if err != nil {
		var exp *oidc.TokenExpiredError
		if errors.As(err, &exp) {
			return nil, fail(CodeUnableToGetUserInfo, ErrIDTokenExpired, err)
		}
		return nil, fail(CodeUnableToGetUserInfo, ErrIDTokenInvalid, err)
	}
	if !slices.Contains(tok.Audience, p.cfg.ClientID) {
		return nil, fail(CodeUnableToGetUserInfo, ErrIDTokenAudience, nil)
	}
	var c claims
	if err := tok.Claims(&c); err != nil {
		return nil, fail(CodeUnableToGetUserInfo, ErrIDTokenInvalid, err)
	}
	if err := p.checkIssuer(tok.Issuer, c); err != nil {
		return nil, err
	}
	// Google and Microsoft refuse tokens older than an hour (maxTokenAge).
	if p.cfg.Kind != KindOIDC && !tok.IssuedAt.IsZero() && time.Since(tok.IssuedAt) > time.Hour {
		return nil, fail(CodeUnableToGetUserInfo, ErrIDTokenExpired, errors.New("older than the maximum age of 1h"))
	}
	if nonce != "" || requireNonce {
		if nonce == "" || subtle.ConstantTimeCompare([]byte(tok.Nonce), []byte(nonce)) != 1 {
			return nil, fail(CodeUnableToGetUserInfo, ErrNonceMismatch, nil)
		}
	}
	return c, nil
}

func (p *Provider) checkIssuer(iss string, c claims) error {
	ok := false
	switch {
	case p.cfg.Kind == KindOIDC:
		p.mu.Lock()
		ok = iss == p.issuer
		p.mu.Unlock()
	case p.cfg.Issuer != "":
		ok = iss == p.cfg.Issuer
	case p.cfg.Kind == KindGoogle:
		ok = slices.Contains(googleIssuers, iss)
	case p.cfg.Kind == KindMicrosoft:
		ok = microsoftIssuerOK(or(p.cfg.Tenant, "common"), iss, c.str("tid"))
	}
	if !ok {
		return fail(CodeUnableToGetUserInfo, ErrIDTokenIssuer, fmt.Errorf("iss %q", iss))
	}
	return nil
}

// msConsumerTenant is the tid of every personal Microsoft account.
const msConsumerTenant = "9188040d-6c67-4c5b-b112-36a304b66dad"

// microsoftIssuerOK is Better Auth's check: a fixed tenant's issuer is known;
// the multi-tenant endpoints require the issuer to name the token's own
// tenant and the account class to fit the endpoint.
func microsoftIssuerOK(tenant, iss, tid string) bool {
	switch tenant {
	case "common", "organizations", "consumers":
	default:
		return iss == msAuthority+"/"+tenant+"/v2.0"
	}
	if tid == "" || iss != msAuthority+"/"+tid+"/v2.0" {
		return false
	}
	switch tenant {
	case "organizations":
		return tid != msConsumerTenant
	case "consumers":
		return tid == msConsumerTenant
	}
	return true
}

// profileFromClaims reads Google's and Microsoft's id_token as Better Auth's
// getUserInfo does.
func (p *Provider) profileFromClaims(c claims) (Profile, error) {
	prof := Profile{Email: c.str("email"), Name: c.str("name"), Image: c.str("picture")}
	switch p.cfg.Kind {
	case KindMicrosoft:
		// Better Auth refuses a blank oid rather than fall back to "sub",
		// but stores a good one untrimmed.
		if oid := c.str("oid"); strings.TrimSpace(oid) != "" {
			prof.Subject = oid
		}
		// Present at all (even null) means Better Auth reads only it.
		if _, present := c["email_verified"]; present {
			prof.EmailVerified, _ = c.boolean("email_verified")
		} else {
			prof.EmailVerified = prof.Email != "" &&
				(c.contains("verified_primary_email", prof.Email) || c.contains("verified_secondary_email", prof.Email))
		}
	default:
		prof.Subject = c.str("sub")
		prof.EmailVerified, _ = c.boolean("email_verified")
	}
	if prof.Subject == "" {
		return Profile{}, fail(CodeUnableToGetUserInfo, ErrNoSubject, nil)
	}
	return prof, nil
}

// genericProfile is genericOAuth's user from one set of claims.
func (c claims) genericProfile() (Profile, error) {
	prof := Profile{Subject: c.str("sub"), Email: c.str("email"), Name: c.str("name"), Image: c.str("picture")}
	prof.EmailVerified, _ = c.boolean("email_verified")
	if prof.Subject == "" {
		// A numeric sub is still the account id, as String(raw.sub).
		switch n := c["sub"].(type) {
		case float64:
			prof.Subject = strconv.FormatFloat(n, 'f', -1, 64)
		case json.Number:
			prof.Subject = n.String()
		default:
			return Profile{}, fail(CodeUnableToGetUserInfo, ErrNoSubject, nil)
		}
	}
	return prof, nil
}

// genericProfile reads the verified id_token when it names both subject and
// email, else userinfo, whose "sub" must be the id_token's.
func (p *Provider) genericProfile(ctx context.Context, userinfoURL, accessToken string, id claims) (Profile, error) {
	if id.str("sub") != "" && id.str("email") != "" {
		return id.genericProfile()
	}
	if userinfoURL == "" || accessToken == "" {
		return Profile{}, fail(CodeUnableToGetUserInfo, ErrUserinfo, errors.New("no userinfo endpoint or access token"))
	}
	var ui claims
	if err := p.getJSON(ctx, userinfoURL, accessToken, &ui); err != nil {
		return Profile{}, err
	}
	prof, err := ui.genericProfile()
	if err != nil {
		return Profile{}, err
	}
	if sub := id.str("sub"); sub != "" && prof.Subject != sub {
		return Profile{}, fail(CodeUnableToGetUserInfo, ErrSubjectMismatch, nil)
	}
	return prof, nil
}

type githubUser struct {
	ID        json.Number `json:"id"`
	Login     string      `json:"login"`
	Name      *string     `json:"name"`
	Email     *string     `json:"email"`
	AvatarURL string      `json:"avatar_url"`
}

type githubEmail struct {
	Email    string `json:"email"`
	Primary  bool   `json:"primary"`
	Verified bool   `json:"verified"`
}

// githubProfile is Better Auth's GitHub getUserInfo: /user, then always
// /user/emails (a failure there only leaves the address unverified); the
// email is /user's or else the primary (else first) listed one, and it is
// verified only if /user/emails says so.
func (p *Provider) githubProfile(ctx context.Context, userURL, accessToken string) (Profile, error) {
	prof, _, err := p.githubRead(ctx, userURL, accessToken)
	if err != nil {
		return Profile{}, err
	}
	if prof.Subject == "" {
		return Profile{}, fail(CodeUnableToGetUserInfo, ErrNoSubject, nil)
	}
	return prof, nil
}

// githubRead is githubProfile's reading, with /user's own object (its
// email filled in when /user had none), which /account-info answers.
func (p *Provider) githubRead(ctx context.Context, userURL, accessToken string) (Profile, object, error) {
	d, raw, err := p.getObject(ctx, userURL, accessToken)
	if err != nil {
		return Profile{}, nil, err
	}
	var u githubUser
	if err := json.Unmarshal(raw, &u); err != nil {
		return Profile{}, nil, fail(CodeUnableToGetUserInfo, ErrUserinfo, fmt.Errorf("GET %s: %w", userURL, err))
	}
	var emails []githubEmail
	if err := p.getJSON(ctx, strings.TrimSuffix(userURL, "/")+"/emails", accessToken, &emails); err != nil {
		emails = nil
	}
	prof := Profile{Subject: u.ID.String(), Image: u.AvatarURL, Name: u.Login}
	if u.Name != nil && *u.Name != "" {
		prof.Name = *u.Name
	}
	if u.Email != nil {
		prof.Email = *u.Email
	}
	if prof.Email == "" && len(emails) > 0 {
		prof.Email = emails[0].Email
		for _, e := range emails {
			if e.Primary {
				prof.Email = e.Email
				break
			}
		}
		d.set("email", prof.Email)
	}
	for _, e := range emails {
		if e.Email == prof.Email {
			prof.EmailVerified = e.Verified
			break
		}
	}
	return prof, d, nil
}

// getJSON is a bearer-authenticated GET whose failures are all
// unable_to_get_user_info.
func (p *Provider) getJSON(ctx context.Context, url, accessToken string, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fail(CodeUnableToGetUserInfo, ErrUserinfo, err)
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	req.Header.Set("Accept", "application/json")
	// GitHub's API refuses requests without a User-Agent.
	req.Header.Set("User-Agent", "auth_gate")
	res, err := p.client.Do(req)
	if err != nil {
		return fail(CodeUnableToGetUserInfo, ErrUserinfo, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return fail(CodeUnableToGetUserInfo, ErrUserinfo, fmt.Errorf("read %s: %w", url, err))
	}
	if res.StatusCode != http.StatusOK {
		return fail(CodeUnableToGetUserInfo, ErrUserinfo, fmt.Errorf("GET %s: status %d", url, res.StatusCode))
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	if err := dec.Decode(into); err != nil {
		return fail(CodeUnableToGetUserInfo, ErrUserinfo, fmt.Errorf("GET %s: %w", url, err))
	}
	return nil
}

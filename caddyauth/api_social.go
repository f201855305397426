package caddyauth

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/authgate/authgate/caddyauth/internal/emailaddr"
	"github.com/authgate/authgate/caddyauth/internal/mail"
	"github.com/authgate/authgate/caddyauth/internal/social"
	"github.com/authgate/authgate/store"
)

// oauthStateCookie carries the sealed flow state (social.State) from
// POST /sign-in/social to the callback, so starting a flow writes nothing.
// Not Better Auth's own "state" or "oauth_state": its formats differ, and
// a Better Auth server on the same site during a migration must not read
// ours, nor we its.
const oauthStateCookie = "gate_oauth_state"

// providerTimeout bounds each call to a provider: a provider that hangs
// costs a browser one bounded wait and an error redirect, never a 500. A
// variable so that tests of a hanging provider need not wait it out.
var providerTimeout = 10 * time.Second

const callbackPrefix = "/callback/"

// eventAccountLinked records a provider account added to an existing user.
const eventAccountLinked = "account-linked"

var errProviderNotFound = newAPIError(http.StatusNotFound, "PROVIDER_NOT_FOUND", "Provider not found")

// errProviderUnavailable answers a sign-in start whose provider's discovery
// document could not be read, so no authorization URL can be built.
var errProviderUnavailable = newAPIError(http.StatusBadGateway, "PROVIDER_UNAVAILABLE", "The sign-in provider could not be reached")

// Redirect error codes of the callback that are not the provider
// package's (Better Auth's oauth2/errors.mjs and link-account.mjs).
const (
	codeStateNotFound       = "state_not_found"
	codeStateMismatch       = "state_mismatch"
	codeNoCode              = "no_code"
	codeAccountNotLinked    = "account_not_linked"
	codeSignUpDisabled      = "signup_disabled"
	codeUnableToLink        = "unable_to_link_account"
	codeUnableToCreateUser  = "unable_to_create_user"
	codeBanned              = "banned"
	codeEmailNotVerified    = "email_not_verified"
	codeOAuthProviderAbsent = social.CodeOAuthProviderMissing
)

// handleSignInSocial is POST /sign-in/social: with an idToken it signs in
// at once (api_social_accounts.go), else it seals the flow into a cookie and
// answers the provider's authorization URL.
func (g *Gate) handleSignInSocial(w http.ResponseWriter, r *http.Request) *apiError {
	b, e := readBody(w, r, false)
	if e != nil {
		return e
	}
	providerID, _ := b.str("provider", true)
	callbackURL, _ := b.str("callbackURL", false)
	newUserURL, _ := b.str("newUserCallbackURL", false)
	errorURL, _ := b.str("errorCallbackURL", false)
	loginHint, _ := b.str("loginHint", false)
	disableRedirect, _ := b.optBool("disableRedirect")
	requestSignUp, _ := b.optBool("requestSignUp")
	scopes := readScopes(b)
	idToken := readIDToken(b)
	if e := b.err(); e != nil {
		return e
	}
	for _, u := range []string{callbackURL, newUserURL, errorURL} {
		if e := g.checkCallback(r, u); e != nil {
			return e
		}
	}
	p := g.social[providerID]
	if p == nil {
		return errProviderNotFound
	}
	if idToken.present {
		return g.signInWithIDToken(w, r, p, idToken, callbackURL)
	}
	return g.startSocialFlow(w, r, p, social.State{
		CallbackURL:        callbackURL,
		NewUserCallbackURL: newUserURL,
		ErrorCallbackURL:   errorURL,
		RequestSignUp:      requestSignUp,
	}, social.AuthOptions{LoginHint: loginHint, Scopes: scopes}, disableRedirect)
}

// readScopes reads the optional "scopes" array of strings.
func readScopes(b *body) []string {
	var scopes []string
	if raw, ok := b.fields["scopes"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &scopes); err != nil {
			b.issue("scopes", "Invalid input: expected array, received "+jsonKind(raw))
		}
	}
	return scopes
}

// startSocialFlow begins a flow for the API, /sign-in/social and
// /link-social alike, and answers Better Auth's {url, redirect}, with the
// authorization URL in Location too unless disableRedirect is set.
func (g *Gate) startSocialFlow(w http.ResponseWriter, r *http.Request, p *social.Provider, st social.State, opts social.AuthOptions, disableRedirect bool) *apiError {
	authURL, e := g.beginSocialFlow(w, r, p, st, opts)
	if e != nil {
		return e
	}
	if !disableRedirect {
		w.Header().Set("Location", authURL)
	}
	writeJSON(w, http.StatusOK, struct {
		URL      string `json:"url"`
		Redirect bool   `json:"redirect"`
	}{authURL, !disableRedirect})
	return nil
}

// beginSocialFlow starts a flow at p for POST /sign-in/social and the
// pages' "Continue with" links alike: st's redirect targets (already
// checked) are sealed, with fresh state, nonce and PKCE verifier, into the
// state cookie, which is all a flow keeps before its callback. It answers
// the provider's authorization URL.
func (g *Gate) beginSocialFlow(w http.ResponseWriter, r *http.Request, p *social.Provider, st social.State, opts social.AuthOptions) (string, *apiError) {
	ctx, cancel := context.WithTimeout(r.Context(), providerTimeout)
	defer cancel()
	if err := p.Start(ctx); err != nil {
		g.logger.Error("social provider discovery failed", zap.String("provider", p.ID()), zap.Error(err))
		return "", errProviderUnavailable
	}
	st.ProviderID = p.ID()
	st.State = social.RandomString(social.StateLength)
	st.Nonce = social.RandomString(social.NonceLength)
	if p.PKCE() {
		st.Verifier = social.RandomString(social.VerifierLength)
	}
	authURL, err := p.AuthCodeURL(st.State, st.Verifier, st.Nonce, opts)
	if err != nil {
		g.logger.Error("social authorization URL", zap.String("provider", p.ID()), zap.Error(err))
		return "", errProviderUnavailable
	}
	sealed, err := g.stateCodec.Encode(st)
	if err != nil {
		g.logger.Error("seal social flow state", zap.Error(err))
		return "", errProviderUnavailable
	}
	secure := g.isSecure(r)
	setCookie(w.Header(), cookieName(oauthStateCookie, secure), sealed, int(social.StateMaxAge/time.Second), secure)
	return authURL, nil
}

// handleSocialCallbackPOST answers a provider's form_post with a redirect to
// the same callback as a GET, as Better Auth does, so that the browser sends
// the SameSite=Lax state cookie, which it leaves off a cross-site POST.
func (g *Gate) handleSocialCallbackPOST(w http.ResponseWriter, r *http.Request, id string) *apiError {
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return errBodyTooLarge
	}
	params := r.URL.Query()
	for k, vs := range parseForm(raw) {
		params[k] = vs
	}
	target := g.emailLink(callbackPrefix + url.PathEscape(id))
	if q := params.Encode(); q != "" {
		target += "?" + q
	}
	http.Redirect(w, r, target, http.StatusFound)
	return nil
}

// socialFlow is one callback being answered.
type socialFlow struct {
	g        *Gate
	w        http.ResponseWriter
	r        *http.Request
	errorURL string
}

// fail redirects to the error URL with Better Auth's ?error=<code>.
func (f *socialFlow) fail(code, description string) *apiError {
	v := url.Values{"error": {code}}
	if description != "" {
		v.Set("error_description", description)
	}
	sep := "?"
	if strings.Contains(f.errorURL, "?") {
		sep = "&"
	}
	http.Redirect(f.w, f.r, f.errorURL+sep+v.Encode(), http.StatusFound)
	return nil
}

// handleSocialCallback is GET /callback/:id.
func (g *Gate) handleSocialCallback(w http.ResponseWriter, r *http.Request, id string) *apiError {
	q := r.URL.Query()
	f := &socialFlow{g: g, w: w, r: r, errorURL: g.emailLink("/error")}
	secure := g.isSecure(r)
	name := cookieName(oauthStateCookie, secure)
	sealed, hasCookie := readCookie(r.Header, name)
	// The state is single-use whatever happens next.
	expireCookie(w.Header(), name, secure)
	param := q.Get("state")
	if param == "" {
		return f.fail(codeStateNotFound, "")
	}
	if !hasCookie || g.stateCodec == nil {
		g.socialRefused(r, id, codeStateMismatch, "no state cookie")
		return f.fail(codeStateMismatch, "")
	}
	st, err := g.stateCodec.Decode(sealed)
	// A cookie we sealed names an error URL checked when its flow started;
	// Better Auth redirects a mismatch there too (two sign-ins in two tabs).
	if err == nil && st.ErrorCallbackURL != "" {
		f.errorURL = st.ErrorCallbackURL
	}
	if err != nil || !st.Matches(param) || st.ProviderID != id {
		g.socialRefused(r, id, codeStateMismatch, "state cookie invalid, expired or for another flow")
		return f.fail(codeStateMismatch, "")
	}
	if pe := q.Get("error"); pe != "" {
		// The code is the provider's (or the client's) text: it goes to the
		// browser, not into the log.
		g.socialRefused(r, id, "provider_error", "provider answered with an error")
		return f.fail(pe, q.Get("error_description"))
	}
	code := q.Get("code")
	if code == "" {
		return f.fail(codeNoCode, "")
	}
	p := g.social[id]
	if p == nil {
		return f.fail(codeOAuthProviderAbsent, "")
	}
	if iss := q.Get("iss"); iss != "" {
		if err := p.CheckIssuerParam(iss); err != nil {
			g.socialRefused(r, id, social.CodeOf(err), err.Error())
			return f.fail(social.CodeOf(err), "")
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), providerTimeout)
	profile, tokens, err := p.Exchange(ctx, code, st.Verifier, st.Nonce)
	cancel()
	if err != nil {
		g.socialRefused(r, id, social.CodeOf(err), err.Error())
		return f.fail(social.CodeOf(err), "")
	}
	if st.LinkUserID != "" {
		return g.linkFromCallback(f, st, p, profile, tokens)
	}
	user, isNew, failCode, e := g.socialUser(r, p, profile, tokens, st.CallbackURL)
	if e != nil {
		return e
	}
	if failCode != "" {
		g.socialRefused(r, id, failCode, "")
		return f.fail(failCode, "")
	}
	if ge := g.checkBan(r, &user); ge != nil {
		if ge == errBannedUser {
			return f.fail(codeBanned, ge.message)
		}
		return ge
	}
	sess, err := g.startSession(r, user.ID, false)
	if err != nil {
		return g.storeError(r, opSignInSession, err)
	}
	if isNew {
		g.signedUp(r, user.ID, sess.ID)
	} else {
		g.signedIn(r, user.ID, sess.ID)
	}
	g.setSessionCookie(w, r, sess.Token, false)
	target := st.CallbackURL
	if isNew && st.NewUserCallbackURL != "" {
		target = st.NewUserCallbackURL
	}
	if target == "" {
		target = "/"
	}
	http.Redirect(w, r, target, http.StatusFound)
	return nil
}

// socialUser is Better Auth's handleOAuthUserInfo up to the session: the
// user to sign in (socialOwner), then require_email_verification, which is
// Better Auth's requireEmailVerification set on every provider: a user
// whose address nobody has verified gets no session (email_not_verified),
// and a new one is sent the verification email, as sendOnSignUp defaults
// to that option. callbackURL is where that email leads back to.
func (g *Gate) socialUser(r *http.Request, p *social.Provider, profile social.Profile, tokens social.Tokens, callbackURL string) (user store.User, isNew bool, failCode string, e *apiError) {
	user, isNew, failCode, e = g.socialOwner(r, p, profile, tokens)
	if e != nil || failCode != "" || !g.cfg.requireVerified || user.EmailVerified {
		return user, isNew, failCode, e
	}
	if isNew && g.mail != nil {
		if msg, err := g.verificationMessage(r, user, callbackURL); err == nil {
			mail.SendAsync(g.mail, msg, g.logger)
		}
	}
	if isNew {
		g.signedUp(r, user.ID, "")
	}
	g.signInRefused(r, reasonUnverified, user.ID)
	return user, isNew, codeEmailNotVerified, nil
}

// socialOwner is the account's owner, or the user with the same email when
// linking is allowed, or a new user. It answers a redirect error code for a
// refusal, an *apiError when the store fails.
func (g *Gate) socialOwner(r *http.Request, p *social.Provider, profile social.Profile, tokens social.Tokens) (user store.User, isNew bool, failCode string, e *apiError) {
	ctx := r.Context()
	t := now()
	acc := store.OAuthAccount{
		ProviderID: p.ID(),
		AccountID:  profile.Subject,
		Issuer:     p.Issuer(),
		AccountTokens: store.AccountTokens{
			AccessToken:           tokens.AccessToken,
			RefreshToken:          tokens.RefreshToken,
			IDToken:               tokens.IDToken,
			AccessTokenExpiresAt:  tokens.AccessTokenExpiresAt,
			RefreshTokenExpiresAt: tokens.RefreshTokenExpiresAt,
			Scope:                 tokens.Scope,
		},
	}
	existing, err := g.store().AccountByProvider(ctx, acc.ProviderID, acc.AccountID)
	switch {
	case err == nil:
		user, err = g.store().UserByID(ctx, existing.UserID)
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrUserNotFound) {
			return store.User{}, false, codeUnableToLink, nil
		}
		if err != nil {
			return store.User{}, false, "", g.storeError(r, opSignIn, err)
		}
		if err := g.store().UpdateAccountTokens(ctx, existing.ID, acc.AccountTokens, t); err != nil && !errors.Is(err, store.ErrNotFound) {
			return store.User{}, false, "", g.storeError(r, opSignIn, err)
		}
		// As Better Auth: the provider now vouches for the very address the
		// user has (it may not have at sign-up), so the user is verified.
		if profile.EmailVerified && !user.EmailVerified && emailaddr.Normalize(profile.Email) == user.Email {
			if user, err = g.store().MarkEmailVerified(ctx, user.ID, t); err != nil {
				return store.User{}, false, "", g.storeError(r, opSignIn, err)
			}
		}
		return user, false, "", nil
	case errors.Is(err, store.ErrDuplicateAccount):
		return store.User{}, false, codeUnableToLink, nil
	case !errors.Is(err, store.ErrNotFound):
		return store.User{}, false, "", g.storeError(r, opSignIn, err)
	}

	email := emailaddr.Normalize(profile.Email)
	user, err = g.store().UserByEmail(ctx, email)
	switch {
	case err == nil:
		// Better Auth 1.7 links implicitly only when the provider vouches
		// for the address (or is trusted) and the local user verified it
		// too (requireLocalEmailVerified): otherwise whoever controls an
		// unverified address at a provider would take over the account.
		trusted := slices.Contains(g.trustedProviders, p.ID())
		if !(trusted || profile.EmailVerified) || !user.EmailVerified {
			return store.User{}, false, codeAccountNotLinked, nil
		}
		if _, err := g.store().LinkAccount(ctx, user.ID, acc, t); err != nil {
			if errors.Is(err, store.ErrUserNotFound) {
				return store.User{}, false, codeUnableToLink, nil
			}
			return store.User{}, false, "", g.storeError(r, opSignIn, err)
		}
		g.audit(r, eventAccountLinked, user.ID, "", zap.String("provider", p.ID()))
		return user, false, "", nil
	case !errors.Is(err, store.ErrNotFound):
		return store.User{}, false, "", g.storeError(r, opSignIn, err)
	}

	if g.cfg.disableSignUp {
		return store.User{}, false, codeSignUpDisabled, nil
	}
	var image *string
	if profile.Image != "" {
		image = &profile.Image
	}
	user, _, err = g.store().CreateOAuthUser(ctx, store.NewOAuthUser{
		Name: profile.Name, Email: email, EmailVerified: profile.EmailVerified, Image: image, Account: acc,
	}, t)
	switch {
	case errors.Is(err, store.ErrEmailTaken):
		// Another sign-up took the address between the lookup and here.
		return store.User{}, false, codeUnableToCreateUser, nil
	case err != nil:
		return store.User{}, false, "", g.storeError(r, opSignUp, err)
	}
	return user, true, "", nil
}

// socialRefused records a callback that ends in an error redirect. detail
// is for the operator and never carries a token.
func (g *Gate) socialRefused(r *http.Request, provider, code, detail string) {
	g.auditFailure(r, eventSignIn, code, "", "", zap.String("provider", provider), zap.String("detail", detail))
}

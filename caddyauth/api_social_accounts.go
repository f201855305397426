package caddyauth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/authgate/authgate/caddyauth/internal/social"
	"github.com/authgate/authgate/caddyauth/internal/wire"
	"github.com/authgate/authgate/store"
)

// The rest of Better Auth 1.7.25's social sign-in (api/routes/sign-in.mjs,
// account.mjs, oauth2/link-account.mjs): the idToken branch of
// /sign-in/social, /link-social and its callback, /list-accounts and
// /unlink-account.

func init() {
	for k, h := range socialAccountRoutes {
		routes[k] = h
	}
}

var socialAccountRoutes = map[string]apiHandler{
	"POST /link-social":    (*Gate).handleLinkSocial,
	"GET /list-accounts":   (*Gate).handleListAccounts,
	"POST /unlink-account": (*Gate).handleUnlinkAccount,
}

// eventAccountUnlinked records a provider account removed from a user.
const eventAccountUnlinked = "account-unlinked"

// Better Auth's codes, messages and statuses for these routes.
var (
	errIDTokenNotSupported     = newAPIError(http.StatusNotFound, "ID_TOKEN_NOT_SUPPORTED", "id_token not supported")
	errInvalidIDToken          = newAPIError(http.StatusUnauthorized, "INVALID_TOKEN", "Invalid token")
	errFailedToGetUserInfo     = newAPIError(http.StatusUnauthorized, "FAILED_TO_GET_USER_INFO", "Failed to get user info")
	errUserEmailNotFound       = newAPIError(http.StatusUnauthorized, "USER_EMAIL_NOT_FOUND", "User email not found")
	errSocialAlreadyLinked     = newAPIError(http.StatusConflict, "SOCIAL_ACCOUNT_ALREADY_LINKED", "Social account already linked")
	errLinkingNotAllowed       = newAPIError(http.StatusUnauthorized, "LINKING_NOT_ALLOWED", "Account not linked - linking not allowed")
	errLinkingDifferentEmails  = newAPIError(http.StatusUnauthorized, "LINKING_DIFFERENT_EMAILS_NOT_ALLOWED", "Account not linked - different emails not allowed")
	errLinkingFailed           = newAPIError(http.StatusExpectationFailed, "LINKING_FAILED", "Account not linked - unable to create account")
	errFailedToUnlinkLast      = newAPIError(http.StatusBadRequest, "FAILED_TO_UNLINK_LAST_ACCOUNT", "You can't unlink your last account")
	errAccountNotFound         = newAPIError(http.StatusBadRequest, "ACCOUNT_NOT_FOUND", "Account not found")
	codeEmailDoesNotMatch      = "email_does_not_match"
	codeAlreadyLinkedElsewhere = "account_already_linked_to_different_user"
)

// idTokenInput is the body's "idToken" object. Better Auth also takes
// expiresAt and user (Apple's), checked for their types and not used by
// these providers.
type idTokenInput struct {
	present      bool
	token        string
	nonce        string
	accessToken  string
	refreshToken string
}

// readIDToken reads the optional "idToken" object, recording zod-style
// issues under body.idToken.<field>.
func readIDToken(b *body) idTokenInput {
	raw, ok := b.fields["idToken"]
	if !ok {
		return idTokenInput{}
	}
	var fields map[string]json.RawMessage
	if kind := jsonKind(raw); kind != "object" || json.Unmarshal(raw, &fields) != nil {
		b.issue("idToken", "Invalid input: expected object, received "+kind)
		return idTokenInput{}
	}
	sub := &body{fields: fields}
	in := idTokenInput{present: true}
	in.token, _ = sub.str("token", true)
	in.nonce, _ = sub.str("nonce", false)
	in.accessToken, _ = sub.str("accessToken", false)
	in.refreshToken, _ = sub.str("refreshToken", false)
	for _, f := range [][2]string{{"expiresAt", "number"}, {"user", "object"}} {
		if raw, ok := fields[f[0]]; ok && jsonKind(raw) != f[1] {
			sub.issue(f[0], "Invalid input: expected "+f[1]+", received "+jsonKind(raw))
		}
	}
	for _, is := range sub.issues {
		b.issues = append(b.issues, strings.Replace(is, "[body.", "[body.idToken.", 1))
	}
	return in
}

// verifyClientIDToken checks an id_token a client obtained from the
// provider itself and reads the user from it, answering Better Auth's
// errors: a token that fails any check is INVALID_TOKEN.
func (g *Gate) verifyClientIDToken(r *http.Request, p *social.Provider, in idTokenInput) (social.Profile, *apiError) {
	if !p.SupportsIDToken() {
		return social.Profile{}, errIDTokenNotSupported
	}
	ctx, cancel := context.WithTimeout(r.Context(), providerTimeout)
	defer cancel()
	if err := p.Start(ctx); err != nil {
		g.logger.Error("social provider discovery failed", zap.String("provider", p.ID()), zap.Error(err))
		return social.Profile{}, errProviderUnavailable
	}
	profile, err := p.VerifyIDToken(ctx, in.token, in.nonce)
	switch {
	case err == nil:
		return profile, nil
	case errors.Is(err, social.ErrEmailNotFound) && p.Kind() != social.KindOIDC:
		return social.Profile{}, errUserEmailNotFound
	case errors.Is(err, social.ErrEmailNotFound), errors.Is(err, social.ErrNoSubject):
		// A generic provider's user comes from the token's claims alone,
		// which must name both: Better Auth finds no user info.
		return social.Profile{}, errFailedToGetUserInfo
	}
	g.auditFailure(r, eventSignIn, "invalid_id_token", "", "", zap.String("provider", p.ID()), zap.String("detail", err.Error()))
	return social.Profile{}, errInvalidIDToken
}

// signInWithIDToken is the idToken branch of POST /sign-in/social: the
// callback's user handling on a verified client-supplied id_token, then a
// session and Better Auth's {"redirect":false,"token","user"}.
func (g *Gate) signInWithIDToken(w http.ResponseWriter, r *http.Request, p *social.Provider, in idTokenInput, callbackURL string) *apiError {
	profile, e := g.verifyClientIDToken(r, p, in)
	if e != nil {
		return e
	}
	// Better Auth keeps the id_token and the access token, not the refresh
	// token, of this branch.
	tokens := social.Tokens{IDToken: in.token, AccessToken: in.accessToken}
	user, isNew, failCode, e := g.socialUser(r, p, profile, tokens, callbackURL)
	if e != nil {
		return e
	}
	switch failCode {
	case "":
	case codeEmailNotVerified:
		return errEmailNotVerified
	default:
		g.socialRefused(r, p.ID(), failCode, "id_token")
		// Better Auth's handleOAuthUserInfo message, whose spaces the
		// callback turns into the redirect code's underscores.
		return newAPIError(http.StatusUnauthorized, "OAUTH_LINK_ERROR", strings.ReplaceAll(failCode, "_", " "))
	}
	if ge := g.checkBan(r, &user); ge != nil {
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
	writeJSON(w, http.StatusOK, struct {
		Redirect bool      `json:"redirect"`
		Token    string    `json:"token"`
		User     wire.User `json:"user"`
	}{false, sess.Token, wire.FromUser(user)})
	return nil
}

// handleLinkSocial is POST /link-social: with an idToken it links at once,
// else it starts a flow whose callback links the provider account to the
// signed-in user instead of signing in.
//
// Better Auth checks the callback URLs (its router's origin check), then the
// body, then the session (better-call validates before middleware runs).
func (g *Gate) handleLinkSocial(w http.ResponseWriter, r *http.Request) *apiError {
	b, e := readBody(w, r, false)
	if e != nil {
		return e
	}
	providerID, _ := b.str("provider", true)
	callbackURL, _ := b.str("callbackURL", false)
	errorURL, _ := b.str("errorCallbackURL", false)
	loginHint, _ := b.str("loginHint", false)
	disableRedirect, _ := b.optBool("disableRedirect")
	requestSignUp, _ := b.optBool("requestSignUp")
	scopes := readScopes(b)
	idToken := readIDToken(b)
	for _, u := range []string{callbackURL, errorURL} {
		if e := g.checkCallback(r, u); e != nil {
			return e
		}
	}
	if e := b.err(); e != nil {
		return e
	}
	res, e := g.requireSession(w, r)
	if e != nil {
		return e
	}
	p := g.social[providerID]
	if p == nil {
		return errProviderNotFound
	}
	if idToken.present {
		return g.linkWithIDToken(w, r, res, p, idToken)
	}
	st := social.State{
		CallbackURL:      callbackURL,
		ErrorCallbackURL: errorURL,
		RequestSignUp:    requestSignUp,
		LinkUserID:       res.user.ID,
		LinkEmail:        res.user.Email,
		LinkSessionID:    res.session.ID,
	}
	return g.startSocialFlow(w, r, p, st, social.AuthOptions{LoginHint: loginHint, Scopes: scopes}, disableRedirect)
}

// linkWithIDToken is the idToken branch of /link-social.
func (g *Gate) linkWithIDToken(w http.ResponseWriter, r *http.Request, res *authResult, p *social.Provider, in idTokenInput) *apiError {
	profile, e := g.verifyClientIDToken(r, p, in)
	if e != nil {
		return e
	}
	ctx := r.Context()
	t := now()
	tokens := store.AccountTokens{AccessToken: in.accessToken, RefreshToken: in.refreshToken, IDToken: in.token}
	existing, err := g.store().AccountByProvider(ctx, p.ID(), profile.Subject)
	switch {
	case err == nil && existing.UserID == res.user.ID:
		if err := g.store().UpdateAccountTokens(ctx, existing.ID, tokens, t); err != nil && !errors.Is(err, store.ErrNotFound) {
			return g.storeError(r, opSignIn, err)
		}
		writeLinked(w)
		return nil
	case err == nil, errors.Is(err, store.ErrDuplicateAccount):
		return errSocialAlreadyLinked
	case !errors.Is(err, store.ErrNotFound):
		return g.storeError(r, opSignIn, err)
	}
	if !slices.Contains(g.trustedProviders, p.ID()) && !profile.EmailVerified {
		return errLinkingNotAllowed
	}
	if !strings.EqualFold(profile.Email, res.user.Email) {
		return errLinkingDifferentEmails
	}
	acc := store.OAuthAccount{ProviderID: p.ID(), AccountID: profile.Subject, Issuer: p.Issuer(), AccountTokens: tokens}
	if _, err := g.store().LinkAccount(ctx, res.user.ID, acc, t); err != nil {
		if errors.Is(err, store.ErrUserNotFound) {
			return errLinkingFailed
		}
		return g.storeError(r, opSignIn, err)
	}
	g.audit(r, eventAccountLinked, res.user.ID, res.session.ID, zap.String("provider", p.ID()))
	writeLinked(w)
	return nil
}

func writeLinked(w http.ResponseWriter) {
	writeJSON(w, http.StatusOK, struct {
		URL      string `json:"url"`
		Status   bool   `json:"status"`
		Redirect bool   `json:"redirect"`
	}{"", true, false})
}

// linkFromCallback ends a /link-social flow as Better Auth's
// linkOAuthAccount: the session that asked must still be live, the
// provider must vouch for the address (or be trusted), the address must be
// the one the user had when the flow started, and the provider account
// must not be another user's. Linking starts no session.
func (g *Gate) linkFromCallback(f *socialFlow, st social.State, p *social.Provider, profile social.Profile, tokens social.Tokens) *apiError {
	r := f.r
	ctx := r.Context()
	refuse := func(code string) *apiError {
		g.auditFailure(r, eventAccountLinked, code, st.LinkUserID, st.LinkSessionID, zap.String("provider", p.ID()))
		return f.fail(code, "")
	}
	live, err := g.store().ListSessions(ctx, st.LinkUserID, now())
	if err != nil {
		return g.storeError(r, opSignIn, err)
	}
	if !slices.ContainsFunc(live, func(s store.Session) bool { return s.ID == st.LinkSessionID }) {
		return refuse(codeUnableToLink)
	}
	if !slices.Contains(g.trustedProviders, p.ID()) && !profile.EmailVerified {
		return refuse(codeUnableToLink)
	}
	if !strings.EqualFold(profile.Email, st.LinkEmail) {
		return refuse(codeEmailDoesNotMatch)
	}
	t := now()
	acc := store.AccountTokens{
		AccessToken:           tokens.AccessToken,
		RefreshToken:          tokens.RefreshToken,
		IDToken:               tokens.IDToken,
		AccessTokenExpiresAt:  tokens.AccessTokenExpiresAt,
		RefreshTokenExpiresAt: tokens.RefreshTokenExpiresAt,
		Scope:                 tokens.Scope,
	}
	existing, err := g.store().AccountByProvider(ctx, p.ID(), profile.Subject)
	switch {
	case err == nil && existing.UserID != st.LinkUserID:
		return refuse(codeAlreadyLinkedElsewhere)
	case err == nil:
		// Linking again (for more scopes, say) widens the stored scopes.
		if err := g.store().UpdateLinkedAccount(ctx, existing.ID, acc, mergeScopes(existing.Scope, tokens.Scope), t); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return refuse(codeUnableToLink)
			}
			return g.storeError(r, opSignIn, err)
		}
	case errors.Is(err, store.ErrDuplicateAccount):
		return refuse(codeUnableToLink)
	case !errors.Is(err, store.ErrNotFound):
		return g.storeError(r, opSignIn, err)
	default:
		oa := store.OAuthAccount{ProviderID: p.ID(), AccountID: profile.Subject, Issuer: p.Issuer(), AccountTokens: acc}
		if _, err := g.store().LinkAccount(ctx, st.LinkUserID, oa, t); err != nil {
			if errors.Is(err, store.ErrUserNotFound) {
				return refuse(codeUnableToLink)
			}
			return g.storeError(r, opSignIn, err)
		}
		g.audit(r, eventAccountLinked, st.LinkUserID, st.LinkSessionID, zap.String("provider", p.ID()))
	}
	target := st.CallbackURL
	if target == "" {
		target = "/"
	}
	http.Redirect(f.w, r, target, http.StatusFound)
	return nil
}

// mergeScopes is Better Auth's: the stored scopes, then the new ones not
// among them, comma-joined.
func mergeScopes(stored, incoming string) string {
	var out []string
	for _, s := range append(strings.Split(stored, ","), strings.Split(incoming, ",")...) {
		if s = strings.TrimSpace(s); s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return strings.Join(out, ",")
}

// listedAccountJSON is an account as /list-accounts shows it: no tokens, no
// password, and the scope split into "scopes".
type listedAccountJSON struct {
	ID         string    `json:"id"`
	ProviderID string    `json:"providerId"`
	AccountID  string    `json:"accountId"`
	UserID     string    `json:"userId"`
	CreatedAt  wire.Time `json:"createdAt"`
	UpdatedAt  wire.Time `json:"updatedAt"`
	Scopes     []string  `json:"scopes"`
}

// handleListAccounts is GET /list-accounts: the caller's accounts, the
// credential one included.
func (g *Gate) handleListAccounts(w http.ResponseWriter, r *http.Request) *apiError {
	res, e := g.requireSession(w, r)
	if e != nil {
		return e
	}
	list, err := g.store().ListAccounts(r.Context(), res.user.ID)
	if err != nil {
		return g.storeError(r, opSession, err)
	}
	out := make([]listedAccountJSON, len(list))
	for i, a := range list {
		out[i] = listedAccountJSON{a.ID, a.ProviderID, a.AccountID, a.UserID, wire.Time(a.CreatedAt), wire.Time(a.UpdatedAt), storedScopes(a.Scope)}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// handleUnlinkAccount is POST /unlink-account {accountId}: accountId is the
// account row's id (Better Auth 1.7), not the provider's subject. It needs
// a fresh session, as Better Auth's freshSessionMiddleware, which runs
// after the body is validated.
func (g *Gate) handleUnlinkAccount(w http.ResponseWriter, r *http.Request) *apiError {
	b, e := readBody(w, r, false)
	if e != nil {
		return e
	}
	accountID, _ := b.str("accountId", true)
	if e := b.err(); e != nil {
		return e
	}
	res, e := g.requireSession(w, r)
	if e != nil {
		return e
	}
	if now().Sub(res.session.CreatedAt) >= freshAge {
		return errSessionNotFresh
	}
	err := g.store().UnlinkAccount(r.Context(), res.user.ID, accountID, false)
	switch {
	case errors.Is(err, store.ErrLastAccount):
		return errFailedToUnlinkLast
	case errors.Is(err, store.ErrNotFound):
		return errAccountNotFound
	case err != nil:
		return g.storeError(r, opSession, err)
	}
	g.audit(r, eventAccountUnlinked, res.user.ID, res.session.ID, zap.String("account_id", accountID))
	writeJSON(w, http.StatusOK, map[string]bool{"status": true})
	return nil
}

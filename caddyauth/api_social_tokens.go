package caddyauth

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/authgate/authgate/caddyauth/internal/social"
	"github.com/authgate/authgate/caddyauth/internal/wire"
	"github.com/authgate/authgate/store"
)

// Better Auth 1.7.25's provider-token routes (api/routes/account.mjs):
// POST /get-access-token hands the signed-in user a provider account's
// access token, refreshed first when it is within five seconds of its end;
// POST /refresh-token refreshes it whatever its age; GET /account-info asks
// the provider who the account is now. An app calls them to reach the
// provider's APIs (a calendar, a repository) as the user.

func init() {
	routes["POST /get-access-token"] = (*Gate).handleGetAccessToken
	routes["POST /refresh-token"] = (*Gate).handleRefreshToken
	routes["GET /account-info"] = (*Gate).handleAccountInfo
}

var (
	// errTokenUnauthorized is Better Auth's ctx.error("UNAUTHORIZED") of
	// these routes: a 401 without a body, unlike sessionMiddleware's.
	errTokenUnauthorized     = newAPIError(http.StatusUnauthorized, "", "")
	errRefreshTokenNotFound  = newAPIError(http.StatusBadRequest, "REFRESH_TOKEN_NOT_FOUND", "Refresh token not found")
	errFailedToGetToken      = newAPIError(http.StatusBadRequest, "FAILED_TO_GET_ACCESS_TOKEN", "Failed to get a valid access token")
	errFailedToRefresh       = newAPIError(http.StatusBadRequest, "FAILED_TO_REFRESH_ACCESS_TOKEN", "Failed to refresh access token")
	errProviderNotConfigured = newAPIError(http.StatusBadRequest, "PROVIDER_NOT_CONFIGURED",
		"Account is not associated with a configured social provider.")
	errAccessTokenNotFound = newAPIError(http.StatusBadRequest, "ACCESS_TOKEN_NOT_FOUND", "Access token not found")
)

// accessTokenMargin is how close to its end a stored access token is
// refreshed before /get-access-token hands it out (Better Auth's 5e3 ms).
const accessTokenMargin = 5 * time.Second

// refreshTimeout bounds a provider's token endpoint, as the callback's
// exchange is bounded.
const refreshTimeout = 10 * time.Second

// eventAccountTokenRefreshed records a provider token refreshed for a
// user; reasonProviderRefused is its failure, the provider's refusal or
// silence (the error says which; it carries no token).
const (
	eventAccountTokenRefreshed = "account-token-refreshed"
	reasonProviderRefused      = "provider_refused"
)

// tokenAccount reads the body both routes share, Better Auth's
// accountSelectionSchema: {accountId, userId?} or {useAccountCookie: true,
// userId?}, strict. It then finds the account among the signed-in user's;
// userId never selects another user's (a session's user always wins in
// Better Auth, and only a session reaches these routes over HTTP). Without
// Better Auth's account cookie (storeAccountCookie, off by default), a
// useAccountCookie selection finds nothing, as there.
func (g *Gate) tokenAccount(w http.ResponseWriter, r *http.Request) (*authResult, store.Account, *social.Provider, *apiError) {
	b, e := readBody(w, r, false)
	if e != nil {
		return nil, store.Account{}, nil, e
	}
	if e := accountSelection(b); e != nil {
		return nil, store.Account{}, nil, e
	}
	accountID, _ := b.str("accountId", false)
	res, acc, e := g.ownAccount(w, r, accountID)
	if e != nil {
		return nil, store.Account{}, nil, e
	}
	p := g.social[acc.ProviderID]
	if p == nil {
		// The credential account, or a provider no longer configured.
		return nil, store.Account{}, nil, newAPIError(http.StatusBadRequest, "PROVIDER_NOT_SUPPORTED",
			fmt.Sprintf("Provider %s is not supported.", acc.ProviderID))
	}
	return res, acc, p, nil
}

// ownAccount is the signed-in user's account row accountID ("" selects
// none: the account cookie Better Auth does not keep by default either).
func (g *Gate) ownAccount(w http.ResponseWriter, r *http.Request, accountID string) (*authResult, store.Account, *apiError) {
	res, e := g.requireSession(w, r)
	if e == errUnauthorized {
		return nil, store.Account{}, errTokenUnauthorized
	}
	if e != nil {
		return nil, store.Account{}, e
	}
	if accountID == "" {
		return nil, store.Account{}, errAccountNotFound
	}
	list, err := g.store().ListAccounts(r.Context(), res.user.ID)
	if err != nil {
		return nil, store.Account{}, g.storeError(r, opSession, err)
	}
	i := slices.IndexFunc(list, func(a store.Account) bool { return a.ID == accountID })
	if i < 0 {
		return nil, store.Account{}, errAccountNotFound
	}
	return res, list[i], nil
}

// accountSelection checks the body against accountSelectionSchema with
// zod's messages: a union of two strict objects reports "Invalid input"
// unless one branch matched but for unknown keys.
func accountSelection(b *body) *apiError {
	if b.form != nil {
		return nil // readBody refused forms already
	}
	kind := func(name string) string {
		raw, ok := b.fields[name]
		if !ok {
			return "undefined"
		}
		return jsonKind(raw)
	}
	branch := ""
	switch {
	case kind("accountId") == "string":
		branch = "accountId"
	case kind("useAccountCookie") == "boolean" && strings.HasPrefix(strings.TrimSpace(string(b.fields["useAccountCookie"])), "true"):
		branch = "useAccountCookie"
	}
	if u := kind("userId"); branch == "" || u != "undefined" && u != "string" {
		return newAPIError(http.StatusBadRequest, "VALIDATION_ERROR", "[body] Invalid input")
	}
	return unrecognizedKeys("body", slices.Collect(maps.Keys(b.fields)), branch)
}

// unrecognizedKeys is zod's strict-object issue for the keys other than
// known and userId, or nil.
func unrecognizedKeys(where string, keys []string, known string) *apiError {
	var extra []string
	for _, k := range keys {
		if k != known && k != "userId" {
			extra = append(extra, fmt.Sprintf("%q", k))
		}
	}
	switch len(extra) {
	case 0:
		return nil
	case 1:
		return newAPIError(http.StatusBadRequest, "VALIDATION_ERROR", "["+where+"] Unrecognized key: "+extra[0])
	}
	slices.Sort(extra)
	return newAPIError(http.StatusBadRequest, "VALIDATION_ERROR", "["+where+"] Unrecognized keys: "+strings.Join(extra, ", "))
}

// refreshAccount refreshes acc's tokens at p and stores them as Better
// Auth's updateAccount does: a token the provider did not send again is
// kept, the scope is left alone. A provider that refuses or fails answers
// failed; a store that fails, its usual 503.
func (g *Gate) refreshAccount(r *http.Request, res *authResult, acc store.Account, p *social.Provider, failed *apiError) (social.Tokens, *apiError) {
	ctx, cancel := context.WithTimeout(r.Context(), refreshTimeout)
	defer cancel()
	tok, err := p.Refresh(ctx, acc.RefreshToken)
	if err != nil {
		g.auditFailure(r, eventAccountTokenRefreshed, reasonProviderRefused, res.user.ID, res.session.ID,
			zap.String("account_id", acc.ID), zap.String("provider", p.ID()), zap.Error(err))
		return social.Tokens{}, failed
	}
	if err := g.store().UpdateAccountTokens(r.Context(), acc.ID, store.AccountTokens{
		AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, IDToken: tok.IDToken,
		AccessTokenExpiresAt: tok.AccessTokenExpiresAt, RefreshTokenExpiresAt: tok.RefreshTokenExpiresAt,
	}, now()); err != nil {
		return social.Tokens{}, g.storeError(r, opSession, err)
	}
	g.audit(r, eventAccountTokenRefreshed, res.user.ID, res.session.ID,
		zap.String("account_id", acc.ID), zap.String("provider", p.ID()))
	return tok, nil
}

// accessTokenJSON is /get-access-token's answer; a missing expiry or
// id_token is left out, as Better Auth's undefined is.
type accessTokenJSON struct {
	AccessToken          string     `json:"accessToken"`
	AccessTokenExpiresAt *wire.Time `json:"accessTokenExpiresAt,omitempty"`
	Scopes               []string   `json:"scopes"`
	IDToken              string     `json:"idToken,omitempty"`
}

// handleGetAccessToken is POST /get-access-token.
func (g *Gate) handleGetAccessToken(w http.ResponseWriter, r *http.Request) *apiError {
	res, acc, p, e := g.tokenAccount(w, r)
	if e != nil {
		return e
	}
	tok, e := g.validAccessToken(r, res, acc, p)
	if e != nil {
		return e
	}
	writeJSON(w, http.StatusOK, accessTokenJSON{
		AccessToken: tok.AccessToken, AccessTokenExpiresAt: optTime(tok.AccessTokenExpiresAt),
		Scopes: storedScopes(acc.Scope), IDToken: tok.IDToken,
	})
	return nil
}

// validAccessToken is Better Auth's getValidAccessToken, which
// /get-access-token and /account-info share: the stored tokens, refreshed
// first when the access token has an expiry within accessTokenMargin and
// there is a refresh token; what the refresh did not send again is the
// stored one.
func (g *Gate) validAccessToken(r *http.Request, res *authResult, acc store.Account, p *social.Provider) (social.Tokens, *apiError) {
	tok := social.Tokens{AccessToken: acc.AccessToken, IDToken: acc.IDToken, AccessTokenExpiresAt: acc.AccessTokenExpiresAt}
	if acc.RefreshToken == "" || acc.AccessTokenExpiresAt.IsZero() || acc.AccessTokenExpiresAt.Sub(now()) >= accessTokenMargin {
		return tok, nil
	}
	fresh, e := g.refreshAccount(r, res, acc, p, errFailedToGetToken)
	if e != nil {
		return social.Tokens{}, e
	}
	tok.AccessToken = fresh.AccessToken
	if !fresh.AccessTokenExpiresAt.IsZero() {
		tok.AccessTokenExpiresAt = fresh.AccessTokenExpiresAt
	}
	if fresh.IDToken != "" {
		tok.IDToken = fresh.IDToken
	}
	return tok, nil
}

// refreshedJSON is /refresh-token's answer, in Better Auth's key order:
// the stored refresh expiry, scope and id_token are null when the row has
// none; an access expiry the provider did not send is left out.
type refreshedJSON struct {
	AccessToken           string     `json:"accessToken"`
	RefreshToken          string     `json:"refreshToken"`
	AccessTokenExpiresAt  *wire.Time `json:"accessTokenExpiresAt,omitempty"`
	RefreshTokenExpiresAt *wire.Time `json:"refreshTokenExpiresAt"`
	Scope                 *string    `json:"scope"`
	IDToken               *string    `json:"idToken"`
	ProviderID            string     `json:"providerId"`
	AccountID             string     `json:"accountId"` // the row's id
}

// handleRefreshToken is POST /refresh-token.
func (g *Gate) handleRefreshToken(w http.ResponseWriter, r *http.Request) *apiError {
	res, acc, p, e := g.tokenAccount(w, r)
	if e != nil {
		return e
	}
	if acc.RefreshToken == "" {
		return errRefreshTokenNotFound
	}
	tok, e := g.refreshAccount(r, res, acc, p, errFailedToRefresh)
	if e != nil {
		return e
	}
	out := refreshedJSON{
		AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken,
		AccessTokenExpiresAt:  optTime(tok.AccessTokenExpiresAt),
		RefreshTokenExpiresAt: optTime(acc.RefreshTokenExpiresAt),
		Scope:                 optString(acc.Scope), IDToken: optString(acc.IDToken),
		ProviderID: acc.ProviderID, AccountID: acc.ID,
	}
	if t := optTime(tok.RefreshTokenExpiresAt); t != nil {
		out.RefreshTokenExpiresAt = t
	}
	if tok.IDToken != "" {
		out.IDToken = &tok.IDToken
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// storedScopes is Better Auth's parseStoredScopes: account.scope split on
// ",", trimmed, empty ones dropped; [] when there is none.
func storedScopes(scope string) []string {
	out := []string{}
	for s := range strings.SplitSeq(scope, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func optTime(t time.Time) *wire.Time {
	if t.IsZero() {
		return nil
	}
	w := wire.Time(t)
	return &w
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// handleAccountInfo is GET /account-info?accountId=: the provider's current
// description of the account, through its access token (refreshed first
// as /get-access-token does).
func (g *Gate) handleAccountInfo(w http.ResponseWriter, r *http.Request) *apiError {
	q := r.URL.Query()
	if len(q["accountId"]) != 1 || len(q["userId"]) > 1 {
		return newAPIError(http.StatusBadRequest, "VALIDATION_ERROR", "[query] Invalid input")
	}
	if e := unrecognizedKeys("query", slices.Collect(maps.Keys(q)), "accountId"); e != nil {
		return e
	}
	res, acc, e := g.ownAccount(w, r, q.Get("accountId"))
	if e != nil {
		return e
	}
	p := g.social[acc.ProviderID]
	if p == nil {
		return errProviderNotConfigured
	}
	tok, e := g.validAccessToken(r, res, acc, p)
	if e != nil {
		return e
	}
	if tok.AccessToken == "" {
		return errAccessTokenNotFound
	}
	ctx, cancel := context.WithTimeout(r.Context(), refreshTimeout)
	defer cancel()
	user, data, err := p.AccountInfo(ctx, tok.AccessToken, tok.IDToken)
	if err != nil {
		g.logger.Warn("provider account info failed", zap.String("provider", p.ID()),
			zap.String("account_id", acc.ID), zap.Error(err))
		return errFailedToGetUserInfo
	}
	type accountRef struct {
		ID         string `json:"id"`
		ProviderID string `json:"providerId"`
		AccountID  string `json:"accountId"`
	}
	writeJSON(w, http.StatusOK, struct {
		User    json.RawMessage `json:"user"`
		Data    json.RawMessage `json:"data"`
		Account accountRef      `json:"account"`
	}{user, data, accountRef{acc.ID, acc.ProviderID, acc.AccountID}})
	return nil
}

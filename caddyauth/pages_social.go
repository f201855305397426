package caddyauth

import (
	"net/http"
	"net/url"

	"github.com/authgate/authgate/caddyauth/internal/social"
)

// Social sign-in on the built-in pages: with providers configured, the
// sign-in and sign-up pages show one "Continue with <provider>" link each,
//
//	GET /sign-in/social?provider=<id>&redirect=<target>
//
// which starts the flow as POST /sign-in/social does (beginSocialFlow: the
// same state cookie, the same rate limit, the redirect target checked by the
// same rule as callbackURL) and sends the browser on to the provider. Better
// Auth's POST /sign-in/social takes JSON only, which a page without
// JavaScript cannot send; a link can.
//
// A GET that starts a flow needs no form token and no origin check, because
// it cannot sign anyone in on its own: it only sets a state cookie and
// redirects to the provider. Whoever makes a browser follow it (a link on
// another site, an <img>) starts a flow in that browser, whose callback
// signs in whoever then authenticates at the provider in that same browser,
// the browser's own user. The login CSRF that matters, a victim signed into
// the attacker's account, needs the victim's browser to present a callback
// whose state matches the cookie; the attacker can neither read the state
// sealed in the victim's cookie nor plant a cookie of their own flow there.
// At worst a forced start replaces a flow the user had running in another
// tab, or, with a provider that approves silently, signs the browser's user
// in (or up) as themselves, which their own click on the link would do.

// socialButton is one "Continue with" link.
type socialButton struct {
	Name string
	Href string // the page route that starts the flow, redirect included
}

// providerNames are the display names of the built-in kinds.
var providerNames = map[string]string{
	string(social.KindGoogle):    "Google",
	string(social.KindGitHub):    "GitHub",
	string(social.KindMicrosoft): "Microsoft",
}

// socialPageErrors are what the sign-in page says when a flow it started
// comes back with ?error=: the callback's own codes and the standard OAuth
// and OpenID Connect ones a provider sends. Like every page message these
// are fixed texts; a code not listed shows no message.
var socialPageErrors = func() map[string]string {
	const (
		retry    = "Signing in with the provider did not work. Please try again."
		refused  = "The provider could not sign you in. Please try again, or sign in another way."
		timedOut = "This sign-in took too long or was started in another window. Please try again."
	)
	m := map[string]string{
		codeStateNotFound:    timedOut,
		codeStateMismatch:    timedOut,
		codeAccountNotLinked: "An account with this email address already exists. Sign in with your password, then link the provider from your account.",
		codeSignUpDisabled:   "No account matches this sign-in, and new accounts cannot be created here.",
		codeBanned:           "This account has been suspended.",
		"access_denied":      "Sign-in was cancelled at the provider.",
	}
	for _, code := range []string{
		codeNoCode, codeUnableToLink, codeUnableToCreateUser, codeOAuthProviderAbsent,
		social.CodeInvalidCode, social.CodeUnableToGetUserInfo, social.CodeNonceBindingMissing, social.CodeIssuerMismatch,
		"server_error", "temporarily_unavailable",
	} {
		m[code] = retry
	}
	m[social.CodeEmailNotFound] = "The provider did not share an email address, which an account needs."
	for _, code := range []string{
		"invalid_request", "unauthorized_client", "unsupported_response_type", "invalid_scope",
		"login_required", "consent_required", "interaction_required", "account_selection_required",
	} {
		m[code] = refused
	}
	return m
}()

func init() {
	pageRoutes["GET /sign-in/social"] = pageRoute{page: "sign-in", api: "/sign-in/social", serve: (*Gate).startSocialFromPage}
	for code, msg := range socialPageErrors {
		if _, taken := pageErrors[code]; !taken {
			pageErrors[code] = msg
		}
	}
}

// socialButtons are the links of the configured providers, in the order of
// the configuration, each carrying the page's (validated) redirect target.
func (g *Gate) socialButtons(redirect string) []socialButton {
	if len(g.social) == 0 {
		return nil
	}
	buttons := make([]socialButton, 0, len(g.Social))
	for _, sp := range g.Social {
		name := sp.Name
		if name == "" {
			name = providerNames[sp.Kind]
		}
		if name == "" {
			name = sp.ID
		}
		q := url.Values{"provider": {sp.ID}}
		if redirect != "" {
			q.Set("redirect", redirect)
		}
		buttons = append(buttons, socialButton{Name: name, Href: g.cfg.basePath + "/sign-in/social?" + q.Encode()})
	}
	return buttons
}

// startSocialFromPage is GET /sign-in/social: a "Continue with" link. The
// page's redirect target (dropped by newPageData unless it passes the
// callbackURL rule) is where the callback sends the browser; a flow that
// fails comes back to the sign-in page with ?error=, and one that cannot
// start shows the sign-in page with the API's message.
func (g *Gate) startSocialFromPage(w http.ResponseWriter, r *http.Request, p *pageData) *apiError {
	prov := g.social[r.URL.Query().Get("provider")]
	if prov == nil {
		return errProviderNotFound
	}
	authURL, e := g.beginSocialFlow(w, r, prov, social.State{
		CallbackURL:      p.target(),
		ErrorCallbackURL: g.pageURL("sign-in", "", p),
	}, social.AuthOptions{})
	if e != nil {
		return e
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Location", authURL)
	w.WriteHeader(http.StatusFound)
	return nil
}

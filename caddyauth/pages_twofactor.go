package caddyauth

import (
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"rsc.io/qr"
)

// Two-factor on the built-in pages (`pages on`), for a database that has the
// plugin's schema:
//
//	GET  /two-factor/code      POST /two-factor/code      the code step of a password sign-in
//	GET  /two-factor                                       the signed-in user's two-factor settings
//	POST /two-factor/setup     the password, then the QR code, the secret and the backup codes
//	POST /two-factor/confirm   the first code from the app: two-factor is on
//	POST /two-factor/turn-off  the password: two-factor is off
//
// The sign-in page sends an enrolled user on to the code page, which runs
// the same code check as POST /two-factor/verify-totp (or
// verify-backup-code, for a code that is not six digits): the same
// two_factor cookie, five tries per challenge, account lockout, rate limits.
// The settings page runs enable, verify-totp and disable as the API does.
// No page here uses JavaScript: the QR code is an inline SVG drawn on the
// server, which the pages' Content-Security-Policy allows as it fetches
// nothing.

// twoFactorPage is what the two-factor pages show.
type twoFactorPage struct {
	Enabled     bool
	QR          template.HTML // an inline <svg> of the otpauth URI
	Secret      string        // base32, for typing into an app
	BackupCodes []string
	Trust       bool // code page: "trust this device" was checked
	Confirm     bool // settings: the form for the first code
}

// The pages, each a template set of layout.html and one file; the three
// states of the settings page are three pages so that each form's token is
// bound to the one path it posts to.
const (
	pageTwoFactorCode    = "two-factor-code"
	pageTwoFactorEnable  = "two-factor-enable"
	pageTwoFactorConfirm = "two-factor-confirm"
	pageTwoFactorDisable = "two-factor-disable"
)

func init() {
	for page, form := range map[string]struct{ file, title, path string }{
		pageTwoFactorCode:    {"two-factor-code", "Two-factor authentication", "/two-factor/code"},
		pageTwoFactorEnable:  {"two-factor", "Two-factor authentication", "/two-factor/setup"},
		pageTwoFactorConfirm: {"two-factor", "Set up two-factor authentication", "/two-factor/confirm"},
		pageTwoFactorDisable: {"two-factor", "Two-factor authentication", "/two-factor/turn-off"},
	} {
		pageTemplates[page] = template.Must(template.ParseFS(pageFiles, "pages/layout.html", "pages/"+form.file+".html"))
		pageTitles[page] = form.title
		formPaths[page] = form.path
	}
	pageRoutes["GET /two-factor/code"] = pageRoute{page: pageTwoFactorCode, serve: (*Gate).showTwoFactorCode}
	pageRoutes["POST /two-factor/code"] = pageRoute{page: pageTwoFactorCode, api: "/two-factor/verify-totp", serve: (*Gate).postTwoFactorCode}
	pageRoutes["GET /two-factor"] = pageRoute{page: pageTwoFactorEnable, serve: (*Gate).showTwoFactorSettings}
	pageRoutes["POST /two-factor/setup"] = pageRoute{page: pageTwoFactorEnable, api: "/two-factor/enable", serve: (*Gate).postTwoFactorSetup}
	pageRoutes["POST /two-factor/confirm"] = pageRoute{page: pageTwoFactorConfirm, api: "/two-factor/verify-totp", serve: (*Gate).postTwoFactorConfirm}
	pageRoutes["POST /two-factor/turn-off"] = pageRoute{page: pageTwoFactorDisable, api: "/two-factor/disable", serve: (*Gate).postTwoFactorTurnOff}
	pageNotices["two-factor-enabled"] = "Two-factor authentication is on. Keep your backup codes somewhere safe."
	pageNotices["two-factor-disabled"] = "Two-factor authentication is off."
	pageErrors[errTwoFactorCookie.code] = "This sign-in has expired or was already completed. Please sign in again."
	pageErrors[errTooManyAttempts.code] = "Too many wrong codes. Please sign in again."
}

// errTwoFactorUnavailable is the settings and code pages on a database
// without the plugin's schema, where the API answers 404 too.
var errTwoFactorUnavailable = newAPIError(http.StatusNotFound, "", "Two-factor authentication is not available on this site.")

// twoFactorSignInStep is where the sign-in page sends a user whose password
// checked out and who now owes a code.
func (g *Gate) twoFactorSignInStep(p *pageData) string {
	u := g.cfg.basePath + "/two-factor/code"
	if p.Redirect != "" {
		u += "?" + url.Values{"redirect": {p.Redirect}}.Encode()
	}
	return u
}

// signInAgain sends the browser back to the sign-in page with one of the
// fixed page errors, keeping the redirect target.
func (g *Gate) signInAgain(w http.ResponseWriter, p *pageData, code string) {
	q := url.Values{"error": {code}}
	if p.Redirect != "" {
		q.Set("redirect", p.Redirect)
	}
	seeOther(w, g.cfg.basePath+"/sign-in?"+q.Encode())
}

func (g *Gate) showTwoFactorCode(w http.ResponseWriter, r *http.Request, p *pageData) *apiError {
	if !g.twoFactorUsable() {
		return errTwoFactorUnavailable
	}
	p.TwoFactor = &twoFactorPage{}
	g.renderPage(w, http.StatusOK, p)
	return nil
}

// postTwoFactorCode is POST /two-factor/code: a code from the app, or a
// backup code, completing a sign-in. A challenge that is gone (expired,
// used, or out of tries) cannot be retried: the user signs in again.
func (g *Gate) postTwoFactorCode(w http.ResponseWriter, r *http.Request, p *pageData) *apiError {
	if !g.twoFactorUsable() {
		return errTwoFactorUnavailable
	}
	p.TwoFactor = &twoFactorPage{}
	b, e := g.readPageForm(w, r, p)
	if e != nil {
		return e
	}
	code, _ := b.str("code", false)
	trust, _ := b.optBool("trustDevice")
	p.TwoFactor.Trust = trust
	if e := b.err(); e != nil {
		return e
	}
	// Authenticator apps show the code as "123 456".
	code = strings.Join(strings.Fields(code), "")
	if isTOTPCode(code) {
		_, _, e = g.verifyTOTP(w, r, code, trust)
	} else {
		_, _, e = g.verifyBackupCode(w, r, code, trust, false)
	}
	switch e {
	case nil:
		seeOther(w, p.target())
		return nil
	case errTwoFactorCookie, errTooManyAttempts:
		g.signInAgain(w, p, e.code)
		return nil
	}
	return e
}

func isTOTPCode(s string) bool {
	if len(s) != 6 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// settingsSession is the signed-in user of a settings page; without one
// the browser is sent to sign in and come back.
func (g *Gate) settingsSession(w http.ResponseWriter, r *http.Request, p *pageData) (*authResult, bool, *apiError) {
	if !g.twoFactorUsable() {
		return nil, false, errTwoFactorUnavailable
	}
	res, e := g.requireSession(w, r)
	if e == errUnauthorized {
		q := url.Values{"redirect": {g.cfg.basePath + "/two-factor"}}
		seeOther(w, g.cfg.basePath+"/sign-in?"+q.Encode())
		return nil, false, nil
	}
	if e != nil {
		return nil, false, e
	}
	return res, true, nil
}

// showTwoFactorSettings is GET /two-factor: a form to turn two-factor on
// or, once it is on, off.
func (g *Gate) showTwoFactorSettings(w http.ResponseWriter, r *http.Request, p *pageData) *apiError {
	res, ok, e := g.settingsSession(w, r, p)
	if !ok {
		return e
	}
	user, e := g.freshUser(r, res)
	if e != nil {
		return e
	}
	g.settingsState(p, user.TwoFactorEnabled)
	g.renderPage(w, http.StatusOK, p)
	return nil
}

// settingsState makes p the settings page for two-factor on or off.
func (g *Gate) settingsState(p *pageData, enabled bool) {
	p.page = pageTwoFactorEnable
	if enabled {
		p.page = pageTwoFactorDisable
	}
	p.Title = pageTitles[p.page]
	p.TwoFactor = &twoFactorPage{Enabled: enabled}
}

// postTwoFactorSetup is POST /two-factor/setup: with the password, a new
// secret and backup codes, shown once, and the form for the first code.
func (g *Gate) postTwoFactorSetup(w http.ResponseWriter, r *http.Request, p *pageData) *apiError {
	res, ok, e := g.settingsSession(w, r, p)
	if !ok {
		return e
	}
	g.settingsState(p, false)
	b, e := g.readPageForm(w, r, p)
	if e != nil {
		return e
	}
	pw, _ := b.str("password", false)
	if e := b.err(); e != nil {
		return e
	}
	uri, codes, e := g.enableTwoFactor(r, res, pw, "")
	if e == errTOTPAlreadyEnabled {
		g.settingsState(p, true)
	}
	if e != nil {
		return e
	}
	svg, err := qrSVG(uri)
	if err != nil {
		g.logger.Error("two-factor page: cannot draw the QR code") // the URI holds the secret: not logged
		return errInternal
	}
	u, _ := url.Parse(uri)
	p.page, p.Title = pageTwoFactorConfirm, pageTitles[pageTwoFactorConfirm]
	p.TwoFactor = &twoFactorPage{QR: svg, Secret: u.Query().Get("secret"), BackupCodes: codes, Confirm: true}
	g.renderPage(w, http.StatusOK, p)
	return nil
}

// postTwoFactorConfirm is POST /two-factor/confirm: the first code turns
// two-factor on, and the session is replaced, as verify-totp does.
func (g *Gate) postTwoFactorConfirm(w http.ResponseWriter, r *http.Request, p *pageData) *apiError {
	if _, ok, e := g.settingsSession(w, r, p); !ok {
		return e
	}
	p.TwoFactor = &twoFactorPage{Confirm: true}
	b, e := g.readPageForm(w, r, p)
	if e != nil {
		return e
	}
	code, _ := b.str("code", false)
	if e := b.err(); e != nil {
		return e
	}
	if _, _, e := g.verifyTOTP(w, r, strings.Join(strings.Fields(code), ""), false); e != nil {
		return e
	}
	seeOther(w, g.settingsURL("two-factor-enabled", p))
	return nil
}

// postTwoFactorTurnOff is POST /two-factor/turn-off: with the password,
// two-factor is off and the session replaced, as disable does.
func (g *Gate) postTwoFactorTurnOff(w http.ResponseWriter, r *http.Request, p *pageData) *apiError {
	res, ok, e := g.settingsSession(w, r, p)
	if !ok {
		return e
	}
	g.settingsState(p, true)
	b, e := g.readPageForm(w, r, p)
	if e != nil {
		return e
	}
	pw, _ := b.str("password", false)
	if e := b.err(); e != nil {
		return e
	}
	user, e := g.freshUser(r, res)
	if e != nil {
		return e
	}
	if !user.TwoFactorEnabled {
		g.settingsState(p, false)
		return errTwoFactorNotEnabled
	}
	if e := g.disableTwoFactor(w, r, res, pw); e != nil {
		return e
	}
	seeOther(w, g.settingsURL("two-factor-disabled", p))
	return nil
}

func (g *Gate) settingsURL(notice string, p *pageData) string {
	q := url.Values{"notice": {notice}}
	if p.Redirect != "" {
		q.Set("redirect", p.Redirect)
	}
	return g.cfg.basePath + "/two-factor?" + q.Encode()
}

// qrSVG draws the QR code of text as an inline SVG: one path of black
// modules on a white square with the standard four-module quiet zone. It
// holds only numbers, so it is safe to embed as HTML; presentation
// attributes rather than style keep it within the pages' CSP.
func qrSVG(text string) (template.HTML, error) {
	c, err := qr.Encode(text, qr.M)
	if err != nil {
		return "", fmt.Errorf("encoding QR code: %w", err)
	}
	const quiet = 4
	n := c.Size + 2*quiet
	var d strings.Builder
	for y := 0; y < c.Size; y++ {
		for x := 0; x < c.Size; x++ {
			if c.Black(x, y) {
				fmt.Fprintf(&d, "M%d %dh1v1h-1z", x+quiet, y+quiet)
			}
		}
	}
	return template.HTML(fmt.Sprintf(
		`<svg viewBox="0 0 %d %d" width="240" height="240" role="img" aria-label="QR code for your authenticator app" shape-rendering="crispEdges"><rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="%s"/></svg>`,
		n, n, n, n, d.String())), nil
}

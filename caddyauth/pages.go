package caddyauth

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/authgate/authgate/caddyauth/internal/emailaddr"
	"github.com/authgate/authgate/caddyauth/internal/ratelimit"
)

// The built-in pages (`pages on`): server-rendered HTML forms that work
// without JavaScript, under base_path:
//
//	GET  /sign-in          POST /sign-in              sign in, then 303 to redirect
//	GET  /sign-up          POST /sign-up              create an account, then 303 to redirect
//	GET  /forgot-password  POST /forgot-password      send a reset link
//	GET  /reset-password   POST /reset-password/form  set a new password (?token= from the link)
//	GET  /sign-out         POST /sign-out/form        sign out, then 303 to redirect
//
// A form posts to its page's own path, except where the API already owns
// that POST (/reset-password and /sign-out answer JSON, as in Better Auth).
// The form handlers run the same code as the JSON endpoints and answer a
// browser: 303 See Other to the `redirect` target (a relative path or a
// trusted origin, else /), or the page again with the API's error message
// and the status the API would have answered.
//
// A form post counts as the API request it stands for: the same rate-limit
// buckets (sign-in's per-email limit included), the same origin rules
// (checkFormCSRF), the same logs. On top of those, each page's form carries
// a signed, time-limited token bound to the path it posts to, so that a
// post must come from a form this site served within the last hour, even
// from a client that sends no Origin, Referer or Sec-Fetch headers.

//go:embed pages/*.html pages/style.css
var pageFiles embed.FS

// pageNames are the pages, each a template set of layout.html and its own
// file, which defines "content".
var pageNames = []string{"sign-in", "sign-up", "forgot-password", "reset-password", "sign-out"}

var pageTemplates = func() map[string]*template.Template {
	m := make(map[string]*template.Template, len(pageNames))
	for _, name := range pageNames {
		m[name] = template.Must(template.ParseFS(pageFiles, "pages/layout.html", "pages/"+name+".html"))
	}
	return m
}()

var pageTitles = map[string]string{
	"sign-in":         "Sign in",
	"sign-up":         "Create an account",
	"forgot-password": "Forgot your password?",
	"reset-password":  "Choose a new password",
	"sign-out":        "Sign out",
}

// pageStyle is the pages' one stylesheet, inlined; the Content-Security-
// Policy allows exactly it, by hash, and nothing else.
var pageStyle, pageStyleSource = func() (template.CSS, string) {
	b, err := pageFiles.ReadFile("pages/style.css")
	if err != nil {
		panic(err)
	}
	sum := sha256.Sum256(b)
	return template.CSS(b), "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}()

// pageNotices and pageErrors are the messages a page shows for ?notice= and
// ?error= in its URL. Only these fixed texts are shown: a page never
// displays text taken from its URL.
var (
	pageNotices = map[string]string{
		"password-reset": "Your password has been changed. Sign in with your new password.",
		"verify-email":   "Check your email for a link to verify your address, then sign in.",
		"email-verified": "Your email address is verified. You can sign in.",
	}
	pageErrors = map[string]string{
		"INVALID_TOKEN":  "This link is invalid or has expired.",
		"TOKEN_EXPIRED":  "This link has expired.",
		"USER_NOT_FOUND": "No account matches this link.",
	}
)

// errPageRateLimited is the rate limiters' 429 as a page shows it.
var errPageRateLimited = newAPIError(http.StatusTooManyRequests, "", rateLimitMessage)

// errFormToken refuses a form post whose token is missing, forged, for
// another form or expired. The page shown with it carries a fresh token, so
// posting again works.
var errFormToken = newAPIError(http.StatusForbidden, "INVALID_FORM_TOKEN",
	"This form has expired or did not come from this site. Reload the page and try again.")

// formTokenLifetime is how long after a page is served its form can be posted.
const formTokenLifetime = time.Hour

// pageRoute is one page request: the page it shows, and for a form post
// the API endpoint it stands for.
type pageRoute struct {
	page  string
	api   string // form posts: the API path whose rate limits apply
	serve func(g *Gate, w http.ResponseWriter, r *http.Request, p *pageData) *apiError
	// tokenless form posts need no form token: apps put the sign-out
	// button on their own pages, where no token can be had. The origin
	// rules still apply, and at worst a forged post signs the user out.
	tokenless bool
}

// pageRoutes maps "METHOD /path" (relative to base_path) to its page; HEAD
// is served as GET. None of these is an API route.
var pageRoutes = map[string]pageRoute{
	"GET /sign-in":              {page: "sign-in", serve: (*Gate).showPage},
	"POST /sign-in":             {page: "sign-in", api: "/sign-in/email", serve: (*Gate).postSignIn},
	"GET /sign-up":              {page: "sign-up", serve: (*Gate).showPage},
	"POST /sign-up":             {page: "sign-up", api: "/sign-up/email", serve: (*Gate).postSignUp},
	"GET /forgot-password":      {page: "forgot-password", serve: (*Gate).showPage},
	"POST /forgot-password":     {page: "forgot-password", api: "/request-password-reset", serve: (*Gate).postForgotPassword},
	"GET /reset-password":       {page: "reset-password", serve: (*Gate).showPage},
	"POST /reset-password/form": {page: "reset-password", api: "/reset-password", serve: (*Gate).postResetPassword},
	"GET /sign-out":             {page: "sign-out", serve: (*Gate).showPage},
	"POST /sign-out/form":       {page: "sign-out", api: "/sign-out", serve: (*Gate).postSignOut, tokenless: true},
}

// formPaths maps each page whose form needs a token to the path, relative
// to base_path, that the form posts to: the purpose its tokens are bound
// to, so that one form's token cannot post another.
// It is filled in init, as pageRoutes refers to the handlers that read it.
var formPaths = map[string]string{}

func init() {
	for key, route := range pageRoutes {
		if path, ok := strings.CutPrefix(key, "POST "); ok && !route.tokenless {
			formPaths[route.page] = path
		}
	}
}

// pageRouteFor returns the page route of a request under base_path, when
// pages are on.
func (g *Gate) pageRouteFor(r *http.Request, sub string) (pageRoute, bool) {
	if !g.Pages {
		return pageRoute{}, false
	}
	method := r.Method
	if method == http.MethodHead {
		method = http.MethodGet
	}
	route, ok := pageRoutes[method+" "+sub]
	return route, ok
}

// pageData is what a page template renders. Every field is escaped by
// html/template; Redirect has been validated.
type pageData struct {
	page        string
	Title       string
	Base        string // base_path
	Style       template.CSS
	Redirect    string // where to go after the form: "" means /
	Error       string
	Notice      string
	Name        string // refilled after an error; never the password
	Email       string
	Token       string // reset-password: the token from the link
	FormToken   string // set by renderPage for forms that need one
	Forget      bool   // sign-in: "keep me signed in" was unchecked
	MinPassword int
	MaxPassword int
	SignUp      bool // sign-up is enabled
	Reset       bool // email delivery is configured: password reset works

	// Social are the "Continue with" links (pages_social.go).
	Social []socialButton
	// TwoFactor is what the two-factor pages show (pages_twofactor.go).
	TwoFactor *twoFactorPage
}

// target is where a successful form sends the browser.
func (p *pageData) target() string {
	if p.Redirect == "" {
		return "/"
	}
	return p.Redirect
}

// pageURL is the path of a page with a notice and the redirect target.
func (g *Gate) pageURL(page, notice string, p *pageData) string {
	q := url.Values{}
	if notice != "" {
		q.Set("notice", notice)
	}
	if p.Redirect != "" {
		q.Set("redirect", p.Redirect)
	}
	if len(q) == 0 {
		return g.cfg.basePath + "/" + page
	}
	return g.cfg.basePath + "/" + page + "?" + q.Encode()
}

// servePage answers a page route: the page, or for a form post its result.
func (g *Gate) servePage(w http.ResponseWriter, r *http.Request, sub string, route pageRoute) error {
	p := g.newPageData(r, route.page)
	limitPath := sub
	if route.api != "" {
		// The form post (or the social start) becomes the API request it
		// stands for: the rate limiter keys and picks its limits by path.
		r = withPath(r, g.cfg.basePath+route.api)
		limitPath = route.api
	}
	var e *apiError
	if d := g.limitRequest(r, limitPath); !d.Allowed {
		e = pageRateLimited(w, d)
		if route.api != "" {
			g.apiRateLimited(r, endpoint(route.api[1:])) // audited and counted as the API's
		}
	}
	if e == nil && r.Method == http.MethodPost {
		e = g.checkFormCSRF(r)
		if e == nil {
			if err := g.store().Ready(r.Context()); err != nil {
				e = g.storeError(r, opConnect, err)
			}
		}
	}
	if e == nil {
		e = route.serve(g, w, r, p)
	}
	if e != nil {
		if e.status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", retryAfterValue)
		}
		p.Error, p.Notice = e.message, ""
		g.renderPage(w, e.status, p)
	}
	return nil
}

// newPageData reads what a page takes from its URL: the redirect target
// (kept only when valid), a notice or error code, a reset token.
func (g *Gate) newPageData(r *http.Request, page string) *pageData {
	q := r.URL.Query()
	p := &pageData{
		page:        page,
		Title:       pageTitles[page],
		Base:        g.cfg.basePath,
		Style:       pageStyle,
		MinPassword: g.cfg.minPassword,
		MaxPassword: g.cfg.maxPassword,
		SignUp:      !g.cfg.disableSignUp,
		Reset:       g.mail != nil,
		Notice:      pageNotices[q.Get("notice")],
	}
	if t := q.Get("redirect"); t != "" && g.validRedirect(r, t) {
		p.Redirect = t
	}
	p.Social = g.socialButtons(p.Redirect)
	if msg, ok := pageErrors[q.Get("error")]; ok {
		p.Error, p.Notice = msg, ""
	}
	if page == "reset-password" && p.Error == "" {
		if t := q.Get("token"); validTokenShape(t) {
			p.Token = t
		}
	}
	return p
}

// showPage is GET of a page. A page whose feature is off says so instead
// of showing its form.
func (g *Gate) showPage(w http.ResponseWriter, r *http.Request, p *pageData) *apiError {
	switch {
	case p.page == "sign-up" && !p.SignUp:
		p.Error = errSignUpDisabled.message
	case p.page == "forgot-password" && !p.Reset:
		p.Error = errResetDisabled.message
	}
	g.renderPage(w, http.StatusOK, p)
	return nil
}

// readPageForm reads a form post and checks its form token. The redirect
// field (an invalid target falls back to /) and the reset link's token are
// read first, so that a refused form is shown again as it was.
func (g *Gate) readPageForm(w http.ResponseWriter, r *http.Request, p *pageData) (*body, *apiError) {
	b, e := readBody(w, r, true)
	if e != nil {
		return nil, e
	}
	if t, _ := b.str("redirect", false); t != "" && g.validRedirect(r, t) {
		p.Redirect = t
	}
	if p.page == "reset-password" {
		if t, _ := b.str("token", false); validTokenShape(t) {
			p.Token = t
		}
	}
	if path, ok := formPaths[p.page]; ok {
		token, _ := b.str("formToken", false)
		if err := g.forms.Check(path, token, now()); err != nil {
			g.logger.Debug("form post refused", zap.String("page", p.page), zap.Error(err))
			return nil, errFormToken
		}
	}
	return b, nil
}

// postSignIn is POST /sign-in: the sign-in form.
func (g *Gate) postSignIn(w http.ResponseWriter, r *http.Request, p *pageData) *apiError {
	b, e := g.readPageForm(w, r, p)
	if e != nil {
		return e
	}
	email, _ := b.str("email", false)
	password, _ := b.str("password", false)
	rememberMe, _ := b.optBool("rememberMe") // an unchecked box is absent
	p.Email, p.Forget = email, !rememberMe
	if e := b.err(); e != nil {
		return e
	}
	email = emailaddr.Normalize(email)
	if !emailaddr.Valid(email) {
		return errInvalidEmail
	}
	d, settle := g.limitSignIn(r, email)
	if !d.Allowed {
		return pageRateLimited(w, d)
	}
	_, _, e = g.signIn(w, r, email, password, !rememberMe)
	settle(e)
	if e == errTwoFactorPending {
		seeOther(w, g.twoFactorSignInStep(p))
		return nil
	}
	if e != nil {
		return e
	}
	seeOther(w, p.target())
	return nil
}

// postSignUp is POST /sign-up: the sign-up form.
func (g *Gate) postSignUp(w http.ResponseWriter, r *http.Request, p *pageData) *apiError {
	if g.cfg.disableSignUp {
		return errSignUpDisabled
	}
	b, e := g.readPageForm(w, r, p)
	if e != nil {
		return e
	}
	name, _ := b.str("name", false)
	email, _ := b.str("email", false)
	password, _ := b.str("password", false)
	p.Name, p.Email = name, email
	if e := b.err(); e != nil {
		return e
	}
	email = emailaddr.Normalize(email)
	if !emailaddr.Valid(email) {
		return errInvalidEmail
	}
	a := newAccount{name: name, email: email, password: password, callbackURL: g.pageURL("sign-in", "email-verified", p)}
	_, sess, e := g.signUp(w, r, a)
	if e != nil {
		return e
	}
	if sess == nil {
		// require_email_verification: no session until the address is
		// verified. A taken address lands here too, indistinguishably.
		seeOther(w, g.pageURL("sign-in", "verify-email", p))
		return nil
	}
	seeOther(w, p.target())
	return nil
}

// postForgotPassword is POST /forgot-password. Whether or not the address
// has an account, the answer is the same page.
func (g *Gate) postForgotPassword(w http.ResponseWriter, r *http.Request, p *pageData) *apiError {
	if g.mail == nil {
		return errResetDisabled
	}
	b, e := g.readPageForm(w, r, p)
	if e != nil {
		return e
	}
	email, _ := b.str("email", false)
	p.Email = email
	if e := b.err(); e != nil {
		return e
	}
	email = emailaddr.Normalize(email)
	if !emailaddr.Valid(email) {
		return errInvalidEmail
	}
	if e := g.requestPasswordReset(r, email, g.pageURL("reset-password", "", p)); e != nil {
		return e
	}
	p.Email, p.Notice = "", resetRequestedMessage
	g.renderPage(w, http.StatusOK, p)
	return nil
}

// postResetPassword is POST /reset-password/form: the new password for the
// token from the email's link.
func (g *Gate) postResetPassword(w http.ResponseWriter, r *http.Request, p *pageData) *apiError {
	b, e := g.readPageForm(w, r, p)
	if e != nil {
		return e
	}
	token, _ := b.str("token", false)
	newPassword, _ := b.str("newPassword", false)
	if e := b.err(); e != nil {
		return e
	}
	if e := g.resetPassword(r, token, newPassword); e != nil {
		if e == errInvalidToken {
			// The page then offers a new link instead of the form.
			p.Token = ""
			return newAPIError(e.status, e.code, pageErrors["INVALID_TOKEN"])
		}
		return e
	}
	seeOther(w, g.pageURL("sign-in", "password-reset", p))
	return nil
}

// postSignOut is POST /sign-out/form: the sign-out button, which an app
// may also put on its own pages.
func (g *Gate) postSignOut(w http.ResponseWriter, r *http.Request, p *pageData) *apiError {
	if _, e := g.readPageForm(w, r, p); e != nil {
		return e
	}
	if e := g.signOut(w, r); e != nil {
		return e
	}
	seeOther(w, p.target())
	return nil
}

// renderPage writes a page with headers that keep it to itself: no script,
// no external resource, no framing, and no caching (it may show an email
// address, and a reset page holds a token).
func (g *Gate) renderPage(w http.ResponseWriter, status int, p *pageData) {
	if path, ok := formPaths[p.page]; ok {
		token, err := g.forms.Issue(path, now())
		if err != nil {
			g.logger.Error("rendering page", zap.String("page", p.page), zap.Error(err))
			writeAPIError(w, errInternal)
			return
		}
		p.FormToken = token
	}
	var buf bytes.Buffer
	if err := pageTemplates[p.page].Execute(&buf, p); err != nil {
		g.logger.Error("rendering page", zap.String("page", p.page), zap.Error(err))
		writeAPIError(w, errInternal)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", g.pageCSP(p))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// pageCSP allows the inline stylesheet and forms posting to the site. A
// browser also applies form-action to the redirect after a form post, so a
// redirect target on another (trusted) origin is allowed too, when its host
// is plain enough to sit in the header: url.Parse lets ';' through, which
// would start a directive of its own.
func (g *Gate) pageCSP(p *pageData) string {
	formAction := "'self'"
	if u, err := url.Parse(p.Redirect); err == nil && u.IsAbs() && plainHost(u.Host) {
		formAction += " " + u.Scheme + "://" + u.Host
	}
	return "default-src 'none'; style-src " + pageStyleSource + "; form-action " + formAction +
		"; frame-ancestors 'none'; base-uri 'none'"
}

// plainHost reports whether host is letters, digits, dots and dashes, with
// an optional port.
func plainHost(host string) bool {
	for i := 0; i < len(host); i++ {
		c := host[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == ':') {
			return false
		}
	}
	return host != ""
}

// seeOther ends a successful form post: 303, so that the browser follows
// with a GET and a reload does not post the form again.
func seeOther(w http.ResponseWriter, target string) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Location", target)
	w.WriteHeader(http.StatusSeeOther)
}

// withPath is a shallow copy of r for another path under the same origin.
func withPath(r *http.Request, path string) *http.Request {
	r2 := r.WithContext(r.Context())
	u := *r.URL
	u.Path, u.RawPath = path, ""
	r2.URL = &u
	return r2
}

// pageRateLimited is a rate limit's refusal as a page shows it: the API's
// Retry-After headers, and the error for the page to render.
func pageRateLimited(w http.ResponseWriter, d ratelimit.Decision) *apiError {
	setRetryAfter(w.Header(), d.RetryAfter)
	return errPageRateLimited
}

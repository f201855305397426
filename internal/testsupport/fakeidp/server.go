package fakeidp

import (
	"cmp"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

func (p *Provider) routes() http.Handler {
	mux := http.NewServeMux()
	if p.github {
		mux.Handle("GET /login/oauth/authorize", p.endpoint("", p.authorize))
		mux.Handle("POST /login/oauth/access_token", p.endpoint(Token, p.githubToken))
		mux.Handle("GET /user", p.endpoint(Userinfo, p.githubUser))
		mux.Handle("GET /user/emails", p.endpoint(Emails, p.githubEmails))
	} else {
		mux.Handle("GET /.well-known/openid-configuration", p.endpoint(Discovery, p.discovery))
		mux.Handle("GET /jwks", p.endpoint(JWKS, p.jwks))
		mux.Handle("GET /authorize", p.endpoint("", p.authorize))
		mux.Handle("POST /token", p.endpoint(Token, p.token))
		mux.Handle("GET /userinfo", p.endpoint(Userinfo, p.userinfo))
		mux.Handle("POST /userinfo", p.endpoint(Userinfo, p.userinfo))
	}
	return p.record(mux)
}

// record keeps every request, unknown paths included, before any handler
// runs, so a test sees what was sent even when the answer was a failure.
func (p *Provider) record(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		r, served := withServed(r)
		defer func() { p.addServed(served, time.Since(start)) }()
		var form url.Values
		if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "application/x-www-form-urlencoded" {
			r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
			if err := r.ParseForm(); err == nil {
				form = r.PostForm
			}
		}
		p.mu.Lock()
		if !p.discard {
			p.requests = append(p.requests, Request{
				Method: r.Method,
				Path:   r.URL.Path,
				Query:  r.URL.Query(),
				Form:   form,
				Header: r.Header.Clone(),
			})
		}
		p.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

// endpoint applies the Failure set on e before the real handler.
func (p *Provider) endpoint(e Endpoint, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		f := p.failures[e]
		p.mu.Unlock()
		if f.Delay > 0 {
			select {
			case <-time.After(f.Delay):
			case <-r.Context().Done():
				return
			case <-p.done:
				return
			}
		}
		switch {
		case f.Status != 0:
			writeJSON(w, f.Status, map[string]string{"error": "temporarily_unavailable"})
		case f.Garbage:
			// Declared JSON, so only parsing it can reveal the garbage.
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte("<html><body>502 Bad Gateway</body></html>"))
		default:
			h(w, r)
		}
	})
}

func (p *Provider) discovery(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                         p.URL,
		"authorization_endpoint":                         p.AuthURL(),
		"token_endpoint":                                 p.TokenURL(),
		"userinfo_endpoint":                              p.UserinfoURL(),
		"jwks_uri":                                       p.JWKSURL(),
		"response_types_supported":                       []string{"code"},
		"grant_types_supported":                          []string{"authorization_code", "refresh_token"},
		"subject_types_supported":                        []string{"public"},
		"id_token_signing_alg_values_supported":          []string{"RS256"},
		"scopes_supported":                               []string{"openid", "email", "profile"},
		"token_endpoint_auth_methods_supported":          []string{"client_secret_basic", "client_secret_post"},
		"code_challenge_methods_supported":               []string{"S256"},
		"claims_supported":                               []string{"sub", "email", "email_verified", "name", "picture"},
		"authorization_response_iss_parameter_supported": true,
	})
}

func (p *Provider) jwks(w http.ResponseWriter, _ *http.Request) {
	p.mu.Lock()
	set := publicKeys(p.keys)
	p.mu.Unlock()
	writeJSON(w, http.StatusOK, set)
}

// authorize approves at once. A bad client_id or redirect_uri gets a 400
// page, never a redirect, since redirecting to an unregistered URI is how
// codes get stolen; every other error goes back to the client.
func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	a := AuthorizeRequest{
		ClientID:            q.Get("client_id"),
		RedirectURI:         q.Get("redirect_uri"),
		ResponseType:        q.Get("response_type"),
		Scope:               q.Get("scope"),
		State:               q.Get("state"),
		Nonce:               q.Get("nonce"),
		CodeChallenge:       q.Get("code_challenge"),
		CodeChallengeMethod: q.Get("code_challenge_method"),
		LoginHint:           q.Get("login_hint"),
		Prompt:              q.Get("prompt"),
		Query:               q,
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.discard {
		p.authorizes = append(p.authorizes, a)
	}
	if a.ClientID != p.ClientID {
		http.Error(w, "unknown client_id", http.StatusBadRequest)
		return
	}
	if !slices.Contains(p.redirectURIs, a.RedirectURI) {
		http.Error(w, "redirect_uri is not registered for this client", http.StatusBadRequest)
		return
	}
	back := url.Values{}
	if a.State != "" {
		back.Set("state", a.State)
	}
	if !p.github {
		back.Set("iss", p.URL) // RFC 9207, which the discovery document announces
	}
	switch {
	case !p.github && a.ResponseType != "code":
		back.Set("error", "unsupported_response_type")
	case a.CodeChallenge != "" && a.CodeChallengeMethod != "S256":
		back.Set("error", "invalid_request")
		back.Set("error_description", "only code_challenge_method=S256 is supported")
	case p.denyNext:
		p.denyNext = false
		back.Set("error", "access_denied")
		back.Set("error_description", "The user denied the request")
	default:
		code := randomString()
		p.codes[code] = &grant{
			clientID:    a.ClientID,
			redirectURI: a.RedirectURI,
			scope:       a.Scope,
			nonce:       a.Nonce,
			challenge:   a.CodeChallenge,
			user:        p.userFor(a.LoginHint),
		}
		back.Set("code", code)
	}
	http.Redirect(w, r, withQuery(a.RedirectURI, back), http.StatusFound)
}

// redeem checks a code exchange and records it. It returns the grant, or
// the OAuth error code and the status a standard token endpoint uses.
func (p *Provider) redeem(r *http.Request) (*grant, string, int) {
	f := r.PostForm
	tr := TokenRequest{
		GrantType:    f.Get("grant_type"),
		Code:         f.Get("code"),
		RedirectURI:  f.Get("redirect_uri"),
		CodeVerifier: f.Get("code_verifier"),
		RefreshToken: f.Get("refresh_token"),
		Form:         f,
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	g, errCode, status := p.check(r, &tr)
	tr.Error = errCode
	if !p.discard {
		p.tokenReqs = append(p.tokenReqs, tr)
	}
	return g, errCode, status
}

// check runs with p.mu held.
func (p *Provider) check(r *http.Request, tr *TokenRequest) (*grant, string, int) {
	id, secret, basic := r.BasicAuth()
	if basic {
		// RFC 6749 §2.3.1 form-encodes both before the Basic encoding.
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
		tr.ClientAuth = "client_secret_basic"
		if tr.Form.Has("client_secret") {
			return nil, "invalid_request", http.StatusBadRequest // two methods at once
		}
	} else {
		id, secret = tr.Form.Get("client_id"), tr.Form.Get("client_secret")
		if secret != "" {
			tr.ClientAuth = "client_secret_post"
		}
	}
	tr.ClientID = id
	if id != p.ClientID || subtle.ConstantTimeCompare([]byte(secret), []byte(p.ClientSecret)) != 1 {
		return nil, "invalid_client", http.StatusUnauthorized
	}
	if tr.GrantType == "refresh_token" && !p.github {
		g := p.refreshes[tr.RefreshToken]
		if g == nil || g.clientID != id {
			return nil, "invalid_grant", http.StatusBadRequest
		}
		// Rotated, as most providers do: the answer carries the next one.
		delete(p.refreshes, tr.RefreshToken)
		return g, "", http.StatusOK
	}
	// GitHub does not ask for grant_type.
	if tr.GrantType != "authorization_code" && !(p.github && tr.GrantType == "") {
		return nil, "unsupported_grant_type", http.StatusBadRequest
	}
	g := p.codes[tr.Code]
	if g == nil || g.used || g.clientID != id {
		return nil, "invalid_grant", http.StatusBadRequest
	}
	// Any attempt spends the code, so a client cannot retry a failed one.
	g.used = true
	// GitHub lets the client leave redirect_uri out of the exchange.
	if tr.RedirectURI != g.redirectURI && !(p.github && tr.RedirectURI == "") {
		return nil, "invalid_grant", http.StatusBadRequest
	}
	if g.challenge == "" && tr.CodeVerifier != "" {
		return nil, "invalid_grant", http.StatusBadRequest
	}
	if g.challenge != "" && s256(tr.CodeVerifier) != g.challenge {
		return nil, "invalid_grant", http.StatusBadRequest
	}
	return g, "", http.StatusOK
}

func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// issue mints an access token for g.
func (p *Provider) issue(g *grant) string {
	access := randomString()
	p.mu.Lock()
	p.tokens[access] = g
	p.mu.Unlock()
	return access
}

func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	g, errCode, status := p.redeem(r)
	servedFor(r, g)
	if errCode != "" {
		if status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Basic realm="token"`)
		}
		writeJSON(w, status, map[string]string{"error": errCode})
		return
	}
	refresh := randomString()
	p.mu.Lock()
	p.refreshes[refresh] = g
	lifetime := cmp.Or(p.lifetime, 3600)
	p.mu.Unlock()
	body := map[string]any{
		"access_token":  p.issue(g),
		"refresh_token": refresh,
		"token_type":    "Bearer",
		"expires_in":    lifetime,
		"scope":         g.scope,
	}
	if slices.Contains(strings.Fields(g.scope), "openid") {
		idToken, err := p.idToken(g)
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "server_error"})
			return
		}
		body["id_token"] = idToken
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, body)
}

// bearer finds the grant behind the request's access token. GitHub also
// takes the "token" scheme.
func (p *Provider) bearer(r *http.Request) *grant {
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") && !(p.github && strings.EqualFold(scheme, "token")) {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.tokens[tok]
}

func (p *Provider) userinfo(w http.ResponseWriter, r *http.Request) {
	g := p.bearer(r)
	servedFor(r, g)
	if g == nil {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token"})
		return
	}
	writeJSON(w, http.StatusOK, userClaims(g.user))
}

// userClaims are the claims about the user, shared by id_token and
// userinfo; empty strings are left out, as providers omit unknown claims.
func userClaims(u User) map[string]any {
	c := map[string]any{"sub": u.Sub}
	if u.Email != "" {
		c["email"] = u.Email
		c["email_verified"] = u.EmailVerified
	}
	if u.Name != "" {
		c["name"] = u.Name
	}
	if u.Picture != "" {
		c["picture"] = u.Picture
	}
	maps.Copy(c, u.Claims)
	return c
}

func withQuery(base string, v url.Values) string {
	u, err := url.Parse(base)
	if err != nil {
		return base
	}
	q := u.Query()
	for k, vs := range v {
		q[k] = vs
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

package fakeidp

import (
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// githubToken answers as GitHub's /login/oauth/access_token does: form
// encoded unless the client asks for JSON, errors with status 200 and an
// "error" field, no refresh token and no expiry (OAuth apps' tokens do not
// expire), scopes comma-joined.
func (p *Provider) githubToken(w http.ResponseWriter, r *http.Request) {
	g, errCode, _ := p.redeem(r)
	servedFor(r, g)
	body := url.Values{}
	if errCode != "" {
		body.Set("error", githubError(errCode))
	} else {
		body.Set("access_token", p.issue(g))
		body.Set("token_type", "bearer")
		body.Set("scope", strings.Join(strings.Fields(g.scope), ","))
	}
	if wantsJSON(r) {
		flat := map[string]string{}
		for k := range body {
			flat[k] = body.Get(k)
		}
		writeJSON(w, http.StatusOK, flat)
		return
	}
	w.Header().Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	_, _ = w.Write([]byte(body.Encode()))
}

func githubError(oauthErr string) string {
	switch oauthErr {
	case "invalid_client":
		return "incorrect_client_credentials"
	case "invalid_grant":
		return "bad_verification_code"
	}
	return oauthErr
}

func wantsJSON(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		if mt, _, _ := mime.ParseMediaType(strings.TrimSpace(part)); mt == "application/json" {
			return true
		}
	}
	return false
}

func (p *Provider) githubUser(w http.ResponseWriter, r *http.Request) {
	g := p.bearer(r)
	servedFor(r, g)
	if g == nil {
		githubUnauthorized(w)
		return
	}
	u := g.user
	body := map[string]any{
		"login":      u.Login,
		"id":         u.GitHubID,
		"avatar_url": u.Picture,
		"type":       "User",
		"name":       nullIfEmpty(u.Name),
		"email":      nullIfEmpty(u.Email),
	}
	if u.PrivateEmail {
		body["email"] = nil
	}
	writeJSON(w, http.StatusOK, body)
}

func (p *Provider) githubEmails(w http.ResponseWriter, r *http.Request) {
	g := p.bearer(r)
	servedFor(r, g)
	if g == nil {
		githubUnauthorized(w)
		return
	}
	emails := g.user.Emails
	if len(emails) == 0 && g.user.Email != "" {
		visibility := "public"
		if g.user.PrivateEmail {
			visibility = "private"
		}
		emails = []GitHubEmail{{Email: g.user.Email, Primary: true, Verified: g.user.EmailVerified, Visibility: &visibility}}
	}
	if emails == nil {
		emails = []GitHubEmail{}
	}
	writeJSON(w, http.StatusOK, emails)
}

func githubUnauthorized(w http.ResponseWriter) {
	writeJSON(w, http.StatusUnauthorized, map[string]string{
		"message":           "Bad credentials",
		"documentation_url": "https://docs.github.com/rest",
	})
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

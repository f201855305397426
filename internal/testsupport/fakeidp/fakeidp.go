// Package fakeidp is an identity provider for tests: a real HTTP server on
// 127.0.0.1 that speaks OpenID Connect (discovery, JWKS, authorize, token,
// userinfo) or GitHub's OAuth dialect, auto-approves every authorization as
// the user the test chose, records what it receives, and can be told to
// misbehave in the ways a sign-in flow must survive.
//
// It is strict where a real provider is (registered client and redirect URI,
// single-use codes bound to their redirect URI, PKCE S256), so that a test
// passing against it says something about the client under test.
package fakeidp

import (
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"
)

// User is whom the next authorization signs in as.
type User struct {
	Sub           string
	Email         string
	EmailVerified bool
	Name          string
	Picture       string
	// Claims are added to the id_token and the userinfo answer, e.g.
	// Microsoft Entra ID's "oid" and "tid". They override the fields above.
	Claims map[string]any

	// GitHub shape only.
	GitHubID int64
	Login    string
	// PrivateEmail makes /user answer "email": null, as GitHub does when the
	// user keeps the address private; the client must then read /user/emails.
	PrivateEmail bool
	// Emails is /user/emails; when empty it lists Email alone, primary, with
	// EmailVerified as its verified flag.
	Emails []GitHubEmail
}

// GitHubEmail is one entry of GitHub's /user/emails.
type GitHubEmail struct {
	Email      string  `json:"email"`
	Primary    bool    `json:"primary"`
	Verified   bool    `json:"verified"`
	Visibility *string `json:"visibility"`
}

// Endpoint names a route that a Failure can be set on.
type Endpoint string

// The endpoints a Failure can be set on. Userinfo is GitHub's /user in the
// GitHub shape; Emails is GitHub's /user/emails.
const (
	Discovery Endpoint = "discovery"
	JWKS      Endpoint = "jwks"
	Token     Endpoint = "token"
	Userinfo  Endpoint = "userinfo"
	Emails    Endpoint = "emails"
)

// Failure is how an endpoint misbehaves: it waits Delay (cut short when the
// client gives up or the test ends), then answers Status with an error body
// when Status is set, or a 200 whose body is not JSON when Garbage is set.
type Failure struct {
	Status  int
	Delay   time.Duration
	Garbage bool
}

// IDTokenFault makes every id_token issued from then on wrong in one way
// that a verifying client must refuse.
type IDTokenFault int

const (
	IDTokenOK IDTokenFault = iota
	// IDTokenWrongAudience names another client in "aud".
	IDTokenWrongAudience
	// IDTokenWrongKey signs with a key absent from the JWKS, under the kid of
	// the published one, so only the signature check can catch it.
	IDTokenWrongKey
	// IDTokenWrongNonce carries a nonce other than the one sent to /authorize.
	IDTokenWrongNonce
	// IDTokenExpired was issued two hours ago and expired an hour ago.
	IDTokenExpired
	// IDTokenWrongIssuer names another issuer in "iss".
	IDTokenWrongIssuer
)

// Request is one request as the provider received it.
type Request struct {
	Method string
	Path   string
	Query  url.Values
	// Form is the parsed urlencoded body, nil for other bodies.
	Form   url.Values
	Header http.Header
}

// AuthorizeRequest is what the client sent to the authorization endpoint.
type AuthorizeRequest struct {
	ClientID            string
	RedirectURI         string
	ResponseType        string
	Scope               string
	State               string
	Nonce               string
	CodeChallenge       string
	CodeChallengeMethod string
	LoginHint           string
	Prompt              string
	Query               url.Values
}

// TokenRequest is what the client sent to the token endpoint, and how the
// provider judged it.
type TokenRequest struct {
	GrantType    string
	Code         string
	RefreshToken string // of a refresh_token grant
	RedirectURI  string
	CodeVerifier string
	ClientID     string
	// ClientAuth is "client_secret_basic" or "client_secret_post", as the
	// client authenticated, or "" when it sent no secret.
	ClientAuth string
	// Error is the OAuth error code the provider answered, "" on success.
	Error string
	Form  url.Values
}

// Option configures Start.
type Option func(*Provider)

// WithRedirectURI registers a redirect URI; see AllowRedirectURI.
func WithRedirectURI(uri string) Option {
	return func(p *Provider) { p.redirectURIs = append(p.redirectURIs, uri) }
}

// GitHub makes the provider GitHub-shaped: /login/oauth/authorize,
// /login/oauth/access_token, /user and /user/emails, no discovery, no JWKS,
// no id_token.
func GitHub() Option {
	return func(p *Provider) { p.github = true }
}

// Provider is a running fake identity provider.
type Provider struct {
	// URL is the server's base URL, and the issuer in the OIDC shape.
	URL          string
	ClientID     string
	ClientSecret string

	srv      *httptest.Server
	done     chan struct{}
	stopOnce sync.Once
	github   bool

	mu           sync.Mutex
	redirectURIs []string
	user         User
	keys         []signingKey // published in the JWKS; the last one signs
	rogue        *signingKey
	failures     map[Endpoint]Failure
	idFault      IDTokenFault
	denyNext     bool
	hintUsers    bool // standalone.go
	discard      bool // standalone.go
	codes        map[string]*grant
	tokens       map[string]*grant
	refreshes    map[string]*grant // refresh token → its grant; each works once
	lifetime     int               // expires_in of access tokens, seconds; 0: 3600
	requests     []Request
	authorizes   []AuthorizeRequest
	tokenReqs    []TokenRequest
}

// grant is what an authorization approved, carried from code to tokens.
type grant struct {
	clientID, redirectURI, scope, nonce string
	challenge                           string
	user                                User
	used                                bool
	// served is the time spent answering the token and userinfo requests
	// of this grant (ServiceTime).
	served time.Duration
}

// DefaultUser is whom the provider signs in as until SetUser.
var DefaultUser = User{
	Sub:           "fake-sub-1",
	Email:         "user@example.com",
	EmailVerified: true,
	Name:          "Fake User",
	Picture:       "https://example.com/avatar.png",
	GitHubID:      1001,
	Login:         "fakeuser",
}

// Start runs a provider on 127.0.0.1 until the test ends.
func Start(t testing.TB, opts ...Option) *Provider {
	t.Helper()
	p, err := New(opts...)
	if err != nil {
		t.Fatalf("fakeidp: %v", err)
	}
	t.Cleanup(p.Close)
	return p
}

// Close stops the server now, so that a test can see the provider down
// (connection refused). Requests held by a Delay are released first.
func (p *Provider) Close() {
	p.stopOnce.Do(func() {
		close(p.done)
		p.srv.Close()
	})
}

// AuthURL, TokenURL, UserinfoURL and JWKSURL are the endpoints of the
// provider's shape, for clients configured without discovery.
func (p *Provider) AuthURL() string {
	if p.github {
		return p.URL + "/login/oauth/authorize"
	}
	return p.URL + "/authorize"
}

func (p *Provider) TokenURL() string {
	if p.github {
		return p.URL + "/login/oauth/access_token"
	}
	return p.URL + "/token"
}

func (p *Provider) UserinfoURL() string {
	if p.github {
		return p.URL + "/user"
	}
	return p.URL + "/userinfo"
}

func (p *Provider) JWKSURL() string { return p.URL + "/jwks" }

// AllowRedirectURI registers a redirect URI. Authorizations for any other
// URI are refused with a 400 page and no redirect, as real providers do; a
// test that learns its callback URL only after starting the server under
// test registers it here.
func (p *Provider) AllowRedirectURI(uri string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.redirectURIs = append(p.redirectURIs, uri)
}

// SetUser sets whom the next authorizations sign in as. Codes already
// issued keep the user they were issued for.
func (p *Provider) SetUser(u User) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.user = u
}

// SetTokenLifetime sets the expires_in of the access tokens issued from
// now on (3600 until then).
func (p *Provider) SetTokenLifetime(seconds int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lifetime = seconds
}

// Fail makes an endpoint misbehave from now on; a zero Failure heals it.
func (p *Provider) Fail(e Endpoint, f Failure) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failures[e] = f
}

// SetIDTokenFault spoils every id_token issued from now on (IDTokenOK heals).
func (p *Provider) SetIDTokenFault(f IDTokenFault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.idFault = f
}

// DenyNext makes the next authorization redirect back with
// error=access_denied, as when the user clicks "Cancel".
func (p *Provider) DenyNext() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.denyNext = true
}

// RotateKey publishes a new signing key beside the old ones and signs with
// it from now on, as providers do ahead of retiring a key.
func (p *Provider) RotateKey() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	k, err := newSigningKey(fmt.Sprintf("key-%d", len(p.keys)+1))
	if err != nil {
		return err
	}
	p.keys = append(p.keys, k)
	return nil
}

// Requests is every request received so far, in order.
func (p *Provider) Requests() []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.requests)
}

// LastAuthorize is the latest request to the authorization endpoint.
func (p *Provider) LastAuthorize() (AuthorizeRequest, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.authorizes) == 0 {
		return AuthorizeRequest{}, false
	}
	return p.authorizes[len(p.authorizes)-1], true
}

// LastToken is the latest request to the token endpoint.
func (p *Provider) LastToken() (TokenRequest, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.tokenReqs) == 0 {
		return TokenRequest{}, false
	}
	return p.tokenReqs[len(p.tokenReqs)-1], true
}

func newSigningKey(kid string) (signingKey, error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return signingKey{}, fmt.Errorf("generate RSA key: %w", err)
	}
	return signingKey{kid: kid, key: k}, nil
}

func randomString() string { return rand.Text() }

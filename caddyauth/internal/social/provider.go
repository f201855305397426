// Package social is the OAuth 2.0 / OpenID Connect client side of social
// sign-in, as Better Auth 1.7.25's google, github and microsoft providers and
// its genericOAuth plugin behave: authorization URLs, the code exchange, the
// user's profile as Better Auth reads it, the tokens as it stores them in the
// account row, and the flow state carried in a sealed cookie.
//
// New does no network I/O, so that configuring (and `caddy validate`) never
// reaches a provider. Start does the one network step there is, OpenID
// discovery for generic providers, under the caller's bounded context;
// Exchange and VerifyIDToken call it lazily when it has not yet succeeded,
// while AuthCodeURL, which has no context, reports ErrNotStarted.
package social

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

var errRedirect = errors.New("social: provider endpoint answered with a redirect, which is refused")

// Kind is which provider dialect a Config speaks.
type Kind string

const (
	KindGoogle    Kind = "google"
	KindGitHub    Kind = "github"
	KindMicrosoft Kind = "microsoft"
	// KindOIDC is a generic OpenID Connect provider found by discovery, as
	// Better Auth's genericOAuth with a discoveryUrl.
	KindOIDC Kind = "oidc"
)

// Config is one provider block of the Caddyfile.
type Config struct {
	// ID is the provider id in URLs and in account.providerId.
	ID           string
	Kind         Kind
	ClientID     string
	ClientSecret string
	// Scopes are added after the kind's default scopes; for KindOIDC they are
	// the scopes, with "openid" put first when missing, as genericOAuth does.
	Scopes []string
	// Tenant is Microsoft's tenant (default "common").
	Tenant string
	// Issuer is the OIDC issuer that discovery starts from (KindOIDC), or,
	// for Google and Microsoft, the exact "iss" to require instead of the
	// provider's own (for a local provider in tests).
	Issuer string
	// PKCE nil means the kind's default: on for every kind, as Better Auth
	// sends a challenge whenever it has a verifier. Google refuses off.
	PKCE *bool
	// Endpoint overrides, for GitHub Enterprise and local providers. For
	// KindOIDC they win over discovery.
	AuthorizationURL string
	TokenURL         string
	UserinfoURL      string
	JWKSURL          string
}

// Default endpoints, as Better Auth's providers hard-code them.
const (
	googleAuthURL  = "https://accounts.google.com/o/oauth2/v2/auth"
	googleTokenURL = "https://oauth2.googleapis.com/token"
	googleJWKSURL  = "https://www.googleapis.com/oauth2/v3/certs"
	githubAuthURL  = "https://github.com/login/oauth/authorize"
	githubTokenURL = "https://github.com/login/oauth/access_token"
	githubUserURL  = "https://api.github.com/user"
	msAuthority    = "https://login.microsoftonline.com"
)

// googleIssuers are both spellings Google puts in "iss".
var googleIssuers = []string{"https://accounts.google.com", "accounts.google.com"}

// Provider is a configured provider, safe for concurrent use.
type Provider struct {
	cfg         Config
	redirectURL string
	client      *http.Client

	mu      sync.Mutex
	started bool
	oauth   oauth2.Config
	// verifier is nil for providers without id_tokens (GitHub).
	verifier    *oidc.IDTokenVerifier
	userinfoURL string
	// issuer is what the callback's RFC 9207 "iss" parameter must equal; only
	// generic providers have one, as in Better Auth.
	issuer string
}

// New checks cfg and builds the provider without network I/O. redirectURL is
// <base_url><base_path>/callback/<id>; httpClient nil means
// http.DefaultClient. ctx is unused today and kept so that a provider which
// one day needs setup work need not change the signature.
func New(_ context.Context, cfg Config, redirectURL string, httpClient *http.Client) (*Provider, error) {
	if cfg.ID == "" {
		return nil, errors.New("social: provider id is empty")
	}
	if cfg.ClientID == "" {
		return nil, fmt.Errorf("social: provider %q: client_id is required", cfg.ID)
	}
	if cfg.ClientSecret == "" {
		return nil, fmt.Errorf("social: provider %q: client_secret is required", cfg.ID)
	}
	if u, err := url.Parse(redirectURL); err != nil || !u.IsAbs() {
		return nil, fmt.Errorf("social: provider %q: redirect URL %q is not absolute", cfg.ID, redirectURL)
	}
	for name, v := range map[string]string{
		"authorization_url": cfg.AuthorizationURL, "token_url": cfg.TokenURL,
		"userinfo_url": cfg.UserinfoURL, "jwks_url": cfg.JWKSURL, "issuer": cfg.Issuer,
	} {
		if v == "" {
			continue
		}
		if u, err := url.Parse(v); err != nil || !u.IsAbs() || u.Host == "" {
			return nil, fmt.Errorf("social: provider %q: %s %q is not an absolute URL", cfg.ID, name, v)
		}
	}
	if httpClient == nil {
		httpClient = http.DefaultClient
	}
	// A provider endpoint that redirects could carry the code, secret or
	// bearer token elsewhere; Better Auth refuses redirects
	// (fetchRefusingRedirects), and so does this copy of the client.
	client := *httpClient
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return errRedirect }
	p := &Provider{cfg: cfg, redirectURL: redirectURL, client: &client}
	p.oauth = oauth2.Config{
		ClientID:     cfg.ClientID,
		ClientSecret: cfg.ClientSecret,
		RedirectURL:  redirectURL,
		// Better Auth posts client_id and client_secret in the form body.
		Endpoint: oauth2.Endpoint{AuthStyle: oauth2.AuthStyleInParams},
	}
	switch cfg.Kind {
	case KindGoogle:
		if cfg.PKCE != nil && !*cfg.PKCE {
			return nil, fmt.Errorf("social: provider %q: Google always uses PKCE", cfg.ID)
		}
		p.oauth.Endpoint.AuthURL = or(cfg.AuthorizationURL, googleAuthURL)
		p.oauth.Endpoint.TokenURL = or(cfg.TokenURL, googleTokenURL)
		p.oauth.Scopes = append([]string{"email", "profile", "openid"}, cfg.Scopes...)
		p.verifier = p.newVerifier(or(cfg.JWKSURL, googleJWKSURL))
		p.started = true
	case KindGitHub:
		p.oauth.Endpoint.AuthURL = or(cfg.AuthorizationURL, githubAuthURL)
		p.oauth.Endpoint.TokenURL = or(cfg.TokenURL, githubTokenURL)
		p.oauth.Scopes = append([]string{"read:user", "user:email"}, cfg.Scopes...)
		p.userinfoURL = or(cfg.UserinfoURL, githubUserURL)
		p.started = true
	case KindMicrosoft:
		tenant := or(cfg.Tenant, "common")
		base := msAuthority + "/" + url.PathEscape(tenant)
		p.oauth.Endpoint.AuthURL = or(cfg.AuthorizationURL, base+"/oauth2/v2.0/authorize")
		p.oauth.Endpoint.TokenURL = or(cfg.TokenURL, base+"/oauth2/v2.0/token")
		p.oauth.Scopes = append([]string{"openid", "profile", "email", "User.Read", "offline_access"}, cfg.Scopes...)
		p.verifier = p.newVerifier(or(cfg.JWKSURL, base+"/discovery/v2.0/keys"))
		p.started = true
	case KindOIDC:
		if cfg.Issuer == "" {
			return nil, fmt.Errorf("social: provider %q: issuer is required", cfg.ID)
		}
		scopes := slices.Clone(cfg.Scopes)
		if !slices.Contains(scopes, oidc.ScopeOpenID) {
			scopes = append([]string{oidc.ScopeOpenID}, scopes...)
		}
		p.oauth.Scopes = scopes
	default:
		return nil, fmt.Errorf("social: provider %q: unknown kind %q", cfg.ID, cfg.Kind)
	}
	return p, nil
}

// Start runs OpenID discovery for a generic provider under ctx, which the
// caller bounds; it is a no-op for the built-in kinds and once it has
// succeeded, and may be retried after a failure.
func (p *Provider) Start(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started {
		return nil
	}
	op, err := oidc.NewProvider(oidc.ClientContext(ctx, p.client), p.cfg.Issuer)
	if err != nil {
		return fmt.Errorf("social: provider %q: discovery at %s: %w", p.cfg.ID, p.cfg.Issuer, err)
	}
	var doc struct {
		UserinfoEndpoint string `json:"userinfo_endpoint"`
		JWKSURI          string `json:"jwks_uri"`
	}
	if err := op.Claims(&doc); err != nil {
		return fmt.Errorf("social: provider %q: discovery document: %w", p.cfg.ID, err)
	}
	ep := op.Endpoint()
	p.oauth.Endpoint.AuthURL = or(p.cfg.AuthorizationURL, ep.AuthURL)
	p.oauth.Endpoint.TokenURL = or(p.cfg.TokenURL, ep.TokenURL)
	if p.oauth.Endpoint.AuthURL == "" || p.oauth.Endpoint.TokenURL == "" {
		return fmt.Errorf("social: provider %q: discovery gave no authorization or token endpoint", p.cfg.ID)
	}
	p.userinfoURL = or(p.cfg.UserinfoURL, doc.UserinfoEndpoint)
	jwks := or(p.cfg.JWKSURL, doc.JWKSURI)
	if jwks == "" {
		return fmt.Errorf("social: provider %q: discovery gave no jwks_uri", p.cfg.ID)
	}
	p.verifier = p.newVerifier(jwks)
	// go-oidc has checked that the document's issuer is the configured one.
	p.issuer = p.cfg.Issuer
	p.started = true
	return nil
}

// newVerifier checks signature and expiry only; audience, issuer and nonce
// are checked by verifyIDToken so that each failure has its own reason.
func (p *Provider) newVerifier(jwksURL string) *oidc.IDTokenVerifier {
	// The key set fetches with the context it was made with, so it must
	// outlive any one request; each Verify still waits on its own ctx.
	keys := oidc.NewRemoteKeySet(oidc.ClientContext(context.Background(), p.client), jwksURL)
	return oidc.NewVerifier("", keys, &oidc.Config{
		SkipClientIDCheck:    true,
		SkipIssuerCheck:      true,
		SupportedSigningAlgs: []string{oidc.RS256},
	})
}

// ID is the provider id.
func (p *Provider) ID() string { return p.cfg.ID }

// Kind is the provider's dialect.
func (p *Provider) Kind() Kind { return p.cfg.Kind }

// RequiresNonce says whether the flow must carry an OIDC nonce: Better Auth
// binds one only for generic providers with id_token verification.
func (p *Provider) RequiresNonce() bool { return p.cfg.Kind == KindOIDC }

// SupportsIDToken says whether POST /sign-in/social may carry an idToken.
func (p *Provider) SupportsIDToken() bool { return p.cfg.Kind != KindGitHub }

// PKCE says whether the flow sends a code challenge.
func (p *Provider) PKCE() bool { return p.cfg.PKCE == nil || *p.cfg.PKCE }

// Issuer is a generic provider's issuer once discovery has run, else "":
// Better Auth 1.7.0–1.7.2 wrote it to account.issuer for OIDC accounts.
func (p *Provider) Issuer() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.issuer
}

// CheckIssuerParam is Better Auth's RFC 9207 check on the callback's "iss"
// query parameter: when both it and the provider's issuer are known they
// must be equal (issuer_mismatch). Only generic providers know an issuer.
func (p *Provider) CheckIssuerParam(iss string) error {
	p.mu.Lock()
	want := p.issuer
	p.mu.Unlock()
	if iss != "" && want != "" && iss != want {
		return fail(CodeIssuerMismatch, ErrIssuerParamMismatch, nil)
	}
	return nil
}

func (p *Provider) snapshot() (oauth2.Config, *oidc.IDTokenVerifier, string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.oauth, p.verifier, p.userinfoURL, p.started
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// splitScope turns a token response's scope field (space-separated, or
// GitHub's comma-joined) into Better Auth's account.scope, which is
// parseScopeField (split on whitespace) joined with ",".
func splitScope(s string) string {
	return strings.Join(strings.Fields(s), ",")
}

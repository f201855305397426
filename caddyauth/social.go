package caddyauth

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/authgate/authgate/caddyauth/internal/social"
)

// SocialProvider is one sign-in provider (SPEC §9): `social <kind> { … }` or
// `oidc <id> { … }` in the Caddyfile. Its callback, to register at the
// provider, is `<base_url><base_path>/callback/<id>`.
type SocialProvider struct {
	// ID names the provider in URLs (`/callback/<id>`) and in the account
	// rows (providerId). For `social google|github|microsoft` it is the
	// kind itself, as in Better Auth.
	ID string `json:"id"`
	// Kind is google, github, microsoft or oidc (any OpenID Connect
	// provider, found by discovery from Issuer).
	Kind string `json:"kind"`
	// ClientID and ClientSecret are the OAuth client registered at the
	// provider. Runtime placeholders (`{env.GOOGLE_CLIENT_SECRET}`) are
	// expanded at provision time, so secrets stay out of autosaved config.
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	// Scopes are requested in addition to the kind's defaults; for oidc
	// they are the scopes (openid is added when missing).
	Scopes []string `json:"scopes,omitempty"`
	// Tenant is Microsoft's tenant: common (default), organizations,
	// consumers or a tenant id.
	Tenant string `json:"tenant,omitempty"`
	// Issuer is the OpenID Connect issuer (oidc, required): discovery reads
	// `<issuer>/.well-known/openid-configuration` on first use, never at
	// provision time.
	Issuer string `json:"issuer,omitempty"`
	// PKCE turns the S256 code challenge off when false. Default on;
	// Google cannot turn it off.
	PKCE *bool `json:"pkce,omitempty"`
	// Endpoint overrides, for GitHub Enterprise and local providers; for
	// oidc they win over discovery.
	AuthorizationURL string `json:"authorization_url,omitempty"`
	TokenURL         string `json:"token_url,omitempty"`
	UserinfoURL      string `json:"userinfo_url,omitempty"`
	JWKSURL          string `json:"jwks_url,omitempty"`
	// Name is what the built-in pages call the provider ("Continue with
	// <Name>"); default: Google, GitHub, Microsoft, or an oidc provider's id.
	Name string `json:"name,omitempty"`
}

// providerID is what Better Auth accepts in a URL path segment and what the
// Caddyfile can write without quoting.
var providerID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`)

// unmarshalSocial reads `social google|github|microsoft { … }` and
// `oidc <id> { … }`; sub is the subdirective's name.
func (g *Gate) unmarshalSocial(d *caddyfile.Dispenser, sub string) error {
	var p SocialProvider
	if !d.NextArg() {
		if sub == "oidc" {
			return d.Errf("oidc: expects a provider id, then a block")
		}
		return d.Errf("social: expects google, github or microsoft, then a block")
	}
	p.ID = d.Val()
	p.Kind = string(social.KindOIDC)
	if sub == "social" {
		p.Kind = p.ID
	}
	if d.NextArg() {
		return d.Errf("%s: expects one name, then a block", sub)
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		key := d.Val()
		args := d.RemainingArgs()
		one := func(dst *string) error {
			if len(args) != 1 {
				return d.Errf("%s %s: %s expects exactly one value", sub, p.ID, key)
			}
			*dst = args[0]
			return nil
		}
		var err error
		switch key {
		case "client_id":
			err = one(&p.ClientID)
		case "client_secret":
			err = one(&p.ClientSecret)
		case "tenant":
			err = one(&p.Tenant)
		case "issuer":
			err = one(&p.Issuer)
		case "authorization_url":
			err = one(&p.AuthorizationURL)
		case "token_url":
			err = one(&p.TokenURL)
		case "userinfo_url":
			err = one(&p.UserinfoURL)
		case "jwks_url":
			err = one(&p.JWKSURL)
		case "name":
			err = one(&p.Name)
		case "scopes":
			if len(args) == 0 {
				return d.Errf("%s %s: scopes expects at least one scope", sub, p.ID)
			}
			p.Scopes = append(p.Scopes, args...)
		case "pkce":
			var v string
			if err = one(&v); err == nil {
				switch v {
				case "on":
					p.PKCE = new(bool)
					*p.PKCE = true
				case "off":
					p.PKCE = new(bool)
				default:
					err = d.Errf("%s %s: pkce expects on or off, got %q", sub, p.ID, v)
				}
			}
		default:
			return d.Errf("%s %s: unrecognized setting %q", sub, p.ID, key)
		}
		if err != nil {
			return err
		}
	}
	g.Social = append(g.Social, p)
	return nil
}

// provisionSocial builds the providers without network I/O: discovery for
// oidc providers happens on first use, under the request's bounded context.
func (g *Gate) provisionSocial(repl *caddy.Replacer) error {
	if len(g.Social) == 0 {
		if len(g.TrustedProviders) > 0 {
			return fmt.Errorf("trusted_providers: no social or oidc provider is configured")
		}
		return nil
	}
	if g.cfg.baseURL == nil {
		return fmt.Errorf("base_url: required when a social or oidc provider is configured: the redirect URI registered at the provider is built from it (e.g. base_url https://app.example.com)")
	}
	base := strings.TrimRight(g.cfg.baseURL.String(), "/") + g.cfg.basePath + "/callback/"
	g.social = make(map[string]*social.Provider, len(g.Social))
	for _, sp := range g.Social {
		sub := "social"
		if sp.Kind == string(social.KindOIDC) {
			sub = "oidc"
		}
		switch social.Kind(sp.Kind) {
		case social.KindGoogle, social.KindGitHub, social.KindMicrosoft, social.KindOIDC:
		default:
			return fmt.Errorf("social: unknown provider %q: expects google, github or microsoft (or oidc <id> for any OpenID Connect provider)", sp.Kind)
		}
		if !providerID.MatchString(sp.ID) {
			return fmt.Errorf("%s: provider id %q must be letters, digits, - and _", sub, sp.ID)
		}
		if _, dup := g.social[sp.ID]; dup {
			return fmt.Errorf("%s %s: configured twice", sub, sp.ID)
		}
		cfg := social.Config{
			ID:               sp.ID,
			Kind:             social.Kind(sp.Kind),
			ClientID:         strings.TrimSpace(repl.ReplaceAll(sp.ClientID, "")),
			ClientSecret:     strings.TrimSpace(repl.ReplaceAll(sp.ClientSecret, "")),
			Scopes:           sp.Scopes,
			Tenant:           sp.Tenant,
			Issuer:           sp.Issuer,
			PKCE:             sp.PKCE,
			AuthorizationURL: sp.AuthorizationURL,
			TokenURL:         sp.TokenURL,
			UserinfoURL:      sp.UserinfoURL,
			JWKSURL:          sp.JWKSURL,
		}
		p, err := social.New(context.Background(), cfg, base+sp.ID, providerClient)
		if err != nil {
			// social's messages name the setting (client_id, issuer, …).
			return fmt.Errorf("%s %s: %w", sub, sp.ID, err)
		}
		g.social[sp.ID] = p
	}
	for _, id := range g.TrustedProviders {
		if _, ok := g.social[id]; !ok {
			return fmt.Errorf("trusted_providers: %q is not a configured provider", id)
		}
	}
	g.trustedProviders = slices.Clone(g.TrustedProviders)
	codec, err := social.NewStateCodec(g.cfg.keys)
	if err != nil {
		return fmt.Errorf("social: %w", err)
	}
	g.stateCodec = codec
	return nil
}

// providerClient is what every provider's token, userinfo and discovery
// calls use. http.DefaultClient keeps two idle connections per host, so
// beyond two callbacks at once each would open a new TLS connection to the
// provider; a callback burst keeps up to 32 warm instead.
var providerClient = &http.Client{Transport: func() http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 32
	return t
}()}

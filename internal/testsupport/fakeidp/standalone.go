package fakeidp

import (
	"context"
	"fmt"
	"hash/crc32"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"
)

// What a program that is not a test needs of the provider: a constructor
// without testing.TB, users chosen per authorization, no unbounded request
// log, and the provider's own share of each flow's time (cmd/authbench).

// New runs a provider on 127.0.0.1 until Close.
func New(opts ...Option) (*Provider, error) {
	p := &Provider{
		ClientID:     "test-client",
		ClientSecret: "test-secret",
		user:         DefaultUser,
		done:         make(chan struct{}),
		failures:     map[Endpoint]Failure{},
		codes:        map[string]*grant{},
		tokens:       map[string]*grant{},
		refreshes:    map[string]*grant{},
	}
	for _, o := range opts {
		o(p)
	}
	k, err := newSigningKey("key-1")
	if err != nil {
		return nil, err
	}
	p.keys = []signingKey{k}
	p.srv = httptest.NewServer(p.routes())
	p.URL = p.srv.URL
	return p, nil
}

// UsersFromLoginHint makes an authorization that carries a login_hint sign
// in as a user of its own, whose email address is the hint (verified) and
// whose subject is derived from it, so that concurrent flows can each be a
// different user; SetUser still applies to authorizations without a hint.
func UsersFromLoginHint() Option {
	return func(p *Provider) { p.hintUsers = true }
}

// DiscardRequests keeps no record of requests (Requests, LastAuthorize and
// LastToken answer nothing), for runs of many thousand flows.
func DiscardRequests() Option {
	return func(p *Provider) { p.discard = true }
}

// userFor is whom an authorization with hint signs in as. Runs with p.mu held.
func (p *Provider) userFor(hint string) User {
	if !p.hintUsers || hint == "" {
		return p.user
	}
	local, _, _ := strings.Cut(hint, "@")
	return User{
		Sub:           "hint-" + hint,
		Email:         hint,
		EmailVerified: true,
		Name:          local,
		GitHubID:      int64(crc32.ChecksumIEEE([]byte(hint))) + 2000,
		Login:         local,
	}
}

// ServiceTime is how long the provider took to answer the token and
// userinfo requests of the flow that code was issued for, from the first
// byte it read to the handler's return: the provider's share of that
// flow's callback, which a client measuring the callback can subtract.
// The network between them, and the CPU the provider takes from whatever
// shares its machine, are not in it.
func (p *Provider) ServiceTime(code string) (time.Duration, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	g := p.codes[code]
	if g == nil {
		return 0, fmt.Errorf("fakeidp: no code %q", code)
	}
	return g.served, nil
}

type servedKey struct{}

// servedRef is filled in by a handler with the grant its request served.
type servedRef struct{ g *grant }

func withServed(r *http.Request) (*http.Request, *servedRef) {
	ref := &servedRef{}
	return r.WithContext(context.WithValue(r.Context(), servedKey{}, ref)), ref
}

// servedFor charges the request's time to g.
func servedFor(r *http.Request, g *grant) {
	if ref, ok := r.Context().Value(servedKey{}).(*servedRef); ok {
		ref.g = g
	}
}

func (p *Provider) addServed(ref *servedRef, d time.Duration) {
	if ref.g == nil {
		return
	}
	p.mu.Lock()
	ref.g.served += d
	p.mu.Unlock()
}

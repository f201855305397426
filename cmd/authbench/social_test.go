package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/testsupport/fakeidp"
)

// stubSite stands in for auth_gate's two endpoints of a flow: the start
// hands out the authorization URL and a state cookie, the callback checks
// the state and redeems the code at the provider, as the product does.
func stubSite(t *testing.T, idp *fakeidp.Provider) *httptest.Server {
	var srv *httptest.Server
	mux := http.NewServeMux()
	mux.HandleFunc("POST /auth/sign-in/social", func(w http.ResponseWriter, r *http.Request) {
		var body struct{ LoginHint string }
		_ = json.NewDecoder(r.Body).Decode(&body)
		q := url.Values{"client_id": {idp.ClientID}, "redirect_uri": {srv.URL + "/auth/callback/bench"},
			"response_type": {"code"}, "state": {"st-" + body.LoginHint}, "login_hint": {body.LoginHint}}
		http.SetCookie(w, &http.Cookie{Name: "better-auth.gate_oauth_state", Value: "st-" + body.LoginHint})
		_ = json.NewEncoder(w).Encode(map[string]string{"url": idp.AuthURL() + "?" + q.Encode()})
	})
	mux.HandleFunc("GET /auth/ok", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(`{"ok":true}`)) })
	mux.HandleFunc("GET /auth/callback/bench", func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie("better-auth.gate_oauth_state")
		if err != nil || c.Value != r.URL.Query().Get("state") {
			http.Error(w, "state", http.StatusBadRequest)
			return
		}
		resp, err := http.PostForm(idp.TokenURL(), url.Values{"grant_type": {"authorization_code"}, "code": {r.URL.Query().Get("code")},
			"redirect_uri": {srv.URL + "/auth/callback/bench"}, "client_id": {idp.ClientID}, "client_secret": {idp.ClientSecret}})
		if err != nil || resp.StatusCode != http.StatusOK {
			http.Error(w, "token", http.StatusBadGateway)
			return
		}
		resp.Body.Close()
		http.SetCookie(w, &http.Cookie{Name: "better-auth.session_token", Value: "s"})
		http.Redirect(w, r, "/done", http.StatusFound)
	})
	srv = httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	idp.AllowRedirectURI(srv.URL + "/auth/callback/bench")
	return srv
}

// The net figures take the provider's own time out of the callback's.
func TestSocialFlow_NetLatencyLeavesOutTheProvider(t *testing.T) {
	idp, err := fakeidp.New(fakeidp.UsersFromLoginHint(), fakeidp.DiscardRequests())
	if err != nil {
		t.Fatal(err)
	}
	defer idp.Close()
	const delay = 40 * time.Millisecond
	idp.Fail(fakeidp.Token, fakeidp.Failure{Delay: delay})
	srv := stubSite(t, idp)
	b := &bench{idp: idp, idpClient: newClient()}
	s := &socialSite{store: "stub", base: srv.URL, client: newClient(), emails: []string{"a@x.example", "b@x.example"}}
	var ft flowTimes
	send := b.returning(s, &ft)
	for i := range 3 {
		if o, status := send(t.Context()); o != outcomeOK {
			t.Fatalf("flow %d: outcome %d, status %d", i, o, status)
		}
	}
	st := flowStatOf(&loadResult{}, &ft)
	if ft.n != 3 || st.CallbackP50Ms < ms(delay) || st.ProviderMsPerFlow < ms(delay) {
		t.Errorf("n %d, callback p50 %.1f ms, provider %.1f ms/flow; want 3 flows and the %v delay in both", ft.n, st.CallbackP50Ms, st.ProviderMsPerFlow, delay)
	}
	if st.OKP50Ms <= 0 || st.OKP50Ms >= ms(delay)/2 {
		t.Errorf("baseline p50 %.1f ms", st.OKP50Ms)
	}
	if st.NetP50Ms < 0 || st.NetP50Ms >= ms(delay)/2 {
		t.Errorf("net p50 %.1f ms: the provider's %v is not taken out", st.NetP50Ms, delay)
	}

	// A callback that fails is a failed flow, not a measurement.
	idp.Fail(fakeidp.Token, fakeidp.Failure{Status: http.StatusServiceUnavailable})
	if o, status := send(t.Context()); o != outcomeFailed || status != http.StatusBadGateway {
		t.Errorf("failing callback: outcome %d, status %d", o, status)
	}
	if ft.n != 3 {
		t.Errorf("a failed flow was recorded: n %d", ft.n)
	}
}

func TestParseFlags_Social(t *testing.T) {
	cfg, err := parseFlags([]string{"--legs", "social", "--social-rate", "80", "--social-concurrency", "2, 8"})
	if err != nil || !cfg.runs("social") || cfg.runs("gate") || cfg.socialRate != 80 || len(cfg.socialConc) != 2 || cfg.socialConc[1] != 8 {
		t.Errorf("parse: %+v, %v", cfg, err)
	}
	if cfg, _ := parseFlags(nil); cfg.runs("social") {
		t.Error("the social leg runs by default")
	}
	for _, bad := range [][]string{{"--social-concurrency", "0"}, {"--social-concurrency", "x"}, {"--social-rate", "0"}} {
		if _, err := parseFlags(bad); err == nil || !strings.Contains(err.Error(), "social") {
			t.Errorf("%q: err %v", bad, err)
		}
	}
}

package fakeidp

import (
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Without a test: hint users, no request log, and each flow's service time.
func TestNew_HintUsersDiscardAndServiceTime(t *testing.T) {
	p, err := New(WithRedirectURI(callback), UsersFromLoginHint(), DiscardRequests())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c := newClient(t, p, oauth2.AuthStyleInHeader)
	// Answering late shows in the service time of each flow.
	p.Fail(Token, Failure{Delay: 30 * time.Millisecond})
	for _, tc := range []struct{ hint, wantEmail, wantSub string }{
		{"ada@example.com", "ada@example.com", "hint-ada@example.com"},
		{"bob@example.com", "bob@example.com", "hint-bob@example.com"},
		{"", DefaultUser.Email, DefaultUser.Sub},
	} {
		verifier := oauth2.GenerateVerifier()
		opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier), oidc.Nonce("n")}
		if tc.hint != "" {
			opts = append(opts, oauth2.SetAuthURLParam("login_hint", tc.hint))
		}
		code := authorize(t, c.config.AuthCodeURL("st", opts...)).Query().Get("code")
		if d, err := p.ServiceTime(code); err != nil || d != 0 {
			t.Errorf("service time before the exchange: %v, %v", d, err)
		}
		tok, err := c.config.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatalf("exchange: %v", err)
		}
		info, err := c.oidc.UserInfo(t.Context(), oauth2.StaticTokenSource(tok))
		if err != nil {
			t.Fatalf("userinfo: %v", err)
		}
		if info.Email != tc.wantEmail || info.Subject != tc.wantSub || !info.EmailVerified {
			t.Errorf("hint %q: userinfo %+v", tc.hint, info)
		}
		if d, err := p.ServiceTime(code); err != nil || d < 30*time.Millisecond || d > 5*time.Second {
			t.Errorf("hint %q: service time %v, %v; want the 30 ms delay and a little", tc.hint, d, err)
		}
	}
	if _, err := p.ServiceTime("no-such-code"); err == nil {
		t.Error("service time of an unknown code")
	}
	if n := len(p.Requests()); n != 0 {
		t.Errorf("%d requests recorded with DiscardRequests", n)
	}
	if _, ok := p.LastToken(); ok {
		t.Error("token request recorded with DiscardRequests")
	}
}

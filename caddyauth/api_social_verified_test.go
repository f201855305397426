package caddyauth

import (
	"testing"

	"github.com/authgate/authgate/internal/testsupport"
	"github.com/authgate/authgate/internal/testsupport/fakeidp"
)

// Better Auth's handleOAuthUserInfo marks the user verified when a sign-in
// through an account already linked brings the same address (in any case),
// verified by the provider; never for another address (the user changed it
// at the provider). cmd/caddy's
// TestBetterAuthCompat_SocialSignInVerifiesTheEmailLater checks the same
// against the real Better Auth.
func TestSocialSignIn_ProviderVerifiesTheEmailLater(t *testing.T) {
	cases := []struct {
		name         string
		first, later string // the provider's address at sign-up and later
		verified     bool   // what the provider says later
		want         bool
	}{
		{"same address, now verified", "ann@example.com", "Ann@Example.com", true, true},
		{"same address, still unverified", "bob@example.com", "bob@example.com", false, false},
		{"another address, verified", "cy@example.com", "cy@elsewhere.example", true, false},
	}
	testsupport.Both(t, func(t *testing.T, dsn string) {
		s := newOIDCSite(t, dsn, "")
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				s.t = t
				u := fakeidp.User{Sub: "sub-" + tc.first, Email: tc.first, Name: "Lee"}
				s.idp.SetUser(u)
				w := s.flow(`,"callbackURL":"/dashboard"`)
				redirected(t, w, "/dashboard")
				user := s.sessionUser(sessionCookieFrom(t, w))
				if user["emailVerified"] != false {
					t.Fatalf("signed up verified though the provider did not say so: %v", user)
				}
				u.Email, u.EmailVerified = tc.later, tc.verified
				s.idp.SetUser(u)
				w = s.flow(`,"callbackURL":"/dashboard"`)
				redirected(t, w, "/dashboard")
				again := s.sessionUser(sessionCookieFrom(t, w))
				if again["id"] != user["id"] || again["email"] != tc.first || again["emailVerified"] != tc.want {
					t.Errorf("after the second sign-in: user %v, want id %v, email %s, emailVerified %v", again, user["id"], tc.first, tc.want)
				}
			})
		}
	})
}

// Two sign-ins started in two tabs: the second flow's state cookie replaces
// the first's, and the first tab's callback is refused. Better Auth sends it
// to the errorCallbackURL that the stored flow names (its
// state_security_mismatch carries errorURL), so the app's own error page
// shows, not the auth server's; a state that no flow of ours sealed still
// goes to the default error page.
func TestSocialCallback_StateMismatchGoesToTheFlowsErrorURL(t *testing.T) {
	testsupport.Both(t, func(t *testing.T, dsn string) {
		s := newOIDCSite(t, dsn, "")
		_, firstURL := s.start(`,"callbackURL":"/dashboard","errorCallbackURL":"/oops"`)
		second, _ := s.start(`,"callbackURL":"/dashboard","errorCallbackURL":"/oops"`)
		s.wantSocialError(s.callback(s.authorize(firstURL), second), "/oops", "state_mismatch")

		_, authURL := s.start(`,"errorCallbackURL":"/oops"`)
		s.wantSocialError(s.callback(s.authorize(authURL), "better-auth.gate_oauth_state=forged"), siteURL+"/auth/error", "state_mismatch")
		if n := rowCount(t, s.db, "user"); n != 0 {
			t.Errorf("%d users after refused callbacks", n)
		}
	})
}

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/testsupport"
	"github.com/authgate/authgate/internal/testsupport/fakeidp"
)

// TestFaults_KillingAnInstanceMidWriteLosesNothing: SPEC §13 says killing an
// instance mid-request loses no committed write and leaves nothing
// half-done. Two instances share a database through PgBouncer (the
// deployment §13 describes); instance A takes concurrent sign-ups, social
// sign-ups (callbacks from an OpenID provider) and password resets and is
// killed with SIGKILL in the middle of them. Then: every sign-up A
// acknowledged exists whole and signs in on B at once; no user lacks its
// credential or provider account; every social sign-up A acknowledged
// signs in through the provider on B into the same user; every reset is all
// or nothing (the new password works, the token is spent and the old
// sessions are refused, or none of that happened and the token still
// works).
func TestFaults_KillingAnInstanceMidWriteLosesNothing(t *testing.T) {
	pooled, direct := testsupport.PgBouncerDSN(t)
	mb := newMailbox(t)
	up := testsupport.NewUpstream(t)
	idp := fakeidp.Start(t, fakeidp.UsersFromLoginHint())
	extra := "session_cache 1m\n\t\trate_limit off\n\t\tnotify_database " + direct + "\n\t\temail_webhook " + mb.URL + "/hook" +
		"\n\t\toidc corp {\n\t\t\tissuer " + idp.URL + "\n\t\t\tclient_id " + idp.ClientID + "\n\t\t\tclient_secret " + idp.ClientSecret + "\n\t\t}"
	siteA := testsupport.StartCaddy(t, gatedSite(pooled, up.HostPort(), extra))
	siteB := testsupport.StartCaddy(t, gatedSite(pooled, up.HostPort(), extra))
	idp.AllowRedirectURI(siteA.BaseURL + "/auth/callback/corp")
	idp.AllowRedirectURI(siteB.BaseURL + "/auth/callback/corp")
	waitListeners(t, direct, 2)
	b := newClient(t, siteB.BaseURL)

	// Users whose passwords A will reset: each has a session, used on B so
	// that B has it cached, and a reset token from B.
	type resetUser struct {
		email, cookie, token string
	}
	const resets = 12
	users := make([]resetUser, resets)
	for i := range users {
		u := &users[i]
		u.email = fmt.Sprintf("reset-%d@example.com", i)
		resp, body := newClient(t, siteB.BaseURL).do("POST", "/auth/sign-up/email", `{"name":"R","email":"`+u.email+`","password":"old-password"}`)
		if resp.StatusCode != 200 {
			t.Fatalf("sign-up %s: %d %s", u.email, resp.StatusCode, body)
		}
		u.cookie = sessionCookie(t, resp)
		if resp, _ := b.do("GET", "/app", "", "Cookie", u.cookie); resp.StatusCode != 200 {
			t.Fatalf("fresh session refused on B: %d", resp.StatusCode)
		}
		if resp, body := b.do("POST", "/auth/request-password-reset", `{"email":"`+u.email+`","redirectTo":"/reset"}`, "Origin", siteB.BaseURL); resp.StatusCode != 200 {
			t.Fatalf("request-password-reset: %d %s", resp.StatusCode, body)
		}
		// Delivery is asynchronous.
		within(t, 5*time.Second, func() bool {
			resp, body := newClient(t, mb.URL).do("GET", "/last?to="+u.email, "")
			var msg struct{ Token string }
			if resp.StatusCode == 200 && json.Unmarshal([]byte(body), &msg) == nil {
				u.token = msg.Token
			}
			return u.token != ""
		}, "no reset email for "+u.email)
	}

	// The load on A: sign-ups of fresh addresses, and the resets, from 8
	// workers, until A is killed.
	httpc := &http.Client{Timeout: 10 * time.Second}
	post := func(path, body string) (int, error) {
		req, _ := http.NewRequest("POST", siteA.BaseURL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", siteA.BaseURL)
		resp, err := httpc.Do(req)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	var (
		mu         sync.Mutex
		signedUp   []string
		resetOK    = map[int]bool{}
		killed     = make(chan struct{})
		wg         sync.WaitGroup
		failures   int
		busy       int
		nextReset  int
		socialDone []string
	)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-killed:
					return
				default:
				}
				mu.Lock()
				// One reset for every three sign-ups, so that resets
				// are still starting when A is killed.
				r := -1
				if i%4 == 1 && nextReset < resets {
					r, nextReset = nextReset, nextReset+1
				}
				mu.Unlock()
				if r >= 0 {
					status, err := post("/auth/reset-password", `{"newPassword":"new-password","token":"`+users[r].token+`"}`)
					mu.Lock()
					switch {
					case err != nil:
						failures++
					case status == 200:
						resetOK[r] = true
					case status == http.StatusServiceUnavailable:
						busy++ // the hash pool shed load: not done, checked below
					default:
						t.Errorf("reset-password on A before the kill: %d", status)
					}
					mu.Unlock()
					continue
				}
				if i%4 == 3 {
					email := fmt.Sprintf("social-%d-%d@example.com", w, i)
					ok, err := socialSignIn(siteA.BaseURL, email)
					mu.Lock()
					switch {
					case err != nil:
						failures++
					case ok:
						socialDone = append(socialDone, email)
					}
					mu.Unlock()
					continue
				}
				email := fmt.Sprintf("load-%d-%d@example.com", w, i)
				status, err := post("/auth/sign-up/email", `{"name":"Load","email":"`+email+`","password":"password123"}`)
				mu.Lock()
				switch {
				case err != nil:
					failures++
				case status == 200:
					signedUp = append(signedUp, email)
				case status == http.StatusServiceUnavailable:
					busy++
				default:
					t.Errorf("sign-up on A before the kill: %d", status)
				}
				mu.Unlock()
			}
		}()
	}
	// Kill once some resets are done and others are still to come.
	within(t, 60*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(resetOK) >= 2 && len(signedUp) >= 4 && len(socialDone) >= 2
	}, "the load made no progress on A")
	siteA.Kill()
	close(killed)
	wg.Wait()
	mu.Lock()
	t.Logf("A killed after %d acknowledged sign-ups, %d acknowledged social sign-ups, %d acknowledged resets of %d started; %d answered 503 SERVER_BUSY; %d cut off",
		len(signedUp), len(socialDone), len(resetOK), nextReset, busy, failures)
	if nextReset == resets {
		t.Log("every reset had started before the kill")
	}
	mu.Unlock()

	// Every acknowledged sign-up signs in on B at once.
	for _, email := range signedUp {
		if resp, body := newClient(t, siteB.BaseURL).do("POST", "/auth/sign-in/email", `{"email":"`+email+`","password":"password123"}`); resp.StatusCode != 200 {
			t.Errorf("sign-up of %s was acknowledged by A, but sign-in on B: %d %s", email, resp.StatusCode, body)
		}
	}
	db := testsupport.OpenDB(t, direct)
	var orphans int
	if err := db.Get(&orphans, `SELECT count(*) FROM "user" u WHERE NOT EXISTS
		(SELECT 1 FROM "account" a WHERE a."userId" = u."id" AND (a."providerId" = 'corp'
			OR a."providerId" = 'credential' AND a."password" IS NOT NULL))`); err != nil {
		t.Fatal(err)
	}
	if orphans != 0 {
		t.Errorf("%d users without their credential or provider account after the kill", orphans)
	}
	// Every social sign-up A acknowledged is one user with one provider
	// account, and signing in through the provider on B finds it.
	for _, email := range socialDone {
		var n int
		if err := db.Get(&n, `SELECT count(*) FROM "user" u JOIN "account" a ON a."userId" = u."id" AND a."providerId" = 'corp'
			WHERE u."email" = $1`, email); err != nil || n != 1 {
			t.Errorf("social sign-up of %s was acknowledged by A, but %d user+account rows (%v)", email, n, err)
			continue
		}
		if ok, err := socialSignIn(siteB.BaseURL, email); err != nil || !ok {
			t.Errorf("social sign-in of %s on B after the kill: %v, %v", email, ok, err)
		}
		var users int
		if err := db.Get(&users, `SELECT count(*) FROM "user" WHERE "email" = $1`, email); err != nil || users != 1 {
			t.Errorf("%s: %d users after signing in again on B (%v)", email, users, err)
		}
	}

	// Every reset is all or nothing.
	signIn := func(email, password string) int {
		resp, _ := newClient(t, siteB.BaseURL).do("POST", "/auth/sign-in/email", `{"email":"`+email+`","password":"`+password+`"}`)
		return resp.StatusCode
	}
	for i, u := range users {
		oldOK, newOK := signIn(u.email, "old-password") == 200, signIn(u.email, "new-password") == 200
		switch {
		case oldOK == newOK:
			t.Errorf("%s: old password works %v, new password works %v", u.email, oldOK, newOK)
		case newOK:
			// Done: the token is spent and the old session refused.
			if resp, _ := b.do("POST", "/auth/reset-password", `{"newPassword":"third-password","token":"`+u.token+`"}`, "Origin", siteB.BaseURL); resp.StatusCode == 200 {
				t.Errorf("%s: the password changed but the reset token still works", u.email)
			}
			within(t, time.Second, func() bool {
				resp, _ := b.do("GET", "/app", "", "Cookie", u.cookie)
				return resp.StatusCode == 401
			}, u.email+": the password was reset but B still accepts the old session")
		default:
			if resetOK[i] {
				t.Errorf("%s: A acknowledged the reset, but the old password still works", u.email)
			}
			// Not done: the token still works, once.
			if resp, body := b.do("POST", "/auth/reset-password", `{"newPassword":"third-password","token":"`+u.token+`"}`, "Origin", siteB.BaseURL); resp.StatusCode != 200 {
				t.Errorf("%s: the reset did not happen, yet its token no longer works: %d %s", u.email, resp.StatusCode, body)
			}
		}
	}
	if p := mb.problems(); p != "" {
		t.Errorf("mailbox: %s", p)
	}
}

// sessionCookie is the session cookie a response sets, as a Cookie header
// value.
func sessionCookie(t *testing.T, resp *http.Response) string {
	t.Helper()
	for _, ck := range resp.Cookies() {
		if ck.Name == "better-auth.session_token" {
			return ck.Name + "=" + ck.Value
		}
	}
	t.Fatal("no session cookie")
	return ""
}

// socialSignIn runs a whole OpenID flow on the site at base for the
// provider's user email (the fake provider signs in as the login hint), and
// reports whether it ended signed in: the callback redirected to the
// callbackURL with a session cookie. An error means the site did not answer
// (killed).
func socialSignIn(base, email string) (bool, error) {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("POST", base+"/auth/sign-in/social",
		strings.NewReader(`{"provider":"corp","callbackURL":"/done","loginHint":"`+email+`"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return false, err
	}
	var start struct{ URL string }
	err = json.NewDecoder(resp.Body).Decode(&start)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		return false, nil
	}
	resp, err = c.Get(start.URL) // the provider: redirects to the callback
	if err != nil {
		return false, fmt.Errorf("provider: %w", err)
	}
	resp.Body.Close()
	callback := resp.Header.Get("Location")
	resp, err = c.Get(callback)
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	signedIn := false
	for _, ck := range resp.Cookies() {
		if ck.Name == "better-auth.session_token" && ck.Value != "" {
			signedIn = true
		}
	}
	return resp.StatusCode == http.StatusFound && resp.Header.Get("Location") == "/done" && signedIn, nil
}

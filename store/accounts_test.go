package store

import (
	"errors"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/testsupport"
)

func testTokens() AccountTokens {
	return AccountTokens{
		AccessToken:           "at-1",
		RefreshToken:          "rt-1",
		IDToken:               "id-1",
		AccessTokenExpiresAt:  testNow.Add(time.Hour),
		RefreshTokenExpiresAt: testNow.Add(24 * time.Hour),
		Scope:                 "openid,email,profile",
	}
}

func TestOAuthAccounts(t *testing.T) {
	eachLayout(t, func(t *testing.T, st *Store) {
		ctx := testCtx(t)
		img := "https://example.com/a.png"
		u, acc, err := st.CreateOAuthUser(ctx, NewOAuthUser{
			Name: "Ada", Email: "ada@example.com", EmailVerified: true, Image: &img,
			Account: OAuthAccount{ProviderID: "corp", AccountID: "sub-1", AccountTokens: testTokens()},
		}, testNow)
		if err != nil {
			t.Fatalf("CreateOAuthUser: %v", err)
		}
		if !u.EmailVerified || u.Name != "Ada" || acc.UserID != u.ID {
			t.Errorf("user %+v account %+v", u, acc)
		}
		loaded, err := st.UserByEmail(ctx, "ada@example.com")
		if err != nil || loaded.ID != u.ID || !loaded.EmailVerified || loaded.Image == nil || *loaded.Image != img {
			t.Fatalf("UserByEmail = %+v, %v", loaded, err)
		}
		// An OAuth user has no password to sign in with.
		if _, err := st.PasswordHash(ctx, u.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("PasswordHash of an OAuth user: %v, want ErrNotFound", err)
		}

		got, err := st.AccountByProvider(ctx, "corp", "sub-1")
		if err != nil {
			t.Fatalf("AccountByProvider: %v", err)
		}
		want := testTokens()
		want.AccessTokenExpiresAt = normTime(want.AccessTokenExpiresAt)
		want.RefreshTokenExpiresAt = normTime(want.RefreshTokenExpiresAt)
		if got.ID != acc.ID || got.UserID != u.ID || got.ProviderID != "corp" || got.AccountID != "sub-1" ||
			got.AccessToken != want.AccessToken || got.RefreshToken != want.RefreshToken || got.IDToken != want.IDToken ||
			!got.AccessTokenExpiresAt.Equal(want.AccessTokenExpiresAt) || !got.RefreshTokenExpiresAt.Equal(want.RefreshTokenExpiresAt) ||
			got.Scope != want.Scope || !got.CreatedAt.Equal(normTime(testNow)) {
			t.Errorf("AccountByProvider = %+v, want tokens %+v", got, want)
		}
		for _, miss := range [][2]string{{"corp", "sub-2"}, {"google", "sub-1"}} {
			if _, err := st.AccountByProvider(ctx, miss[0], miss[1]); !errors.Is(err, ErrNotFound) {
				t.Errorf("AccountByProvider(%v) = %v, want ErrNotFound", miss, err)
			}
		}

		// The email identifies the user: a second sign-up with it is refused
		// and leaves no account behind.
		_, _, err = st.CreateOAuthUser(ctx, NewOAuthUser{Name: "X", Email: "ada@example.com",
			Account: OAuthAccount{ProviderID: "github", AccountID: "42"}}, testNow)
		if !errors.Is(err, ErrEmailTaken) {
			t.Errorf("second CreateOAuthUser = %v, want ErrEmailTaken", err)
		}
		if _, err := st.AccountByProvider(ctx, "github", "42"); !errors.Is(err, ErrNotFound) {
			t.Errorf("account of the refused sign-up: %v, want ErrNotFound", err)
		}

		// Linking: a password user gains a provider account, tokens absent
		// stay NULL.
		pw := mkUser(t, st, "bob@example.com")
		linked, err := st.LinkAccount(ctx, pw.ID, OAuthAccount{ProviderID: "github", AccountID: "42",
			AccountTokens: AccountTokens{AccessToken: "gh-at", Scope: "read:user,user:email"}}, testNow)
		if err != nil {
			t.Fatalf("LinkAccount: %v", err)
		}
		got, err = st.AccountByProvider(ctx, "github", "42")
		if err != nil || got.ID != linked.ID || got.UserID != pw.ID || got.AccessToken != "gh-at" ||
			got.RefreshToken != "" || !got.AccessTokenExpiresAt.IsZero() {
			t.Errorf("linked account = %+v, %v", got, err)
		}
		if _, err := st.PasswordHash(ctx, pw.ID); err != nil {
			t.Errorf("the credential row must survive linking: %v", err)
		}
		if _, err := st.LinkAccount(ctx, "no-such-user", OAuthAccount{ProviderID: "github", AccountID: "43"}, testNow); !errors.Is(err, ErrUserNotFound) {
			t.Errorf("LinkAccount to a missing user = %v, want ErrUserNotFound", err)
		}

		// A later sign-in rewrites what the provider sent and keeps the rest,
		// scope included.
		later := testNow.Add(time.Minute)
		if err := st.UpdateAccountTokens(ctx, acc.ID, AccountTokens{AccessToken: "at-2", AccessTokenExpiresAt: later.Add(time.Hour), Scope: "ignored"}, later); err != nil {
			t.Fatalf("UpdateAccountTokens: %v", err)
		}
		got, err = st.AccountByProvider(ctx, "corp", "sub-1")
		if err != nil || got.AccessToken != "at-2" || got.RefreshToken != "rt-1" || got.IDToken != "id-1" ||
			!got.AccessTokenExpiresAt.Equal(normTime(later.Add(time.Hour))) || !got.RefreshTokenExpiresAt.Equal(want.RefreshTokenExpiresAt) ||
			got.Scope != want.Scope || !got.UpdatedAt.Equal(normTime(later)) {
			t.Errorf("after UpdateAccountTokens = %+v, %v", got, err)
		}
		if err := st.UpdateAccountTokens(ctx, "no-such-account", AccountTokens{}, later); !errors.Is(err, ErrNotFound) {
			t.Errorf("UpdateAccountTokens of a missing row = %v, want ErrNotFound", err)
		}

		// Two rows for one subject (written by hand, as nothing in the
		// schema forbids it) are refused rather than picking one.
		q, _ := st.queries(ctx)
		if _, err := q.insertOAuthAccount(ctx, st.db, pw.ID, OAuthAccount{ProviderID: "corp", AccountID: "sub-1"}, testNow); err != nil {
			t.Fatal(err)
		}
		if _, err := st.AccountByProvider(ctx, "corp", "sub-1"); !errors.Is(err, ErrDuplicateAccount) {
			t.Errorf("AccountByProvider with two rows = %v, want ErrDuplicateAccount", err)
		}
	})
}

func TestLegacyAccountIssuer_OAuthAccounts(t *testing.T) {
	for _, f := range pluginFixtures() {
		t.Run(f.name, func(t *testing.T) {
			extra := testsupport.LegacyAccountIssuerSQLiteDDL(f.snake)
			if f.postgres {
				extra = testsupport.LegacyAccountIssuerPostgresDDL(f.snake)
			}
			st := f.open(t, extra, Options{})
			ctx := testCtx(t)
			u, _, err := st.CreateOAuthUser(ctx, NewOAuthUser{Name: "A", Email: "a@example.com",
				Account: OAuthAccount{ProviderID: "corp", AccountID: "s", Issuer: "https://id.corp.example"}}, testNow)
			if err != nil {
				t.Fatalf("CreateOAuthUser: %v", err)
			}
			if _, err := st.LinkAccount(ctx, u.ID, OAuthAccount{ProviderID: "my gh", AccountID: "1"}, testNow); err != nil {
				t.Fatalf("LinkAccount: %v", err)
			}
			q, _ := st.queries(ctx)
			for provider, want := range map[string]string{"corp": "https://id.corp.example", "my gh": "local:oauth:my%20gh"} {
				var issuer string
				err := st.db.QueryRowContext(ctx, expand(`SELECT "issuer" FROM "account" WHERE {providerId} = ?`, q.layout, st.dialect), provider).Scan(&issuer)
				if err != nil {
					t.Fatal(err)
				}
				if issuer != want {
					t.Errorf("issuer of %s = %q, want %q", provider, issuer, want)
				}
			}
		})
	}
}

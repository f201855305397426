package store

import (
	"errors"
	"testing"
	"time"
)

func TestListAndUnlinkAccounts(t *testing.T) {
	eachLayout(t, func(t *testing.T, st *Store) {
		ctx := testCtx(t)
		u := mkUser(t, st, "ada@example.com")
		other := mkUser(t, st, "bob@example.com")
		gh, err := st.LinkAccount(ctx, u.ID, OAuthAccount{ProviderID: "github", AccountID: "42",
			AccountTokens: AccountTokens{AccessToken: "gh-at", Scope: "read:user,user:email"}}, testNow.Add(time.Second))
		if err != nil {
			t.Fatalf("LinkAccount: %v", err)
		}

		list, err := st.ListAccounts(ctx, u.ID)
		if err != nil {
			t.Fatalf("ListAccounts: %v", err)
		}
		// The credential row counts: Better Auth lists it, and it keeps the
		// provider account from being the last one.
		if len(list) != 2 || list[0].ProviderID != "credential" || list[0].AccountID != u.ID ||
			list[1].ID != gh.ID || list[1].Scope != "read:user,user:email" || list[1].UserID != u.ID {
			t.Fatalf("ListAccounts = %+v", list)
		}
		if l, err := st.ListAccounts(ctx, "no-such-user"); err != nil || len(l) != 0 {
			t.Errorf("ListAccounts of nobody = %v, %v", l, err)
		}

		// Another user's account is not found, and stays (other has one
		// account, so only allowLast gets as far as the lookup).
		if err := st.UnlinkAccount(ctx, other.ID, gh.ID, true); !errors.Is(err, ErrNotFound) {
			t.Errorf("UnlinkAccount of another user's account = %v, want ErrNotFound", err)
		}
		if err := st.UnlinkAccount(ctx, u.ID, "no-such-account", false); !errors.Is(err, ErrNotFound) {
			t.Errorf("UnlinkAccount of an unknown id = %v, want ErrNotFound", err)
		}
		if err := st.UnlinkAccount(ctx, u.ID, gh.ID, false); err != nil {
			t.Fatalf("UnlinkAccount: %v", err)
		}
		if _, err := st.AccountByProvider(ctx, "github", "42"); !errors.Is(err, ErrNotFound) {
			t.Errorf("unlinked account still there: %v", err)
		}
		// The last account is refused first, whatever the id names, as
		// Better Auth checks the count before looking the id up.
		list, _ = st.ListAccounts(ctx, u.ID)
		for _, id := range []string{list[0].ID, "no-such-account"} {
			if err := st.UnlinkAccount(ctx, u.ID, id, false); !errors.Is(err, ErrLastAccount) {
				t.Errorf("UnlinkAccount(%s) of the last account = %v, want ErrLastAccount", id, err)
			}
		}
		if err := st.UnlinkAccount(ctx, u.ID, list[0].ID, true); err != nil {
			t.Errorf("UnlinkAccount of the last account, allowed: %v", err)
		}
		if l, _ := st.ListAccounts(ctx, u.ID); len(l) != 0 {
			t.Errorf("accounts left: %+v", l)
		}
	})
}

func TestUpdateLinkedAccount(t *testing.T) {
	eachLayout(t, func(t *testing.T, st *Store) {
		ctx := testCtx(t)
		u := mkUser(t, st, "ada@example.com")
		acc, err := st.LinkAccount(ctx, u.ID, OAuthAccount{ProviderID: "corp", AccountID: "s1",
			AccountTokens: AccountTokens{AccessToken: "at-1", RefreshToken: "rt-1", Scope: "openid,email"}}, testNow)
		if err != nil {
			t.Fatal(err)
		}
		later := testNow.Add(time.Minute)
		if err := st.UpdateLinkedAccount(ctx, acc.ID, AccountTokens{AccessToken: "at-2", IDToken: "id-2"}, "openid,email,profile", later); err != nil {
			t.Fatalf("UpdateLinkedAccount: %v", err)
		}
		got, err := st.AccountByProvider(ctx, "corp", "s1")
		if err != nil {
			t.Fatal(err)
		}
		// A token not sent this time is kept; the scope is replaced.
		if got.AccessToken != "at-2" || got.RefreshToken != "rt-1" || got.IDToken != "id-2" ||
			got.Scope != "openid,email,profile" || !got.UpdatedAt.Equal(normTime(later)) {
			t.Errorf("after update: %+v", got)
		}
		if err := st.UpdateLinkedAccount(ctx, acc.ID, AccountTokens{}, "", later); err != nil {
			t.Fatal(err)
		}
		if got, _ := st.AccountByProvider(ctx, "corp", "s1"); got.Scope != "openid,email,profile" {
			t.Errorf("an empty scope overwrote the stored one: %q", got.Scope)
		}
		if err := st.UpdateLinkedAccount(ctx, "gone", AccountTokens{}, "x", later); !errors.Is(err, ErrNotFound) {
			t.Errorf("UpdateLinkedAccount of a missing row = %v, want ErrNotFound", err)
		}
	})
}

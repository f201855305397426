package store

import (
	"sync"
	"testing"
	"time"
)

func TestJWKS_TableInEachLayoutAndRoundTrip(t *testing.T) {
	eachLayout(t, func(t *testing.T, st *Store) {
		ctx := testCtx(t)
		if _, err := st.JWKs(ctx); err == nil {
			t.Fatal("jwks table exists before anything asked for it")
		}
		// Concurrent starts of several instances must all succeed.
		var wg sync.WaitGroup
		errs := make([]error, 3)
		for i := range errs {
			wg.Go(func() { errs[i] = st.EnsureJWKSTable(ctx) })
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatalf("EnsureJWKSTable: %v", err)
			}
		}
		if err := st.EnsureJWKSTable(ctx); err != nil {
			t.Fatalf("second EnsureJWKSTable: %v", err)
		}
		pub := map[layout]string{layoutCamel: "publicKey", layoutSnake: "public_key"}[st.q.Load().layout]
		var n int
		if err := st.db.GetContext(ctx, &n, st.dialect.rebind(`SELECT count(*) FROM "jwks" WHERE "`+pub+`" IS NULL`)); err != nil {
			t.Fatalf("column %s: %v", pub, err)
		}

		alg, crv := "EdDSA", "Ed25519"
		created := time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
		k := JWK{ID: "k1", PublicKey: `{"kty":"OKP"}`, PrivateKey: `"abcd"`, CreatedAt: created, Alg: &alg, Crv: &crv}
		if err := st.InsertJWK(ctx, k); err != nil {
			t.Fatal(err)
		}
		if err := st.InsertJWK(ctx, JWK{ID: "k0", PublicKey: "{}", PrivateKey: "{}", CreatedAt: created.Add(-time.Hour)}); err != nil {
			t.Fatal(err)
		}
		end := created.Add(time.Minute)
		if err := st.SetJWKExpiry(ctx, "k0", end); err != nil {
			t.Fatal(err)
		}
		got, err := st.JWKs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		byID := map[string]JWK{}
		for _, g := range got {
			byID[g.ID] = g
		}
		g1, g0 := byID["k1"], byID["k0"]
		if len(got) != 2 || g1.PublicKey != k.PublicKey || g1.PrivateKey != k.PrivateKey || !g1.CreatedAt.Equal(created) ||
			g1.ExpiresAt != nil || g1.Alg == nil || *g1.Alg != alg || g1.Crv == nil || *g1.Crv != crv {
			t.Fatalf("k1 read back as %+v", g1)
		}
		if g0.ExpiresAt == nil || !g0.ExpiresAt.Equal(end) || g0.Alg != nil {
			t.Fatalf("k0 read back as %+v", g0)
		}
	})
}

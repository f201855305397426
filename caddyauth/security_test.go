package caddyauth

import (
	"net/http"
	"testing"
)

func TestMarkPrivate(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want string
	}{
		{nil, "private"},
		{[]string{"public, max-age=600"}, "private, max-age=600"},
		{[]string{"max-age=60", "must-revalidate"}, "private, max-age=60, must-revalidate"},
		{[]string{"Public,s-maxage=10"}, "private, s-maxage=10"},
		{[]string{"no-store"}, "no-store"},
		{[]string{"NO-STORE, max-age=0"}, "NO-STORE, max-age=0"},
		{[]string{"private=\"Set-Cookie\""}, "private=\"Set-Cookie\""},
		{[]string{"max-age=5, private"}, "max-age=5, private"},
	} {
		h := http.Header{}
		for _, v := range tc.in {
			h.Add("Cache-Control", v)
		}
		markPrivate(h)
		if got := h.Values("Cache-Control"); len(got) != 1 || got[0] != tc.want {
			t.Errorf("%q: got %q, want %q", tc.in, got, tc.want)
		}
	}
}

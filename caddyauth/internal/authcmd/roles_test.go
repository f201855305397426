package authcmd

import (
	"testing"
	"time"
)

func TestRoleListAndBanEnd(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"admin", "admin", true},
		{" user , admin ", "user,admin", true},
		{"admin,", "", false},
		{"", "", false},
	} {
		got, err := roleList(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("roleList(%q) = %q, %v", tc.in, got, err)
		}
	}
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"7d", now.Add(7 * 24 * time.Hour), true},
		{"90m", now.Add(90 * time.Minute), true},
		{"2031-01-01T00:00:00Z", time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC), true},
		{"2020-01-01T00:00:00Z", time.Time{}, false},
		{"-1h", time.Time{}, false},
		{"soon", time.Time{}, false},
	} {
		got, err := banEnd(tc.in, now)
		if (err == nil) != tc.ok || !got.Equal(tc.want) {
			t.Errorf("banEnd(%q) = %v, %v", tc.in, got, err)
		}
	}
}

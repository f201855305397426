package wire

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/store"
)

func TestTime_MarshalsAsJavaScriptsToJSON(t *testing.T) {
	cases := []struct {
		in   time.Time
		want string
	}{
		{time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC), `"2024-05-06T07:08:09.123Z"`},
		{time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC), `"2024-05-06T07:08:09.000Z"`},
		{time.Date(2024, 5, 6, 9, 8, 9, 5e6, time.FixedZone("CEST", 2*3600)), `"2024-05-06T07:08:09.005Z"`},
	}
	for _, tc := range cases {
		b, err := json.Marshal(Time(tc.in))
		if err != nil || string(b) != tc.want {
			t.Errorf("Marshal(%v) = %s, %v; want %s", tc.in, b, err, tc.want)
		}
		var back Time
		if err := json.Unmarshal(b, &back); err != nil || !time.Time(back).Equal(tc.in.Truncate(time.Millisecond)) {
			t.Errorf("Unmarshal(%s) = %v, %v", b, time.Time(back), err)
		}
	}
	var bad Time
	if err := json.Unmarshal([]byte(`"yesterday"`), &bad); err == nil {
		t.Error("a non-date string is accepted")
	}
}

func TestFromUserAndSession_AreBetterAuthsObjects(t *testing.T) {
	at := time.Date(2024, 1, 2, 3, 4, 5, 6e6, time.UTC)
	image, ip := "https://img.example/a.png", "192.0.2.1"
	reason, admin, exp := "spam & <abuse>", "adm1", at.Add(24*time.Hour)
	cases := []struct {
		name string
		v    any
		want string
	}{
		{"user", FromUser(store.User{ID: "u1", Name: "Ada <3", Email: "ada@example.com", EmailVerified: true, Image: &image, CreatedAt: at, UpdatedAt: at.Add(time.Second)}),
			`{"id":"u1","name":"Ada <3","email":"ada@example.com","emailVerified":true,"image":"https://img.example/a.png","createdAt":"2024-01-02T03:04:05.006Z","updatedAt":"2024-01-02T03:04:06.006Z"}`},
		{"user without image", FromUser(store.User{ID: "u2", CreatedAt: at, UpdatedAt: at}),
			`{"id":"u2","name":"","email":"","emailVerified":false,"image":null,"createdAt":"2024-01-02T03:04:05.006Z","updatedAt":"2024-01-02T03:04:05.006Z"}`},
		// With the admin plugin's columns, as Better Auth sends a user then:
		// every field, null when unset.
		{"user with admin columns, unset", FromUser(store.User{ID: "u3", Name: "<b>", CreatedAt: at, UpdatedAt: at, AdminColumns: true}),
			`{"id":"u3","name":"<b>","email":"","emailVerified":false,"image":null,"createdAt":"2024-01-02T03:04:05.006Z","updatedAt":"2024-01-02T03:04:05.006Z","role":null,"banned":false,"banReason":null,"banExpires":null}`},
		{"banned admin", FromUser(store.User{ID: "u4", CreatedAt: at, UpdatedAt: at, AdminColumns: true, Role: "admin,user", Banned: true, BanReason: &reason, BanExpires: &exp}),
			`{"id":"u4","name":"","email":"","emailVerified":false,"image":null,"createdAt":"2024-01-02T03:04:05.006Z","updatedAt":"2024-01-02T03:04:05.006Z","role":"admin,user","banned":true,"banReason":"spam & <abuse>","banExpires":"2024-01-03T03:04:05.006Z"}`},
		// With the two-factor plugin's column, as Better Auth sends a user
		// then, before the admin plugin's fields.
		{"enrolled user", FromUser(store.User{ID: "u5", CreatedAt: at, UpdatedAt: at, TwoFactorColumn: true, TwoFactorEnabled: true}),
			`{"id":"u5","name":"","email":"","emailVerified":false,"image":null,"createdAt":"2024-01-02T03:04:05.006Z","updatedAt":"2024-01-02T03:04:05.006Z","twoFactorEnabled":true}`},
		{"both plugins", FromUser(store.User{ID: "u6", CreatedAt: at, UpdatedAt: at, TwoFactorColumn: true, AdminColumns: true, Role: "user"}),
			`{"id":"u6","name":"","email":"","emailVerified":false,"image":null,"createdAt":"2024-01-02T03:04:05.006Z","updatedAt":"2024-01-02T03:04:05.006Z","twoFactorEnabled":false,"role":"user","banned":false,"banReason":null,"banExpires":null}`},
		{"session with the impersonation column", FromSession(store.Session{ID: "s2", Token: "tok", UserID: "u1", ExpiresAt: at, CreatedAt: at, UpdatedAt: at, ImpersonationColumn: true}),
			`{"id":"s2","token":"tok","userId":"u1","expiresAt":"2024-01-02T03:04:05.006Z","createdAt":"2024-01-02T03:04:05.006Z","updatedAt":"2024-01-02T03:04:05.006Z","ipAddress":null,"userAgent":null,"impersonatedBy":null}`},
		{"impersonated session", FromSession(store.Session{ID: "s3", Token: "tok", UserID: "u1", ExpiresAt: at, CreatedAt: at, UpdatedAt: at, ImpersonationColumn: true, ImpersonatedBy: &admin}),
			`{"id":"s3","token":"tok","userId":"u1","expiresAt":"2024-01-02T03:04:05.006Z","createdAt":"2024-01-02T03:04:05.006Z","updatedAt":"2024-01-02T03:04:05.006Z","ipAddress":null,"userAgent":null,"impersonatedBy":"adm1"}`},
		{"session", FromSession(store.Session{ID: "s1", Token: "tok", UserID: "u1", ExpiresAt: at.Add(time.Hour), CreatedAt: at, UpdatedAt: at, IPAddress: &ip}),
			`{"id":"s1","token":"tok","userId":"u1","expiresAt":"2024-01-02T04:04:05.006Z","createdAt":"2024-01-02T03:04:05.006Z","updatedAt":"2024-01-02T03:04:05.006Z","ipAddress":"192.0.2.1","userAgent":null}`},
	}
	for _, tc := range cases {
		// Without HTML escaping, as the API and the admin commands write.
		var buf strings.Builder
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(tc.v); err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSuffix(buf.String(), "\n"); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}

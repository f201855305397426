// Package wire is Better Auth's User and Session objects as JSON, written
// alike by the auth API, the email webhook and the admin commands, so that
// a client or an operator's script reads one shape everywhere.
package wire

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/authgate/authgate/store"
)

// Time marshals like JavaScript's Date.prototype.toJSON: UTC, millisecond
// precision, trailing Z.
type Time time.Time

func (t Time) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Time(t).UTC().Format("2006-01-02T15:04:05.000Z") + `"`), nil
}

// UnmarshalJSON reads the same form back (webhook receivers in tests).
func (t *Time) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	*t = Time(v)
	return err
}

// User is Better Auth's User object.
type User struct {
	ID            string  `json:"id"`
	Name          string  `json:"name"`
	Email         string  `json:"email"`
	EmailVerified bool    `json:"emailVerified"`
	Image         *string `json:"image"`
	CreatedAt     Time    `json:"createdAt"`
	UpdatedAt     Time    `json:"updatedAt"`
	// TwoFactor and Admin are nil when the database has no column of that
	// plugin, and then left out, as Better Auth leaves them out without it.
	TwoFactor *TwoFactorFields `json:"-"`
	Admin     *AdminFields     `json:"-"`
}

// TwoFactorFields is the two-factor plugin's user field.
type TwoFactorFields struct {
	TwoFactorEnabled bool `json:"twoFactorEnabled"`
}

// AdminFields are the admin plugin's user fields, as Better Auth sends them:
// null when unset.
type AdminFields struct {
	Role       *string `json:"role"`
	Banned     bool    `json:"banned"`
	BanReason  *string `json:"banReason"`
	BanExpires *Time   `json:"banExpires"`
}

// MarshalJSON writes the core fields, then the plugins' when present (a nil
// embedded pointer's fields are left out).
func (u User) MarshalJSON() ([]byte, error) {
	type plain User // without this method
	if u.Admin == nil && u.TwoFactor == nil {
		return marshal(plain(u))
	}
	return marshal(struct {
		plain
		*TwoFactorFields
		*AdminFields
	}{plain(u), u.TwoFactor, u.Admin})
}

// Session is Better Auth's Session object, token included: only its owner
// may be shown one.
type Session struct {
	ID        string  `json:"id"`
	Token     string  `json:"token"`
	UserID    string  `json:"userId"`
	ExpiresAt Time    `json:"expiresAt"`
	CreatedAt Time    `json:"createdAt"`
	UpdatedAt Time    `json:"updatedAt"`
	IPAddress *string `json:"ipAddress"`
	UserAgent *string `json:"userAgent"`
	// Impersonation is nil when the database has no session.impersonatedBy
	// column, and then left out.
	Impersonation *Impersonation `json:"-"`
}

// Impersonation is the admin plugin's session field.
type Impersonation struct {
	ImpersonatedBy *string `json:"impersonatedBy"`
}

// MarshalJSON writes the core fields, then the admin plugin's when present.
func (s Session) MarshalJSON() ([]byte, error) {
	type plain Session
	if s.Impersonation == nil {
		return marshal(plain(s))
	}
	return marshal(struct {
		plain
		*Impersonation
	}{plain(s), s.Impersonation})
}

// marshal encodes v without HTML escaping, as the API writes everything:
// an encoder that escapes (json.Marshal) still escapes this output.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// FromUser is u as Better Auth sends it.
func FromUser(u store.User) User {
	out := User{ID: u.ID, Name: u.Name, Email: u.Email, EmailVerified: u.EmailVerified, Image: u.Image, CreatedAt: Time(u.CreatedAt), UpdatedAt: Time(u.UpdatedAt)}
	if u.TwoFactorColumn {
		out.TwoFactor = &TwoFactorFields{u.TwoFactorEnabled}
	}
	if u.AdminColumns {
		a := &AdminFields{Banned: u.Banned, BanReason: u.BanReason}
		if u.Role != "" {
			a.Role = &u.Role
		}
		if u.BanExpires != nil {
			t := Time(*u.BanExpires)
			a.BanExpires = &t
		}
		out.Admin = a
	}
	return out
}

// FromSession is s as Better Auth sends it, token included.
func FromSession(s store.Session) Session {
	out := Session{ID: s.ID, Token: s.Token, UserID: s.UserID, ExpiresAt: Time(s.ExpiresAt), CreatedAt: Time(s.CreatedAt), UpdatedAt: Time(s.UpdatedAt), IPAddress: s.IPAddress, UserAgent: s.UserAgent}
	if s.ImpersonationColumn {
		out.Impersonation = &Impersonation{s.ImpersonatedBy}
	}
	return out
}

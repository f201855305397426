// Package wire is Better Auth's User and Session objects as JSON, written
// alike by the auth API, the email webhook and the admin commands, so that
// a client or an operator's script reads one shape everywhere.
package wire

import (
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
}

// FromUser is u as Better Auth sends it.
func FromUser(u store.User) User {
	return User{u.ID, u.Name, u.Email, u.EmailVerified, u.Image, Time(u.CreatedAt), Time(u.UpdatedAt)}
}

// FromSession is s as Better Auth sends it, token included.
func FromSession(s store.Session) Session {
	return Session{s.ID, s.Token, s.UserID, Time(s.ExpiresAt), Time(s.CreatedAt), Time(s.UpdatedAt), s.IPAddress, s.UserAgent}
}

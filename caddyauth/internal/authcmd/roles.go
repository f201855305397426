package authcmd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/spf13/cobra"
)

// The admin plugin's user commands: roles and bans, as Better Auth's
// set-role, ban-user and unban-user do them. They need the admin plugin's
// columns, which `admin on` adds when the gate starts.

func usersSetRoleCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "set-role <email|id> <role[,role...]>",
		Short: "Sets a user's roles (Better Auth's admin plugin role column)",
		Long: `Sets a user's roles: a comma list such as admin or user,analyst, stored as
Better Auth's admin plugin stores it. The gate passes it on as X-User-Role
and checks require rules against it, within the revocation bound on every
instance.`,
		Example: `  caddy auth users set-role ada@example.com admin`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			role, err := roleList(args[1])
			if err != nil {
				return err
			}
			return withStore(cmd, false, func(ctx context.Context, env *cliEnv) error {
				ctx, cancel := context.WithTimeout(ctx, cliTimeout)
				defer cancel()
				u, err := env.lookupUser(ctx, args[0])
				if err != nil {
					return err
				}
				if _, err := env.st.SetRole(ctx, u.ID, role, time.Now()); err != nil {
					return env.dbError(err)
				}
				_, err = fmt.Fprintf(env.out, "set role of user %s (%s) to %s\n", u.ID, cell(u.Email), cell(role))
				return err
			})
		},
	}
}

// roleList checks and normalises a comma list of roles given on the
// command line.
func roleList(s string) (string, error) {
	var roles []string
	for r := range strings.SplitSeq(s, ",") {
		r = strings.TrimSpace(r)
		if r == "" {
			return "", fmt.Errorf("invalid role list %q: empty role", s)
		}
		roles = append(roles, r)
	}
	return strings.Join(roles, ","), nil
}

func usersBanCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ban <email|id> [--reason <text>] [--expires <duration|time>]",
		Short: "Bans a user and revokes their sessions",
		Long: `Bans a user as Better Auth's ban-user does: sign-in answers 403 BANNED_USER,
and all of the user's sessions are deleted, so the gate refuses them at once
(other instances: within the revocation bound). --expires ends the ban after
a duration (7d, 12h) or at an RFC 3339 time; without it the ban lasts until
'users unban'. The reason defaults to "No reason", as in Better Auth.`,
		Example: `  caddy auth users ban eve@example.com --reason spam --expires 7d`,
		Args:    cobra.ExactArgs(1),
	}
	cmd.Flags().String("reason", "", "Reason stored with the ban (default \"No reason\")")
	cmd.Flags().String("expires", "", "When the ban ends: a duration from now (7d, 12h) or an RFC 3339 time")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		reason, _ := cmd.Flags().GetString("reason")
		rawExpires, _ := cmd.Flags().GetString("expires")
		if reason == "" {
			reason = "No reason"
		}
		t := time.Now()
		var expires *time.Time
		if rawExpires != "" {
			at, err := banEnd(rawExpires, t)
			if err != nil {
				return err
			}
			expires = &at
		}
		return withStore(cmd, false, func(ctx context.Context, env *cliEnv) error {
			ctx, cancel := context.WithTimeout(ctx, cliTimeout)
			defer cancel()
			u, err := env.lookupUser(ctx, args[0])
			if err != nil {
				return err
			}
			_, revoked, err := env.st.BanUser(ctx, u.ID, reason, expires, t)
			if err != nil {
				return env.dbError(err)
			}
			until := "until unbanned"
			if expires != nil {
				until = "until " + tableTime(*expires)
			}
			_, err = fmt.Fprintf(env.out, "banned user %s (%s) %s; revoked %s\n", u.ID, cell(u.Email), until, plural(len(revoked), "session"))
			return err
		})
	}
	return cmd
}

// banEnd reads --expires: a duration from now, or an RFC 3339 time in the
// future.
func banEnd(s string, now time.Time) (time.Time, error) {
	if d, err := caddy.ParseDuration(s); err == nil {
		if d <= 0 {
			return time.Time{}, fmt.Errorf("--expires %q: must be a positive duration", s)
		}
		return now.Add(d), nil
	}
	at, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--expires %q: want a duration (7d, 12h) or an RFC 3339 time (2030-01-02T15:04:05Z)", s)
	}
	if !at.After(now) {
		return time.Time{}, errors.New("--expires: the time has passed")
	}
	return at, nil
}

func usersUnbanCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "unban <email|id>",
		Short: "Lifts a user's ban",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd, false, func(ctx context.Context, env *cliEnv) error {
				ctx, cancel := context.WithTimeout(ctx, cliTimeout)
				defer cancel()
				u, err := env.lookupUser(ctx, args[0])
				if err != nil {
					return err
				}
				if _, err := env.st.UnbanUser(ctx, u.ID, time.Now()); err != nil {
					return env.dbError(err)
				}
				_, err = fmt.Fprintf(env.out, "unbanned user %s (%s)\n", u.ID, cell(u.Email))
				return err
			})
		},
	}
}

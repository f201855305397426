package authcmd

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/authgate/authgate/caddyauth/internal/wire"
	"github.com/authgate/authgate/store"
)

// adminSessionJSON is Better Auth's Session object without its token: the
// token is a bearer credential, and an operator listing sessions needs the
// id (which `sessions revoke --session` takes), not the means to use one.
type adminSessionJSON struct {
	ID        string    `json:"id"`
	UserID    string    `json:"userId"`
	ExpiresAt wire.Time `json:"expiresAt"`
	CreatedAt wire.Time `json:"createdAt"`
	UpdatedAt wire.Time `json:"updatedAt"`
	IPAddress *string   `json:"ipAddress"`
	UserAgent *string   `json:"userAgent"`
}

func sessionsListCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list --user <email|id> [--json]",
		Short: "Lists a user's unexpired sessions (never their tokens)",
		Long: `Lists a user's unexpired sessions, oldest first: a table of id, created,
expires, IP address and user agent, or with --json an array of Better Auth
session objects without the token field. Tokens are never printed.`,
		Args: cobra.NoArgs,
	}
	cmd.Flags().String("user", "", "Email or id of the user (required)")
	cmd.Flags().Bool("json", false, "Print a JSON array of session objects (without tokens)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		ref, _ := cmd.Flags().GetString("user")
		asJSON, _ := cmd.Flags().GetBool("json")
		if ref == "" {
			return errors.New("--user is required")
		}
		return withStore(cmd, false, func(ctx context.Context, env *cliEnv) error {
			ctx, cancel := context.WithTimeout(ctx, cliTimeout)
			defer cancel()
			u, err := env.lookupUser(ctx, ref)
			if err != nil {
				return err
			}
			list, err := env.st.ListSessions(ctx, u.ID, time.Now())
			if err != nil {
				return env.dbError(err)
			}
			if asJSON {
				out := make([]adminSessionJSON, len(list))
				for i, s := range list {
					out[i] = adminSessionJSON{s.ID, s.UserID, wire.Time(s.ExpiresAt), wire.Time(s.CreatedAt), wire.Time(s.UpdatedAt), s.IPAddress, s.UserAgent}
				}
				return writeJSONTo(env.out, out)
			}
			rows := make([][]string, len(list))
			for i, s := range list {
				rows[i] = []string{s.ID, tableTime(s.CreatedAt), tableTime(s.ExpiresAt), deref(s.IPAddress), deref(s.UserAgent)}
			}
			return table(env.out, []string{"ID", "CREATED", "EXPIRES", "IP", "USER AGENT"}, rows)
		})
	}
	return cmd
}

func sessionsRevokeCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "revoke --user <email|id> | --session <id>",
		Short: "Revokes all sessions of a user, or one session by id",
		Long: `Revokes (deletes) all sessions of a user, or one session by its id (as
'sessions list' shows it). A revoked session stops working at the gate as
when its user signs out: at once on PostgreSQL instances that receive
revocation notices, else within session_cache.`,
		Args: cobra.NoArgs,
	}
	cmd.Flags().String("user", "", "Email or id of the user whose sessions to revoke")
	cmd.Flags().String("session", "", "Id of the session to revoke")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		ref, _ := cmd.Flags().GetString("user")
		id, _ := cmd.Flags().GetString("session")
		if (ref == "") == (id == "") {
			return errors.New("give exactly one of --user and --session")
		}
		return withStore(cmd, false, func(ctx context.Context, env *cliEnv) error {
			ctx, cancel := context.WithTimeout(ctx, cliTimeout)
			defer cancel()
			if id != "" {
				owner, err := env.st.DeleteSessionByID(ctx, id)
				if errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("no session %q", id)
				}
				if err != nil {
					return env.dbError(err)
				}
				_, err = fmt.Fprintf(env.out, "revoked session %s of user %s\n", id, owner)
				return err
			}
			u, err := env.lookupUser(ctx, ref)
			if err != nil {
				return err
			}
			ids, err := env.st.DeleteSessions(ctx, u.ID, "")
			if err != nil {
				return env.dbError(err)
			}
			_, err = fmt.Fprintf(env.out, "revoked %s of user %s (%s)\n", plural(len(ids), "session"), u.ID, cell(u.Email))
			return err
		})
	}
	return cmd
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

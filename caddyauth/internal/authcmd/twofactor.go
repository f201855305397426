package authcmd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

func usersTwoFactorResetCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "2fa-reset <email|id> [--yes] [--keep-sessions]",
		Short: "Turns two-factor sign-in off for a user who lost their device",
		Long: `Turns two-factor sign-in off for a user who lost their authenticator
app and backup codes: the user's two-factor secret and backup codes are
deleted, twoFactorEnabled is set to false, and every device the user had
trusted is forgotten, so that enrolling again asks for a code everywhere.

The user's sessions are revoked too, as they would be by an administrator
who suspects the lost device is in other hands: every browser signs in
again, with the password alone until the user enrolls again. Pass
--keep-sessions to leave them signed in.

Prints what was done (user id, sessions revoked, trusted devices
forgotten); nothing secret is printed. Asks for confirmation in a terminal.
Without a terminal (a script), --yes is required.`,
		Example: `  caddy auth users 2fa-reset ada@example.com --yes`,
		Args:    cobra.ExactArgs(1),
	}
	cmd.Flags().BoolP("yes", "y", false, "Do not ask for confirmation")
	cmd.Flags().Bool("keep-sessions", false, "Do not revoke the user's sessions")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		ref := args[0]
		yes, _ := cmd.Flags().GetBool("yes")
		keep, _ := cmd.Flags().GetBool("keep-sessions")
		if !yes && !term.IsTerminal(int(os.Stdin.Fd())) {
			return errors.New("refusing to reset two-factor without --yes when stdin is not a terminal")
		}
		return withStore(cmd, false, func(ctx context.Context, env *cliEnv) error {
			if p := env.st.Schema().Plugins; !p.TwoFactorTable || !p.TwoFactorEnabled {
				return fmt.Errorf("database %s has no two-factor schema: no user can have two-factor sign-in", redactDSN(env.target.dsn))
			}
			lctx, cancel := context.WithTimeout(ctx, cliTimeout)
			u, err := env.lookupUser(lctx, ref)
			cancel()
			if err != nil {
				return err
			}
			if !yes {
				q := fmt.Sprintf("Turn two-factor sign-in off for %s (%s) and revoke their sessions?", cell(u.Email), u.ID)
				if keep {
					q = fmt.Sprintf("Turn two-factor sign-in off for %s (%s)?", cell(u.Email), u.ID)
				}
				ok, err := confirm(env.cmd, q)
				if err != nil || !ok {
					return errors.Join(err, errors.New("not reset"))
				}
			}
			ctx, cancel = context.WithTimeout(ctx, cliTimeout)
			defer cancel()
			was := "was on"
			if !u.TwoFactorEnabled {
				was = "was already off"
			}
			trusted, err := env.st.ResetTwoFactor(ctx, u.ID, time.Now())
			if err != nil {
				return env.dbError(err)
			}
			revoked := "sessions kept"
			if !keep {
				ids, err := env.st.DeleteSessions(ctx, u.ID, "")
				if err != nil {
					return env.dbError(fmt.Errorf("two-factor of user %s was reset, but revoking the sessions failed: %w", u.ID, err))
				}
				revoked = "revoked " + plural(len(ids), "session")
			}
			_, err = fmt.Fprintf(env.out, "reset two-factor of user %s (%s): it %s; forgot %s; %s\n",
				u.ID, cell(u.Email), was, plural(trusted, "trusted device"), revoked)
			return err
		})
	}
	return cmd
}

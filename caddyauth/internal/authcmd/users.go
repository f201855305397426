package authcmd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/authgate/authgate/caddyauth/internal/emailaddr"
	"github.com/authgate/authgate/caddyauth/internal/password"
	"github.com/authgate/authgate/caddyauth/internal/wire"
	"github.com/authgate/authgate/store"
)

func usersCreateCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "create --email <email> --name <name> [--verified]",
		Short: "Creates a user with a password read from stdin or a prompt",
		Long: `Creates a user with an email/password account, as sign-up does.

The password is read from stdin when stdin is not a terminal (one line;
the line ending is dropped), or else asked for twice without echo. It is
never taken from a flag, which would leave it in the shell history and in
the process list. The email is trimmed and lower-cased, and both are
validated as sign-up validates them, with the password lengths of the
config's auth_gate handler. Prints the new user's id.`,
		Example: `  printf '%s\n' "$PASSWORD" | caddy auth users create --email ada@example.com --name Ada`,
		Args:    cobra.NoArgs,
	}
	cmd.Flags().String("email", "", "Email address (required)")
	cmd.Flags().String("name", "", "Display name (required)")
	cmd.Flags().Bool("verified", false, "Mark the email address as verified")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		rawEmail, _ := cmd.Flags().GetString("email")
		name, _ := cmd.Flags().GetString("name")
		verified, _ := cmd.Flags().GetBool("verified")
		email := emailaddr.Normalize(rawEmail)
		switch {
		case email == "":
			return errors.New("--email is required")
		case !emailaddr.Valid(email):
			return fmt.Errorf("invalid email address %q", rawEmail)
		case strings.TrimSpace(name) == "":
			return errors.New("--name is required")
		}
		return withStore(cmd, false, func(ctx context.Context, env *cliEnv) error {
			pw, err := readNewPassword(env.cmd)
			if err != nil {
				return err
			}
			switch n := password.Length(pw); {
			case n < env.target.minPassword:
				return fmt.Errorf("password too short: at least %d characters", env.target.minPassword)
			case n > env.target.maxPassword:
				return fmt.Errorf("password too long: at most %d characters", env.target.maxPassword)
			}
			hash, err := password.Hash(pw)
			if err != nil {
				return err
			}

			ctx, cancel := context.WithTimeout(ctx, cliTimeout)
			defer cancel()
			t := time.Now()
			u, err := env.st.CreateUserWithPassword(ctx, store.NewUser{Name: name, Email: email, PasswordHash: hash}, t)
			if errors.Is(err, store.ErrEmailTaken) {
				return fmt.Errorf("a user with email %s already exists", email)
			}
			if err != nil {
				return env.dbError(err)
			}
			if verified {
				if _, err := env.st.MarkEmailVerified(ctx, u.ID, t); err != nil {
					return env.dbError(fmt.Errorf("user %s was created, but: %w", u.ID, err))
				}
			}
			_, err = fmt.Fprintln(env.out, u.ID)
			return err
		})
	}
	return cmd
}

// maxPasswordInput bounds what is read from stdin for a password: far above
// any configured maximum, far below anything that costs memory.
const maxPasswordInput = 4096

// readNewPassword reads the password of a new user: one line of stdin when
// it is not a terminal, else a prompt without echo, asked twice.
func readNewPassword(cmd *cobra.Command) (string, error) {
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		line, err := bufio.NewReader(io.LimitReader(cmd.InOrStdin(), maxPasswordInput)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("reading the password from stdin: %w", err)
		}
		if strings.HasSuffix(line, "\n") {
			line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		} else if len(line) == maxPasswordInput {
			return "", fmt.Errorf("password on stdin is longer than %d bytes", maxPasswordInput)
		}
		if line == "" {
			return "", errors.New("no password on stdin: pipe it in as one line, or run in a terminal to be prompted")
		}
		return line, nil
	}

	restore := restoreTerminalOnInterrupt(fd)
	defer restore()
	stderr := cmd.ErrOrStderr()
	fmt.Fprint(stderr, "Password: ")
	pw, err := term.ReadPassword(fd)
	fmt.Fprintln(stderr)
	if err != nil {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	fmt.Fprint(stderr, "Repeat password: ")
	again, err := term.ReadPassword(fd)
	fmt.Fprintln(stderr)
	if err != nil {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	if string(pw) != string(again) {
		return "", errors.New("the passwords do not match")
	}
	if len(pw) == 0 {
		return "", errors.New("the password is empty")
	}
	return string(pw), nil
}

// restoreTerminalOnInterrupt puts the terminal back (echo on) when Ctrl-C
// arrives at a password prompt, as `caddy hash-password` does; the returned
// function ends the watch.
func restoreTerminalOnInterrupt(fd int) func() {
	state, err := term.GetState(fd)
	if err != nil {
		return func() {}
	}
	c := make(chan os.Signal, 1)
	done := make(chan struct{})
	signal.Notify(c, os.Interrupt)
	go func() {
		select {
		case <-c:
			_ = term.Restore(fd, state)
			fmt.Fprintln(os.Stderr)
			os.Exit(caddy.ExitCodeFailedStartup)
		case <-done:
		}
	}()
	return func() {
		signal.Stop(c)
		close(done)
	}
}

func usersListCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list [--json] [--limit <n>] [--offset <n>]",
		Short: "Lists users, oldest first",
		Long: `Lists users, oldest first: a table of id, email, name, verified and
created, or with --json an array of Better Auth user objects
({id, name, email, emailVerified, image, createdAt, updatedAt}).`,
		Args: cobra.NoArgs,
	}
	cmd.Flags().Bool("json", false, "Print a JSON array of Better Auth user objects")
	cmd.Flags().Int("limit", 0, "List at most this many users (default: all)")
	cmd.Flags().Int("offset", 0, "Skip this many users first")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		asJSON, _ := cmd.Flags().GetBool("json")
		limit, _ := cmd.Flags().GetInt("limit")
		offset, _ := cmd.Flags().GetInt("offset")
		if limit < 0 || offset < 0 {
			return errors.New("--limit and --offset must not be negative")
		}
		return withStore(cmd, false, func(ctx context.Context, env *cliEnv) error {
			ctx, cancel := context.WithTimeout(ctx, cliTimeout)
			defer cancel()
			users, err := listUsers(ctx, env.st, limit, offset)
			if err != nil {
				return env.dbError(err)
			}
			if asJSON {
				out := make([]wire.User, len(users))
				for i, u := range users {
					out[i] = wire.FromUser(u)
				}
				return writeJSONTo(env.out, out)
			}
			rows := make([][]string, len(users))
			for i, u := range users {
				rows[i] = []string{u.ID, u.Email, u.Name, fmt.Sprint(u.EmailVerified), tableTime(u.CreatedAt)}
			}
			return table(env.out, []string{"ID", "EMAIL", "NAME", "VERIFIED", "CREATED"}, rows)
		})
	}
	return cmd
}

// listPage is how many users one query fetches.
const listPage = 500

// listUsers pages through the users; limit 0 means all of them.
func listUsers(ctx context.Context, st *store.Store, limit, offset int) ([]store.User, error) {
	var all []store.User
	for {
		n := listPage
		if limit > 0 && limit-len(all) < n {
			n = limit - len(all)
		}
		if n == 0 {
			return all, nil
		}
		page, err := st.ListUsers(ctx, n, offset+len(all))
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		if len(page) < n {
			return all, nil
		}
	}
}

func usersDeleteCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delete --email <email> | --id <id> [--yes]",
		Short: "Deletes a user with its accounts and sessions",
		Long: `Deletes a user with its accounts and sessions; the sessions stop working
at the gate as any revocation does.

Asks for confirmation in a terminal. Without a terminal (a script), --yes
is required, so that nothing is deleted by accident.`,
		Args: cobra.NoArgs,
	}
	cmd.Flags().String("email", "", "Email of the user to delete")
	cmd.Flags().String("id", "", "Id of the user to delete")
	cmd.Flags().BoolP("yes", "y", false, "Do not ask for confirmation")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		email, _ := cmd.Flags().GetString("email")
		id, _ := cmd.Flags().GetString("id")
		yes, _ := cmd.Flags().GetBool("yes")
		if (email == "") == (id == "") {
			return errors.New("give exactly one of --email and --id")
		}
		interactive := term.IsTerminal(int(os.Stdin.Fd()))
		if !yes && !interactive {
			return errors.New("refusing to delete without --yes when stdin is not a terminal")
		}
		return withStore(cmd, false, func(ctx context.Context, env *cliEnv) error {
			lctx, cancel := context.WithTimeout(ctx, cliTimeout)
			u, err := env.lookupUser(lctx, email+id)
			cancel()
			if err != nil {
				return err
			}
			if !yes {
				ok, err := confirm(env.cmd, fmt.Sprintf("Delete user %s (%s) with its accounts and sessions?", cell(u.Email), u.ID))
				if err != nil || !ok {
					return errors.Join(err, errors.New("not deleted"))
				}
			}
			ctx, cancel = context.WithTimeout(ctx, cliTimeout)
			defer cancel()
			revoked, err := env.st.DeleteUser(ctx, u.ID)
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("no user %q", email+id)
			}
			if err != nil {
				return env.dbError(err)
			}
			_, err = fmt.Fprintf(env.out, "deleted user %s (%s) and %s\n", u.ID, cell(u.Email), plural(len(revoked), "session"))
			return err
		})
	}
	return cmd
}

// confirm asks a yes/no question on the terminal; only y or yes is yes.
func confirm(cmd *cobra.Command, question string) (bool, error) {
	fmt.Fprintf(cmd.ErrOrStderr(), "%s [y/N] ", question)
	line, err := bufio.NewReader(io.LimitReader(cmd.InOrStdin(), 256)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return false, err
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true, nil
	}
	return false, nil
}

// plural is "1 session", "2 sessions".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

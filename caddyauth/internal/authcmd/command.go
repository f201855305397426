// Package authcmd is the `caddy auth` command: migrations, users, sessions
// and the webhook key of auth_gate's database, for an operator at a shell.
// It registers itself with Caddy's command line when linked in, and reads
// the config as the module would, without depending on the module.
package authcmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
	"unicode"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/authgate/authgate/caddyauth/internal/emailaddr"
	"github.com/authgate/authgate/store"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "auth",
		Usage: "<migrate|users|sessions|webhook-key|keys> [--database <dsn> | --config <Caddyfile> [--site <address>]] [--envfile <path>]",
		Short: "Manages auth_gate's database: migrations, users and sessions",
		Long: `
Operates on the database of auth_gate, the Better Auth compatible gate.

Which database: --database <dsn> (postgres://…, postgresql://… or
sqlite://<path>; placeholders such as {env.DATABASE_URL} are expanded), or
the auth_gate handler of --config <file> (a Caddyfile, or JSON when the name
ends in .json), whose database and schema settings apply as they would under
'caddy run'. Without either, ./Caddyfile is read if it exists. When the
config has auth_gate handlers on different databases, --site <address>
chooses one. --envfile loads KEY=VALUE files first, as 'caddy run --envfile'
does. Relative SQLite paths are relative to the current directory, as they
are for 'caddy run'.

Output goes to stdout; errors go to stderr with a non-zero exit status.
Passwords are read from stdin or a prompt, never from a flag; session
tokens are never printed.

  caddy auth migrate
  caddy auth users create --email ada@example.com --name Ada
  caddy auth users list [--json]
  caddy auth users delete --email ada@example.com [--yes]
  caddy auth users set-role ada@example.com admin
  caddy auth users ban eve@example.com [--reason spam] [--expires 7d]
  caddy auth users unban eve@example.com
  caddy auth sessions list --user ada@example.com [--json]
  caddy auth sessions revoke --user ada@example.com | --session <id>
  caddy auth webhook-key
  caddy auth keys rotate
`,
		CobraFunc: buildAuthCommand,
	})
}

// cliTimeout bounds each round of database work of a command: long enough
// for a cold serverless PostgreSQL to wake, short enough that a wrong host
// fails visibly. Time spent at a prompt does not count.
const cliTimeout = 60 * time.Second

func buildAuthCommand(cmd *cobra.Command) {
	pf := cmd.PersistentFlags()
	pf.String("database", "", "Database DSN (postgres://…, sqlite://<path>); placeholders like {env.VAR} are expanded")
	pf.StringP("config", "c", "", "Config file whose auth_gate handler names the database (default ./Caddyfile)")
	pf.String("site", "", "Site address of --config whose auth_gate handler to use, when several use different databases")
	pf.String("schema", "", "Column naming: auto, camel or snake (default: the config's, else auto)")
	pf.StringSlice("envfile", nil, "Environment file(s) to load first")
	cmd.RunE = groupRunE

	users := &cobra.Command{Use: "users", Short: "Creates, lists and deletes users; sets roles and bans; resets two-factor", RunE: groupRunE}
	users.AddCommand(usersCreateCommand(), usersListCommand(), usersDeleteCommand(),
		usersSetRoleCommand(), usersBanCommand(), usersUnbanCommand(), usersTwoFactorResetCommand())
	sessions := &cobra.Command{Use: "sessions", Short: "Lists and revokes sessions", RunE: groupRunE}
	sessions.AddCommand(sessionsListCommand(), sessionsRevokeCommand())
	cmd.AddCommand(migrateCommand(), users, sessions, webhookKeyCommand())
	cmd.AddCommand(keysCommand())
}

// groupRunE makes a command that only groups others print its help, and
// refuse an unknown subcommand instead of ignoring it.
func groupRunE(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("unknown command %q for %q", args[0], cmd.CommandPath())
	}
	return cmd.Help()
}

func migrateCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Applies auth_gate's migrations (creates Better Auth's tables when missing)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withStore(cmd, true, func(ctx context.Context, env *cliEnv) error {
				ctx, cancel := context.WithTimeout(ctx, cliTimeout)
				defer cancel()
				n, err := env.st.MigrateApplied(ctx)
				if err != nil {
					return env.dbError(err)
				}
				what := "database is up to date"
				switch n {
				case 0:
				case 1:
					what = "applied 1 migration"
				default:
					what = fmt.Sprintf("applied %d migrations", n)
				}
				_, err = fmt.Fprintf(env.out, "%s: %s (%s, %s columns)\n",
					redactDSN(env.target.dsn), what, env.st.Driver(), env.st.Layout())
				return err
			})
		},
	}
}

// cliEnv is what a command's body works with.
type cliEnv struct {
	cmd    *cobra.Command
	out    io.Writer
	target cliTarget
	st     *store.Store
}

// withStore resolves the database, opens it and checks that it answers (and,
// unless migrating, that it has the tables) before running fn, so that a
// wrong DSN fails before any prompt.
func withStore(cmd *cobra.Command, migrating bool, fn func(context.Context, *cliEnv) error) error {
	target, err := resolveTarget(cmd)
	if err != nil {
		return err
	}
	env := &cliEnv{cmd: cmd, out: cmd.OutOrStdout(), target: target}
	dsn, err := store.ParseDSN(target.dsn)
	if err != nil {
		return err
	}
	if path := dsn.Path; dsn.Driver == "sqlite" && !migrating {
		// Opening a missing SQLite file would create an empty one.
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("no database at %s: run 'caddy auth migrate' first", path)
		} else if err != nil {
			return fmt.Errorf("database %s: %w", path, err)
		}
	}
	env.st, err = store.Open(target.dsn, store.Options{Logger: cliLogger(cmd.ErrOrStderr()), Schema: target.schema})
	if err != nil {
		return err
	}
	defer env.st.Close()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if !migrating {
		dctx, cancel := context.WithTimeout(ctx, cliTimeout)
		err := env.st.Detect(dctx)
		cancel()
		if err != nil {
			return env.dbError(err)
		}
	}
	return fn(ctx, env)
}

// dbError names the database (without its password) in a store error.
func (env *cliEnv) dbError(err error) error {
	return fmt.Errorf("database %s: %w", redactDSN(env.target.dsn), err)
}

// cliLogger shows the store's warnings (a removed connection parameter, say)
// as plain lines on stderr, where they do not mix with the output.
func cliLogger(w io.Writer) *zap.Logger {
	enc := zap.NewDevelopmentEncoderConfig()
	enc.TimeKey, enc.CallerKey, enc.StacktraceKey, enc.NameKey = "", "", "", ""
	return zap.New(zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.AddSync(w), zapcore.WarnLevel))
}

// writeJSONTo writes v indented, without HTML escaping, as JSON.stringify
// would.
func writeJSONTo(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table writes rows under header, columns aligned.
func table(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		cells := make([]string, len(r))
		for i, c := range r {
			cells[i] = cell(c)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// cell makes a value fit for a terminal table. Names and user agents come
// from whoever signed up: control characters (escape sequences that could
// rewrite the operator's terminal, tabs and newlines that would break the
// table) are replaced.
func cell(s string) string {
	if s == "" {
		return "-"
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return '?'
		}
		return r
	}, s)
}

// tableTime is how times show in tables: UTC, to the second.
func tableTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") }

// lookupUser finds a user by email (anything with an @) or id.
func (env *cliEnv) lookupUser(ctx context.Context, ref string) (store.User, error) {
	var u store.User
	var err error
	if strings.Contains(ref, "@") {
		u, err = env.st.UserByEmail(ctx, emailaddr.Normalize(ref))
	} else {
		u, err = env.st.UserByID(ctx, ref)
	}
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, fmt.Errorf("no user %q", ref)
	}
	if err != nil {
		return store.User{}, env.dbError(err)
	}
	return u, nil
}

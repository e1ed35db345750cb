package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// streams are the standard streams of one run of the program. Commands
// read and write only through them, never through os.Stdin and friends, so
// that tests can run them in-process.
type streams struct {
	in  io.Reader
	out io.Writer
	err io.Writer
}

// Command groups shown in "writ --help". Later commands (serve, migrate,
// client, ...) join a group here or add their own.
const (
	groupServer = "server"
	groupTokens = "tokens"
)

const rootLong = `writ is a security token service: an OAuth 2.0 authorization server and
OpenID Connect provider ("writ serve") that issues JWT access tokens (RFC 9068),
ID tokens and rotating refresh tokens, with an admin API ("writ client",
"writ user", "writ key list|rotate"), and the strict token tools it is built on
("writ key generate", "writ token mint|verify|decode"). Verification follows
the JWT best current practice (RFC 8725): every key is bound to one algorithm,
"none" never verifies, keys named inside a token (jwk, jku, x5u, x5c) are never
used, and exp, iss and aud are required.

Exit status:
  0    success; for "writ token verify": the token is valid
  1    the token was rejected ("writ token verify") or could not be parsed
       ("writ token decode"), or a policy test failed ("writ gateway
       check"); standard error holds one line with the reason
  2    usage or configuration error: a missing or invalid flag, an
       unreadable or invalid key, claims or key set file, a JWKS URL that
       could not be fetched, a file that could not be written
  130  interrupted (SIGINT or SIGTERM); "writ serve" instead shuts down
       gracefully and exits 0 (2 if the shutdown did not complete)`

const rootExample = `  # Run the server in development mode (no configuration needed)
  writ serve

  # Register a machine client on it (the admin token is in writ-data/admin-token)
  export WRIT_ADMIN_TOKEN=$(cat writ-data/admin-token)
  writ client create --name billing --grant-type client_credentials --scope orders:read

  # Create an ES256 signing key: the private JWK goes to key.json (mode 0600),
  # the public JWK Set to jwks.json
  writ key generate --out key.json > jwks.json

  # Mint an access token valid for 10 minutes
  writ token mint --key key.json --issuer https://id.example.com \
    --audience https://api.example.com --subject user-123 > token.jwt

  # Verify it (exit status 0 when valid)
  writ token verify --jwks jwks.json --issuer https://id.example.com \
    --audience https://api.example.com --type at+jwt < token.jwt`

// newRootCmd builds the whole writ command tree. Nothing is shared between
// two trees, so each test can build its own with its own streams.
func newRootCmd(s *streams) *cobra.Command {
	root := &cobra.Command{
		Use:          "writ",
		Short:        "writ is a security token service: keys, token minting and strict verification",
		Long:         rootLong,
		Example:      rootExample,
		Version:      buildVersion(),
		Args:         noUnknownSubcommand,
		RunE:         showHelp,
		SilenceUsage: true,
		// The root only groups commands: "writ [command]" says it all.
		DisableFlagsInUseLine: true,
		SilenceErrors:         true,
	}
	root.SetIn(s.in)
	root.SetOut(s.out)
	root.SetErr(s.err)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &usageError{err: err}
	})
	root.CompletionOptions.HiddenDefaultCmd = true
	root.AddGroup(&cobra.Group{ID: groupServer, Title: "Server and administration:"})
	root.AddGroup(&cobra.Group{ID: groupTokens, Title: "Keys and tokens:"})
	root.AddCommand(
		newServeCmd(s),
		newGatewayCmd(s),
		newMigrateCmd(s),
		newBackupCmd(s),
		newRestoreCmd(s),
		newExportCmd(s),
		newImportCmd(s),
		newConfigCmd(s),
		newClientCmd(s),
		newIssuerCmd(s),
		newSAMLSPCmd(s),
		newUserCmd(s),
		newAgentCmd(s),
		newDelegationCmd(s),
		newAuditCmd(s),
		newBenchCmd(s),
		newKeyCmd(s),
		newTokenCmd(s),
		newDPoPCmd(s),
		newLoginCmd(s),
		newVersionCmd(s),
	)
	return root
}

// showHelp is the RunE of commands that only group subcommands.
func showHelp(cmd *cobra.Command, _ []string) error { return cmd.Help() }

// noUnknownSubcommand is the Args validator of commands that only group
// subcommands: any argument is a mistyped subcommand.
func noUnknownSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2 // cobra's default, applied only on its own path
	}
	msg := fmt.Sprintf("unknown command %q for %q", truncate(args[0], 32), cmd.CommandPath())
	if sug := cmd.SuggestionsFor(args[0]); len(sug) > 0 {
		msg += fmt.Sprintf("; did you mean %q?", sug[0])
	}
	return usagef("%s", msg)
}

// maxArgs is cobra.MaximumNArgs with a usage error and a clearer message.
func maxArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) > n {
			return usagef("too many arguments: %s takes at most %d (%s), got %d", cmd.CommandPath(), n, what, len(args))
		}
		return nil
	}
}

// noArgs is cobra.NoArgs with a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("%s takes no arguments, got %d", cmd.CommandPath(), len(args))
	}
	return nil
}

// truncate shortens s to at most n bytes for an error message, so that a
// long argument (a token pasted in the wrong place) is not echoed whole.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "..."
}

package main

import (
	"github.com/spf13/cobra"
)

// newTokenCmd builds "writ token", the group of token commands.
func newTokenCmd(s *streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Mint, verify, decode and exchange tokens",
		Long: `Mint, verify and decode JSON Web Tokens (compact JWS, RFC 7519).

"writ token verify" is the one to trust: it checks the signature against the
keys you give it and validates exp, nbf, iat, iss, aud and optionally typ.
"writ token decode" only shows what a token says, without any check.
"writ token decrypt" opens an encrypted token (JWE) with a private key.
"writ token exchange" asks a token endpoint for a new token in exchange for
a subject token and an optional actor token (RFC 8693).`,
		Example: `  # Mint a token with a key from "writ key generate"
  writ token mint --key key.json --issuer https://id.example.com \
    --audience https://api.example.com --subject user-123 > token.jwt

  # Verify it against the public JWK Set
  writ token verify --jwks jwks.json --issuer https://id.example.com \
    --audience https://api.example.com < token.jwt

  # Look inside a token without verifying it
  writ token decode < token.jwt`,
		GroupID: groupTokens,
		Args:    noUnknownSubcommand,
		RunE:    showHelp,
		// Only groups subcommands: its usage line is "writ X [command]".
		DisableFlagsInUseLine: true,
	}
	cmd.AddCommand(
		newTokenMintCmd(s),
		newTokenVerifyCmd(s),
		newTokenDecodeCmd(s),
		newTokenDecryptCmd(s),
		newTokenExchangeCmd(s),
	)
	return cmd
}

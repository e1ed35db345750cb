package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/writ-dev/writ/internal/strictjson"
	"github.com/writ-dev/writ/jose"
)

// notVerifiedWarning is the first line "writ token decode" prints on
// standard error.
const notVerifiedWarning = "warning: NOT VERIFIED — do not trust these claims"

// newTokenDecodeCmd builds "writ token decode".
func newTokenDecodeCmd(s *streams) *cobra.Command {
	var maxSize int
	cmd := &cobra.Command{
		Use:   "decode [TOKEN]",
		Short: "Show a token's header and claims WITHOUT verifying it",
		Long: `Show the header and claims of a compact JWT without checking its signature
or any claim. Anyone can write anything in a token: never base a decision
on this output; use "writ token verify" for that.

The token is the TOKEN argument or, without one (or with -), standard input.
It is still parsed strictly: three canonical base64url segments, a header
and claims that are JSON objects without duplicate members, a supported
"alg" (never "none"), no "crit". A token that fails this exits with status 1
and one line on standard error.

Standard error starts with the line
  ` + notVerifiedWarning + `
and standard output holds {"verified": false, "header": ..., "claims": ...}.`,
		Example: `  # Decode a token from standard input
  writ token decode < token.jwt

  # Decode a token given as an argument and print only its claims
  writ token decode "$TOKEN" | jq .claims`,
		Args: maxArgs(1, "TOKEN"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTokenDecode(cmd.Context(), s, args, maxSize)
		},
	}
	cmd.Flags().IntVar(&maxSize, "max-size", jose.DefaultMaxSize, "accept tokens of at most `N` bytes")
	return cmd
}

// runTokenDecode implements "writ token decode".
func runTokenDecode(ctx context.Context, s *streams, args []string, maxSize int) error {
	if maxSize < 1 || maxSize > maxTokenSizeLimit {
		return usagef("--max-size %d: must be between 1 and %d bytes", maxSize, maxTokenSizeLimit)
	}
	token, err := readToken(ctx, s, args, maxSize)
	switch {
	case errors.Is(err, jose.ErrTooLarge):
		return undecodable(err)
	case err != nil:
		return err
	case token == "":
		return undecodable(fmt.Errorf("%w: the token is empty", jose.ErrMalformed))
	}
	jws, err := jose.ParseCompact(token, maxSize)
	if err != nil {
		return undecodable(err)
	}
	if _, err := strictjson.ParseObject(jws.Payload(), jose.DefaultMaxDepth, nil); err != nil {
		return undecodable(fmt.Errorf("%w: claims: %v", jose.ErrMalformed, err))
	}
	fmt.Fprintln(s.err, notVerifiedWarning)
	out := struct {
		Verified bool            `json:"verified"`
		Header   json.RawMessage `json:"header"`
		Claims   json.RawMessage `json:"claims"`
	}{false, json.RawMessage(jws.Header.Raw), json.RawMessage(jws.Payload())}
	if err := writeJSON(s.out, out); err != nil {
		return fmt.Errorf("cannot write the decoded token: %w", err)
	}
	return nil
}

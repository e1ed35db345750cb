package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/writ-dev/writ/internal/admin"
	"github.com/writ-dev/writ/internal/keys"
)

// keyServerHelp is shared by the help of the server-side key commands.
const keyServerHelp = `These commands act on the signing keys of a running "writ serve" through its
admin API (not on key files): give its URL with --endpoint or
WRIT_ADMIN_ENDPOINT (default http://127.0.0.1:8081) and the admin
credential in WRIT_ADMIN_TOKEN.

A key is "next" (published in the JWKS, not signing yet), "active" (the one
key that signs), or "retired" (no longer signs, published until every token
it signed has expired: NOT AFTER).`

// newKeyListCmd builds "writ key list": the server's signing keys.
func newKeyListCmd(s *streams) *cobra.Command {
	af := &adminFlags{}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the signing keys of a running server and their rotation states",
		Long: `List the signing keys of a running writ server: kid, algorithm, state and
the times of their rotation history. Only public keys are shown
(-o json includes each public JWK).

` + keyServerHelp,
		Example: `  writ key list
  writ key list --endpoint http://127.0.0.1:8081 -o json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runKeyServer(cmd.Context(), s, af, "GET", admin.PathKeys, nil)
		},
	}
	af.register(cmd.Flags())
	return cmd
}

// newKeyRotateCmd builds "writ key rotate": rotate the server's keys.
func newKeyRotateCmd(s *streams) *cobra.Command {
	af := &adminFlags{}
	var force bool
	cmd := &cobra.Command{
		Use:   "rotate [--force]",
		Short: "Rotate the signing keys of a running server",
		Long: `Rotate the signing keys of a running writ server: the next key, published
in the JWKS since the previous rotation, becomes the active key; the active
key is retired (still published until its tokens have expired); and a new
next key is published.

The next key is promoted only once it has been published long enough for
relying parties with a cached JWKS to know it (10 minutes). --force
promotes it at once: tokens it signs may then fail to verify at relying
parties whose cached key set is older; use it only when the active key must
go now (for example when it is compromised).

The new key listing is printed.

` + keyServerHelp,
		Example: `  # Scheduled or manual rotation
  writ key rotate

  # Emergency: replace the active key now
  writ key rotate --force`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var body any
			if force {
				body = admin.RotateRequest{Force: true}
			}
			return runKeyServer(cmd.Context(), s, af, "POST", admin.PathKeys+"/rotate", body)
		},
	}
	af.register(cmd.Flags())
	cmd.Flags().BoolVar(&force, "force", false, "promote the next key even if it was published only recently")
	return cmd
}

// runKeyServer calls a key route and prints the listing it answers with.
func runKeyServer(ctx context.Context, s *streams, af *adminFlags, method, path string, body any) error {
	c, err := af.client(s)
	if err != nil {
		return err
	}
	data, err := c.call(ctx, method, path, body)
	if err != nil {
		return err
	}
	var listing admin.KeysResponse
	if err := json.Unmarshal(data, &listing); err != nil || listing.Keys == nil {
		return fmt.Errorf("the admin API answered with something that is not a key listing")
	}
	if af.output == formatJSON {
		if err := writeJSONOutput(s, data); err != nil {
			return err
		}
	} else if err := writeKeyTable(s, listing.Keys); err != nil {
		return err
	}
	if method == "POST" {
		for _, k := range listing.Keys {
			if k.State == keys.Active.String() {
				fmt.Fprintf(s.err, "writ: rotated the signing keys: %s is now the active key\n", tableCell(k.KeyID))
			}
		}
	}
	return nil
}

// writeKeyTable prints the keys one per row.
func writeKeyTable(s *streams, list []admin.KeyJSON) error {
	if len(list) == 0 {
		_, err := fmt.Fprintln(s.out, "No signing keys.")
		return err
	}
	ts := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format(time.RFC3339)
	}
	tw := newTabWriter(s.out)
	fmt.Fprintln(tw, "KID\tALG\tSTATE\tCREATED\tACTIVATED\tRETIRED\tNOT AFTER")
	for _, k := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", tableCell(k.KeyID), tableCell(string(k.Algorithm)), tableCell(k.State),
			ts(k.CreatedAt), ts(k.ActivatedAt), ts(k.RetiredAt), ts(k.NotAfter))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("cannot write to standard output: %w", err)
	}
	return nil
}

package main

import (
	"context"
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

The key ring keeps one active key per algorithm (key_algorithm for access
tokens, RS256 and the key_algorithms setting for ID tokens). A key is "next"
(published in the JWKS, not signing yet), "active" (the key that signs with
its algorithm), or "retired" (no longer signs, published until every token
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
		Long: `Rotate the signing keys of a running writ server, every algorithm at once:
the next key, published in the JWKS since the previous rotation, becomes the
active key of its algorithm; the active key is retired (still published
until its tokens have expired); and a new next key is published.

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
	data, err := af.call(ctx, s, method, path, body)
	if err != nil {
		return err
	}
	listing, err := printAnswer(s, af, data, "a key listing", func(l *admin.KeysResponse) bool { return l.Keys != nil }, writeKeyTable)
	if err != nil {
		return err
	}
	if method == "POST" {
		for _, k := range listing.Keys {
			if k.State == keys.Active.String() {
				fmt.Fprintf(s.err, "writ: rotated the signing keys: %s is now the active %s key\n", tableCell(k.KeyID), tableCell(string(k.Algorithm)))
			}
		}
	}
	return nil
}

// writeKeyTable prints the keys one per row.
func writeKeyTable(s *streams, listing admin.KeysResponse) error {
	ts := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format(time.RFC3339)
	}
	rows := make([][]string, 0, len(listing.Keys))
	for _, k := range listing.Keys {
		rows = append(rows, []string{k.KeyID, string(k.Algorithm), k.State, ts(k.CreatedAt), ts(k.ActivatedAt), ts(k.RetiredAt), ts(k.NotAfter)})
	}
	return writeTable(s, "No signing keys.", []string{"KID", "ALG", "STATE", "CREATED", "ACTIVATED", "RETIRED", "NOT AFTER"}, rows)
}

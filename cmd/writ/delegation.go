package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/writ-dev/writ/internal/admin"
)

// This file holds the commands of delegation: "writ agent revoke",
// "writ delegation list|revoke" and "writ audit list".

// newAgentCmd builds "writ agent".
func newAgentCmd(s *streams) *cobra.Command {
	af := &adminFlags{}
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Revoke what an agent (or any client) holds on a running writ server",
		Long: `Agents are clients registered with an owner (writ client create
--agent-owner user:USER_ID or client:CLIENT_ID). "writ agent revoke" ends
everything one holds at once: its refresh tokens, its delegations and those
it acts in, and every access token issued to it until now.

` + clientAdminHelp,
		Example: `  writ client create --name trip-planner --grant-type client_credentials \
    --agent-owner user:USER_ID --agent-max-token-ttl 10m
  writ agent revoke CLIENT_ID`,
		GroupID:               groupServer,
		Args:                  noUnknownSubcommand,
		RunE:                  showHelp,
		DisableFlagsInUseLine: true,
	}
	af.register(cmd.PersistentFlags())
	cmd.AddCommand(newAgentRevokeCmd(s, af))
	return cmd
}

// newAgentRevokeCmd builds "writ agent revoke".
func newAgentRevokeCmd(s *streams, af *adminFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke CLIENT_ID",
		Short: "Revoke every token and delegation an agent holds, at once",
		Long: `Revoke everything a client holds: its refresh tokens, its delegations and
the delegations it acts in, and every access token issued to it at or
before now. Introspection sees it at once; resource servers that verify
JWTs locally see it when the tokens expire (an agent's tokens live at most
its --agent-max-token-ttl). The revocation is an audit event (by "admin").

The client stays registered and may get new tokens: delete it (writ client
delete) or take its grant types away to stop it for good.

` + clientAdminHelp,
		Example: `  writ agent revoke travel-agent
  writ audit list --type agent_revoked --client travel-agent`,
		Args: maxArgs(1, "the client_id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := af.resolve(cmd, args, clientArg)
			if err != nil {
				return err
			}
			data, err := af.call(cmd.Context(), s, "POST", clientPath(id)+"/revoke-grants", nil)
			if err != nil {
				return err
			}
			_, err = printAnswer(s, af, data, "a revocation", func(r *admin.RevokeGrantsResponse) bool { return r.ClientID != "" },
				func(s *streams, r admin.RevokeGrantsResponse) error {
					_, err := fmt.Fprintf(s.out, "revoked every token of %s issued at or before %s\n", tableCell(r.ClientID), r.TokensRevokedBefore.UTC().Format(time.RFC3339))
					return err
				})
			return err
		},
	}
}

// newDelegationCmd builds "writ delegation".
func newDelegationCmd(s *streams) *cobra.Command {
	af := &adminFlags{}
	cmd := &cobra.Command{
		Use:   "delegation",
		Short: "List and revoke delegations (token exchange chains) on a running writ server",
		Long: `A delegation is one token exchange writ performed: a token for a subject
(a user, or a service), held by a client, acted on by a chain of actors.
Revoking one revokes it and every delegation exchanged from it.

` + clientAdminHelp,
		Example: `  writ delegation list --subject USER_ID --active
  writ delegation revoke DELEGATION_ID`,
		GroupID:               groupServer,
		Args:                  noUnknownSubcommand,
		RunE:                  showHelp,
		DisableFlagsInUseLine: true,
	}
	af.register(cmd.PersistentFlags())
	cmd.AddCommand(newDelegationListCmd(s, af), newDelegationRevokeCmd(s, af))
	return cmd
}

// newDelegationListCmd builds "writ delegation list".
func newDelegationListCmd(s *streams, af *adminFlags) *cobra.Command {
	var subject, client, actor string
	var active bool
	var limit int
	cmd := &cobra.Command{
		Use:   "list [--subject SUB] [--client CLIENT_ID] [--actor SUB] [--active]",
		Short: "List delegations, newest first",
		Long: `List the delegations writ issued, newest first, filtered by subject, by
the client holding the tokens, or by an actor of the chain; --active keeps
those neither revoked nor expired.

` + clientAdminHelp,
		Example: `  writ delegation list --subject USER_ID --active
  writ delegation list --actor travel-agent -o json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := af.check(); err != nil {
				return err
			}
			if limit < 1 || limit > admin.MaxAuditPage {
				return usagef("--limit %d: want 1 to %d", limit, admin.MaxAuditPage)
			}
			q := url.Values{}
			for k, v := range map[string]string{"subject": subject, "client_id": client, "actor": actor} {
				if v != "" {
					q.Set(k, v)
				}
			}
			if active {
				q.Set("active", "true")
			}
			q.Set("limit", strconv.Itoa(limit))
			data, err := af.call(cmd.Context(), s, "GET", admin.PathDelegations+"?"+q.Encode(), nil)
			if err != nil {
				return err
			}
			_, err = printAnswer(s, af, data, "a list of delegations", func(r *admin.DelegationListResponse) bool { return r.Delegations != nil }, writeDelegationTable)
			return err
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&subject, "subject", "", "only delegations acting for `SUB` (a user id)")
	fs.StringVar(&client, "client", "", "only delegations held by `CLIENT_ID`")
	fs.StringVar(&actor, "actor", "", "only delegations whose act chain names `SUB`")
	fs.BoolVar(&active, "active", false, "only delegations neither revoked nor expired")
	fs.IntVar(&limit, "limit", admin.DefaultPageSize, fmt.Sprintf("at most `N` delegations, 1 to %d", admin.MaxAuditPage))
	return cmd
}

// writeDelegationTable prints delegations one per row.
func writeDelegationTable(s *streams, r admin.DelegationListResponse) error {
	rows := make([][]string, 0, len(r.Delegations))
	for _, d := range r.Delegations {
		state := "active"
		switch {
		case !d.RevokedAt.IsZero():
			state = "revoked"
		case !d.Active:
			state = "expired"
		}
		rows = append(rows, []string{d.ID, d.ClientID, d.Subject, strings.Join(d.Actors, " <- "), d.Scope,
			strings.Join(d.Audience, ","), d.ExpiresAt.UTC().Format(time.RFC3339), state})
	}
	return writeTable(s, "No delegations.", []string{"ID", "CLIENT", "SUBJECT", "ACTORS", "SCOPE", "AUDIENCE", "EXPIRES", "STATE"}, rows)
}

// newDelegationRevokeCmd builds "writ delegation revoke".
func newDelegationRevokeCmd(s *streams, af *adminFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke DELEGATION_ID",
		Short: "Revoke a delegation and every delegation exchanged from it",
		Long: `Revoke one delegation: every token it issued, and every delegation below it
in its chain. The revocation is an audit event (by "admin").

` + clientAdminHelp,
		Example: `  writ delegation revoke DELEGATION_ID`,
		Args:    maxArgs(1, "the delegation id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := af.check(); err != nil {
				return err
			}
			if len(args) != 1 || args[0] == "" {
				return usagef("%s needs the delegation id as its argument (see 'writ delegation list')", cmd.CommandPath())
			}
			data, err := af.call(cmd.Context(), s, "POST", admin.PathDelegations+"/"+url.PathEscape(args[0])+"/revoke", nil)
			if err != nil {
				return err
			}
			_, err = printAnswer(s, af, data, "a revocation", func(r *admin.RevokeDelegationResponse) bool { return r.DelegationID != "" },
				func(s *streams, r admin.RevokeDelegationResponse) error {
					_, err := fmt.Fprintf(s.out, "revoked delegation %s (%d in its chain)\n", tableCell(r.DelegationID), r.Revoked)
					return err
				})
			return err
		},
	}
}

// newAuditCmd builds "writ audit".
func newAuditCmd(s *streams) *cobra.Command {
	af := &adminFlags{}
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Read, stream and verify the tamper-evident audit trail",
		Long: `The audit trail records every security event: tokens issued, refreshed,
exchanged and revoked, reuse of codes and refresh tokens, token exchange,
JWT bearer and ID-JAG grants, impersonation, revocations of agents and
delegations, and changes made through the admin API, with the whole actor
chain and who caused it. Each event is chained to the one before by a
SHA-256 hash, and the chain head is signed by the key ring periodically.

"list" asks a running server (admin API); "verify" and "tail" read the
store directly (--data-dir or --database).

` + clientAdminHelp,
		Example: `  writ audit list --type agent_revoked
  writ audit list --client CLIENT_ID --since 2026-01-02T00:00:00Z -o json
  writ audit verify --data-dir ./writ-data
  writ audit tail --follow --output audit.jsonl --data-dir ./writ-data`,
		GroupID:               groupServer,
		Args:                  noUnknownSubcommand,
		RunE:                  showHelp,
		DisableFlagsInUseLine: true,
	}
	af.register(cmd.PersistentFlags())
	cmd.AddCommand(newAuditListCmd(s, af), newAuditVerifyCmd(s), newAuditTailCmd(s))
	return cmd
}

// newAuditListCmd builds "writ audit list".
func newAuditListCmd(s *streams, af *adminFlags) *cobra.Command {
	var typ, client, subject, since, until string
	var after int64
	var limit int
	cmd := &cobra.Command{
		Use:   "list [--after SEQ] [--type TYPE] [--client CLIENT_ID] [--subject SUB] [--since TIME] [--until TIME] [--limit N]",
		Short: "List audit events, oldest first",
		Long: `List audit events, oldest first, from after --after (a sequence number; the
"next" member of -o json is the --after of the following page).

Types: token_issued, token_refreshed, token_revoked, code_replayed,
refresh_reused, token_exchange, impersonation, jwt_bearer, id_jag_issued,
id_jag_redeemed, agent_revoked, delegation_revoked, client_registered,
client_updated, client_deleted.

--since and --until take an RFC 3339 time (2026-01-02T15:04:05Z) or a
duration before now (24h).

` + clientAdminHelp,
		Example: `  writ audit list --type agent_revoked
  writ audit list --client travel-agent --after 120 -o json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := af.check(); err != nil {
				return err
			}
			if limit < 1 || limit > admin.MaxAuditPage {
				return usagef("--limit %d: want 1 to %d", limit, admin.MaxAuditPage)
			}
			if after < 0 {
				return usagef("--after %d: want a sequence number, 0 or more", after)
			}
			q := url.Values{}
			for name, v := range map[string]string{"since": since, "until": until} {
				if v == "" {
					continue
				}
				t, err := parseWhen(v, time.Now())
				if err != nil {
					return usagef("--%s %q: want an RFC 3339 time or a duration before now, e.g. 24h", name, v)
				}
				q.Set(name, t.UTC().Format(time.RFC3339Nano))
			}
			for k, v := range map[string]string{"type": typ, "client_id": client, "subject": subject} {
				if v != "" {
					q.Set(k, v)
				}
			}
			if after > 0 {
				q.Set("after", strconv.FormatInt(after, 10))
			}
			q.Set("limit", strconv.Itoa(limit))
			data, err := af.call(cmd.Context(), s, "GET", admin.PathAudit+"?"+q.Encode(), nil)
			if err != nil {
				return err
			}
			_, err = printAnswer(s, af, data, "a list of audit events", func(r *admin.AuditListResponse) bool { return r.Events != nil }, writeAuditTable)
			return err
		},
	}
	fs := cmd.Flags()
	fs.Int64Var(&after, "after", 0, "start after sequence number `SEQ`")
	fs.StringVar(&typ, "type", "", "only events of `TYPE`, e.g. agent_revoked")
	fs.StringVar(&client, "client", "", "only events of `CLIENT_ID`")
	fs.StringVar(&subject, "subject", "", "only events acting for `SUB`")
	fs.StringVar(&since, "since", "", "only events at or after `TIME` (RFC 3339, or a duration before now)")
	fs.StringVar(&until, "until", "", "only events before `TIME` (RFC 3339, or a duration before now)")
	fs.IntVar(&limit, "limit", admin.DefaultPageSize, fmt.Sprintf("at most `N` events, 1 to %d", admin.MaxAuditPage))
	return cmd
}

// writeAuditTable prints audit events one per row.
func writeAuditTable(s *streams, r admin.AuditListResponse) error {
	rows := make([][]string, 0, len(r.Events))
	for _, e := range r.Events {
		details := ""
		if json.Valid(e.Details) {
			details = string(e.Details)
		}
		rows = append(rows, []string{strconv.FormatInt(e.Seq, 10), e.Time.UTC().Format(time.RFC3339), e.Type, e.ClientID,
			e.Subject, strings.Join(e.Actors, " <- "), e.DelegationID, e.By, truncate(details, 120)})
	}
	return writeTable(s, "No audit events.", []string{"SEQ", "TIME", "TYPE", "CLIENT", "SUBJECT", "ACTORS", "DELEGATION", "BY", "DETAILS"}, rows)
}

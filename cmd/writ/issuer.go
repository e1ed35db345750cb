package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/writ-dev/writ/internal/admin"
	"github.com/writ-dev/writ/jose"
)

// newIssuerCmd builds "writ issuer", the trusted external issuers.
func newIssuerCmd(s *streams) *cobra.Command {
	af := &adminFlags{}
	cmd := &cobra.Command{
		Use:   "issuer",
		Short: "Trust external token issuers (jwt-bearer, ID-JAG, token exchange)",
		Long: `Register the external issuers whose JWTs a running writ server accepts: as
RFC 7523 assertions of the jwt-bearer grant (use jwt_bearer), as ID-JAGs
from an identity provider (use id_jag), or as subject and actor tokens of
token exchange (use token_exchange). Each issuer has its public keys (a JWK
Set file, or the URL where it publishes them) and rules saying which client
may present its assertions, for which audiences and scopes.

` + adminAPIHelp,
		Example: `  export WRIT_ADMIN_TOKEN=$(cat ./writ-data/admin-token)

  # Accept ID-JAGs from an IdP for the client "agent", narrowed to one API
  writ issuer add https://idp.example.com --jwks-uri https://idp.example.com/.well-known/jwks.json \
    --use id_jag --rule 'client=agent;aud=https://api.example.com;scope=read'

  writ issuer list
  writ issuer get https://idp.example.com
  writ issuer delete https://idp.example.com`,
		GroupID:               groupServer,
		Args:                  noUnknownSubcommand,
		RunE:                  showHelp,
		DisableFlagsInUseLine: true,
	}
	af.register(cmd.PersistentFlags())
	cmd.AddCommand(
		newIssuerAddCmd(s, af),
		newIssuerListCmd(s, af),
		newIssuerGetCmd(s, af),
		newIssuerDeleteCmd(s, af),
	)
	return cmd
}

// issuerResource is the trusted issuer named by the ISSUER argument.
var issuerResource = adminResource{what: "the issuer identifier", short: "issuer", list: "writ issuer list",
	path:  func(iss string) string { return admin.PathTrustedIssuers + "/" + url.PathEscape(iss) },
	print: printIssuer}

// parseRule parses --rule 'client=ID;aud=URI,URI;scope=a b'.
func parseRule(v string) (admin.TrustRuleJSON, error) {
	var r admin.TrustRuleJSON
	seen := map[string]bool{}
	for part := range strings.SplitSeq(v, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, val, ok := strings.Cut(part, "=")
		k = strings.TrimSpace(k)
		if !ok {
			return r, usagef("--rule %q: %q is not key=value (keys: client, aud, scope)", truncate(v, 64), truncate(part, 32))
		}
		if seen[k] {
			return r, usagef("--rule %q repeats %s", truncate(v, 64), k)
		}
		seen[k] = true
		switch k {
		case "client":
			r.ClientID = strings.TrimSpace(val)
		case "aud":
			for a := range strings.SplitSeq(val, ",") {
				if a = strings.TrimSpace(a); a != "" {
					r.Audiences = append(r.Audiences, a)
				}
			}
		case "scope":
			r.Scopes = strings.Fields(val)
		default:
			return r, usagef("--rule %q: unknown key %q (keys: client, aud, scope)", truncate(v, 64), truncate(k, 16))
		}
	}
	if r.ClientID == "" {
		return r, usagef("--rule %q needs client=CLIENT_ID (or client=* for any client)", truncate(v, 64))
	}
	return r, nil
}

// newIssuerAddCmd builds "writ issuer add".
func newIssuerAddCmd(s *streams, af *adminFlags) *cobra.Command {
	var jwksFile, jwksURI string
	var uses, rules []string
	cmd := &cobra.Command{
		Use:   "add ISSUER (--jwks-file FILE | --jwks-uri URL) --use USE [--rule RULE]...",
		Short: "Trust an external issuer",
		Long: `Trust an external issuer: ISSUER is the exact iss of its tokens.

Keys: --jwks-file FILE (a public JWK Set, or - for standard input), or
--jwks-uri URL (https; http only on a loopback host), fetched and cached.

--use (repeatable): jwt_bearer (RFC 7523 assertions), id_jag (ID-JAGs, typ
oauth-id-jag+jwt, with the jwt-bearer grant), token_exchange (subject and
actor tokens, for clients whose exchange policy names the issuer).

--rule (repeatable) 'client=CLIENT_ID;aud=URI,URI;scope=a b' admits one
client (client=* any client). The tokens writ issues for its assertions get
audiences among aud and the client's audiences, scopes among scope and the
client's scopes; a rule without aud or scope leaves the client's. Without a
rule no client may present its assertions.

` + adminAPIHelp,
		Example: `  writ issuer add https://idp.example.com --jwks-file idp-jwks.json --use jwt_bearer \
    --rule 'client=billing;aud=https://api.example.com;scope=orders:read'`,
		Args: maxArgs(1, "the issuer"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			iss, err := af.resolve(cmd, args, issuerResource.arg)
			if err != nil {
				return err
			}
			body := map[string]any{"issuer": iss}
			switch {
			case (jwksFile == "") == (jwksURI == ""):
				return usagef("give exactly one of --jwks-file and --jwks-uri")
			case jwksFile != "":
				ref := "@" + jwksFile
				if jwksFile == "-" {
					ref = "@-"
				}
				ks, err := readJWKSFlag(ctx, s, ref)
				if err != nil {
					return err
				}
				body["jwks"] = ks
			default:
				body["jwks_uri"] = jwksURI
			}
			if len(uses) == 0 {
				return usagef("give at least one --use: jwt_bearer, id_jag or token_exchange")
			}
			body["uses"] = uses
			parsed := make([]admin.TrustRuleJSON, 0, len(rules))
			for _, v := range rules {
				r, err := parseRule(v)
				if err != nil {
					return err
				}
				parsed = append(parsed, r)
			}
			body["rules"] = parsed
			data, err := af.call(ctx, s, "POST", admin.PathTrustedIssuers, body)
			if err != nil {
				return err
			}
			return printIssuer(s, af, data)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&jwksFile, "jwks-file", "", "the issuer's public JWK Set `FILE` (- for standard input)")
	fs.StringVar(&jwksURI, "jwks-uri", "", "`URL` where the issuer publishes its JWK Set")
	fs.StringArrayVar(&uses, "use", nil, "what its tokens may be used for: jwt_bearer, id_jag, token_exchange (repeatable)")
	fs.StringArrayVar(&rules, "rule", nil, "admit a client: 'client=ID;aud=URI,URI;scope=a b' (repeatable)")
	return cmd
}

// printIssuer prints one trusted issuer.
func printIssuer(s *streams, af *adminFlags, data []byte) error {
	_, err := printAnswer(s, af, data, "a trusted issuer", func(t *admin.TrustedIssuerJSON) bool { return t.Issuer != "" }, writeIssuerDetails)
	return err
}

func issuerKeys(t admin.TrustedIssuerJSON) string {
	if t.JWKSURI != "" {
		return t.JWKSURI
	}
	if ks, err := jose.ParseKeySet(t.JWKS); err == nil {
		return fmt.Sprintf("%d key(s)", ks.Len())
	}
	return "registered"
}

func ruleString(r admin.TrustRuleJSON) string {
	out := "client=" + r.ClientID
	if len(r.Audiences) > 0 {
		out += ";aud=" + strings.Join(r.Audiences, ",")
	}
	if len(r.Scopes) > 0 {
		out += ";scope=" + strings.Join(r.Scopes, " ")
	}
	return out
}

// writeIssuerDetails prints a trusted issuer as a two-column table.
func writeIssuerDetails(s *streams, t admin.TrustedIssuerJSON) error {
	rows := [][]string{
		{"ISSUER", t.Issuer},
		{"KEYS", issuerKeys(t)},
		{"USES", strings.Join(t.Uses, ", ")},
	}
	if len(t.Rules) == 0 {
		rows = append(rows, []string{"RULES", "none (no client may present its assertions)"})
	}
	for i, r := range t.Rules {
		rows = append(rows, []string{"RULE " + strconv.Itoa(i+1), ruleString(r)})
	}
	rows = append(rows, []string{"CREATED", t.CreatedAt}, []string{"UPDATED", t.UpdatedAt})
	return writeColumns(s, rows)
}

// newIssuerListCmd builds "writ issuer list".
func newIssuerListCmd(s *streams, af *adminFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the trusted issuers",
		Long:  "List the external issuers the server trusts, ordered by issuer.\n\n" + adminAPIHelp,
		Example: `  writ issuer list
  writ issuer list -o json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := af.check(); err != nil {
				return err
			}
			data, err := af.call(cmd.Context(), s, "GET", admin.PathTrustedIssuers, nil)
			if err != nil {
				return err
			}
			var resp admin.TrustedIssuersResponse
			if err := json.Unmarshal(data, &resp); err != nil || resp.TrustedIssuers == nil {
				return fmt.Errorf("the admin API answered with something that is not a list of trusted issuers")
			}
			if af.output == formatJSON {
				return writeJSONOutput(s, data)
			}
			rows := make([][]string, 0, len(resp.TrustedIssuers))
			for _, t := range resp.TrustedIssuers {
				rows = append(rows, []string{t.Issuer, issuerKeys(t), strings.Join(t.Uses, ","), strconv.Itoa(len(t.Rules))})
			}
			return writeTable(s, "No trusted issuers.", []string{"ISSUER", "KEYS", "USES", "RULES"}, rows)
		},
	}
}

// newIssuerGetCmd builds "writ issuer get".
func newIssuerGetCmd(s *streams, af *adminFlags) *cobra.Command {
	return &cobra.Command{
		Use:     "get ISSUER",
		Short:   "Show one trusted issuer",
		Long:    "Show one trusted issuer: its keys, uses and rules.\n\n" + adminAPIHelp,
		Example: `  writ issuer get https://idp.example.com -o json`,
		Args:    maxArgs(1, "the issuer"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return issuerResource.get(cmd, args, s, af)
		},
	}
}

// newIssuerDeleteCmd builds "writ issuer delete".
func newIssuerDeleteCmd(s *streams, af *adminFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "delete ISSUER",
		Short: "Stop trusting an issuer",
		Long: `Stop trusting an issuer at once on this node (other nodes within seconds).
Tokens writ already issued for its assertions stay valid until they expire.

` + adminAPIHelp,
		Example: `  writ issuer delete https://idp.example.com`,
		Args:    maxArgs(1, "the issuer"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return issuerResource.delete(cmd, args, s, af, "issuer", "no longer trusting %s")
		},
	}
}

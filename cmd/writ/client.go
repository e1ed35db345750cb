package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/writ-dev/writ/internal/admin"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/jose"
)

// clientAdminHelp is shared by the client commands' help: where the API is and
// how the credential is found.
const clientAdminHelp = `The commands talk to the admin API of a running "writ serve" (its admin
listener, --admin-addr, by default 127.0.0.1:8081). Give its URL with
--endpoint or WRIT_ADMIN_ENDPOINT. The admin credential is read from
WRIT_ADMIN_TOKEN, the same variable the server reads; in development mode
"writ serve" generates a token and prints the file it stored it in:

  export WRIT_ADMIN_TOKEN=$(cat DATA_DIR/admin-token)

Output is a table by default; -o json prints the API response for scripts.`

// newClientCmd builds "writ client", the group of client registration
// commands.
func newClientCmd(s *streams) *cobra.Command {
	af := &adminFlags{}
	cmd := &cobra.Command{
		Use:   "client",
		Short: "Register and manage OAuth clients on a running writ server",
		Long: `Register, list, change and delete the OAuth clients of a running writ
server, and rotate their secrets.

` + clientAdminHelp,
		Example: `  export WRIT_ADMIN_TOKEN=$(cat ./writ-data/admin-token)

  # A service that gets tokens with the client credentials grant
  writ client create --name billing --grant-type client_credentials \
    --scope "orders:read orders:write"

  # List the clients, then show one
  writ client list
  writ client get CLIENT_ID`,
		GroupID: groupServer,
		Args:    noUnknownSubcommand,
		RunE:    showHelp,
		// Only groups subcommands: its usage line is "writ client [command]".
		DisableFlagsInUseLine: true,
	}
	af.register(cmd.PersistentFlags())
	cmd.AddCommand(
		newClientCreateCmd(s, af),
		newClientListCmd(s, af),
		newClientGetCmd(s, af),
		newClientUpdateCmd(s, af),
		newClientDeleteCmd(s, af),
		newClientRotateSecretCmd(s, af),
	)
	return cmd
}

// clientFlags are the registration flags of create and update.
type clientFlags struct {
	id           string
	name         string
	grantTypes   []string
	redirectURIs []string
	postLogout   []string
	scope        string
	audiences    []string
	authMethod   string
	tokenFormat  string
	accessTTL    string
	refreshTTL   string
	idTTL        string
	idTokenAlg   string
	crypto       responseCrypto // signed and encrypted responses
	jwks         string
	jwksURI      string
	firstParty   bool
	dpopBound    bool
	// Mutual TLS (RFC 8705): the certificate identity of a
	// tls_client_auth client and certificate-bound tokens.
	tlsSubjectDN, tlsSANDNS, tlsSANURI, tlsSANIP, tlsSANEmail string
	certBound                                                 bool
	requirePAR                                                bool
	profile                                                   string
	backchannel                                               string
	public                                                    bool
	metadata                                                  []string
	update                                                    bool

	// The agent policy (--agent-*) and the token exchange policy
	// (--exchange-*).
	agentOwner        string
	agentMaxTTL       string
	agentAllowRefresh bool
	agentRequireDPoP  bool
	exSubjectIssuers  []string
	exSubjectAuds     []string
	exActors          []string
	exMaxChain        int
	exImpersonation   bool
	exRefreshTokens   bool
	exIDJAGAuds       []string
}

// register adds the registration flags to fs.
func (f *clientFlags) register(fs *pflag.FlagSet, update bool) {
	f.update = update
	hint := clearHint(update)
	if update {
		fs.StringVar(&f.id, "id", "", "the `CLIENT_ID` of the client to change (or give it as the argument)")
	} else {
		fs.StringVar(&f.id, "id", "", "use `CLIENT_ID` instead of a generated one (letters, digits, - . _ ~; not the id of a user)")
	}
	fs.StringVar(&f.name, "name", "", "human-readable client `NAME`"+hint)
	fs.StringArrayVar(&f.grantTypes, "grant-type", nil, "allowed grant `TYPE` (repeatable): client_credentials, authorization_code, refresh_token, urn:ietf:params:oauth:grant-type:token-exchange, urn:ietf:params:oauth:grant-type:device_code, urn:ietf:params:oauth:grant-type:jwt-bearer")
	fs.StringArrayVar(&f.redirectURIs, "redirect-uri", nil, "redirect `URI` for the authorization code grant (repeatable)"+hint)
	fs.StringArrayVar(&f.postLogout, "post-logout-redirect-uri", nil, "post-logout redirect `URI` (repeatable)"+hint)
	fs.StringVar(&f.scope, "scope", "", "space-separated `SCOPES` the client may request, e.g. \"orders:read orders:write\""+hint)
	fs.StringArrayVar(&f.audiences, "audience", nil, "audience/resource `URI` the client may get tokens for (repeatable; the first is the default)"+hint)
	fs.StringVar(&f.authMethod, "auth-method", "", "token endpoint auth `METHOD`: client_secret_basic (default), client_secret_post, private_key_jwt, none, tls_client_auth or self_signed_tls_client_auth")
	fs.StringVar(&f.authMethod, "token-endpoint-auth-method", "", "the same as --auth-method")
	fs.StringVar(&f.tlsSubjectDN, "tls-client-auth-subject-dn", "", "tls_client_auth: the subject `DN` of the client's certificate, RFC 4514 form, e.g. 'CN=orders,O=Example' (give exactly one of the --tls-client-auth-* flags)")
	fs.StringVar(&f.tlsSANDNS, "tls-client-auth-san-dns", "", "tls_client_auth: a DNS `NAME` in the certificate's subject alternative names")
	fs.StringVar(&f.tlsSANURI, "tls-client-auth-san-uri", "", "tls_client_auth: a `URI` in the certificate's subject alternative names (e.g. a SPIFFE ID)")
	fs.StringVar(&f.tlsSANIP, "tls-client-auth-san-ip", "", "tls_client_auth: an IP `ADDRESS` in the certificate's subject alternative names")
	fs.StringVar(&f.tlsSANEmail, "tls-client-auth-san-email", "", "tls_client_auth: an `EMAIL` address in the certificate's subject alternative names")
	fs.BoolVar(&f.certBound, "tls-client-certificate-bound-access-tokens", false, "bind the client's access tokens to its TLS client certificate (cnf.x5t#S256, RFC 8705 §3); its token requests must come with the certificate")
	fs.StringVar(&f.tokenFormat, "token-format", "", "access token `FORMAT`: jwt (default) or opaque")
	fs.StringVar(&f.accessTTL, "access-token-ttl", "", "access token lifetime `DURATION`, e.g. 15m (at most 24h; 0 = server default)")
	fs.StringVar(&f.refreshTTL, "refresh-token-ttl", "", "refresh token lifetime `DURATION`, e.g. 720h (0 = server default)")
	fs.StringVar(&f.idTTL, "id-token-ttl", "", "ID token lifetime `DURATION`, e.g. 1h (at most 24h; 0 = server default)")
	fs.StringVar(&f.idTokenAlg, "id-token-signed-response-alg", "", "`ALG` of the client's ID tokens: RS256 (the default), PS256, ES256 or EdDSA, as the server's key ring offers"+hint)
	f.crypto.register(fs, hint)
	fs.StringVar(&f.jwks, "jwks", "", "the client's public `JWKS` (private_key_jwt keys, encryption keys): @FILE, @- for standard input, or inline JSON"+hint)
	fs.StringVar(&f.jwksURI, "jwks-uri", "", "https `URL` where the client publishes its JWK Set"+hint)
	fs.BoolVar(&f.firstParty, "first-party", false, "mark the client as first party (no consent page)")
	fs.BoolVar(&f.dpopBound, "dpop-bound-access-tokens", false, "require a DPoP proof in every token request of the client: its tokens are all DPoP-bound (RFC 9449 §5.2)")
	fs.BoolVar(&f.requirePAR, "require-pushed-authorization-requests", false, "accept the client's authorization requests only as a request_uri from /oauth2/par (RFC 9126)")
	fs.StringVar(&f.profile, "profile", "", "security `PROFILE` the client is held to: fapi2 (the FAPI 2.0 Security Profile: PAR, PKCE, DPoP or mTLS, private_key_jwt or mTLS, PS256/ES256/EdDSA)"+hint)
	fs.StringVar(&f.backchannel, "backchannel-logout-uri", "", "https `URL` that receives back-channel logout tokens"+hint)
	fs.BoolVar(&f.public, "public", false, "a public client without a secret (same as --auth-method none)")
	fs.StringArrayVar(&f.metadata, "metadata", nil, "free-form annotation `KEY=VALUE` (repeatable; replaces all annotations)"+hint)
	agentHint := ""
	if update {
		agentHint = `; "" removes the agent policy`
	}
	fs.StringVar(&f.agentOwner, "agent-owner", "", "register the client as an agent acting for `OWNER`: user:USER_ID or client:CLIENT_ID"+agentHint)
	fs.StringVar(&f.agentMaxTTL, "agent-max-token-ttl", "", "longest lifetime `DURATION` of the agent's tokens, 1m to 24h (default 15m)")
	fs.BoolVar(&f.agentAllowRefresh, "agent-allow-refresh", false, "let the agent get refresh tokens")
	fs.BoolVar(&f.agentRequireDPoP, "agent-require-dpop", false, "issue the agent DPoP-bound tokens only")
	fs.StringArrayVar(&f.exSubjectIssuers, "exchange-subject-issuer", nil, "token exchange: a further trusted `ISSUER` of subject tokens (repeatable)"+hint)
	fs.StringArrayVar(&f.exSubjectAuds, "exchange-subject-audience", nil, "token exchange: a further `AUDIENCE` subject tokens may carry (repeatable)"+hint)
	fs.StringArrayVar(&f.exActors, "exchange-actor", nil, "token exchange: the only actor `SUB`s allowed (repeatable)"+hint)
	fs.IntVar(&f.exMaxChain, "exchange-max-chain", 0, fmt.Sprintf("token exchange: the longest act chain, `N` from 1 to %d (0 = default, %d)", admin.MaxExchangeChain, store.DefaultMaxChain))
	fs.BoolVar(&f.exImpersonation, "exchange-impersonation", false, "token exchange: allow results without act (impersonation, audited)")
	fs.BoolVar(&f.exRefreshTokens, "exchange-refresh-tokens", false, "token exchange: allow refresh tokens")
	fs.StringArrayVar(&f.exIDJAGAuds, "exchange-id-jag-audience", nil, "token exchange: a resource authorization server `ISSUER` the client may get ID-JAGs for (repeatable)"+hint)
}

// delegationBody adds the "agent" and "token_exchange" members the
// --agent-* and --exchange-* flags give to b. On update each object is
// merged member by member by the server, so only the flags given change.
func (f *clientFlags) delegationBody(fs *pflag.FlagSet, b map[string]any) error {
	agent := map[string]any{}
	if fs.Changed("agent-owner") {
		agent["owner"] = f.agentOwner
		if f.agentOwner == "" {
			if !f.update {
				return usagef("--agent-owner must not be empty: user:USER_ID or client:CLIENT_ID")
			}
			for _, flag := range []string{"agent-max-token-ttl", "agent-allow-refresh", "agent-require-dpop"} {
				if fs.Changed(flag) {
					return usagef("--agent-owner \"\" removes the agent policy; it cannot be combined with --%s", flag)
				}
			}
			b["agent"] = nil
		} else if !strings.HasPrefix(f.agentOwner, "user:") && !strings.HasPrefix(f.agentOwner, "client:") {
			return usagef("--agent-owner %q: want user:USER_ID or client:CLIENT_ID", truncate(f.agentOwner, 48))
		}
	}
	if fs.Changed("agent-max-token-ttl") {
		secs, err := parseTTL("agent-max-token-ttl", f.agentMaxTTL, admin.MaxAgentTokenTTL)
		if err != nil {
			return err
		}
		agent["max_token_ttl"] = secs
	}
	if fs.Changed("agent-allow-refresh") {
		agent["allow_refresh"] = f.agentAllowRefresh
	}
	if fs.Changed("agent-require-dpop") {
		agent["require_dpop"] = f.agentRequireDPoP
	}
	if _, removed := b["agent"]; !removed && len(agent) > 0 {
		b["agent"] = agent
	}
	x := map[string]any{}
	for _, l := range []struct {
		flag, member string
		v            []string
	}{
		{"exchange-subject-issuer", "subject_issuers", f.exSubjectIssuers},
		{"exchange-subject-audience", "subject_audiences", f.exSubjectAuds},
		{"exchange-actor", "actors", f.exActors},
		{"exchange-id-jag-audience", "id_jag_audiences", f.exIDJAGAuds},
	} {
		if fs.Changed(l.flag) {
			x[l.member] = nonEmpty(l.v)
		}
	}
	if fs.Changed("exchange-max-chain") {
		if f.exMaxChain < 0 || f.exMaxChain > admin.MaxExchangeChain {
			return usagef("--exchange-max-chain %d: want 1 to %d, or 0 for the default", f.exMaxChain, admin.MaxExchangeChain)
		}
		x["max_chain"] = f.exMaxChain
	}
	if fs.Changed("exchange-impersonation") {
		x["impersonation"] = f.exImpersonation
	}
	if fs.Changed("exchange-refresh-tokens") {
		x["refresh_tokens"] = f.exRefreshTokens
	}
	if len(x) > 0 {
		b["token_exchange"] = x
	}
	return nil
}

// body turns the flags that were given into an admin API request body.
func (f *clientFlags) body(ctx context.Context, cmd *cobra.Command, s *streams) (map[string]any, error) {
	fs := cmd.Flags()
	b := map[string]any{}
	text := func(flag, field, v string) {
		if fs.Changed(flag) {
			if v == "" && f.update {
				b[field] = nil
			} else {
				b[field] = v
			}
		}
	}
	list := func(flag, field string, v []string) {
		if fs.Changed(flag) {
			b[field] = nonEmpty(v)
		}
	}
	if !f.update && fs.Changed("id") {
		if f.id == "" {
			return nil, usagef("--id must not be empty; leave it out to have a client_id generated")
		}
		b["client_id"] = f.id
	}
	text("name", "client_name", f.name)
	if fs.Changed("grant-type") {
		grants := make([]string, 0, len(f.grantTypes))
		for _, g := range nonEmpty(f.grantTypes) {
			full, err := grantTypeName(g)
			if err != nil {
				return nil, err
			}
			grants = append(grants, full)
		}
		b["grant_types"] = grants
	}
	list("redirect-uri", "redirect_uris", f.redirectURIs)
	list("post-logout-redirect-uri", "post_logout_redirect_uris", f.postLogout)
	list("audience", "audiences", f.audiences)
	if fs.Changed("scope") {
		b["scope"] = strings.Join(strings.Fields(f.scope), " ")
	}
	method := f.authMethod
	methodChanged := fs.Changed("auth-method") || fs.Changed("token-endpoint-auth-method")
	if methodChanged && !slices.Contains(admin.AuthMethods(), method) {
		return nil, usagef("--auth-method %q: choose %s", truncate(method, 32), strings.Join(admin.AuthMethods(), ", "))
	}
	if f.public {
		if methodChanged && method != "none" {
			return nil, usagef("--public means --auth-method none; it cannot be combined with --auth-method %s", method)
		}
		method = "none"
	}
	if method != "" {
		b["token_endpoint_auth_method"] = method
	}
	if fs.Changed("token-format") {
		if f.tokenFormat != "jwt" && f.tokenFormat != "opaque" {
			return nil, usagef("--token-format %q: choose jwt or opaque", truncate(f.tokenFormat, 16))
		}
		b["access_token_format"] = f.tokenFormat
	}
	for _, t := range []struct {
		flag, field, value string
		max                time.Duration
	}{
		{"access-token-ttl", "access_token_ttl", f.accessTTL, admin.MaxAccessTokenTTL},
		{"refresh-token-ttl", "refresh_token_ttl", f.refreshTTL, admin.MaxRefreshTokenTTL},
		{"id-token-ttl", "id_token_ttl", f.idTTL, admin.MaxAccessTokenTTL},
	} {
		if !fs.Changed(t.flag) {
			continue
		}
		secs, err := parseTTL(t.flag, t.value, t.max)
		if err != nil {
			return nil, err
		}
		b[t.field] = secs
	}
	if fs.Changed("jwks") {
		raw, err := readJWKSFlag(ctx, s, f.jwks)
		if err != nil {
			return nil, err
		}
		if raw == nil && f.update {
			b["jwks"] = nil
		} else if raw != nil {
			b["jwks"] = raw
		}
	}
	text("id-token-signed-response-alg", "id_token_signed_response_alg", f.idTokenAlg)
	for _, r := range f.crypto.fields() {
		text(r[0], r[1], r[2])
	}
	text("jwks-uri", "jwks_uri", f.jwksURI)
	text("backchannel-logout-uri", "backchannel_logout_uri", f.backchannel)
	text("profile", "profile", f.profile)
	if fs.Changed("first-party") {
		b["first_party"] = f.firstParty
	}
	if fs.Changed("dpop-bound-access-tokens") {
		b["dpop_bound_access_tokens"] = f.dpopBound
	}
	if fs.Changed("require-pushed-authorization-requests") {
		b["require_pushed_authorization_requests"] = f.requirePAR
	}
	text("tls-client-auth-subject-dn", "tls_client_auth_subject_dn", f.tlsSubjectDN)
	text("tls-client-auth-san-dns", "tls_client_auth_san_dns", f.tlsSANDNS)
	text("tls-client-auth-san-uri", "tls_client_auth_san_uri", f.tlsSANURI)
	text("tls-client-auth-san-ip", "tls_client_auth_san_ip", f.tlsSANIP)
	text("tls-client-auth-san-email", "tls_client_auth_san_email", f.tlsSANEmail)
	if fs.Changed("tls-client-certificate-bound-access-tokens") {
		b["tls_client_certificate_bound_access_tokens"] = f.certBound
	}
	if fs.Changed("metadata") {
		m := map[string]string{}
		for _, kv := range nonEmpty(f.metadata) {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return nil, usagef("--metadata %q: want KEY=VALUE", truncate(kv, 32))
			}
			m[k] = v
		}
		b["metadata"] = m
	}
	if err := f.delegationBody(fs, b); err != nil {
		return nil, err
	}
	return b, nil
}

// nonEmpty drops empty values, so that a single empty flag value clears a
// list. It never returns nil (an empty list is sent as []).
func nonEmpty(v []string) []string {
	out := make([]string, 0, len(v))
	for _, s := range v {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// grantTypeName checks a --grant-type value: one of the grant types the
// server serves.
func grantTypeName(g string) (string, error) {
	if !slices.Contains(admin.GrantTypes(), g) {
		return "", usagef("--grant-type %q: choose %s (the grant types writ serves)", truncate(g, 48), strings.Join(admin.GrantTypes(), ", "))
	}
	return g, nil
}

// parseTTL reads a lifetime flag: a Go duration (15m, 1h30m) or a number of
// seconds, in whole seconds, at most max; 0 means the server default.
func parseTTL(flag, v string, max time.Duration) (int64, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		n, nerr := strconv.ParseInt(v, 10, 64)
		if nerr != nil {
			return 0, usagef("--%s %q: want a duration such as 15m or 1h, or a number of seconds", flag, truncate(v, 16))
		}
		if n < 0 || n > int64(max/time.Second) {
			return 0, usagef("--%s %q: must be between 0 and %s", flag, truncate(v, 16), max)
		}
		return n, nil
	}
	switch {
	case d < 0 || d > max:
		return 0, usagef("--%s %s: must be between 0 (server default) and %s", flag, v, max)
	case d%time.Second != 0:
		return 0, usagef("--%s %s: must be a whole number of seconds", flag, v)
	}
	return int64(d / time.Second), nil
}

// readJWKSFlag reads --jwks: @FILE, @- (standard input) or inline JSON. An
// empty value returns nil (clear the key set).
func readJWKSFlag(ctx context.Context, s *streams, v string) (json.RawMessage, error) {
	var data []byte
	switch {
	case v == "":
		return nil, nil
	case v == "@-":
		b, tooLarge, err := readAllContext(ctx, s.in, jose.MaxJWKSize)
		if err != nil {
			return nil, fmt.Errorf("cannot read the JWK Set from standard input: %w", err)
		}
		if tooLarge {
			return nil, fmt.Errorf("the JWK Set on standard input is larger than %d bytes", jose.MaxJWKSize)
		}
		data = b
	case strings.HasPrefix(v, "@"):
		b, err := readFileLimited(v[1:], jose.MaxJWKSize, "JWK Set file")
		if err != nil {
			return nil, err
		}
		data = b
	default:
		data = []byte(v)
	}
	ks, err := jose.ParseKeySet(data)
	if err != nil {
		return nil, usagef("--jwks: not a public JWK Set ({\"keys\": [...]}): %v", err)
	}
	if ks.Len() == 0 {
		return nil, usagef("--jwks: the JWK Set has no usable public key")
	}
	return json.RawMessage(data), nil
}

// clientIDArg resolves the client a command acts on: its one argument or
// --id (update), not both.
func clientIDArg(cmd *cobra.Command, args []string, flagID string) (string, error) {
	switch {
	case len(args) > 1:
		return "", usagef("%s takes one argument, the client_id; got %d", cmd.CommandPath(), len(args))
	case len(args) == 1 && flagID != "" && flagID != args[0]:
		return "", usagef("the argument %q and --id %q name different clients; give one of them", truncate(args[0], 32), truncate(flagID, 32))
	case len(args) == 1:
		if args[0] == "" {
			return "", usagef("the client_id argument is empty")
		}
		return args[0], nil
	case flagID != "":
		return flagID, nil
	}
	return "", usagef("%s needs the client_id as its argument (see 'writ client list')", cmd.CommandPath())
}

// clientArg is the CLIENT_ID argument of a command without --id.
func clientArg(cmd *cobra.Command, args []string) (string, error) {
	return clientIDArg(cmd, args, "")
}

// clientPath is the API path of one client.
func clientPath(id string) string { return admin.PathClients + "/" + url.PathEscape(id) }

// newClientCreateCmd builds "writ client create".
func newClientCreateCmd(s *streams, af *adminFlags) *cobra.Command {
	f := &clientFlags{}
	cmd := &cobra.Command{
		Use:   "create [flags]",
		Short: "Register a client and print it with its one-time secret",
		Long: `Register a new OAuth client.

Clients with a secret (auth method client_secret_basic, the default, or
client_secret_post) get one generated by writ: 256 random bits, printed
exactly once in this command's output. writ stores only a keyed hash of it;
if it is lost, issue a new one with "writ client rotate-secret".

Without --grant-type the client uses the authorization code grant (RFC 7591),
which needs --redirect-uri. Services that get tokens for themselves use
--grant-type client_credentials.

` + clientAdminHelp,
		Example: `  # A machine-to-machine client; -o json prints the client and its secret
  writ client create --endpoint http://127.0.0.1:8081 --name billing \
    --grant-type client_credentials --scope "orders:read orders:write" -o json

  # Opaque access tokens for one API, valid 5 minutes
  writ client create --name reports --grant-type client_credentials \
    --audience https://reports.example.com --token-format opaque --access-token-ttl 5m

  # A public single-page app (no secret), authorization code with refresh tokens
  writ client create --name dashboard --public --grant-type authorization_code \
    --grant-type refresh_token --redirect-uri https://dashboard.example.com/callback

  # A client that authenticates with a signed JWT (private_key_jwt)
  writ client create --name batch --grant-type client_credentials \
    --auth-method private_key_jwt --jwks @batch-jwks.json

  # An agent acting for a user: 10-minute tokens, DPoP-bound, no refresh
  writ client create --name travel-agent --grant-type client_credentials \
    --agent-owner user:USER_ID --agent-max-token-ttl 10m --agent-require-dpop`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runClientCreate(cmd.Context(), cmd, s, af, f)
		},
	}
	f.register(cmd.Flags(), false)
	return cmd
}

func runClientCreate(ctx context.Context, cmd *cobra.Command, s *streams, af *adminFlags, f *clientFlags) error {
	if err := af.check(); err != nil {
		return err
	}
	body, err := f.body(ctx, cmd, s)
	if err != nil {
		return err
	}
	if _, ok := body["grant_types"]; !ok && len(f.redirectURIs) == 0 {
		return usagef("give --grant-type (e.g. --grant-type client_credentials for a service), or --redirect-uri for the default authorization_code grant")
	}
	data, err := af.call(ctx, s, "POST", admin.PathClients, body)
	if err != nil {
		return err
	}
	return printClient(s, af, data)
}

// printClient prints one client: the API response (json) or its fields
// (table). A client secret in the response is shown with a warning that it
// cannot be shown again.
func printClient(s *streams, af *adminFlags, data []byte) error {
	c, err := printAnswer(s, af, data, "a client", func(c *admin.ClientResponse) bool { return c.ClientID != "" }, writeClientDetails)
	if err != nil {
		return err
	}
	if c.ClientSecret != "" {
		fmt.Fprintf(s.err, "writ: this is the only time the client secret of %s is shown: store it now (a lost secret can only be replaced: writ client rotate-secret %s)\n", tableCell(c.ClientID), tableCell(c.ClientID))
	}
	return nil
}

// writeClientDetails prints a client as a two-column table.
func writeClientDetails(s *streams, c admin.ClientResponse) error {
	ttl := func(secs int64) string {
		if secs == 0 {
			return "server default"
		}
		return (time.Duration(secs) * time.Second).String()
	}
	rows := [][]string{
		{"CLIENT ID", c.ClientID},
		{"NAME", c.ClientName},
		{"GRANT TYPES", strings.Join(c.GrantTypes, ", ")},
		{"AUTH METHOD", c.TokenEndpointAuthMethod},
		{"SCOPES", c.Scope},
		{"AUDIENCES", strings.Join(c.Audiences, ", ")},
		{"REDIRECT URIS", strings.Join(c.RedirectURIs, ", ")},
		{"TOKEN FORMAT", c.AccessTokenFormat},
		{"ACCESS TOKEN TTL", ttl(c.AccessTokenTTL)},
	}
	rows = appendSet(rows,
		[]string{"POST-LOGOUT URIS", strings.Join(c.PostLogoutRedirectURIs, ", ")},
		[]string{"JWKS URI", c.JWKSURI},
		[]string{"BACKCHANNEL LOGOUT", c.BackchannelLogoutURI},
	)
	if c.RefreshTokenTTL != 0 {
		rows = append(rows, []string{"REFRESH TOKEN TTL", ttl(c.RefreshTokenTTL)})
	}
	if c.IDTokenTTL != 0 {
		rows = append(rows, []string{"ID TOKEN TTL", ttl(c.IDTokenTTL)})
	}
	if c.IDTokenSignedResponseAlg != "" && slices.Contains(c.GrantTypes, admin.GrantAuthorizationCode) {
		rows = append(rows, []string{"ID TOKEN ALG", c.IDTokenSignedResponseAlg})
	}
	rows = appendSet(rows,
		[]string{"ID TOKEN ENCRYPTION", joinAlgEnc(c.IDTokenEncryptedResponseAlg, c.IDTokenEncryptedResponseEnc)},
		[]string{"USERINFO SIGNING ALG", c.UserinfoSignedResponseAlg},
		[]string{"USERINFO ENCRYPTION", joinAlgEnc(c.UserinfoEncryptedResponseAlg, c.UserinfoEncryptedResponseEnc)},
	)
	if len(c.JWKS) > 0 {
		n := "registered"
		if ks, err := jose.ParseKeySet(c.JWKS); err == nil {
			n = fmt.Sprintf("%d key(s)", ks.Len())
		}
		rows = append(rows, []string{"JWKS", n})
	}
	if c.FirstParty {
		rows = append(rows, []string{"FIRST PARTY", "yes"})
	}
	if a := c.Agent; a != nil {
		rows = append(rows,
			[]string{"AGENT OWNER", a.Owner},
			[]string{"AGENT MAX TOKEN TTL", ttl(a.MaxTokenTTL)},
			[]string{"AGENT REFRESH", yesNo(a.AllowRefresh)},
			[]string{"AGENT DPOP", yesNo(a.RequireDPoP)})
	}
	if x := c.TokenExchange; x != nil {
		rows = appendSet(rows,
			[]string{"EXCHANGE SUBJECT ISSUERS", strings.Join(x.SubjectIssuers, ", ")},
			[]string{"EXCHANGE SUBJECT AUDIENCES", strings.Join(x.SubjectAudiences, ", ")},
			[]string{"EXCHANGE ACTORS", strings.Join(x.Actors, ", ")},
			[]string{"EXCHANGE ID-JAG AUDIENCES", strings.Join(x.IDJAGAudiences, ", ")})
		if x.MaxChain != 0 {
			rows = append(rows, []string{"EXCHANGE MAX CHAIN", strconv.Itoa(x.MaxChain)})
		}
		rows = append(rows,
			[]string{"EXCHANGE IMPERSONATION", yesNo(x.Impersonation)},
			[]string{"EXCHANGE REFRESH TOKENS", yesNo(x.RefreshTokens)})
	}
	if !c.TokensRevokedBefore.IsZero() {
		rows = append(rows, []string{"TOKENS REVOKED BEFORE", c.TokensRevokedBefore.UTC().Format(time.RFC3339)})
	}
	if c.DPoPBoundAccessTokens {
		rows = append(rows, []string{"DPOP-BOUND TOKENS", "yes"})
	}
	if c.RequirePushedAuthorizationRequests {
		rows = append(rows, []string{"REQUIRE PAR", "yes"})
	}
	if c.Profile != "" {
		rows = append(rows, []string{"PROFILE", c.Profile})
	}
	rows = appendSet(rows,
		[]string{"TLS CLIENT AUTH SUBJECT DN", c.TLSClientAuthSubjectDN},
		[]string{"TLS CLIENT AUTH SAN DNS", c.TLSClientAuthSANDNS},
		[]string{"TLS CLIENT AUTH SAN URI", c.TLSClientAuthSANURI},
		[]string{"TLS CLIENT AUTH SAN IP", c.TLSClientAuthSANIP},
		[]string{"TLS CLIENT AUTH SAN EMAIL", c.TLSClientAuthSANEmail})
	if c.TLSClientCertificateBoundAccessTokens {
		rows = append(rows, []string{"CERTIFICATE-BOUND TOKENS", "yes"})
	}
	for _, k := range slices.Sorted(maps.Keys(c.Metadata)) {
		rows = append(rows, []string{"METADATA " + k, c.Metadata[k]})
	}
	rows = append(rows, []string{"CREATED", c.CreatedAt.UTC().Format(time.RFC3339)})
	if c.ClientSecret != "" {
		rows = append(rows, []string{"CLIENT SECRET", c.ClientSecret})
	}
	return writeColumns(s, rows)
}

// yesNo renders a flag of a table.
func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// newClientListCmd builds "writ client list".
func newClientListCmd(s *streams, af *adminFlags) *cobra.Command {
	o := &listFlags{}
	cmd := &cobra.Command{
		Use:   "list [--limit N] [--all]",
		Short: "List the registered clients, ordered by client_id",
		Long: `List the registered clients, one page at a time (ordered by client_id).

Without --all one page of --limit clients is printed; when more follow, a
note on standard error says how to get them (with -o json, the "next" member
of the response is the --after value of the next page). --all follows the
pages to the end.

Secrets are never listed.

` + clientAdminHelp,
		Example: `  # The first 100 clients as a table
  writ client list

  # Every client, as one JSON document
  writ client list --all -o json

  # Page by page
  writ client list --limit 20
  writ client list --limit 20 --after LAST_CLIENT_ID`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runList(cmd.Context(), s, af, o, listing{
				path: admin.PathClients,
				noun: "client",
				decode: func(data []byte) ([]json.RawMessage, string, bool) {
					var page admin.ListResponse
					err := json.Unmarshal(data, &page)
					return page.Clients, page.Next, err == nil && page.Clients != nil
				},
				document: func(items []json.RawMessage, next string) any {
					if items == nil {
						items = []json.RawMessage{} // "clients": [] when there are none
					}
					return admin.ListResponse{Clients: items, Next: next}
				},
				table: writeClientTable,
			})
		},
	}
	o.register(cmd.Flags(), "client", "CLIENT_ID")
	return cmd
}

// writeClientTable prints clients one per row.
func writeClientTable(s *streams, raw []json.RawMessage) error {
	rows := make([][]string, 0, len(raw))
	for _, r := range raw {
		var c admin.ClientResponse
		if err := json.Unmarshal(r, &c); err != nil {
			return fmt.Errorf("the admin API answered with a malformed client")
		}
		rows = append(rows, []string{c.ClientID, c.ClientName, strings.Join(c.GrantTypes, ","), c.TokenEndpointAuthMethod, c.Scope})
	}
	return writeTable(s, "No clients.", []string{"CLIENT ID", "NAME", "GRANT TYPES", "AUTH METHOD", "SCOPES"}, rows)
}

// newClientGetCmd builds "writ client get".
func newClientGetCmd(s *streams, af *adminFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "get CLIENT_ID",
		Short: "Show one client's registration (never its secret)",
		Long: `Show the registration of one client. Its secret is never shown: writ keeps
only a keyed hash of it.

` + clientAdminHelp,
		Example: `  writ client get billing
  writ client get billing -o json | jq -r .scope`,
		Args: maxArgs(1, "the client_id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := af.resolve(cmd, args, clientArg)
			if err != nil {
				return err
			}
			data, err := af.call(cmd.Context(), s, "GET", clientPath(id), nil)
			if err != nil {
				return err
			}
			return printClient(s, af, data)
		},
	}
}

// newClientUpdateCmd builds "writ client update".
func newClientUpdateCmd(s *streams, af *adminFlags) *cobra.Command {
	f := &clientFlags{}
	cmd := &cobra.Command{
		Use:   "update CLIENT_ID [flags]",
		Short: "Change a client's registration",
		Long: `Change the registration of a client. Only the flags given change; each
replaces the stored value (a repeatable flag replaces the whole list). An
empty value clears a field or list, for example --audience "". The result
is checked as a whole, like a new registration; the client_id cannot change.

Switching from a method without a secret (none, private_key_jwt) to
client_secret_basic or client_secret_post issues a new secret, printed once.

` + clientAdminHelp,
		Example: `  # Narrow the scopes and shorten the token lifetime
  writ client update billing --scope "orders:read" --access-token-ttl 5m

  # Replace the redirect URIs
  writ client update dashboard --redirect-uri https://dashboard.example.com/cb \
    --redirect-uri http://127.0.0.1:8400/cb

  # Move to private_key_jwt (the secret is dropped)
  writ client update batch --auth-method private_key_jwt --jwks @batch-jwks.json

  # Clear the allowed audiences
  writ client update billing --audience ""`,
		Args: maxArgs(1, "the client_id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runClientUpdate(cmd.Context(), cmd, s, af, f, args)
		},
	}
	f.register(cmd.Flags(), true)
	return cmd
}

func runClientUpdate(ctx context.Context, cmd *cobra.Command, s *streams, af *adminFlags, f *clientFlags, args []string) error {
	if err := af.check(); err != nil {
		return err
	}
	id, err := clientIDArg(cmd, args, f.id)
	if err != nil {
		return err
	}
	body, err := f.body(ctx, cmd, s)
	if err != nil {
		return err
	}
	if len(body) == 0 {
		return usagef("nothing to change: give at least one flag such as --name, --scope or --redirect-uri")
	}
	data, err := af.call(ctx, s, "PATCH", clientPath(id), body)
	if err != nil {
		return err
	}
	return printClient(s, af, data)
}

// newClientDeleteCmd builds "writ client delete".
func newClientDeleteCmd(s *streams, af *adminFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "delete CLIENT_ID",
		Short: "Delete a client and its opaque tokens",
		Long: `Delete a client registration at once, without asking. Its opaque tokens are
deleted with it; JWT access tokens it holds stay valid until they expire.

` + clientAdminHelp,
		Example: `  writ client delete billing`,
		Args:    maxArgs(1, "the client_id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := af.resolve(cmd, args, clientArg)
			if err != nil {
				return err
			}
			if _, err := af.call(cmd.Context(), s, "DELETE", clientPath(id), nil); err != nil {
				return err
			}
			return printDone(s, af, map[string]any{"client_id": id, "deleted": true}, "deleted client %s", tableCell(id))
		},
	}
}

// newClientRotateSecretCmd builds "writ client rotate-secret".
func newClientRotateSecretCmd(s *streams, af *adminFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "rotate-secret CLIENT_ID",
		Short: "Replace a client's secret and print the new one once",
		Long: `Issue a new secret for a client that authenticates with client_secret_basic
or client_secret_post. The old secret stops working at once (within the
client cache lifetime of other nodes, 5 seconds by default); the new one is
printed exactly once.

` + clientAdminHelp,
		Example: `  writ client rotate-secret billing

  # Capture the new secret in a script
  writ client rotate-secret billing -o json | jq -r .client_secret`,
		Args: maxArgs(1, "the client_id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := af.resolve(cmd, args, clientArg)
			if err != nil {
				return err
			}
			data, err := af.call(cmd.Context(), s, "POST", clientPath(id)+"/rotate-secret", nil)
			if err != nil {
				return err
			}
			return printClient(s, af, data)
		},
	}
}

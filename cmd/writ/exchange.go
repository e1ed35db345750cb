package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/writ-dev/writ/internal/delegation"
	"github.com/writ-dev/writ/jose"
)

// Token exchange (RFC 8693) identifiers.
const (
	grantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	tokenTypePrefix    = "urn:ietf:params:oauth:token-type:"
	exchangeTimeout    = 30 * time.Second
	// maxExchangeResponse bounds the token endpoint's answer.
	maxExchangeResponse = 64 << 10
	// envClientSecret holds the client secret when no flag gives it.
	envClientSecret = "WRIT_CLIENT_SECRET"
)

type tokenExchangeOptions struct {
	issuer, tokenEndpoint      string
	clientID, clientSecretFile string
	subject, subjectType       string
	actor, actorType           string
	requestedType, scope       string
	audiences, resources       []string
	impersonate                bool
	output                     string
	maxSize                    int
}

// newTokenExchangeCmd builds "writ token exchange".
func newTokenExchangeCmd(s *streams) *cobra.Command {
	o := &tokenExchangeOptions{}
	cmd := &cobra.Command{
		Use:   "exchange --client-id ID --subject-token @FILE|@-|TOKEN [flags]",
		Short: "Exchange a token at the token endpoint (RFC 8693) and show its act chain",
		Long: `Send a token exchange request (RFC 8693) and print the new token.

The client authenticates with client_secret_basic: --client-id and the
secret from --client-secret-file or the ` + envClientSecret + ` environment
variable. --subject-token and --actor-token are @FILE, @- for standard
input, or the token itself; token types are access_token (the default),
id_token, jwt, or a full urn:ietf:params:oauth:token-type: URN.

The output is the new token on the first line, then its issued_token_type,
token_type, expires_in and scope, and its act chain, outermost (the party
acting now) first, as read from the token without verifying it; -o json
prints the token endpoint's answer with the chain added as "act_chain".
An error answer exits 1 with "writ: token exchange refused: <error>:
<description>".`,
		Example: `  # Service A exchanges a user's token for service B
  WRIT_CLIENT_SECRET=... writ token exchange --issuer http://127.0.0.1:8080 \
    --client-id service-a --subject-token @user-token.jwt --audience https://b.example.com

  # An agent acts on A's token, with its own token as the actor token
  writ token exchange --client-id agent --client-secret-file agent.secret \
    --subject-token @- --actor-token @agent.jwt --resource https://c.example.com < a-token.jwt`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runTokenExchange(cmd.Context(), s, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.issuer, "issuer", "http://127.0.0.1:8080", "the writ `URL` (the token endpoint is URL/oauth2/token)")
	f.StringVar(&o.tokenEndpoint, "token-endpoint", "", "the token endpoint `URL`, instead of the issuer's")
	f.StringVar(&o.clientID, "client-id", "", "required: the exchanging client's `ID`")
	f.StringVar(&o.clientSecretFile, "client-secret-file", "", "read the client secret from `FILE` (else $"+envClientSecret+")")
	f.StringVar(&o.subject, "subject-token", "", "required: the subject token: `@FILE`, @- for standard input, or the token")
	f.StringVar(&o.subjectType, "subject-token-type", "access_token", "the subject token's `TYPE`: access_token, id_token, jwt or a URN")
	f.StringVar(&o.actor, "actor-token", "", "the actor token: `@FILE`, @- or the token")
	f.StringVar(&o.actorType, "actor-token-type", "access_token", "the actor token's `TYPE`")
	f.StringVar(&o.requestedType, "requested-token-type", "", "the `TYPE` asked for: access_token (the server's default), jwt, id-jag or a URN")
	f.StringArrayVar(&o.audiences, "audience", nil, "a target `AUDIENCE` (repeatable)")
	f.StringArrayVar(&o.resources, "resource", nil, "a target resource `URI` (RFC 8707, repeatable)")
	f.StringVar(&o.scope, "scope", "", "space-separated `SCOPES`, at most the subject token's")
	f.BoolVar(&o.impersonate, "impersonate", false, "ask for a token without act (writ's impersonate=true; the client's policy must allow it)")
	f.StringVarP(&o.output, "output", "o", "text", "output `FORMAT`: text or json")
	f.IntVar(&o.maxSize, "max-size", jose.DefaultMaxSize, "read tokens of at most `N` bytes")
	return cmd
}

// tokenTypeURN expands a short token type name.
func tokenTypeURN(flag, v string) (string, error) {
	switch v {
	case "access_token", "id_token", "jwt", "id-jag", "refresh_token":
		return tokenTypePrefix + v, nil
	}
	if strings.HasPrefix(v, "urn:") {
		return v, nil
	}
	return "", usagef("--%s %q: use access_token, id_token, jwt, id-jag or a urn:ietf:params:oauth:token-type: URN", flag, truncate(v, 40))
}

// readTokenArg reads a token flag: @FILE, @- (standard input) or the token.
func readTokenArg(ctx context.Context, s *streams, flag, v string, maxSize int) (string, error) {
	switch {
	case v == "@-":
		tok, err := readToken(ctx, s, nil, maxSize)
		if err != nil {
			return "", fmt.Errorf("--%s: %w", flag, err)
		}
		return tok, nil
	case strings.HasPrefix(v, "@"):
		data, err := readFileLimited(v[1:], int64(maxSize+tokenWhitespaceSlack), "--"+flag+" file")
		if err != nil {
			return "", err
		}
		return strings.TrimSpace(string(data)), nil
	}
	return strings.TrimSpace(v), nil
}

// exchangeAnswer is a token exchange response (RFC 8693 §2.2.1) or error.
type exchangeAnswer struct {
	AccessToken      string `json:"access_token"`
	IssuedTokenType  string `json:"issued_token_type"`
	TokenType        string `json:"token_type"`
	ExpiresIn        int64  `json:"expires_in"`
	Scope            string `json:"scope"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

func runTokenExchange(ctx context.Context, s *streams, o *tokenExchangeOptions) error {
	if o.clientID == "" {
		return usagef("--client-id is required")
	}
	if o.subject == "" {
		return usagef("--subject-token is required")
	}
	if o.subject == "@-" && o.actor == "@-" {
		return usagef("only one of --subject-token and --actor-token may read standard input")
	}
	if o.output != "text" && o.output != "json" {
		return usagef("--output %q: use text or json", truncate(o.output, 16))
	}
	endpoint := o.tokenEndpoint
	if endpoint == "" {
		endpoint = strings.TrimSuffix(o.issuer, "/") + "/oauth2/token"
	}
	if u, err := url.Parse(endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usagef("the token endpoint %q is not an http(s) URL", truncate(endpoint, 80))
	}
	secret := os.Getenv(envClientSecret)
	if o.clientSecretFile != "" {
		data, err := readFileLimited(o.clientSecretFile, 4<<10, "client secret file")
		if err != nil {
			return err
		}
		secret = strings.TrimSpace(string(data))
	}
	if secret == "" {
		return usagef("no client secret: use --client-secret-file or $%s", envClientSecret)
	}
	form := url.Values{"grant_type": {grantTokenExchange}}
	subject, err := readTokenArg(ctx, s, "subject-token", o.subject, o.maxSize)
	if err != nil {
		return err
	}
	form.Set("subject_token", subject)
	if form["subject_token_type"], err = oneURN("subject-token-type", o.subjectType); err != nil {
		return err
	}
	if o.actor != "" {
		actor, err := readTokenArg(ctx, s, "actor-token", o.actor, o.maxSize)
		if err != nil {
			return err
		}
		form.Set("actor_token", actor)
		if form["actor_token_type"], err = oneURN("actor-token-type", o.actorType); err != nil {
			return err
		}
	}
	if o.requestedType != "" {
		if form["requested_token_type"], err = oneURN("requested-token-type", o.requestedType); err != nil {
			return err
		}
	}
	if len(o.audiences) > 0 {
		form["audience"] = o.audiences
	}
	if len(o.resources) > 0 {
		form["resource"] = o.resources
	}
	if o.scope != "" {
		form.Set("scope", o.scope)
	}
	if o.impersonate {
		form.Set("impersonate", "true")
	}

	ans, raw, err := postExchange(ctx, endpoint, o.clientID, secret, form)
	if err != nil {
		return err
	}
	chain, chainErr := actChainOf(ans.AccessToken)
	if o.output == "json" {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			return fmt.Errorf("the token endpoint's answer is not a JSON object: %w", err)
		}
		if chain != nil {
			b, _ := json.Marshal(chain)
			m["act_chain"] = b
		}
		return writeJSON(s.out, m)
	}
	fmt.Fprintln(s.out, ans.AccessToken)
	fmt.Fprintf(s.out, "issued_token_type: %s\ntoken_type: %s\nexpires_in: %d\n", ans.IssuedTokenType, ans.TokenType, ans.ExpiresIn)
	if ans.Scope != "" {
		fmt.Fprintf(s.out, "scope: %s\n", ans.Scope)
	}
	switch {
	case chainErr != nil:
		fmt.Fprintf(s.out, "act: (unreadable: %v)\n", chainErr)
	case len(chain) == 0:
		fmt.Fprintln(s.out, "act: none")
	default:
		parts := make([]string, len(chain))
		for i, a := range chain {
			parts[i] = a.Subject
			if a.Issuer != "" {
				parts[i] += " (" + a.Issuer + ")"
			}
		}
		fmt.Fprintf(s.out, "act: %s\n", strings.Join(parts, " → "))
	}
	return nil
}

// oneURN expands a token type flag into a one-value form field.
func oneURN(flag, v string) ([]string, error) {
	u, err := tokenTypeURN(flag, v)
	if err != nil {
		return nil, err
	}
	return []string{u}, nil
}

// postExchange sends the request and returns the decoded success answer
// and its raw JSON; an OAuth error answer is a rejection (exit 1).
func postExchange(ctx context.Context, endpoint, id, secret string, form url.Values) (*exchangeAnswer, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, exchangeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, nil, fmt.Errorf("token exchange: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "writ/"+buildVersion())
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	client := &http.Client{Timeout: exchangeTimeout, CheckRedirect: func(*http.Request, []*http.Request) error {
		return errors.New("the token endpoint redirected")
	}}
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("token exchange: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxExchangeResponse+1))
	if err != nil {
		return nil, nil, fmt.Errorf("token exchange: read the answer: %w", err)
	}
	if len(raw) > maxExchangeResponse {
		return nil, nil, fmt.Errorf("token exchange: the answer is larger than %d bytes", maxExchangeResponse)
	}
	var ans exchangeAnswer
	if err := json.Unmarshal(raw, &ans); err != nil {
		return nil, nil, fmt.Errorf("token exchange: the token endpoint answered %s with no JSON", resp.Status)
	}
	if resp.StatusCode != http.StatusOK || ans.Error != "" {
		return nil, nil, &verdictError{prefix: "token exchange refused", err: fmt.Errorf("%s: %s", truncate(ans.Error, 64), truncate(ans.ErrorDescription, 200))}
	}
	if ans.AccessToken == "" {
		return nil, nil, errors.New("token exchange: the answer has no access_token")
	}
	return &ans, raw, nil
}

// actChainOf reads the act chain of a compact JWT without verifying it;
// an opaque token has none to read.
func actChainOf(tok string) (delegation.Chain, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, nil
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, err
	}
	var claims struct {
		Act json.RawMessage `json:"act"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil, err
	}
	return delegation.ParseAct(claims.Act, 0)
}

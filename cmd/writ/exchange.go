package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/writ-dev/writ/internal/strictjson"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/rs/dpop"
)

// Bounds of "writ token exchange".
const (
	// maxExchangeInput bounds a subject or actor token read from a file or
	// standard input.
	maxExchangeInput = 64 << 10
	// maxExchangeResponse bounds the token endpoint's answer.
	maxExchangeResponse = 1 << 20
	// exchangeTimeout bounds the whole token request.
	exchangeTimeout = 30 * time.Second
	// maxActDepth bounds how deep the printed act chain is followed.
	maxActDepth = 32
)

// grantTokenExchange is the RFC 8693 grant type.
const grantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"

// tokenTypePrefix is the prefix of the RFC 8693 §3 token type URIs; the
// short names of --*-token-type are what follows it.
const tokenTypePrefix = "urn:ietf:params:oauth:token-type:"

// shortTokenTypes are the token types the flags take by their short name.
var shortTokenTypes = []string{"access_token", "refresh_token", "id_token", "jwt", "id-jag", "saml1", "saml2"}

// exchangeFlags are the flags of "writ token exchange".
type exchangeFlags struct {
	url           string
	tokenEndpoint string
	clientID      string
	secret        string
	subjectFile   string
	subjectType   string
	actorFile     string
	actorType     string
	audiences     []string
	resources     []string
	scope         string
	requestedType string
	dpopKey       string
	decode        bool
	jsonOut       bool
	quiet         bool
}

// newTokenExchangeCmd builds "writ token exchange".
func newTokenExchangeCmd(s *streams) *cobra.Command {
	var f exchangeFlags
	cmd := &cobra.Command{
		Use:   "exchange",
		Short: "Exchange a token for another at a token endpoint (RFC 8693)",
		Long: `Ask an authorization server's token endpoint for a new token in exchange for
a subject token (and optionally an actor token): the token exchange grant,
RFC 8693. The client authenticates with its id and secret (HTTP Basic), or
with its id alone when it has no secret.

The subject token comes from --subject-token-file, the actor token from
--actor-token-file; either may be "-" for standard input (not both). Token
types are the RFC 8693 URIs or their short names: access_token (the
default), refresh_token, id_token, jwt, id-jag.

Standard output holds the new token alone, so that TOKEN=$(writ token
exchange ...) works. Standard error describes it: issued_token_type,
token_type, expires_in, scope and, when the token is a JWT, its sub, aud
and act chain (RFC 8693 §4.1: the current actor first, each earlier actor
indented below the one that acted for it), decoded WITHOUT verification.
--decode adds every claim; --quiet prints nothing there. With --json,
standard output is one JSON object instead: the token endpoint's response
plus "claims" and "act_chain" (a list, current actor first) when the token
is a JWT.

With --dpop-key the request carries a DPoP proof (RFC 9449) signed by that
key, as a DPoP-bound subject or actor token requires (a proof by the key it
is bound to); the new token is then bound to the key too. A server that
asks for a nonce (use_dpop_nonce) gets one retry with it.

Exit status: 0 on success, 1 when the server refused the exchange (its
OAuth error and description are printed), 2 for anything else.`,
		Example: `  # A service exchanges the user's token it received for one to call the next service
  WRIT_CLIENT_SECRET=... writ token exchange --client-id service-a \
    --subject-token-file user.jwt --audience https://b.example.com > b.jwt

  # An agent acts for the user: its own token is the actor token
  writ token exchange --client-id agent --subject-token-file user.jwt \
    --actor-token-file agent.jwt --resource https://mcp.example.com/mcp --scope tools:read

  # The subject token from standard input, machine-readable output
  printf %s "$TOKEN" | writ token exchange --client-id svc --subject-token-file - --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runTokenExchange(cmd.Context(), s, &f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.url, "url", "http://127.0.0.1:8080", "base URL of the writ server (its issuer); the token endpoint is URL/oauth2/token")
	fl.StringVar(&f.tokenEndpoint, "token-endpoint", "", "the token endpoint's `URL` itself, for another authorization server (instead of --url)")
	fl.StringVar(&f.clientID, "client-id", "", "client_id of the client that exchanges (required)")
	fl.StringVar(&f.secret, "client-secret", "", "its secret (or set WRIT_CLIENT_SECRET, which keeps it out of the process list); none for a public client")
	fl.StringVar(&f.subjectFile, "subject-token-file", "", "`FILE` holding the subject token, or - for standard input (required)")
	fl.StringVar(&f.subjectType, "subject-token-type", "access_token", "type of the subject token: a token type URI or its short name")
	fl.StringVar(&f.actorFile, "actor-token-file", "", "`FILE` holding the actor token, or - for standard input")
	fl.StringVar(&f.actorType, "actor-token-type", "", "type of the actor token (default access_token when --actor-token-file is given)")
	fl.StringArrayVar(&f.audiences, "audience", nil, "logical name of the target service (repeatable)")
	fl.StringArrayVar(&f.resources, "resource", nil, "`URI` of the target resource, RFC 8707 (repeatable)")
	fl.StringVar(&f.scope, "scope", "", "space-separated scopes to ask for (default: what the server grants)")
	fl.StringVar(&f.requestedType, "requested-token-type", "", "type of token to ask for: a token type URI or its short name (default: the server's choice)")
	fl.StringVar(&f.dpopKey, "dpop-key", "", "private key `FILE` (JWK or PEM, e.g. from 'writ key generate --out') to sign a DPoP proof with (RFC 9449): needed for a DPoP-bound subject or actor token, and binds the new token to the key")
	fl.BoolVar(&f.decode, "decode", false, "also print every claim of the new token (decoded, NOT verified)")
	fl.BoolVar(&f.jsonOut, "json", false, "print one JSON object on standard output instead")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "print only the token (nothing on standard error)")
	return cmd
}

// tokenTypeURI turns a short token type name into its URI, and checks
// that a URI is one.
func tokenTypeURI(flag, v string) (string, error) {
	for _, short := range shortTokenTypes {
		if v == short {
			return tokenTypePrefix + short, nil
		}
	}
	if u, err := url.Parse(v); err == nil && u.Scheme != "" && len(v) <= 512 && !strings.ContainsAny(v, " \t\r\n") {
		return v, nil
	}
	return "", usagef("--%s %q: use a token type URI or one of %s", flag, truncate(v, 40), strings.Join(shortTokenTypes, ", "))
}

// endpoint returns the token endpoint, refusing plain http to anything but
// a loopback address: the request carries the client's secret and tokens.
func (f *exchangeFlags) endpoint() (string, error) {
	raw := f.tokenEndpoint
	if raw == "" {
		raw = strings.TrimSuffix(f.url, "/") + "/oauth2/token"
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.User != nil || u.Fragment != "" {
		return "", usagef("%q is not an http(s) URL of a token endpoint", truncate(raw, 80))
	}
	if u.Scheme == "http" && !loopbackHost(u.Hostname()) {
		return "", usagef("%s: plain http is accepted only on a loopback address; use https", truncate(raw, 80))
	}
	return raw, nil
}

// loopbackHost reports whether host is localhost or a loopback IP.
func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// readExchangeToken reads a token from path ("-": standard input), bounded
// and trimmed.
func readExchangeToken(ctx context.Context, s *streams, path, what string) (string, error) {
	var data []byte
	if path == "-" {
		if isTerminal(s.in) {
			return "", usagef("the %s is to come from standard input, which is a terminal", what)
		}
		b, tooLarge, err := readAllContext(ctx, s.in, maxExchangeInput)
		switch {
		case err != nil:
			return "", fmt.Errorf("cannot read the %s from standard input: %w", what, err)
		case tooLarge:
			return "", usagef("the %s on standard input is larger than %d bytes", what, maxExchangeInput)
		}
		data = b
	} else {
		b, err := readFileLimited(path, maxExchangeInput, what+" file")
		if err != nil {
			return "", &usageError{err: err}
		}
		data = b
	}
	tok := strings.TrimSpace(string(data))
	if tok == "" {
		return "", usagef("the %s is empty", what)
	}
	if strings.ContainsAny(tok, " \t\r\n") {
		return "", usagef("the %s holds white space inside; give one token", what)
	}
	return tok, nil
}

// form builds the token request (RFC 8693 §2.1).
func (f *exchangeFlags) form(ctx context.Context, s *streams) (url.Values, error) {
	if f.clientID == "" {
		return nil, usagef("--client-id is required")
	}
	if f.subjectFile == "" {
		return nil, usagef("--subject-token-file is required (a file, or - for standard input)")
	}
	if f.actorFile == "-" && f.subjectFile == "-" {
		return nil, usagef("only one of --subject-token-file and --actor-token-file can be standard input")
	}
	if f.actorType != "" && f.actorFile == "" {
		return nil, usagef("--actor-token-type needs --actor-token-file")
	}
	subjectType, err := tokenTypeURI("subject-token-type", f.subjectType)
	if err != nil {
		return nil, err
	}
	form := url.Values{"grant_type": {grantTokenExchange}, "subject_token_type": {subjectType}}
	if f.actorFile != "" {
		at := f.actorType
		if at == "" {
			at = "access_token"
		}
		actorType, err := tokenTypeURI("actor-token-type", at)
		if err != nil {
			return nil, err
		}
		form.Set("actor_token_type", actorType)
	}
	if f.requestedType != "" {
		rt, err := tokenTypeURI("requested-token-type", f.requestedType)
		if err != nil {
			return nil, err
		}
		form.Set("requested_token_type", rt)
	}
	for _, r := range f.resources {
		if u, err := url.Parse(r); err != nil || !u.IsAbs() || strings.Contains(r, "#") {
			return nil, usagef("--resource %q must be an absolute URI without a fragment (RFC 8707)", truncate(r, 80))
		}
		form.Add("resource", r)
	}
	for _, a := range f.audiences {
		if a == "" {
			return nil, usagef("--audience must not be empty")
		}
		form.Add("audience", a)
	}
	if f.scope != "" {
		form.Set("scope", f.scope)
	}
	subject, err := readExchangeToken(ctx, s, f.subjectFile, "subject token")
	if err != nil {
		return nil, err
	}
	form.Set("subject_token", subject)
	if f.actorFile != "" {
		actor, err := readExchangeToken(ctx, s, f.actorFile, "actor token")
		if err != nil {
			return nil, err
		}
		form.Set("actor_token", actor)
	}
	return form, nil
}

// exchangeResponse is a successful token exchange response (RFC 8693
// §2.2.1).
type exchangeResponse struct {
	AccessToken     string `json:"access_token"`
	IssuedTokenType string `json:"issued_token_type"`
	TokenType       string `json:"token_type"`
	ExpiresIn       int64  `json:"expires_in,omitempty"`
	Scope           string `json:"scope,omitempty"`
	RefreshToken    string `json:"refresh_token,omitempty"`
}

// exchangeRefused is the server's refusal (RFC 8693 §2.2.2, RFC 6749 §5.2).
type exchangeRefused struct {
	Code        string `json:"error"`
	Description string `json:"error_description"`
}

func (e *exchangeRefused) Error() string {
	if e.Description == "" {
		return e.Code
	}
	return e.Code + ": " + e.Description
}

// refusedExchange marks a refusal by the server: exit status 1.
func refusedExchange(err error) error { return &verdictError{prefix: "exchange refused", err: err} }

// runTokenExchange implements "writ token exchange".
func runTokenExchange(ctx context.Context, s *streams, f *exchangeFlags) error {
	endpoint, err := f.endpoint()
	if err != nil {
		return err
	}
	if f.secret == "" {
		f.secret = os.Getenv("WRIT_CLIENT_SECRET")
	}
	form, err := f.form(ctx, s)
	if err != nil {
		return err
	}
	if f.secret == "" {
		form.Set("client_id", f.clientID) // a public client (RFC 6749 §2.3)
	}
	var dpopKey *jose.Key
	if f.dpopKey != "" {
		if dpopKey, err = loadSigningKey(f.dpopKey, "", ""); err != nil {
			return &usageError{err: fmt.Errorf("--dpop-key: %w", err)}
		}
		if dpopKey.IsSymmetric() {
			return usagef("--dpop-key: a DPoP proof is signed with an asymmetric key, not %s", dpopKey.Algorithm())
		}
	}
	ctx, cancel := context.WithTimeout(ctx, exchangeTimeout)
	defer cancel()
	resp, body, err := f.post(ctx, endpoint, form, dpopKey, "")
	if err == nil && dpopKey != nil && resp.StatusCode == http.StatusBadRequest && resp.Header.Get("DPoP-Nonce") != "" {
		// RFC 9449 §8: the server wants its nonce in the proof; once.
		var refusal exchangeRefused
		if json.Unmarshal(body, &refusal) == nil && refusal.Code == "use_dpop_nonce" {
			resp, body, err = f.post(ctx, endpoint, form, dpopKey, resp.Header.Get("DPoP-Nonce"))
		}
	}
	if err != nil {
		return err
	}
	isJSON := false
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err == nil && mt == "application/json" {
		isJSON = true
	}
	if resp.StatusCode != http.StatusOK {
		var refusal exchangeRefused
		if isJSON && json.Unmarshal(body, &refusal) == nil && refusal.Code != "" {
			return refusedExchange(&refusal)
		}
		return fmt.Errorf("the token endpoint answered %s", resp.Status)
	}
	if !isJSON {
		return fmt.Errorf("the token endpoint answered %s with %q, not JSON", resp.Status, truncate(resp.Header.Get("Content-Type"), 40))
	}
	if _, err := strictjson.ParseObject(string(body), jose.DefaultMaxDepth, nil); err != nil {
		return fmt.Errorf("the token response is not a JSON object: %w", err)
	}
	var out exchangeResponse
	if err := json.Unmarshal(body, &out); err != nil || out.AccessToken == "" || out.IssuedTokenType == "" {
		return errors.New("the token response has no access_token or no issued_token_type (RFC 8693 §2.2.1)")
	}
	if !tokenChars(out.AccessToken) || !tokenChars(out.RefreshToken) {
		// RFC 6749 Appendix A.12: a token is visible ASCII; anything else
		// would reach the terminal or a script as it is.
		return errors.New("the token response holds a token with characters a token cannot have")
	}
	return printExchange(s, f, body, &out)
}

// post sends the token request, with a DPoP proof when key is set, and
// returns the response with its body read (bounded).
func (f *exchangeFlags) post(ctx context.Context, endpoint string, form url.Values, key *jose.Key, nonce string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, nil, fmt.Errorf("token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if f.secret != "" {
		// RFC 6749 §2.3.1: the credentials are form-urlencoded first.
		req.SetBasicAuth(url.QueryEscape(f.clientID), url.QueryEscape(f.secret))
	}
	if key != nil {
		proof, err := dpop.NewProof(key, http.MethodPost, endpoint, "", nonce, time.Now())
		if err != nil {
			return nil, nil, fmt.Errorf("DPoP proof: %w", err)
		}
		req.Header.Set("DPoP", proof)
	}
	client := &http.Client{
		// A token endpoint answers; it never redirects (a redirect would
		// resend the credentials elsewhere).
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("token request to %s: %w", endpoint, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxExchangeResponse+1))
	if err != nil {
		return nil, nil, fmt.Errorf("read the token response: %w", err)
	}
	if len(body) > maxExchangeResponse {
		return nil, nil, fmt.Errorf("the token response is larger than %d bytes", maxExchangeResponse)
	}
	return resp, body, nil
}

// actLink is one actor of an act chain (RFC 8693 §4.1): its claims but
// the nested act.
type actLink map[string]json.RawMessage

// decodedJWT returns the claims of tok when it is a JWT, decoded without
// verification, or nil.
func decodedJWT(tok string) map[string]json.RawMessage {
	jws, err := jose.ParseCompact(tok, maxExchangeInput)
	if err != nil {
		return nil
	}
	if _, err := strictjson.ParseObject(jws.Payload(), jose.DefaultMaxDepth, nil); err != nil {
		return nil
	}
	var claims map[string]json.RawMessage
	if json.Unmarshal([]byte(jws.Payload()), &claims) != nil {
		return nil
	}
	return claims
}

// actChain flattens the act claim: the current actor first, then the one
// it acted for, and so on. A malformed link ends the chain.
func actChain(claims map[string]json.RawMessage) []actLink {
	var chain []actLink
	raw, ok := claims["act"]
	for ok && len(chain) < maxActDepth {
		var link actLink
		if json.Unmarshal(raw, &link) != nil || link == nil {
			break
		}
		raw, ok = link["act"]
		delete(link, "act")
		chain = append(chain, link)
	}
	return chain
}

// printExchange writes the result: the token on standard output and its
// description on standard error, or one JSON object.
func printExchange(s *streams, f *exchangeFlags, body []byte, out *exchangeResponse) error {
	claims := decodedJWT(out.AccessToken)
	chain := actChain(claims)
	if f.jsonOut {
		var doc map[string]json.RawMessage
		if err := json.Unmarshal(body, &doc); err != nil {
			return fmt.Errorf("the token response: %w", err)
		}
		if claims != nil {
			c, _ := json.Marshal(claims)
			doc["claims"] = c
			if chain == nil {
				chain = []actLink{}
			}
			a, _ := json.Marshal(chain)
			doc["act_chain"] = a
		}
		return writeJSON(s.out, doc)
	}
	if _, err := fmt.Fprintln(s.out, out.AccessToken); err != nil {
		return fmt.Errorf("cannot write the token: %w", err)
	}
	if f.quiet {
		return nil
	}
	w := s.err
	fmt.Fprintf(w, "issued_token_type: %s\n", safeText(out.IssuedTokenType))
	line := "token_type: " + safeText(out.TokenType)
	if out.ExpiresIn > 0 {
		line += fmt.Sprintf("  expires_in: %d", out.ExpiresIn)
	}
	if out.Scope != "" {
		line += "  scope: " + safeText(out.Scope)
	}
	fmt.Fprintln(w, line)
	if out.RefreshToken != "" {
		fmt.Fprintln(w, "refresh_token: (issued; use --json to see it)")
	}
	if claims == nil {
		fmt.Fprintln(w, "(not a JWT: nothing to decode)")
		return nil
	}
	fmt.Fprintln(w, "decoded, NOT verified:")
	fmt.Fprintf(w, "  sub: %s  aud: %s\n", claimText(claims["sub"]), claimText(claims["aud"]))
	if len(chain) == 0 {
		fmt.Fprintln(w, "  act: none (no actor: the token is the subject's own, or an impersonation)")
	} else {
		fmt.Fprintln(w, "  act (current actor first):")
		for i, link := range chain {
			fmt.Fprintf(w, "%s%s\n", strings.Repeat("  ", i+2), linkText(link))
		}
	}
	if f.decode {
		c, err := json.Marshal(claims)
		if err == nil {
			c, err = indentJSON(c)
		}
		if err != nil {
			return fmt.Errorf("the token's claims: %w", err)
		}
		fmt.Fprint(w, "  claims: ", string(bytes.ReplaceAll(c, []byte("\n"), []byte("\n  "))))
		fmt.Fprintln(w)
	}
	return nil
}

// linkText is one actor on one line: sub first, then its other claims by
// name.
func linkText(link actLink) string {
	parts := []string{"sub: " + claimText(link["sub"])}
	names := make([]string, 0, len(link))
	for k := range link {
		if k != "sub" {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	for _, k := range names {
		parts = append(parts, safeText(k)+": "+claimText(link[k]))
	}
	return strings.Join(parts, "  ")
}

// claimText shows a claim value on one line: a string as itself, anything
// else as compact JSON, absent as "-"; never a control character.
func claimText(raw json.RawMessage) string {
	if raw == nil {
		return "-"
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return safeText(s)
	}
	var buf bytes.Buffer
	if json.Compact(&buf, raw) == nil {
		return safeText(buf.String())
	}
	return "?"
}

// tokenChars reports whether s is empty or visible ASCII only (no space,
// no control character).
func tokenChars(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// safeText bounds s and replaces control characters, so that a token's
// content cannot drive the terminal.
func safeText(s string) string {
	return truncate(oneLine(s), 200)
}

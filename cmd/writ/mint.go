package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/writ-dev/writ/internal/strictjson"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
)

// maxClaimsSize bounds the claims document given to "writ token mint".
const maxClaimsSize = 64 << 10

// tokenMintOptions are the flags of "writ token mint".
type tokenMintOptions struct {
	keyFile   string
	alg       string
	kid       string
	claims    string
	ttl       time.Duration
	noExp     bool
	typ       string
	issuer    string
	audiences []string
	subject   string
}

// newTokenMintCmd builds "writ token mint".
func newTokenMintCmd(s *streams) *cobra.Command {
	o := &tokenMintOptions{}
	cmd := &cobra.Command{
		Use:   "mint --key FILE [--claims JSON|@FILE|-] [--ttl 10m] [--type at+jwt]",
		Short: "Sign claims with a private key and print the token",
		Long: `Sign a set of claims with a private key and print the compact token
followed by a newline.

The key is a private JWK (as written by "writ key generate --out") or a PEM
private key (PKCS#8, or the legacy EC/RSA forms). A PEM file does not name
an algorithm: EC and Ed25519 keys imply theirs, RSA keys need --alg.

Claims come from --claims: a JSON object given inline, @FILE to read a file,
or - to read standard input. Then:
  - iat is set to the current time unless the claims have it;
  - exp is set to now + --ttl (default 10m) unless the claims have it;
    a token without exp needs --no-exp;
  - jti is set to a random 128-bit value (base64url) unless the claims
    have it;
  - --issuer, --audience and --subject replace iss, aud and sub.

The header carries the key's kid (override with --kid) and typ from --type
(default at+jwt, the RFC 9068 access token type; --type "" leaves it out).`,
		Example: `  # Access token for user-123, valid 10 minutes
  writ token mint --key key.json --issuer https://id.example.com \
    --audience https://api.example.com --subject user-123

  # Custom claims inline, valid one hour
  writ token mint --key key.json --ttl 1h \
    --claims '{"iss":"https://id.example.com","aud":"https://api.example.com","sub":"svc-billing","scope":"orders:read"}'

  # Claims from a file, ID token type
  writ token mint --key key.json --claims @claims.json --type JWT

  # Claims from standard input
  echo '{"sub":"user-123","scope":"orders:read"}' | writ token mint --key key.json \
    --claims - --issuer https://id.example.com --audience https://api.example.com

  # RSA key in PEM form
  writ token mint --key rsa.pem --alg RS256 --issuer https://id.example.com \
    --audience https://api.example.com --subject user-123`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runTokenMint(cmd.Context(), cmd, s, o)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.keyFile, "key", "k", "", "private key `FILE`: a JWK, or PEM (then RSA keys need --alg)")
	f.StringVar(&o.alg, "alg", "", "bind a PEM key to `ALG` (RS256, PS256, ...); with a JWK it must match the key's alg")
	f.StringVar(&o.kid, "kid", "", "put `KID` in the header instead of the key's kid")
	f.StringVarP(&o.claims, "claims", "c", "", "claims: a `JSON` object, @FILE to read a file, or - for standard input")
	f.DurationVar(&o.ttl, "ttl", 10*time.Minute, "lifetime `DURATION`: exp = now + DURATION, unless the claims have exp")
	f.BoolVar(&o.noExp, "no-exp", false, "mint a token without exp (verifiers reject it unless told otherwise)")
	f.StringVar(&o.typ, "type", jwt.TypeAccessToken, "set the typ header to `TYP` (\"\" leaves it out)")
	f.StringVar(&o.issuer, "issuer", "", "set the iss claim to `ISS`")
	f.StringArrayVar(&o.audiences, "audience", nil, "set the aud claim to `AUD`; repeat for several audiences")
	f.StringVar(&o.subject, "subject", "", "set the sub claim to `SUB`")
	return cmd
}

// validate checks flags that do not need any file.
func (o *tokenMintOptions) validate(cmd *cobra.Command) error {
	flags := cmd.Flags()
	if o.keyFile == "" {
		return usagef("--key is required: the private key file, for example one written by 'writ key generate --out key.json'")
	}
	if o.ttl < 0 {
		return usagef("--ttl %s is negative; to mint an already expired token for a test, put exp in --claims", o.ttl)
	}
	if o.noExp && flags.Changed("ttl") && o.ttl != 0 {
		return usagef("--no-exp and --ttl %s contradict each other: drop one", o.ttl)
	}
	if o.ttl == 0 && !o.noExp {
		return usagef("--ttl 0 would mint a token that never expires; pass --no-exp as well if that is what you want")
	}
	if o.ttl%time.Second != 0 {
		return usagef("--ttl %s: exp has a resolution of one second; use whole seconds", o.ttl)
	}
	if flags.Changed("kid") {
		if err := checkKeyID(o.kid); err != nil {
			return err
		}
	}
	for _, v := range []struct{ name, value string }{{"type", o.typ}, {"issuer", o.issuer}, {"subject", o.subject}} {
		if strings.ContainsFunc(v.value, isControl) {
			return usagef("--%s must not contain control characters", v.name)
		}
		if flags.Changed(v.name) && v.value == "" && v.name != "type" {
			return usagef("--%s must not be empty", v.name)
		}
	}
	for _, a := range o.audiences {
		if a == "" || strings.ContainsFunc(a, isControl) {
			return usagef("--audience must be non-empty text without control characters")
		}
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// runTokenMint implements "writ token mint".
func runTokenMint(ctx context.Context, cmd *cobra.Command, s *streams, o *tokenMintOptions) error {
	if err := o.validate(cmd); err != nil {
		return err
	}
	var alg jose.Algorithm
	if o.alg != "" {
		var err error
		if alg, err = parseSignatureAlg("alg", o.alg); err != nil {
			return err
		}
	}
	key, err := loadSigningKey(o.keyFile, alg, o.kid)
	if err != nil {
		return err
	}
	raw, err := readClaims(ctx, s, o.claims)
	if err != nil {
		return err
	}
	claims, err := parseClaims(raw)
	if err != nil {
		return err
	}
	if err := o.apply(cmd, claims, time.Now()); err != nil {
		return err
	}
	signer, err := jwt.NewSigner(key, o.typ)
	if err != nil {
		return fmt.Errorf("cannot sign with %s: %w", o.keyFile, err)
	}
	token, err := signer.SignPayload(claims.encode())
	if err != nil {
		return fmt.Errorf("cannot sign the token: %w", err)
	}
	if len(token) > jose.DefaultMaxSize {
		fmt.Fprintf(s.err, "writ: note: the token is %d bytes, above the %d-byte default limit of verifiers (writ token verify --max-size)\n", len(token), jose.DefaultMaxSize)
	}
	if _, err := fmt.Fprintln(s.out, token); err != nil {
		return fmt.Errorf("cannot write the token: %w", err)
	}
	return nil
}

// apply adds iat, exp and jti and the claims given by flags.
func (o *tokenMintOptions) apply(cmd *cobra.Command, c *claimSet, now time.Time) error {
	if o.issuer != "" {
		c.set("iss", jsonString(o.issuer))
	}
	if o.subject != "" {
		c.set("sub", jsonString(o.subject))
	}
	switch len(o.audiences) {
	case 0:
	case 1:
		c.set("aud", jsonString(o.audiences[0]))
	default:
		aud, err := json.Marshal(o.audiences)
		if err != nil {
			return fmt.Errorf("cannot encode --audience: %w", err)
		}
		c.set("aud", aud)
	}
	if !c.has("iat") {
		c.set("iat", strconv.AppendInt(nil, now.Unix(), 10))
	}
	switch {
	case c.has("exp") && o.noExp:
		return usagef("--no-exp contradicts the exp claim in --claims: drop one")
	case c.has("exp") && cmd.Flags().Changed("ttl"):
		return usagef("--ttl contradicts the exp claim in --claims: drop one")
	case c.has("exp"), o.noExp:
	default:
		c.set("exp", strconv.AppendInt(nil, now.Add(o.ttl).Unix(), 10))
	}
	if !c.has("jti") {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return fmt.Errorf("cannot generate a jti: %w", err)
		}
		c.set("jti", jsonString(base64.RawURLEncoding.EncodeToString(b[:])))
	}
	return nil
}

// loadSigningKey reads the private key for minting from a JWK or PEM file.
// alg, when set, binds a PEM key and must match a JWK's alg; kid, when set,
// replaces the key's kid.
func loadSigningKey(path string, alg jose.Algorithm, kid string) (*jose.Key, error) {
	data, err := readFileLimited(path, jose.MaxJWKSize, "key file")
	if err != nil {
		return nil, err
	}
	var opts []jose.KeyOption
	if kid != "" {
		opts = append(opts, jose.WithKeyID(kid))
	}
	var key *jose.Key
	switch {
	case isPEM(data):
		key, err = jose.ParsePEM(data, alg, opts...)
		if err != nil {
			if alg == "" {
				return nil, fmt.Errorf("invalid PEM key in %s: %w (an RSA key needs --alg RS256, PS256, ...)", path, err)
			}
			return nil, fmt.Errorf("invalid PEM key in %s: %w", path, err)
		}
	default:
		members, err := topLevelMembers(data)
		if err != nil {
			return nil, fmt.Errorf("%s is neither a JWK (JSON object) nor a PEM key", path)
		}
		if _, ok := members["keys"]; ok {
			return nil, fmt.Errorf("%s is a JWK Set; --key needs one private JWK, such as the file written by 'writ key generate --out'", path)
		}
		key, err = jose.ParseKey(data)
		if err != nil {
			return nil, fmt.Errorf("invalid JWK in %s: %w", path, err)
		}
		if alg != "" && key.Algorithm() != alg {
			return nil, usagef("--alg %s does not match the key in %s, which is bound to %s", alg, path, key.Algorithm())
		}
		if kid != "" {
			// Rebind the same key material under the requested kid.
			if key, err = jose.NewKey(key.Algorithm(), key.CryptoKey(), opts...); err != nil {
				return nil, fmt.Errorf("invalid JWK in %s: %w", path, err)
			}
		}
	}
	if !key.IsPrivate() {
		return nil, fmt.Errorf("%s holds a public key; minting needs the private key (the --out file of 'writ key generate')", path)
	}
	if !key.Algorithm().IsSignature() {
		return nil, fmt.Errorf("the key in %s is bound to %s, which is not a signature algorithm", path, key.Algorithm())
	}
	return key, nil
}

// readClaims returns the claims document named by the --claims value:
// inline JSON, @FILE, or - (or @-) for standard input. Empty means {}.
func readClaims(ctx context.Context, s *streams, spec string) ([]byte, error) {
	switch {
	case spec == "":
		return []byte("{}"), nil
	case spec == "-" || spec == "@-":
		if isTerminal(s.in) {
			return nil, usagef("--claims -: standard input is a terminal; pipe the claims in or pass them inline")
		}
		data, tooLarge, err := readAllContext(ctx, s.in, maxClaimsSize)
		switch {
		case err != nil:
			return nil, fmt.Errorf("cannot read claims from standard input: %w", err)
		case tooLarge:
			return nil, fmt.Errorf("claims on standard input are larger than %d bytes", maxClaimsSize)
		}
		return data, nil
	case strings.HasPrefix(spec, "@"):
		return readFileLimited(spec[1:], maxClaimsSize, "claims file")
	}
	if len(spec) > maxClaimsSize {
		return nil, usagef("--claims is larger than %d bytes", maxClaimsSize)
	}
	return []byte(spec), nil
}

// claimSet is a JSON object's members in their original order, with raw
// values, so that numbers and nested values are signed exactly as given.
type claimSet struct {
	names  []string
	values map[string]json.RawMessage
}

// parseClaims parses a claims document strictly (one JSON object, no
// duplicate member names, bounded nesting) and checks the JSON types of the
// registered claims, so that writ never mints a token its verifier would
// reject as malformed.
func parseClaims(data []byte) (*claimSet, error) {
	members, err := strictjson.ParseObject(string(data), jose.DefaultMaxDepth, nil)
	if err != nil {
		return nil, fmt.Errorf("invalid --claims: want one JSON object: %w", err)
	}
	c := &claimSet{values: make(map[string]json.RawMessage, len(members)+3)}
	for _, m := range members {
		if err := checkRegisteredClaim(m.Name, m.Value); err != nil {
			return nil, err
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, []byte(m.Value)); err != nil {
			return nil, fmt.Errorf("invalid --claims: member %q: %w", m.Name, err)
		}
		c.set(m.Name, buf.Bytes())
	}
	return c, nil
}

// checkRegisteredClaim checks the JSON type of a registered claim (RFC 7519
// §4.1).
func checkRegisteredClaim(name, raw string) error {
	var err error
	var want string
	switch name {
	case "iss", "sub", "jti":
		want = "a string"
		_, err = strictjson.String(raw)
	case "aud":
		want = "a string or a non-empty array of strings"
		if strings.HasPrefix(raw, "[") {
			var aud []string
			aud, err = strictjson.AppendStrings(nil, raw)
			if err == nil && len(aud) == 0 {
				err = strictjson.ErrType
			}
		} else {
			_, err = strictjson.String(raw)
		}
	case "exp", "nbf", "iat":
		want = "a number (seconds since 1970-01-01 UTC)"
		_, err = strictjson.Number(raw)
	default:
		return nil
	}
	if err != nil {
		return usagef("invalid --claims: %q must be %s", name, want)
	}
	return nil
}

func (c *claimSet) has(name string) bool {
	_, ok := c.values[name]
	return ok
}

// set adds a member at the end, or replaces its value in place.
func (c *claimSet) set(name string, raw json.RawMessage) {
	if !c.has(name) {
		c.names = append(c.names, name)
	}
	c.values[name] = raw
}

// encode writes the claims as a compact JSON object in member order.
func (c *claimSet) encode() []byte {
	buf := []byte{'{'}
	for i, name := range c.names {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, jsonString(name)...)
		buf = append(buf, ':')
		buf = append(buf, c.values[name]...)
	}
	return append(buf, '}')
}

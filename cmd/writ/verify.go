package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/writ-dev/writ/internal/strictjson"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
)

// JWKS fetch limits.
const (
	jwksFetchTimeout = 10 * time.Second
	jwksMaxRedirects = 3
)

// maxLeeway is the largest clock skew --leeway accepts.
const maxLeeway = time.Hour

// tokenVerifyOptions are the flags of "writ token verify".
type tokenVerifyOptions struct {
	jwks            string
	issuer          string
	audience        string
	typ             string
	algs            []string
	leeway          time.Duration
	allowMissingExp bool
	maxSize         int
}

// newTokenVerifyCmd builds "writ token verify".
func newTokenVerifyCmd(s *streams) *cobra.Command {
	o := &tokenVerifyOptions{}
	cmd := &cobra.Command{
		Use:   "verify --jwks FILE|URL --issuer ISS --audience AUD [flags] [TOKEN]",
		Short: "Verify a token's signature and claims; exit 0 only when it is valid",
		Long: `Verify a compact JWT strictly and print its header and claims.

The token is the TOKEN argument or, without one (or with -), standard input,
trimmed of surrounding white space and at most --max-size bytes.

The trusted keys come from --jwks, and only from there; keys a token names
or carries (jwk, jku, x5u, x5c) are never used. --jwks is:
  - an http:// or https:// URL of a JWK Set, fetched once (10 s timeout,
    at most 1 MiB, status 200 only);
  - a file holding a JWK Set ({"keys": [...]}, public keys only);
  - a file holding a single JWK: an HMAC secret (the file written by
    "writ key generate --alg HS256 --out"), or a public or private key, of
    which only the public half is used;
  - a PEM public key, certificate or private key (RSA keys need one --alg).
Each key is bound to one algorithm, its JWK "alg". RSA keys published
without "alg" are bound to the --alg given, when exactly one is.

The token must:
  - be a well-formed compact JWS of at most --max-size bytes, without
    duplicate JSON members or unknown "crit" extensions;
  - use the algorithm its key is bound to (and one of --alg, if given);
  - carry a valid signature from a key of --jwks (an exact kid match when
    the token has a kid);
  - have exp in the future (required unless --allow-missing-exp), and nbf
    and iat not in the future, each with --leeway of clock skew;
  - have iss exactly equal to --issuer and aud containing --audience;
  - have typ equal to --type, when given (at+jwt also matches
    application/at+jwt).

When the token is valid, writ exits 0 and prints {"header": ..., "claims":
...} as JSON on standard output. Otherwise it exits 1 and prints one line on
standard error: "writ: token rejected: <reason>". Exit status 2 means the
check could not be made (bad flags, unreadable keys, JWKS fetch failure).`,
		Example: `  # Verify a token from standard input against a local JWK Set
  writ token verify --jwks jwks.json --issuer https://id.example.com \
    --audience https://api.example.com < token.jwt

  # Verify an RFC 9068 access token against a published JWK Set
  writ token verify --jwks https://id.example.com/.well-known/jwks.json \
    --issuer https://id.example.com --audience https://api.example.com \
    --type at+jwt --alg ES256 "$TOKEN"

  # HMAC: the secret file from "writ key generate --alg HS256 --out secret.json"
  writ token verify --jwks secret.json --issuer https://id.example.com \
    --audience https://api.example.com < token.jwt

  # Use the verdict in a script; print only the claims
  if claims=$(writ token verify --jwks jwks.json --issuer https://id.example.com \
      --audience https://api.example.com < token.jwt); then
    echo "$claims" | jq .claims
  fi`,
		Args: maxArgs(1, "TOKEN"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTokenVerify(cmd.Context(), s, o, args)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.jwks, "jwks", "", "trusted keys `FILE|URL`: a JWK Set or JWK file, a PEM file, or an http(s) URL of a JWK Set")
	f.StringVar(&o.issuer, "issuer", "", "required: the exact `ISS` the token's iss claim must equal")
	f.StringVar(&o.audience, "audience", "", "required: an `AUD` the token's aud claim must contain")
	f.StringVar(&o.typ, "type", "", "require the `TYP` header value, for example at+jwt for RFC 9068 access tokens")
	f.StringSliceVar(&o.algs, "alg", nil, "allow only algorithm `ALG` (repeat, or separate with commas); default: each key's own.\nWith exactly one, it also binds PEM keys and RSA JWKs that have no \"alg\"")
	f.DurationVar(&o.leeway, "leeway", jwt.DefaultLeeway, "tolerate `DURATION` of clock skew for exp, nbf and iat (0s to 1h)")
	f.BoolVar(&o.allowMissingExp, "allow-missing-exp", false, "accept tokens without exp (they never expire)")
	f.IntVar(&o.maxSize, "max-size", jose.DefaultMaxSize, "accept tokens of at most `N` bytes")
	return cmd
}

// config checks the flags and returns the verification policy (without
// keys).
func (o *tokenVerifyOptions) config() (jwt.Config, error) {
	var cfg jwt.Config
	switch {
	case o.jwks == "":
		return cfg, usagef("--jwks is required: a JWK Set file or URL, or a key file, holding the keys you trust")
	case o.issuer == "":
		return cfg, usagef("--issuer is required: the exact iss value valid tokens carry, for example --issuer https://id.example.com")
	case o.audience == "":
		return cfg, usagef("--audience is required: the audience this token must be meant for, for example --audience https://api.example.com")
	case o.leeway < 0 || o.leeway > maxLeeway:
		return cfg, usagef("--leeway %s: must be between 0s and %s", o.leeway, maxLeeway)
	case o.leeway%time.Second != 0:
		return cfg, usagef("--leeway %s: times in tokens have a resolution of one second; use whole seconds", o.leeway)
	case o.maxSize < 1 || o.maxSize > maxTokenSizeLimit:
		return cfg, usagef("--max-size %d: must be between 1 and %d bytes", o.maxSize, maxTokenSizeLimit)
	}
	cfg = jwt.Config{
		Issuer:             o.issuer,
		Audience:           o.audience,
		Type:               o.typ,
		Leeway:             o.leeway,
		AllowMissingExpiry: o.allowMissingExp,
		MaxSize:            o.maxSize,
	}
	if o.leeway == 0 {
		cfg.Leeway = -1 // jwt.Config: zero means the default, negative means none
	}
	for _, name := range o.algs {
		alg, err := parseSignatureAlg("alg", strings.TrimSpace(name))
		if err != nil {
			return cfg, err
		}
		if !slices.Contains(cfg.Algorithms, alg) {
			cfg.Algorithms = append(cfg.Algorithms, alg)
		}
	}
	return cfg, nil
}

// runTokenVerify implements "writ token verify".
func runTokenVerify(ctx context.Context, s *streams, o *tokenVerifyOptions, args []string) error {
	cfg, err := o.config()
	if err != nil {
		return err
	}
	var bindAlg jose.Algorithm
	if len(cfg.Algorithms) == 1 {
		bindAlg = cfg.Algorithms[0]
	}
	keys, err := loadKeySet(ctx, o.jwks, bindAlg)
	if err != nil {
		return err
	}
	if err := checkKeysAllowed(keys, cfg.Algorithms); err != nil {
		return err
	}
	v, err := jwt.NewVerifier(jwt.StaticKeys(keys), cfg)
	if err != nil {
		return usagef("%w", err)
	}
	token, err := readToken(ctx, s, args, o.maxSize)
	switch {
	case errors.Is(err, jose.ErrTooLarge):
		return rejected(err)
	case err != nil:
		return err
	case token == "":
		return rejected(fmt.Errorf("%w: the token is empty", jose.ErrMalformed))
	}
	tok, err := v.Verify(ctx, token)
	if err != nil {
		return rejected(err)
	}
	out := struct {
		Header json.RawMessage `json:"header"`
		Claims json.RawMessage `json:"claims"`
	}{json.RawMessage(tok.Header().Raw), json.RawMessage(tok.Payload())}
	if err := writeJSON(s.out, out); err != nil {
		return fmt.Errorf("cannot write the verified token: %w", err)
	}
	return nil
}

// checkKeysAllowed fails when --alg excludes every trusted key: then no
// token could ever verify, which is a configuration mistake.
func checkKeysAllowed(ks *jose.KeySet, allowed []jose.Algorithm) error {
	if len(allowed) == 0 {
		return nil
	}
	var have []string
	for _, k := range ks.Keys() {
		if slices.Contains(allowed, k.Algorithm()) {
			return nil
		}
		if !slices.Contains(have, string(k.Algorithm())) {
			have = append(have, string(k.Algorithm()))
		}
	}
	return usagef("--alg allows none of the trusted keys, which are bound to %s", strings.Join(have, ", "))
}

// loadKeySet builds the trusted key set from the --jwks value: a URL, or a
// file holding a JWK Set, one JWK or a PEM key. bindAlg, the one algorithm
// --alg allows (or empty), binds a PEM key and RSA JWKs without "alg".
func loadKeySet(ctx context.Context, src string, bindAlg jose.Algorithm) (*jose.KeySet, error) {
	var ks *jose.KeySet
	if strings.Contains(src, "://") {
		u, err := url.Parse(src)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, usagef("--jwks: only http:// and https:// URLs (or file paths) are supported")
		}
		data, err := fetchJWKS(ctx, u)
		if err != nil {
			return nil, err
		}
		if ks, err = parseJWKS(data, bindAlg); err != nil {
			return nil, fmt.Errorf("the JWK Set at %s is invalid: %w", u.Redacted(), err)
		}
		src = u.Redacted()
	} else {
		var err error
		if ks, err = loadKeyFile(src, bindAlg); err != nil {
			return nil, err
		}
	}
	if ks.Len() == 0 {
		msg := fmt.Sprintf("%s holds no key writ can use", src)
		if len(ks.Skipped) > 0 {
			msg += " (" + strings.Join(ks.Skipped, "; ") + ")"
		}
		return nil, errors.New(msg)
	}
	return ks, nil
}

// parseJWKS parses a published JWK Set with jose.ParseKeySet. RSA keys
// without "alg" cannot be bound to an algorithm on their own (RS256 or
// PS256?); when the user allowed exactly one RSA algorithm with --alg, they
// are bound to it, as RFC 8725 §3.1 wants the verifier to decide.
func parseJWKS(data []byte, alg jose.Algorithm) (*jose.KeySet, error) {
	bound, unbound := bindRSAAlg(data, alg)
	ks, err := jose.ParseKeySet(bound)
	if err != nil && unbound > 0 {
		return nil, fmt.Errorf("%w (%d RSA key(s) have no \"alg\": pass exactly one --alg, for example --alg RS256, to bind them)", err, unbound)
	}
	return ks, err
}

// bindRSAAlg returns data with "alg": alg added to every RSA key of the JWK
// Set that has no "alg", when alg is an RSA algorithm, and the number of
// such keys left unbound. Data that is not strictly valid JSON is returned
// unchanged for jose.ParseKeySet to reject: re-encoding it could hide
// duplicate members.
func bindRSAAlg(data []byte, alg jose.Algorithm) ([]byte, int) {
	if strictjson.Validate(string(data), 0) != nil {
		return data, 0
	}
	var doc struct {
		Keys []map[string]json.RawMessage `json:"keys"`
	}
	if json.Unmarshal(data, &doc) != nil {
		return data, 0
	}
	missing := 0
	for _, k := range doc.Keys {
		if rsaWithoutAlg(k) {
			missing++
		}
	}
	if missing == 0 || !isRSAAlg(alg) {
		return data, missing
	}
	for _, k := range doc.Keys {
		if rsaWithoutAlg(k) {
			k["alg"] = jsonString(string(alg))
		}
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return data, missing
	}
	return out, 0
}

// bindRSAAlgKey is bindRSAAlg for a single JWK.
func bindRSAAlgKey(data []byte, alg jose.Algorithm) ([]byte, int) {
	if strictjson.Validate(string(data), 0) != nil {
		return data, 0
	}
	var k map[string]json.RawMessage
	if json.Unmarshal(data, &k) != nil || !rsaWithoutAlg(k) {
		return data, 0
	}
	if !isRSAAlg(alg) {
		return data, 1
	}
	k["alg"] = jsonString(string(alg))
	out, err := json.Marshal(k)
	if err != nil {
		return data, 1
	}
	return out, 0
}

// rsaWithoutAlg reports whether a JWK's members make an RSA key without
// "alg".
func rsaWithoutAlg(k map[string]json.RawMessage) bool {
	var kty string
	_, hasAlg := k["alg"]
	return !hasAlg && json.Unmarshal(k["kty"], &kty) == nil && kty == "RSA"
}

// loadKeyFile reads a JWK Set, a single JWK or a PEM key from a file. A
// private asymmetric key is reduced to its public half; an HMAC secret is
// trusted as it is.
func loadKeyFile(path string, bindAlg jose.Algorithm) (*jose.KeySet, error) {
	data, err := readFileLimited(path, jose.MaxJWKSize, "key set file")
	if err != nil {
		return nil, err
	}
	var key *jose.Key
	switch {
	case isPEM(data):
		key, err = jose.ParsePEM(data, bindAlg)
		if err != nil {
			if bindAlg == "" {
				return nil, fmt.Errorf("invalid PEM key in %s: %w (an RSA key needs exactly one --alg)", path, err)
			}
			return nil, fmt.Errorf("invalid PEM key in %s: %w", path, err)
		}
	default:
		members, err := topLevelMembers(data)
		if err != nil {
			return nil, fmt.Errorf("%s is neither a JWK Set, a JWK nor a PEM key", path)
		}
		if _, ok := members["keys"]; ok {
			ks, err := parseJWKS(data, bindAlg)
			if errors.Is(err, jose.ErrPrivateInPublic) {
				return nil, fmt.Errorf("invalid JWK Set in %s: %w; a JWK Set must hold public keys only (to verify HMAC tokens, pass the secret's own JWK file)", path, err)
			}
			if err != nil {
				return nil, fmt.Errorf("invalid JWK Set in %s: %w", path, err)
			}
			return ks, nil
		}
		if _, ok := members["kty"]; !ok {
			return nil, fmt.Errorf("%s is neither a JWK Set (no \"keys\") nor a JWK (no \"kty\")", path)
		}
		bound, unbound := bindRSAAlgKey(data, bindAlg)
		if key, err = jose.ParseKey(bound); err != nil {
			if unbound > 0 {
				return nil, fmt.Errorf("invalid JWK in %s: %w (pass exactly one --alg, for example --alg RS256, to bind it)", path, err)
			}
			return nil, fmt.Errorf("invalid JWK in %s: %w", path, err)
		}
	}
	if !key.IsSymmetric() {
		key = key.Public()
	}
	return jose.NewKeySet(key), nil
}

// fetchJWKS downloads a JWK Set: http or https only (also across
// redirects), 10 s overall, status 200 only, at most jose.MaxJWKSize bytes.
func fetchJWKS(ctx context.Context, u *url.URL) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, jwksFetchTimeout)
	defer cancel()
	where := u.Redacted()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("cannot fetch the JWK Set: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	req.Header.Set("User-Agent", "writ/"+buildVersion())
	client := &http.Client{
		Timeout: jwksFetchTimeout,
		CheckRedirect: func(r *http.Request, via []*http.Request) error {
			if len(via) > jwksMaxRedirects {
				return fmt.Errorf("more than %d redirects", jwksMaxRedirects)
			}
			if r.URL.Scheme != "http" && r.URL.Scheme != "https" {
				return fmt.Errorf("redirect to a %s URL", r.URL.Scheme)
			}
			return nil
		},
	}
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, ctx.Err() // interrupted
		}
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
			if uerr.Timeout() {
				err = fmt.Errorf("no answer within %s", jwksFetchTimeout)
			}
		}
		return nil, fmt.Errorf("cannot fetch the JWK Set from %s: %w", where, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("cannot fetch the JWK Set from %s: the server answered %q, want 200 OK", where, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, jose.MaxJWKSize+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read the JWK Set from %s: %w", where, err)
	}
	if len(data) > jose.MaxJWKSize {
		return nil, fmt.Errorf("the JWK Set at %s is larger than %d bytes", where, jose.MaxJWKSize)
	}
	return data, nil
}

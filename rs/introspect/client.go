package introspect

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
	"github.com/writ-dev/writ/rs"
)

// Defaults and bounds of a Client.
const (
	// DefaultCacheSize is the number of tokens cached when
	// Config.CacheSize is zero.
	DefaultCacheSize = 10000
	// DefaultCacheTTL is the longest a result is cached when
	// Config.CacheTTL is zero. It is also how long a revoked token may go
	// on being accepted.
	DefaultCacheTTL = time.Minute
	// DefaultTimeout bounds each request to the endpoint when
	// Config.Timeout is zero.
	DefaultTimeout = 5 * time.Second
	// MaxResponseSize bounds the body of an introspection response. A
	// larger body fails the request with rs.ErrUnavailable.
	MaxResponseSize = 64 << 10
	// MaxTokenSize bounds the tokens the client sends to the endpoint; a
	// longer one is refused as invalid without a request.
	MaxTokenSize = 16 << 10
	// DefaultMaxConcurrent bounds the requests under way at once when
	// Config.MaxConcurrent is zero.
	DefaultMaxConcurrent = 64
)

// Media type and JWT type of RFC 9701 responses.
const (
	// MediaTypeJWT is the media type a client in JWT mode accepts.
	MediaTypeJWT = "application/token-introspection+jwt"
	// TypeJWT is the typ header an RFC 9701 response JWT must carry.
	TypeJWT = "token-introspection+jwt"
)

// Client authentication methods (RFC 7591 §2 names) for Config.AuthMethod.
const (
	// AuthClientSecretBasic sends the client id and secret in the
	// Authorization header, each form-urlencoded (RFC 6749 §2.3.1).
	AuthClientSecretBasic = "client_secret_basic"
	// AuthClientSecretPost sends them as client_id and client_secret form
	// parameters.
	AuthClientSecretPost = "client_secret_post"
)

// Config configures a Client. Endpoint, ClientID, ClientSecret and an
// audience policy (Audience or AnyAudience) are required; so are Issuer and
// ResponseKeys with JWTResponse.
type Config struct {
	// Endpoint is the introspection endpoint's URL (the
	// introspection_endpoint of the server's metadata). It must be https,
	// or http on a loopback address unless AllowHTTP is set, and carry no
	// user information or fragment.
	Endpoint string
	// ClientID and ClientSecret authenticate this client, the resource
	// server, to the endpoint.
	ClientID string
	// ClientSecret is the client's secret. It is sent only to Endpoint.
	ClientSecret string
	// AuthMethod is AuthClientSecretBasic (the default when empty) or
	// AuthClientSecretPost.
	AuthMethod string
	// TokenTypeHint, when set, is sent as token_type_hint, for example
	// "access_token".
	TokenTypeHint string
	// HTTPClient sends the requests; nil means a client with default
	// settings. It is copied, and the copy follows no redirects: a
	// redirect would carry the token and the credentials elsewhere.
	HTTPClient *http.Client
	// Timeout bounds each request, whatever HTTPClient.Timeout says; zero
	// means DefaultTimeout.
	Timeout time.Duration
	// MaxConcurrent bounds the requests to the endpoint under way at once
	// (for distinct tokens: misses for one token share a request); zero
	// means DefaultMaxConcurrent. A miss that cannot start its request
	// within Timeout fails with rs.ErrUnavailable, so that a flood of
	// made-up tokens cannot flood the authorization server.
	MaxConcurrent int
	// AllowHTTP allows a plain http Endpoint on a non-loopback address,
	// for a network the operator trusts. The token and the client secret
	// then cross that network in the clear.
	AllowHTTP bool

	// JWTResponse asks for RFC 9701 JWT responses and verifies them with
	// ResponseKeys; Phantom works only with it.
	JWTResponse bool
	// ResponseKeys supplies the keys the server signs its response JWTs
	// with, typically an rs.RemoteKeySet on its jwks_uri.
	ResponseKeys jwt.KeySource
	// ResponseAlgorithms is the allow-list of the response JWT's alg;
	// empty allows the algorithm each key of ResponseKeys is bound to.
	ResponseAlgorithms []jose.Algorithm

	// Issuer is the authorization server's issuer identifier. When set,
	// an active token naming another iss is invalid, and one naming none
	// gets Issuer as its Token.Issuer. In JWT mode it is required and the
	// response JWT's iss must equal it.
	Issuer string
	// Audience must be one of the token's aud values; a token with no aud
	// is invalid. Empty is a configuration error unless AnyAudience is
	// set: many servers answer active to any client they authenticate,
	// for tokens meant for any resource.
	Audience string
	// AnyAudience accepts tokens whatever their aud says. Use it only where
	// another layer checks the audience (a gateway's routes). It excludes
	// Audience.
	AnyAudience bool

	// CacheSize bounds the number of cached tokens; zero means
	// DefaultCacheSize, a negative value turns the cache off.
	CacheSize int
	// CacheTTL bounds how long a result is cached (never past the token's
	// exp); zero means DefaultCacheTTL, a negative value turns the cache
	// off.
	CacheTTL time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Client introspects tokens at one authorization server's endpoint and
// caches the results. It implements rs.TokenVerifier and is safe for
// concurrent use.
type Client struct {
	endpoint string
	client   *http.Client
	timeout  time.Duration
	slots    chan struct{} // one per request under way
	basic    string        // the Authorization header; empty with client_secret_post
	form     url.Values    // the parameters of every request but the token
	accept   string
	verifier *jwt.Verifier // nil in JSON mode
	issuer   string
	audience string
	now      func() time.Time

	cache   *cache // nil when off
	ttl     time.Duration
	flights flights

	hits, misses, requests atomic.Uint64

	// waiting, when set (by tests), is called when a caller starts to wait
	// for a call another caller leads.
	waiting func()
}

var _ rs.TokenVerifier = (*Client)(nil)

// New returns a Client for cfg, or an error when cfg is incomplete or
// inconsistent. It makes no request.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("introspect: Endpoint: %w", err)
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http", u.Host == "":
		return nil, fmt.Errorf("introspect: Endpoint %q must be an absolute https URL", cfg.Endpoint)
	case u.User != nil:
		return nil, errors.New("introspect: Endpoint must not carry user information; set ClientID and ClientSecret")
	case u.Fragment != "":
		return nil, errors.New("introspect: Endpoint must not have a fragment")
	case u.Scheme == "http" && !cfg.AllowHTTP && !loopback(u.Hostname()):
		return nil, fmt.Errorf("introspect: Endpoint %q is plain http on a non-loopback host; use https or set AllowHTTP", cfg.Endpoint)
	}
	if cfg.ClientID == "" || cfg.ClientSecret == "" {
		return nil, errors.New("introspect: ClientID and ClientSecret are required")
	}
	switch {
	case cfg.Audience == "" && !cfg.AnyAudience:
		return nil, errors.New("introspect: Audience is required (set AnyAudience to accept any)")
	case cfg.Audience != "" && cfg.AnyAudience:
		return nil, errors.New("introspect: both Audience and AnyAudience are set")
	}
	c := &Client{
		endpoint: u.String(),
		timeout:  cfg.Timeout,
		form:     url.Values{},
		accept:   "application/json",
		issuer:   cfg.Issuer,
		audience: cfg.Audience,
		now:      cfg.Now,
		ttl:      cfg.CacheTTL,
	}
	switch cfg.AuthMethod {
	case "", AuthClientSecretBasic:
		cred := url.QueryEscape(cfg.ClientID) + ":" + url.QueryEscape(cfg.ClientSecret)
		c.basic = "Basic " + base64.StdEncoding.EncodeToString([]byte(cred))
	case AuthClientSecretPost:
		c.form.Set("client_id", cfg.ClientID)
		c.form.Set("client_secret", cfg.ClientSecret)
	default:
		return nil, fmt.Errorf("introspect: AuthMethod %q is not supported; use %s or %s", cfg.AuthMethod, AuthClientSecretBasic, AuthClientSecretPost)
	}
	if cfg.TokenTypeHint != "" {
		c.form.Set("token_type_hint", cfg.TokenTypeHint)
	}
	if cfg.JWTResponse {
		if cfg.ResponseKeys == nil || cfg.Issuer == "" {
			return nil, errors.New("introspect: JWTResponse needs ResponseKeys and Issuer")
		}
		c.verifier, err = jwt.NewVerifier(cfg.ResponseKeys, jwt.Config{
			Issuer:             cfg.Issuer,
			Audience:           cfg.ClientID,
			Type:               TypeJWT,
			Algorithms:         cfg.ResponseAlgorithms,
			AllowMissingExpiry: true, // RFC 9701 §5 does not require exp
			RequiredClaims:     []string{"iat", "token_introspection"},
			MaxSize:            MaxResponseSize,
			Now:                cfg.Now,
		})
		if err != nil {
			return nil, fmt.Errorf("introspect: response JWT verifier: %w", err)
		}
		c.accept = MediaTypeJWT
	} else if cfg.ResponseKeys != nil {
		return nil, errors.New("introspect: ResponseKeys is set but JWTResponse is not")
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	slots := cfg.MaxConcurrent
	if slots <= 0 {
		slots = DefaultMaxConcurrent
	}
	c.slots = make(chan struct{}, slots)
	if c.now == nil {
		c.now = time.Now
	}
	if c.ttl == 0 {
		c.ttl = DefaultCacheTTL
	}
	size := cfg.CacheSize
	if size == 0 {
		size = DefaultCacheSize
	}
	if size > 0 && c.ttl > 0 {
		c.cache = newCache(size)
	}
	var hc http.Client
	if cfg.HTTPClient != nil {
		hc = *cfg.HTTPClient
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.client = &hc
	return c, nil
}

// loopback reports whether host names the local machine.
func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Verify introspects raw, or takes the answer from the cache, and returns
// the token's claims. It implements rs.TokenVerifier; see the package
// documentation for what its errors wrap. The caller must still check the
// token's scopes and claims against what it requires: a cached Token is
// the token's, not a decision for any route.
func (c *Client) Verify(ctx context.Context, raw string) (*rs.Token, error) {
	res, err := c.lookup(ctx, raw)
	if err != nil {
		return nil, err
	}
	return res.tok, nil
}

// Phantom is Verify for a gateway: besides the Token it returns the signed
// RFC 9701 response JWT that vouches for it, to be sent upstream in place
// of the opaque token. The JWT is cached with the Token, so a hit returns
// the JWT the server signed at the miss (its iat is that of the miss). It
// needs Config.JWTResponse; without it Phantom fails with an error wrapping
// rs.ErrUnavailable.
func (c *Client) Phantom(ctx context.Context, raw string) (string, *rs.Token, error) {
	if c.verifier == nil {
		return "", nil, fmt.Errorf("%w: introspect: Phantom needs Config.JWTResponse", rs.ErrUnavailable)
	}
	res, err := c.lookup(ctx, raw)
	if err != nil {
		return "", nil, err
	}
	return res.jwt, res.tok, nil
}

// Stats are a Client's counters since New, for metrics.
type Stats struct {
	// Hits counts lookups answered from the cache.
	Hits uint64
	// Misses counts lookups the cache could not answer, including those
	// that joined a request already under way.
	Misses uint64
	// Requests counts requests sent to the endpoint.
	Requests uint64
	// Entries is the number of cached tokens.
	Entries int
}

// Stats returns the client's counters.
func (c *Client) Stats() Stats {
	s := Stats{Hits: c.hits.Load(), Misses: c.misses.Load(), Requests: c.requests.Load()}
	if c.cache != nil {
		s.Entries = c.cache.len()
	}
	return s
}

// lookup answers raw from the cache, from a request under way for the same
// token, or from a new request.
func (c *Client) lookup(ctx context.Context, raw string) (*result, error) {
	if c.slots == nil {
		return nil, fmt.Errorf("%w: introspect: the Client was not made by New", rs.ErrUnavailable)
	}
	if raw == "" {
		return nil, fmt.Errorf("%w: introspect: empty token", rs.ErrInvalidToken)
	}
	if len(raw) > MaxTokenSize {
		return nil, fmt.Errorf("%w: introspect: token longer than %d bytes", rs.ErrInvalidToken, MaxTokenSize)
	}
	var buf [512]byte // typical tokens are hashed without an allocation
	k := key(sha256.Sum256(append(buf[:0], raw...)))
	if c.cache != nil {
		if res, ok := c.cache.get(k, c.now()); ok {
			c.hits.Add(1)
			return res, nil
		}
	}
	cl, res, leader := c.flights.join(k, func() (*result, bool) {
		if c.cache == nil {
			return nil, false
		}
		return c.cache.get(k, c.now())
	})
	if res != nil {
		c.hits.Add(1)
		return res, nil
	}
	c.misses.Add(1)
	if leader {
		// The request runs apart from ctx, so that a caller who gives up
		// does not fail it for the others who wait; Timeout bounds it.
		go c.run(context.WithoutCancel(ctx), k, raw, cl)
	} else if c.waiting != nil {
		c.waiting()
	}
	select {
	case <-cl.done:
		return cl.res, cl.err
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: introspect: %w", rs.ErrUnavailable, context.Cause(ctx))
	}
}

// run performs cl, caches its result when it is cacheable, and finishes it.
func (c *Client) run(ctx context.Context, k key, raw string, cl *call) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	start := c.now()
	select {
	case c.slots <- struct{}{}:
		cl.res, cl.err = c.introspect(ctx, raw)
		<-c.slots
	case <-ctx.Done():
		cl.err = fmt.Errorf("%w: introspect: %d requests to %s are under way", rs.ErrUnavailable, cap(c.slots), c.endpoint)
	}
	if cl.err == nil && c.cache != nil {
		until := start.Add(c.ttl)
		if exp := cl.res.tok.Expiry; !exp.IsZero() && exp.Before(until) {
			until = exp
		}
		// Phantom hands on the response JWT: not past its own exp either.
		if exp := cl.res.jwtExp; !exp.IsZero() && exp.Before(until) {
			until = exp
		}
		if start.Before(until) {
			c.cache.put(k, cl.res, until)
		}
	}
	c.flights.finish(k, cl)
}

// introspect asks the endpoint about raw and checks the answer.
func (c *Client) introspect(ctx context.Context, raw string) (*result, error) {
	body, err := c.post(ctx, raw)
	if err != nil {
		return nil, err
	}
	res := new(result)
	doc := body
	if c.verifier != nil {
		vt, err := c.verifier.Verify(ctx, body)
		switch {
		case errors.Is(err, rs.ErrKeySetUnavailable):
			return nil, fmt.Errorf("introspect: response JWT: %w", err)
		case err != nil:
			return nil, fmt.Errorf("%w: introspect: response JWT: %w", rs.ErrUnavailable, err)
		}
		doc, _ = vt.Claim("token_introspection") // a required claim
		res.jwt = body
		if exp := vt.Claims().ExpiresAt; exp != 0 {
			res.jwtExp = exp.Time()
		}
	}
	tok, active, err := parseResponse(doc)
	if err != nil {
		return nil, fmt.Errorf("%w: introspect: %w", rs.ErrUnavailable, err)
	}
	if !active {
		return nil, fmt.Errorf("%w: introspect: the token is not active", rs.ErrInvalidToken)
	}
	tok.Raw = raw
	if err := c.check(tok); err != nil {
		return nil, err
	}
	res.tok = tok
	return res, nil
}

// post sends the request and returns the body of a 200 response of the
// expected media type.
func (c *Client) post(ctx context.Context, raw string) (string, error) {
	form := make(url.Values, len(c.form)+1)
	for k, v := range c.form {
		form[k] = v
	}
	form.Set("token", raw)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return "", fmt.Errorf("%w: introspect: request: %w", rs.ErrUnavailable, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", c.accept)
	if c.basic != "" {
		req.Header.Set("Authorization", c.basic)
	}
	c.requests.Add(1)
	resp, err := c.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("%w: introspect: %s: %w", rs.ErrUnavailable, c.endpoint, unwrapURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%w: introspect: %s answered %s", rs.ErrUnavailable, c.endpoint, resp.Status)
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != c.accept {
		return "", fmt.Errorf("%w: introspect: %s answered with Content-Type %q, want %s", rs.ErrUnavailable, c.endpoint, clip(resp.Header.Get("Content-Type")), c.accept)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseSize+1))
	if err != nil {
		return "", fmt.Errorf("%w: introspect: read the response of %s: %w", rs.ErrUnavailable, c.endpoint, err)
	}
	if len(b) > MaxResponseSize {
		return "", fmt.Errorf("%w: introspect: the response of %s is larger than %d bytes", rs.ErrUnavailable, c.endpoint, MaxResponseSize)
	}
	return string(b), nil
}

// unwrapURLError drops the *url.Error around a transport error: it names
// the method and URL, which the caller's message names already.
func unwrapURLError(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Err
	}
	return err
}

// clip shortens a header value an error quotes.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// check applies the client's own rules to an active token: its exp and nbf
// against the client's clock, that it is not a refresh token nor bound
// in a way nothing checks, its issuer and audience against the
// configuration.
func (c *Client) check(tok *rs.Token) error {
	now := c.now()
	if !tok.Expiry.IsZero() && !now.Before(tok.Expiry) {
		return fmt.Errorf("%w: introspect: the token has expired", rs.ErrInvalidToken)
	}
	if nbf, ok := tok.Claims["nbf"].(float64); ok && time.Unix(int64(nbf), 0).After(now) {
		return fmt.Errorf("%w: introspect: the token is not valid yet", rs.ErrInvalidToken)
	}
	// A refresh token may be active too (RFC 7662 §2.1), but it is no
	// access token: refused when the response says what it is.
	if use, _ := tok.Claims["token_use"].(string); use != "" && use != "access_token" {
		return fmt.Errorf("%w: introspect: the token is not an access token (token_use)", rs.ErrInvalidToken)
	}
	if typ, _ := tok.Claims["token_type"].(string); strings.EqualFold(typ, "refresh_token") {
		return fmt.Errorf("%w: introspect: the token is a refresh token (token_type)", rs.ErrInvalidToken)
	}
	// A token bound (cnf) by a method nothing here checks, such as RFC
	// 7800's jwk, must not pass for a bearer token.
	if _, bound := tok.Claims["cnf"]; bound && tok.JKT == "" && tok.X5TS256 == "" {
		return fmt.Errorf("%w: introspect: the token is bound (cnf) by a method other than jkt or x5t#S256", rs.ErrInvalidToken)
	}
	if c.issuer != "" {
		switch tok.Issuer {
		case "":
			tok.Issuer = c.issuer
		case c.issuer:
		default:
			return fmt.Errorf("%w: introspect: the token is of another issuer", rs.ErrInvalidToken)
		}
	}
	if c.audience != "" && !slices.Contains(tok.Audience, c.audience) {
		return fmt.Errorf("%w: introspect: the token is not for audience %q", rs.ErrInvalidToken, c.audience)
	}
	return nil
}

// Package config reads the route file of `writ gateway`: a strict YAML
// document (unknown keys and repeated keys are errors that name their
// line) that is validated as a whole, every problem reported with its line
// and its place in the file (routes[2].upstream).
//
// The file is the contract for scripts of issue 8: listen, tls, timeouts,
// limits, metrics, issuers, introspection, dpop, identity_assertion, routes
// (each with an authorization rule inline: allow, deny, scopes, roles,
// groups, claims, attributes, anonymous) and tests.
package config

import (
	"time"

	"github.com/writ-dev/writ/internal/gateway/policy"
)

// File is a parsed and validated route file.
type File struct {
	// Listen is the address the gateway serves on, host:port.
	Listen string `yaml:"listen"`
	// TLS, when set, makes the gateway serve HTTPS.
	TLS *TLS `yaml:"tls"`
	// Metrics configures the Prometheus endpoint.
	Metrics *Metrics `yaml:"metrics"`
	// Timeouts bound the phases of a request.
	Timeouts Timeouts `yaml:"timeouts"`
	// Limits bound the sizes of a request.
	Limits Limits `yaml:"limits"`
	// Issuers are the token issuers the gateway trusts.
	Issuers []Issuer `yaml:"issuers"`
	// Introspection is the endpoint opaque tokens are introspected at.
	Introspection *Introspection `yaml:"introspection"`
	// DPoP configures the checking of DPoP proofs (RFC 9449).
	DPoP DPoP `yaml:"dpop"`
	// Assertion, when set, makes the gateway sign a short-lived identity
	// assertion for the upstreams.
	Assertion *Assertion `yaml:"identity_assertion"`
	// Routes are matched against every request.
	Routes []Route `yaml:"routes"`
	// Tests are the policy test cases `writ gateway check` runs.
	Tests []policy.Case `yaml:"tests"`

	// Path is the file the configuration was read from, if any.
	Path string `yaml:"-"`
}

// TLS names the certificate and key of an HTTPS listener.
type TLS struct {
	// CertFile is a PEM certificate chain.
	CertFile string `yaml:"cert_file"`
	// KeyFile is the PEM private key of the certificate.
	KeyFile string `yaml:"key_file"`
}

// Metrics configures the Prometheus metrics endpoint.
type Metrics struct {
	// Listen is a separate listener for the metrics (recommended). When
	// empty, the metrics are served on the gateway's listener at Path.
	Listen string `yaml:"listen"`
	// Path is the metrics path, default /metrics.
	Path string `yaml:"path"`
}

// Timeouts bound the phases of a request. Zero values take the defaults.
type Timeouts struct {
	// ReadHeader bounds reading the request headers (default 10s).
	ReadHeader time.Duration `yaml:"read_header"`
	// Read bounds reading the whole request (default 60s).
	Read time.Duration `yaml:"read"`
	// Write bounds writing the response (default 0: none, so that streams
	// such as server-sent events are not cut).
	Write time.Duration `yaml:"write"`
	// Idle bounds an idle keep-alive connection (default 120s).
	Idle time.Duration `yaml:"idle"`
	// Upstream bounds the wait for the upstream's response headers
	// (default 30s); a route may set its own.
	Upstream time.Duration `yaml:"upstream"`
	// Dial bounds connecting to an upstream (default 5s).
	Dial time.Duration `yaml:"dial"`
	// Shutdown bounds a graceful shutdown (default 30s).
	Shutdown time.Duration `yaml:"shutdown"`
}

// Limits bound the sizes of a request. Zero values take the defaults.
type Limits struct {
	// MaxHeaderBytes bounds the request line and headers (default 64 KiB).
	MaxHeaderBytes int `yaml:"max_header_bytes"`
	// MaxBodyBytes bounds a request body (default 10 MiB); a route may set
	// its own. A larger body is refused with 413.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
}

// Issuer is one trusted token issuer.
type Issuer struct {
	// Name refers to the issuer from routes; default the issuer URL.
	Name string `yaml:"name"`
	// Issuer is the exact iss value.
	Issuer string `yaml:"issuer"`
	// JWKSURI is the issuer's JWK Set URL; empty means discovery.
	JWKSURI string `yaml:"jwks_uri"`
	// JWKSFile is a local JWK Set file: explicit keys, never fetched.
	JWKSFile string `yaml:"jwks_file"`
	// Audiences: a token must name at least one.
	Audiences []string `yaml:"audiences"`
	// Algorithms is the allow-list of signature algorithms.
	Algorithms []string `yaml:"algorithms"`
	// Types are the accepted typ header values (default at+jwt).
	Types []string `yaml:"types"`
	// AllowUntypedTokens also accepts typ "JWT" or no typ, as many
	// issuers' access tokens carry.
	AllowUntypedTokens bool `yaml:"allow_untyped_tokens"`
	// RequiredClaims must be present in every token (exp always is).
	RequiredClaims []string `yaml:"required_claims"`
	// ClaimMapping maps a claim name to a dotted path in the token.
	ClaimMapping map[string]string `yaml:"claim_mapping"`
	// Leeway is the clock skew allowed for exp, nbf and iat.
	Leeway time.Duration `yaml:"leeway"`
}

// Key returns the name routes use for the issuer.
func (i Issuer) Key() string {
	if i.Name != "" {
		return i.Name
	}
	return i.Issuer
}

// Introspection is an RFC 7662 introspection endpoint for opaque tokens.
type Introspection struct {
	// Endpoint is the introspection URL.
	Endpoint string `yaml:"endpoint"`
	// ClientID authenticates the gateway at the endpoint.
	ClientID string `yaml:"client_id"`
	// ClientSecretFile holds the client secret (never inline).
	ClientSecretFile string `yaml:"client_secret_file"`
	// JWTResponse asks for RFC 9701 signed responses (required by phantom
	// routes).
	JWTResponse bool `yaml:"jwt_response"`
	// Issuer is the expected iss of a JWT response, and the issuer whose
	// keys verify it.
	Issuer string `yaml:"issuer"`
	// JWKSURI is where the keys of JWT responses are; default the issuer
	// followed by /.well-known/jwks.json (writ's JWKS).
	JWKSURI string `yaml:"jwks_uri"`
	// Audience, when set, must be one of an introspected token's aud.
	Audience string `yaml:"audience"`
	// AuthMethod is client_secret_basic (default) or client_secret_post.
	AuthMethod string `yaml:"auth_method"`
	// AllowHTTP allows a plain http endpoint on a non-loopback address.
	AllowHTTP bool `yaml:"allow_http"`
	// Timeout bounds each introspection request (default 5s).
	Timeout time.Duration `yaml:"timeout"`
	// CacheSize bounds the introspection cache (entries).
	CacheSize int `yaml:"cache_size"`
	// CacheTTL bounds the life of a cached answer (never past exp).
	CacheTTL time.Duration `yaml:"cache_ttl"`
}

// DPoP configures the checking of DPoP proofs.
type DPoP struct {
	// Replay is the replay cache: memory (default) or redis.
	Replay string `yaml:"replay"`
	// RedisURL is the Redis server of a redis replay cache.
	RedisURL string `yaml:"redis_url"`
	// RedisPrefix prefixes the replay keys in Redis.
	RedisPrefix string `yaml:"redis_prefix"`
	// CacheSize bounds a memory replay cache (entries).
	CacheSize int `yaml:"cache_size"`
	// MaxAge is how old a proof may be (default 5m).
	MaxAge time.Duration `yaml:"max_age"`
	// Nonce makes the gateway require server nonces.
	Nonce bool `yaml:"nonce"`
	// NonceSecretFile holds the secret nonces are derived from (shared by
	// several gateway nodes); default a random secret per process.
	NonceSecretFile string `yaml:"nonce_secret_file"`
	// Algorithms is the allow-list of proof algorithms.
	Algorithms []string `yaml:"algorithms"`
	// Origin is the scheme and host clients address (the htu of their
	// proofs), for a gateway behind a load balancer; default the
	// request's own scheme and Host.
	Origin string `yaml:"origin"`
}

// Assertion configures the identity assertion: a short-lived JWT the
// gateway signs for each authorized request, in Header, so that the
// upstream can check that the identity headers came from the gateway.
type Assertion struct {
	// Header carries the assertion (default X-Writ-Assertion).
	Header string `yaml:"header"`
	// KeyFile is a private ES256 JWK; default a key generated at start.
	KeyFile string `yaml:"key_file"`
	// Issuer is the iss of the assertions (default writ-gateway).
	Issuer string `yaml:"issuer"`
	// TTL is the life of an assertion (default 30s, at most 5m).
	TTL time.Duration `yaml:"ttl"`
	// JWKSPath is where the gateway publishes the verification key
	// (default /.well-known/writ-gateway/jwks.json).
	JWKSPath string `yaml:"jwks_path"`
}

// Route is one route of the gateway.
type Route struct {
	// Name identifies the route in logs and metrics (default method list
	// and path).
	Name string `yaml:"name"`
	// Host restricts the route to one host ("" for any).
	Host string `yaml:"host"`
	// Path is exact ("/a"), a prefix when it ends in "/", or a template
	// ("/orders/{id}").
	Path string `yaml:"path"`
	// Methods the route accepts; empty for any.
	Methods []string `yaml:"methods"`
	// Upstream is the URL requests are proxied to.
	Upstream string `yaml:"upstream"`
	// Token is the kind of token accepted: jwt (default), opaque
	// (introspected) or any.
	Token string `yaml:"token"`
	// DPoP is allowed (default: a bound token must come with its proof) or
	// required (only DPoP-bound tokens with a proof).
	DPoP string `yaml:"dpop"`
	// Issuers are the names of the issuers accepted (default all).
	Issuers []string `yaml:"issuers"`
	// Audiences replace the issuers' audiences on this route.
	Audiences []string `yaml:"audiences"`
	// Headers are identity headers for the upstream: header name → claim
	// path (arrays are joined with ",").
	Headers map[string]string `yaml:"headers"`
	// ForwardToken keeps the client's Authorization header.
	ForwardToken bool `yaml:"forward_token"`
	// Phantom exchanges an opaque token for the introspection's JWT, which
	// the upstream receives.
	Phantom bool `yaml:"phantom"`
	// MCP marks the route as an MCP server.
	MCP *MCP `yaml:"mcp"`
	// IdentityAssertion turns the identity assertion on or off for this
	// route (default on when identity_assertion is configured).
	IdentityAssertion *bool `yaml:"identity_assertion"`
	// Timeout bounds the wait for the upstream's response headers.
	Timeout time.Duration `yaml:"timeout"`
	// MaxBodyBytes bounds the request body on this route.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// Policy is the route's authorization rule, inline.
	Policy PolicySpec `yaml:",inline"`

	// Line is the line of the route in the file.
	Line int `yaml:"-"`
}

// MCP marks a route as an MCP (Model Context Protocol) server.
type MCP struct {
	// Resource is the route's resource identifier (RFC 8707, RFC 9728):
	// the audience tokens must name.
	Resource string `yaml:"resource"`
	// Scopes are all required.
	Scopes []string `yaml:"scopes"`
	// AuthorizationServers listed in the metadata (default the route's
	// issuers).
	AuthorizationServers []string `yaml:"authorization_servers"`
	// MaxBodyBytes bounds the JSON-RPC body read (default 1 MiB).
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
}

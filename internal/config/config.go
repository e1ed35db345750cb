// Package config turns a YAML file, WRIT_* environment variables and
// command-line flags into one typed Config. Flags win over the environment,
// and the environment wins over the file. Every setting is declared once, in
// the fields table, which also drives the flags, the environment names and
// the generated reference in docs/configuration.md.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// Mode says how strict start-up is.
type Mode string

// Modes.
const (
	// Development generates what is missing (master key, signing key, admin
	// token) and says so loudly. It is the default so that a first run needs
	// no configuration.
	Development Mode = "development"
	// Production refuses to start without an explicit issuer, a master key,
	// and TLS (or a statement that TLS terminates in front of writ).
	Production Mode = "production"
)

// Config is writ's whole configuration.
type Config struct {
	Mode      Mode
	Issuer    string
	Addr      string
	AdminAddr string
	DataDir   string
	Database  string

	TLSCertFile   string
	TLSKeyFile    string
	TLSTerminated bool

	AdminTLSCertFile string
	AdminTLSKeyFile  string

	// Mutual TLS (RFC 8705): MTLSAddr is a second TLS listener that
	// requests client certificates; MTLSURL the base URL of its
	// mtls_endpoint_aliases; MTLSClientCAFile the CAs of tls_client_auth;
	// MTLSClientCertHeader and MTLSTrustedProxies a TLS-terminating
	// proxy's certificate header and the addresses it is believed from.
	MTLSAddr             string
	MTLSURL              string
	MTLSClientCAFile     string
	MTLSClientCertHeader string
	MTLSTrustedProxies   string

	MasterKeyFile string

	AccessTokenTTL          time.Duration
	RefreshTokenTTL         time.Duration
	RefreshTokenAbsoluteTTL time.Duration
	IDTokenTTL              time.Duration
	SessionTTL              time.Duration
	// PublicAccessTokenTTL caps the access token lifetime of public
	// clients (token_endpoint_auth_method none).
	PublicAccessTokenTTL time.Duration
	// MCPResources mark the audiences that are MCP servers: exact URIs or
	// prefixes ending in "/*" (oauth.ResourceSet).
	MCPResources []string
	UIDir        string
	// RequirePushedAuthorizationRequests makes the authorization endpoint
	// take only request_uri values from /oauth2/par (RFC 9126 §5).
	RequirePushedAuthorizationRequests bool
	// FAPI2 holds every client to the FAPI 2.0 Security Profile.
	FAPI2 bool

	KeyAlgorithm      string
	KeyAlgorithms     []string
	KeyRotation       time.Duration
	MaxRequestBytes   int64
	ShutdownTimeout   time.Duration
	LogLevel          string
	LogFormat         string
	AutoMigrate       bool
	AccessLog         bool
	SecretHashKeyFile string

	// GCPercent is the Go collector's target as GOGC writes it (a
	// percentage or "off"); empty leaves it to GOGC, else the server's
	// default.
	GCPercent string

	// Observability: Prometheus metrics on the admin listener, OpenTelemetry
	// tracing.
	MetricsRequireToken bool
	MetricsMaxClients   int
	TracingEndpoint     string
	TracingSampleRatio  float64
	TracingServiceName  string

	// DPoP (RFC 9449) at the token endpoint.
	DPoP           bool
	DPoPAlgorithms []string
	DPoPMaxAge     time.Duration
	DPoPNonce      bool
	// DPoPReplay is "memory" or the redis:// (rediss://, unix://) URL of
	// a replay cache shared by every node.
	DPoPReplay string
	// Client ID Metadata Documents and dynamic client registration.
	ClientMetadataDocuments       bool
	ClientMetadataAllowPrivate    bool
	ClientMetadataHosts           string
	Registration                  string
	RegistrationInitialTokensFile string
	DynamicClientScopes           string
	DynamicClientAudiences        string

	// Several nodes on one database (internal/cluster).
	// KeyMinPublish is how long a new signing key is published (as next,
	// in every node's JWKS) before it may sign.
	KeyMinPublish time.Duration
	// ClusterPollInterval is how often each node reads the key ring again:
	// the bound within which it follows a change made on another node when
	// change notifications (PostgreSQL LISTEN/NOTIFY) are down.
	ClusterPollInterval time.Duration
	// TrustedProxies are the comma-separated CIDR prefixes (or addresses)
	// of the proxies whose Forwarded and X-Forwarded-For headers are
	// believed; empty believes none.
	TrustedProxies string
	// TrustedProxyHeader is the one forwarding header the trusted proxies
	// set: "x-forwarded-for" or "forwarded" (RFC 7239). The other is never
	// read: a proxy passes a header it does not set through, as the client
	// sent it.
	TrustedProxyHeader string
	// RateLimitBackend is where rate limits count: auto, memory, database
	// or a Redis URL.
	RateLimitBackend string
	// RateLimits are the rate limits by rule (server.Rules), each "0" or
	// RATE/UNIT[:BURST].
	RateLimits map[string]string
	// ClientCacheTTL is how long a node serves a client registration from
	// memory; zero turns the cache off.
	ClientCacheTTL time.Duration
}

// LiveSettings are the settings a running node applies again when it
// reloads its configuration (SIGHUP); a change to any other needs a
// restart.
func LiveSettings() []string {
	var live []string
	for _, f := range fields() {
		if f.live {
			live = append(live, f.key)
		}
	}
	return live
}

// live marks f as applied again on a reload (LiveSettings); its usage says
// so ("Live on SIGHUP", TestLiveSettings).
func live(f field) field {
	f.live = true
	return f
}

// Values of Config.RateLimitBackend.
const (
	// RateLimitAuto counts in the database when it is PostgreSQL (shared
	// by every node), else in memory.
	RateLimitAuto = "auto"
	// RateLimitMemory counts in each node's memory.
	RateLimitMemory = "memory"
	// RateLimitDatabase counts in the PostgreSQL database.
	RateLimitDatabase = "database"
)

// RateLimitRules are the rate limit rules with a setting each
// (rate_limit_RULE), their defaults, and what each limits.
func RateLimitRules() [][3]string {
	return [][3]string{
		{"token", "0", "POST /oauth2/token per client address (off by default: machine clients are registered by an admin; see docs/limits.md for values)"},
		{"token_client", "0", "the token endpoint per authenticated client"},
		{"authorize", "20/s:100", "/oauth2/authorize and /oauth2/par per client address"},
		{"authorize_client", "0", "/oauth2/par per authenticated client"},
		{"device", "2/s:30", "/oauth2/device_authorization and the /device verification page per client address"},
		{"device_client", "0", "/oauth2/device_authorization per authenticated client"},
		{"login", "2/s:30", "the sign-in pages (/login, /account/login) per client address, whatever the outcome (failed sign-ins are also throttled per account, device and address)"},
		{"register", "60/h:60", "dynamic client registration (/oauth2/register) per client address"},
	}
}

// Values of Config.Registration.
const (
	RegistrationOff   = "off"
	RegistrationToken = "token"
	RegistrationOpen  = "open"
)

// field declares one setting: its YAML key, environment variable, flag,
// default, help text, and how to read and write it in a Config.
type field struct {
	key   string // YAML key; the flag is the key with '_' → '-'
	env   string
	def   string
	usage string
	kind  kind
	set   func(*Config, string) error
	get   func(*Config) string
	// live is set (by live) on the settings a reload applies again.
	live bool
}

// kind is the type of a setting, as its flag and the reference show it.
type kind string

// The kinds of settings. A bool setting is a flag that works bare
// (--tls-terminated) or with a value (--tls-terminated=false).
const (
	kindString   kind = "string"
	kindDuration kind = "duration"
	kindInt      kind = "int"
	kindBool     kind = "bool"
	kindFloat    kind = "float"
)

func strField(key, env, def, usage string, p func(*Config) *string) field {
	return field{key: key, env: env, def: def, usage: usage, kind: kindString,
		set: func(c *Config, v string) error { *p(c) = v; return nil },
		get: func(c *Config) string { return *p(c) }}
}

func enumField(key, env, def, usage string, allowed []string, p func(*Config) *string) field {
	f := strField(key, env, def, usage, p)
	f.set = func(c *Config, v string) error {
		for _, a := range allowed {
			if v == a {
				*p(c) = v
				return nil
			}
		}
		return fmt.Errorf("must be one of %s, got %q", strings.Join(allowed, ", "), v)
	}
	return f
}

func durField(key, env, def, usage string, p func(*Config) *time.Duration) field {
	return field{key: key, env: env, def: def, usage: usage, kind: kindDuration,
		set: func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("not a duration (use forms like 15m, 1h, 720h): %q", truncate(v))
			}
			if d < 0 {
				return fmt.Errorf("must not be negative: %q", v)
			}
			*p(c) = d
			return nil
		},
		get: func(c *Config) string { return p(c).String() }}
}

func boolField(key, env, def, usage string, p func(*Config) *bool) field {
	return field{key: key, env: env, def: def, usage: usage, kind: kindBool,
		set: func(c *Config, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("not a boolean (true or false): %q", truncate(v))
			}
			*p(c) = b
			return nil
		},
		get: func(c *Config) string { return strconv.FormatBool(*p(c)) }}
}

// signingAlgorithms are the algorithms writ generates signing keys for.
func signingAlgorithms() []string {
	return []string{"ES256", "ES384", "ES512", "EdDSA", "RS256", "PS256"}
}

// algListField is a comma-separated list of signing algorithms, kept
// without repeats. (RS256 and KeyAlgorithm are added by SigningAlgorithms,
// not here, so that the effective configuration shows what was given.)
func algListField(key, env, def, usage string, p func(*Config) *[]string) field {
	f := strField(key, env, def, usage, nil) // a string setting whose set and get are replaced
	f.set = func(c *Config, v string) error {
		var list []string
		for _, a := range strings.Split(v, ",") {
			a = strings.TrimSpace(a)
			if a == "" {
				continue
			}
			if !slices.Contains(signingAlgorithms(), a) {
				return fmt.Errorf("%q is not one of %s", truncateAlg(a), strings.Join(signingAlgorithms(), ", "))
			}
			if !slices.Contains(list, a) {
				list = append(list, a)
			}
		}
		*p(c) = list
		return nil
	}
	f.get = func(c *Config) string { return strings.Join(*p(c), ",") }
	return f
}

// resourceListField is a comma-separated list of resource URIs or
// prefixes ending in "/*" (the patterns of oauth.ResourceSet), kept
// without repeats.
func resourceListField(key, env, def, usage string, p func(*Config) *[]string) field {
	f := strField(key, env, def, usage, nil) // a string setting whose set and get are replaced
	f.set = func(c *Config, v string) error {
		var list []string
		for _, r := range strings.Split(v, ",") {
			r = strings.TrimSpace(r)
			if r == "" {
				continue
			}
			if err := checkResourcePattern(r); err != nil {
				return err
			}
			if !slices.Contains(list, r) {
				list = append(list, r)
			}
		}
		if len(list) > 256 {
			return errors.New("at most 256 entries")
		}
		*p(c) = list
		return nil
	}
	f.get = func(c *Config) string { return strings.Join(*p(c), ",") }
	return f
}

// checkResourcePattern is oauth.CheckResourcePattern (config depends on
// no other package of writ): an absolute URI with a host, no fragment,
// optionally ending in "/*".
func checkResourcePattern(r string) error {
	base := r
	if prefix, ok := strings.CutSuffix(r, "*"); ok {
		if !strings.HasSuffix(prefix, "/") {
			return fmt.Errorf("%q: a wildcard must follow a slash (https://host/path/*)", truncate(r))
		}
		base = prefix
	}
	u, err := url.Parse(base)
	if len(r) > 2048 || strings.ContainsAny(base, "*#") || err != nil || !u.IsAbs() || u.Host == "" {
		return fmt.Errorf("%q is not an absolute URI with a host and without a fragment", truncate(r))
	}
	return nil
}

func truncateAlg(s string) string {
	if len(s) > 16 {
		return s[:16] + "…"
	}
	return s
}

// SigningAlgorithms returns the algorithms the key ring keeps an active
// key for: KeyAlgorithm (access tokens) first, then RS256 (the ID token
// default every OpenID Provider offers, OIDC Discovery §3), then
// KeyAlgorithms.
func (c *Config) SigningAlgorithms() []string {
	out := []string{c.KeyAlgorithm}
	for _, a := range append([]string{"RS256"}, c.KeyAlgorithms...) {
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// fields is the single declaration of every setting.
func fields() []field {
	return append([]field{
		enumField("mode", "WRIT_MODE", string(Development), "development (generates what is missing) or production (requires issuer, master key and TLS)",
			[]string{string(Development), string(Production)}, func(c *Config) *string { return (*string)(&c.Mode) }),
		strField("issuer", "WRIT_ISSUER", "", "issuer URL published in tokens and discovery (default in development: http://ADDR)",
			func(c *Config) *string { return &c.Issuer }),
		strField("addr", "WRIT_ADDR", "127.0.0.1:8080", "host:port of the public endpoints",
			func(c *Config) *string { return &c.Addr }),
		strField("admin_addr", "WRIT_ADMIN_ADDR", "127.0.0.1:8081", "host:port of the admin API (keep it private)",
			func(c *Config) *string { return &c.AdminAddr }),
		strField("data_dir", "WRIT_DATA_DIR", "writ-data", "directory for the embedded database and development secrets",
			func(c *Config) *string { return &c.DataDir }),
		strField("database", "WRIT_DATABASE", "", "database DSN: postgres://... or sqlite:PATH (default: sqlite in the data directory)",
			func(c *Config) *string { return &c.Database }),
		strField("tls_cert_file", "WRIT_TLS_CERT_FILE", "", "TLS certificate (PEM) for the public listener",
			func(c *Config) *string { return &c.TLSCertFile }),
		strField("tls_key_file", "WRIT_TLS_KEY_FILE", "", "TLS private key (PEM) for the public listener",
			func(c *Config) *string { return &c.TLSKeyFile }),
		boolField("tls_terminated", "WRIT_TLS_TERMINATED", "false", "TLS terminates in front of writ (a proxy or load balancer); serve plain HTTP",
			func(c *Config) *bool { return &c.TLSTerminated }),
		strField("admin_tls_cert_file", "WRIT_ADMIN_TLS_CERT_FILE", "", "TLS certificate (PEM) for the admin listener; production requires it when admin_addr is not a loopback address",
			func(c *Config) *string { return &c.AdminTLSCertFile }),
		strField("admin_tls_key_file", "WRIT_ADMIN_TLS_KEY_FILE", "", "TLS private key (PEM) for the admin listener",
			func(c *Config) *string { return &c.AdminTLSKeyFile }),
		strField("mtls_addr", "WRIT_MTLS_ADDR", "", "host:port of a second TLS listener (with tls_cert_file's certificate) that requests, without requiring, TLS client certificates for mutual-TLS client authentication and certificate-bound tokens (RFC 8705); empty: off",
			func(c *Config) *string { return &c.MTLSAddr }),
		strField("mtls_url", "WRIT_MTLS_URL", "", "https base URL where clients connect with certificates, published as mtls_endpoint_aliases (RFC 8705 §5); default: https://MTLS_ADDR",
			func(c *Config) *string { return &c.MTLSURL }),
		strField("mtls_client_ca_file", "WRIT_MTLS_CLIENT_CA_FILE", "", "PEM bundle of the CAs that tls_client_auth client certificates must chain to (self_signed_tls_client_auth needs none)",
			func(c *Config) *string { return &c.MTLSClientCAFile }),
		strField("mtls_client_cert_header", "WRIT_MTLS_CLIENT_CERT_HEADER", "", "request header in which a TLS-terminating proxy forwards the client certificate (URL-encoded PEM as nginx $ssl_client_escaped_cert, Envoy x-forwarded-client-cert, RFC 9440 Client-Cert); believed only from mtls_trusted_proxies; empty: off",
			func(c *Config) *string { return &c.MTLSClientCertHeader }),
		strField("mtls_trusted_proxies", "WRIT_MTLS_TRUSTED_PROXIES", "", "comma-separated IP addresses or CIDR prefixes of the proxies whose mtls_client_cert_header is believed",
			func(c *Config) *string { return &c.MTLSTrustedProxies }),
		strField("master_key_file", "WRIT_MASTER_KEY_FILE", "", "file holding the 32-byte master key (base64) that seals signing keys at rest; or set WRIT_MASTER_KEY",
			func(c *Config) *string { return &c.MasterKeyFile }),
		durField("access_token_ttl", "WRIT_ACCESS_TOKEN_TTL", "15m", "default access token lifetime",
			func(c *Config) *time.Duration { return &c.AccessTokenTTL }),
		durField("refresh_token_ttl", "WRIT_REFRESH_TOKEN_TTL", "720h", "sliding refresh token lifetime: each use extends it by this much",
			func(c *Config) *time.Duration { return &c.RefreshTokenTTL }),
		durField("refresh_token_absolute_ttl", "WRIT_REFRESH_TOKEN_ABSOLUTE_TTL", "2160h", "absolute lifetime of a refresh token family, however often it is used",
			func(c *Config) *time.Duration { return &c.RefreshTokenAbsoluteTTL }),
		durField("public_client_access_token_ttl", "WRIT_PUBLIC_CLIENT_ACCESS_TOKEN_TTL", "15m",
			"longest access token lifetime of a public client (no client secret, e.g. a native or MCP client): caps access_token_ttl and the client's own",
			func(c *Config) *time.Duration { return &c.PublicAccessTokenTTL }),
		resourceListField("mcp_resources", "WRIT_MCP_RESOURCES", "",
			"comma-separated resource URIs of MCP servers (an entry ending in /* is a prefix): a token for one is issued only to a request that names it with resource (RFC 8707)",
			func(c *Config) *[]string { return &c.MCPResources }),
		durField("id_token_ttl", "WRIT_ID_TOKEN_TTL", "1h", "default ID token lifetime",
			func(c *Config) *time.Duration { return &c.IDTokenTTL }),
		durField("session_ttl", "WRIT_SESSION_TTL", "24h", "absolute lifetime of a browser sign-in session",
			func(c *Config) *time.Duration { return &c.SessionTTL }),
		live(strField("ui_dir", "WRIT_UI_DIR", "", "directory whose templates/ and static/ files replace the built-in sign-in pages (theming). Live on SIGHUP (the files are read again)",
			func(c *Config) *string { return &c.UIDir })),
		boolField("require_pushed_authorization_requests", "WRIT_REQUIRE_PUSHED_AUTHORIZATION_REQUESTS", "false", "accept authorization requests only as a request_uri from the pushed authorization request endpoint /oauth2/par (RFC 9126), for every client",
			func(c *Config) *bool { return &c.RequirePushedAuthorizationRequests }),
		boolField("fapi2", "WRIT_FAPI2", "false", "hold every client to the FAPI 2.0 Security Profile (pushed requests, PKCE, DPoP or mTLS-bound tokens, private_key_jwt or mTLS, PS256/ES256/EdDSA); key_algorithm must be one of these",
			func(c *Config) *bool { return &c.FAPI2 }),
		enumField("key_algorithm", "WRIT_KEY_ALGORITHM", "ES256", "algorithm of access tokens and introspection responses (the key ring always has a key for it)",
			[]string{"ES256", "ES384", "ES512", "EdDSA", "RS256", "PS256"}, func(c *Config) *string { return &c.KeyAlgorithm }),
		algListField("key_algorithms", "WRIT_KEY_ALGORITHMS", "RS256,ES256,EdDSA",
			"comma-separated algorithms the key ring keeps an active key for, offered for ID tokens; RS256 and key_algorithm are always added",
			func(c *Config) *[]string { return &c.KeyAlgorithms }),
		durField("key_rotation", "WRIT_KEY_ROTATION", "720h", "rotate the signing key on this schedule (0 turns scheduled rotation off)",
			func(c *Config) *time.Duration { return &c.KeyRotation }),
		durField("key_min_publish", "WRIT_KEY_MIN_PUBLISH", "10m", "how long a new signing key is published in the JWKS of every node before a rotation lets it sign: longer than relying parties cache the JWKS (5m) and at least twice cluster_poll_interval",
			func(c *Config) *time.Duration { return &c.KeyMinPublish }),
		durField("cluster_poll_interval", "WRIT_CLUSTER_POLL_INTERVAL", "5s", "how often each node reads the signing key ring again; with several nodes on PostgreSQL, the bound within which a node follows another's change when change notifications are down (between 100ms and 1m)",
			func(c *Config) *time.Duration { return &c.ClusterPollInterval }),
		{key: "max_request_bytes", env: "WRIT_MAX_REQUEST_BYTES", def: "65536", usage: "largest request body accepted on any endpoint", kind: kindInt,
			set: func(c *Config, v string) error {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil || n < 1024 || n > 16<<20 {
					return fmt.Errorf("must be a byte count between 1024 and 16777216, got %q", v)
				}
				c.MaxRequestBytes = n
				return nil
			},
			get: func(c *Config) string { return strconv.FormatInt(c.MaxRequestBytes, 10) }},
		durField("shutdown_timeout", "WRIT_SHUTDOWN_TIMEOUT", "15s", "how long a graceful shutdown waits for requests in flight",
			func(c *Config) *time.Duration { return &c.ShutdownTimeout }),
		live(enumField("log_level", "WRIT_LOG_LEVEL", "info", "log level: debug, info, warn or error. Live on SIGHUP",
			[]string{"debug", "info", "warn", "error"}, func(c *Config) *string { return &c.LogLevel })),
		enumField("log_format", "WRIT_LOG_FORMAT", "text", "log format: text or json (JSON lines on standard error)",
			[]string{"text", "json"}, func(c *Config) *string { return &c.LogFormat }),
		{key: "gc_percent", env: "WRIT_GC_PERCENT", def: "", kind: kindString,
			usage: "Go garbage collector target, as GOGC (a percentage, or off): higher spends less CPU on collection and more memory; empty: GOGC when it is set, else 400",
			set: func(c *Config, v string) error {
				if v != "" && v != "off" {
					if n, err := strconv.Atoi(v); err != nil || n < 1 {
						return fmt.Errorf("must be a positive percentage or off, got %q", truncate(v))
					}
				}
				c.GCPercent = v
				return nil
			},
			get: func(c *Config) string { return c.GCPercent }},
		boolField("auto_migrate", "WRIT_AUTO_MIGRATE", "true", "apply pending database migrations at start",
			func(c *Config) *bool { return &c.AutoMigrate }),
		boolField("access_log", "WRIT_ACCESS_LOG", "false", "log every request at info: method, path (never the query), status, duration, client_id, request id",
			func(c *Config) *bool { return &c.AccessLog }),
		boolField("metrics_require_token", "WRIT_METRICS_REQUIRE_TOKEN", "false", "require the admin token (Authorization: Bearer) for GET /metrics on the admin listener; off, /metrics answers any caller that reaches the admin listener, which is meant to be private",
			func(c *Config) *bool { return &c.MetricsRequireToken }),
		{key: "metrics_max_clients", env: "WRIT_METRICS_MAX_CLIENTS", def: "100", usage: "how many admin-registered clients get their own client label in writ_tokens_issued_total (the first seen); the others count as other (0: all of them)", kind: kindInt,
			set: func(c *Config, v string) error {
				n, err := strconv.Atoi(v)
				if err != nil || n < 0 || n > 10000 {
					return fmt.Errorf("must be a number between 0 and 10000, got %q", truncate(v))
				}
				c.MetricsMaxClients = n
				return nil
			},
			get: func(c *Config) string { return strconv.Itoa(c.MetricsMaxClients) }},
		tracingEndpointField(),
		{key: "tracing_sample_ratio", env: "WRIT_TRACING_SAMPLE_RATIO", def: "1", usage: "fraction of requests traced when tracing_endpoint is set, from 0 to 1 (an incoming traceparent does not decide it)", kind: kindFloat,
			set: func(c *Config, v string) error {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil || f < 0 || f > 1 {
					return fmt.Errorf("must be a number between 0 and 1, got %q", truncate(v))
				}
				c.TracingSampleRatio = f
				return nil
			},
			get: func(c *Config) string { return strconv.FormatFloat(c.TracingSampleRatio, 'g', -1, 64) }},
		strField("tracing_service_name", "WRIT_TRACING_SERVICE_NAME", "writ", "service.name of the traces (tell the nodes of a deployment apart by their host, not by this)",
			func(c *Config) *string { return &c.TracingServiceName }),
		boolField("dpop", "WRIT_DPOP", "true", "accept DPoP proofs (RFC 9449) at the token endpoint and issue DPoP-bound tokens to clients that send one",
			func(c *Config) *bool { return &c.DPoP }),
		algListField("dpop_algorithms", "WRIT_DPOP_ALGORITHMS", "ES256,ES384,ES512,EdDSA,PS256,RS256",
			"comma-separated algorithms accepted for DPoP proofs (dpop_signing_alg_values_supported)",
			func(c *Config) *[]string { return &c.DPoPAlgorithms }),
		durField("dpop_max_age", "WRIT_DPOP_MAX_AGE", "2m", "how long after its iat a DPoP proof is accepted (and its jti remembered), between 10s and 10m",
			func(c *Config) *time.Duration { return &c.DPoPMaxAge }),
		boolField("dpop_nonce", "WRIT_DPOP_NONCE", "false", "require a server nonce in DPoP proofs (use_dpop_nonce, DPoP-Nonce; stateless, from the master key, rotating every 5m)",
			func(c *Config) *bool { return &c.DPoPNonce }),
		dpopReplayField(),
		boolField("client_metadata_documents", "WRIT_CLIENT_METADATA_DOCUMENTS", "false", "accept a client_id that is an https URL by fetching its Client ID Metadata Document (the MCP clients' registration); off by default: it lets any site start a sign-in, always with a consent page",
			func(c *Config) *bool { return &c.ClientMetadataDocuments }),
		boolField("client_metadata_allow_private", "WRIT_CLIENT_METADATA_ALLOW_PRIVATE", "false", "development only (refused in production): let metadata documents and client jwks_uri be fetched from loopback and private addresses",
			func(c *Config) *bool { return &c.ClientMetadataAllowPrivate }),
		strField("client_metadata_hosts", "WRIT_CLIENT_METADATA_HOSTS", "", "comma-separated hosts whose metadata documents are accepted (mcp.example.com, or *.example.com for its subdomains); empty: any public host",
			func(c *Config) *string { return &c.ClientMetadataHosts }),
		enumField("registration", "WRIT_REGISTRATION", RegistrationOff, "dynamic client registration (RFC 7591/7592) at /oauth2/register: off, token (an initial access token from registration_initial_tokens_file is required) or open",
			[]string{RegistrationOff, RegistrationToken, RegistrationOpen}, func(c *Config) *string { return &c.Registration }),
		strField("registration_initial_tokens_file", "WRIT_REGISTRATION_INITIAL_TOKENS_FILE", "", "file of initial access tokens for registration=token: one SHA-256 of a token per line (64 hex digits, as openssl dgst -sha256 -r prints it), # comments; read at each registration",
			func(c *Config) *string { return &c.RegistrationInitialTokensFile }),
		strField("dynamic_client_scopes", "WRIT_DYNAMIC_CLIENT_SCOPES", "openid profile email address phone offline_access", "space-separated scopes that dynamically registered and metadata document clients may be given (at most)",
			func(c *Config) *string { return &c.DynamicClientScopes }),
		strField("dynamic_client_audiences", "WRIT_DYNAMIC_CLIENT_AUDIENCES", "", "comma-separated resources (RFC 8707) that dynamically registered and metadata document clients may ask tokens for; empty: the issuer only",
			func(c *Config) *string { return &c.DynamicClientAudiences }),
		live(durField("client_cache_ttl", "WRIT_CLIENT_CACHE_TTL", "5s", "how long a node serves a client registration from memory before reading it again: the bound on how stale a change made at another node may be (0: no cache). Live on SIGHUP",
			func(c *Config) *time.Duration { return &c.ClientCacheTTL })),
		trustedProxiesField(),
		enumField("trusted_proxy_header", "WRIT_TRUSTED_PROXY_HEADER", "x-forwarded-for",
			"the forwarding header the trusted proxies set, the only one read: x-forwarded-for or forwarded (RFC 7239); a proxy passes the other through as the client sent it. A change needs a restart",
			[]string{"x-forwarded-for", "forwarded"}, func(c *Config) *string { return &c.TrustedProxyHeader }),
		rateLimitBackendField(),
	}, rateLimitFields()...)
}

// trustedProxiesField is the list of trusted proxies, checked as CIDR
// prefixes or addresses.
func trustedProxiesField() field {
	f := strField("trusted_proxies", "WRIT_TRUSTED_PROXIES", "",
		"comma-separated CIDR prefixes or addresses of the proxies (load balancers) whose Forwarded / X-Forwarded-For headers are believed to find the client address (the right-most address that is not a trusted proxy); empty: none, the peer address is the client's. A change needs a restart",
		func(c *Config) *string { return &c.TrustedProxies })
	f.set = func(c *Config, v string) error {
		if _, err := parsePrefixes(v); err != nil {
			return err
		}
		c.TrustedProxies = v
		return nil
	}
	return f
}

// parsePrefixes parses a comma-separated list of CIDR prefixes and
// addresses (trusted_proxies, mtls_trusted_proxies), as clientip reads
// trusted_proxies: an address becomes a single-address prefix, an address
// with a zone is refused, and an IPv4-mapped IPv6 prefix is the IPv4 one
// (peer addresses are compared unmapped).
func parsePrefixes(v string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, e := range commaList(v) {
		var p netip.Prefix
		if strings.Contains(e, "/") {
			pp, err := netip.ParsePrefix(e)
			if err != nil {
				return nil, fmt.Errorf("%q is not a CIDR prefix (10.0.0.0/8) or an address", truncate(e))
			}
			p = pp.Masked()
		} else {
			a, err := netip.ParseAddr(e)
			if err != nil || a.Zone() != "" {
				return nil, fmt.Errorf("%q is not a CIDR prefix (10.0.0.0/8) or an address", truncate(e))
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
		}
		out = append(out, p)
	}
	return out, nil
}

// rateLimitBackendField is where rate limits count. Its value as shown
// hides a password in a Redis URL.
func rateLimitBackendField() field {
	f := strField("rate_limit_backend", "WRIT_RATE_LIMIT_BACKEND", RateLimitAuto,
		"where rate limits and the sign-in throttle count: auto (database when it is PostgreSQL, shared by every node; else memory), memory (each node alone), database (PostgreSQL only), or a redis://, rediss:// or unix:// URL of a Redis shared by every node. A failing shared backend lets requests through (fail open) and logs a warning",
		func(c *Config) *string { return &c.RateLimitBackend })
	f.set = func(c *Config, v string) error {
		switch v {
		case RateLimitAuto, RateLimitMemory, RateLimitDatabase:
		default:
			u, err := url.Parse(v)
			if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss" && u.Scheme != "unix") {
				return errors.New("must be auto, memory, database or a redis://, rediss:// or unix:// URL")
			}
		}
		c.RateLimitBackend = v
		return nil
	}
	f.get = func(c *Config) string {
		if u, err := url.Parse(c.RateLimitBackend); err == nil && u.Scheme != "" {
			return u.Redacted()
		}
		return c.RateLimitBackend
	}
	return f
}

// rateLimitFields are the rate_limit_RULE settings.
func rateLimitFields() []field {
	var out []field
	for _, r := range RateLimitRules() {
		rule := r[0]
		out = append(out, field{live: true, key: "rate_limit_" + rule, env: "WRIT_RATE_LIMIT_" + strings.ToUpper(rule), def: r[1], kind: kindString,
			usage: "rate limit of " + r[2] + ": RATE/UNIT[:BURST] with UNIT s, m or h (10/s:20 is 10 a second, 20 at once), or 0 for none; a refusal is 429 with Retry-After. Live on SIGHUP",
			set: func(c *Config, v string) error {
				if err := checkLimit(v); err != nil {
					return err
				}
				if c.RateLimits == nil {
					c.RateLimits = make(map[string]string)
				}
				c.RateLimits[rule] = strings.TrimSpace(v)
				return nil
			},
			get: func(c *Config) string { return c.RateLimits[rule] }})
	}
	return out
}

// checkLimit checks the form of a rate limit (ratelimit.ParseLimit reads
// it; config depends on no other package of writ).
func checkLimit(v string) error {
	v = strings.TrimSpace(v)
	if v == "0" || v == "off" {
		return nil
	}
	bad := fmt.Errorf("%q is not a rate limit: use RATE/UNIT or RATE/UNIT:BURST with UNIT s, m or h (e.g. 10/s:20), or 0 for none", truncate(v))
	rate, rest, ok := strings.Cut(v, "/")
	if !ok {
		return bad
	}
	unit, burst, hasBurst := strings.Cut(rest, ":")
	if unit != "s" && unit != "m" && unit != "h" {
		return bad
	}
	if n, err := strconv.Atoi(rate); err != nil || n < 0 || n > 1_000_000 {
		return bad
	}
	if hasBurst {
		if n, err := strconv.Atoi(burst); err != nil || n < 1 || n > 1_000_000 {
			return bad
		}
	}
	return nil
}

// tracingEndpointField is the OTLP/HTTP traces URL; empty turns tracing
// off.
func tracingEndpointField() field {
	f := strField("tracing_endpoint", "WRIT_TRACING_ENDPOINT", "",
		"OpenTelemetry tracing: the OTLP/HTTP traces URL of a collector, e.g. http://127.0.0.1:4318/v1/traces; empty (the default) turns tracing off",
		func(c *Config) *string { return &c.TracingEndpoint })
	f.set = func(c *Config, v string) error {
		if v != "" {
			u, err := url.Parse(v)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
				return fmt.Errorf("must be an http:// or https:// URL with a host and no user information, got %q", truncate(v))
			}
		}
		c.TracingEndpoint = v
		return nil
	}
	return f
}

// dpopReplayField is the DPoP replay cache: memory, or a Redis URL. Its
// value as shown (Effective) hides a password in the URL.
func dpopReplayField() field {
	f := strField("dpop_replay", "WRIT_DPOP_REPLAY", "memory",
		"where used DPoP proofs are remembered: memory (one node) or a redis://, rediss:// or unix:// URL of a Redis shared by every node",
		func(c *Config) *string { return &c.DPoPReplay })
	f.set = func(c *Config, v string) error {
		if v != "memory" {
			u, err := url.Parse(v)
			if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss" && u.Scheme != "unix") {
				return errors.New("must be memory or a redis://, rediss:// or unix:// URL")
			}
		}
		c.DPoPReplay = v
		return nil
	}
	f.get = func(c *Config) string {
		if u, err := url.Parse(c.DPoPReplay); err == nil && u.Scheme != "" {
			return u.Redacted()
		}
		return c.DPoPReplay
	}
	return f
}

func flagName(key string) string { return strings.ReplaceAll(key, "_", "-") }

// Scope selects which settings a command takes as flags.
type Scope int

// Scopes.
const (
	// ServeScope is every setting ("writ serve").
	ServeScope Scope = iota
	// StoreScope is the settings that choose the database: data_dir and
	// database ("writ migrate").
	StoreScope
	// FileScope is no setting: only --config ("writ config show", which
	// reports what the file and the environment give).
	FileScope
)

func (s Scope) includes(f field) bool {
	switch s {
	case ServeScope:
		return true
	case StoreScope:
		return f.key == "data_dir" || f.key == "database"
	}
	return false
}

// BindFlags declares --config and one flag per setting in scope on fs. A
// flag has the setting's type: a bool setting is a flag that works bare.
func BindFlags(fs *pflag.FlagSet, scope Scope) {
	fs.String("config", "", "YAML configuration file (also WRIT_CONFIG)")
	for _, f := range fields() {
		if !scope.includes(f) {
			continue
		}
		name := flagName(f.key)
		usage := f.usage + " (env " + f.env + ")"
		if f.kind == kindBool {
			usage = f.usage + " (bool; env " + f.env + ")"
		}
		fs.Var(&flagValue{f: f, text: f.def}, name, usage)
		if f.kind == kindBool {
			fs.Lookup(name).NoOptDefVal = "true"
		}
	}
}

// flagValue is the pflag.Value of one setting: it checks a value with the
// setting's own parser and keeps the text as given, so that help shows
// defaults as the reference writes them ("15m", not "15m0s").
type flagValue struct {
	f    field
	text string
}

func (v *flagValue) String() string { return v.text }

// Type is the type help shows next to the flag.
func (v *flagValue) Type() string { return string(v.f.kind) }

// Set checks s with the setting's parser.
func (v *flagValue) Set(s string) error {
	if err := v.f.set(&Config{}, s); err != nil {
		return err
	}
	v.text = s
	return nil
}

// IsBoolFlag tells flag parsers that a bool setting may be given bare.
func (v *flagValue) IsBoolFlag() bool { return v.f.kind == kindBool }

// truncate shortens a value quoted in an error message.
func truncate(s string) string {
	if len(s) > 64 {
		return strings.ToValidUTF8(s[:64], "") + "..."
	}
	return s
}

// Load builds a Config: defaults, then the YAML file (from --config or
// WRIT_CONFIG), then the environment (looked up with getenv), then the flags
// the user set explicitly. fs may be nil.
func Load(fs *pflag.FlagSet, getenv func(string) string) (*Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	c := &Config{}
	all := fields()
	for _, f := range all {
		if err := f.set(c, f.def); err != nil {
			return nil, fmt.Errorf("config: default of %s: %w", f.key, err)
		}
	}
	path := getenv("WRIT_CONFIG")
	if fs != nil {
		if fl := fs.Lookup("config"); fl != nil && fl.Changed {
			path = fl.Value.String()
		}
	}
	if path != "" {
		if err := loadFile(c, path, all); err != nil {
			return nil, err
		}
	}
	for _, f := range all {
		if v := getenv(f.env); v != "" {
			if err := f.set(c, v); err != nil {
				return nil, fmt.Errorf("config: environment %s: %w", f.env, err)
			}
		}
	}
	if fs != nil {
		for _, f := range all {
			if fl := fs.Lookup(flagName(f.key)); fl != nil && fl.Changed {
				if err := f.set(c, fl.Value.String()); err != nil {
					return nil, fmt.Errorf("config: flag --%s: %w", flagName(f.key), err)
				}
			}
		}
	}
	return c, nil
}

func loadFile(c *Config, path string, all []field) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: read %s: %w", path, err)
	}
	var doc map[string]yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		// io.EOF: the file is empty or holds only comments, which sets
		// nothing.
		return fmt.Errorf("config: %s is not valid YAML: %w", path, err)
	}
	byKey := make(map[string]field, len(all))
	for _, f := range all {
		byKey[f.key] = f
	}
	for k, node := range doc {
		f, ok := byKey[k]
		if !ok {
			return fmt.Errorf("config: %s: unknown setting %q (see docs/configuration.md)", path, k)
		}
		if node.Kind != yaml.ScalarNode {
			return fmt.Errorf("config: %s: %s must be a single value", path, k)
		}
		if err := f.set(c, node.Value); err != nil {
			return fmt.Errorf("config: %s: %s: %w", path, k, err)
		}
	}
	return nil
}

// Validate checks the settings against each other and the mode. In
// production it requires an https issuer, a master key source, and TLS
// files or TLSTerminated.
func (c *Config) Validate(getenv func(string) string) error {
	if getenv == nil {
		getenv = os.Getenv
	}
	var errs []error
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("addr %q is not host:port", c.Addr))
	}
	if _, _, err := net.SplitHostPort(c.AdminAddr); err != nil {
		errs = append(errs, fmt.Errorf("admin_addr %q is not host:port", c.AdminAddr))
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		errs = append(errs, errors.New("tls_cert_file and tls_key_file go together"))
	}
	if (c.AdminTLSCertFile == "") != (c.AdminTLSKeyFile == "") {
		errs = append(errs, errors.New("admin_tls_cert_file and admin_tls_key_file go together"))
	}
	if c.Issuer != "" {
		u, err := url.Parse(c.Issuer)
		switch {
		case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
			errs = append(errs, fmt.Errorf("issuer %q must be an absolute http(s) URL", c.Issuer))
		case u.RawQuery != "" || u.Fragment != "":
			errs = append(errs, fmt.Errorf("issuer %q must not have a query or fragment (RFC 8414)", c.Issuer))
		}
	}
	if c.FAPI2 && !slices.Contains([]string{"PS256", "ES256", "EdDSA"}, c.KeyAlgorithm) {
		errs = append(errs, fmt.Errorf("fapi2 needs key_algorithm PS256, ES256 or EdDSA (the FAPI 2.0 algorithms), not %s", c.KeyAlgorithm))
	}
	if c.DPoPMaxAge < 10*time.Second || c.DPoPMaxAge > 10*time.Minute {
		errs = append(errs, fmt.Errorf("dpop_max_age %s must be between 10s and 10m", c.DPoPMaxAge))
	}
	if c.AccessTokenTTL < time.Minute || c.AccessTokenTTL > 24*time.Hour {
		errs = append(errs, fmt.Errorf("access_token_ttl %s must be between 1m and 24h", c.AccessTokenTTL))
	}
	if c.PublicAccessTokenTTL < time.Minute || c.PublicAccessTokenTTL > 24*time.Hour {
		errs = append(errs, fmt.Errorf("public_client_access_token_ttl %s must be between 1m and 24h", c.PublicAccessTokenTTL))
	}
	if c.ClusterPollInterval < 100*time.Millisecond || c.ClusterPollInterval > time.Minute {
		errs = append(errs, fmt.Errorf("cluster_poll_interval %s must be between 100ms and 1m", c.ClusterPollInterval))
	}
	if c.KeyMinPublish < 2*c.ClusterPollInterval {
		errs = append(errs, fmt.Errorf("key_min_publish %s must be at least twice cluster_poll_interval (%s): every node must publish a key before any signs with it", c.KeyMinPublish, c.ClusterPollInterval))
	}
	errs = append(errs, c.validateRegistration()...)
	errs = append(errs, c.validateMTLS()...)
	if c.Mode == Production {
		if c.ClientMetadataAllowPrivate {
			errs = append(errs, errors.New("client_metadata_allow_private is for development only: production mode refuses it"))
		}
		if c.Issuer == "" {
			errs = append(errs, errors.New("production mode needs an explicit issuer (--issuer or WRIT_ISSUER)"))
		} else if u, err := url.Parse(c.Issuer); err == nil && u.Scheme != "https" {
			errs = append(errs, errors.New("production mode needs an https issuer"))
		}
		if c.MasterKeyFile == "" && getenv("WRIT_MASTER_KEY") == "" {
			errs = append(errs, errors.New("production mode needs a master key: set WRIT_MASTER_KEY or --master-key-file (create one with `writ key master`)"))
		}
		if c.TLSCertFile == "" && !c.TLSTerminated {
			errs = append(errs, errors.New("production mode needs --tls-cert-file/--tls-key-file, or --tls-terminated when a proxy terminates TLS"))
		}
	}
	if len(errs) > 0 {
		return &ValidationError{Problems: errs}
	}
	return nil
}

// ValidationError lists every problem Validate found, one per line.
type ValidationError struct {
	// Problems are the problems, each one line.
	Problems []error
}

// Error lists the problems, one per line.
func (e *ValidationError) Error() string {
	if len(e.Problems) == 1 {
		return "config: " + e.Problems[0].Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "config: %d problems:", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  - " + p.Error())
	}
	return b.String()
}

// Unwrap returns the problems, for errors.Is and errors.As.
func (e *ValidationError) Unwrap() []error { return e.Problems }

// DatabaseDSN returns the configured DSN or the default SQLite file in the
// data directory.
func (c *Config) DatabaseDSN() string {
	if c.Database != "" {
		return c.Database
	}
	return "sqlite:" + filepath.Join(c.DataDir, "writ.db")
}

// IssuerURL returns the configured issuer, or in development the URL of the
// public listener.
func (c *Config) IssuerURL() string {
	if c.Issuer != "" {
		return strings.TrimSuffix(c.Issuer, "/")
	}
	scheme := "http"
	if c.TLSCertFile != "" {
		scheme = "https"
	}
	return scheme + "://" + c.Addr
}

// Reference returns the Markdown table of every setting: YAML key,
// environment variable, flag, type, default and meaning.
func Reference() string {
	var b strings.Builder
	b.WriteString("| YAML key | environment | flag | type | default | meaning |\n|---|---|---|---|---|---|\n")
	for _, f := range fields() {
		def := "`" + f.def + "`"
		if f.def == "" {
			def = "—"
		}
		fmt.Fprintf(&b, "| `%s` | `%s` | `--%s` | %s | %s | %s |\n", f.key, f.env, flagName(f.key), f.kind, def, f.usage)
	}
	return b.String()
}

// Effective lists every setting with its value in c, in declaration order,
// as YAML key and value. No value shown is a secret: the one setting that
// may hold one, a password in dpop_replay's Redis URL, shows it as xxxxx.
func (c *Config) Effective() [][2]string {
	all := fields()
	out := make([][2]string, 0, len(all))
	for _, f := range all {
		out = append(out, [2]string{f.key, f.get(c)})
	}
	return out
}

// validateRegistration checks the settings of dynamic client registration
// and metadata document clients.
func (c *Config) validateRegistration() []error {
	var errs []error
	if c.Registration == RegistrationToken && c.RegistrationInitialTokensFile == "" {
		errs = append(errs, errors.New("registration=token needs registration_initial_tokens_file (SHA-256 hashes of the initial access tokens)"))
	}
	for _, s := range c.DynamicClientScopeList() {
		for i := 0; i < len(s); i++ {
			if ch := s[i]; ch < 0x21 || ch == '"' || ch == '\\' || ch > 0x7e {
				errs = append(errs, fmt.Errorf("dynamic_client_scopes: %q is not a scope value (RFC 6749 section 3.3)", truncate(s)))
				break
			}
		}
	}
	for _, h := range c.ClientMetadataHostList() {
		name := strings.TrimPrefix(h, "*.")
		if name == "" || strings.ContainsAny(name, "*/:@?#[] ") || strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") {
			errs = append(errs, fmt.Errorf("client_metadata_hosts: %q must be a host name, or *. and a domain", truncate(h)))
		}
	}
	for _, a := range c.DynamicClientAudienceList() {
		if u, err := url.Parse(a); err != nil || !u.IsAbs() || u.Fragment != "" || strings.Contains(a, "#") {
			errs = append(errs, fmt.Errorf("dynamic_client_audiences: %q must be an absolute URI without a fragment", truncate(a)))
		}
	}
	return errs
}

// DynamicClientScopeList returns dynamic_client_scopes as a list.
func (c *Config) DynamicClientScopeList() []string {
	return strings.Fields(c.DynamicClientScopes)
}

// DynamicClientAudienceList returns dynamic_client_audiences as a list.
func (c *Config) DynamicClientAudienceList() []string {
	return commaList(c.DynamicClientAudiences)
}

// ClientMetadataHostList returns client_metadata_hosts as a list.
func (c *Config) ClientMetadataHostList() []string {
	return commaList(c.ClientMetadataHosts)
}

// commaList splits a comma-separated setting, trimmed, without empty
// entries or repeats.
func commaList(v string) []string {
	var out []string
	for _, a := range strings.Split(v, ",") {
		if a = strings.TrimSpace(a); a != "" && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// MTLSEnabled reports whether mutual-TLS client authentication is on: an
// mTLS listener or a trusted proxy's certificate header.
func (c *Config) MTLSEnabled() bool { return c.MTLSAddr != "" || c.MTLSClientCertHeader != "" }

// MTLSTrustedProxyList parses mtls_trusted_proxies: addresses become
// single-address prefixes.
func (c *Config) MTLSTrustedProxyList() ([]netip.Prefix, error) {
	out, err := parsePrefixes(c.MTLSTrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("mtls_trusted_proxies: %w", err)
	}
	return out, nil
}

// validateMTLS checks the mutual-TLS settings.
func (c *Config) validateMTLS() []error {
	var errs []error
	if c.MTLSAddr != "" {
		if _, _, err := net.SplitHostPort(c.MTLSAddr); err != nil {
			errs = append(errs, fmt.Errorf("mtls_addr %q is not host:port", c.MTLSAddr))
		}
		if c.TLSCertFile == "" {
			errs = append(errs, errors.New("mtls_addr needs tls_cert_file and tls_key_file: writ terminates TLS on the mTLS listener"))
		}
	}
	if c.MTLSClientCertHeader != "" && c.MTLSTrustedProxies == "" {
		errs = append(errs, errors.New("mtls_client_cert_header needs mtls_trusted_proxies: the header is believed only from the proxies named there"))
	}
	if c.MTLSTrustedProxies != "" && c.MTLSClientCertHeader == "" {
		errs = append(errs, errors.New("mtls_trusted_proxies is set without mtls_client_cert_header"))
	}
	if _, err := c.MTLSTrustedProxyList(); err != nil {
		errs = append(errs, err)
	}
	if !c.MTLSEnabled() && (c.MTLSURL != "" || c.MTLSClientCAFile != "") {
		errs = append(errs, errors.New("mtls_url and mtls_client_ca_file need mtls_addr or mtls_client_cert_header (mutual TLS is off)"))
	}
	if c.MTLSURL != "" {
		u, err := url.Parse(c.MTLSURL)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			errs = append(errs, fmt.Errorf("mtls_url %q must be an https URL without query or fragment", truncate(c.MTLSURL)))
		}
	}
	return errs
}

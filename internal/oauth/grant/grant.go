// Package grant holds one handler per OAuth 2.0 grant type, registered by
// grant_type in a plain map. Each handler receives a decoded request whose
// client is already authenticated, asks only for the narrow store
// interfaces it needs, and returns a typed response or an *oauth.Error.
//
// The user-facing grants (authorization_code, refresh_token) follow one
// shape, fosite's split of checking from populating the response: look the
// credential up and validate the request against it without writing
// anything; mint the tokens in memory; then one store call commits the
// redemption (or rotation) together with what it issued (store.Issue).
// A failed request therefore neither consumes nor revokes anything, and a
// replay that loses a race to the first use still finds what that use
// issued, and revokes exactly that.
package grant

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"time"

	"github.com/writ-dev/writ/internal/mint"
	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/jwt"
)

// Grant types.
const (
	TypeClientCredentials = "client_credentials"
	TypeAuthorizationCode = "authorization_code"
	TypeRefreshToken      = "refresh_token"
	TypeTokenExchange     = "urn:ietf:params:oauth:grant-type:token-exchange"
	TypeDeviceCode        = "urn:ietf:params:oauth:grant-type:device_code"
	TypeJWTBearer         = "urn:ietf:params:oauth:grant-type:jwt-bearer"
)

// Token type identifiers (RFC 8693 §3, draft-ietf-oauth-identity-assertion-authz-grant).
const (
	TokenTypeAccessToken  = "urn:ietf:params:oauth:token-type:access_token"
	TokenTypeRefreshToken = "urn:ietf:params:oauth:token-type:refresh_token"
	TokenTypeIDToken      = "urn:ietf:params:oauth:token-type:id_token"
	TokenTypeJWT          = "urn:ietf:params:oauth:token-type:jwt"
	TokenTypeIDJAG        = "urn:ietf:params:oauth:token-type:id-jag"
	TokenTypeSAML2        = "urn:ietf:params:oauth:token-type:saml2"
)

// IDJAGRequest asks for an Identity Assertion JWT Authorization Grant,
// after token exchange validated the subject token and the client's policy
// (ExchangePolicy.IDJAGAudiences).
type IDJAGRequest struct {
	// Client is the client that asked (the ID-JAG's client_id).
	Client *store.Client
	// Subject is the user (the subject token's sub); SubjectToken the
	// verified subject token, for claims such as auth_time.
	Subject string
	// SubjectToken is the verified subject token, or nil; the ID-JAG
	// copies its auth_time (and acr, amr) when present.
	SubjectToken *jwt.Token
	// Audience is the resource authorization server's issuer identifier.
	Audience string
	// Resources are the RFC 8707 resources asked for, or nil.
	Resources []string
	// Scopes are the scopes asked for, or nil.
	Scopes []string
	// RequestID identifies the HTTP request, for the audit trail.
	RequestID string
}

// IDJAGIssuer mints ID-JAGs (typ oauth-id-jag+jwt) for token exchange.
type IDJAGIssuer interface {
	IssueIDJAG(ctx context.Context, req IDJAGRequest) (token string, expiresIn int64, err error)
}

// Request is a token request after decoding and client authentication.
type Request struct {
	// Form is the decoded request body.
	Form oauth.Form
	// Client is the authenticated client.
	Client *oauth.Authenticated
	// RequestID identifies the HTTP request in logs, or is empty.
	RequestID string
	// SourceAddr is the client's network address, for logs, or empty.
	SourceAddr string
	// DPoPKey is the RFC 7638 thumbprint of the key of the valid DPoP
	// proof (RFC 9449 §5) sent with the request, or empty when none was
	// sent. The server checks the proof before the grant runs; a grant
	// that gets a key binds what it issues to it (cnf.jkt, token_type
	// DPoP).
	DPoPKey string
	// CertThumbprint is the base64url SHA-256 of the DER form of the TLS
	// client certificate the request came with (RFC 8705 §3.1, the
	// cnf.x5t#S256 value), or empty when none was presented. The server
	// fills it from the TLS connection, or behind a trusted proxy from the
	// configured header; a grant that gets one binds what it issues to it
	// when the client asks for certificate-bound tokens.
	CertThumbprint string
}

// Response is a successful token response (RFC 6749 §5.1).
type Response struct {
	AccessToken     string `json:"access_token"`
	TokenType       string `json:"token_type"`
	ExpiresIn       int64  `json:"expires_in,omitempty"`
	Scope           string `json:"scope,omitempty"`
	RefreshToken    string `json:"refresh_token,omitempty"`
	IDToken         string `json:"id_token,omitempty"`
	IssuedTokenType string `json:"issued_token_type,omitempty"`
}

// Handler handles one grant type.
type Handler interface {
	Handle(ctx context.Context, req *Request) (*Response, error)
}

// Handlers maps grant_type values to their handlers.
type Handlers map[string]Handler

// Names returns the registered grant types, sorted, for discovery.
func (h Handlers) Names() []string {
	out := make([]string, 0, len(h))
	for k := range h {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// mintFailed maps a minting failure to the OAuth error: no active signing
// key is a passing condition (503 temporarily_unavailable), anything else a
// server error.
func mintFailed(err error) error {
	if errors.Is(err, mint.ErrNoSigningKey) {
		return oauth.TemporarilyUnavailable(err, "no signing key is active; retry shortly")
	}
	return oauth.ServerError(err)
}

// checkGrantAllowed fails unless the client registered grantType.
func checkGrantAllowed(c *store.Client, grantType string) error {
	if !slices.Contains(c.GrantTypes, grantType) {
		return oauth.UnauthorizedClient("this client may not use the %s grant", grantType)
	}
	return nil
}

// Scopes resolves the scope parameter against what the client may ask for:
// absent means every scope the client registered; otherwise a subset.
func Scopes(f oauth.Form, allowed []string) ([]string, error) {
	requested, err := oauth.ParseScope(f.Get("scope"))
	if err != nil {
		return nil, err
	}
	if requested == nil {
		return slices.Clone(allowed), nil
	}
	if !oauth.Subset(requested, allowed) {
		return nil, oauth.InvalidScope("the requested scope exceeds what this client may ask for")
	}
	return requested, nil
}

// MaxResourceLen bounds one resource indicator.
const MaxResourceLen = 2048

// DefaultAudience is the audience of a token for which no resource was
// requested (RFC 9068 §3 requires one): the client's first registered
// audience, else def (the server's default, normally the issuer).
func DefaultAudience(c *store.Client, def string) []string {
	if len(c.Audiences) > 0 {
		return c.Audiences[:1:1]
	}
	return []string{def}
}

// Audience resolves RFC 8707 resource indicators: each must be an absolute
// URI without a fragment and among the client's allowed audiences. Without
// any, it is DefaultAudience.
func Audience(f oauth.Form, c *store.Client, def string) ([]string, error) {
	resources := f.All("resource")
	if len(resources) == 0 {
		return DefaultAudience(c, def), nil
	}
	out := make([]string, 0, len(resources))
	for _, r := range resources {
		if len(r) > MaxResourceLen {
			return nil, oauth.InvalidTarget("resource is too long")
		}
		u, err := url.Parse(r)
		if err != nil || !u.IsAbs() || u.Fragment != "" || u.RawFragment != "" || r[len(r)-1] == '#' {
			return nil, oauth.InvalidTarget("resource must be an absolute URI without a fragment")
		}
		if !slices.Contains(c.Audiences, r) {
			return nil, oauth.InvalidTarget("this client may not ask for that resource")
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out, nil
}

// RequireResource refuses a token for an audience in explicit (the MCP
// servers) unless the request named it, with resource (RFC 8707) or, in
// token exchange, audience (RFC 8693): the MCP authorization specification
// has clients send resource on every request, and a token for an MCP
// server must never be a default (RFC 8707 §2: invalid_target covers a
// missing resource). Grants call it with the audience they resolved.
func RequireResource(f oauth.Form, aud []string, explicit *oauth.ResourceSet) error {
	if explicit.Empty() {
		return nil
	}
	named := slices.Concat(f.All("resource"), f.All("audience"))
	for _, a := range aud {
		if explicit.Contains(a) && !slices.Contains(named, a) {
			return oauth.InvalidTarget("resource is required: %s is an MCP server", a)
		}
	}
	return nil
}

// TokenResources resolves the resource parameters of a token request that
// redeems a grant made for granted (an authorization code, a refresh
// token; RFC 8707 §2.2): none keeps granted; otherwise each must be one of
// granted, and the access token is issued for them alone.
func TokenResources(f oauth.Form, granted []string) ([]string, error) {
	resources := f.All("resource")
	if len(resources) == 0 {
		return granted, nil
	}
	out := make([]string, 0, len(resources))
	for _, r := range resources {
		if !slices.Contains(granted, r) {
			return nil, oauth.InvalidTarget("resource must be one the authorization was granted for")
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out, nil
}

// ErrUntrustedIssuer reports a JWT whose iss is not a TrustedIssuer
// admitted for the use asked (ExternalTokens.Verify).
var ErrUntrustedIssuer = errors.New("grant: the token's issuer is not trusted for this use")

// SAMLAssertions verifies the SAML 2.0 assertions presented to token
// exchange: writ's own and those of trusted SAML identity providers.
type SAMLAssertions interface {
	// VerifySAML verifies a subject or actor token of type saml2 (a
	// base64url SAML 2.0 assertion): signature by a key trusted for its
	// issuer, time window, and an AudienceRestriction naming writ or one
	// of audiences (the exchanging client's ID and its policy's
	// SubjectAudiences). It returns ErrUntrustedIssuer (wrapped) when the
	// issuer is not trusted. It does not use the assertion up: UseSAML
	// does, once the exchange's checks have passed, so that a client
	// the assertion is not for cannot spend it.
	VerifySAML(ctx context.Context, raw string, audiences []string) (*SAMLSubject, error)
	// UseSAML records a verified assertion as used; it returns
	// ErrSAMLReplayed (wrapped) when it already was.
	UseSAML(ctx context.Context, a *SAMLSubject) error
}

// ErrSAMLReplayed is UseSAML's error for an assertion already used.
var ErrSAMLReplayed = errors.New("grant: the SAML assertion was already used")

// SAMLSubject is what a verified SAML assertion says: who issued it, of
// whom, and for how long.
type SAMLSubject struct {
	// ID is the assertion's ID, unique per issuer.
	ID string
	// Issuer is the IdP's entity ID.
	Issuer string
	// Subject is the NameID.
	Subject string
	// Audiences are the assertion's AudienceRestriction audiences.
	Audiences []string
	// IssuedAt and ExpiresAt bound the assertion.
	IssuedAt time.Time
	// ExpiresAt: see IssuedAt.
	ExpiresAt time.Time
}

// ExternalTokens verifies JWTs issued by trusted external issuers
// (store.TrustedIssuer): subject and actor tokens of token exchange, JWT
// bearer assertions, ID-JAGs.
type ExternalTokens interface {
	// Verify verifies raw as a token of a trusted issuer admitted for use
	// (a store.Trust* constant): signature by the issuer's keys, exp, nbf,
	// iat, and that aud is one of audiences when audiences is not empty.
	// It returns ErrUntrustedIssuer (wrapped) when the iss is not trusted
	// for use, jwt's sentinels for a token that fails verification.
	Verify(ctx context.Context, raw, use string, audiences []string) (*jwt.Token, *store.TrustedIssuer, error)
}

package oauth

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/writ-dev/writ/internal/clientip"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
)

// Client authentication methods (RFC 7591 token_endpoint_auth_method).
const (
	AuthSecretBasic   = "client_secret_basic"
	AuthSecretPost    = "client_secret_post"
	AuthPrivateKeyJWT = "private_key_jwt"
	AuthNone          = "none"
)

// Mutual-TLS client authentication methods (RFC 8705 §2).
const (
	// MethodTLSClientAuth is PKI mutual-TLS client authentication (RFC 8705
	// §2.1): the client's certificate chains to the configured client CA
	// and carries the registered subject DN or subject alternative name.
	MethodTLSClientAuth = "tls_client_auth"
	// MethodSelfSignedTLSClientAuth is self-signed certificate mutual-TLS
	// client authentication (RFC 8705 §2.2): the certificate matches a key
	// in the client's registered JWKS.
	MethodSelfSignedTLSClientAuth = "self_signed_tls_client_auth"
)

// IsMTLSMethod reports whether method is one of the mutual-TLS client
// authentication methods of RFC 8705.
func IsMTLSMethod(method string) bool {
	return method == MethodTLSClientAuth || method == MethodSelfSignedTLSClientAuth
}

// AssertionTypeJWTBearer is the client_assertion_type of RFC 7523.
const AssertionTypeJWTBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// Bounds on client authentication input.
const (
	maxClientIDLen   = 256
	maxSecretLen     = 512
	maxAssertionSize = 8 << 10
	// MaxAssertionLifetime bounds exp - now of a client assertion.
	MaxAssertionLifetime = 5 * time.Minute
)

// ClientGetter reads client registrations.
type ClientGetter interface {
	GetClient(ctx context.Context, id string) (store.Client, error)
}

// ClientKeySource returns the key set of a private_key_jwt client: its
// registered jwks, or its jwks_uri fetched and cached.
type ClientKeySource interface {
	ClientKeys(ctx context.Context, c *store.Client, h *jose.Header) (*jose.KeySet, error)
}

// Authenticator authenticates clients at the token, introspection and
// revocation endpoints.
type Authenticator struct {
	// Clients reads registrations (usually through a cache).
	Clients ClientGetter
	// Hasher checks client secrets.
	Hasher *SecretHasher
	// Replay remembers used client assertion jti values.
	Replay store.ReplayStore
	// Keys supplies the keys of private_key_jwt clients.
	Keys ClientKeySource
	// ClientCAs are the certificate authorities a tls_client_auth
	// client's certificate must chain to (RFC 8705 §2.1); nil refuses
	// tls_client_auth. The request's certificate comes from its context
	// (WithClientCertificate).
	ClientCAs *x509.CertPool
	// Audiences are the values a client assertion's aud may hold: the
	// issuer and the endpoint URLs.
	Audiences []string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives a warning for every failed client authentication;
	// nil discards them.
	Logger *slog.Logger
	// RequestID returns the id the server gave the request of ctx, for
	// the log of a failure; nil, or "", logs none. It is never read from
	// the request itself.
	RequestID func(ctx context.Context) string
}

// Authenticated is the result of client authentication.
type Authenticated struct {
	Client store.Client
	Method string
}

// errAuthFailed is the one description for every authentication failure,
// so that an unknown client and a wrong secret look the same.
const errAuthFailed = "client authentication failed"

// Authenticate identifies and authenticates the client of a form request. It
// accepts exactly one method. A client registered with a secret
// (client_secret_basic or client_secret_post) may send it either way, since
// the secret is the same; private_key_jwt and none must be used as
// registered. Public clients (method none) are identified, not
// authenticated: callers must check what such a client may do.
//
// Every failure is logged as a warning with the client_id the request
// named, the source address and the request id (Authenticator.RequestID),
// never a secret.
func (a *Authenticator) Authenticate(ctx context.Context, r *http.Request, f Form) (*Authenticated, error) {
	claimed := attempt{method: "unknown"}
	res, err := a.authenticate(ctx, r, f, &claimed)
	if err != nil {
		a.logFailure(ctx, r, claimed, err)
	}
	return res, err
}

// attempt is what a request claimed, for the log of a failure.
type attempt struct {
	clientID string
	method   string
}

// logFailure logs a failed client authentication. Store failures are
// server errors, logged by the caller with their cause.
func (a *Authenticator) logFailure(ctx context.Context, r *http.Request, claimed attempt, err error) {
	e := AsError(err)
	if a.Logger == nil || e.Status >= http.StatusInternalServerError {
		return
	}
	attrs := []slog.Attr{
		slog.String("client_id", clip(claimed.clientID, maxClientIDLen)),
		slog.String("auth_method", claimed.method),
		slog.String("source", clientip.Of(r)),
		slog.String("error", e.Code),
		slog.String("description", e.Description),
	}
	if a.RequestID != nil {
		if id := a.RequestID(ctx); id != "" {
			attrs = append(attrs, slog.String("request_id", id))
		}
	}
	a.Logger.LogAttrs(ctx, slog.LevelWarn, "client authentication failed", attrs...)
}

// clip bounds a logged value that came from the request.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func (a *Authenticator) authenticate(ctx context.Context, r *http.Request, f Form, claimed *attempt) (*Authenticated, error) {
	basicID, basicSecret, hasBasic, err := basicAuth(r)
	if hasBasic || err != nil {
		claimed.clientID, claimed.method = basicID, AuthSecretBasic
	}
	if err != nil {
		return nil, err
	}
	hasPost := f.Has("client_secret")
	hasAssertion := f.Has("client_assertion") || f.Has("client_assertion_type")
	n := 0
	for _, b := range []bool{hasBasic, hasPost, hasAssertion} {
		if b {
			n++
		}
	}
	if n > 1 {
		return nil, InvalidRequest("use exactly one client authentication method")
	}
	formID := f.Get("client_id")
	if !hasBasic {
		claimed.clientID = formID
	}
	switch {
	case hasBasic:
		if formID != "" && formID != basicID {
			return nil, InvalidRequest("client_id does not match the Authorization header")
		}
		return a.secret(ctx, basicID, basicSecret, AuthSecretBasic)
	case hasPost:
		claimed.method = AuthSecretPost
		return a.secret(ctx, formID, f.Get("client_secret"), AuthSecretPost)
	case hasAssertion:
		claimed.method = AuthPrivateKeyJWT
		return a.assertion(ctx, f, claimed)
	case formID != "":
		// Public clients and the mutual-TLS methods (RFC 8705 §2: the
		// client_id names the client, the TLS certificate authenticates
		// it).
		claimed.method = AuthNone
		return a.public(ctx, r, formID, claimed)
	}
	claimed.method = "none given"
	return nil, InvalidClient("client authentication is required")
}

// usesSecret reports whether a registered method authenticates with the
// client secret.
func usesSecret(method string) bool { return method == AuthSecretBasic || method == AuthSecretPost }

// wrongMethod is the failure of a known client that authenticated with a
// method other than the one it registered. Both names come from the fixed
// set of methods, never from the request.
func wrongMethod(registered, used string) *Error {
	switch registered {
	case AuthSecretBasic, AuthSecretPost, AuthPrivateKeyJWT, AuthNone, MethodTLSClientAuth, MethodSelfSignedTLSClientAuth:
	default:
		registered = "another method"
	}
	return InvalidClient("the client is registered for %s but authenticated with %s", registered, used)
}

func basicAuth(r *http.Request) (id, secret string, ok bool, err error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", "", false, nil
	}
	const prefix = "Basic "
	if len(h) < len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", "", false, InvalidClient("unsupported Authorization scheme; use Basic")
	}
	if len(h) > 4*(maxClientIDLen+maxSecretLen) {
		return "", "", false, InvalidClient(errAuthFailed)
	}
	raw, derr := base64.StdEncoding.DecodeString(strings.TrimSpace(h[len(prefix):]))
	if derr != nil {
		return "", "", false, InvalidClient("malformed Basic credentials")
	}
	i := strings.IndexByte(string(raw), ':')
	if i < 0 {
		return "", "", false, InvalidClient("malformed Basic credentials")
	}
	// RFC 6749 §2.3.1: both parts are form-urlencoded before encoding.
	id, err1 := url.QueryUnescape(string(raw[:i]))
	secret, err2 := url.QueryUnescape(string(raw[i+1:]))
	if err1 != nil || err2 != nil || id == "" {
		return "", "", false, InvalidClient("malformed Basic credentials")
	}
	return id, secret, true, nil
}

func (a *Authenticator) lookup(ctx context.Context, id string) (store.Client, bool, error) {
	if id == "" || len(id) > maxClientIDLen {
		return store.Client{}, false, nil
	}
	c, err := a.Clients.GetClient(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return store.Client{}, false, nil
	case err != nil:
		return store.Client{}, false, ServerError(fmt.Errorf("look up client: %w", err))
	}
	return c, true, nil
}

func (a *Authenticator) secret(ctx context.Context, id, secret, method string) (*Authenticated, error) {
	if len(secret) > maxSecretLen {
		return nil, InvalidClient(errAuthFailed)
	}
	c, found, err := a.lookup(ctx, id)
	if err != nil {
		return nil, err
	}
	// Without a stored hash the secret is still hashed and compared, against
	// zeros, so that the work done does not reveal whether the client exists.
	var zero [32]byte
	stored := zero[:]
	if found && len(c.SecretHash) > 0 {
		stored = c.SecretHash
	}
	ok := a.Hasher.Verify(secret, stored)
	if found && !usesSecret(c.TokenEndpointAuthMethod) {
		return nil, wrongMethod(c.TokenEndpointAuthMethod, method)
	}
	if !found || !ok || len(c.SecretHash) == 0 {
		return nil, InvalidClient(errAuthFailed)
	}
	// Either secret method is accepted for a client registered with a
	// secret; Method reports the one used.
	return &Authenticated{Client: c, Method: method}, nil
}

func (a *Authenticator) public(ctx context.Context, r *http.Request, id string, claimed *attempt) (*Authenticated, error) {
	c, found, err := a.lookup(ctx, id)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, InvalidClient(errAuthFailed)
	}
	if IsMTLSMethod(c.TokenEndpointAuthMethod) {
		claimed.method = c.TokenEndpointAuthMethod
		return a.mtls(ctx, r, &c)
	}
	if c.TokenEndpointAuthMethod != AuthNone {
		return nil, wrongMethod(c.TokenEndpointAuthMethod, AuthNone)
	}
	return &Authenticated{Client: c, Method: AuthNone}, nil
}

func (a *Authenticator) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// assertion authenticates private_key_jwt (RFC 7523 §2.2, §3): a JWT signed
// by the client, iss = sub = client_id, aud naming this server, a short
// lifetime and a jti that is used once.
func (a *Authenticator) assertion(ctx context.Context, f Form, claimed *attempt) (*Authenticated, error) {
	if f.Get("client_assertion_type") != AssertionTypeJWTBearer {
		return nil, InvalidClient("client_assertion_type must be %s", AssertionTypeJWTBearer)
	}
	raw := f.Get("client_assertion")
	if raw == "" || len(raw) > maxAssertionSize {
		return nil, InvalidClient("client_assertion is missing or too large")
	}
	// The client is named by iss/sub, read before verification only to find
	// its keys; everything is checked after the signature.
	unverified, err := jose.ParseCompact(raw, maxAssertionSize)
	if err != nil {
		return nil, InvalidClient("client_assertion is not a valid JWS")
	}
	var peek struct {
		Sub string `json:"sub"`
	}
	if err := jsonUnmarshalString(unverified.Payload(), &peek); err != nil || peek.Sub == "" {
		return nil, InvalidClient("client_assertion has no sub")
	}
	claimed.clientID = peek.Sub
	if id := f.Get("client_id"); id != "" && id != peek.Sub {
		return nil, InvalidClient(errAuthFailed)
	}
	c, found, err := a.lookup(ctx, peek.Sub)
	if err != nil {
		return nil, err
	}
	if found && c.TokenEndpointAuthMethod != AuthPrivateKeyJWT {
		return nil, wrongMethod(c.TokenEndpointAuthMethod, AuthPrivateKeyJWT)
	}
	if !found || a.Keys == nil {
		return nil, InvalidClient(errAuthFailed)
	}
	now := a.now()
	v, err := jwt.NewVerifier(clientKeys{a.Keys, &c}, jwt.Config{
		Issuer:            c.ID,
		SkipAudienceCheck: true, // checked below against every accepted value
		Algorithms:        asymmetricAlgs(),
		RequiredClaims:    []string{"sub", "jti"},
		MaxSize:           maxAssertionSize,
		Now:               func() time.Time { return now },
	})
	if err != nil {
		return nil, ServerError(err)
	}
	tok, err := v.Verify(ctx, raw)
	if err == nil && !audienceOK(tok.Claims().Audience, a.Audiences) {
		err = jwt.ErrAudience
	}
	if err != nil {
		e := InvalidClient("client_assertion rejected: %s", reason(err))
		e.Cause = err
		return nil, e
	}
	claims := tok.Claims()
	if claims.Subject != c.ID {
		return nil, InvalidClient("client_assertion sub must equal iss")
	}
	exp := claims.ExpiresAt.Time()
	if exp.Sub(now) > MaxAssertionLifetime {
		return nil, InvalidClient("client_assertion expires too far in the future (at most %s)", MaxAssertionLifetime)
	}
	if err := a.Replay.UseJTI(ctx, c.ID, claims.ID, exp.Add(jwt.DefaultLeeway)); err != nil {
		if errors.Is(err, store.ErrAlreadyExists) {
			return nil, InvalidClient("client_assertion was already used")
		}
		return nil, ServerError(fmt.Errorf("record assertion jti: %w", err))
	}
	return &Authenticated{Client: c, Method: AuthPrivateKeyJWT}, nil
}

// reason turns a verification error into a short description without
// attacker-controlled text.
func reason(err error) string {
	for _, s := range []error{jwt.ErrExpired, jwt.ErrNotYetValid, jwt.ErrIssuer, jwt.ErrAudience, jwt.ErrSignature, jwt.ErrKeyNotFound, jwt.ErrAlgorithm, jwt.ErrClaim, jwt.ErrMalformed, jwt.ErrCritical, jwt.ErrTooLarge} {
		if errors.Is(err, s) {
			return s.Error()
		}
	}
	return "invalid"
}

type clientKeys struct {
	src ClientKeySource
	c   *store.Client
}

func (k clientKeys) KeySet(ctx context.Context, h *jose.Header) (*jose.KeySet, error) {
	return k.src.ClientKeys(ctx, k.c, h)
}

func asymmetricAlgs() []jose.Algorithm {
	return []jose.Algorithm{jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512, jose.ES256, jose.ES384, jose.ES512, jose.EdDSA}
}

func audienceOK(aud jwt.Audience, accepted []string) bool {
	for _, a := range accepted {
		if aud.Contains(a) {
			return true
		}
	}
	return false
}

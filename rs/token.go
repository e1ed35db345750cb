package rs

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/writ-dev/writ/jwt"
)

// Errors shared by every way of verifying a token (a JWT checked locally,
// an opaque token introspected). The errors a TokenVerifier returns wrap
// exactly one of them, or ErrKeySetUnavailable, so that a caller can tell
// the three outcomes apart with errors.Is:
//
//   - ErrInvalidToken: the token is bad (malformed, forged, expired, wrong
//     issuer or audience, inactive). Answer 401 invalid_token.
//   - ErrUnavailable, ErrKeySetUnavailable: writ could not decide because
//     something it depends on (a JWK Set, an introspection endpoint) is out
//     of reach. Answer 503, never 401: the token may be good.
var (
	// ErrInvalidToken is wrapped by every rejection of a token itself.
	ErrInvalidToken = errors.New("rs: invalid token")
	// ErrUnknownIssuer is wrapped, together with ErrInvalidToken, when the
	// token's iss is none of the configured issuers. It never causes a fetch.
	ErrUnknownIssuer = errors.New("rs: unknown issuer")
	// ErrUnavailable is wrapped when a dependency other than a JWK Set (an
	// introspection endpoint, issuer discovery) could not be reached.
	ErrUnavailable = errors.New("rs: verification unavailable")
)

// Token is a verified token, whatever way it was verified: the claims a
// resource server decides on. It is immutable once returned; callers must
// not modify its maps or slices.
type Token struct {
	// Raw is the token as the client presented it.
	Raw string
	// JWT is the verified JWT, or nil when the token was introspected.
	JWT *jwt.Token
	// Issuer is the iss claim, the issuer that vouched for the token.
	Issuer string
	// Subject is the sub claim.
	Subject string
	// ClientID is the client_id claim (RFC 9068), or azp when absent.
	ClientID string
	// ID is the jti claim.
	ID string
	// Audience is the aud claim.
	Audience []string
	// Scopes are the token's scopes: the space-separated scope claim, or
	// the scp array when there is no scope claim.
	Scopes []string
	// Expiry is the exp claim; zero when absent.
	Expiry time.Time
	// IssuedAt is the iat claim; zero when absent.
	IssuedAt time.Time
	// JKT is cnf.jkt (RFC 9449 §6.1), the SHA-256 thumbprint of the key a
	// DPoP-bound token is bound to; empty for a bearer token.
	JKT string
	// X5TS256 is cnf.x5t#S256 (RFC 8705 §3.1) for a certificate-bound
	// token; empty otherwise.
	X5TS256 string
	// Claims holds every claim as encoding/json decodes it into a map
	// (numbers as float64), after the issuer's claim mapping was applied.
	Claims map[string]any
}

// HasScope reports whether the token carries scope s.
func (t *Token) HasScope(s string) bool {
	for _, v := range t.Scopes {
		if v == s {
			return true
		}
	}
	return false
}

// TokenVerifier turns a presented token into a verified Token. A JWT
// Verifier and an introspection client are both TokenVerifiers, so the
// middleware and the gateway take either.
type TokenVerifier interface {
	// Verify checks raw and returns its claims. Its errors wrap
	// ErrInvalidToken, ErrUnavailable or ErrKeySetUnavailable.
	Verify(ctx context.Context, raw string) (*Token, error)
}

type tokenKey struct{}

// WithToken returns a copy of ctx that carries t.
func WithToken(ctx context.Context, t *Token) context.Context {
	return context.WithValue(ctx, tokenKey{}, t)
}

// TokenFromContext returns the verified token the middleware stored in
// ctx, if any.
func TokenFromContext(ctx context.Context) (*Token, bool) {
	t, ok := ctx.Value(tokenKey{}).(*Token)
	return t, ok && t != nil
}

// Errors of DPoP proofs (RFC 9449), wrapped by what a DPoPChecker returns.
var (
	// ErrInvalidDPoPProof is wrapped when the DPoP proof is missing,
	// malformed, replayed, or does not match the request or the token.
	// Answer 401 with WWW-Authenticate: DPoP error="invalid_dpop_proof".
	ErrInvalidDPoPProof = errors.New("rs: invalid DPoP proof")
	// ErrUseDPoPNonce is wrapped by a *NonceError when the proof lacks the
	// server's current nonce. Answer 401 with error="use_dpop_nonce" and
	// the nonce in the DPoP-Nonce header.
	ErrUseDPoPNonce = errors.New("rs: use DPoP nonce")
)

// NonceError asks the client to retry its DPoP proof with Nonce
// (RFC 9449 §9). It wraps ErrUseDPoPNonce.
type NonceError struct {
	// Nonce is the value to send in the DPoP-Nonce response header.
	Nonce string
}

// Error implements error.
func (e *NonceError) Error() string { return "rs: DPoP proof must carry the server's nonce" }

// Unwrap returns ErrUseDPoPNonce.
func (e *NonceError) Unwrap() error { return ErrUseDPoPNonce }

// DPoPChecker checks the DPoP proof of a request (RFC 9449 §4.3 and §7.1).
// Package rs/dpop implements it; the middleware and the gateway call it for
// every request under the DPoP scheme and for every token bound by cnf.jkt.
type DPoPChecker interface {
	// CheckDPoP verifies the request's single DPoP header against the
	// request's method and URL, the access token (ath) and, when jkt is not
	// empty, the key the token is bound to. Its errors wrap
	// ErrInvalidDPoPProof or are a *NonceError; a failure of the replay
	// store wraps ErrUnavailable.
	CheckDPoP(ctx context.Context, r *http.Request, accessToken, jkt string) error
}

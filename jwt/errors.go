package jwt

import (
	"errors"

	"github.com/writ-dev/writ/jose"
)

// Errors returned by Verify. Every error it returns wraps exactly one of
// them; the wrapping adds a short reason and never any key material. An
// ErrKeySource error also wraps the key source's own error, so that
// errors.Is still finds, say, rs.ErrKeySetUnavailable or context.Canceled.
var (
	// ErrMalformed: not a compact JWS, bad base64url, bad or duplicate JSON.
	ErrMalformed = jose.ErrMalformed
	// ErrTooLarge: the token is larger than the configured limit.
	ErrTooLarge = jose.ErrTooLarge
	// ErrAlgorithm: alg none, not allowed, or not the one its key is bound to.
	ErrAlgorithm = jose.ErrAlgorithm
	// ErrCritical: the header names a critical extension that is not understood.
	ErrCritical = jose.ErrCritical
	// ErrKeyNotFound: no trusted key has the token's kid (or alg).
	ErrKeyNotFound = jose.ErrKeyNotFound
	// ErrSignature: the signature does not verify.
	ErrSignature = jose.ErrSignature
	// ErrKeySource: the KeySource failed to supply a key set. It is the
	// issuer's or the network's fault, not the token's.
	ErrKeySource = errors.New("jwt: key source failed")

	// ErrExpired: the current time is at or after exp (plus leeway).
	ErrExpired = errors.New("jwt: token expired")
	// ErrNotYetValid: nbf or iat lies in the future (beyond leeway).
	ErrNotYetValid = errors.New("jwt: token not yet valid")
	// ErrIssuer: iss is missing or not exactly the expected issuer.
	ErrIssuer = errors.New("jwt: wrong issuer")
	// ErrAudience: aud is missing or does not contain the expected audience.
	ErrAudience = errors.New("jwt: wrong audience")
	// ErrType: the typ header is missing or not the required type.
	ErrType = errors.New("jwt: wrong token type")
	// ErrClaim: a registered claim is missing or has the wrong JSON type.
	ErrClaim = errors.New("jwt: invalid claim")
)

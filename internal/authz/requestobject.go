package authz

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/strictjson"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
)

// Request objects (RFC 9101, JWT-Secured Authorization Request).
const (
	// RequestObjectType is the typ of a request object (RFC 9101 §10.8).
	RequestObjectType = "oauth-authz-req+jwt"
	// MaxRequestObjectSize bounds a request object (compact JWS).
	MaxRequestObjectSize = 16 << 10
	// MaxRequestObjectLifetime bounds exp - now of a request object (the
	// FAPI 2.0 Message Signing bound of 60 minutes).
	MaxRequestObjectLifetime = time.Hour
	// CodeInvalidRequestObject is the error of a request object that is
	// not valid (RFC 9101 §6.3, OIDC Core §6.3).
	CodeInvalidRequestObject = "invalid_request_object"
	// CodeInvalidRequestURI is the error of a request_uri that is unknown,
	// expired, used or another client's (RFC 9101 §6.3).
	CodeInvalidRequestURI = "invalid_request_uri"
	// CodeRequestURINotSupported is the error of a request_uri that does
	// not come from the pushed authorization request endpoint.
	CodeRequestURINotSupported = "request_uri_not_supported"
)

// RequestObjectError is a request object that was refused; Description is
// safe to show (it never echoes the object).
type RequestObjectError struct {
	Description string
	Cause       error
}

func (e *RequestObjectError) Error() string {
	return CodeInvalidRequestObject + ": " + e.Description
}

// Unwrap returns the cause.
func (e *RequestObjectError) Unwrap() error { return e.Cause }

func objectError(cause error, format string, args ...any) *RequestObjectError {
	return &RequestObjectError{Description: fmt.Sprintf(format, args...), Cause: cause}
}

// RequestObjects verifies request objects (RFC 9101) signed by clients
// with the keys they registered.
type RequestObjects struct {
	// Keys supplies the client's keys: its jwks, or its jwks_uri (the
	// source private_key_jwt uses).
	Keys oauth.ClientKeySource
	// Replay makes a request object's jti, when it has one, single use;
	// nil leaves jti unchecked.
	Replay store.ReplayStore
	// Issuer is the audience a request object must name.
	Issuer string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// requestObjectAlgorithms are the signature algorithms a request object
// may use: the asymmetric ones ("none" never parses; HMAC with the client
// secret is not accepted).
func requestObjectAlgorithms() []jose.Algorithm {
	var out []jose.Algorithm
	for _, a := range jose.SignatureAlgorithms() {
		if !a.IsSymmetric() {
			out = append(out, a)
		}
	}
	return out
}

// RequestObjectAlgorithms lists the accepted request object signature
// algorithms, for discovery (request_object_signing_alg_values_supported).
func RequestObjectAlgorithms() []string {
	var out []string
	for _, a := range requestObjectAlgorithms() {
		out = append(out, string(a))
	}
	return out
}

type clientKeys struct {
	src oauth.ClientKeySource
	c   *store.Client
}

func (k clientKeys) KeySet(ctx context.Context, h *jose.Header) (*jose.KeySet, error) {
	return k.src.ClientKeys(ctx, k.c, h)
}

// Verify checks raw as a request object of client c — signed by one of
// the client's registered keys with an asymmetric algorithm, typ
// oauth-authz-req+jwt or JWT (or none), iss = the client_id, aud naming
// the issuer, exp present and at most MaxRequestObjectLifetime ahead, nbf
// when present, a jti used once when present — and returns its
// parameters (ObjectParams), with client_id set to c's. Only the request
// object's parameters are used (RFC 9101 §6.3). A refusal is a
// *RequestObjectError; a failing replay store is another error.
func (ro *RequestObjects) Verify(ctx context.Context, raw string, c *store.Client) (url.Values, error) {
	if len(raw) > MaxRequestObjectSize {
		return nil, objectError(nil, "the request object is too large")
	}
	if ro.Keys == nil || (len(c.JWKS) == 0 && c.JWKSURI == "") {
		return nil, objectError(nil, "the client has no registered keys to sign request objects with")
	}
	now := time.Now()
	if ro.Now != nil {
		now = ro.Now()
	}
	v, err := jwt.NewVerifier(clientKeys{ro.Keys, c}, jwt.Config{
		Issuer:     c.ID,
		Audience:   ro.Issuer,
		Algorithms: requestObjectAlgorithms(),
		MaxSize:    MaxRequestObjectSize,
		Now:        func() time.Time { return now },
	})
	if err != nil {
		return nil, fmt.Errorf("authz: request object verifier: %w", err)
	}
	tok, err := v.Verify(ctx, raw)
	if err != nil {
		return nil, objectError(err, "the request object is not valid: %s", verifyReason(err))
	}
	switch typ := strings.ToLower(tok.Header().Type); strings.TrimPrefix(typ, "application/") {
	case "", "jwt", RequestObjectType:
	default:
		return nil, objectError(nil, "the request object's typ must be %s", RequestObjectType)
	}
	claims := tok.Claims()
	exp := claims.ExpiresAt.Time()
	if exp.Sub(now) > MaxRequestObjectLifetime {
		return nil, objectError(nil, "the request object expires too far in the future (at most %s)", MaxRequestObjectLifetime)
	}
	params, err := ObjectParams(tok.Payload())
	if err != nil {
		return nil, err
	}
	if id, ok := params["client_id"]; ok && id[0] != c.ID {
		return nil, objectError(nil, "the request object's client_id differs from the request's")
	}
	params.Set("client_id", c.ID)
	if claims.ID != "" && ro.Replay != nil {
		err := ro.Replay.UseJTI(ctx, c.ID, "request-object:"+claims.ID, exp.Add(jwt.DefaultLeeway))
		switch {
		case errors.Is(err, store.ErrAlreadyExists):
			return nil, objectError(err, "the request object was used before")
		case errors.Is(err, store.ErrInvalid):
			return nil, objectError(err, "the request object's jti is not usable")
		case err != nil:
			return nil, fmt.Errorf("authz: record request object jti: %w", err)
		}
	}
	return params, nil
}

func verifyReason(err error) string {
	for _, s := range []error{jwt.ErrExpired, jwt.ErrNotYetValid, jwt.ErrIssuer, jwt.ErrAudience, jwt.ErrSignature, jwt.ErrKeyNotFound, jwt.ErrAlgorithm, jwt.ErrClaim, jwt.ErrMalformed, jwt.ErrCritical, jwt.ErrTooLarge} {
		if errors.Is(err, s) {
			return s.Error()
		}
	}
	return "invalid"
}

// jwtOnly reports whether name is a claim of a request object that is not
// an authorization request parameter.
func jwtOnly(name string) bool {
	switch name {
	case "iss", "aud", "exp", "nbf", "iat", "jti", "sub":
		return true
	}
	return false
}

// parsed reports whether Parse reads the parameter name: in a request
// object it must have the type it has there.
func parsed(name string) bool {
	switch name {
	case "client_id", "redirect_uri", "response_type", "response_mode", "scope",
		"state", "nonce", "code_challenge", "code_challenge_method", "prompt",
		"max_age", "login_hint", "ui_locales", "claims", "resource":
		return true
	}
	return false
}

// ObjectParams turns the payload of a verified request object into the
// parameters of an authorization request: strings as they are, max_age
// as a number (a non-negative integer), claims as an object (its JSON
// text). Claims of the JWT itself (iss, aud, exp, nbf, iat, jti, sub) are
// dropped, and so are other members that are not strings and that Parse
// does not read. A nested request or request_uri is refused.
func ObjectParams(payload string) (url.Values, error) {
	members, err := strictjson.ParseObject(payload, 0, nil)
	if err != nil {
		return nil, objectError(err, "the request object's claims are not a JSON object")
	}
	params := url.Values{}
	for _, m := range members {
		name := m.Name
		switch {
		case jwtOnly(name):
			continue
		case name == "request" || name == "request_uri":
			return nil, objectError(nil, "a request object cannot contain %s", name)
		}
		var value string
		switch c := m.Value[0]; {
		case c == '"':
			s, err := strictjson.String(m.Value)
			if err != nil {
				return nil, objectError(err, "the request object's claims are not valid JSON")
			}
			value = s
		case name == "max_age" && c >= '0' && c <= '9':
			if !digits(m.Value) {
				return nil, objectError(nil, "max_age must be a whole number of seconds")
			}
			value = m.Value
		case name == "claims" && c == '{':
			value = m.Value
		case parsed(name):
			return nil, objectError(nil, "the request object's %s has the wrong type", name)
		default:
			continue
		}
		params.Set(name, value)
	}
	return params, nil
}

func digits(s string) bool {
	if s == "" || len(s) > 10 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// RefuseRequest is the error of an authorization request of client c that
// is refused before its parameters are known (a request object or a
// request_uri that cannot be used, a request that was not pushed): a
// redirect with code when params name a redirect URI registered for c
// (or c registered only one), with params' state; otherwise a page.
func RefuseRequest(c *store.Client, params url.Values, code, description string) error {
	redirect, err := matchRedirect(c, params.Get("redirect_uri"))
	if err != nil {
		return &PageError{Title: "Invalid request", Description: description}
	}
	state := params.Get("state")
	if len(state) > maxState || !utf8.ValidString(state) {
		state = ""
	}
	return &RedirectError{RedirectURI: redirect, State: state, Code: code, Description: description}
}

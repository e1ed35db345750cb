package rs

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
)

// DefaultMaxTokenLength bounds the length of the access token in the
// Authorization header, in bytes, unless WithMaxTokenLength says otherwise.
const DefaultMaxTokenLength = 16 << 10

// Errors of the middleware and of the Require helpers, passed to an
// ErrorHandler. Refusals of the token itself wrap ErrInvalidToken instead.
var (
	// ErrNoToken: the request carries no access token under an accepted
	// scheme. Answered with 401 and a challenge without error code.
	ErrNoToken = errors.New("rs: no access token")
	// ErrInvalidRequest: the Authorization header is malformed in a way that
	// is not the token's fault (several Authorization fields, a scheme this
	// resource does not accept). Answered with 400 invalid_request.
	ErrInvalidRequest = errors.New("rs: invalid authorization request")
	// ErrInsufficientScope: the token lacks a scope the route requires.
	// Answered with 403 insufficient_scope naming every required scope.
	ErrInsufficientScope = errors.New("rs: insufficient scope")
	// ErrForbidden: the token lacks a role, group or claim value the route
	// requires. Answered with 403.
	ErrForbidden = errors.New("rs: forbidden")
)

// ErrorHandler writes the response to a refused request. When it is called,
// the middleware has already set the WWW-Authenticate challenges (and the
// DPoP-Nonce header) the refusal calls for; the handler writes the status,
// normally status itself, and a body. err wraps one of ErrNoToken,
// ErrInvalidRequest, ErrInsufficientScope, ErrForbidden, ErrInvalidToken,
// ErrInvalidDPoPProof, ErrUseDPoPNonce, ErrUnavailable or
// ErrKeySetUnavailable, and never contains the token.
type ErrorHandler func(w http.ResponseWriter, r *http.Request, status int, err error)

// TokenVerifierFunc adapts a function to TokenVerifier, as
// http.HandlerFunc adapts one to http.Handler.
type TokenVerifierFunc func(ctx context.Context, raw string) (*Token, error)

// Verify calls f.
func (f TokenVerifierFunc) Verify(ctx context.Context, raw string) (*Token, error) {
	return f(ctx, raw)
}

// Middleware authenticates requests by the access token of their
// Authorization header and stores the verified Token in the request's
// context. Create it with NewMiddleware; it is safe for concurrent use.
type Middleware struct {
	verifier     TokenVerifier
	dpop         DPoPChecker
	dpopRequired bool
	optional     bool
	algs         []string
	realm        string
	metadataURL  string
	maxToken     int
	logger       *slog.Logger
	onError      ErrorHandler

	// Preallocated per-scheme states for the request context.
	bearer, dpopState authState
}

// MiddlewareOption configures a Middleware.
type MiddlewareOption func(*Middleware)

// WithDPoP makes the middleware accept the DPoP scheme (RFC 9449), with c
// checking each request's proof. Without it, a request under the DPoP
// scheme is refused with 400 invalid_request. A nil c changes nothing.
func WithDPoP(c DPoPChecker) MiddlewareOption {
	return func(m *Middleware) {
		if c != nil {
			m.dpop = c
		}
	}
}

// WithDPoPRequired makes the middleware refuse the Bearer scheme: every
// token must be DPoP-bound and sent under the DPoP scheme with a proof.
// Combine it with WithDPoP; on its own, every request is refused.
func WithDPoPRequired() MiddlewareOption {
	return func(m *Middleware) { m.dpopRequired = true }
}

// WithDPoPAlgorithms sets the JWS algorithms the DPoP challenge advertises
// in its algs parameter (RFC 9449 §7.1); they should be those the
// DPoPChecker accepts.
func WithDPoPAlgorithms(algs ...string) MiddlewareOption {
	return func(m *Middleware) { m.algs = append([]string(nil), algs...) }
}

// WithResourceMetadataURL names the protected resource's metadata
// (RFC 9728 §5.1) in every challenge, so that a client can find out which
// authorization server to ask for a token. See MetadataURL.
func WithResourceMetadataURL(url string) MiddlewareOption {
	return func(m *Middleware) { m.metadataURL = url }
}

// WithRealm sets the realm parameter of the challenges.
func WithRealm(realm string) MiddlewareOption {
	return func(m *Middleware) { m.realm = realm }
}

// WithLogger sets the logger of refusals; the default is slog.Default().
// Refusals for want of a token log at Debug, bad tokens and proofs at Info,
// unavailable dependencies at Warn and unexpected errors at Error. The
// token is never logged.
func WithLogger(l *slog.Logger) MiddlewareOption {
	return func(m *Middleware) {
		if l != nil {
			m.logger = l
		}
	}
}

// WithErrorHandler replaces the writing of refusals: the default writes
// the status with a one-line text/plain body.
func WithErrorHandler(h ErrorHandler) MiddlewareOption {
	return func(m *Middleware) {
		if h != nil {
			m.onError = h
		}
	}
}

// WithMaxTokenLength sets the longest token accepted, in bytes; a longer
// one is refused as invalid_token without being verified. Values of zero
// or less keep DefaultMaxTokenLength.
func WithMaxTokenLength(n int) MiddlewareOption {
	return func(m *Middleware) {
		if n > 0 {
			m.maxToken = n
		}
	}
}

// WithOptionalToken lets requests without an Authorization header through
// without a token in their context, for routes that serve anonymous users
// too. A request with a token that fails is still refused. The Require
// helpers answer 401 to a request without a token.
func WithOptionalToken() MiddlewareOption {
	return func(m *Middleware) { m.optional = true }
}

// NewMiddleware returns a Middleware that verifies tokens with v, which
// may be a JWT verifier, an introspection client, or any TokenVerifier.
// By default only the Bearer scheme is accepted; WithDPoP adds the DPoP
// scheme.
func NewMiddleware(v TokenVerifier, opts ...MiddlewareOption) *Middleware {
	m := &Middleware{
		verifier: v,
		maxToken: DefaultMaxTokenLength,
		logger:   slog.Default(),
		onError:  writeError,
	}
	for _, o := range opts {
		o(m)
	}
	m.bearer = authState{m: m, scheme: SchemeBearer}
	m.dpopState = authState{m: m, scheme: SchemeDPoP}
	return m
}

// authState is what the middleware leaves in the request context for the
// Require helpers: the middleware (for its challenges and error handler)
// and the scheme the request used.
type authState struct {
	m      *Middleware
	scheme string
}

type authStateKey struct{}

// Handler returns next wrapped: a request reaches next only with a
// verified token in its context (see TokenFromContext), or, with
// WithOptionalToken, without an Authorization header. The token is read
// from the single Authorization header field only, never from the query or
// a form (RFC 6750 §2.2 and §2.3 are not supported). Refusals answer:
//
//   - 401 with a challenge without error code: no token (RFC 6750 §3.1);
//   - 400 invalid_request: several Authorization fields, or the DPoP scheme
//     without WithDPoP;
//   - 401 invalid_token: the verifier refused the token, the token is
//     malformed or too long, a DPoP-bound token was sent under Bearer, an
//     unbound one under DPoP, Bearer was sent where DPoP is required, or
//     the token is bound to a client certificate (cnf x5t#S256, RFC 8705)
//     that the TLS connection did not present;
//   - 401 invalid_dpop_proof or use_dpop_nonce (with DPoP-Nonce): the
//     DPoPChecker refused the proof;
//   - 503 without challenge: the verifier or the DPoP replay store could
//     not decide (ErrUnavailable, ErrKeySetUnavailable) or failed in an
//     unexpected way.
//
// It never answers 500.
func (m *Middleware) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, raw, err := ParseAuthorization(r.Header, m.maxToken)
		if err != nil {
			if errors.Is(err, ErrNoToken) && m.optional {
				next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), authStateKey{}, &m.bearer)))
				return
			}
			m.refuse(w, r, scheme, err)
			return
		}
		st := &m.bearer
		switch {
		case scheme == SchemeDPoP && m.dpop == nil:
			m.refuse(w, r, scheme, refusalf(ErrInvalidRequest, "the DPoP scheme is not supported by this resource"))
			return
		case scheme == SchemeDPoP:
			st = &m.dpopState
		case m.dpopRequired:
			m.refuse(w, r, scheme, refusalf(ErrInvalidToken, "this resource requires a DPoP-bound token under the DPoP scheme"))
			return
		}
		ctx := r.Context()
		if m.verifier == nil {
			m.refuse(w, r, scheme, errors.New("rs: the middleware has no TokenVerifier"))
			return
		}
		tok, err := m.verifier.Verify(ctx, raw)
		if err == nil && tok == nil {
			err = errors.New("rs: the verifier returned neither a token nor an error")
		}
		if err != nil {
			m.refuse(w, r, scheme, err)
			return
		}
		if scheme == SchemeDPoP {
			if tok.JKT == "" {
				m.refuse(w, r, scheme, refusalf(ErrInvalidToken, "the token is not DPoP-bound"))
				return
			}
			if err := m.dpop.CheckDPoP(ctx, r, raw, tok.JKT); err != nil {
				m.refuse(w, r, scheme, err)
				return
			}
		} else if tok.JKT != "" {
			m.refuse(w, r, scheme, refusalf(ErrInvalidToken, "the token is DPoP-bound; send it under the DPoP scheme with a proof"))
			return
		}
		if tok.X5TS256 != "" && !certificateBound(r, tok.X5TS256) {
			m.refuse(w, r, scheme, refusalf(ErrInvalidToken, "the token is bound to a client certificate this connection did not present"))
			return
		}
		ctx = context.WithValue(WithToken(ctx, tok), authStateKey{}, st)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// certificateBound reports whether the request came over a TLS connection
// whose client certificate has the SHA-256 thumbprint x5t (RFC 8705 §3.1).
// Behind a proxy that terminates TLS there is no certificate to check, and
// a certificate-bound token is refused.
func certificateBound(r *http.Request, x5t string) bool {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return false
	}
	sum := sha256.Sum256(r.TLS.PeerCertificates[0].Raw)
	var enc [43]byte
	base64.RawURLEncoding.Encode(enc[:], sum[:])
	return subtle.ConstantTimeCompare(enc[:], []byte(x5t)) == 1
}

// ParseAuthorization returns the scheme (SchemeBearer or SchemeDPoP) and
// the token of a request's Authorization header, as the Middleware reads
// them, for proxies that authenticate requests themselves. The scheme
// name is case-insensitive and followed by one or more spaces and a
// token68 (RFC 9110 §11.2) of at most maxLen bytes (DefaultMaxTokenLength
// when maxLen is zero or less). Its errors wrap ErrNoToken (no field, or
// another scheme), ErrInvalidRequest (several fields) or ErrInvalidToken
// (no token68 after the scheme, or too long a token); the scheme is
// returned whenever it was recognised. Errors never contain the token.
func ParseAuthorization(h http.Header, maxLen int) (scheme, token string, err error) {
	if maxLen <= 0 {
		maxLen = DefaultMaxTokenLength
	}
	values := h["Authorization"]
	switch len(values) {
	case 0:
		return "", "", ErrNoToken
	case 1:
	default:
		return "", "", refusalf(ErrInvalidRequest, "more than one Authorization header field")
	}
	v := values[0]
	name, rest, _ := strings.Cut(v, " ")
	switch {
	case strings.EqualFold(name, SchemeBearer):
		scheme = SchemeBearer
	case strings.EqualFold(name, SchemeDPoP):
		scheme = SchemeDPoP
	default:
		return "", "", ErrNoToken
	}
	token = strings.TrimLeft(rest, " ")
	switch {
	case token == "":
		return scheme, "", refusalf(ErrInvalidToken, "no token after the %s scheme", scheme)
	case len(token) > maxLen:
		return scheme, "", refusalf(ErrInvalidToken, "the token is longer than %d bytes", maxLen)
	case !isToken68(token):
		return scheme, "", refusalf(ErrInvalidToken, "the token is not token68 (RFC 9110 section 11.2)")
	}
	return scheme, token, nil
}

// isToken68 reports whether s is a token68 (RFC 9110 §11.2):
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
// Every request to a protected route pays for this scan of its token, so
// it looks each byte up in a table instead of testing a chain of ranges.
func isToken68(s string) bool {
	i := 0
	for ; i < len(s); i++ {
		if !isToken68Char(s[i]) {
			break
		}
	}
	if i == 0 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}

// token68Chars marks the bytes that may appear in a token68 before its
// padding. It is never written after initialisation.
var token68Chars = func() (t [256]bool) {
	for c := range t {
		b := byte(c)
		t[c] = 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' ||
			b == '-' || b == '.' || b == '_' || b == '~' || b == '+' || b == '/'
	}
	return t
}()

// isToken68Char reports whether c may appear before a token68's padding.
func isToken68Char(c byte) bool { return token68Chars[c] }

// Refusal is how a refused request is answered.
type Refusal struct {
	// Status is the HTTP status: 400, 401, 403 or 503.
	Status int
	// Code is the challenge's error code (a Code constant); empty for a
	// request without a token and for 503, which carries no challenge.
	Code string
	// Description is the challenge's error_description, fit for clients:
	// it never repeats a verifier's own message.
	Description string

	level slog.Level // of the log line
}

// RefusalFor maps an error of ParseAuthorization, a TokenVerifier, a
// DPoPChecker or a Require helper to its answer, as the Middleware does,
// for proxies that authenticate requests themselves:
//
//   - ErrNoToken: 401, no error code (RFC 6750 §3.1);
//   - ErrInvalidRequest: 400 invalid_request;
//   - ErrInvalidToken: 401 invalid_token;
//   - ErrInvalidDPoPProof: 401 invalid_dpop_proof;
//   - *NonceError: 401 use_dpop_nonce (send its Nonce as DPoP-Nonce);
//   - ErrInsufficientScope, ErrForbidden: 403 insufficient_scope;
//   - ErrUnavailable, ErrKeySetUnavailable, context.Canceled and any other
//     error: 503 without challenge, since the token may be good.
func RefusalFor(err error) Refusal {
	var nonce *NonceError
	switch {
	case errors.As(err, &nonce):
		return Refusal{http.StatusUnauthorized, CodeUseDPoPNonce, "the DPoP proof must carry the nonce of the DPoP-Nonce header", slog.LevelInfo}
	case errors.Is(err, ErrNoToken):
		return Refusal{http.StatusUnauthorized, "", "", slog.LevelDebug}
	case errors.Is(err, ErrInvalidRequest):
		return Refusal{http.StatusBadRequest, CodeInvalidRequest, describe(err, ErrInvalidRequest), slog.LevelInfo}
	case errors.Is(err, ErrInsufficientScope):
		return Refusal{http.StatusForbidden, CodeInsufficientScope, "the access token lacks a scope this resource requires", slog.LevelInfo}
	case errors.Is(err, ErrForbidden):
		return Refusal{http.StatusForbidden, CodeInsufficientScope, describe(err, ErrForbidden), slog.LevelInfo}
	case errors.Is(err, ErrUnavailable), errors.Is(err, ErrKeySetUnavailable):
		return Refusal{http.StatusServiceUnavailable, "", "", slog.LevelWarn}
	case errors.Is(err, ErrInvalidDPoPProof):
		return Refusal{http.StatusUnauthorized, CodeInvalidDPoPProof, "the DPoP proof is missing or invalid", slog.LevelInfo}
	case errors.Is(err, ErrInvalidToken):
		return Refusal{http.StatusUnauthorized, CodeInvalidToken, describe(err, ErrInvalidToken), slog.LevelInfo}
	case errors.Is(err, context.Canceled):
		return Refusal{http.StatusServiceUnavailable, "", "", slog.LevelDebug}
	}
	return Refusal{http.StatusServiceUnavailable, "", "", slog.LevelError}
}

// reasonError is a refusal this package decided, with a reason fit for
// the client's error_description. Verifiers' own messages never reach the
// client, only the log: they could name internals.
type reasonError struct {
	sentinel error
	reason   string
}

// refusalf returns a reasonError wrapping sentinel.
func refusalf(sentinel error, format string, args ...any) error {
	return &reasonError{sentinel: sentinel, reason: fmt.Sprintf(format, args...)}
}

// Error implements error.
func (e *reasonError) Error() string { return e.sentinel.Error() + ": " + e.reason }

// Unwrap returns the sentinel.
func (e *reasonError) Unwrap() error { return e.sentinel }

// describe returns the error_description of err: the reason of a
// reasonError, or a fixed text.
func describe(err, sentinel error) string {
	if re, ok := errors.AsType[*reasonError](err); ok {
		return re.reason
	}
	switch {
	case errors.Is(err, ErrUnknownIssuer):
		return "the access token's issuer is not trusted here"
	case sentinel == ErrInvalidToken:
		return "the access token is invalid, expired or not meant for this resource"
	case sentinel == ErrForbidden:
		return "the access token does not grant access to this resource"
	}
	return ""
}

// refuse answers a refused request: challenges, log line, error handler.
func (m *Middleware) refuse(w http.ResponseWriter, r *http.Request, scheme string, err error) {
	m.deny(w, r, scheme, err, nil)
}

// deny answers err with the challenges of every scheme m accepts; the one
// of the request's scheme carries the error code, the description and
// scopes.
func (m *Middleware) deny(w http.ResponseWriter, r *http.Request, scheme string, err error, scopes []string) {
	rf := RefusalFor(err)
	m.logger.LogAttrs(r.Context(), rf.level, "rs: request refused",
		slog.Int("status", rf.Status),
		slog.String("error", rf.Code),
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.String("err", err.Error()))
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	if rf.Status != http.StatusServiceUnavailable {
		var nonce *NonceError
		errors.As(err, &nonce)
		target := m.errorScheme(scheme)
		for _, s := range [...]string{SchemeBearer, SchemeDPoP} {
			if !m.accepts(s) {
				continue
			}
			c := Challenge{Scheme: s, Realm: m.realm, ResourceMetadata: m.metadataURL}
			if s == SchemeDPoP {
				c.Algs = m.algs
				if nonce != nil {
					c.Nonce = nonce.Nonce
				}
			}
			if s == target {
				c.Error, c.Description, c.Scopes = rf.Code, rf.Description, scopes
			}
			WriteChallenge(w, c)
		}
	}
	m.onError(w, r, rf.Status, err)
}

// accepts reports whether m accepts the scheme.
func (m *Middleware) accepts(scheme string) bool {
	if scheme == SchemeDPoP {
		return m.dpop != nil
	}
	return !m.dpopRequired
}

// errorScheme is the scheme whose challenge carries the error: the
// request's, or the first accepted one when the request's is not.
func (m *Middleware) errorScheme(scheme string) string {
	if scheme != "" && m.accepts(scheme) {
		return scheme
	}
	if m.accepts(SchemeBearer) {
		return SchemeBearer
	}
	return SchemeDPoP
}

// writeError is the default ErrorHandler.
func writeError(w http.ResponseWriter, _ *http.Request, status int, _ error) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = fmt.Fprintln(w, http.StatusText(status))
}

package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/opaque"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/strictjson"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
	"github.com/writ-dev/writ/rs"
)

// Bounds of UserInfo requests.
const (
	// MaxAccessTokenSize is the longest access token UserInfo looks at.
	MaxAccessTokenSize = jose.DefaultMaxSize
	// maxUserInfoBody bounds a POST body.
	maxUserInfoBody = 32 << 10
)

// Realm is the realm of UserInfo's bearer challenges.
const Realm = "writ"

// UserGetter reads users (store.UserStore has it).
type UserGetter interface {
	GetUser(ctx context.Context, id string) (store.User, error)
}

// AccessGrant is what an opaque access token grants, as its stored record
// says.
type AccessGrant struct {
	// Subject is the sub: the user's ID for user grants.
	Subject string
	// ClientID is the client the token was issued to.
	ClientID string
	// Scopes are the granted scopes.
	Scopes []string
	// Extra is the record's extra claims (store.TokenRecord.Extra), a JSON
	// object or nil; UserInfo reads UserinfoClaimsClaim from it.
	Extra json.RawMessage
}

// UserInfo is the UserInfo endpoint (OpenID Connect Core 1.0 §5.3). It
// takes a bearer access token (RFC 6750) in the Authorization header (GET
// and POST) or in a form-encoded POST body, never in the query, and
// answers with sub and the claims Release gives for the token's scopes and
// the claims carried in it (see AccessTokenClaims).
//
// Errors follow RFC 6750 §3, always with a WWW-Authenticate challenge of
// realm Realm: no token, 401 without an error code; a malformed request,
// 400 invalid_request; a token that does not verify, is expired, revoked,
// issued to a client for itself (sub equal to client_id, as client
// credentials tokens are), or whose user is gone or disabled, 401
// invalid_token; a token without the openid scope, 403 insufficient_scope.
// A store failure is 500 server_error. Only GET and POST are allowed.
type UserInfo struct {
	// Verifier verifies the server's own JWT access tokens: issuer, typ
	// at+jwt, the ring's algorithm, audience skipped, jti and client_id
	// required. Required.
	Verifier *jwt.Verifier
	// Revoked reports whether a JWT access token's jti is on the
	// revocation list. Required.
	Revoked func(ctx context.Context, jti string) (bool, error)
	// Opaque looks up an opaque access token (opaque.IsAccessToken). ok is false
	// for a token that is unknown, expired, revoked or not an access token;
	// err only for a store failure. Nil refuses opaque tokens.
	Opaque func(ctx context.Context, token string) (grant AccessGrant, ok bool, err error)
	// Users reads the token's user. Required.
	Users UserGetter
	// DPoP checks the DPoP proof of a request that presents a DPoP-bound
	// token under the DPoP scheme (RFC 9449 §7): htm, htu (this endpoint),
	// ath and the token's cnf.jkt. Nil refuses the DPoP scheme. A bound
	// token is never accepted under Bearer.
	DPoP DPoPChecker
	// Responses signs or encrypts the responses of clients that
	// registered it; nil answers every client with JSON.
	Responses *UserInfoResponses
	// CertThumbprint returns the x5t#S256 of the TLS client certificate
	// the request came with, "" when none (RFC 8705 §3). A token bound to
	// a certificate (cnf.x5t#S256) is accepted only with that
	// certificate; nil refuses every certificate-bound token.
	CertThumbprint func(r *http.Request) string
	// Logger receives failures; never a token. Nil discards.
	Logger *slog.Logger
}

// DPoPChecker checks the DPoP proof of a request for an access token bound
// to jkt (rs/dpop.Verifier has the method). Its errors wrap
// rs.ErrInvalidDPoPProof, or are an *rs.NonceError; any other error is a
// server failure.
type DPoPChecker interface {
	CheckDPoP(ctx context.Context, r *http.Request, accessToken, jkt string) error
}

// schemeDPoP is the DPoP authentication scheme (RFC 9449 §7.1).
const schemeDPoP = "DPoP"

// bearerError is an RFC 6750 §3 error, or its RFC 9449 §7.1 DPoP
// counterpart when scheme is DPoP.
type bearerError struct {
	status int
	code   string
	desc   string // a constant: it is sent inside a quoted-string
	scope  string
	scheme string // empty: Bearer
	nonce  string // DPoP-Nonce to send, or empty
}

var (
	errNoToken       = &bearerError{status: http.StatusUnauthorized}
	errInvalidToken  = &bearerError{status: http.StatusUnauthorized, code: "invalid_token", desc: "the access token is invalid, expired or revoked"}
	errNeedOpenID    = &bearerError{status: http.StatusForbidden, code: "insufficient_scope", desc: "the access token lacks the openid scope", scope: "openid"}
	errTokenTwice    = &bearerError{status: http.StatusBadRequest, code: "invalid_request", desc: "the access token was sent in more than one way"}
	errTokenInQuery  = &bearerError{status: http.StatusBadRequest, code: "invalid_request", desc: "the access token must not be sent in the query"}
	errBadHeader     = &bearerError{status: http.StatusBadRequest, code: "invalid_request", desc: "the Authorization header is malformed"}
	errBadForm       = &bearerError{status: http.StatusBadRequest, code: "invalid_request", desc: "the request body is malformed"}
	errBadParam      = &bearerError{status: http.StatusBadRequest, code: "invalid_request", desc: "the access_token parameter is malformed"}
	errBadQuery      = &bearerError{status: http.StatusBadRequest, code: "invalid_request", desc: "the query is malformed"}
	errBodyTooLarge  = &bearerError{status: http.StatusRequestEntityTooLarge, code: "invalid_request", desc: "the request body is too large"}
	errTokenTooLarge = &bearerError{status: http.StatusUnauthorized, code: "invalid_token", desc: "the access token is too large"}
	errBoundBearer   = &bearerError{status: http.StatusUnauthorized, code: "invalid_token", desc: "the access token is DPoP-bound: send it under the DPoP scheme with a proof"}
	errUnboundDPoP   = &bearerError{status: http.StatusUnauthorized, code: "invalid_token", desc: "the access token is not DPoP-bound: send it under the Bearer scheme", scheme: schemeDPoP}
	errDPoPProof     = &bearerError{status: http.StatusUnauthorized, code: "invalid_dpop_proof", desc: "the DPoP proof is missing or invalid", scheme: schemeDPoP}
	errCertBound     = &bearerError{status: http.StatusUnauthorized, code: "invalid_token", desc: "the access token is bound to a TLS client certificate the request did not present"}
)

func (e *bearerError) Error() string { return "oidc: userinfo: " + e.code + " " + e.desc }

func (e *bearerError) challenge() string {
	scheme := e.scheme
	if scheme == "" {
		scheme = "Bearer"
	}
	c := scheme + ` realm="` + Realm + `"`
	if e.code != "" {
		c += `, error="` + e.code + `", error_description="` + e.desc + `"`
	}
	if e.scope != "" {
		c += `, scope="` + e.scope + `"`
	}
	return c
}

func (e *bearerError) write(w http.ResponseWriter) {
	h := w.Header()
	h.Set("WWW-Authenticate", e.challenge())
	if e.nonce != "" {
		h.Set("DPoP-Nonce", e.nonce)
	}
	if e.code == "" {
		oauth.NoStore(h)
		w.WriteHeader(e.status)
		return
	}
	body := struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}{e.code, e.desc}
	oauth.WriteJSON(w, e.status, body)
}

// ServeHTTP implements http.Handler.
func (h *UserInfo) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		oauth.WriteError(w, &oauth.Error{Code: oauth.CodeInvalidRequest, Status: http.StatusMethodNotAllowed, Description: "use GET or POST"})
		return
	}
	if h.Verifier == nil || h.Revoked == nil || h.Users == nil {
		h.serverError(w, r, errors.New("oidc: UserInfo needs Verifier, Revoked and Users"))
		return
	}
	token, scheme, err := h.accessToken(w, r)
	if err != nil {
		h.refuse(w, r, err)
		return
	}
	claims, bind, err := h.lookup(r.Context(), token)
	if err == nil {
		err = h.checkCert(r, bind.x5t)
	}
	if err == nil {
		err = h.checkBinding(r, token, scheme, bind.jkt)
	}
	if err != nil {
		h.refuse(w, r, err)
		return
	}
	clientID := bind.clientID
	body, contentType, err := h.Responses.Encode(r.Context(), clientID, claims)
	var oe *oauth.Error
	switch {
	case errors.As(err, &oe):
		h.logger().ErrorContext(r.Context(), "userinfo response not encrypted", "client_id", clientID, "error", oe.Cause)
		oauth.WriteError(w, oe)
	case err != nil:
		h.refuse(w, r, err)
	case body == nil:
		oauth.WriteJSON(w, http.StatusOK, claims)
	default:
		oauth.NoStore(w.Header())
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	}
}

// refuse writes a bearer error, or a server error for anything else.
func (h *UserInfo) refuse(w http.ResponseWriter, r *http.Request, err error) {
	var be *bearerError
	if !errors.As(err, &be) {
		h.serverError(w, r, err)
		return
	}
	h.logger().DebugContext(r.Context(), "userinfo refused", "status", be.status, "error", be.code, "reason", err)
	be.write(w)
}

func (h *UserInfo) serverError(w http.ResponseWriter, r *http.Request, err error) {
	h.logger().ErrorContext(r.Context(), "userinfo failed", "error", err)
	oauth.WriteError(w, oauth.ServerError(err))
}

func (h *UserInfo) logger() *slog.Logger {
	if h.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Logger
}

// checkCert enforces a certificate binding (RFC 8705 §3): the request
// presents the certificate whose x5t#S256 the token carries.
func (h *UserInfo) checkCert(r *http.Request, x5t string) error {
	if x5t == "" {
		return nil
	}
	if h.CertThumbprint == nil {
		return errCertBound
	}
	if !oauth.ThumbprintsEqual(x5t, h.CertThumbprint(r)) {
		return errCertBound
	}
	return nil
}

// binding is the confirmation (cnf) of a token: the DPoP key's
// thumbprint and the certificate's, each empty when not bound so; and the
// client the token was issued to, whose registration says how UserInfo
// answers.
type binding struct{ jkt, x5t, clientID string }

// checkBinding enforces the token's DPoP binding (RFC 9449 §7): a bound
// token only under the DPoP scheme with a proof by its key, an unbound one
// only under Bearer.
func (h *UserInfo) checkBinding(r *http.Request, token, scheme, jkt string) error {
	switch {
	case scheme != schemeDPoP && jkt != "":
		return errBoundBearer
	case scheme != schemeDPoP:
		return nil
	case jkt == "":
		return errUnboundDPoP
	}
	err := h.DPoP.CheckDPoP(r.Context(), r, token, jkt)
	var nonce *rs.NonceError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &nonce):
		return &bearerError{status: http.StatusUnauthorized, code: "use_dpop_nonce", scheme: schemeDPoP, nonce: nonce.Nonce,
			desc: "the DPoP proof must carry the nonce of the DPoP-Nonce header"}
	case errors.Is(err, rs.ErrInvalidDPoPProof):
		return errors.Join(errDPoPProof, err)
	}
	return err
}

// accessToken finds the one access token of the request and its scheme:
// under DPoP in the Authorization header when DPoP is on (RFC 9449 §7.1),
// else as a bearer token (bearerToken).
func (h *UserInfo) accessToken(w http.ResponseWriter, r *http.Request) (token, scheme string, err error) {
	if auth := r.Header.Values("Authorization"); len(auth) == 1 && h.DPoP != nil {
		name, cred, _ := strings.Cut(auth[0], " ")
		if strings.EqualFold(name, schemeDPoP) {
			cred = strings.Trim(cred, " ")
			switch {
			case !isB64Token(cred):
				return "", "", errBadHeader
			case len(cred) > MaxAccessTokenSize:
				return "", "", errTokenTooLarge
			}
			return cred, schemeDPoP, nil
		}
	}
	token, err = bearerToken(w, r)
	return token, "Bearer", err
}

// bearerToken finds the one access token of the request (RFC 6750 §2.1,
// §2.2). It never returns the token inside an error.
func bearerToken(w http.ResponseWriter, r *http.Request) (string, error) {
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return "", errBadQuery
	}
	if query.Has("access_token") {
		return "", errTokenInQuery
	}
	var token string
	found := false
	switch auth := r.Header.Values("Authorization"); len(auth) {
	case 0:
	case 1:
		scheme, cred, _ := strings.Cut(auth[0], " ")
		if strings.EqualFold(scheme, "Bearer") {
			cred = strings.Trim(cred, " ")
			if !isB64Token(cred) {
				return "", errBadHeader
			}
			token, found = cred, true
		}
	default:
		return "", errBadHeader
	}
	if r.Method == http.MethodPost && isForm(r.Header.Get("Content-Type")) {
		form, err := oauth.ParseForm(w, r, maxUserInfoBody)
		if err != nil {
			if oe := oauth.AsError(err); oe.Status == http.StatusRequestEntityTooLarge {
				return "", errBodyTooLarge
			}
			return "", errBadForm
		}
		if form.Has("access_token") {
			if found {
				return "", errTokenTwice
			}
			token, found = form.Get("access_token"), true
			if !isB64Token(token) {
				return "", errBadParam
			}
		}
	}
	if !found {
		return "", errNoToken
	}
	if len(token) > MaxAccessTokenSize {
		return "", errTokenTooLarge
	}
	return token, nil
}

func isForm(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/x-www-form-urlencoded"
}

// isB64Token reports whether s matches the b64token syntax of RFC 6750
// §2.1: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isB64Token(s string) bool {
	if s == "" {
		return false
	}
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/') {
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

// lookup resolves token to the UserInfo response and what the token is
// bound to (cnf.jkt, cnf.x5t#S256).
func (h *UserInfo) lookup(ctx context.Context, token string) (_ map[string]any, bind binding, _ error) {
	var (
		subject, clientID string
		scopes            []string
		carried, cnf      string
	)
	if opaque.IsAccessToken(token) {
		if h.Opaque == nil {
			return nil, binding{}, errInvalidToken
		}
		g, ok, err := h.Opaque(ctx, token)
		if err != nil {
			return nil, binding{}, err
		}
		if !ok {
			return nil, binding{}, errInvalidToken
		}
		subject, clientID, scopes = g.Subject, g.ClientID, g.Scopes
		if len(g.Extra) > 0 {
			members, err := strictjson.ParseObject(string(g.Extra), maxClaimsDepth, nil)
			if err != nil {
				return nil, binding{}, errInvalidToken
			}
			for _, m := range members {
				switch m.Name {
				case UserinfoClaimsClaim:
					carried = m.Value
				case "cnf":
					cnf = m.Value
				}
			}
		}
	} else {
		tok, err := h.Verifier.Verify(ctx, token)
		if err != nil {
			return nil, binding{}, errors.Join(errInvalidToken, err)
		}
		claims := tok.Claims()
		if claims.ID == "" {
			return nil, binding{}, errInvalidToken
		}
		revoked, err := h.Revoked(ctx, claims.ID)
		if err != nil {
			return nil, binding{}, err
		}
		if revoked {
			return nil, binding{}, errInvalidToken
		}
		cnf, _ = tok.Claim("cnf")
		subject = claims.Subject
		clientID, _ = tok.StringClaim("client_id")
		if raw, ok := tok.Claim("scope"); ok {
			s, err := strictjson.String(raw)
			if err != nil {
				return nil, binding{}, errInvalidToken
			}
			scopes = strings.Fields(s)
		}
		carried, _ = tok.Claim(UserinfoClaimsClaim)
	}
	if subject == "" || clientID == "" || subject == clientID {
		return nil, binding{}, errInvalidToken
	}
	if cnf != "" {
		var c map[string]json.RawMessage
		if json.Unmarshal([]byte(cnf), &c) != nil || len(c) == 0 {
			return nil, binding{}, errInvalidToken
		}
		for name, raw := range c {
			var v string
			if json.Unmarshal(raw, &v) != nil || v == "" {
				return nil, binding{}, errInvalidToken
			}
			switch name {
			case "jkt":
				bind.jkt = v
			case "x5t#S256":
				bind.x5t = v
			default:
				// A token bound by a method UserInfo does not check is
				// refused rather than taken as a bearer token.
				return nil, binding{}, errInvalidToken
			}
		}
	}
	if !contains(scopes, "openid") {
		return nil, binding{}, errNeedOpenID
	}
	req, err := userinfoRequest(carried)
	if err != nil {
		return nil, binding{}, errInvalidToken
	}
	u, err := h.Users.GetUser(ctx, subject)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, binding{}, errInvalidToken
	case err != nil:
		return nil, binding{}, err
	case u.Disabled || u.ID != subject:
		return nil, binding{}, errInvalidToken
	}
	claims := Release(u, scopes, req, TargetUserInfo)
	claims["sub"] = u.ID
	bind.clientID = clientID
	return claims, bind, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

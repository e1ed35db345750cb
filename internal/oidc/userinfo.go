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
	// Logger receives failures; never a token. Nil discards.
	Logger *slog.Logger
}

// bearerError is an RFC 6750 §3 error.
type bearerError struct {
	status int
	code   string
	desc   string // a constant: it is sent inside a quoted-string
	scope  string
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
)

func (e *bearerError) Error() string { return "oidc: userinfo: " + e.code + " " + e.desc }

func (e *bearerError) challenge() string {
	c := `Bearer realm="` + Realm + `"`
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
	token, err := bearerToken(w, r)
	if err != nil {
		h.refuse(w, r, err)
		return
	}
	claims, err := h.lookup(r.Context(), token)
	if err != nil {
		h.refuse(w, r, err)
		return
	}
	oauth.WriteJSON(w, http.StatusOK, claims)
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

// lookup resolves token to the UserInfo response.
func (h *UserInfo) lookup(ctx context.Context, token string) (map[string]any, error) {
	var (
		subject, clientID string
		scopes            []string
		carried           string
	)
	if opaque.IsAccessToken(token) {
		if h.Opaque == nil {
			return nil, errInvalidToken
		}
		g, ok, err := h.Opaque(ctx, token)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, errInvalidToken
		}
		subject, clientID, scopes = g.Subject, g.ClientID, g.Scopes
		if len(g.Extra) > 0 {
			members, err := strictjson.ParseObject(string(g.Extra), maxClaimsDepth, nil)
			if err != nil {
				return nil, errInvalidToken
			}
			for _, m := range members {
				if m.Name == UserinfoClaimsClaim {
					carried = m.Value
				}
			}
		}
	} else {
		tok, err := h.Verifier.Verify(ctx, token)
		if err != nil {
			return nil, errors.Join(errInvalidToken, err)
		}
		claims := tok.Claims()
		if claims.ID == "" {
			return nil, errInvalidToken
		}
		revoked, err := h.Revoked(ctx, claims.ID)
		if err != nil {
			return nil, err
		}
		if revoked {
			return nil, errInvalidToken
		}
		subject = claims.Subject
		clientID, _ = tok.StringClaim("client_id")
		if raw, ok := tok.Claim("scope"); ok {
			s, err := strictjson.String(raw)
			if err != nil {
				return nil, errInvalidToken
			}
			scopes = strings.Fields(s)
		}
		carried, _ = tok.Claim(UserinfoClaimsClaim)
	}
	if subject == "" || clientID == "" || subject == clientID {
		return nil, errInvalidToken
	}
	if !contains(scopes, "openid") {
		return nil, errNeedOpenID
	}
	req, err := userinfoRequest(carried)
	if err != nil {
		return nil, errInvalidToken
	}
	u, err := h.Users.GetUser(ctx, subject)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, errInvalidToken
	case err != nil:
		return nil, err
	case u.Disabled || u.ID != subject:
		return nil, errInvalidToken
	}
	claims := Release(u, scopes, req, TargetUserInfo)
	claims["sub"] = u.ID
	return claims, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

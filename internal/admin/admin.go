// Package admin is writ's administration API: a small JSON REST API, served
// on its own listener, for managing client registrations, signing keys and
// user accounts.
//
// Every call is authenticated with the admin credential as a bearer token
// (Authorization: Bearer <WRIT_ADMIN_TOKEN>), compared in constant time.
// When no credential is configured the API refuses every call with 503.
//
// Routes:
//
//	POST   /admin/clients                    register a client (201; returns its secret once)
//	GET    /admin/clients?limit=&after=      list clients, ordered by client_id
//	GET    /admin/clients/{id}               read one client
//	PATCH  /admin/clients/{id}               change fields (merge; null resets a field)
//	DELETE /admin/clients/{id}               delete a client (204)
//	POST   /admin/clients/{id}/rotate-secret issue a new secret (returned once)
//	POST   /admin/clients/{id}/revoke-grants revoke everything the client (agent) holds, audited
//	GET    /admin/delegations?subject=&client_id=&actor=&active=&limit= list delegations, newest first
//	POST   /admin/delegations/{id}/revoke    revoke a delegation and those below it, audited
//	GET    /admin/audit?after=&type=&client_id=&subject=&limit= read the audit trail, oldest first
//	GET    /admin/keys                       list the signing keys
//	POST   /admin/keys/rotate                rotate the signing keys ({"force": true} optional)
//	POST   /admin/users                      create a user (201; password optional, hashed)
//	GET    /admin/users?limit=&after=        list users, ordered by id
//	GET    /admin/users?username=NAME        look a user up by username (case-insensitive)
//	GET    /admin/users/{id}                 read one user (never the password or its hash)
//	PATCH  /admin/users/{id}                 change fields (merge; null resets a field)
//	DELETE /admin/users/{id}                 delete a user, ending their sessions (204)
//	POST   /admin/users/{id}/password        set the password, ending their sessions (204)
//	POST   /admin/users/{id}/disable         disable, ending their sessions and refresh tokens
//	POST   /admin/users/{id}/enable          enable again
//	GET    /admin/users/{id}/consents        list the user's consents
//	DELETE /admin/users/{id}/consents/{client_id} revoke a consent and its refresh tokens (204)
//	POST   /admin/trusted-issuers            trust an external issuer (201; 409 if registered)
//	GET    /admin/trusted-issuers            list them, ordered by issuer
//	GET    /admin/trusted-issuers/{issuer}   read one (issuer URL-escaped as one segment)
//	PUT    /admin/trusted-issuers/{issuer}   replace one (404 if not registered)
//	DELETE /admin/trusted-issuers/{issuer}   stop trusting it (204)
//	POST   /admin/saml-sps                   register a SAML SP from its metadata (201; 409 if registered)
//	GET    /admin/saml-sps                   list them, ordered by entity ID
//	GET    /admin/saml-sps/{entity_id}       read one (entity ID URL-escaped as one segment)
//	PUT    /admin/saml-sps/{entity_id}       replace one (404 if not registered)
//	DELETE /admin/saml-sps/{entity_id}       remove it (204)
//
// Client metadata uses the names of RFC 7591, id_token_signed_response_alg
// of OpenID Connect Registration (RS256 unless set), and writ's own
// (access_token_format, access_token_ttl, refresh_token_ttl, id_token_ttl,
// audiences, first_party, metadata, and the objects agent and
// token_exchange, which PATCH merges member by member). Errors are JSON objects with "error"
// and "error_description" (RFC 7591 §3.2.2 for registration errors).
// Client secrets appear only in the response that created them; the store
// keeps a keyed hash, and no listing shows either.
package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/writ-dev/writ/internal/clientip"
	"github.com/writ-dev/writ/internal/keys"
	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/oidc"
	"github.com/writ-dev/writ/internal/reqinfo"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/jose"
)

// DefaultMaxBytes is the request body limit when Options.MaxBytes is zero.
const DefaultMaxBytes = 64 << 10

// EnvAdminToken names the environment variable holding the admin
// credential, for server and CLI alike.
const EnvAdminToken = "WRIT_ADMIN_TOKEN"

// Paths of the admin API.
const (
	PathClients = "/admin/clients"
	PathKeys    = "/admin/keys"
)

// Error codes of the admin API, beyond those of RFC 7591 §3.2.2.
const (
	CodeInvalidRedirectURI     = "invalid_redirect_uri"
	CodeInvalidClientMetadata  = "invalid_client_metadata"
	CodeInvalidRequest         = "invalid_request"
	CodeNotFound               = "not_found"
	CodeConflict               = "conflict"
	CodeAdminDisabled          = "admin_disabled"
	CodeUnauthorized           = "unauthorized"
	CodeInvalidToken           = "invalid_token"
	CodeMethodNotAllowed       = "method_not_allowed"
	CodeUnsupportedMediaType   = "unsupported_media_type"
	CodeRequestTooLarge        = "request_too_large"
	CodeTemporarilyUnavailable = "temporarily_unavailable"
	CodeServerError            = "server_error"
)

// Invalidator drops a client from a cache of registrations, so that a change
// takes effect at once on this node. *server.ClientCache implements it.
type Invalidator interface {
	Invalidate(id string)
}

// KeyManager rotates and lists the signing keys. *app.App implements it.
type KeyManager interface {
	// RotateKeys promotes the next key and publishes a new one. Without
	// force it fails with keys.ErrTooEarly while the next key is too new.
	RotateKeys(ctx context.Context, force bool) error
	// KeyEntries lists the keys (public halves only).
	KeyEntries() []keys.Entry
}

// Options configure the admin handler.
type Options struct {
	// Token is the admin credential. Empty disables the API: every call
	// gets 503 admin_disabled.
	Token string
	// Store keeps the client registrations.
	Store store.ClientStore
	// Hasher computes the keyed hash of client secrets.
	Hasher *oauth.SecretHasher
	// Clients, when set, is told about every changed client.
	Clients Invalidator
	// Keys, when set, serves the /admin/keys routes; without it they
	// answer 503.
	Keys KeyManager
	// IDTokenAlgorithms are the algorithms the server signs ID tokens with
	// (its key ring's); a client may register only one of them as its
	// id_token_signed_response_alg. Empty means oidc.IDTokenAlgorithms().
	IDTokenAlgorithms []jose.Algorithm
	// Users, when set, serves the /admin/users routes; without it they
	// answer 503. store.Store implements it.
	Users UserStore
	// Passwords hashes the passwords set through the user routes; nil
	// means authn.Hasher{} (argon2id with the default parameters).
	Passwords PasswordHasher
	// SessionsEnded, when set, is called with the sessions the user routes
	// ended (user disabled or deleted, password set), after the store
	// change and before the response, e.g. to send back-channel logout
	// tokens. It must not block for long.
	SessionsEnded func(ctx context.Context, userID string, sessions []store.Session)
	// Delegations and Audit, when both set, serve the delegation routes
	// (revoke-grants, /admin/delegations, /admin/audit); without them they
	// answer 503.
	Delegations store.DelegationStore
	Audit       store.AuditStore
	// AuditFlush, when set, is called before the audit trail is read, so
	// that events acknowledged but still on their way into the store
	// (the node's audit journal) are listed: an admin reads their own
	// writes.
	AuditFlush func(ctx context.Context) error
	// TrustedIssuers, when set, serves the /admin/trusted-issuers routes;
	// without it they answer 503.
	TrustedIssuers store.TrustStore
	// TrustCache, when set, is told about every changed trusted issuer
	// (*trust.Registry implements it).
	TrustCache Invalidator
	// SAMLServiceProviders, when set, serves the /admin/saml-sps routes;
	// without it they answer 503.
	SAMLServiceProviders store.SAMLStore
	// SAMLAllowLoopbackHTTP accepts http endpoints on loopback hosts in SP
	// metadata (development); otherwise they must be https.
	SAMLAllowLoopbackHTTP bool
	// Logger receives one info record per change; nil discards.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MaxBytes bounds request bodies; zero or negative means
	// DefaultMaxBytes.
	MaxBytes int64
	// FAPI2 holds every client to the FAPI 2.0 Security Profile (the
	// server-wide mode), as if each were registered with profile fapi2.
	FAPI2 bool
}

// handler serves the admin API.
type handler struct {
	tokenHash   [sha256.Size]byte
	enabled     bool
	store       store.ClientStore
	hasher      *oauth.SecretHasher
	clients     Invalidator
	keys        KeyManager
	idTokenAlgs []jose.Algorithm
	// fapiServer is Options.FAPI2 (RegistrationOptions.FAPI2).
	fapiServer bool
	log        *slog.Logger
	now        func() time.Time
	maxBytes   int64
	mux        http.Handler

	// The user routes' dependencies (Options.Users, Passwords,
	// SessionsEnded).
	delegations store.DelegationStore
	audit       store.AuditStore
	auditFlush  func(ctx context.Context) error

	users         UserStore
	passwords     PasswordHasher
	sessionsEnded func(ctx context.Context, userID string, sessions []store.Session)

	// The trusted issuer routes' (Options.TrustedIssuers, TrustCache).
	trusted    store.TrustStore
	trustCache Invalidator

	// The SAML service provider routes' (Options.SAMLServiceProviders).
	samlSPs          store.SAMLStore
	samlLoopbackHTTP bool
}

// NewHandler returns the admin API handler.
func NewHandler(o Options) http.Handler {
	h := &handler{
		enabled:  o.Token != "",
		store:    o.Store,
		hasher:   o.Hasher,
		clients:  o.Clients,
		keys:     o.Keys,
		log:      o.Logger,
		now:      o.Now,
		maxBytes: o.MaxBytes,

		fapiServer: o.FAPI2,
	}
	h.users, h.passwords, h.sessionsEnded = o.Users, o.Passwords, o.SessionsEnded
	h.delegations, h.audit, h.auditFlush = o.Delegations, o.Audit, o.AuditFlush
	h.trusted, h.trustCache = o.TrustedIssuers, o.TrustCache
	h.samlSPs, h.samlLoopbackHTTP = o.SAMLServiceProviders, o.SAMLAllowLoopbackHTTP
	h.idTokenAlgs = o.IDTokenAlgorithms
	if len(h.idTokenAlgs) == 0 {
		h.idTokenAlgs = oidc.IDTokenAlgorithms()
	}
	// Only the hash of the token is kept: comparing fixed-size digests in
	// constant time reveals neither the token nor its length.
	h.tokenHash = sha256.Sum256([]byte(o.Token))
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.maxBytes <= 0 {
		h.maxBytes = DefaultMaxBytes
	}
	mux := http.NewServeMux()
	mux.Handle(PathClients, methods{http.MethodGet: h.listClients, http.MethodPost: h.createClient})
	mux.Handle(PathClients+"/{id}", methods{http.MethodGet: h.getClient, http.MethodPatch: h.patchClient, http.MethodDelete: h.deleteClient})
	mux.Handle(PathClients+"/{id}/rotate-secret", methods{http.MethodPost: h.rotateSecret})
	mux.Handle(PathClients+"/{id}/revoke-grants", methods{http.MethodPost: h.revokeGrants})
	mux.Handle(PathDelegations, methods{http.MethodGet: h.listDelegations})
	mux.Handle(PathDelegations+"/{id}/revoke", methods{http.MethodPost: h.revokeDelegation})
	mux.Handle(PathAudit, methods{http.MethodGet: h.listAudit})
	mux.Handle(PathKeys, methods{http.MethodGet: h.listKeys})
	mux.Handle(PathKeys+"/rotate", methods{http.MethodPost: h.rotateKeys})
	mux.Handle(PathUsers, methods{http.MethodGet: h.listUsers, http.MethodPost: h.createUser})
	mux.Handle(PathUsers+"/{id}", methods{http.MethodGet: h.getUser, http.MethodPatch: h.patchUser, http.MethodDelete: h.deleteUser})
	mux.Handle(PathUsers+"/{id}/password", methods{http.MethodPost: h.setPassword})
	mux.Handle(PathUsers+"/{id}/disable", methods{http.MethodPost: h.setDisabled(true)})
	mux.Handle(PathUsers+"/{id}/enable", methods{http.MethodPost: h.setDisabled(false)})
	mux.Handle(PathUsers+"/{id}/consents", methods{http.MethodGet: h.listConsents})
	mux.Handle(PathUsers+"/{id}/consents/{client_id}", methods{http.MethodDelete: h.revokeConsent})
	mux.Handle(PathTrustedIssuers, methods{http.MethodGet: h.listTrusted, http.MethodPost: h.createTrusted})
	mux.Handle(PathTrustedIssuers+"/{issuer}", methods{http.MethodGet: h.getTrusted, http.MethodPut: h.putTrusted, http.MethodDelete: h.deleteTrusted})
	mux.Handle(PathSAMLServiceProviders, methods{http.MethodGet: h.listSAML, http.MethodPost: h.createSAML})
	mux.Handle(PathSAMLServiceProviders+"/{entity_id}", methods{http.MethodGet: h.getSAML, http.MethodPut: h.putSAML, http.MethodDelete: h.deleteSAML})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, apiErrorf(http.StatusNotFound, CodeNotFound, "no such admin API route: %s", clip(r.URL.Path, 128)))
	})
	// The route a request matched goes to the metrics of the admin
	// listener (reqinfo), as the public routes' do.
	h.mux = reqinfo.Patterns(mux)
	return h
}

// ServeHTTP authenticates the caller, then routes the request.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			h.log.Error("admin: panic while serving a request", "path", r.URL.Path, "panic", fmt.Sprint(v))
			writeError(w, apiErrorf(http.StatusInternalServerError, CodeServerError, "the server could not complete the request"))
		}
	}()
	if !h.enabled {
		writeError(w, apiErrorf(http.StatusServiceUnavailable, CodeAdminDisabled,
			"the admin API is disabled: set %s on the server (at least 16 characters, e.g. openssl rand -base64 32) and restart it", EnvAdminToken))
		return
	}
	if err := h.authenticate(r); err != nil {
		h.log.Info("admin: authentication failed", "remote", clientip.Of(r), "method", r.Method, "path", clip(r.URL.Path, 128))
		writeError(w, err)
		return
	}
	h.serveAudited(w, r)
}

const bearerChallenge = `Bearer realm="writ-admin"`

// authenticate checks the bearer token in constant time.
func (h *handler) authenticate(r *http.Request) error {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		e := apiErrorf(http.StatusUnauthorized, CodeUnauthorized, "missing admin credential: send Authorization: Bearer <token> with the value of %s", EnvAdminToken)
		e.challenge = bearerChallenge
		return e
	}
	scheme, token, _ := strings.Cut(strings.TrimSpace(auth), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		e := apiErrorf(http.StatusUnauthorized, CodeInvalidRequest, "the Authorization header must use the Bearer scheme: Authorization: Bearer <token>")
		e.challenge = bearerChallenge + `, error="invalid_request"`
		return e
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(token)))
	if subtle.ConstantTimeCompare(got[:], h.tokenHash[:]) != 1 {
		e := apiErrorf(http.StatusUnauthorized, CodeInvalidToken, "the admin credential is not valid: check %s", EnvAdminToken)
		e.challenge = bearerChallenge + `, error="invalid_token"`
		return e
	}
	return nil
}

// methods routes one path by method and answers others with 405 and Allow.
type methods map[string]func(http.ResponseWriter, *http.Request) error

// ServeHTTP implements http.Handler.
func (m methods) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fn, ok := m[r.Method]
	if !ok && r.Method == http.MethodHead {
		fn, ok = m[http.MethodGet]
	}
	if !ok {
		allow := make([]string, 0, len(m))
		for _, meth := range []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete} {
			if _, ok := m[meth]; ok {
				allow = append(allow, meth)
			}
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeError(w, apiErrorf(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "%s is not allowed here; use %s", clip(r.Method, 16), strings.Join(allow, " or ")))
		return
	}
	if err := fn(w, r); err != nil {
		e := toAPIError(err)
		reqinfo.SetError(r.Context(), e.code)
		writeError(w, e)
	}
}

// apiError is an error response of the admin API.
type apiError struct {
	status      int
	code        string
	description string
	challenge   string
	// retryAfter, when positive, is sent as Retry-After (seconds).
	retryAfter time.Duration
	// cause is logged by the caller, never sent.
	cause error
}

// Error implements error.
func (e *apiError) Error() string { return e.code + ": " + e.description }

// Unwrap returns the cause.
func (e *apiError) Unwrap() error { return e.cause }

func apiErrorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, description: fmt.Sprintf(format, args...)}
}

func badMetadata(format string, args ...any) *apiError {
	return apiErrorf(http.StatusBadRequest, CodeInvalidClientMetadata, format, args...)
}

func badRedirect(format string, args ...any) *apiError {
	return apiErrorf(http.StatusBadRequest, CodeInvalidRedirectURI, format, args...)
}

func badRequest(format string, args ...any) *apiError {
	return apiErrorf(http.StatusBadRequest, CodeInvalidRequest, format, args...)
}

// errorBody is the JSON form of an error.
type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// writeError renders err; anything but an *apiError is a 500 whose cause the
// caller has logged.
func writeError(w http.ResponseWriter, err error) {
	e := toAPIError(err)
	if e.challenge != "" {
		w.Header().Set("WWW-Authenticate", e.challenge)
	}
	if e.status == http.StatusServiceUnavailable && e.code == CodeTemporarilyUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	if e.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((e.retryAfter+time.Second-1)/time.Second)))
	}
	writeJSON(w, e.status, errorBody{Error: e.code, Description: e.description})
}

// toAPIError is the response err is answered with: its apiError, or a
// server_error that says nothing of err.
func toAPIError(err error) *apiError {
	if e := (*apiError)(nil); errors.As(err, &e) {
		return e
	}
	return apiErrorf(http.StatusInternalServerError, CodeServerError, "the server could not complete the request")
}

// writeJSON writes v as an uncacheable JSON response.
func writeJSON(w http.ResponseWriter, status int, v any) {
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("X-Content-Type-Options", "nosniff")
	oauth.NoStore(hd)
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// storeError maps a store failure of the client routes to a response,
// logging unexpected ones.
func (h *handler) storeError(ctx context.Context, op, id string, err error) error {
	var e *apiError
	switch {
	case errors.As(err, &e):
		return e
	case errors.Is(err, store.ErrNotFound):
		return noClient(id)
	case errors.Is(err, store.ErrAlreadyExists):
		return apiErrorf(http.StatusConflict, CodeConflict, "client_id %q is already registered; choose another or leave it out to have one generated", clip(id, 128))
	case errors.Is(err, store.ErrInvalid):
		return badMetadata("the registration cannot be stored: %s", invalidReason(err))
	}
	return h.storeFailure(ctx, op, "client_id", id, err)
}

// readBody reads a bounded request body. An empty body is returned as nil;
// a non-empty one must be JSON (application/json, or for PATCH also
// application/merge-patch+json).
func (h *handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, apiErrorf(http.StatusRequestEntityTooLarge, CodeRequestTooLarge, "the request body is larger than %d bytes", h.maxBytes)
		}
		return nil, badRequest("could not read the request body")
	}
	if len(body) == 0 {
		return nil, nil
	}
	ct := r.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	ok := err == nil && (mt == "application/json" || (r.Method == http.MethodPatch && mt == "application/merge-patch+json"))
	if cs, has := params["charset"]; ok && has && !strings.EqualFold(cs, "utf-8") {
		ok = false
	}
	if !ok {
		return nil, apiErrorf(http.StatusUnsupportedMediaType, CodeUnsupportedMediaType, "Content-Type must be application/json, got %q", clip(ct, 64))
	}
	return body, nil
}

// clip shortens s for an error message or log record.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "..."
}

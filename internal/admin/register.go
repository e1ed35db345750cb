package admin

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/writ-dev/writ/internal/clientip"
	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/oidc"
	"github.com/writ-dev/writ/internal/opaque"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/jose"
)

// This file serves dynamic client registration (RFC 7591) and its
// management protocol (RFC 7592) on the public listener: the same
// decoding, defaults and validation as the admin API's client routes, under
// a narrower policy (the fields a client may set, the grants it may have,
// the scopes and audiences the operator allows), with a registration
// access token per client.

// PathRegister is the registration endpoint, relative to the issuer; a
// client's configuration endpoint is PathRegister + "/" + client_id.
const PathRegister = "/oauth2/register"

// RegistrationTokenPrefix starts every registration access token.
const RegistrationTokenPrefix = "writ_reg_"

// Bounds of the initial access tokens file.
const (
	maxInitialTokensFile = 64 << 10
	maxInitialTokens     = 1000
)

// Bounds of open registration: at most OpenRegistrationsPerAddress
// registrations per client address (an IPv6 address counts by its /64)
// within OpenRegistrationWindow, so that nobody fills the client table.
const (
	OpenRegistrationsPerAddress = 30
	OpenRegistrationWindow      = time.Hour
	maxLimitedAddresses         = 10000
)

// RegistrationOptions configure NewRegistration.
type RegistrationOptions struct {
	// FAPI2 holds every registered client to the FAPI 2.0 Security
	// Profile (the server-wide mode): metadata that contradicts it is
	// refused.
	FAPI2 bool
	// Open lets anyone register; otherwise an initial access token is
	// required (InitialTokens).
	Open bool
	// InitialTokens returns the SHA-256 hashes of the initial access
	// tokens; it is called on each registration, so that a token added to
	// or removed from its source takes effect at once. Required unless
	// Open.
	InitialTokens func() ([][sha256.Size]byte, error)
	// Store keeps the registrations.
	Store store.ClientStore
	// Users, when set, keeps a generated client_id from equalling a user
	// id.
	Users UserStore
	// Audit, when set, receives an event per registration, update and
	// deletion.
	Audit store.AuditStore
	// Hasher computes the keyed hash of client secrets, as for clients the
	// admin API creates.
	Hasher *oauth.SecretHasher
	// Clients, when set, is told about every changed client.
	Clients Invalidator
	// Scopes are the most a registered client may have: the requested
	// scope is narrowed to them, and a request without scope gets them
	// all.
	Scopes []string
	// Audiences are the resources the registered clients may ask tokens
	// for; empty means the server's default audience.
	Audiences []string
	// IDTokenAlgorithms are the algorithms the server signs ID tokens
	// with; empty means oidc.IDTokenAlgorithms().
	IDTokenAlgorithms []jose.Algorithm
	// Endpoint is the absolute URL of the registration endpoint (the
	// issuer + PathRegister), for registration_client_uri.
	Endpoint string
	// RequestID returns the request id of a request's context, or nil.
	RequestID func(context.Context) string
	// Logger, Now and MaxBytes are as for Options.
	Logger   *slog.Logger
	Now      func() time.Time
	MaxBytes int64
}

// registration serves PathRegister.
type registration struct {
	h         *handler
	o         RegistrationOptions
	mux       *http.ServeMux
	grants    []string
	requestID func(context.Context) string
	limit     addrLimiter
}

// addrLimiter counts registrations per client address in fixed windows.
type addrLimiter struct {
	mu     sync.Mutex
	counts map[netip.Prefix]*addrCount
}

type addrCount struct {
	start time.Time
	n     int
}

// allow counts one registration from the client address source (as
// clientip.Of gives it) and reports whether it is within the bound, and if
// not, when to retry.
func (l *addrLimiter) allow(source string, now time.Time) (bool, time.Duration) {
	addr, err := netip.ParseAddr(source)
	if err != nil {
		return false, OpenRegistrationWindow
	}
	addr = addr.Unmap()
	bits := 32
	if addr.Is6() {
		bits = 64
	}
	key, _ := addr.Prefix(bits)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.counts == nil {
		l.counts = make(map[netip.Prefix]*addrCount)
	}
	c, ok := l.counts[key]
	if ok && now.Sub(c.start) >= OpenRegistrationWindow {
		c.start, c.n = now, 0
	}
	if !ok {
		if len(l.counts) >= maxLimitedAddresses {
			for k, old := range l.counts {
				if now.Sub(old.start) >= OpenRegistrationWindow {
					delete(l.counts, k)
				}
			}
			if len(l.counts) >= maxLimitedAddresses {
				// Under a flood from many addresses, refuse rather than
				// forget the counts.
				return false, time.Minute
			}
		}
		c = &addrCount{start: now}
		l.counts[key] = c
	}
	if c.n >= OpenRegistrationsPerAddress {
		return false, c.start.Add(OpenRegistrationWindow).Sub(now)
	}
	c.n++
	return true, 0
}

// NewRegistration returns the handler of PathRegister and
// PathRegister/{client_id}.
func NewRegistration(o RegistrationOptions) http.Handler {
	h := &handler{store: o.Store, hasher: o.Hasher, clients: o.Clients, users: o.Users,
		log: o.Logger, now: o.Now, maxBytes: o.MaxBytes, idTokenAlgs: o.IDTokenAlgorithms, fapiServer: o.FAPI2}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.maxBytes <= 0 {
		h.maxBytes = DefaultMaxBytes
	}
	if len(h.idTokenAlgs) == 0 {
		h.idTokenAlgs = oidc.IDTokenAlgorithms()
	}
	rg := &registration{h: h, o: o, requestID: o.RequestID}
	if rg.requestID == nil {
		rg.requestID = func(context.Context) string { return "" }
	}
	// The browser grants; client_credentials only for clients an initial
	// access token vouches for (an open endpoint would hand machine tokens
	// to anyone). Token exchange, jwt-bearer and agent powers are never
	// given here: an administrator grants them.
	rg.grants = []string{GrantAuthorizationCode, GrantRefreshToken}
	if !o.Open {
		rg.grants = append(rg.grants, GrantClientCredentials)
	}
	mux := http.NewServeMux()
	mux.Handle(PathRegister, methods{http.MethodPost: rg.register})
	mux.Handle(PathRegister+"/{id}", methods{http.MethodGet: rg.read, http.MethodPut: rg.update, http.MethodDelete: rg.remove})
	rg.mux = mux
	return rg
}

// ServeHTTP routes the request; a panic is a 500.
func (rg *registration) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			rg.h.log.Error("registration: panic while serving a request", "path", r.URL.Path, "panic", fmt.Sprint(v))
			writeError(w, apiErrorf(http.StatusInternalServerError, CodeServerError, "the server could not complete the request"))
		}
	}()
	rg.mux.ServeHTTP(w, r)
}

// registrationFields are the client metadata a client may register: RFC
// 7591 §2 and OpenID Connect Registration members writ acts on. Other
// members (client_uri, logo_uri, contacts, software_id, ..., and writ's own
// admin fields) are ignored, as RFC 7591 §2 asks of members a server does
// not support; the response shows what was registered.
func registrationFields() []string {
	return append([]string{
		"client_name", "redirect_uris", "post_logout_redirect_uris", "grant_types", "response_types",
		"scope", "token_endpoint_auth_method", "jwks", "jwks_uri", "id_token_signed_response_alg",
		"dpop_bound_access_tokens",
		"require_pushed_authorization_requests",
		"id_token_encrypted_response_alg", "id_token_encrypted_response_enc",
		"userinfo_signed_response_alg", "userinfo_encrypted_response_alg", "userinfo_encrypted_response_enc",
	}, mtlsFieldNames()...)
}

// RegistrationResponse is the RFC 7591 §3.2.1 / RFC 7592 §3 response.
type RegistrationResponse struct {
	ClientID                 string          `json:"client_id"`
	ClientSecret             string          `json:"client_secret,omitempty"`
	ClientIDIssuedAt         int64           `json:"client_id_issued_at"`
	ClientSecretExpiresAt    *int64          `json:"client_secret_expires_at,omitempty"`
	RegistrationAccessToken  string          `json:"registration_access_token"`
	RegistrationClientURI    string          `json:"registration_client_uri"`
	ClientName               string          `json:"client_name,omitempty"`
	RedirectURIs             []string        `json:"redirect_uris,omitempty"`
	PostLogoutRedirectURIs   []string        `json:"post_logout_redirect_uris,omitempty"`
	GrantTypes               []string        `json:"grant_types"`
	ResponseTypes            []string        `json:"response_types"`
	Scope                    string          `json:"scope,omitempty"`
	TokenEndpointAuthMethod  string          `json:"token_endpoint_auth_method"`
	JWKS                     json.RawMessage `json:"jwks,omitempty"`
	JWKSURI                  string          `json:"jwks_uri,omitempty"`
	IDTokenSignedResponseAlg string          `json:"id_token_signed_response_alg"`
	DPoPBoundAccessTokens    bool            `json:"dpop_bound_access_tokens,omitempty"`
	// RequirePushedAuthorizationRequests is RFC 9126 §6's metadata.
	RequirePushedAuthorizationRequests bool `json:"require_pushed_authorization_requests,omitempty"`
	// Signed and encrypted responses (OpenID Connect Registration §2).
	IDTokenEncryptedResponseAlg  string `json:"id_token_encrypted_response_alg,omitempty"`
	IDTokenEncryptedResponseEnc  string `json:"id_token_encrypted_response_enc,omitempty"`
	UserinfoSignedResponseAlg    string `json:"userinfo_signed_response_alg,omitempty"`
	UserinfoEncryptedResponseAlg string `json:"userinfo_encrypted_response_alg,omitempty"`
	UserinfoEncryptedResponseEnc string `json:"userinfo_encrypted_response_enc,omitempty"`
	// The mutual-TLS metadata of RFC 8705 §2.1.2 and §3.4.
	TLSClientAuthSubjectDN                string `json:"tls_client_auth_subject_dn,omitempty"`
	TLSClientAuthSANDNS                   string `json:"tls_client_auth_san_dns,omitempty"`
	TLSClientAuthSANURI                   string `json:"tls_client_auth_san_uri,omitempty"`
	TLSClientAuthSANIP                    string `json:"tls_client_auth_san_ip,omitempty"`
	TLSClientAuthSANEmail                 string `json:"tls_client_auth_san_email,omitempty"`
	TLSClientCertificateBoundAccessTokens bool   `json:"tls_client_certificate_bound_access_tokens,omitempty"`
}

func (rg *registration) response(c store.Client, secret, token string) RegistrationResponse {
	j := toJSON(c, secret)
	return RegistrationResponse{
		ClientID: j.ClientID, ClientSecret: j.ClientSecret, ClientIDIssuedAt: j.ClientIDIssuedAt,
		ClientSecretExpiresAt:   j.ClientSecretExpiresAt,
		RegistrationAccessToken: token,
		RegistrationClientURI:   rg.o.Endpoint + "/" + url.PathEscape(c.ID),
		ClientName:              j.ClientName, RedirectURIs: j.RedirectURIs, PostLogoutRedirectURIs: j.PostLogoutRedirectURIs,
		GrantTypes: j.GrantTypes, ResponseTypes: j.ResponseTypes, Scope: j.Scope,
		TokenEndpointAuthMethod: j.TokenEndpointAuthMethod, JWKS: j.JWKS, JWKSURI: j.JWKSURI,
		IDTokenSignedResponseAlg: j.IDTokenSignedResponseAlg, DPoPBoundAccessTokens: j.DPoPBoundAccessTokens,
		RequirePushedAuthorizationRequests: j.RequirePushedAuthorizationRequests,
		IDTokenEncryptedResponseAlg:        j.IDTokenEncryptedResponseAlg, IDTokenEncryptedResponseEnc: j.IDTokenEncryptedResponseEnc,
		UserinfoSignedResponseAlg:    j.UserinfoSignedResponseAlg,
		UserinfoEncryptedResponseAlg: j.UserinfoEncryptedResponseAlg, UserinfoEncryptedResponseEnc: j.UserinfoEncryptedResponseEnc,
		TLSClientAuthSubjectDN: j.TLSClientAuthSubjectDN, TLSClientAuthSANDNS: j.TLSClientAuthSANDNS,
		TLSClientAuthSANURI: j.TLSClientAuthSANURI, TLSClientAuthSANIP: j.TLSClientAuthSANIP,
		TLSClientAuthSANEmail:                 j.TLSClientAuthSANEmail,
		TLSClientCertificateBoundAccessTokens: j.TLSClientCertificateBoundAccessTokens,
	}
}

// bearer returns the bearer token of the Authorization header, or a 401.
func bearer(r *http.Request, what string) (string, error) {
	auth := r.Header.Get("Authorization")
	scheme, token, _ := strings.Cut(strings.TrimSpace(auth), " ")
	token = strings.TrimSpace(token)
	if auth == "" || !strings.EqualFold(scheme, "Bearer") || token == "" || len(token) > opaque.MaxLength {
		e := apiErrorf(http.StatusUnauthorized, CodeInvalidToken, "send the %s as Authorization: Bearer <token>", what)
		e.challenge = `Bearer error="invalid_token"`
		if auth == "" {
			e.code, e.challenge = CodeInvalidRequest, `Bearer`
		}
		return "", e
	}
	return token, nil
}

func invalidToken(what string) *apiError {
	e := apiErrorf(http.StatusUnauthorized, CodeInvalidToken, "the %s is not valid", what)
	e.challenge = `Bearer error="invalid_token"`
	return e
}

// checkInitialToken authenticates a registration in token mode: the SHA-256
// of the presented token is compared, in constant time, with every hash the
// source lists. It returns a short, non-secret tag of the token (the first
// bytes of its hash) for the audit trail.
func (rg *registration) checkInitialToken(r *http.Request) (string, error) {
	if rg.o.Open {
		return "", nil
	}
	token, err := bearer(r, "initial access token")
	if err != nil {
		return "", err
	}
	if rg.o.InitialTokens == nil {
		return "", apiErrorf(http.StatusServiceUnavailable, CodeTemporarilyUnavailable, "registration has no initial access tokens configured")
	}
	hashes, err := rg.o.InitialTokens()
	if err != nil {
		rg.h.log.ErrorContext(r.Context(), "registration: read the initial access tokens", "error", err)
		return "", apiErrorf(http.StatusServiceUnavailable, CodeTemporarilyUnavailable, "registration is unavailable: the initial access tokens cannot be read")
	}
	got := sha256.Sum256([]byte(token))
	match := 0
	for _, h := range hashes {
		match |= subtle.ConstantTimeCompare(got[:], h[:])
	}
	if match != 1 {
		rg.h.log.InfoContext(r.Context(), "registration: initial access token refused", "remote", clientip.Of(r))
		return "", invalidToken("initial access token")
	}
	return hex.EncodeToString(got[:4]), nil
}

// decode reads a registration request body into a client, applying
// RFC 7591's defaults and writ's policy. id and created are kept for an
// update.
func (rg *registration) decode(w http.ResponseWriter, r *http.Request, c *store.Client) (map[string]json.RawMessage, error) {
	body, err := rg.h.readBody(w, r)
	if err != nil {
		return nil, err
	}
	if body == nil {
		return nil, badMetadata("the request body must be a JSON object of client metadata (RFC 7591)")
	}
	members, err := decodeObject(body, badMetadata)
	if err != nil {
		return nil, err
	}
	all := make(map[string]json.RawMessage, len(members))
	fields := make(map[string]json.RawMessage, len(members))
	for _, m := range members {
		all[m.Name] = json.RawMessage(m.Value)
		if slices.Contains(registrationFields(), m.Name) {
			fields[m.Name] = json.RawMessage(m.Value)
		}
	}
	if err := applyFields(c, fields); err != nil {
		return nil, err
	}
	defaults(c, fields)
	rg.h.fapiDefaults(c, fields)
	for _, g := range c.GrantTypes {
		if !slices.Contains(rg.grants, g) {
			return nil, badMetadata("grant type %q cannot be registered here; use %s", clip(g, 64), strings.Join(rg.grants, ", "))
		}
	}
	if _, ok := fields["scope"]; ok && len(c.Scopes) > 0 {
		var kept []string
		for _, s := range c.Scopes {
			if slices.Contains(rg.o.Scopes, s) {
				kept = append(kept, s)
			}
		}
		if len(kept) == 0 {
			return nil, badMetadata("none of the requested scopes may be registered; this server allows %s", strings.Join(rg.o.Scopes, " "))
		}
		c.Scopes = kept
	} else {
		c.Scopes = slices.Clone(rg.o.Scopes)
	}
	c.Audiences = slices.Clone(rg.o.Audiences)
	c.AccessTokenFormat = store.AccessTokenJWT
	c.FirstParty = false
	c.BackchannelLogoutURI = ""
	c.Origin = store.OriginDynamic
	return all, nil
}

// validate judges the registration as the admin API does, plus the ID
// token algorithm.
func (rg *registration) validate(c *store.Client) error {
	return rg.h.judgeClient(c, true)
}

// register serves POST PathRegister (RFC 7591 §3).
func (rg *registration) register(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	tag, err := rg.checkInitialToken(r)
	if err != nil {
		return err
	}
	if rg.o.Open {
		if ok, retry := rg.limit.allow(clientip.Of(r), rg.h.now()); !ok {
			rg.h.log.InfoContext(ctx, "registration: too many registrations from one address", "remote", clientip.Of(r))
			e := apiErrorf(http.StatusTooManyRequests, CodeTemporarilyUnavailable, "too many registrations from this address; try again later")
			e.retryAfter = retry
			return e
		}
	}
	if err := rg.h.checkStore(); err != nil {
		return err
	}
	now := rg.h.clock()
	c := store.Client{CreatedAt: now, UpdatedAt: now}
	if _, err := rg.decode(w, r, &c); err != nil {
		return err
	}
	if c.ID, err = randomID("client_id"); err != nil {
		return err
	}
	if err := rg.validate(&c); err != nil {
		return err
	}
	var secret string
	if hasSecret(c.TokenEndpointAuthMethod) {
		if secret, c.SecretHash, err = rg.h.issueSecret(); err != nil {
			return err
		}
		c.SecretRotatedAt = now
	}
	token, tokenHash := opaque.New(RegistrationTokenPrefix)
	c.RegistrationTokenHash = tokenHash
	how := "open"
	if tag != "" {
		how = "initial_access_token"
	}
	for attempt := 1; ; attempt++ {
		isUser, uerr := rg.h.isUserID(ctx, c.ID)
		switch {
		case uerr != nil:
			return uerr
		case isUser:
			err = store.ErrAlreadyExists
		default:
			// The client_registered event is committed with the record.
			err = rg.audited(ctx, store.AuditClientRegistered, &c, map[string]any{"registration": how, "initial_token": tag},
				func(ctx context.Context) error { return rg.h.store.CreateClient(ctx, c) })
		}
		if err == nil {
			break
		}
		if !errors.Is(err, store.ErrAlreadyExists) || attempt == 3 {
			return rg.h.storeError(ctx, "register client", c.ID, err)
		}
		if c.ID, err = randomID("client_id"); err != nil {
			return err
		}
	}
	rg.h.invalidate(c.ID)
	rg.h.log.InfoContext(ctx, "registration: client registered", "client_id", c.ID, "by", how,
		"token_endpoint_auth_method", c.TokenEndpointAuthMethod, "grant_types", c.GrantTypes)
	w.Header().Set("Location", rg.o.Endpoint+"/"+url.PathEscape(c.ID))
	writeJSON(w, http.StatusCreated, rg.response(c, secret, token))
	return nil
}

// authorize checks the registration access token of the client the path
// names and returns the client and the token. An unknown client, one not
// registered here, and a wrong token are one answer (401), so that the
// endpoint does not tell which client_ids exist (RFC 7592 §2).
func (rg *registration) authorize(r *http.Request) (store.Client, string, error) {
	const what = "registration access token"
	token, err := bearer(r, what)
	if err != nil {
		return store.Client{}, "", err
	}
	if err := rg.h.checkStore(); err != nil {
		return store.Client{}, "", err
	}
	id := r.PathValue("id")
	if store.CheckID("client_id", id) != nil {
		return store.Client{}, "", invalidToken(what)
	}
	c, err := rg.h.store.GetClient(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Client{}, "", invalidToken(what)
	}
	if err != nil {
		return store.Client{}, "", rg.h.storeError(r.Context(), "get client", id, err)
	}
	got := sha256.Sum256([]byte(token))
	ok := subtle.ConstantTimeCompare(got[:], c.RegistrationTokenHash) == 1
	if !ok || c.Origin != store.OriginDynamic {
		rg.h.log.InfoContext(r.Context(), "registration: registration access token refused", "client_id", clip(id, 128), "remote", clientip.Of(r))
		return store.Client{}, "", invalidToken(what)
	}
	return c, token, nil
}

// read serves GET PathRegister/{id} (RFC 7592 §2.1). The secret cannot be
// shown again (only its keyed hash is kept).
func (rg *registration) read(w http.ResponseWriter, r *http.Request) error {
	c, token, err := rg.authorize(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rg.response(c, "", token))
	return nil
}

// update serves PUT PathRegister/{id} (RFC 7592 §2.2): the body replaces
// the registration (members left out take their defaults); client_id must
// be the client's, and a client_secret, if sent, must be its current one.
// A client that switches to a secret method gets a new secret in the
// response.
func (rg *registration) update(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	old, token, err := rg.authorize(r)
	if err != nil {
		return err
	}
	now := rg.h.clock()
	next := store.Client{}
	all, err := rg.decode(w, r, &next)
	if err != nil {
		return err
	}
	raw, ok := all["client_id"]
	var id string
	if !ok || json.Unmarshal(raw, &id) != nil || id != old.ID {
		return badRequest("the body must carry the client's client_id (RFC 7592 section 2.2)")
	}
	if raw, ok := all["client_secret"]; ok {
		var s string
		if json.Unmarshal(raw, &s) != nil || rg.h.hasher == nil || len(old.SecretHash) == 0 || !rg.h.hasher.Verify(s, old.SecretHash) {
			return badRequest("client_secret does not match the client's current secret")
		}
	}
	next.ID = old.ID
	if err := rg.validate(&next); err != nil {
		return err
	}
	var secret string
	if hasSecret(next.TokenEndpointAuthMethod) && (len(old.SecretHash) == 0 || !hasSecret(old.TokenEndpointAuthMethod)) {
		var hash []byte
		if secret, hash, err = rg.h.issueSecret(); err != nil {
			return err
		}
		next.SecretHash, next.SecretRotatedAt = hash, now
	}
	// The client_updated event is committed with the update; it names the
	// client as updated.
	var updated store.Client
	err = rg.audited(ctx, store.AuditClientUpdated, &updated, map[string]any{"secret_issued": secret != ""}, func(ctx context.Context) error {
		var err error
		updated, err = rg.h.store.UpdateClient(ctx, old.ID, func(cur store.Client) (store.Client, error) {
			if cur.Origin != store.OriginDynamic || !bytes.Equal(cur.RegistrationTokenHash, old.RegistrationTokenHash) {
				return store.Client{}, invalidToken("registration access token")
			}
			c := next
			c.CreatedAt, c.UpdatedAt = cur.CreatedAt, now
			c.RegistrationTokenHash = cur.RegistrationTokenHash
			c.TokensRevokedBefore = cur.TokensRevokedBefore
			// What only an administrator sets stays as they set it: a client
			// cannot shed an agent policy or widen its audiences by
			// re-registering.
			c.Agent, c.Exchange, c.FirstParty = cur.Agent, cur.Exchange, cur.FirstParty
			c.Audiences, c.Metadata, c.BackchannelLogoutURI = cur.Audiences, cur.Metadata, cur.BackchannelLogoutURI
			c.AccessTokenFormat, c.AccessTokenTTL, c.RefreshTokenTTL, c.IDTokenTTL = cur.AccessTokenFormat, cur.AccessTokenTTL, cur.RefreshTokenTTL, cur.IDTokenTTL
			// A client may ask for DPoP-bound tokens, not shed a requirement
			// (its own or an administrator's) by re-registering.
			c.DPoPBoundAccessTokens = c.DPoPBoundAccessTokens || cur.DPoPBoundAccessTokens
			c.TLSClientCertificateBoundAccessTokens = c.TLSClientCertificateBoundAccessTokens || cur.TLSClientCertificateBoundAccessTokens
			if secret == "" && hasSecret(c.TokenEndpointAuthMethod) {
				c.SecretHash, c.SecretRotatedAt = cur.SecretHash, cur.SecretRotatedAt
			}
			if !hasSecret(c.TokenEndpointAuthMethod) {
				c.SecretHash, c.SecretRotatedAt = nil, time.Time{}
			}
			updated = c // for the event, before the commit
			return c, nil
		})
		return err
	})
	if err != nil {
		return rg.h.storeError(ctx, "update client", old.ID, err)
	}
	rg.h.invalidate(old.ID)
	rg.h.log.InfoContext(ctx, "registration: client updated", "client_id", old.ID, "secret_issued", secret != "")
	writeJSON(w, http.StatusOK, rg.response(updated, secret, token))
	return nil
}

// remove serves DELETE PathRegister/{id} (RFC 7592 §2.3): the client and
// everything issued to it are deleted.
func (rg *registration) remove(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	c, _, err := rg.authorize(r)
	if err != nil {
		return err
	}
	// The client_deleted event is committed with the deletion.
	err = rg.audited(ctx, store.AuditClientDeleted, &c, nil,
		func(ctx context.Context) error { return rg.h.store.DeleteClient(ctx, c.ID) })
	if err != nil {
		return rg.h.storeError(ctx, "delete client", c.ID, err)
	}
	rg.h.invalidate(c.ID)
	rg.h.log.InfoContext(ctx, "registration: client deleted", "client_id", c.ID)
	writeNoContent(w)
	return nil
}

// audited runs change, which makes exactly one store call with the
// context it is given, with the event of type typ for the client *c
// committed in that call's transaction (store.RunAuditedFunc: the event is
// built once change's own code has run, so *c may be what it computed).
// When the change was made but its event, appended on its own after a
// no-op, could not be, the failure is logged: the change is answered all
// the same. Without RegistrationOptions.Audit change runs alone.
func (rg *registration) audited(ctx context.Context, typ string, c *store.Client, extra map[string]any, change func(ctx context.Context) error) error {
	if rg.o.Audit == nil {
		return change(ctx)
	}
	build := func() ([]store.AuditEvent, error) { return []store.AuditEvent{rg.event(ctx, typ, *c, extra)}, nil }
	err := store.RunAuditedFunc(ctx, store.AppendAuditsFunc(rg.o.Audit), build, change)
	if errors.Is(err, store.ErrAuditNotRecorded) {
		rg.h.log.ErrorContext(ctx, "registration: audit event not stored", "type", typ, "client_id", c.ID, "error", err)
		return nil
	}
	return err
}

// event is the audit event of type typ for client c.
func (rg *registration) event(ctx context.Context, typ string, c store.Client, extra map[string]any) store.AuditEvent {
	details := map[string]any{
		"origin":                     c.Origin,
		"grant_types":                c.GrantTypes,
		"token_endpoint_auth_method": c.TokenEndpointAuthMethod,
		"redirect_uris":              c.RedirectURIs,
		"scope":                      oauth.JoinScope(c.Scopes),
	}
	for k, v := range extra {
		if v != "" {
			details[k] = v
		}
	}
	raw, err := json.Marshal(details)
	if err != nil {
		raw = nil
	}
	return store.AuditEvent{Time: rg.h.clock(), Type: typ, ClientID: c.ID, By: "registration", RequestID: rg.requestID(ctx), Details: raw}
}

// InitialTokensFile returns a source of initial access tokens for
// RegistrationOptions.InitialTokens: the file at path, read on each call
// (at most 64 KiB and 1000 tokens), holding one SHA-256 of a token per line
// as 64 hexadecimal digits; blank lines and lines starting with # are
// ignored. The tokens themselves are never stored.
func InitialTokensFile(path string) func() ([][sha256.Size]byte, error) {
	return func() ([][sha256.Size]byte, error) {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("initial access tokens: %w", err)
		}
		defer f.Close()
		data, err := io.ReadAll(io.LimitReader(f, maxInitialTokensFile+1))
		if err != nil {
			return nil, fmt.Errorf("initial access tokens: read %s: %w", path, err)
		}
		if len(data) > maxInitialTokensFile {
			return nil, fmt.Errorf("initial access tokens: %s is larger than %d bytes", path, maxInitialTokensFile)
		}
		return ParseInitialTokens(data)
	}
}

// ParseInitialTokens parses the contents of an initial access tokens file
// (see InitialTokensFile).
func ParseInitialTokens(data []byte) ([][sha256.Size]byte, error) {
	var out [][sha256.Size]byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 256), maxInitialTokensFile)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		b, err := hex.DecodeString(line)
		if err != nil || len(b) != sha256.Size {
			return nil, fmt.Errorf("initial access tokens: line %d is not a SHA-256 in hex (64 digits): compute it with: printf %%s \"$TOKEN\" | openssl dgst -sha256 -r", n)
		}
		if len(out) == maxInitialTokens {
			return nil, fmt.Errorf("initial access tokens: more than %d tokens", maxInitialTokens)
		}
		out = append(out, [sha256.Size]byte(b))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("initial access tokens: %w", err)
	}
	return out, nil
}

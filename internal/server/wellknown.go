package server

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/writ-dev/writ/internal/admin"
	"github.com/writ-dev/writ/internal/authz"
	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/oauth/grant"
	"github.com/writ-dev/writ/internal/oidc"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/jose"
)

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

// handleJWKS publishes the key ring's public keys: next, active and
// retired ones, so that a key is known before it signs and after it stops.
//
// The entity tag is derived from the body itself: a tag read separately
// from the ring (its version) could belong to a newer set than the body when
// a rotation falls between the two reads, and a cache would then keep the
// old set under the new tag; versions also differ between nodes and restarts.
func (s *Server) handleJWKS(w http.ResponseWriter, r *http.Request) {
	body := s.opts.Ring.JWKS()
	sum := sha256.Sum256(body)
	etag := `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`
	h := w.Header()
	h.Set("Content-Type", "application/jwk-set+json")
	h.Set("Cache-Control", "public, max-age="+strconv.Itoa(int(jwksMaxAge/time.Second))+", must-revalidate")
	h.Set("ETag", etag)
	if etagMatches(r.Header.Values("If-None-Match"), etag) {
		s.opts.Metrics.JWKSServed(true)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	s.opts.Metrics.JWKSServed(false)
	_, _ = w.Write(body)
}

// etagMatches implements the weak comparison of If-None-Match (RFC 9110
// §13.1.2): "*" or any listed entity tag, with or without W/, equal to etag.
func etagMatches(fields []string, etag string) bool {
	for _, f := range fields {
		for _, tag := range strings.Split(f, ",") {
			tag = strings.TrimSpace(tag)
			if tag == "*" || strings.TrimPrefix(tag, "W/") == etag {
				return true
			}
		}
	}
	return false
}

// Metadata is the authorization server metadata (RFC 8414), also served as
// the OpenID Connect discovery document. It lists what is supported and
// nothing that is not.
type Metadata struct {
	Issuer                                     string   `json:"issuer"`
	TokenEndpoint                              string   `json:"token_endpoint"`
	JWKSURI                                    string   `json:"jwks_uri"`
	IntrospectionEndpoint                      string   `json:"introspection_endpoint"`
	RevocationEndpoint                         string   `json:"revocation_endpoint"`
	GrantTypesSupported                        []string `json:"grant_types_supported"`
	ResponseTypesSupported                     []string `json:"response_types_supported"`
	ScopesSupported                            []string `json:"scopes_supported,omitempty"`
	TokenEndpointAuthMethodsSupported          []string `json:"token_endpoint_auth_methods_supported"`
	TokenEndpointAuthSigningAlgValuesSupported []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	IntrospectionEndpointAuthMethodsSupported  []string `json:"introspection_endpoint_auth_methods_supported"`
	RevocationEndpointAuthMethodsSupported     []string `json:"revocation_endpoint_auth_methods_supported"`
	IntrospectionSigningAlgValuesSupported     []string `json:"introspection_signing_alg_values_supported"`
	SubjectTypesSupported                      []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported           []string `json:"id_token_signing_alg_values_supported,omitempty"`
	AuthorizationResponseIssParameterSupported bool     `json:"authorization_response_iss_parameter_supported"`

	// The client assertion algorithms of the introspection and revocation
	// endpoints (RFC 8414 §2): present whenever private_key_jwt is listed
	// for the endpoint.
	IntrospectionEndpointAuthSigningAlgValuesSupported []string `json:"introspection_endpoint_auth_signing_alg_values_supported,omitempty"`
	RevocationEndpointAuthSigningAlgValuesSupported    []string `json:"revocation_endpoint_auth_signing_alg_values_supported,omitempty"`

	// Present when browser sign-in is on.
	AuthorizationEndpoint             string   `json:"authorization_endpoint,omitempty"`
	UserInfoEndpoint                  string   `json:"userinfo_endpoint,omitempty"`
	EndSessionEndpoint                string   `json:"end_session_endpoint,omitempty"`
	ResponseModesSupported            []string `json:"response_modes_supported,omitempty"`
	CodeChallengeMethodsSupported     []string `json:"code_challenge_methods_supported,omitempty"`
	ClaimsSupported                   []string `json:"claims_supported,omitempty"`
	ClaimsParameterSupported          bool     `json:"claims_parameter_supported,omitempty"`
	PromptValuesSupported             []string `json:"prompt_values_supported,omitempty"`
	BackchannelLogoutSupported        bool     `json:"backchannel_logout_supported,omitempty"`
	BackchannelLogoutSessionSupported bool     `json:"backchannel_logout_session_supported,omitempty"`
	RequestParameterSupported         *bool    `json:"request_parameter_supported,omitempty"`
	RequestURIParameterSupported      *bool    `json:"request_uri_parameter_supported,omitempty"`
	UILocalesSupported                []string `json:"ui_locales_supported,omitempty"`
	// Signed and encrypted responses (OpenID Connect Discovery §3), when
	// browser sign-in is on: what a client may register as its
	// id_token_encrypted_response_alg/enc, userinfo_signed_response_alg and
	// userinfo_encrypted_response_alg/enc.
	IDTokenEncryptionAlgValuesSupported  []string `json:"id_token_encryption_alg_values_supported,omitempty"`
	IDTokenEncryptionEncValuesSupported  []string `json:"id_token_encryption_enc_values_supported,omitempty"`
	UserInfoSigningAlgValuesSupported    []string `json:"userinfo_signing_alg_values_supported,omitempty"`
	UserInfoEncryptionAlgValuesSupported []string `json:"userinfo_encryption_alg_values_supported,omitempty"`
	UserInfoEncryptionEncValuesSupported []string `json:"userinfo_encryption_enc_values_supported,omitempty"`
	// Pushed authorization requests (RFC 9126) and request objects (RFC
	// 9101), when browser sign-in is on.
	PushedAuthorizationRequestEndpoint     string   `json:"pushed_authorization_request_endpoint,omitempty"`
	RequirePushedAuthorizationRequests     bool     `json:"require_pushed_authorization_requests,omitempty"`
	RequestObjectSigningAlgValuesSupported []string `json:"request_object_signing_alg_values_supported,omitempty"`

	// DPoPSigningAlgValuesSupported lists the accepted DPoP proof
	// algorithms (RFC 9449 §5.1); absent when DPoP is off.
	DPoPSigningAlgValuesSupported []string `json:"dpop_signing_alg_values_supported,omitempty"`
	// ClientIDMetadataDocumentSupported is true when client_ids that are
	// https URLs are resolved from their metadata documents.
	ClientIDMetadataDocumentSupported bool `json:"client_id_metadata_document_supported,omitempty"`
	// DeviceAuthorizationEndpoint is present with browser sign-in (RFC
	// 8628 §4).
	DeviceAuthorizationEndpoint string `json:"device_authorization_endpoint,omitempty"`
	// RegistrationEndpoint is present when dynamic client registration
	// (RFC 7591) is on.
	RegistrationEndpoint string `json:"registration_endpoint,omitempty"`

	// Token exchange (RFC 8693), present when the grant is served.
	// IdentityChainingRequestedTokenTypesSupported lists the
	// requested_token_type values (draft-ietf-oauth-identity-chaining §3;
	// draft-ietf-oauth-identity-assertion-authz-grant §7.1 has an IdP that
	// issues ID-JAGs list id-jag here).
	IdentityChainingRequestedTokenTypesSupported []string `json:"identity_chaining_requested_token_types_supported,omitempty"`
	// WritSubjectTokenTypesSupported and WritActorTokenTypesSupported list
	// the subject_token_type and actor_token_type values. No specification
	// defines such members; the writ_ prefix keeps them apart from any
	// that one may define later.
	WritSubjectTokenTypesSupported []string `json:"writ_subject_token_types_supported,omitempty"`
	WritActorTokenTypesSupported   []string `json:"writ_actor_token_types_supported,omitempty"`
	// AuthorizationGrantProfilesSupported lists the ID-JAG profile when the
	// jwt-bearer grant is served, which redeems ID-JAGs of the trusted
	// issuers (draft-ietf-oauth-identity-assertion-authz-grant §7.2).
	AuthorizationGrantProfilesSupported []string `json:"authorization_grant_profiles_supported,omitempty"`

	// Mutual TLS (RFC 8705), when configured:
	// TLSClientCertificateBoundAccessTokens says certificate-bound access
	// tokens are issued (§3.3), and MTLSEndpointAliases lists where
	// clients connect with their certificates (§5).
	TLSClientCertificateBoundAccessTokens bool              `json:"tls_client_certificate_bound_access_tokens,omitempty"`
	MTLSEndpointAliases                   map[string]string `json:"mtls_endpoint_aliases,omitempty"`
}

func (s *Server) metadata() Metadata {
	iss := s.opts.Issuer
	authMethods := []string{oauth.AuthSecretBasic, oauth.AuthSecretPost, oauth.AuthPrivateKeyJWT}
	if s.mtlsOn() {
		authMethods = slices.Clip(append(authMethods, oauth.MethodTLSClientAuth, oauth.MethodSelfSignedTLSClientAuth))
	}
	var assertionAlgs []string
	for _, a := range jose.SignatureAlgorithms() {
		if !a.IsSymmetric() {
			assertionAlgs = append(assertionAlgs, string(a))
		}
	}
	alg := string(s.opts.Ring.Algorithm())
	m := Metadata{
		Issuer:                            iss,
		TokenEndpoint:                     iss + PathToken,
		JWKSURI:                           iss + PathJWKS,
		IntrospectionEndpoint:             iss + PathIntrospect,
		RevocationEndpoint:                iss + PathRevoke,
		GrantTypesSupported:               s.grants.Names(),
		ResponseTypesSupported:            []string{},
		TokenEndpointAuthMethodsSupported: append(authMethods, oauth.AuthNone),
		TokenEndpointAuthSigningAlgValuesSupported: assertionAlgs,
		IntrospectionEndpointAuthMethodsSupported:  authMethods,
		RevocationEndpointAuthMethodsSupported:     append(authMethods, oauth.AuthNone),
		IntrospectionSigningAlgValuesSupported:     []string{alg},
		SubjectTypesSupported:                      []string{"public"},
		DPoPSigningAlgValuesSupported:              s.dpopAlgorithms(),
		TLSClientCertificateBoundAccessTokens:      s.mtlsOn(),
		MTLSEndpointAliases:                        s.mtlsAliases(),
	}
	// RFC 8414 §2: an endpoint that lists private_key_jwt lists its
	// assertion algorithms too.
	if slices.Contains(m.IntrospectionEndpointAuthMethodsSupported, oauth.AuthPrivateKeyJWT) {
		m.IntrospectionEndpointAuthSigningAlgValuesSupported = assertionAlgs
	}
	if slices.Contains(m.RevocationEndpointAuthMethodsSupported, oauth.AuthPrivateKeyJWT) {
		m.RevocationEndpointAuthSigningAlgValuesSupported = assertionAlgs
	}
	if s.signin != nil {
		no, yes := false, true
		m.AuthorizationEndpoint = iss + PathAuthorize
		m.UserInfoEndpoint = iss + PathUserInfo
		m.EndSessionEndpoint = iss + PathEndSession
		m.ResponseTypesSupported = []string{"code"}
		m.ResponseModesSupported = []string{"query"}
		m.CodeChallengeMethodsSupported = []string{"S256"}
		m.IDTokenSigningAlgValuesSupported = oidc.IDTokenSigningAlgValues(s.opts.Ring.Algorithms())
		encAlgs, encs := oidc.ResponseEncryptionAlgValues(), oidc.ResponseEncryptionEncValues()
		m.IDTokenEncryptionAlgValuesSupported, m.IDTokenEncryptionEncValuesSupported = encAlgs, encs
		m.UserInfoSigningAlgValuesSupported = m.IDTokenSigningAlgValuesSupported
		m.UserInfoEncryptionAlgValuesSupported, m.UserInfoEncryptionEncValuesSupported = encAlgs, encs
		m.ScopesSupported = []string{"openid", "profile", "email", "address", "phone", "offline_access"}
		m.ClaimsSupported = oidc.SupportedClaims()
		m.ClaimsParameterSupported = true
		m.PromptValuesSupported = []string{"none", "login", "consent", "select_account"}
		m.BackchannelLogoutSupported = true
		m.BackchannelLogoutSessionSupported = true
		// request objects are accepted; request_uri only from the
		// pushed authorization request endpoint, never fetched.
		m.RequestParameterSupported = &yes
		m.RequestURIParameterSupported = &no
		m.RequestObjectSigningAlgValuesSupported = authz.RequestObjectAlgorithms()
		m.PushedAuthorizationRequestEndpoint = iss + PathPAR
		m.RequirePushedAuthorizationRequests = s.opts.SignIn.RequirePushedAuthorizationRequests
		m.AuthorizationResponseIssParameterSupported = true
		m.UILocalesSupported = []string{"en"}
		m.DeviceAuthorizationEndpoint = iss + PathDeviceAuthorization
	}
	m.ClientIDMetadataDocumentSupported = s.clients.meta != nil && s.signin != nil
	if s.registration != nil {
		m.RegistrationEndpoint = iss + admin.PathRegister
	}
	if x, ok := s.grants[grant.TypeTokenExchange].(*grant.TokenExchange); ok {
		m.IdentityChainingRequestedTokenTypesSupported = x.RequestedTokenTypes()
		m.WritSubjectTokenTypesSupported = x.SubjectTokenTypes()
		m.WritActorTokenTypesSupported = x.SubjectTokenTypes()
	}
	if _, ok := s.grants[grant.TypeJWTBearer]; ok {
		m.AuthorizationGrantProfilesSupported = []string{grant.IDJAGProfile}
	}
	if s.opts.FAPI2 {
		fapiMetadata(&m)
	}
	return m
}

func (s *Server) handleMetadata(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("Content-Type", "application/json")
	writeJSONBody(w, http.StatusOK, s.metadata())
}

// handleHealth reports that the process serves requests (liveness).
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSONBody(w, http.StatusOK, map[string]string{"status": "ok"})
}

// pinger checks that the store is reachable, for readiness.
type pinger interface {
	// Ping checks that the database answers.
	Ping(ctx context.Context) error
}

// handleReady reports whether the node can issue tokens: the database
// answers and the key ring has an active key.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	checks := map[string]string{"database": "ok", "signing_key": "ok"}
	status := http.StatusOK
	if err := s.stores.ready.Ping(ctx); err != nil {
		checks["database"], status = "unavailable", http.StatusServiceUnavailable
	}
	if _, err := s.opts.Ring.Signer(); err != nil {
		checks["signing_key"], status = "none active", http.StatusServiceUnavailable
	}
	for _, c := range s.opts.ReadyChecks {
		err := c.Check(ctx)
		switch {
		case err == nil:
			checks[c.Name] = "ok"
		case c.Advisory:
			checks[c.Name] = "degraded"
		default:
			checks[c.Name], status = "unavailable", http.StatusServiceUnavailable
			s.log.Warn("not ready", "check", c.Name, "error", err)
		}
	}
	writeJSONBody(w, status, checks)
}

// serverErrorStatus is the status of a page that failed with err: 503 when
// the database is unreachable (nothing was done; retrying may succeed,
// perhaps at another node), else 500.
func serverErrorStatus(err error) int {
	if errors.Is(err, store.ErrUnavailable) {
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

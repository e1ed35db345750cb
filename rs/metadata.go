package rs

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// WellKnownResourceMetadata is the well-known URI suffix of protected
// resource metadata (RFC 9728 §3).
const WellKnownResourceMetadata = "/.well-known/oauth-protected-resource"

// DefaultMetadataMaxAge is how long, in seconds, clients may cache the
// metadata ResourceMetadata.Handler serves.
const DefaultMetadataMaxAge = 3600

// ResourceMetadata is the metadata of an OAuth 2.0 protected resource
// (RFC 9728 §2): which authorization servers issue tokens for it, which
// scopes and token presentations it accepts. The JSON names are the RFC's.
type ResourceMetadata struct {
	// Resource is the resource identifier: an https URL without fragment,
	// the value clients use as the RFC 8707 resource and the audience of
	// the tokens. Required.
	Resource string `json:"resource"`
	// AuthorizationServers are the issuer identifiers of the authorization
	// servers that issue tokens for this resource.
	AuthorizationServers []string `json:"authorization_servers,omitempty"`
	// JWKSURI is the URL of the resource's own JWK Set, with the keys it
	// signs responses with or that clients encrypt requests to.
	JWKSURI string `json:"jwks_uri,omitempty"`
	// ScopesSupported are the scope values clients use to request access
	// to this resource.
	ScopesSupported []string `json:"scopes_supported,omitempty"`
	// BearerMethodsSupported are the ways tokens may be presented:
	// "header", "body", "query" (RFC 6750 §2). The Middleware accepts only
	// "header".
	BearerMethodsSupported []string `json:"bearer_methods_supported,omitempty"`
	// ResourceSigningAlgValuesSupported are the JWS algorithms the resource
	// signs its responses with.
	ResourceSigningAlgValuesSupported []string `json:"resource_signing_alg_values_supported,omitempty"`
	// ResourceName is the human-readable name of the resource.
	ResourceName string `json:"resource_name,omitempty"`
	// ResourceDocumentation is the URL of the developer documentation.
	ResourceDocumentation string `json:"resource_documentation,omitempty"`
	// ResourcePolicyURI is the URL of the policy on how data is used.
	ResourcePolicyURI string `json:"resource_policy_uri,omitempty"`
	// ResourceTOSURI is the URL of the terms of service.
	ResourceTOSURI string `json:"resource_tos_uri,omitempty"`
	// TLSClientCertificateBoundAccessTokens tells that the resource
	// supports mutual-TLS certificate-bound access tokens (RFC 8705).
	TLSClientCertificateBoundAccessTokens bool `json:"tls_client_certificate_bound_access_tokens,omitempty"`
	// AuthorizationDetailsTypesSupported are the authorization_details
	// types (RFC 9396) the resource understands.
	AuthorizationDetailsTypesSupported []string `json:"authorization_details_types_supported,omitempty"`
	// DPoPSigningAlgValuesSupported are the JWS algorithms accepted for
	// DPoP proofs (RFC 9449).
	DPoPSigningAlgValuesSupported []string `json:"dpop_signing_alg_values_supported,omitempty"`
	// DPoPBoundAccessTokensRequired tells that the resource accepts only
	// DPoP-bound access tokens.
	DPoPBoundAccessTokensRequired bool `json:"dpop_bound_access_tokens_required,omitempty"`
	// SignedMetadata is a JWT whose claims are metadata values
	// (RFC 9728 §2.2), signed by the resource's publisher.
	SignedMetadata string `json:"signed_metadata,omitempty"`
}

// Validate checks what RFC 9728 requires of the metadata: a resource
// identifier that MetadataURL accepts, and absolute http(s) URLs in
// authorization_servers and the URL-valued fields.
func (md ResourceMetadata) Validate() error {
	if _, err := MetadataURL(md.Resource); err != nil {
		return err
	}
	for _, as := range md.AuthorizationServers {
		if err := checkURL("authorization_servers", as); err != nil {
			return err
		}
	}
	for _, f := range [...]struct{ name, v string }{
		{"jwks_uri", md.JWKSURI},
		{"resource_documentation", md.ResourceDocumentation},
		{"resource_policy_uri", md.ResourcePolicyURI},
		{"resource_tos_uri", md.ResourceTOSURI},
	} {
		if f.v != "" {
			if err := checkURL(f.name, f.v); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkURL checks that v is an absolute http or https URL with a host.
func checkURL(name, v string) error {
	u, err := url.Parse(v)
	if err != nil {
		return fmt.Errorf("rs: metadata %s: %w", name, err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("rs: metadata %s %q is not an absolute http or https URL", name, v)
	}
	return nil
}

// Handler returns a handler that serves md as JSON, to be mounted at the
// path of MetadataURL(md.Resource). It answers GET and HEAD with 200,
// Cache-Control max-age DefaultMetadataMaxAge and
// Access-Control-Allow-Origin "*" (the metadata is public and browser-based
// clients fetch it), and any other method with 405. md is encoded once,
// when Handler is called.
func (md ResourceMetadata) Handler() http.Handler {
	body, err := json.Marshal(md)
	if err != nil { // cannot happen: md holds only strings, slices and booleans
		body = nil
	}
	body = append(body, '\n')
	length := strconv.Itoa(len(body))
	cacheControl := "public, max-age=" + strconv.Itoa(DefaultMetadataMaxAge)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
			return
		}
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", length)
		h.Set("Cache-Control", cacheControl)
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			_, _ = w.Write(body)
		}
	})
}

// MetadataURL returns the URL of the metadata of the protected resource
// identified by resource (RFC 9728 §3.1): the well-known suffix goes
// between the host and the path, so "https://api.example.com/v1" gives
// "https://api.example.com/.well-known/oauth-protected-resource/v1", and
// "https://api.example.com" (or ".../") gives
// "https://api.example.com/.well-known/oauth-protected-resource". A
// terminating slash of the path is removed; a query is kept. resource must
// be an absolute http or https URL with a host and without user
// information or fragment (RFC 9728 §1.2; http only for testing).
func MetadataURL(resource string) (string, error) {
	if resource == "" {
		return "", errors.New("rs: the resource identifier is empty")
	}
	u, err := url.Parse(resource)
	if err != nil {
		return "", fmt.Errorf("rs: resource identifier: %w", err)
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return "", fmt.Errorf("rs: resource identifier %q is not an https URL", resource)
	case u.Host == "" || u.Opaque != "":
		return "", fmt.Errorf("rs: resource identifier %q has no host", resource)
	case u.User != nil:
		return "", fmt.Errorf("rs: resource identifier %q has user information", resource)
	case u.Fragment != "" || strings.Contains(resource, "#"):
		return "", fmt.Errorf("rs: resource identifier %q has a fragment", resource)
	}
	path := strings.TrimSuffix(u.EscapedPath(), "/")
	out := u.Scheme + "://" + u.Host + WellKnownResourceMetadata + path
	if u.RawQuery != "" || u.ForceQuery {
		out += "?" + u.RawQuery
	}
	return out, nil
}
